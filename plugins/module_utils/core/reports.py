# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Report writers for ANY list of findings built by ``findings.make_finding`` (one control or many).

* :func:`render_json`  - the normalized report: ``{"schema", "control", "verdict", "summary", "findings",
  "notes", "meta"}`` (the shape ``lab/summary.py`` and baselines read).
* :func:`render_sarif` - SARIF 2.1.0, one run per control, rules de-duplicated, ``security-severity`` for
  code-scanning dashboards, suppressions for ignored findings, ``baselineState`` when known.
* :func:`render_junit` - JUnit XML for CI: one suite per (control, target), one test case per finding;
  failing findings are ``<failure>``, ignored ones ``<skipped>``.
* :func:`write_reports` - renders the asked formats and publishes them as one set (all old or all new, even
  when the run is killed), each file only when its content changed (reports hold no timestamps, so an
  unchanged scan rewrites nothing).

Each format is written by a ``stream_*`` function into a file object, piece by piece (100,000 findings
never become one string); ``render_*`` return the same bytes. Large lists (findings, SARIF results and
rules) are written one compact item per line, the rest indented.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import itertools
import json
import os
import re

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover - Python 2
    from urllib import quote

try:  # optional speed-up: encodes findings about 3x faster, to the same bytes as the standard library
    from msgspec.json import Encoder as _MsgspecEncoder
except ImportError:  # pragma: no cover - msgspec is optional
    _MsgspecEncoder = None

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.core.fileio import publish_set, read_regular_file
from ansible_collections.ainative.security.plugins.module_utils.core.findings import (
    SEVERITY_RANK,
    sort_findings,
    summarize,
)

JSON_SCHEMA_ID = "ainative.security/findings/1"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_VERSION = "2.1.0"
FORMATS = ("json", "sarif", "junit")
# GitHub code scanning keeps only the 5,000 most severe results of a run (and takes 20 runs, 10 MB gzipped).
SARIF_MAX_RESULTS = 5000

# GitHub code scanning reads properties.security-severity (0.1-10.0) to bucket alerts.
SECURITY_SEVERITY = {"CRITICAL": "9.5", "HIGH": "8.0", "MEDIUM": "5.5", "LOW": "3.0", "INFO": "0.5",
                     "UNKNOWN": "0.0"}
SARIF_LEVEL = {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "LOW": "note", "INFO": "note",
               "UNKNOWN": "none"}


class ReportError(InputError):
    """A report cannot be written (unknown format, unwritable path) or read."""


class Lines(object):
    """A list (or any iterable) written by :func:`stream_document` one compact item per line."""

    def __init__(self, items):
        self.items = items


_CHUNK = 1000  # items encoded per write
_STDLIB_COMPACT = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
_MSGSPEC_COMPACT = _MsgspecEncoder(order="sorted") if _MsgspecEncoder is not None else None


def compact_json(value):
    """``value`` as one line of JSON text, keys sorted, no spaces, non-ASCII as is.

    msgspec and the standard library give the same text for what findings hold (strings, numbers, booleans,
    null, lists and dicts with string keys); a value msgspec refuses falls back to the standard library.
    """
    if _MSGSPEC_COMPACT is not None:
        try:
            return _MSGSPEC_COMPACT.encode(value).decode("utf-8")
        except (TypeError, ValueError, UnicodeDecodeError):
            pass
    return _STDLIB_COMPACT.encode(value)


class TextOut(object):
    """Text writer over a binary file object, batching the UTF-8 encoding of many small pieces."""

    BATCH = 1 << 20  # characters

    def __init__(self, out):
        self.out = out
        self.parts = []
        self.size = 0

    def write(self, text):
        self.parts.append(text)
        self.size += len(text)
        if self.size >= self.BATCH:
            self.flush()

    def flush(self):
        if self.parts:
            self.out.write("".join(self.parts).encode("utf-8"))
            self.parts = []
            self.size = 0


