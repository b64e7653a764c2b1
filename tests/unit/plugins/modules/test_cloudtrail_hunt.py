"""cloudtrail_hunt and s3_encryption_assert modules: argument handling, gating and results (no network)."""

import datetime
import os
import sys

import boto3
import pytest
from moto import mock_aws

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
    assert result["verdict"] == "findings" and result["coverage"]["complete"] and result["coverage_complete"]
    assert result["coverage"]["unit"] == "files" and result["coverage"]["examined"] == result["files_scanned"] > 0
    assert len(result["findings"]) == 5 and result["findings_truncated"]
    assert result["summary"]["total"] == sum(result["counts"].values()) > 5
    assert any("truncated to max_findings=5" in n for n in result["notes"])
    assert result["findings"][0]["severity"] == "CRITICAL"


def test_fail_on_severity_keeps_findings(run_module, tmp_path):
    result, failed = run_module(cloudtrail_hunt, {"source": "local", "paths": [_archive(tmp_path)], "since": "24h",
                                                  "tags": ["kms"], "fail_on": "HIGH"})
    assert failed and result["verdict"] == "fail"
    assert result["gate"]["failing_ids"] == ["kms_key_disabled_or_deleted"]
    assert "1 open finding(s) match fail_on HIGH" in result["msg"]
    assert result["counts"] == {"kms_key_disabled_or_deleted": 1}


def test_a_hunt_over_an_empty_folder_is_incomplete_and_fails_the_gate(run_module, tmp_path):
    result, failed = run_module(cloudtrail_hunt, {"source": "local", "paths": [str(tmp_path)]})
    assert failed and result["verdict"] == "incomplete"
    assert result["coverage"]["examined"] == 0 and "examined no files" in result["msg"]
    assert result["coverage_complete"] is False
    result, failed = run_module(cloudtrail_hunt, {"source": "local", "paths": [str(tmp_path)],
                                                  "accept_incomplete": "nothing exported yet"})
    assert not failed and result["gate"]["accepted_incomplete"] == "nothing exported yet"


def test_fail_on_incomplete_false_still_lets_an_incomplete_run_pass(run_module, tmp_path):
    result, failed = run_module(cloudtrail_hunt, {"source": "local", "paths": [str(tmp_path)],
                                                  "fail_on_incomplete": False})
    assert not failed and result["gate"]["accepted_incomplete"] == "fail_on_incomplete: false (deprecated)"
    result, failed = run_module(cloudtrail_hunt, {"source": "local", "paths": [str(tmp_path)],
                                                  "fail_on_incomplete": True})
    assert failed and result["verdict"] == "incomplete"


def test_fail_on_is_validated_by_the_contract(run_module, tmp_path):
    result, failed = run_module(cloudtrail_hunt, {"source": "local", "paths": [_archive(tmp_path)], "fail_on": "loud"})
    assert failed and result["error_kind"] == "policy" and "fail_on 'loud' is not a severity" in result["msg"]


def test_argument_errors(run_module, tmp_path):
    result, failed = run_module(cloudtrail_hunt, {"source": "local", "paths": [str(tmp_path)], "lookup_rate": 5.0})
    assert failed and "lookup_rate must be above 0 and at most 2" in result["msg"]
    result, failed = run_module(cloudtrail_hunt, {"source": "local", "paths": [str(tmp_path)], "deadline": 0})
    assert failed and "deadline must be at least 1, got 0" in result["msg"]
    result, failed = run_module(cloudtrail_hunt, {"source": "s3"})
    assert failed and "bucket" in result["msg"]
    result, failed = run_module(cloudtrail_hunt, {"source": "local", "paths": [str(tmp_path / "missing")]})
    assert failed and "does not exist" in result["msg"]
    result, failed = run_module(s3_encryption_assert, {"buckets": ["b"], "all_buckets": True})
    assert failed and "mutually exclusive" in result["msg"]
    result, failed = run_module(s3_encryption_assert, {"buckets": ["b"], "kms_key_ids": ["alias"]})
    assert failed and "is not a KMS key ARN" in result["msg"]


AWS = {"region": "us-east-1", "access_key": "testing", "secret_key": "testing"}


@pytest.fixture
def moto_s3():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket="ml-plain")
        yield s3


def test_s3_a_filter_that_matches_no_bucket_is_incomplete(run_module, moto_s3):
    result, failed = run_module(s3_encryption_assert, dict(AWS, all_buckets=True, include=["nothing-*"]))
    assert failed and result["verdict"] == "incomplete"
    assert result["coverage"]["unit"] == "buckets" and result["coverage"]["examined"] == 0
    assert result["counts"]["total"] == 0


def test_s3_gate_default_none_and_the_deprecated_boolean(run_module, moto_s3):
    result, failed = run_module(s3_encryption_assert, dict(AWS, buckets=["ml-plain"]))
    assert not failed and result["verdict"] == "findings" and result["gate"]["fail_on"] == "none"
    assert result["coverage"]["examined"] == 1 and result["coverage"]["complete"]
    result, failed = run_module(s3_encryption_assert, dict(AWS, buckets=["ml-plain"], fail_on_noncompliant=True))
    assert failed and result["gate"]["fail_on"] == "LOW"
    assert "1 of 1 buckets are not compliant: ml-plain" in result["msg"]


def test_s3_an_unreadable_bucket_is_a_coverage_gap(run_module, moto_s3):
    result, failed = run_module(s3_encryption_assert, dict(AWS, buckets=["ml-plain", "ml-missing"]))
    assert failed and result["verdict"] == "incomplete"
    assert result["coverage"]["missed"][0]["item"] == "ml-missing"
    assert "NoSuchBucket" in result["coverage"]["missed"][0]["reason"]
    assert result["counts"]["unknown"] == 1
