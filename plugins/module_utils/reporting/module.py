# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""findings_report on the control contract: read the inputs, aggregate, let the base gate, write the reports.

The aggregate's findings are the control's findings and its coverage counts the input reports. The
base applies ``ignore``/``baseline`` and decides the gate; :class:`ReportModule` adds what only an
aggregate has: ``fail_controls`` (the gate's scope), ``fail_on_verdict`` (a control's own verdict fails
the gate) and its own four outputs (JSON, SARIF, JUnit, HTML) in ``dest``, written with the decision.
Nothing holds a timestamp unless ``generated_at`` is given, so the same inputs give the same bytes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gc
import json
import os

from ansible_collections.ainative.security.plugins.module_utils.core import reports
from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError, bounded_text
from ansible_collections.ainative.security.plugins.module_utils.core.fileio import read_bytes
from ansible_collections.ainative.security.plugins.module_utils.core.findings import SEVERITY_RANK, gc_paused
from ansible_collections.ainative.security.plugins.module_utils.core.module import ControlModule, Outcome
from ansible_collections.ainative.security.plugins.module_utils.reporting import aggregate as agg_mod
from ansible_collections.ainative.security.plugins.module_utils.reporting import trend as trend_mod
from ansible_collections.ainative.security.plugins.module_utils.reporting.html import report_scope, stream_html
from ansible_collections.ainative.security.plugins.module_utils.reporting.inputs import ACCEPTED_LIMIT, CONTROL, Inputs

REPORT_SCHEMA = "ainative.security/findings-report/1"
FORMATS = ("json", "sarif", "junit", "html")
# With two writer processes, documents i::2 share one: JUnit and JSON, the page and SARIF (measured about
# even at 100,000 findings).
WRITE_ORDER = ("junit", "html", "json", "sarif")
# Below this many findings a second process costs more than it saves.
PARALLEL_MIN_FINDINGS = 20000


def writer_processes(count):
    """2 writer processes for a large report set when this process may run on 2 cores or more, else 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return 2 if count >= PARALLEL_MIN_FINDINGS and cores >= 2 else 1


DEFAULT_NAMES = {"json": "{base}.json", "sarif": "{base}.sarif", "junit": "{base}.junit.xml", "html": "index.html"}
JUNIT_DEFAULT_THRESHOLD = "HIGH"


def output_paths(dest, formats, basename="findings-report", html_name="index.html"):
    names = dict(DEFAULT_NAMES, html=html_name)
    return dict((fmt, os.path.join(dest, names[fmt].format(base=basename))) for fmt in formats)


class ReportModule(ControlModule):
    """ControlModule with the aggregate's gate scope, verdict gate and own outputs (``reports=False``)."""

    def gate_scope(self, findings):
        scope = set(self.params.get("fail_controls") or ())
        if scope:
            return [f for f in findings if f["details"]["origin"]["control"] in scope]
        return findings

    def write_reports(self, outcome, decision, summary):
        # Runs after the base's decision and before it builds the result: the one place that sees both.
        verdict_gate(decision, outcome, self.params)
        # Each control's status from the same decision as the verdict (the page and the JSON report show it).
        decision["controls"] = agg_mod.control_verdicts(outcome.aggregate["by_control"], outcome.findings, decision,
                                                        decision["fail_controls"])
        if outcome.previous is not None:
            outcome.trend = trend_mod.compare(outcome.findings, outcome.previous)
            outcome.extra["trend"] = trend_mod.result_view(outcome.trend)
        outcome.extra["stats"] = agg_mod.stats(outcome.aggregate, summary, decision["verdict"], decision["failed"],
                                               decision["controls"])
        documents = render_documents(outcome, decision, summary, self.params)
        with gc_paused():
            return write_documents(outcome, documents, self.check_mode, self.diff_mode)


class ReportOutcome(Outcome):
    """The aggregate's Outcome: also the aggregation (``aggregate``) and the output paths (``outputs``)."""

    def __init__(self, coverage, findings, notes, aggregate, outputs, **extra):
        super(ReportOutcome, self).__init__(coverage, findings, notes, **extra)
        self.aggregate = aggregate
        self.outputs = outputs
        self.previous = None  # trend.load_previous of the previous option
        self.trend = None
        self.scope = None