def _holds_lines(value):
    if isinstance(value, Lines):
        return True
    if isinstance(value, dict):
        return any(_holds_lines(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_lines(v) for v in value)
    return False


def _emit(text, value, level):
    pad = "  " * level
    if isinstance(value, Lines):
        items = iter(value.items)
        separator = ",\n" + pad + "  "
        lead = "[\n" + pad + "  "
        while True:
            chunk = list(itertools.islice(items, _CHUNK))
            if not chunk:
                break
            text.write(lead + separator.join(map(compact_json, chunk)))
            lead = separator
        text.write("[]" if lead != separator else "\n" + pad + "]")
    elif isinstance(value, (dict, list)) and value and _holds_lines(value):
        pairs = sorted(value.items()) if isinstance(value, dict) else [(None, v) for v in value]
        text.write("{" if isinstance(value, dict) else "[")
        for index, (key, item) in enumerate(pairs):
            text.write(("\n" if not index else ",\n") + pad + "  ")
            if key is not None:
                text.write(json.dumps(key, ensure_ascii=False) + ": ")
            _emit(text, item, level + 1)
        text.write("\n" + pad + ("}" if isinstance(value, dict) else "]"))
    else:
        text.write(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).replace("\n", "\n" + pad))


def stream_document(out, document):
    """Write ``document`` as JSON (UTF-8) to the binary file object ``out``; :class:`Lines` one item per line."""
    text = TextOut(out)
    _emit(text, document, 0)
    text.write("\n")
    text.flush()


def _rendered(stream, *args, **kwargs):
    buffer = io.BytesIO()
    stream(buffer, *args, **kwargs)
    return buffer.getvalue()


def verdict(findings, failing=None):
    """``fail`` when something fails the gate, ``findings`` when open ones remain, else ``pass``."""
    if failing:
        return "fail"
    return "findings" if any(f["status"] == "open" for f in findings) else "pass"


def json_document(findings, control=None, verdict_=None, notes=None, meta=None, coverage=None, gate=None):
    """The normalized report as a dict whose findings are :class:`Lines` (for :func:`stream_document`)."""
    findings = sort_findings(findings)
    doc = {
        "schema": JSON_SCHEMA_ID,
        "control": control or _single_control(findings),
        "verdict": verdict_ or verdict(findings),
        "summary": summarize(findings),
        "findings": Lines(findings),
        "notes": list(notes or []),
        "meta": meta or {},
    }
    if coverage is not None:
        doc["coverage"] = coverage
    if gate is not None:
        doc["gate"] = gate
    return doc


def stream_json(out, findings, control=None, verdict_=None, notes=None, meta=None, coverage=None, gate=None):
    stream_document(out, json_document(findings, control, verdict_, notes, meta, coverage, gate))


def render_json(findings, control=None, verdict_=None, notes=None, meta=None, coverage=None, gate=None):
    return _rendered(stream_json, findings, control, verdict_, notes, meta, coverage, gate)


def read_report(path, what="report"):
    """The JSON document of a normalized report (ours), from a regular file of bounded size."""
    data = read_regular_file(path, what, error=ReportError)
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportError("%s %s is not a JSON report (%s); give the 'json' report of a control" % (what, path, exc))
    return doc


def _single_control(findings):
    controls = sorted(set(f["control"] for f in findings if f.get("control")))
    return controls[0] if len(controls) == 1 else ("mixed" if controls else None)


def _uri(value):
    value = str(value).lstrip("/") or "."
    return quote(value, safe="/:@._-~+=")


def _message(finding):
    loc = finding["location"]
    parts = [finding["title"] or finding["id"]]
    if loc.get("package"):
        parts.append("package %s %s" % (loc["package"], loc.get("installed_version") or ""))
        if loc.get("fixed_version"):
            parts.append("fixed in %s" % loc["fixed_version"])
    if loc.get("resource"):
        parts.append("resource %s" % loc["resource"])
    parts.append("target %s" % finding["target"])
    return "; ".join(p.strip() for p in parts if p)


