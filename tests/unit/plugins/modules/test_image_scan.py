"""The image_scan module end to end with a stand-in scanner binary (the real Trivy runs in tests/integration)."""

import json
import os

import pytest

from ansible_collections.ainative.security.plugins.modules import image_scan

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "module_utils", "fixtures")


@pytest.fixture
def scanner(tmp_path):
    """A `trivy` that answers `version` and prints the fixture report for any scan; a target path that
    contains `crash` makes it fail, one that contains `oom` makes it exit 137 as a kill for memory does."""
    path = tmp_path / "bin" / "trivy"
    path.parent.mkdir()
    path.write_text('#!/bin/sh\nif [ "$1" = version ]; then echo \'{"Version":"0.59.1"}\'; exit 0; fi\n'
                    'for last; do :; done\n'
                    'case "$last" in *crash*) echo "FATAL scan error: broken layer" >&2; exit 1;; '
                    '*oom*) exit 137;; esac\n'
                    'cat %s\n' % os.path.join(FIXTURES, "trivy-probe.json"))
    path.chmod(0o755)
    return str(path)


def args(tmp_path, binary, **extra):
    data = {"targets": [{"type": "directory", "ref": str(tmp_path), "name": "probe"}], "scanner_path": binary,
            "cache_dir": str(tmp_path / "cache")}
    data.update(extra)
    return data


def test_gate_fails_with_ids_and_keeps_findings(run_module, tmp_path, scanner):
    result, failed = run_module(image_scan, args(tmp_path, scanner, scanners=["secret", "misconfig"]))
    assert failed
    assert result["msg"].startswith("image_scan: ") and "gate FAILED" in result["msg"]
    assert "aws-access-key-id" in result["gate"]["failing_ids"] and "AVD-AWS-0088" in result["gate"]["failing_ids"]
    assert result["summary"]["total"] == len(result["findings"]) and result["scanner"]["version"] == "0.59.1"
    assert result["changed"] is False
    assert result["coverage"]["complete"] and result["coverage"]["examined"] == 1
    assert result["verdict"] == "fail"


def test_report_only_and_reports_written_once(run_module, tmp_path, scanner):
    reports = {"json": str(tmp_path / "out" / "r.json"), "sarif": str(tmp_path / "out" / "r.sarif"),
               "junit": str(tmp_path / "out" / "r.xml")}
    params = args(tmp_path, scanner, report_only=True, reports=reports, max_findings=2)
    result, failed = run_module(image_scan, params)
    assert not failed and result["changed"] and result["gate"]["failed"]
    assert "gate FAILED (report only)" in result["msg"]
    assert len(result["findings"]) == 2 and result["findings_truncated"]
    with open(reports["json"]) as handle:
        assert len(json.load(handle)["findings"]) == result["summary"]["total"]
    again, failed = run_module(image_scan, params)
    assert not failed and again["changed"] is False


def test_check_mode_writes_nothing_and_says_so(run_module, tmp_path, scanner):
    path = str(tmp_path / "out" / "r.json")
    result, failed = run_module(image_scan, args(tmp_path, scanner, report_only=True, reports={"json": path}),
                                check_mode=True, diff=True)
    assert not failed and result["changed"] and "the scan ran" in result["check_mode"]
    assert not os.path.exists(path)
    assert "CRITICAL aws-access-key-id probe open" in result["diff"]["after"]


def test_fail_on_none_with_ids(run_module, tmp_path, scanner):
    result, failed = run_module(image_scan, args(tmp_path, scanner, fail_on="none", fail_on_ids=["AVD-GCP-0034"]))
    assert failed and result["gate"]["failing_ids"] == ["AVD-GCP-0034"] and result["gate"]["fail_on"] == "none"


def test_fail_on_any_case_and_id_alias(run_module, tmp_path, scanner):
    result, failed = run_module(image_scan, args(tmp_path, scanner, fail_on="critical"))
    assert failed and result["gate"]["fail_on"] == "CRITICAL" and "aws-access-key-id" in result["gate"]["failing_ids"]
    # AWS-0088 is the trivy-checks v2 spelling of AVD-AWS-0088
    result, failed = run_module(image_scan, args(tmp_path, scanner, fail_on="none", fail_on_ids=["aws-0088"]))
    assert failed and result["gate"]["failing_ids"] == ["AVD-AWS-0088"]


