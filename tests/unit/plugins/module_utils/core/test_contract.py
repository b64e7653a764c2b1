"""The control contract: gate, coverage, waivers, errors and reports, through a tiny real module."""

import datetime
import json
import types

import pytest

from ansible_collections.ainative.security.plugins.module_utils.core import module as core_module
from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError, PolicyError
from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding
from ansible_collections.ainative.security.plugins.module_utils.core.gate import Gate, parse_threshold
from ansible_collections.ainative.security.plugins.module_utils.core.waivers import (
    IgnoreEntry, apply_ignores, entries_from_params)


def _finding(fid="CVE-1", severity="HIGH", aliases=None, line=3, fixed=None):
    finding = make_finding("demo", "vulnerability", fid, severity, "t", target="img",
                           location={"package": "openssl", "line": line, "fixed_version": fixed})
    if aliases:
        finding["details"]["aliases"] = aliases
    return finding


def _module(behaviour, **ctl):
    """A real module object whose main() builds a ControlModule and runs ``behaviour``."""
    mod = types.ModuleType("demo_module")

    def main():
        spec = dict(items=dict(type="list", elements="str", default=[]), **ctl.get("spec", {}))
        control = core_module.ControlModule("demo", argument_spec=spec,
                                            gate=ctl.get("gate", "HIGH"), legacy_gate=ctl.get("legacy_gate"),
                                            **ctl.get("kwargs", {}))
        control.run(behaviour)
    mod.main = main
    return mod


def _examine(ctl):
    cov = Coverage("items", asked=len(ctl.params["items"]))
    found = []
    for item in ctl.params["items"]:
        if item == "unreadable":
            cov.miss(item, "permission denied")
            continue
        cov.add()
        if item.startswith("CVE"):
            found.append(_finding(item))
    return core_module.Outcome(cov, found, own_key=1)


def test_threshold_any_case_and_clear_error():
    assert parse_threshold("high") == "HIGH" and parse_threshold("None") is None
    with pytest.raises(PolicyError, match="not a severity"):
        parse_threshold("severe")


def test_gate_matches_aliases_case_insensitively():
    gate = Gate(None, ["avd-aws-0088"])
    assert gate.failing([_finding("AWS-0088", "LOW", aliases=["AVD-AWS-0088"])])


def test_fingerprint_ignores_line_and_fixed_version():
    assert _finding(line=3)["fingerprint"] == _finding(line=4, fixed="1.2")["fingerprint"]


def test_coverage_nothing_examined_is_incomplete():
    cov = Coverage("files")
    assert not cov.complete and cov.gaps() == ["examined no files"]
    decision = Gate("HIGH").decide([], cov)
    assert decision["failed"] and decision["verdict"] == "incomplete"
    accepted = Gate("HIGH", accept_incomplete="lab has no data").decide([], Coverage("files"))
    assert not accepted["failed"] and accepted["accepted_incomplete"] == "lab has no data"


def test_missed_list_is_bounded_but_counted():
    cov = Coverage("files", asked=500)
    for index in range(500):
        cov.miss("f%d" % index, "x" * 5000)
    data = cov.as_dict()
    assert data["missed_count"] == 500 and len(data["missed"]) == 50 and data["missed_truncated"]
    assert len(data["missed"][0]["reason"]) < 600


def test_waiver_needs_reason_and_expires_after_its_last_day():
    with pytest.raises(PolicyError, match="reason"):
        entries_from_params([{"id": "CVE-1", "reason": " "}])
    day = datetime.date(2026, 12, 1)
    finding = _finding()
    expired = apply_ignores([finding], [IgnoreEntry("cve-1", "accepted", "2026-11-30")], today=day)
    assert finding["status"] == "open" and expired
    finding = _finding()
    apply_ignores([finding], [IgnoreEntry("CVE-1", "accepted", "2026-12-01")], today=day)
    assert finding["status"] == "ignored"
    # Trivy's exp: is 00:00 UTC of that day: no longer honoured on the day itself.
    finding = _finding()
    apply_ignores([finding], [IgnoreEntry("CVE-1", "trivy", "2026-12-01", expires_exclusive=True)], today=day)
    assert finding["status"] == "open"


def test_module_envelope_gate_and_reports(run_module, tmp_path):
    reports = {"json": str(tmp_path / "r.json"), "sarif": str(tmp_path / "r.sarif"), "junit": str(tmp_path / "r.xml")}
    result, failed = run_module(_module(_examine), {"items": ["a", "CVE-9"], "reports": reports})
    assert failed and result["verdict"] == "fail" and result["gate"]["failing_ids"] == ["CVE-9"]
    assert result["coverage"]["complete"] and result["coverage"]["examined"] == 2 and result["own_key"] == 1
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["verdict"] == "fail" and doc["coverage"]["complete"] and doc["gate"]["failed"]
    assert json.loads((tmp_path / "r.sarif").read_text())["runs"][0]["invocations"][0]["executionSuccessful"]
    again = run_module(_module(_examine), {"items": ["a", "CVE-9"], "reports": reports})[0]
    assert not again["changed"]
    waived, failed = run_module(_module(_examine), {"items": ["CVE-9"], "ignore": [
        {"id": "cve-9", "reason": "patched upstream", "expires": "2999-01-01"}]})
    assert not failed and waived["verdict"] == "pass" and waived["findings"][0]["status"] == "ignored"


def test_module_incomplete_fails_unless_accepted(run_module):
    result, failed = run_module(_module(_examine), {"items": []})
    assert failed and result["verdict"] == "incomplete" and "examined no items" in result["msg"]
    result, failed = run_module(_module(_examine), {"items": ["a", "unreadable"]})
    assert failed and result["coverage"]["missed"] == [{"item": "unreadable", "reason": "permission denied"}]
    result, failed = run_module(_module(_examine), {"items": ["a", "unreadable"], "accept_incomplete": "ticket 7"})
    assert not failed and result["gate"]["accepted_incomplete"] == "ticket 7"


def test_errors_are_one_line_with_kind(run_module):
    def bad_input(ctl):
        raise InputError("items must name files; fix the list")

    def bug(ctl):
        return {}["missing"]
    result, failed = run_module(_module(bad_input), {})
    assert failed and result["error_kind"] == "input" and result["msg"] == "items must name files; fix the list"
    result, failed = run_module(_module(bug), {})
    assert failed and result["error_kind"] == "internal" and "KeyError" in result["msg"]
    assert "Traceback" not in result["msg"] and "Traceback" in result["exception"]


def test_legacy_boolean_gate_maps_onto_fail_on(run_module):
    mod = _module(_examine, gate="HIGH", legacy_gate={"fail_on_thing": "LOW"}, spec={"fail_on_thing": dict(type="bool")})
    result, failed = run_module(mod, {"items": ["CVE-1"], "fail_on_thing": False})
    assert not failed and result["gate"]["fail_on"] == "none"
    result, failed = run_module(mod, {"items": ["CVE-1"], "fail_on_thing": True})
    assert failed and result["gate"]["fail_on"] == "LOW"


def test_bad_gate_and_unwritable_report_are_one_line(run_module, tmp_path):
    result, failed = run_module(_module(_examine), {"items": ["a"], "fail_on": "severe"})
    assert failed and result["error_kind"] == "policy" and "not a severity" in result["msg"]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result, failed = run_module(_module(_examine), {"items": ["a"], "reports": {"json": str(blocker / "r.json")}})
    assert failed and "cannot write report" in result["msg"] and "exception" not in result
