# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The findings report's inputs: control reports in a directory, reports or registered results passed in.

Each input is one unit of the aggregate's coverage (``reports``). An input that cannot be read, is not a
findings report or holds a finding outside the findings model is missed, with the reason. An input that
is read but says its own run was incomplete (its coverage, or the verdict ``incomplete`` or ``error``),
or whose findings were truncated, is examined and missed too: the aggregate cannot be more complete
than what it aggregates. A control's own accepted gap (``accept_incomplete``) stays accepted, and its
reason is carried into the aggregate's gate (``accepted``).

A findings_report output passed back in (an aggregate) is read as what it aggregated: each finding keeps its
control, host and account (``details.origin``), fingerprint and status; each control keeps the verdict,
notes and coverage the aggregate recorded (``aggregate``), and the aggregate's gate decision is kept.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError, bounded_text
from ansible_collections.ainative.security.plugins.module_utils.core.findings import (
    LOCATION_KEYS,
    FindingError,
    make_finding,
)
from ansible_collections.ainative.security.plugins.module_utils.core.reports import ReportError, read_report

CONTROL = "findings_report"
INCOMPLETE_VERDICTS = ("incomplete", "error")
_REQUIRED = ("id", "control", "kind", "severity", "title", "status")
_LOCATION_KEYS = frozenset(LOCATION_KEYS)
_NOTE_LIMIT = 1024
_REASON_LIMIT = 256
ACCEPTED_LIMIT = 20  # accepted-incomplete reasons carried per aggregate
_GATE_KEYS = ("verdict", "failed", "reason", "fail_on", "accepted_incomplete")


def _text(value):
    return None if value is None else str(value)


def check_finding(finding, source, index=None):
    """Return the finding rebuilt through ``make_finding`` (its own fingerprint kept), or raise InputError
    naming ``source`` and ``findings[index]`` (formatted only then: this runs for every finding read)."""
    if not isinstance(finding, dict):
        raise InputError("%s is a %s, not a finding dict; pass findings built by "
                         "ainative.security's findings model" % (_where(source, index), type(finding).__name__))
    missing = [key for key in _REQUIRED if key not in finding]
    if missing:
        raise InputError("%s is not in the findings model: missing %s; every control builds findings with "
                         "findings.make_finding" % (_where(source, index), ", ".join(missing)))
    location = finding.get("location") or {}
    details = finding.get("details") or {}
    if not isinstance(location, dict) or not isinstance(details, dict):
        raise InputError("%s: location and details must be dicts" % _where(source, index))
    if not _LOCATION_KEYS.issuperset(location):  # keys this version does not know are dropped
        location = dict((k, location.get(k)) for k in LOCATION_KEYS)
    known = finding.get("fingerprint")
    try:
        return make_finding(finding["control"], finding["kind"], finding["id"], finding["severity"],
                            finding["title"], target=finding.get("target"), location=location,
                            url=finding.get("url"), status=finding["status"], details=dict(details),
                            known_fingerprint=known if isinstance(known, str) and known else None)
    except FindingError as exc:
        raise InputError("%s: %s" % (_where(source, index), exc.msg))


def _where(source, index):
    return source if index is None else "%s findings[%d]" % (source, index)


