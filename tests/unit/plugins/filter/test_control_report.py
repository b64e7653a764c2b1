"""control_report: a registered result (also failed or skipped) as a report findings_report reads."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ainative.security.plugins.filter.control_report import FilterModule
from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding

control_report = FilterModule().filters()["control_report"]


def test_result_becomes_a_report_without_its_invocation():
    finding = make_finding("dataset_hash_verify", "integrity", "dataset_file_mismatch", "HIGH", "t", target="/d")
    coverage = {"unit": "files", "examined": 3, "complete": True}
    report = control_report({"changed": False, "findings": [finding], "verdict": "findings", "coverage": coverage,
                             "notes": ["n"], "invocation": {"module_args": {"token": "s3cret"}}},
                            host="web1", control="dataset_integrity")
    assert report == {"control": "dataset_integrity", "host": "web1", "account": None, "verdict": "findings",
                      "findings": [finding], "notes": ["n"], "coverage": coverage}


def test_failed_without_findings_and_skipped_are_errors():
    failed = control_report({"failed": True, "msg": "vault unreachable"}, host="web1", control="vault_dynamic_creds")
    assert failed["verdict"] == "error" and failed["findings"] == [] and "vault unreachable" in failed["notes"][0]
    skipped = control_report({"skipped": True, "false_condition": "falco_enabled"}, control="falco")
    assert skipped["verdict"] == "error" and skipped["notes"] == ["skipped: falco_enabled"]


def test_not_a_result_is_one_clear_error():
    with pytest.raises(AnsibleFilterError, match="control_report: a str is not a report"):
        control_report("text")
