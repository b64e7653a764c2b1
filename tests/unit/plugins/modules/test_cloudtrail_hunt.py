"""cloudtrail_hunt and s3_encryption_assert modules: argument handling, gating and results (no network)."""

import datetime
import os
import sys

from ansible_collections.ainative.security.plugins.modules import cloudtrail_hunt, s3_encryption_assert

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
from lab import cloudtrail_archive as ca  # noqa: E402


def _archive(tmp_path):
    plants = ca.planted(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=2))
    for key, data in ca.planted_files(plants):
        path = tmp_path / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return str(tmp_path)


def test_local_hunt_result(run_module, tmp_path):
    result, failed = run_module(cloudtrail_hunt, {"source": "local", "paths": [_archive(tmp_path)], "since": "24h",
                                                  "allowed_cidrs": ca.ALLOWED_CIDRS, "max_findings": 5})
    assert not failed and result["changed"] is False
    assert len(result["findings"]) == 5
    assert result["summary"]["total"] == sum(result["counts"].values()) > 5
    assert any("truncated to max_findings=5" in n for n in result["notes"])
    assert result["findings"][0]["severity"] == "CRITICAL"


def test_fail_on_severity_keeps_findings(run_module, tmp_path):
    result, failed = run_module(cloudtrail_hunt, {"source": "local", "paths": [_archive(tmp_path)], "since": "24h",
                                                  "tags": ["kms"], "fail_on": "HIGH"})
    assert failed
    assert result["msg"] == "1 finding(s) at or above HIGH: kms_key_disabled_or_deleted"
    assert result["counts"] == {"kms_key_disabled_or_deleted": 1}


def test_argument_errors(run_module, tmp_path):
    result, failed = run_module(cloudtrail_hunt, {"source": "local", "paths": [str(tmp_path)], "lookup_rate": 5.0})
    assert failed and "lookup_rate must be above 0 and at most 2" in result["msg"]
    result, failed = run_module(cloudtrail_hunt, {"source": "s3"})
    assert failed and "bucket" in result["msg"]
    result, failed = run_module(cloudtrail_hunt, {"source": "local", "paths": [str(tmp_path / "missing")]})
    assert failed and "does not exist" in result["msg"]
    result, failed = run_module(s3_encryption_assert, {"buckets": ["b"], "all_buckets": True})
    assert failed and "mutually exclusive" in result["msg"]
    result, failed = run_module(s3_encryption_assert, {"buckets": ["b"], "kms_key_ids": ["alias"]})
    assert failed and "is not a KMS key ARN" in result["msg"]