def _security_severity(finding):
    """The finding's CVSS score when it has one (what GitHub buckets on), else the severity's number."""
    score = (finding["details"].get("risk") or {}).get("cvss_score")
    if score is not None:
        return "%.1f" % max(float(score), 0.1)
    return SECURITY_SEVERITY[finding["severity"]]


def _rule(finding):
    rule = {
        "id": finding["id"],
        "name": finding["kind"],
        "shortDescription": {"text": finding["title"] or finding["id"]},
        "fullDescription": {"text": finding["title"] or finding["id"]},
        "defaultConfiguration": {"level": SARIF_LEVEL[finding["severity"]]},
        "properties": {"security-severity": _security_severity(finding),
                       "tags": ["security", finding["kind"], finding["control"] or "ainative"],
                       "precision": "very-high"},
    }
    if finding.get("url"):
        rule["helpUri"] = finding["url"]
        rule["help"] = {"text": "%s\n%s" % (finding["title"] or finding["id"], finding["url"])}
    return rule


def _result(finding, rule_index):
    loc = finding["location"]
    physical = {"artifactLocation": {"uri": _uri(loc.get("path") or finding["target"] or "unknown")}}
    line = loc.get("line")
    if isinstance(line, int) and line >= 1:
        physical["region"] = {"startLine": line}
    location = {"physicalLocation": physical, "message": {"text": str(finding["target"])}}
    logical = []
    if loc.get("package"):
        logical.append({"name": loc["package"], "kind": "module",
                        "fullyQualifiedName": "%s@%s" % (loc["package"], loc.get("installed_version") or "")})
    if loc.get("resource"):
        logical.append({"name": loc["resource"], "kind": "resource"})
    if logical:
        location["logicalLocations"] = logical
    result = {
        "ruleId": finding["id"],
        "ruleIndex": rule_index,
        "level": SARIF_LEVEL[finding["severity"]],
        "kind": "fail",
        "message": {"text": _message(finding)},
        "locations": [location],
        "partialFingerprints": {"ainativeFindingFingerprint/v1": finding["fingerprint"]},
        "properties": {"severity": finding["severity"], "kind": finding["kind"], "status": finding["status"],
                       "target": finding["target"], "control": finding["control"],
                       "installedVersion": loc.get("installed_version"), "fixedVersion": loc.get("fixed_version")},
    }
    origin = finding["details"].get("origin")
    if isinstance(origin, dict):  # set by findings_report when it aggregates hosts and accounts
        result["properties"].update((key, origin.get(value)) for key, value in (
            ("host", "host"), ("account", "account"), ("reportControl", "control")) if origin.get(value))
    if finding["status"] == "ignored":
        ignored = finding["details"].get("ignored_by") or {}
        result["suppressions"] = [{"kind": "external", "status": "accepted",
                                   "justification": ignored.get("reason") or "ignored by policy"}]
    elif finding["status"] == "fixed":
        result["kind"] = "pass"
        result["level"] = "none"
    baseline = finding["details"].get("baseline")
    if baseline in ("new", "unchanged", "updated", "absent"):
        result["baselineState"] = baseline
    return result


def _results(findings, rule_index):
    for finding in findings:
        yield _result(finding, rule_index[finding["id"]])


def _most_severe(findings, limit):
    """The first ``limit`` of ``findings`` (sorted most severe first) with the open ones first, in order."""
    opened = [f for f in findings if f["status"] == "open"]
    if len(opened) >= limit:
        return opened[:limit]
    kept = set(id(f) for f in opened + [f for f in findings if f["status"] != "open"][:limit - len(opened)])
    return [f for f in findings if id(f) in kept]


