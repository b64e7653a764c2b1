# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Upload a SARIF log to GitHub code scanning (REST API 2022-11-28), within GitHub's limits, idempotently.

API used (GitHub REST "Code scanning"):

* ``POST {api}/repos/{owner}/{repo}/code-scanning/sarifs`` with JSON ``commit_sha``, ``ref``, ``sarif``
  (gzip, then base64), optional ``checkout_uri`` and ``validate``; answers 202 ``{id, url}``.
* ``GET .../code-scanning/sarifs/{id}``: ``processing_status`` (pending, complete, failed) and ``errors``.
* ``GET .../code-scanning/analyses?ref=...``: the analyses of a ref, each with ``commit_sha``, ``category``,
  ``tool.name`` and ``results_count`` (paged with a ``Link`` header).

Limits (GitHub's "SARIF support" page): 10 MB gzipped per upload, 20 runs per file, and only the 5,000 most
severe results of a run are shown. A run over 5,000 results is truncated most severe first with a note,
rather than split into extra categories: GitHub would keep only those 5,000 anyway, and a split category
that a later, smaller scan no longer uploads would keep its alerts open for ever. Several runs that do not
fit one upload are sent in several uploads, each run keeping its own category.

Idempotency: an analysis of the same commit, category and tool with the same results count already on the
ref means this SARIF is there; nothing is sent (GitHub's API does not return a digest of what it got, so
the run's digest is recorded in ``properties`` for people, and the results count is the check).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import gzip
import hashlib
import json
import re
import time

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import quote, urlencode, urlsplit
from ansible.module_utils.urls import open_url

from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError, SourceError, bounded_text
from ansible_collections.ainative.security.plugins.module_utils.core.fileio import read_regular_file
from ansible_collections.ainative.security.plugins.module_utils.core.module import Outcome

CONTROL = "sarif_upload"
API_VERSION = "2022-11-28"
MAX_GZIP_BYTES = 10 * 1000 * 1000
MAX_RUNS = 20
MAX_RESULTS = 5000
READ_LIMIT = 1 << 30
DIGEST_PROPERTY = "ainative.security/sarif-digest"
TRUNCATED_PROPERTY = "ainative.security/truncated"
LEVEL_RANK = {"error": 3, "warning": 2, "note": 1, "none": 0}

_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_COMMIT = re.compile(r"^[0-9a-fA-F]{40}$")
_REF = re.compile(r"^refs/(heads/[^\s~^:?*\[\\]+|tags/[^\s~^:?*\[\\]+|pull/[0-9]+/(merge|head))$")
_NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')


class UploadError(SourceError):
    """GitHub refused or failed an upload; ``status`` and ``github_message`` of an HTTP refusal."""

    status = None
    github_message = None


# -- SARIF preparation -------------------------------------------------------------------------------------
def load_sarif(path):
    data = read_regular_file(path, "SARIF file", READ_LIMIT)
    try:
        log = json.loads(data.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError("SARIF file %s is not JSON: %s" % (path, bounded_text(exc, 200)))
    if not isinstance(log, dict) or log.get("version") != "2.1.0" or not isinstance(log.get("runs"), list):
        raise InputError("SARIF file %s is no SARIF 2.1.0 log (it needs version 2.1.0 and a runs list)" % path)
    for index, run in enumerate(log["runs"]):
        if not isinstance(run, dict) or not ((run.get("tool") or {}).get("driver") or {}).get("name"):
            raise InputError("SARIF file %s: run %d has no tool.driver.name" % (path, index))
        if not isinstance(run.get("results", []), list):
            raise InputError("SARIF file %s: run %d has a results value that is not a list" % (path, index))
    return log


def run_category(run, category, index, count):
    """The category of a run: ``category`` (suffixed with the tool name when several runs share it), else
    the run's own automationDetails.id, else the tool name. GitHub reads a category from automationDetails.id
    up to its last ``/``; a trailing ``/`` makes the whole id the category."""
    tool = run["tool"]["driver"]["name"]
    if category:
        return category.strip("/") + ("/" + tool if count > 1 else "")
    own = (run.get("automationDetails") or {}).get("id")
    if own:
        return own[:own.rfind("/")] if "/" in own else own
    return tool if count == 1 else "%s/run-%d" % (tool, index)


def _security_severity(run):
    scores = {}
    for rule in ((run.get("tool") or {}).get("driver") or {}).get("rules") or []:
        try:
            scores[rule.get("id")] = float((rule.get("properties") or {}).get("security-severity"))
        except (TypeError, ValueError):
            pass
    return scores


def severity_key(run):
    """Sort key of a result, most severe first: security-severity of its rule, then its level."""
    scores = _security_severity(run)

    def key(result):
        level = result.get("level") or "warning"
        return (-scores.get(result.get("ruleId"), -1.0), -LEVEL_RANK.get(level, 2))
    return key


def truncate(run, limit):
    """Keep the ``limit`` most severe results of ``run`` (in place); return how many were dropped."""
    results = run.get("results") or []
    if len(results) <= limit:
        return 0
    kept = sorted(results, key=severity_key(run))[:limit]
    dropped = len(results) - limit
    run["results"] = kept
    props = run.setdefault("properties", {})
    props[TRUNCATED_PROPERTY] = {"kept": limit, "dropped": dropped,
                                 "reason": "GitHub code scanning shows at most %d results per run" % MAX_RESULTS}
    return dropped


def digest(run):
    material = dict(run)
    material["properties"] = dict((k, v) for k, v in (run.get("properties") or {}).items() if k != DIGEST_PROPERTY)
    return hashlib.sha256(json.dumps(material, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def encode(log):
    """(base64 text of the gzipped log, gzipped size). mtime 0: the same log always encodes the same."""
    raw = json.dumps(log, separators=(",", ":"), sort_keys=True).encode("utf-8")
    packed = gzip.compress(raw, compresslevel=6, mtime=0)
    return base64.b64encode(packed).decode("ascii"), len(packed)


def prepare(log, category, max_results=MAX_RESULTS, max_gzip=MAX_GZIP_BYTES, max_runs=MAX_RUNS):
    """Split ``log`` into upload parts within GitHub's limits.

    Returns (parts, notes); a part is ``{"log", "runs": [{category, tool, results, digest}], "payload",
    "gzip_bytes"}``. Each run gets its category in automationDetails.id (ending in ``/``: all of it is the
    category) and its digest in properties.
    """
    notes = []
    runs = log["runs"]
    header = dict((k, v) for k, v in log.items() if k != "runs")
    prepared = []
    for index, original in enumerate(runs):
        run = json.loads(json.dumps(original))
        name = run_category(run, category, index, len(runs))
        run["automationDetails"] = dict(run.get("automationDetails") or {}, id=name + "/")
        dropped = truncate(run, max_results)
        if dropped:
            tool = run["tool"]["driver"]["name"]
            notes.append("run %d (%s, category %s) had %d results; kept the %d most severe, dropped %d "
                         "(GitHub shows at most %d per run)"
                         % (index, tool, name, max_results + dropped, max_results, dropped, MAX_RESULTS))
        prepared.append((name, run))
    seen = set()
    for index, (name, run) in enumerate(prepared):
        key = (run["tool"]["driver"]["name"], name)
        if key in seen and category:
            name = "%s/run-%d" % (name, index)
            run["automationDetails"]["id"] = name + "/"
            prepared[index] = (name, run)
        elif key in seen:
            raise InputError("two runs of %s have the category %s; GitHub refuses that, give each its own "
                             "automationDetails.id, or set category" % key)
        seen.add((key[0], name))
    parts = []
    current = []
    used = 0
    for name, run in prepared:
        size = _fit(header, name, run, max_gzip, notes)
        # gzip of runs together is no larger than the sum of each gzipped alone (one stream, shared history).
        if current and (len(current) >= max_runs or used + size > max_gzip):
            parts.append(current)
            current = []
            used = 0
        current.append(run)
        used += size
    if current or not parts:
        parts.append(current)
    if len(parts) > 1:
        notes.append("the SARIF log does not fit one upload (%g MB gzipped, %d runs at most); sent in %d uploads, "
                     "each run keeping its category" % (max_gzip / 1e6, max_runs, len(parts)))
    built = []
    for runs_of_part in parts:
        part = _part(header, runs_of_part)
        if part["gzip_bytes"] > max_gzip and len(runs_of_part) > 1:
            built.extend(_part(header, [one]) for one in runs_of_part)  # the size estimate was off: one run each
        else:
            built.append(part)
    return built, notes


def _size(header, runs):
    return encode(dict(header, runs=runs))[1]


def _fit(header, name, run, max_gzip, notes):
    """Gzipped size of ``run`` alone, halving its results (most severe first) while it is over the limit."""
    run["properties"] = dict(run.get("properties") or {})
    run["properties"][DIGEST_PROPERTY] = digest(run)
    before = len(run.get("results") or [])
    while True:
        size = _size(header, [run])
        if size <= max_gzip:
            break
        results = run.get("results") or []
        if not results:
            raise InputError("run %s is over %d bytes gzipped without any result (its rules or artifacts are too "
                             "large for GitHub)" % (name, max_gzip))
        truncate(run, len(results) // 2)
        run["properties"][DIGEST_PROPERTY] = digest(run)
    after = len(run.get("results") or [])
    if after < before:
        notes.append("run of category %s is over %g MB gzipped; kept the %d most severe of %d results"
                     % (name, max_gzip / 1e6, after, before))
    return size


def _part(header, runs):
    log = dict(header, runs=runs)
    payload, size = encode(log)
    return {"log": log, "payload": payload, "gzip_bytes": size,
            "runs": [{"category": r["automationDetails"]["id"].rstrip("/"), "tool": r["tool"]["driver"]["name"],
                      "results": len(r.get("results") or []), "digest": r["properties"][DIGEST_PROPERTY]}
                     for r in runs]}


# -- GitHub API --------------------------------------------------------------------------------------------
class GitHub(object):
    """The few code-scanning calls, with the token only in the Authorization header."""

    def __init__(self, api_url, repository, token, validate_certs=True, timeout=30):
        owner, name = repository.split("/")
        self.base = "%s/repos/%s/%s/code-scanning" % (api_url.rstrip("/"), quote(owner, safe=""), quote(name, safe=""))
        self._token = token
        self.validate_certs = validate_certs
        self.timeout = timeout

    def call(self, method, url, body=None):
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION,
                   "Authorization": "Bearer %s" % self._token, "User-Agent": "ainative.security-sarif_upload"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:
            response = open_url(url, data=data, headers=headers, method=method, timeout=self.timeout,
                                validate_certs=self.validate_certs, follow_redirects="none")
            return json.loads(response.read().decode("utf-8") or "null"), response.headers.get("Link")
        except HTTPError as exc:
            error = self._refusal(method, url, exc)
        except URLError as exc:
            raise UploadError("cannot reach GitHub at %s: %s" % (url.split("?", 1)[0], bounded_text(exc.reason, 200)))
        except (OSError, ValueError) as exc:
            raise UploadError("GitHub call %s %s failed: %s" % (method, url.split("?", 1)[0], bounded_text(exc, 200)))
        raise error

    def _refusal(self, method, url, exc):
        try:
            answer = json.loads(exc.read().decode("utf-8"))
            message = answer.get("message") if isinstance(answer, dict) else None
        except (ValueError, AttributeError, OSError, UnicodeDecodeError):
            message = None
        hint = {
            401: "the token is wrong or expired; set token (or GITHUB_TOKEN) to a token with security_events write",
            403: "the token lacks the security_events scope or code scanning is off for the repository",
            404: "no such repository, or the token cannot see it",
            413: "the upload is over GitHub's size limit",
        }.get(exc.code, "")
        error = UploadError("GitHub answered %s %s to %s %s%s%s" % (
            exc.code, bounded_text(message or exc.reason or "", 300), method, url.split("?", 1)[0],
            "; " if hint else "", hint))
        error.status = exc.code
        error.github_message = message
        return error

    def analyses(self, ref):
        url = "%s/analyses?%s" % (self.base, urlencode({"ref": ref, "per_page": 100}))
        found = []
        while url:
            try:
                page, link = self.call("GET", url)
            except UploadError as exc:
                # GitHub answers 404 "no analysis found" for a repository without any analysis yet.
                if exc.status == 404 and "no analysis found" in str(exc.github_message or "").lower():
                    return found
                raise
            if not isinstance(page, list):
                raise UploadError("GitHub's analyses list for %s is not a list" % ref)
            found.extend(a for a in page if isinstance(a, dict))
            match = _NEXT_LINK.search(link or "")
            url = match.group(1) if match else None
            if url and _origin(url) != _origin(self.base):
                # The token goes with every call: never to a host the answer names, only to the API's own.
                raise UploadError("GitHub's analyses list for %s points its next page at %s, not at %s; refusing "
                                  "to send the token there" % (ref, bounded_text(_origin(url), 200), _origin(self.base)))
        return found

    def upload(self, body):
        answer, dummy = self.call("POST", self.base + "/sarifs", body)
        if not isinstance(answer, dict) or not answer.get("id"):
            raise UploadError("GitHub accepted the SARIF upload but returned no id")
        return answer

    def status(self, sarif_id):
        answer, dummy = self.call("GET", "%s/sarifs/%s" % (self.base, quote(str(sarif_id), safe="")))
        return answer if isinstance(answer, dict) else {}


def _origin(url):
    parts = urlsplit(url)
    return "%s://%s" % (parts.scheme.lower(), parts.netloc.lower())


def present(analyses, commit_sha, run):
    """The analysis that already holds ``run`` (same commit, category, tool and results count), or None."""
    for analysis in analyses:
        if (str(analysis.get("commit_sha", "")).lower() == commit_sha
                and str(analysis.get("category") or "").strip("/") == run["category"]
                and (analysis.get("tool") or {}).get("name") == run["tool"]
                and analysis.get("results_count") == run["results"]):
            return analysis
    return None


def _check_params(params):
    if not _REPOSITORY.match(params["repository"] or ""):
        raise InputError("repository must be owner/name, for example acme/model-server")
    if not _COMMIT.match(params["commit_sha"] or ""):
        raise InputError("commit_sha must be the full 40-hex commit id (git rev-parse HEAD)")
    if not _REF.match(params["ref"] or ""):
        raise InputError("ref must be refs/heads/BRANCH, refs/tags/TAG or refs/pull/N/merge (or /head)")
    if not str(params["api_url"]).lower().startswith(("https://", "http://")):
        raise InputError("api_url must start with https:// (https://api.github.com, or https://HOST/api/v3 for GHES)")
    if not params.get("token"):
        raise InputError("no GitHub token; set token or the GITHUB_TOKEN environment variable on the host")
    if params["wait_timeout"] < 0 or params["timeout"] <= 0:
        raise InputError("timeout must be more than 0 and wait_timeout at least 0")


def _wait(github, sarif_id, deadline):
    delay = 0.5
    while True:
        answer = github.status(sarif_id)
        state = answer.get("processing_status")
        if state == "complete":
            return answer
        if state == "failed":
            raise UploadError("GitHub could not process SARIF upload %s: %s"
                              % (sarif_id, bounded_text("; ".join(str(e) for e in answer.get("errors") or []), 500)))
        if time.time() + delay > deadline:
            raise UploadError("GitHub still processes SARIF upload %s (status %s) after wait_timeout; raise "
                              "wait_timeout or set wait false" % (sarif_id, state))
        time.sleep(delay)
        delay = min(delay * 2, 5)


def run(ctl):
    params = ctl.params
    _check_params(params)
    commit = params["commit_sha"].lower()
    log = load_sarif(params["sarif"])
    parts, notes = prepare(log, params.get("category"))
    coverage = Coverage("runs", asked=len(log["runs"]))
    github = GitHub(params["api_url"], params["repository"], params["token"], params["validate_certs"],
                    params["timeout"])
    existing = github.analyses(params["ref"])
    uploads = []
    already = []
    for part in parts:
        if not part["runs"]:
            continue
        held = [present(existing, commit, r) for r in part["runs"]]
        if all(held):
            already.extend(dict(r, analysis_id=a.get("id")) for r, a in zip(part["runs"], held))
            coverage.add(len(held))
            continue
        entry = {"runs": part["runs"], "gzip_bytes": part["gzip_bytes"], "sarif_id": None, "url": None,
                 "processing_status": None}
        uploads.append(entry)
        if ctl.check_mode:
            coverage.add(len(part["runs"]))
            continue
        body = {"commit_sha": commit, "ref": params["ref"], "sarif": part["payload"], "validate": True}
        if params.get("checkout_uri"):
            body["checkout_uri"] = params["checkout_uri"]
        answer = github.upload(body)
        entry.update(sarif_id=answer.get("id"), url=answer.get("url"), processing_status="pending")
        if params["wait"]:
            status = _wait(github, answer["id"], time.time() + params["wait_timeout"])
            entry["processing_status"] = status.get("processing_status")
            entry["analyses_url"] = status.get("analyses_url")
        coverage.add(len(part["runs"]))
    if ctl.check_mode and uploads:
        notes.append("check mode: %d upload(s) would be sent, nothing was" % len(uploads))
    return Outcome(coverage, [], notes, changed=bool(uploads), uploads=uploads, already_uploaded=already,
                   repository=params["repository"], commit_sha=commit, ref=params["ref"])
