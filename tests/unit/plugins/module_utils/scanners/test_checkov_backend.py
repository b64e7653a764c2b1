"""Checkov backend: its real 3.3.30 JSON (one run of the real checkov for the module) -> findings, coverage, ids."""

import copy
import os

import pytest

from ansible_collections.ainative.security.plugins.module_utils.core.findings import fingerprint
from ansible_collections.ainative.security.plugins.module_utils.core.gate import Gate, finding_ids
from ansible_collections.ainative.security.plugins.module_utils.core.waivers import apply_ignores, entries_from_params
from ansible_collections.ainative.security.plugins.module_utils.scanners import canonical, checkov
from ansible_collections.ainative.security.plugins.module_utils.scanners.base import Target, TargetError
from lab import checkov_fixtures

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))))
CHECKOV = os.path.join(ROOT, ".venv", "bin", "checkov")


def needs_checkov(test):
    """Runs the real Checkov (one run for the module, several seconds: marked slow)."""
    return pytest.mark.slow(pytest.mark.skipif(not os.path.exists(CHECKOV), reason="Checkov comes with ./setup/setup.sh")(test))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """One real Checkov run on a tree that waives itself (comment, .checkov.yaml, CKV_SKIP_CHECK) and has a
    file Checkov cannot parse: (report, findings by id, target root)."""
    work = tmp_path_factory.mktemp("checkov-unit")
    paths = checkov_fixtures.prepare(str(work / "fx"))
    with open(os.path.join(paths["waived"], "half.tf"), "w") as handle:
        handle.write(checkov_fixtures.TF_BROKEN)
    scratch = work / "scratch"
    scratch.mkdir()
    saved = os.environ.get("CKV_SKIP_CHECK")
    os.environ["CKV_SKIP_CHECK"] = checkov_fixtures.ENV_SKIPPED_CHECK
    try:
        report, raw, dummy = checkov.CheckovBackend(CHECKOV).scan(Target("iac", paths["waived"], "infra"),
                                                                  ["misconfig"], str(scratch))
    finally:
        if saved is None:
            del os.environ["CKV_SKIP_CHECK"]
        else:
            os.environ["CKV_SKIP_CHECK"] = saved
    assert raw.lstrip().startswith((b"{", b"["))
    found = checkov.normalize(report, "infra")
    by_id = {}
    for finding in found:
        by_id.setdefault(finding["id"], []).append(finding)
    return report, by_id, paths["waived"]


@needs_checkov
def test_failed_checks_become_misconfigurations_with_place_and_canonical_severity(mixed):
    report, by_id, dummy = mixed
    kms = by_id["CKV_AWS_145"][0]
    assert kms["kind"] == "misconfiguration" and kms["control"] == "image_scan" and kms["target"] == "infra"
    assert kms["location"]["path"] == "main.tf" and kms["location"]["resource"] == "aws_s3_bucket.data"
    assert kms["location"]["line"] == 1
    assert kms["severity"] == "HIGH" and kms["details"]["severity_source"] == "canonical"
    assert by_id["CKV_AWS_18"][0]["severity"] == "LOW"  # Trivy's AVD-AWS-0089 severity
    unmapped = by_id["CKV_AWS_144"][0]
    assert unmapped["severity"] == checkov.DEFAULT_SEVERITY and unmapped["details"]["severity_source"] == "default"
    assert report["runs"][0]["results"]["failed_checks"][0]["severity"] is None  # offline: Checkov gives none


@needs_checkov
def test_an_inline_skip_is_reported_and_what_it_skipped_is_reported_anyway(mixed):
    dummy, by_id, dummy_root = mixed
    waiver = by_id["inline-waiver"]
    assert len(waiver) == 1 and waiver[0]["location"]["line"] == 2
    assert waiver[0]["location"]["resource"] == checkov_fixtures.WAIVED_CHECK and waiver[0]["severity"] == "HIGH"
    skipped = by_id[checkov_fixtures.WAIVED_CHECK][0]
    assert "KMS is not needed here" in skipped["details"]["inline_waiver"]


@needs_checkov
def test_neither_the_tree_config_file_nor_the_callers_skip_list_hides_a_check(mixed):
    report, by_id, dummy = mixed
    assert checkov_fixtures.CONFIG_SKIPPED_CHECK in by_id
    assert checkov_fixtures.ENV_SKIPPED_CHECK in by_id
    assert any(".checkov.yaml" in note and "not used" in note for note in report["notes"])


@needs_checkov
def test_a_file_checkov_cannot_parse_is_a_coverage_miss_naming_it(mixed):
    report, dummy, dummy_root = mixed
    misses, notes = checkov.coverage_facts(report, "infra")
    assert [item for item, dummy_reason in misses] == ["infra:half.tf"]
    assert any("2 resource(s)" in note for note in notes)