def test_failed_target_is_a_coverage_miss_and_the_others_are_kept(run_module, tmp_path, scanner):
    (tmp_path / "crash").mkdir()
    (tmp_path / "crash" / "README").write_text("scannable\n")
    (tmp_path / "oom").mkdir()
    (tmp_path / "oom" / "README").write_text("scannable\n")
    targets = [{"type": "directory", "ref": str(tmp_path), "name": "good"},
               {"type": "directory", "ref": str(tmp_path / "crash"), "name": "bad"},
               {"type": "directory", "ref": str(tmp_path / "oom"), "name": "killed"},
               {"type": "iac", "ref": str(tmp_path / "missing"), "name": "missing"}]
    report = str(tmp_path / "out" / "r.json")
    result, failed = run_module(image_scan, args(tmp_path, scanner, targets=targets, fail_on="none",
                                                 reports={"json": report}))
    assert failed and result["verdict"] == "incomplete" and result["gate"]["incomplete"]
    cov = result["coverage"]
    assert (cov["asked"], cov["examined"], cov["missed_count"]) == (4, 1, 3)
    reasons = dict((m["item"], m["reason"]) for m in cov["missed"])
    assert "exited with code 1" in reasons["bad"] and "broken layer" in reasons["bad"]
    assert "ran out of memory" in reasons["killed"]
    assert "does not exist" in reasons["missing"]
    assert result["findings"] and set(f["target"] for f in result["findings"]) == {"good"}
    assert [t.get("error") is None for t in result["targets"]] == [True, False, False, False]
    with open(report) as handle:
        doc = json.load(handle)
    assert doc["findings"] and doc["coverage"]["missed_count"] == 3
    accepted, failed = run_module(image_scan, args(tmp_path, scanner, targets=targets[:2], fail_on="none",
                                                   accept_incomplete="bad is rebuilt in SEC-7"))
    assert not failed and accepted["gate"]["accepted_incomplete"] == "bad is rebuilt in SEC-7"


def test_a_run_that_scanned_no_target_is_incomplete_and_fails(run_module, tmp_path, scanner):
    (tmp_path / "crash").mkdir()
    (tmp_path / "crash" / "README").write_text("scannable\n")
    result, failed = run_module(image_scan, args(tmp_path, scanner, fail_on="none", report_only=False,
                                                 targets=[{"type": "directory", "ref": str(tmp_path / "crash")}]))
    assert failed and result["verdict"] == "incomplete" and result["findings"] == []
    assert result["coverage"]["examined"] == 0 and "examined no targets" in result["coverage"]["gaps"]
    assert "coverage incomplete" in result["msg"]


@pytest.mark.parametrize("extra, message", [
    ({"fail_on": "SEVERE"}, "fail_on 'SEVERE' is not a severity"),
    ({"scanner_path": "/nonexistent/trivy"}, "does not exist or is not executable"),
    ({"targets": [{"type": "archive", "ref": "/nonexistent.tar"}]}, "archive target /nonexistent.tar does not exist"),
    ({"fail_on": "SEVERE", "targets": [{"type": "directory", "ref": "/nonexistent"}]}, "is not a severity"),
    ({"reports": {"cyclonedx": "/tmp/x"}, "scanner": "grype"}, "needs scanner: trivy"),
    ({"ignore": [{"id": "CVE-1", "reason": "r", "expires": "soon"}]}, "is not a date"),
    ({"timeout": 0}, "timeout and concurrency must be at least 1"),
    ({"targets": [{"type": "directory", "ref": "/", "name": "a"}, {"type": "iac", "ref": "/", "name": "a"}]},
     "two targets are named a"),
    ({"offline": True, "db_repository": "m"}, "mutually exclusive"),
])
def test_bad_input(run_module, tmp_path, scanner, extra, message):
    result, failed = run_module(image_scan, args(tmp_path, scanner, **extra))
    assert failed and message in result["msg"], result["msg"]


def test_no_scanner_on_path(run_module, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    params = {"targets": [{"type": "directory", "ref": str(tmp_path)}]}
    result, failed = run_module(image_scan, params)
    assert failed and "no trivy binary on PATH" in result["msg"]


def test_an_unexpected_error_on_one_target_keeps_the_others(run_module, tmp_path, scanner, monkeypatch):
    from ansible_collections.ainative.security.plugins.module_utils.scanners import trivy
    real = trivy.normalize

    def fragile(report, target_name):
        if target_name == "odd":
            raise KeyError("Results")
        return real(report, target_name)
    monkeypatch.setattr(trivy.TrivyBackend, "normalize", staticmethod(fragile))
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "README").write_text("scannable\n")
    targets = [{"type": "directory", "ref": str(tmp_path), "name": "good"},
               {"type": "directory", "ref": str(tmp_path / "odd"), "name": "odd"}]
    result, failed = run_module(image_scan, args(tmp_path, scanner, targets=targets, fail_on="none"))
    assert failed and result["verdict"] == "incomplete" and "Traceback" not in result["msg"]
    missed = result["coverage"]["missed"]
    assert missed[0]["item"] == "odd" and "unexpected KeyError" in missed[0]["reason"]
    assert set(f["target"] for f in result["findings"]) == {"good"}
