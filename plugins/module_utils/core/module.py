# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The control contract: one module base for every module of the collection.

A module declares its own options, builds a :class:`ControlModule` and hands one function to
:meth:`ControlModule.run`. The function examines what it was asked to, records that in a
:class:`~.coverage.Coverage`, and returns an :class:`Outcome`. The base then, in one place:

* merges the shared options: the gate (``fail_on``, ``fail_on_ids``, ``accept_incomplete``,
  ``report_only``, ``ignore``, ``baseline``), ``max_findings`` and ``reports`` with the file options;
* maps every :class:`~.errors.ControlError` to one ``fail_json`` line with ``error_kind``;
* applies the playbook's waivers and baseline, decides the gate (findings and coverage), writes the
  reports atomically (check and diff mode, file attributes), bounds the findings in the result;
* returns one envelope: ``findings``, ``summary``, ``verdict``, ``gate``, ``coverage``, ``notes``,
  ``reports`` and ``changed``, plus the control's own keys.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ainative.security.plugins.module_utils.core import reports as report_writer
from ansible_collections.ainative.security.plugins.module_utils.core.errors import ControlError, bounded_text
from ansible_collections.ainative.security.plugins.module_utils.core.fileio import read_bytes
from ansible_collections.ainative.security.plugins.module_utils.core.findings import (
    bounded,
    sort_findings,
    summarize,
)
from ansible_collections.ainative.security.plugins.module_utils.core.gate import Gate
from ansible_collections.ainative.security.plugins.module_utils.core.waivers import (
    IGNORE_SPEC,
    apply_ignores,
    entries_from_params,
    load_baseline,
    mark_baseline,
)

COLLECTION = "ainative.security"
# Kept equal to galaxy.yml's version by a unit test (a module on a managed host cannot read galaxy.yml).
COLLECTION_VERSION = "0.3.0"
DEPRECATED_IN = "1.0.0"
NO_GATE = object()


def gate_spec(default=None):
    """The gate options every control with findings shares; ``default`` is the module's ``fail_on``."""
    return dict(
        fail_on=dict(type="str", default=default),
        fail_on_ids=dict(type="list", elements="str", default=[]),
        fail_on_kev=dict(type="bool", default=False),
        fail_on_epss=dict(type="float"),
        fail_on_cvss=dict(type="float"),
        accept_incomplete=dict(type="str"),
        report_only=dict(type="bool", default=False),
        ignore=dict(type="list", elements="dict", default=[], options=IGNORE_SPEC),
        baseline=dict(type="path"),
    )


def reports_spec(extra_formats=()):
    options = dict((fmt, dict(type="path")) for fmt in report_writer.FORMATS + tuple(extra_formats))
    return dict(reports=dict(type="dict", default={}, options=options))


class Outcome(object):
    """What a control's run function returns to :meth:`ControlModule.conclude`.

    ``extra`` keys go into the result as they are (the control's own return values). ``waivers`` are
    extra ignore entries the playbook named (ignore files, VEX), ``report_meta`` goes into the JSON
    report, ``tool_version`` and ``extensions`` into SARIF, ``own_reports`` are reports the control
    wrote itself (``{format: {"path", "changed"}}``), ``extra_documents`` more files published in one set with the
    reports (``{group: {"path": folder, "files": [(path, bytes)]}}``, e.g. image_scan's BOMs; the result
    gets ``reports[group] = {"path", "files", "changed"}``).
    """

    def __init__(self, coverage, findings=None, notes=None, changed=False, **extra):
        self.coverage = coverage
        self.findings = list(findings or [])
        self.notes = list(notes or [])
        self.changed = changed
        self.extra = extra
        self.waivers = []
        self.report_meta = {}
        self.tool_version = None
        self.extensions = []
        self.own_reports = {}
        self.extra_documents = {}
        self.diff = None
        self.msg = None