def sarif_document(findings, tool_name="ainative.security", tool_version=None, extensions=None, coverage=None,
                   max_results=SARIF_MAX_RESULTS):
    """The SARIF log as a dict whose results and rules are :class:`Lines` (for :func:`stream_document`).

    A run holds at most ``max_results`` results (0: no cap): the open ones first, most severe first.
    A capped run says so in ``properties`` (``resultsTotal``, ``resultsOmitted``, ``resultsLimit``) and in
    a warning notification; the JSON report holds every finding.
    """
    by_control = {}
    for finding in sort_findings(findings):
        by_control.setdefault(finding["control"] or "ainative", []).append(finding)
    runs = []
    for control in sorted(by_control) or ["ainative"]:
        listed = by_control.get(control, [])
        kept = _most_severe(listed, max_results) if max_results and len(listed) > max_results else listed
        rules, index = [], {}
        for finding in kept:
            if finding["id"] not in index:
                index[finding["id"]] = len(rules)
                rules.append(_rule(finding))
        # No informationUri: the collection has no public home yet, and SARIF does not require one.
        driver = {"name": "%s/%s" % (tool_name, control), "rules": Lines(rules)}
        if tool_version:
            driver["version"] = str(tool_version)
        tool = {"driver": driver}
        exts = [dict((k, str(v)) for k, v in ext.items() if v) for ext in extensions or [] if ext.get("name")]
        if exts:
            tool["extensions"] = exts
        run = {"tool": tool, "results": Lines(_results(kept, index)),
               "automationDetails": {"id": "%s/" % control}, "columnKind": "utf16CodeUnits"}
        omitted = len(listed) - len(kept)
        notifications = []
        if omitted:
            run["properties"] = {"resultsTotal": len(listed), "resultsOmitted": omitted, "resultsLimit": max_results}
            notifications.append({"level": "warning", "message": {"text": (
                "%d of %d results left out: a run keeps the %d most severe open ones (GitHub code scanning's "
                "limit); the JSON report has all" % (omitted, len(listed), max_results))}})
        if coverage is not None:
            run["invocations"] = [{
                "executionSuccessful": bool(coverage.get("complete")),
                "toolExecutionNotifications": [{"level": "error", "message": {"text": gap}}
                                               for gap in coverage.get("gaps") or []] + notifications,
            }]
        runs.append(run)
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": runs}


def stream_sarif(out, findings, tool_name="ainative.security", tool_version=None, extensions=None, coverage=None,
                 max_results=SARIF_MAX_RESULTS):
    stream_document(out, sarif_document(findings, tool_name, tool_version, extensions, coverage, max_results))


def render_sarif(findings, tool_name="ainative.security", tool_version=None, extensions=None, coverage=None,
                 max_results=SARIF_MAX_RESULTS):
    """SARIF 2.1.0 log with one run per control; ``extensions``: [{"name", "version"}] (e.g. the scanner).

    With ``coverage``, each run gets an invocation whose ``executionSuccessful`` says whether the
    control examined everything it was asked to, and a notification per gap. See :func:`sarif_document`
    for the cap of ``max_results`` results per run.
    """
    return _rendered(stream_sarif, findings, tool_name, tool_version, extensions, coverage, max_results)


_XML_TEXT_SPECIAL = re.compile(r"[&<>]")
_XML_ATTR_SPECIAL = re.compile(r"[&<>\"\n\r\t]")


def _xml_text(value):
    if not _XML_TEXT_SPECIAL.search(value):  # most text needs no escaping: one scan instead of three
        return value
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml_attr(value):
    value = str(value)
    if not _XML_ATTR_SPECIAL.search(value):
        return value
    return _xml_text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;") \
        .replace("\t", "&#09;")


def _tag(name, attrs, end=""):
    """An XML start tag (``end="/"``: empty element), attributes in the given order, escaped."""
    return "<%s%s%s>" % (name, "".join(' %s="%s"' % (k, _xml_attr(v)) for k, v in attrs), end)


_CASE_TEXT = (("package", "package"), ("installed", "installed_version"), ("fixed", "fixed_version"),
              ("path", "path"), ("line", "line"), ("resource", "resource"))


