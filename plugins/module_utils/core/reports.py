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
* :func:`write_reports` - renders the asked formats and writes each atomically, only when its content
  changed (reports hold no timestamps, so an unchanged scan rewrites nothing).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover - Python 2
    from urllib import quote

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.core.fileio import read_regular_file, write_if_changed
from ansible_collections.ainative.security.plugins.module_utils.core.findings import (
    SEVERITY_RANK,
    sort_findings,
    summarize,
)

JSON_SCHEMA_ID = "ainative.security/findings/1"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_VERSION = "2.1.0"
INFORMATION_URI = "https://github.com/ainative/security"
FORMATS = ("json", "sarif", "junit")

# GitHub code scanning reads properties.security-severity (0.1-10.0) to bucket alerts.
SECURITY_SEVERITY = {"CRITICAL": "9.5", "HIGH": "8.0", "MEDIUM": "5.5", "LOW": "3.0", "INFO": "0.5",
                     "UNKNOWN": "0.0"}
SARIF_LEVEL = {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "LOW": "note", "INFO": "note",
               "UNKNOWN": "none"}


class ReportError(InputError):
    """A report cannot be written (unknown format, unwritable path) or read."""


def _dumps(data):
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def verdict(findings, failing=None):
    """``fail`` when something fails the gate, ``findings`` when open ones remain, else ``pass``."""
    if failing:
        return "fail"
    return "findings" if any(f["status"] == "open" for f in findings) else "pass"


def render_json(findings, control=None, verdict_=None, notes=None, meta=None, coverage=None, gate=None):
    findings = sort_findings(findings)
    doc = {
        "schema": JSON_SCHEMA_ID,
        "control": control or _single_control(findings),
        "verdict": verdict_ or verdict(findings),
        "summary": summarize(findings),
        "findings": findings,
        "notes": list(notes or []),
        "meta": meta or {},
    }
    if coverage is not None:
        doc["coverage"] = coverage
    if gate is not None:
        doc["gate"] = gate
    return _dumps(doc)


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