@needs_checkov
def test_a_run_that_checked_nothing_is_a_miss(mixed):
    report = copy.deepcopy(mixed[0])
    for run in report["runs"]:  # the bare summary Checkov prints when it finds no file of its frameworks
        run.clear()
        run.update({"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0})
    misses, dummy = checkov.coverage_facts(report, "infra")
    assert misses and "checked no resource" in misses[0][1]


@needs_checkov
def test_fingerprints_do_not_depend_on_the_checkov_version_or_the_line(mixed):
    report, by_id, dummy = mixed
    again = copy.deepcopy(report)
    for run in again["runs"]:
        run["summary"]["checkov_version"] = "9.9.9"
        for check in run["results"]["failed_checks"]:
            check["file_line_range"] = [40, 44]
            check["check_class"] = "renamed.in.a.later.release"
    prints = dict((f["id"], f["fingerprint"]) for f in checkov.normalize(again, "infra") if f["id"] != "inline-waiver")
    assert prints["CKV_AWS_145"] == by_id["CKV_AWS_145"][0]["fingerprint"]
    kms = by_id["CKV_AWS_145"][0]
    assert kms["fingerprint"] == fingerprint("image_scan", "misconfiguration", "CKV_AWS_145", "infra", kms["location"])


@needs_checkov
def test_fail_on_ids_and_ignore_by_the_trivy_id_catch_the_checkov_finding(mixed):
    dummy, by_id, dummy_root = mixed
    found = canonical.annotate([copy.deepcopy(by_id["CKV_AWS_145"][0]), copy.deepcopy(by_id["CKV_AWS_144"][0])])
    assert found[0]["details"]["canonical_id"] == "s3-bucket-kms-encryption"
    assert "AVD-AWS-0132" in finding_ids(found[0]) and "S3-BUCKET-KMS-ENCRYPTION" in finding_ids(found[0])
    assert [f["id"] for f in Gate(None, fail_on_ids=["AVD-AWS-0132"]).failing(found)] == ["CKV_AWS_145"]
    assert "canonical_id" not in found[1]["details"]  # no Trivy twin: left alone
    apply_ignores(found, entries_from_params([{"id": "AVD-AWS-0132", "reason": "KMS rollout", "expires": "2999-01-01"}]))
    assert [f["status"] for f in found] == ["ignored", "open"]


def test_a_trivy_finding_gains_the_checkov_id_and_keeps_its_own_aliases():
    finding = {"id": "AVD-AWS-0132", "kind": "misconfiguration", "details": {"aliases": ["AWS-0132"]}}
    canonical.annotate([finding])
    assert finding["details"]["aliases"] == ["AWS-0132", "s3-bucket-kms-encryption", "CKV_AWS_145"]
    vuln = {"id": "CKV_AWS_145", "kind": "vulnerability", "details": {}}
    assert canonical.annotate([vuln])[0]["details"] == {}


def test_the_canonical_table_maps_each_engine_id_once():
    checkov_ids = [c for c, dummy, dummy_s in canonical.CONTROLS.values()]
    trivy_ids = [t for dummy, t, dummy_s in canonical.CONTROLS.values()]
    assert len(canonical.CONTROLS) >= 10
    assert len(set(checkov_ids)) == len(checkov_ids) and len(set(trivy_ids)) == len(trivy_ids)
    assert all(c.startswith("CKV") and t.startswith("AVD-") for c, t in zip(checkov_ids, trivy_ids))
    assert canonical.lookup("avd-aws-0088") == ("s3-bucket-encryption", "CKV_AWS_19", "HIGH")


@needs_checkov
def test_argv_is_offline_and_drops_the_callers_checkov_settings(monkeypatch, tmp_path):
    backend = checkov.CheckovBackend(CHECKOV)
    monkeypatch.setenv("BC_API_KEY", "not-a-real-key")
    monkeypatch.setenv("CKV_SKIP_CHECK", "CKV_AWS_145")
    argv = backend.argv(Target("tfplan", "/x/plan.json"), "/x/plan.json")
    assert argv[:5] == ["env", "-u", "BC_API_KEY", "-u", "CKV_SKIP_CHECK"]
    assert argv[5:] == [CHECKOV, "-f", "/x/plan.json", "--framework", "terraform_plan", "-o", "json",
                        "--skip-download", "--skip-results-upload"]
    with pytest.raises(TargetError, match="scanner checkov scans directory, iac, tfplan targets, not image"):
        backend.scan(Target("image", "alpine:3"), ["misconfig"], str(tmp_path))
    with pytest.raises(TargetError, match="only checks misconfigurations"):
        backend.scan(Target("iac", str(tmp_path)), ["vuln"], str(tmp_path))


@needs_checkov
def test_version_is_asked_of_checkovs_own_interpreter():
    assert checkov.CheckovBackend(CHECKOV).version()["version"] == "3.3.30"