def report_from_result(result, host=None, control=None):
    """A report dict (``control``, ``host``, ``account``, ``verdict``, ``findings``, ``notes``, ``coverage``)
    from a control's report, a registered result of one of the collection's modules (also a failed or a
    skipped one), or a bare list of findings. Only those keys are kept: nothing else of a result (its
    invocation, credentials) is carried into a report.

    A skipped task, and a failed task that returned no findings, get the verdict ``error``.
    """
    if isinstance(result, list):
        result = {"findings": result}
    if not isinstance(result, dict):
        raise InputError("a %s is not a report: give a control's report, a registered result of one of "
                         "ainative.security's modules, or a list of findings" % type(result).__name__)
    report = {"control": _text(control or result.get("control")), "host": _text(host or result.get("host")),
              "account": _text(result.get("account"))}
    findings = result.get("findings")
    if result.get("skipped"):
        reason = result.get("skip_reason") or result.get("false_condition") or "the task was skipped"
        return dict(report, verdict="error", findings=[], notes=["skipped: %s" % bounded_text(reason, _NOTE_LIMIT)])
    if not isinstance(findings, list):
        if result.get("failed"):
            return dict(report, verdict="error", findings=[],
                        notes=["the task failed: %s" % bounded_text(result.get("msg") or "no message", _NOTE_LIMIT)])
        if isinstance(result.get("results"), list):
            raise InputError("a loop's registered result is not one report: pass its results list, one input each")
        raise InputError("not a findings report: it has no findings list")
    report.update(verdict=_text(result.get("verdict")) or ("fail" if result.get("failed") else None),
                  findings=findings, notes=[str(n) for n in result.get("notes") or [] if n is not None])
    if isinstance(result.get("coverage"), dict):
        report["coverage"] = result["coverage"]
    # The scanner and its DB, for the page's scope: a registered result's, or a JSON report's meta.
    meta = result.get("meta") if isinstance(result.get("meta"), dict) else {}
    scanner = result.get("scanner") or meta.get("scanner")
    if isinstance(scanner, dict):
        report["scanner"] = dict((k, scanner.get(k)) for k in ("name", "version", "db"))
    if result.get("findings_truncated"):
        report["findings_truncated"] = True
    return report


def _incomplete(report):
    """Why the input's own run was incomplete (None when it was complete or its gap was accepted)."""
    coverage = report.get("coverage") if isinstance(report.get("coverage"), dict) else {}
    if report.get("findings_truncated"):
        return ("its findings were cut at max_findings; give the control's json report (reports.json) "
                "or raise its max_findings")
    if report.get("verdict") == "error":
        return "the control reported an error: %s" % ("; ".join(report.get("notes") or []) or "no reason given")
    if coverage.get("accepted_incomplete"):
        return None
    if report.get("verdict") == "incomplete" or coverage.get("complete") is False:
        gaps = "; ".join(str(g) for g in coverage.get("gaps") or []) or "verdict incomplete"
        return "its coverage is incomplete (%s)" % gaps
    return None


def _accepted(report, name):
    """The accepted-incomplete reasons an input carries: ``[{"source", "control", "reason"}]`` (bounded)."""
    coverage = report.get("coverage") if isinstance(report.get("coverage"), dict) else {}
    control = report["control"] or (CONTROL if report.get("aggregate") is not None else "no control")
    accepted = []
    if coverage.get("accepted_incomplete"):
        accepted.append({"source": name, "control": control,
                         "reason": bounded_text(coverage["accepted_incomplete"], _REASON_LIMIT)})
    gate = (report.get("aggregate") or {}).get("gate") or {}
    for inner in gate.get("accepted_incomplete_inputs") or []:
        if isinstance(inner, dict) and inner.get("reason"):
            accepted.append({"source": bounded_text("%s: %s" % (name, inner.get("source")), _REASON_LIMIT),
                             "control": _text(inner.get("control")) or "no control",
                             # room for the "...(N characters)" mark of a reason bounded once already
                             "reason": bounded_text(inner["reason"], _REASON_LIMIT + 32)})
    return accepted[:ACCEPTED_LIMIT]


def is_registered_aggregate(doc):
    """A registered result of findings_report (it names no control: its findings carry their own)."""
    return (isinstance(doc, dict) and not doc.get("control") and isinstance(doc.get("controls"), dict)
            and isinstance(doc.get("stats"), dict) and isinstance(doc.get("inputs"), list))