def _rule(finding):
    rule = {
        "id": finding["id"],
        "name": finding["kind"],
        "shortDescription": {"text": finding["title"] or finding["id"]},
        "fullDescription": {"text": finding["title"] or finding["id"]},
        "defaultConfiguration": {"level": SARIF_LEVEL[finding["severity"]]},
        "properties": {"security-severity": SECURITY_SEVERITY[finding["severity"]],
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


def render_sarif(findings, tool_name="ainative.security", tool_version=None, extensions=None, coverage=None):
    """SARIF 2.1.0 log with one run per control; ``extensions``: [{"name", "version"}] (e.g. the scanner).

    With ``coverage``, each run gets an invocation whose ``executionSuccessful`` says whether the
    control examined everything it was asked to, and a notification per gap.
    """
    by_control = {}
    for finding in sort_findings(findings):
        by_control.setdefault(finding["control"] or "ainative", []).append(finding)
    runs = []
    for control in sorted(by_control) or ["ainative"]:
        rules, index, results = [], {}, []
        for finding in by_control.get(control, []):
            if finding["id"] not in index:
                index[finding["id"]] = len(rules)
                rules.append(_rule(finding))
            results.append(_result(finding, index[finding["id"]]))
        driver = {"name": "%s/%s" % (tool_name, control), "informationUri": INFORMATION_URI, "rules": rules}
        if tool_version:
            driver["version"] = str(tool_version)
        tool = {"driver": driver}
        exts = [dict((k, str(v)) for k, v in ext.items() if v) for ext in extensions or [] if ext.get("name")]
        if exts:
            tool["extensions"] = exts
        run = {"tool": tool, "results": results, "automationDetails": {"id": "%s/" % control},
               "columnKind": "utf16CodeUnits"}
        if coverage is not None:
            run["invocations"] = [{
                "executionSuccessful": bool(coverage.get("complete")),
                "toolExecutionNotifications": [{"level": "error", "message": {"text": gap}}
                                               for gap in coverage.get("gaps") or []],
            }]
        runs.append(run)
    return _dumps({"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": runs})


def render_junit(findings, failing=None, fail_on="HIGH", name="ainative.security", coverage=None):
    """JUnit XML. ``failing``: fingerprints that fail (default: open findings at or above ``fail_on``).

    With ``coverage``, an incomplete run adds a failing ``coverage`` test case, so CI shows it.
    """
    import xml.etree.ElementTree as ET  # only JUnit needs it; keeps module start-up small
    if fail_on == "none":
        fail_on = None
    if failing is None:
        threshold = SEVERITY_RANK.get(fail_on) if fail_on else None
        failing = set(f["fingerprint"] for f in findings if f["status"] == "open" and threshold is not None
                      and SEVERITY_RANK[f["severity"]] >= threshold)
    else:
        failing = set(failing)
    suites = {}
    for finding in sort_findings(findings):
        # Findings aggregated across hosts (details.origin, set by findings_report) get one suite per host.
        origin = finding["details"].get("origin")
        host = origin.get("host") if isinstance(origin, dict) else None
        suites.setdefault((finding["control"] or "ainative", host or "", str(finding["target"])), []).append(finding)
    root = ET.Element("testsuites", name=name)
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for (control, host, target) in sorted(suites):
        cases = suites[(control, host, target)]
        suite = ET.SubElement(root, "testsuite", name=("%s@%s: %s" % (control, host, target)) if host
                              else "%s: %s" % (control, target))
        if host:
            suite.set("hostname", host)
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        for finding in cases:
            loc = finding["location"]
            where = loc.get("package") or loc.get("path") or loc.get("resource") or ""
            if loc.get("line"):
                where = "%s:%s" % (where, loc["line"])
            case = ET.SubElement(suite, "testcase", classname="%s.%s" % (control, target),
                                 name=("%s %s" % (finding["id"], where)).strip())
            counts["tests"] += 1
            text = "\n".join("%s: %s" % (k, v) for k, v in (
                ("severity", finding["severity"]), ("kind", finding["kind"]), ("target", finding["target"]),
                ("package", loc.get("package")), ("installed", loc.get("installed_version")),
                ("fixed", loc.get("fixed_version")), ("path", loc.get("path")), ("line", loc.get("line")),
                ("resource", loc.get("resource")), ("url", finding.get("url")),
                ("fingerprint", finding["fingerprint"])) if v)
            if finding["fingerprint"] in failing:
                failure = ET.SubElement(case, "failure", message="[%s] %s" % (finding["severity"], finding["title"]),
                                        type=finding["severity"])
                failure.text = text
                counts["failures"] += 1
            elif finding["status"] != "open":
                reason = (finding["details"].get("ignored_by") or {}).get("reason") or finding["status"]
                ET.SubElement(case, "skipped", message="%s: %s" % (finding["status"], reason))
                counts["skipped"] += 1
            else:
                out = ET.SubElement(case, "system-out")
                out.text = "below the gate\n" + text
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("errors", "0")
    if coverage is not None:
        suite = ET.SubElement(root, "testsuite", name="%s: coverage" % name, tests="1", skipped="0", errors="0",
                              failures="0" if coverage.get("complete") else "1")
        case = ET.SubElement(suite, "testcase", classname=name, name="coverage of %s" % coverage.get("unit"))
        totals["tests"] += 1
        if not coverage.get("complete"):
            failure = ET.SubElement(case, "failure", message="incomplete: %s" % "; ".join(coverage.get("gaps") or []),
                                    type="coverage")
            failure.text = "accepted: %s" % coverage["accepted_incomplete"] if coverage.get("accepted_incomplete") \
                else "not accepted"
            totals["failures"] += 1
    elif not suites:
        suite = ET.SubElement(root, "testsuite", name="%s: no findings" % name, tests="1", failures="0",
                              skipped="0", errors="0")
        ET.SubElement(suite, "testcase", classname=name, name="no findings")
        totals["tests"] = 1
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("errors", "0")
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def render(fmt, findings, control=None, failing=None, fail_on="HIGH", notes=None, meta=None,
           tool_version=None, extensions=None, verdict_=None, coverage=None, gate=None):
    if fmt == "json":
        return render_json(findings, control, verdict_ or verdict(findings, failing), notes, meta, coverage, gate)
    if fmt == "sarif":
        return render_sarif(findings, tool_version=tool_version, extensions=extensions, coverage=coverage)
    if fmt == "junit":
        return render_junit(findings, failing=failing, fail_on=fail_on, coverage=coverage)
    raise ReportError("unknown report format %r; use one of %s" % (fmt, ", ".join(FORMATS)))


def write_report(path, data, check_mode=False):
    """Write ``data`` atomically when it differs from what ``path`` holds; return True if it (would) change."""
    try:
        return write_if_changed(path, data, check_mode=check_mode, make_dirs=True)["changed"]
    except (IOError, OSError) as exc:
        raise ReportError("cannot write report %s: %s; check the directory exists and is writable" % (path, exc))


def write_reports(outputs, findings, check_mode=False, **kwargs):
    """Render and write each ``{format: path}``; return ``{format: {"path", "changed"}}``."""
    written = {}
    for fmt in FORMATS:
        path = outputs.get(fmt)
        if not path:
            continue
        written[fmt] = {"path": path, "changed": write_report(path, render(fmt, findings, **kwargs), check_mode)}
    return written