def _junit_case(classname, finding, failing):
    """(XML text of one test case, its outcome: "failures", "skipped" or None). The hot loop of 100,000
    findings: locals, one join and one escape pass per text."""
    loc = finding["location"]
    where = loc.get("package") or loc.get("path") or loc.get("resource") or ""
    if loc.get("line"):
        where = "%s:%s" % (where, loc["line"])
    head = '<testcase classname="%s" name="%s">' % (classname, _xml_attr(("%s %s" % (finding["id"], where)).strip()))
    fingerprint = finding["fingerprint"]
    failed = fingerprint in failing
    if not failed and finding["status"] != "open":
        reason = (finding["details"].get("ignored_by") or {}).get("reason") or finding["status"]
        return ('%s<skipped message="%s" /></testcase>' % (head, _xml_attr("%s: %s" % (finding["status"], reason))),
                "skipped")
    lines = ["severity: " + finding["severity"], "kind: " + finding["kind"]]
    if finding["target"]:
        lines.append("target: %s" % (finding["target"],))
    for label, key in _CASE_TEXT:
        value = loc.get(key)
        if value:
            lines.append("%s: %s" % (label, value))
    if finding.get("url"):
        lines.append("url: %s" % (finding["url"],))
    lines.append("fingerprint: " + fingerprint)
    text = _xml_text("\n".join(lines))
    if failed:
        return ('%s<failure message="%s" type="%s">%s</failure></testcase>' % (
            head, _xml_attr("[%s] %s" % (finding["severity"], finding["title"])), finding["severity"], text),
            "failures")
    return "%s<system-out>below the gate\n%s</system-out></testcase>" % (head, text), None


def stream_junit(out, findings, failing=None, fail_on="HIGH", name="ainative.security", coverage=None):
    """JUnit XML, written suite by suite. ``failing``: fingerprints that fail (default: open findings at or
    above ``fail_on``).

    With ``coverage``, an incomplete run adds a failing ``coverage`` test case, so CI shows it.
    """
    if fail_on == "none":
        fail_on = None
    if failing is None:
        threshold = SEVERITY_RANK.get(fail_on) if fail_on else None
        failing = set(f["fingerprint"] for f in findings if f["status"] == "open" and threshold is not None
                      and SEVERITY_RANK[f["severity"]] >= threshold)
    else:
        failing = set(failing)
    suites = {}
    totals = {"tests": len(findings), "failures": 0, "skipped": 0}
    for finding in sort_findings(findings):
        # Findings aggregated across hosts (details.origin, set by findings_report) get one suite per host.
        origin = finding["details"].get("origin")
        host = origin.get("host") if isinstance(origin, dict) else None
        key = (finding["control"] or "ainative", host or "", str(finding["target"]))
        suite = suites.get(key)
        if suite is None:
            suite = suites[key] = []
        suite.append(finding)
        if finding["fingerprint"] in failing:
            totals["failures"] += 1
        elif finding["status"] != "open":
            totals["skipped"] += 1
    coverage_failed = coverage is not None and not coverage.get("complete")
    if coverage is not None or not suites:
        totals["tests"] += 1
    if coverage_failed:
        totals["failures"] += 1
    text = TextOut(out)
    text.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    text.write(_tag("testsuites", [("name", name)] + [(k, totals[k]) for k in ("tests", "failures", "skipped")]
                    + [("errors", 0)]))
    for (control, host, target) in sorted(suites):
        classname = _xml_attr("%s.%s" % (control, target))
        cases = [_junit_case(classname, f, failing) for f in suites[(control, host, target)]]
        counts = {"failures": 0, "skipped": 0, None: 0}
        for dummy, outcome in cases:
            counts[outcome] += 1
        attrs = [("name", ("%s@%s: %s" % (control, host, target)) if host else "%s: %s" % (control, target))]
        if host:
            attrs.append(("hostname", host))
        attrs += [("tests", len(cases)), ("failures", counts["failures"]), ("skipped", counts["skipped"]),
                  ("errors", 0)]
        text.write(_tag("testsuite", attrs))
        text.write("".join([case for case, dummy in cases]))
        text.write("</testsuite>")
    if coverage is not None:
        text.write(_tag("testsuite", (("name", "%s: coverage" % name), ("tests", 1), ("skipped", 0), ("errors", 0),
                                      ("failures", 1 if coverage_failed else 0))))
        case = _tag("testcase", (("classname", name), ("name", "coverage of %s" % coverage.get("unit"))))
        if coverage_failed:
            reason = ("accepted: %s" % coverage["accepted_incomplete"] if coverage.get("accepted_incomplete")
                      else "not accepted")
            case += _tag("failure", (("message", "incomplete: %s" % "; ".join(coverage.get("gaps") or [])),
                                     ("type", "coverage"))) + _xml_text(reason) + "</failure>"
        text.write(case + "</testcase></testsuite>")
    elif not suites:
        text.write(_tag("testsuite", (("name", "%s: no findings" % name), ("tests", 1), ("failures", 0),
                                      ("skipped", 0), ("errors", 0)))
                   + _tag("testcase", (("classname", name), ("name", "no findings")), "/") + "</testsuite>")
    text.write("</testsuites>\n")
    text.flush()


