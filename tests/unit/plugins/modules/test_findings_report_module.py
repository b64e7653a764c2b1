import json

from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding
from ansible_collections.ainative.security.plugins.modules import findings_report


def _write_reports(directory):
    (directory / "image_scan.json").write_text(json.dumps({
        "control": "image_scan", "verdict": "fail", "notes": [],
        "findings": [make_finding("image_scan", "vulnerability", "CVE-1", "CRITICAL", "bad", target="img")]}))
    (directory / "falco.json").write_text(json.dumps({
        "control": "falco", "verdict": "findings", "notes": ["n"],
        "findings": [make_finding("falco_events", "runtime", "r", "MEDIUM", "shell", target="c1")]}))


def test_check_mode_then_write_then_unchanged_with_diff(run_module, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    _write_reports(src)
    dest = tmp_path / "out"
    args = {"src_dir": str(src), "dest": str(dest)}
    result, failed = run_module(findings_report, args, check_mode=True)
    assert not failed and result["changed"] and not dest.exists()
    assert result["summary"]["total"] == 2 and result["stats"]["open"] == 2
    assert result["coverage"]["unit"] == "reports" and result["coverage"]["examined"] == 2
    assert result["coverage"]["complete"] and result["verdict"] == "findings"
    result, failed = run_module(findings_report, args, diff=True)
    assert not failed and result["changed"] and sorted(p.name for p in dest.iterdir()) == [
        "findings-report.json", "findings-report.junit.xml", "findings-report.sarif", "index.html"]
    assert '"open": 2' in result["diff"]["after"] and result["diff"]["before"] == ""
    result, failed = run_module(findings_report, args, diff=True)
    assert not failed and not result["changed"] and "diff" not in result
    doc = json.loads((dest / "findings-report.json").read_text())
    assert doc["coverage"]["examined"] == 2 and doc["gate"]["failed"] is False


def test_fail_on_fails_after_writing_and_names_the_reason(run_module, tmp_path):
    _write_reports(tmp_path)
    result, failed = run_module(findings_report, {"src_dir": str(tmp_path), "dest": str(tmp_path),
                                                  "fail_on": "HIGH", "formats": ["json"]})
    assert failed and "1 open finding(s) match fail_on HIGH" in result["msg"]
    assert result["gate"]["failing_count"] == 1 and result["gate"]["failing_ids"] == ["CVE-1"]
    assert (tmp_path / "findings-report.json").exists() and result["stats"]["failed"] is True
    result, failed = run_module(findings_report, {"src_dir": str(tmp_path), "dest": str(tmp_path),
                                                  "fail_on": "high", "fail_controls": ["falco"],
                                                  "formats": ["json"]})
    assert not failed and result["verdict"] == "findings" and result["gate"]["fail_controls"] == ["falco"]
    result, failed = run_module(findings_report, {"src_dir": str(tmp_path), "dest": str(tmp_path),
                                                  "fail_on": "CRITICAL", "fail_controls": ["dataset_integrity"]})
    assert not failed and result["verdict"] == "findings"  # open findings outside the scope still count


def test_fail_on_verdict_is_kept_and_scoped(run_module, tmp_path):
    _write_reports(tmp_path)
    args = {"src_dir": str(tmp_path), "dest": str(tmp_path), "formats": ["json"]}
    result, failed = run_module(findings_report, dict(args, fail_on_verdict=True))
    assert failed and "control verdict fail: image_scan" in result["msg"]
    assert result["verdict"] == "fail" and result["gate"]["failed_controls"] == ["image_scan"]
    assert json.loads((tmp_path / "findings-report.json").read_text())["verdict"] == "fail"
    result, failed = run_module(findings_report, dict(args, fail_on_verdict=True, fail_controls=["falco"]))
    assert not failed and result["gate"]["failed_controls"] == []
    result, failed = run_module(findings_report, dict(args, fail_on_verdict=True, report_only=True))
    assert not failed and result["verdict"] == "fail" and result["gate"]["failed"]


def test_examined_nothing_is_incomplete_and_fails_unless_accepted(run_module, tmp_path):
    src = tmp_path / "empty"
    src.mkdir()
    result, failed = run_module(findings_report, {"src_dir": str(src), "dest": str(tmp_path / "out")})
    assert failed and result["verdict"] == "incomplete"
    assert result["coverage"]["examined"] == 0 and not result["coverage"]["complete"]
    assert "examined no reports" in result["msg"]
    assert (tmp_path / "out" / "index.html").exists()  # written before failing
    (src / "broken.json").write_text("{nope")
    (src / "vars.json").write_text(json.dumps({"x": 1}))
    result, failed = run_module(findings_report, {"src_dir": str(src), "dest": str(tmp_path / "out"),
                                                  "accept_incomplete": "lab run, no controls yet"})
    assert not failed and result["gate"]["accepted_incomplete"] == "lab run, no controls yet"
    assert result["coverage"]["asked"] == 2 and result["coverage"]["missed_count"] == 2
    assert [m["item"] for m in result["coverage"]["missed"]] == ["broken.json", "vars.json"]
    assert "broken.json is not a JSON report" in result["coverage"]["missed"][0]["reason"]


def test_incomplete_input_propagates_and_accepted_one_does_not(run_module, tmp_path):
    _write_reports(tmp_path)
    coverage = {"unit": "events", "asked": None, "examined": 0, "missed": [], "missed_count": 0,
                "complete": False, "gaps": ["examined no events"], "accepted_incomplete": None}
    (tmp_path / "falco.json").write_text(json.dumps({
        "control": "falco", "verdict": "incomplete", "notes": [], "findings": [], "coverage": coverage}))
    args = {"src_dir": str(tmp_path), "dest": str(tmp_path), "formats": ["json", "html"]}
    result, failed = run_module(findings_report, args)
    assert failed and result["verdict"] == "incomplete"
    assert result["coverage"]["examined"] == 2 and result["coverage"]["missed"][0]["item"] == "falco.json"
    assert "examined no events" in result["coverage"]["missed"][0]["reason"]
    assert result["controls"]["falco"]["verdict"] == "incomplete"
    assert result["controls"]["falco"]["coverage"][0]["complete"] is False
    assert any("falco.json (falco) is incomplete" in n for n in result["notes"])
    html = (tmp_path / "index.html").read_text()
    assert 'data-complete="false"' in html and "examined no events" in html
    # A gap the control accepted itself stays accepted, and is shown.
    coverage.update(accepted_incomplete="no Falco on this host")
    (tmp_path / "falco.json").write_text(json.dumps({
        "control": "falco", "verdict": "pass", "notes": [], "findings": [], "coverage": coverage}))
    result, failed = run_module(findings_report, args)
    assert not failed and result["coverage"]["complete"]
    assert "no Falco on this host" in (tmp_path / "index.html").read_text()


def test_registered_results_failed_or_skipped_are_errors(run_module, tmp_path):
    ok = {"changed": False, "findings": [make_finding("image_scan", "vulnerability", "CVE-9", "LOW", "t")],
          "verdict": "findings", "invocation": {"module_args": {"token": "s3cret"}}}
    skipped = {"skipped": True, "skip_reason": "Conditional result was False"}
    crashed = {"failed": True, "msg": "cannot reach the scanner"}
    result, failed = run_module(findings_report, {"inputs": [ok, skipped, crashed], "dest": str(tmp_path)})
    assert failed and result["verdict"] == "incomplete" and result["coverage"]["missed_count"] == 2
    assert [i["verdict"] for i in result["inputs"]] == ["findings", "error", "error"]
    assert "cannot reach the scanner" in result["coverage"]["missed"][1]["reason"]
    assert "s3cret" not in (tmp_path / "findings-report.json").read_text()


def test_reports_keeps_working_as_deprecated_alias(run_module, tmp_path):
    report = {"control": "falco", "verdict": "pass", "findings": []}
    result, failed = run_module(findings_report, {"reports": [report], "dest": str(tmp_path), "formats": ["json"]})
    assert not failed and result["controls"]["falco"]["verdict"] == "pass"
    assert result["reports"]["json"]["path"] == str(tmp_path / "findings-report.json")


def test_errors_are_messages_not_tracebacks(run_module, tmp_path):
    result, failed = run_module(findings_report, {"src_dir": str(tmp_path / "nope"), "dest": str(tmp_path)})
    assert failed and "does not exist" in result["msg"] and result["error_kind"] == "input"
    result, failed = run_module(findings_report, {"inputs": [{"findings": [{"id": 1}]}], "dest": str(tmp_path)})
    assert failed and "inputs[0] findings[0] is not in the findings model: missing" in result["msg"]
    result, failed = run_module(findings_report, {"inputs": [[]], "dest": str(tmp_path), "basename": "../x"})
    assert failed and "plain file name" in result["msg"]
    result, failed = run_module(findings_report, {"dest": str(tmp_path)})
    assert failed and "src_dir" in result["msg"]
    result, failed = run_module(findings_report, {"inputs": [[]], "dest": str(tmp_path), "fail_on": "SUPER"})
    assert failed and "fail_on 'SUPER' is not a severity" in result["msg"]
