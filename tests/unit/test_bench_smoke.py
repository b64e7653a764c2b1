"""Every benchmark of bench/ runs once at a tiny size, so the bench code cannot rot.

No timing is asserted: the machine is shared. Each run checks what the benchmark itself checks (every
module run verifies the tree, finds what jq finds, audits every bucket) and that it yields its table.
"""

import os
import shutil

import pytest

from bench import _util, cloud_audit, dataset_hash_verify, findings_report, iac_engines, image_scan, models

TINY = 0.0005


def _table_rows(text):
    return [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| case")]


def test_dataset_hash_verify_bench_runs_at_a_tiny_size(tmp_path):
    text = dataset_hash_verify.run(scale=TINY, rounds=1, data=str(tmp_path), warmup=False)[1]
    assert "### dataset_hash_verify" in text and "`sha256sum -c`" in text
    assert len(_table_rows(text)) == 6
    assert "on one core" in text and "`-multi 2`" in text and "walking the" in text


@pytest.mark.skipif(not os.path.exists(image_scan.TRIVY), reason="Trivy is not installed (make setup)")
def test_image_scan_bench_runs_at_a_tiny_size(tmp_path):
    text = image_scan.run(scale=TINY, rounds=1, data=str(tmp_path), warmup=False)[1]
    assert "raw `trivy fs --format json --output FILE`" in text and "overhead" in text
    assert "normalize 1000 Trivy findings" in text


@pytest.mark.skipif(not (os.path.exists(iac_engines.TRIVY) and os.path.exists(iac_engines.CHECKOV)),
                    reason="Trivy or Checkov is not installed (make setup)")
def test_iac_engines_bench_runs_once(tmp_path):
    text = iac_engines.run(rounds=1, data=str(tmp_path), warmup=False)[1]
    assert "### iac_engines" in text and "`image_scan` scanner checkov" in text
    assert len(_table_rows(text)) == 2 and "s3-bucket-kms-encryption" in text


@pytest.mark.skipif(not (shutil.which("jq") and os.path.exists(cloud_audit.AWS)), reason="jq or the AWS CLI missing")
def test_cloud_audit_bench_runs_at_a_tiny_size(tmp_path):
    text = cloud_audit.run(scale=TINY, rounds=1, data=str(tmp_path), warmup=False)[1]
    assert "audit 2 buckets" in text and "events in 2 gz files" in text
    assert len(_table_rows(text)) == 7
    assert "archive alone: " in text


def test_models_bench_runs_at_a_tiny_size(tmp_path):
    text = models.run(scale=TINY, rounds=1, data=str(tmp_path), warmup=False)[1]
    assert "### models" in text and "`model_signing verify key`" in text and "`sha256sum -c`" in text
    assert len(_table_rows(text)) == 6
    assert "tensors not read" in text and "on one core" in text and "whole package" in text


def test_the_method_reports_median_spread_and_machine():
    stats = _util.interleave([_util.Command("true", ["true"])], rounds=2, warmup=False)[0]
    assert len(stats.wall) == 2 and stats.cell().count(" s") == 3
    assert "SHA extensions (sha_ni): " in _util.machine()


def test_findings_report_bench_runs_at_a_tiny_size(tmp_path):
    ok, text = findings_report.run(scale=TINY, rounds=1, data=str(tmp_path), warmup=False)
    assert "### findings_report" in text and "`jq` merging" in text and len(_table_rows(text)) == 1
    assert "start-up" in text and "gzipped" in text