def render_junit(findings, failing=None, fail_on="HIGH", name="ainative.security", coverage=None):
    """JUnit XML as bytes (see :func:`stream_junit`)."""
    return _rendered(stream_junit, findings, failing, fail_on, name, coverage)


def stream(out, fmt, findings, control=None, failing=None, fail_on="HIGH", notes=None, meta=None,
           tool_version=None, extensions=None, verdict_=None, coverage=None, gate=None):
    """Write the report ``fmt`` of ``findings`` to the binary file object ``out``."""
    if fmt == "json":
        stream_json(out, findings, control, verdict_ or verdict(findings, failing), notes, meta, coverage, gate)
    elif fmt == "sarif":
        stream_sarif(out, findings, tool_version=tool_version, extensions=extensions, coverage=coverage)
    elif fmt == "junit":
        stream_junit(out, findings, failing=failing, fail_on=fail_on, coverage=coverage)
    else:
        raise ReportError("unknown report format %r; use one of %s" % (fmt, ", ".join(FORMATS)))


def render(fmt, findings, control=None, failing=None, fail_on="HIGH", notes=None, meta=None,
           tool_version=None, extensions=None, verdict_=None, coverage=None, gate=None):
    """The report ``fmt`` as bytes (see :func:`stream`)."""
    return _rendered(stream, fmt, findings, control, failing, fail_on, notes, meta, tool_version, extensions,
                     verdict_, coverage, gate)


def _producer(data):
    return data if callable(data) else (lambda out: out.write(data))


def write_report_set(documents, check_mode=False, workers=1):
    """Publish ``[(path, data)]`` as one unit (:func:`fileio.publish_set`): a kill at any point leaves the
    whole previous set or the whole new one; ``data`` is bytes or a callable writing to a binary file object.
    Only changed files are replaced; returns ``{path: changed}`` (check mode: would change). ``workers``:
    processes writing at once (documents ``i::workers`` each)."""
    try:
        return publish_set([(path, _producer(data)) for path, data in documents], check_mode=check_mode,
                           make_dirs=True, workers=workers)
    except (IOError, OSError) as exc:
        paths = ", ".join(path for path, dummy in documents)
        raise ReportError("cannot write report %s: %s; check the directory exists and is writable" % (paths, exc))


def write_report(path, data, check_mode=False):
    """Write ``data`` (bytes, or a callable writing to a binary file object) atomically when it differs
    from what ``path`` holds; return True if it (would) change."""
    return write_report_set([(path, data)], check_mode)[os.path.abspath(path)]


def write_reports(outputs, findings, check_mode=False, extra=None, **kwargs):
    """Write each ``{format: path}``, streamed, as one set with ``extra`` (``{name: (path, data)}``, e.g. a
    control's SBOMs); return ``{format or name: {"path", "changed"}}``."""
    named = [(fmt, outputs[fmt], lambda out, fmt=fmt: stream(out, fmt, findings, **kwargs))
             for fmt in FORMATS if outputs.get(fmt)]
    named.extend((name, path, data) for name, (path, data) in sorted((extra or {}).items()))
    changed = write_report_set([(path, data) for dummy, path, data in named], check_mode)
    return dict((name, {"path": path, "changed": changed[os.path.abspath(path)]}) for name, path, dummy in named)
