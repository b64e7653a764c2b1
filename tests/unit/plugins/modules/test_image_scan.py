"""The image_scan module end to end with a stand-in scanner binary (the real Trivy runs in tests/integration)."""

import json
import os

import pytest

from ansible_collections.ainative.security.plugins.modules import image_scan

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "module_utils", "fixtures")


@pytest.fixture
def scanner(tmp_path):
    """A `trivy` that answers `version` and prints the fixture report for any scan."""
    path = tmp_path / "bin" / "trivy"
    path.parent.mkdir()
    path.write_text('#!/bin/sh\nif [ "$1" = version ]; then echo \'{"Version":"0.59.1"}\'; exit 0; fi\n'
                    'cat %s\n' % os.path.join(FIXTURES, "trivy-probe.json"))
    path.chmod(0o755)
    return str(path)


def args(tmp_path, scanner, **extra):
    data = {"targets": [{"type": "directory", "ref": str(tmp_path), "name": "probe"}], "scanner_path": scanner,
            "cache_dir": str(tmp_path / "cache")}
    data.update(extra)
    return data


def test_gate_fails_with_ids_and_keeps_findings(run_module, tmp_path, scanner):
    result, failed = run_module(image_scan, args(tmp_path, scanner, scanners=["secret", "misconfig"]))
    assert failed
    assert result["msg"].startswith("image_scan gate failed: ")
    assert "aws-access-key-id" in result["gate"]["ids"] and "AVD-AWS-0088" in result["gate"]["ids"]
    assert result["summary"]["total"] == len(result["findings"]) and result["scanner"]["version"] == "0.59.1"
    assert result["changed"] is False


def test_report_only_and_reports_written_once(run_module, tmp_path, scanner):
    reports = {"json": str(tmp_path / "out" / "r.json"), "sarif": str(tmp_path / "out" / "r.sarif"),
               "junit": str(tmp_path / "out" / "r.xml")}
    params = args(tmp_path, scanner, report_only=True, reports=reports, max_findings=2)
    result, failed = run_module(image_scan, params)
    assert not failed and result["changed"] and result["gate"]["failed"]
    assert result["msg"].endswith("gate FAILED (report only)")
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
    assert failed and result["gate"]["ids"] == ["AVD-GCP-0034"] and result["gate"]["fail_on"] is None


@pytest.mark.parametrize("extra, message", [
    ({"fail_on": "SEVERE"}, "fail_on 'SEVERE' is not a severity"),
    ({"scanner_path": "/nonexistent/trivy"}, "does not exist or is not executable"),
    ({"targets": [{"type": "archive", "ref": "/nonexistent.tar"}]}, "archive target /nonexistent.tar does not exist"),
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