def _aggregate_view(doc):
    """What an aggregate (a findings_report output, or its registered result) says per control and of its gate."""
    meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
    table = meta.get("by_control") if isinstance(meta.get("by_control"), dict) else doc.get("controls")
    by_control = {}
    for control, entry in (table if isinstance(table, dict) else {}).items():
        if not isinstance(entry, dict):
            continue
        by_control[str(control)] = {
            "verdict": _text(entry.get("verdict")),
            "notes": [str(n) for n in entry.get("notes") or [] if n is not None][:50],
            "coverage": [dict(row) for row in entry.get("coverage") or [] if isinstance(row, dict)],
            "hosts": [str(h) for h in entry.get("hosts") or [] if h is not None]}
    gate = doc.get("gate") if isinstance(doc.get("gate"), dict) else {}
    kept = dict((k, gate.get(k)) for k in _GATE_KEYS if k in gate)
    if isinstance(gate.get("accepted_incomplete_inputs"), list):
        kept["accepted_incomplete_inputs"] = gate["accepted_incomplete_inputs"][:ACCEPTED_LIMIT]
    return {"by_control": by_control, "gate": kept}


class Inputs(object):
    """Collects the sources of the aggregate and counts them as coverage units."""

    def __init__(self, coverage):
        self.coverage = coverage
        self.coverage.asked = 0
        self.sources = []
        self.notes = []

    def add(self, doc, name, own_output_allowed=False, owned=False):
        """Understand one input document (a dict or list); record it as examined or missed.

        ``owned``: nothing else uses ``doc`` (it was read from a file), so its findings list may be changed.
        """
        if isinstance(doc, dict) and doc.get("control") == CONTROL and not own_output_allowed:
            # A findings_report output in the directory (an older one, maybe stale) is not an input.
            self.notes.append("skipped %s: a findings_report output; pass it in inputs to read it back" % name)
            return
        self.coverage.asked += 1
        try:
            report = report_from_result(doc)
            if report["control"] == CONTROL or is_registered_aggregate(doc):
                # An aggregate passed back in: its findings keep their report controls (details.origin).
                report["control"] = None
                report["aggregate"] = _aggregate_view(doc)
            # A document read from a file is rebuilt in place: each read finding is freed as soon as its
            # checked copy exists (100,000 findings are not held twice). A passed-in one is left as it is.
            findings = report["findings"] if owned else list(report["findings"])
            report["findings"] = findings
            for index, finding in enumerate(findings):
                findings[index] = check_finding(finding, name, index)
        except InputError as exc:
            self.coverage.miss(name, exc.msg)
            self.notes.append("left out %s: %s" % (name, exc.msg))
            return
        self.coverage.add()
        report["source"] = name
        report["incomplete"] = _incomplete(report)
        report["accepted"] = [] if report["incomplete"] else _accepted(report, name)
        if report["incomplete"]:
            self.coverage.miss(name, report["incomplete"])
            control = report["control"] or "no control"
            self.notes.append("%s (%s) is incomplete: %s" % (name, control, report["incomplete"]))
        self.sources.append(report)

    def read_dir(self, path, exclude=()):
        """Every ``*.json`` in ``path`` (sorted), except the paths in ``exclude`` (this run's own outputs)."""
        if not os.path.isdir(path):
            raise InputError("report directory %s does not exist; point src_dir at the directory the "
                             "controls wrote (ainative_report_dir)" % path)
        excluded = set(os.path.abspath(p) for p in exclude if p)
        for file_path in sorted(glob.glob(os.path.join(path, "*.json"))):
            if os.path.abspath(file_path) in excluded:
                continue
            name = os.path.basename(file_path)
            try:
                doc = read_report(file_path)
            except ReportError as exc:
                self.coverage.asked += 1
                self.coverage.miss(name, exc.msg)
                self.notes.append("left out %s: %s" % (name, exc.msg))
                continue
            self.add(doc, name, owned=True)

    def add_items(self, items):
        for index, item in enumerate(items or []):
            self.add(item, "inputs[%d]" % index, own_output_allowed=True)