class ControlModule(object):
    """Wraps an AnsibleModule (or AnsibleAWSModule through ``module_class``) with the control contract.

    ``gate``: the default of ``fail_on`` (``None`` for none), or NO_GATE for a module without findings.
    ``legacy_gate``: maps a 0.1.0 boolean onto the gate options, ``{option: (params if true, params if
    false)}``; a plain value ``"LOW"`` means ``({"fail_on": "LOW"}, {"fail_on": "none"})``. The option must
    be in the module's spec with default None; using it gives a deprecation.
    """

    module_class = AnsibleModule

    def __init__(self, control, argument_spec, gate=NO_GATE, max_findings=1000, reports=True, report_formats=(),
                 legacy_gate=None, **kwargs):
        spec = {}
        self.has_gate = gate is not NO_GATE
        if self.has_gate:
            spec.update(gate_spec(gate))
        if max_findings is not None:
            spec["max_findings"] = dict(type="int", default=max_findings)
        if reports:
            spec.update(reports_spec(report_formats))
            kwargs.setdefault("add_file_common_args", True)
        # A module whose own option is called like a file option (s3_encryption_assert's mode: audit|enforce)
        # keeps it; that file option then does not apply to the reports.
        self._own_file_options = set(argument_spec).intersection(("mode", "owner", "group")) if reports else set()
        # dataset_hash_verify's 0.1.0 ignore (path globs) is its own option: then there are no waivers by id.
        self._waivers = self.has_gate and "ignore" not in argument_spec
        spec.update(argument_spec)
        kwargs.setdefault("supports_check_mode", True)
        self.control = control
        self.module = self.module_class(argument_spec=spec, **kwargs)
        self.params = self.module.params
        self.has_reports = bool(reports)
        self._legacy_gate(legacy_gate or {})
        if (self.params.get("max_findings") or 0) < 0:
            self.fail("max_findings must be 0 (no limit) or more", "input")
        error = None
        try:
            # A module with no findings gate may still declare accept_incomplete (findings_forward).
            self.gate = Gate.from_params(self.params) if self.has_gate else Gate(
                accept_incomplete=self.params.get("accept_incomplete"))
        except ControlError as exc:
            error = exc
        if error is not None:
            self.fail(error.msg, error.kind)

    @property
    def check_mode(self):
        return self.module.check_mode

    @property
    def diff_mode(self):
        return self.module._diff

    def _legacy_gate(self, legacy):
        for option, mapping in legacy.items():
            value = self.params.get(option)
            if value is None:
                continue
            if not isinstance(mapping, tuple):
                mapping = ({"fail_on": mapping}, {"fail_on": "none"})
            chosen = mapping[0] if value else mapping[1]
            for key, setting in chosen.items():
                if key == "accept_incomplete" and self.params.get(key):
                    continue  # the playbook's own reason wins
                self.params[key] = setting
            instead = ", ".join("%s: %s" % item for item in chosen.items()) or "the default gate"
            self.module.deprecate("%s is deprecated; %s: %s does the same as %s" % (
                option, option, value, instead), version=DEPRECATED_IN, collection_name=COLLECTION)

    def deprecate(self, msg):
        self.module.deprecate(msg, version=DEPRECATED_IN, collection_name=COLLECTION)

    def warn(self, msg):
        self.module.warn(bounded_text(msg, 1024))

    def fail(self, msg, kind="error", **details):
        self.module.fail_json(msg=bounded_text(msg, 2048), error_kind=kind, **details)

    def run(self, func, *args, **kwargs):
        """``func(self, *args, **kwargs)`` -> Outcome; errors become one ``fail_json``, never a traceback."""
        error = None
        trace = None
        outcome = None
        try:
            outcome = func(self, *args, **kwargs)
        except ControlError as exc:
            error = exc
        except Exception as exc:  # pylint: disable=broad-except  # last resort: one line, trace at -vvv only
            error = ControlError("%s failed unexpectedly: %s: %s; this is a bug, please report it with -vvv output"
                                 % (self.control, type(exc).__name__, bounded_text(exc)))
            error.kind = "internal"
            trace = traceback.format_exc()
        if error is not None:
            details = dict(error.details)
            if trace:
                details["exception"] = trace
            self.fail(error.msg, error.kind, **details)
        self.conclude(outcome)

    # -- conclusion -------------------------------------------------------------------------------------
    # Hooks for a control that aggregates others (findings_report): gate_scope() and write_reports().

    def gate_scope(self, findings):
        """The findings the gate judges (after waivers and baseline); all of them by default."""
        return findings

    def blocking(self, findings):
        """The findings that fail the gate once the playbook's waivers and baseline apply.

        For a control that must not make a change on a failing gate (a rules file going live): it asks
        before writing, with the same waivers the conclusion applies afterwards.
        """
        dummy, gated = self._waive(Outcome(None, findings))
        return self.gate.failing(gated)

    def _waive(self, outcome):
        entries = list(outcome.waivers)
        if self._waivers:
            entries = entries_from_params(self.params.get("ignore")) + entries
        expired = apply_ignores(outcome.findings, entries) if entries else []
        for entry in expired:
            outcome.notes.append("ignore entry %s (%s) expired on %s and no longer hides its findings"
                                 % (entry["id"], entry["source"], entry["expires"]))
        baseline = self.params.get("baseline") if self.has_gate else None
        if baseline:
            new = mark_baseline(outcome.findings, load_baseline(baseline))
            outcome.notes.append("baseline %s: %d new finding(s), %d already known" % (
                baseline, new, len(outcome.findings) - new))
            return expired, [f for f in outcome.findings if f["details"].get("baseline") == "new"]
        return expired, outcome.findings

    def write_reports(self, outcome, decision, summary):
        """Write the asked reports; ``{format: {"path", "changed"}}``. Runs after the gate's decision."""
        if not self.has_reports:
            return dict(outcome.own_reports)
        outputs = dict((k, v) for k, v in (self.params.get("reports") or {}).items()
                       if v and k in report_writer.FORMATS)
        if not outputs and not outcome.extra_documents:
            return dict(outcome.own_reports)
        before = read_bytes(outputs["json"]) if self.diff_mode and outputs.get("json") else None
        extra = {}
        for group, entry in outcome.extra_documents.items():
            for index, (path, data) in enumerate(entry["files"]):
                extra["%s/%d" % (group, index)] = (path, data)
        written = report_writer.write_reports(
            outputs, outcome.findings, check_mode=self.check_mode, extra=extra, control=self.control,
            failing=decision["failing_fingerprints"], fail_on=decision["fail_on"], notes=outcome.notes,
            meta=outcome.report_meta, tool_version=outcome.tool_version, extensions=outcome.extensions,
            verdict_=decision["verdict"], coverage=outcome.coverage.as_dict(), gate=_public(decision))
        for fmt, info in written.items():
            file_args = self.module.load_file_common_arguments(self.params, path=info["path"])
            for option in self._own_file_options:
                file_args[option] = None
            if not self.check_mode:
                info["changed"] = self.module.set_fs_attributes_if_different(file_args, info["changed"])
        if self.diff_mode and written.get("json", {}).get("changed") and outcome.diff is None:
            outcome.diff = {"before_header": outputs["json"], "after_header": outputs["json"],
                            "before": _finding_lines(before), "after": _finding_lines_of(outcome.findings)}
        for group, entry in outcome.extra_documents.items():
            parts = [written.pop("%s/%d" % (group, index)) for index in range(len(entry["files"]))]
            written[group] = {"path": entry["path"], "files": [p["path"] for p in parts],
                              "changed": any(p["changed"] for p in parts)}
        written.update(outcome.own_reports)
        return written

    def conclude(self, outcome):
        """Waivers, gate, reports and the result; then exit_json, or fail_json when the gate fails."""
        error = None
        result = None
        try:
            result = self._conclusion(outcome)
        except ControlError as exc:
            error = exc
        if error is not None:
            self.fail(error.msg, error.kind, **error.details)
        if result["gate"]["failed"] and not result["gate"]["report_only"]:
            self.module.fail_json(**result)
        self.module.exit_json(**result)

    def _conclusion(self, outcome):
        expired, gated = self._waive(outcome)
        decision = self.gate.decide(self.gate_scope(gated), outcome.coverage)
        summary = summarize(outcome.findings)
        outcome.findings = sort_findings(outcome.findings)  # once, for every report and the result
        written = self.write_reports(outcome, decision, summary)
        shown, truncated = bounded(outcome.findings, self.params.get("max_findings"))
        result = dict(outcome.extra)
        result.update(
            changed=bool(outcome.changed or any(r.get("changed") for r in written.values())),
            findings=shown,
            findings_truncated=truncated,
            summary=summary,
            verdict=decision["verdict"],
            gate=_public(decision),
            coverage=outcome.coverage.as_dict(),
            notes=[bounded_text(n, 1024) for n in outcome.notes],
            reports=written,
        )
        if self.has_gate:
            result["expired_ignores"] = expired
        if outcome.diff is not None:
            result["diff"] = outcome.diff
        result["msg"] = self._message(outcome, summary, decision)
        return result

    def _message(self, outcome, summary, decision):
        cov = outcome.coverage
        head = outcome.msg or "%d finding(s), %d open" % (summary["total"], summary["open"])
        examined = "examined %d %s" % (cov.examined, cov.unit)
        if decision["failed"]:
            state = "gate FAILED%s: %s" % (" (report only)" if decision["report_only"] else "", decision["reason"])
        else:
            state = "gate passed" + (" (incomplete run accepted: %s)" % decision["accepted_incomplete"]
                                     if decision["accepted_incomplete"] else "")
        return bounded_text("%s: %s; %s; %s" % (self.control, head, examined, state), 2048)


def _public(decision):
    return dict((k, v) for k, v in decision.items() if k != "failing_fingerprints")


def _finding_lines_of(findings):
    return "".join("%s %s %s %s\n" % (f["severity"], f["id"], f["target"], f["status"])
                   for f in sort_findings(findings))


def _finding_lines(data):
    if not data:
        return ""
    try:
        doc = json.loads(data)
    except ValueError:
        return ""
    items = doc.get("findings") if isinstance(doc, dict) else None
    return "".join("%s %s %s %s\n" % (f.get("severity"), f.get("id"), f.get("target"), f.get("status"))
                   for f in items or [] if isinstance(f, dict))
