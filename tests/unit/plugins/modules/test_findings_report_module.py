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
    result, failed = run_module(findings_report, args, diff=True)
    assert not failed and result["changed"] and sorted(p.name for p in dest.iterdir()) == [
        "findings-report.json", "findings-report.junit.xml", "findings-report.sarif", "index.html"]
    assert '"open": 2' in result["diff"]["after"] and result["diff"]["before"] == ""
    result, failed = run_module(findings_report, args, diff=True)
    assert not failed and not result["changed"] and "diff" not in result


def test_fail_on_fails_after_writing_and_names_the_reason(run_module, tmp_path):
    _write_reports(tmp_path)
    result, failed = run_module(findings_report, {"src_dir": str(tmp_path), "dest": str(tmp_path),
                                                  "fail_on": "HIGH", "formats": ["json"]})
    assert failed and "1 open finding(s) at or above HIGH: image_scan 1" in result["msg"]
    assert (tmp_path / "findings-report.json").exists() and result["stats"]["failed"] is True
    result, failed = run_module(findings_report, {"src_dir": str(tmp_path), "dest": str(tmp_path),
                                                  "fail_on": "HIGH", "fail_controls": ["falco"],
                                                  "formats": ["json"]})
    assert not failed and result["verdict"] == "findings"


def test_errors_are_messages_not_tracebacks(run_module, tmp_path):
    result, failed = run_module(findings_report, {"src_dir": str(tmp_path / "nope"), "dest": str(tmp_path)})
    assert failed and "does not exist" in result["msg"]
    result, failed = run_module(findings_report, {"reports": [{"findings": [{"id": 1}]}], "dest": str(tmp_path)})
    assert failed and "missing" in result["msg"]
    result, failed = run_module(findings_report, {"reports": [[]], "dest": str(tmp_path), "basename": "../x"})
    assert failed and "plain file name" in result["msg"]
    result, failed = run_module(findings_report, {"dest": str(tmp_path)})
    assert failed and "src_dir" in result["msg"]