def write_documents(outcome, documents, check_mode=False, diff_mode=False):
    """Write each document (a writer of a binary file object) atomically when its content changed;
    ``{fmt: {"path", "changed"}}``; sets the diff from the JSON document (``documents["json"].document``)."""
    outputs = outcome.outputs
    before = None
    if diff_mode and "json" in documents:
        try:
            before = read_bytes(outputs["json"])
        except (IOError, OSError):
            before = b"(unreadable)"
    # One set: a run killed mid-write leaves the previous JSON, SARIF, JUnit and page, never a mix.
    listed = [fmt for fmt in WRITE_ORDER if fmt in documents]
    workers = writer_processes(len(outcome.findings))
    changed = reports.write_report_set([(outputs[fmt], documents[fmt]) for fmt in listed], check_mode, workers)
    written = dict((fmt, {"path": outputs[fmt], "changed": changed[os.path.abspath(outputs[fmt])]}) for fmt in listed)
    if diff_mode and written.get("json", {}).get("changed"):
        outcome.diff = {"before_header": outputs["json"], "after_header": outputs["json"],
                        "before": _brief(before), "after": _view(documents["json"].document)}
    return written


class _Document(object):
    """A document dict for :func:`reports.stream_document`, callable as the writer of its file."""

    def __init__(self, document):
        self.document = document

    def __call__(self, out):
        reports.stream_document(out, self.document)


def verdict_gate(decision, outcome, params):
    """``fail_on_verdict``: a control in scope whose own verdict is ``fail`` fails the gate (0.1.0 keys kept).

    The verdict speaks of every finding: open findings outside ``fail_controls`` still make it ``findings``.
    """
    by_control = outcome.aggregate["by_control"]
    if decision["verdict"] == "pass" and any(f["status"] == "open" for f in outcome.findings):
        decision["verdict"] = "findings"
    scope = set(params.get("fail_controls") or ())
    failed_controls = sorted(c for c, e in by_control.items() if params.get("fail_on_verdict")
                             and e["verdict"] == "fail" and (not scope or c in scope))
    reasons = [decision["reason"]] if decision["failed"] else []
    if failed_controls:
        reasons.append("control verdict fail: %s" % ", ".join(failed_controls))
        decision.update(failed=True, verdict="fail", reason="; ".join(reasons))
    decision.update(fail_controls=sorted(scope), fail_on_verdict=bool(params.get("fail_on_verdict")),
                    failing_count=decision["failing"], failed_controls=failed_controls, reasons=reasons)
    accepted_gate(decision, outcome.aggregate["accepted"])


def accepted_gate(decision, accepted):
    """Name each input's accepted-incomplete reason in the aggregate's gate: the structured list
    (``accepted_incomplete_inputs``, bounded) and ``accepted_incomplete``, after the aggregate's own reason."""
    decision["accepted_incomplete_inputs"] = accepted[:ACCEPTED_LIMIT]
    decision["accepted_incomplete_inputs_count"] = len(accepted)
    if not accepted:
        return
    named = "; ".join("%s (%s): %s" % (a["control"], a["source"], a["reason"]) for a in accepted[:ACCEPTED_LIMIT])
    if len(accepted) > ACCEPTED_LIMIT:
        named += "; and %d more" % (len(accepted) - ACCEPTED_LIMIT)
    own = decision.get("accepted_incomplete")
    decision["accepted_incomplete"] = bounded_text(("%s; " % own if own else "") + "inputs accepted incomplete: "
                                                   + named, 2048)


def _public(decision):
    return dict((k, v) for k, v in decision.items() if k != "failing_fingerprints")


