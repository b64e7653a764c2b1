"""findings_forward through run_module with the file destination (the network destinations run against real
receivers in tests/integration/test_findings_forward.py)."""

import json
import os

from ansible_collections.ainative.security.plugins.modules import findings_forward
from lab import findings_samples


def _args(tmp_path, **extra):
    report = str(tmp_path / "findings-report.json")
    if not os.path.exists(report):
        findings_samples.write_report(report)
    args = {"src": [report], "destinations": [{"type": "file", "path": str(tmp_path / "out" / "events.jsonl")}]}
    args.update(extra)
    return args


def _lines(path):
    with open(path) as handle:
        return [json.loads(line) for line in handle]


def test_check_mode_then_write_then_unchanged(run_module, tmp_path):
    args = _args(tmp_path)
    out = tmp_path / "out" / "events.jsonl"
    result, failed = run_module(findings_forward, args, check_mode=True)
    assert not failed and result["changed"] and not out.exists()
    opened = len([f for f in findings_samples.findings() if f["status"] == "open"])
    assert result["events"] == opened and result["verdict"] == "pass"
    result, failed = run_module(findings_forward, args)
    assert not failed and result["changed"], result["msg"]
    assert [e["status"] for e in _lines(str(out))] == ["New"] * opened
    assert result["coverage"]["unit"] == "events" and result["coverage"]["examined"] == opened
    assert result["destinations"][0]["path"] == str(out) and result["findings"] == []
    result, failed = run_module(findings_forward, args)
    assert not failed and not result["changed"]


def test_statuses_select_what_is_sent(run_module, tmp_path):
    result, failed = run_module(findings_forward, _args(tmp_path, statuses=["ignored", "fixed"]))
    assert not failed and result["events"] == 2
    assert sorted(e["status"] for e in _lines(str(tmp_path / "out" / "events.jsonl"))) == ["Resolved", "Suppressed"]


def test_a_report_given_twice_sends_each_finding_once(run_module, tmp_path):
    args = _args(tmp_path)
    args["src"] = args["src"] * 2
    result, failed = run_module(findings_forward, args)
    assert not failed and result["events"] == len(_lines(str(tmp_path / "out" / "events.jsonl")))
    assert any("sent once" in note for note in result["notes"])


def test_nothing_to_send_is_incomplete_unless_accepted(run_module, tmp_path):
    report = str(tmp_path / "clean.json")
    findings_samples.write_report(report, control="image_scan", items=[])
    args = _args(tmp_path, src=[report])
    result, failed = run_module(findings_forward, args)
    assert failed and result["verdict"] == "incomplete" and "examined no events" in result["msg"]
    result, failed = run_module(findings_forward, dict(args, accept_incomplete="the image is clean"))
    assert not failed and result["gate"]["accepted_incomplete"] == "the image is clean"


def test_an_undeliverable_file_is_spooled_and_the_task_fails(run_module, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the directory should be")
    spool_dir = str(tmp_path / "spool")
    args = _args(tmp_path, spool_dir=spool_dir,
                 destinations=[{"name": "lab", "type": "file", "path": str(blocker / "events.jsonl")}])
    result, failed = run_module(findings_forward, args)
    assert failed and result["undelivered"] == result["events"] == result["spooled"]
    assert result["destinations"][0]["attempts"] == 1  # a write error is not retried
    assert len(_lines(os.path.join(spool_dir, "lab.jsonl"))) == result["events"]
    blocker.unlink()
    blocker.mkdir()
    result, failed = run_module(findings_forward, args)
    assert not failed and result["destinations"][0]["resent"] == result["events"] == result["destinations"][0]["queued"]
    assert not os.path.exists(os.path.join(spool_dir, "lab.jsonl"))


def test_a_tampered_spool_is_refused_in_one_line(run_module, tmp_path):
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    (spool_dir / "file.jsonl").write_text('{"class_uid": 2004, "severity_id": 9}\n')
    result, failed = run_module(findings_forward, _args(tmp_path, spool_dir=str(spool_dir)))
    assert failed and result["error_kind"] == "input" and "is not valid OCSF" in result["msg"]
    assert "\n" not in result["msg"]


def test_bad_input_fails_in_one_line(run_module, tmp_path):
    result, failed = run_module(findings_forward, _args(tmp_path, src=[str(tmp_path / "missing.json")]))
    assert failed and result["error_kind"] == "input" and "missing.json" in result["msg"]
    (tmp_path / "not-a-report.json").write_text('{"findings": [{"id": "x"}]}')
    result, failed = run_module(findings_forward, _args(tmp_path, src=[str(tmp_path / "not-a-report.json")]))
    assert failed and "not in the findings model" in result["msg"]
    twice = [{"type": "file", "path": str(tmp_path / "a")}, {"type": "file", "path": str(tmp_path / "b")}]
    result, failed = run_module(findings_forward, _args(tmp_path, destinations=twice))
    assert failed and "two destinations are called file" in result["msg"]
    result, failed = run_module(findings_forward, _args(tmp_path, destinations=[{"type": "hec", "url": "http://x"}]))
    assert failed and "needs token" in result["msg"]


def test_a_url_without_scheme_is_one_input_error_that_does_not_echo_it(run_module, tmp_path):
    secret = "hooks.example.invalid/services/T000/B000/Zq9SecretPart"
    args = _args(tmp_path, destinations=[{"type": "webhook", "url": secret}, {"type": "hec", "url": "ftp://x/", "token": "t"}])
    result, failed = run_module(findings_forward, args)
    assert failed and result["error_kind"] == "input" and "http:// or https://" in result["msg"]
    assert "Zq9SecretPart" not in json.dumps(result)


def test_a_file_destination_holds_this_runs_events_even_when_there_are_none(run_module, tmp_path):
    args = _args(tmp_path)
    out = str(tmp_path / "out" / "events.jsonl")
    result, failed = run_module(findings_forward, args)
    assert not failed and len(_lines(out)) == result["events"] > 0
    findings_samples.write_report(args["src"][0], items=[])  # every finding fixed and gone
    result, failed = run_module(findings_forward, dict(args, accept_incomplete="nothing open"))
    assert not failed and result["changed"] and _lines(out) == []  # not last run's findings, still "open"
    result, failed = run_module(findings_forward, dict(args, accept_incomplete="nothing open"))
    assert not failed and not result["changed"]
    os.unlink(out)
    os.mkdir(out)  # cannot be replaced: the empty write fails and says so
    result, failed = run_module(findings_forward, dict(args, accept_incomplete="nothing open"))
    assert result["destinations"][0]["error"] and result["coverage"]["missed"][0]["item"] == "file"