def render_documents(outcome, decision, summary, params):
    """Each asked format as a writer of a binary file object (streamed to its file), from the (waived)
    findings, the aggregate and the gate's decision."""
    findings = outcome.findings
    agg = outcome.aggregate
    coverage = outcome.coverage.as_dict()
    gate = _public(decision)
    meta = {"report": REPORT_SCHEMA, "title": params["title"], "gate": gate, "by_control": agg["by_control"],
            "by_host": agg["by_host"], "by_account": agg["by_account"], "inputs": agg["inputs"]}
    if params.get("generated_at"):
        meta["generated_at"] = params["generated_at"]
    meta["scope"] = outcome.scope
    if outcome.trend is not None:
        meta["trend"] = trend_mod.report_view(outcome.trend)
    if decision["fail_on"] != "none":
        junit_failing = decision["failing_fingerprints"]
    else:  # without fail_on, JUnit still marks HIGH and above as failures (0.1.0)
        junit_failing = [f["fingerprint"] for f in findings if f["status"] == "open"
                         and SEVERITY_RANK[f["severity"]] >= SEVERITY_RANK[JUNIT_DEFAULT_THRESHOLD]]
    documents = {}
    for fmt in params["formats"]:
        if fmt == "json":
            documents[fmt] = _Document(reports.json_document(findings, CONTROL, decision["verdict"], outcome.notes,
                                                             meta, coverage, gate))
        elif fmt == "sarif":
            documents[fmt] = lambda out: reports.stream_sarif(out, findings, coverage=coverage)
        elif fmt == "junit":
            documents[fmt] = lambda out: reports.stream_junit(out, findings, failing=junit_failing, coverage=coverage,
                                                              name="ainative.security findings")
        elif fmt == "html":
            documents[fmt] = lambda out: stream_html(out, findings, agg, summary, gate, decision["verdict"], coverage,
                                                     params["title"], params.get("generated_at"),
                                                     params["html_max_rows"], decision["controls"], outcome.scope,
                                                     outcome.trend)
    return documents


def _brief(raw):
    """Verdict, summary and per-control counts of a JSON report's bytes (small, for --diff)."""
    if raw is None:
        return ""
    try:
        return _view(json.loads(raw.decode("utf-8")))
    except (ValueError, AttributeError):
        return "(not a findings report)\n"


def _view(doc):
    meta = doc.get("meta") or {}
    view = {"verdict": doc.get("verdict"), "summary": doc.get("summary"),
            "controls": dict((c, {"verdict": e.get("verdict"), "open": e.get("open"), "total": e.get("total")})
                             for c, e in (meta.get("by_control") or {}).items())}
    return json.dumps(view, indent=2, sort_keys=True) + "\n"


def run(ctl):
    params = ctl.params
    for name in ("basename", "html_name"):
        if not params[name] or "/" in params[name] or params[name] in (".", ".."):
            raise InputError("%s must be a plain file name (no '/'), got %r" % (name, params[name]))
    if params["html_max_rows"] < 1:
        raise InputError("html_max_rows must be at least 1")
    outputs = output_paths(params["dest"], params["formats"], params["basename"], params["html_name"])
    inputs = Inputs(Coverage("reports"))
    with gc_paused():
        previous = trend_mod.load_previous(params["previous"]) if params.get("previous") else None
        if params["src_dir"]:
            inputs.read_dir(params["src_dir"], exclude=outputs.values())
        inputs.add_items(params["inputs"])
        findings, agg = agg_mod.aggregate(inputs.sources, params["default_host"])
    # The findings live until the process ends and hold no cycles: keep them out of every later collection
    # (at 100,000 findings the collector's passes over them cost most of a second).
    if hasattr(gc, "freeze"):
        gc.freeze()
    notes = ["%d finding(s) from %d report(s): %s" % (len(findings), len(inputs.sources),
                                                      ", ".join(s["source"] for s in inputs.sources) or "none")]
    notes.extend(inputs.notes)
    notes.extend("%s: %d finding(s) already counted from an earlier input, counted once" % (row["source"], row["duplicates"])
                 for row in agg["inputs"] if row["duplicates"])
    outcome = ReportOutcome(inputs.coverage, findings, notes, agg, outputs,
                            controls=agg_mod.controls_view(agg["by_control"]), hosts=agg["by_host"],
                            accounts=agg["by_account"], inputs=agg["inputs"])
    outcome.previous = previous
    outcome.scope = report_scope(inputs.sources, agg, params)
    outcome.msg = "%d finding(s), %d open, from %d report(s); reports in %s" % (
        len(findings), sum(1 for f in findings if f["status"] == "open"), len(inputs.sources), params["dest"])
    return outcome
