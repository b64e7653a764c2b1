"""image_scan iac_policies and tfplan targets with the real Trivy 0.59.1 and the scan_gate role's Rego bundle.

The Terraform trees and plans are written here; the plans follow the documented ``terraform show -json``
format (format_version, terraform_version, planned_values, resource_changes, configuration).
"""

import json
import os

import pytest

from lab import harness
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRIVY = os.path.join(ROOT, ".venv", "bin", "trivy")
BUNDLE = os.path.join(ROOT, "roles", "scan_gate", "files", "rego")
CHECKS = os.path.join(BUNDLE, "checks")
DATA = os.path.join(BUNDLE, "data")
CMEK = "projects/ml/locations/europe-west4/keyRings/ml/cryptoKeys/disks"

pytestmark = pytest.mark.skipif(not os.path.exists(TRIVY), reason="the Trivy binary comes with ./setup/setup.sh")


def _allowed_key():
    with open(os.path.join(DATA, "allowed_kms_keys.yaml")) as handle:
        return yaml.safe_load(handle)["ainative"]["allowed_kms_keys"][0]


def _sse(name, bucket, algorithm, key=None):
    key_line = '\n      kms_master_key_id = "%s"' % key if key else ""
    return """resource "aws_s3_bucket_server_side_encryption_configuration" "%s" {
  bucket = aws_s3_bucket.%s.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "%s"%s
    }
  }
}
""" % (name, bucket, algorithm, key_line)


def _bucket(name):
    return 'resource "aws_s3_bucket" "%s" {\n  bucket = "ml-%s"\n}\n' % (name, name)


def _bad_tree():
    return "".join([
        _bucket("plain"),                                        # no encryption at all
        _bucket("sse_s3"), _sse("sse_s3", "sse_s3", "AES256"),   # SSE-S3 only
        _bucket("wrong_key"), _sse("wrong_key", "wrong_key", "aws:kms", "arn:aws:kms:us-east-1:999999999999:key/rogue"),
        # the attack: an encryption resource named after "victim" that encrypts another bucket
        _bucket("victim"), _bucket("decoy"), _sse("victim", "decoy", "aws:kms", _allowed_key()),
        'resource "google_compute_disk" "scratch" {\n  name = "scratch"\n  zone = "europe-west4-a"\n}\n',
    ])


def _good_tree():
    return "".join([
        _bucket("data"), _sse("data", "data", "aws:kms", _allowed_key()),
        'resource "google_kms_crypto_key" "disks" {\n  name     = "disks"\n  key_ring = "ml"\n}\n',
        'resource "google_compute_disk" "weights" {\n  name = "weights"\n  zone = "europe-west4-a"\n'
        '  disk_encryption_key {\n    kms_key_self_link = google_kms_crypto_key.disks.id\n  }\n}\n',
        'resource "google_compute_disk" "cache" {\n  name = "cache"\n  zone = "europe-west4-a"\n'
        '  disk_encryption_key {\n    kms_key_self_link = "%s"\n  }\n}\n' % CMEK,
    ])


def _constants(value):
    """A configuration expression tree of constants, as terraform show -json writes it."""
    if isinstance(value, list):
        return [_constants(item) for item in value]
    if isinstance(value, dict):
        return dict((k, _constants(v)) for k, v in value.items())
    return {"constant_value": value}


def plan(resources):
    """A plan JSON: each (type, name, values, references) in planned_values, resource_changes and configuration."""
    planned, changes, config = [], [], []
    for rtype, name, values, refs in resources:
        provider = rtype.split("_")[0]
        common = {"address": "%s.%s" % (rtype, name), "mode": "managed", "type": rtype, "name": name}
        planned.append(dict(common, provider_name="registry.terraform.io/hashicorp/" + provider, schema_version=0,
                            values=values, sensitive_values={}))
        changes.append(dict(common, provider_name="registry.terraform.io/hashicorp/" + provider,
                            change={"actions": ["create"], "before": None, "after": values,
                                    "after_unknown": {"id": True}, "before_sensitive": False, "after_sensitive": {}}))
        expressions = _constants(values)
        for attr, target in refs.items():
            expressions[attr] = {"references": [target + ".id", target]}
        config.append(dict(common, provider_config_key=provider, expressions=expressions, schema_version=0))
    return {"format_version": "1.2", "terraform_version": "1.9.5",
            "planned_values": {"root_module": {"resources": planned}}, "resource_changes": changes,
            "configuration": {"provider_config": {p: {"name": p, "full_name": "registry.terraform.io/hashicorp/" + p}
                                                  for p in ("aws", "google")},
                              "root_module": {"resources": config}}}


def _sse_values(algorithm, key):
    default = {"sse_algorithm": algorithm, "kms_master_key_id": key}
    return {"rule": [{"apply_server_side_encryption_by_default": [default], "bucket_key_enabled": True}]}


def _bad_plan():
    return plan([
        ("aws_s3_bucket", "plain", {"bucket": "ml-plain"}, {}),
        ("aws_s3_bucket", "wrong_key", {"bucket": "ml-wrong-key"}, {}),
        ("aws_s3_bucket_server_side_encryption_configuration", "wrong_key",
         _sse_values("aws:kms", "arn:aws:kms:us-east-1:999999999999:key/rogue"), {"bucket": "aws_s3_bucket.wrong_key"}),
        ("google_compute_disk", "scratch", {"name": "scratch", "zone": "europe-west4-a", "disk_encryption_key": []}, {}),
    ])


def _good_plan():
    return plan([
        ("aws_s3_bucket", "data", {"bucket": "ml-data"}, {}),
        ("aws_s3_bucket_server_side_encryption_configuration", "data", _sse_values("aws:kms", _allowed_key()),
         {"bucket": "aws_s3_bucket.data"}),
        ("google_compute_disk", "weights", {"name": "weights", "zone": "europe-west4-a",
                                            "disk_encryption_key": [{"kms_key_self_link": CMEK}]}, {}),
    ])


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    return path


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("iac-policies"))
    return {
        "cache": os.path.join(work, "cache"),
        "bad_tree": os.path.dirname(_write(os.path.join(work, "bad", "main.tf"), _bad_tree())),
        "good_tree": os.path.dirname(_write(os.path.join(work, "good", "main.tf"), _good_tree())),
        "bad_plan": _write(os.path.join(work, "plans", "bad.json"), json.dumps(_bad_plan())),
        # terraform show -json output saved without .json: Trivy 0.59 would not recognize it by itself
        "bad_plan_noext": _write(os.path.join(work, "plans", "bad.tfplan-out"), json.dumps(_bad_plan())),
        "good_plan": _write(os.path.join(work, "plans", "good.json"), json.dumps(_good_plan())),
        "broken": _write(os.path.join(work, "broken", "broken.rego"),
                         "package user.ainative.broken\n\nimport rego.v1\n\ndeny contains res if {\n"
                         "  res := result.new(\"x\"\n}\n"),
    }


@pytest.fixture(scope="module")
def run_image_scan(fx, tmp_path_factory):
    """The module in a subprocess, as Ansible runs it, against the real Trivy: its parsed JSON result."""
    def run(args):
        data = {"scanner_path": TRIVY, "cache_dir": fx["cache"], "offline": True, "concurrency": 2}
        data.update(args)
        return harness.run_module("image_scan", data, tmp_path_factory.mktemp("args"), timeout=300)[1]
    return run


BUNDLE_ONLY = {"checks": [CHECKS], "data": [DATA], "namespaces": ["user.ainative"], "builtin": False}


def _refused(result, target):
    return sorted((f["id"], f["location"]["resource"]) for f in result["findings"] if f["target"] == target)


@pytest.fixture(scope="module")
def bad_run(run_image_scan, fx):
    return run_image_scan({"targets": [{"type": "iac", "ref": fx["bad_tree"], "name": "tree"},
                                       {"type": "tfplan", "ref": fx["bad_plan"], "name": "plan"},
                                       {"type": "tfplan", "ref": fx["bad_plan_noext"], "name": "plan-noext"}],
                           "iac_policies": BUNDLE_ONLY})


def test_bundle_refuses_every_bad_bucket_and_disk_in_tree_and_plan(bad_run):
    result = bad_run
    assert result["failed"] and result["verdict"] == "fail", result.get("msg")
    assert result["coverage"]["complete"] and result["coverage"]["examined"] == 3
    assert _refused(result, "tree") == [
        ("AINATIVE-IAC-001", "aws_s3_bucket.plain"),
        ("AINATIVE-IAC-001", "aws_s3_bucket.victim"),            # its "own" encryption resource encrypts decoy
        ("AINATIVE-IAC-001", "aws_s3_bucket_server_side_encryption_configuration.sse_s3"),
        ("AINATIVE-IAC-001", "aws_s3_bucket_server_side_encryption_configuration.wrong_key"),
        ("AINATIVE-IAC-002", "google_compute_disk.scratch"),
    ]
    expected_plan = [
        ("AINATIVE-IAC-001", "aws_s3_bucket.plain"),
        ("AINATIVE-IAC-001", "aws_s3_bucket_server_side_encryption_configuration.wrong_key"),
        ("AINATIVE-IAC-002", "google_compute_disk.scratch"),
    ]
    assert _refused(result, "plan") == expected_plan
    assert _refused(result, "plan-noext") == expected_plan
    paths = set((f["target"], f["location"]["path"]) for f in result["findings"] if f["target"] != "tree")
    assert paths == {("plan", "bad.json"), ("plan-noext", "bad.tfplan-out")}   # the plan, not Trivy's virtual main.tf
    for finding in result["findings"]:
        assert finding["kind"] == "misconfiguration" and finding["severity"] == "HIGH"
        assert finding["details"]["namespace"].startswith("user.ainative.")   # builtin off: no Trivy check left
    messages = [f["details"]["message"] for f in result["findings"] if f["target"] == "tree"]
    assert any("not in the allowed list" in m for m in messages) and any('"AES256"' in m for m in messages)


def test_bundle_passes_the_encrypted_tree_and_plan(run_image_scan, fx):
    result = run_image_scan({"targets": [{"type": "iac", "ref": fx["good_tree"], "name": "tree"},
                                         {"type": "tfplan", "ref": fx["good_plan"], "name": "plan"}],
                             "iac_policies": BUNDLE_ONLY})
    assert not result.get("failed"), result.get("msg")
    assert result["verdict"] == "pass" and result["findings"] == []
    assert result["coverage"]["complete"] and result["coverage"]["examined"] == 2


def test_namespace_narrows_custom_checks_and_builtin_checks_stay(run_image_scan, fx, bad_run):
    """Trivy 0.59 matches only a package's first component; the module still runs just the package asked for."""
    first = run_image_scan({"targets": [{"type": "iac", "ref": fx["bad_tree"], "name": "tree"}], "fail_on": "none",
                            "iac_policies": dict(BUNDLE_ONLY, namespaces=["user.ainative.s3_sse_kms"], builtin=True)})
    ids = set(f["id"] for f in first["findings"])
    assert "AINATIVE-IAC-001" in ids and "AINATIVE-IAC-002" not in ids
    assert {"AVD-AWS-0088", "AVD-GCP-0034"} <= ids                       # Trivy's own checks kept
    custom = [f for f in first["findings"] if f["id"] == "AINATIVE-IAC-001"]
    assert all(f["details"]["aliases"] == [] for f in custom)             # the METADATA id as written
    # fingerprints stable across runs and option sets (the baseline compares them)
    again_custom = sorted(f["fingerprint"] for f in bad_run["findings"]
                          if f["id"] == "AINATIVE-IAC-001" and f["target"] == "tree")
    assert sorted(f["fingerprint"] for f in custom) == again_custom and len(again_custom) == 4


def test_a_check_that_does_not_compile_fails_the_task(run_image_scan, fx):
    result = run_image_scan({"targets": [{"type": "iac", "ref": fx["bad_tree"], "name": "tree"}],
                             "iac_policies": {"checks": [CHECKS, fx["broken"]], "data": [DATA]}})
    assert result["failed"] and result.get("error_kind") == "policy", result
    assert "\n" not in result["msg"]
    assert fx["broken"] in result["msg"] and "rego_parse_error" in result["msg"], result["msg"]
    assert not result.get("findings")                                      # no green scan without the check


def test_a_namespace_no_check_declares_fails_before_scanning(run_image_scan, fx):
    result = run_image_scan({"targets": [{"type": "iac", "ref": fx["bad_tree"], "name": "tree"}],
                             "iac_policies": dict(BUNDLE_ONLY, namespaces=["user.ainative.typo"])})
    assert result["failed"] and result.get("error_kind") == "input"
    assert "user.ainative.typo" in result["msg"] and "user.ainative.s3_sse_kms" in result["msg"]


def test_a_json_file_that_is_no_plan_is_not_scanned_as_clean(run_image_scan, tmp_path):
    state = _write(str(tmp_path / "terraform.tfstate.json"), json.dumps({"version": 4, "resources": []}))
    result = run_image_scan({"targets": [{"type": "tfplan", "ref": state, "name": "state"}],
                             "iac_policies": BUNDLE_ONLY})
    assert result["failed"] and result["verdict"] == "incomplete"
    assert "format_version" in result["coverage"]["missed"][0]["reason"]


ROLE_PLAY = """---
- name: Scan gate with the role's Rego bundle
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Run the scan gate
      ansible.builtin.include_role:
        name: ainative.security.scan_gate
"""


def test_scan_gate_role_copies_its_bundle_and_refuses_the_bad_tree(playbook, fx, tmp_path):
    bundle = str(tmp_path / "rego")
    play = _write(str(tmp_path / "play.yml"), ROLE_PLAY)
    extra = {"scan_gate_scanner_path": TRIVY, "scan_gate_cache_dir": fx["cache"],
             "scan_gate_report_dir": str(tmp_path / "reports"), "scan_gate_formats": ["json"],
             "scan_gate_targets": [{"type": "iac", "ref": fx["bad_tree"], "name": "tree"}],
             "scan_gate_rego_bundle_dir": bundle,
             "scan_gate_iac_policies": {"checks": [bundle + "/checks"], "data": [bundle + "/data"], "builtin": False}}
    result = playbook(play, extra_vars=extra)
    assert result.rc != 0 and "scan gate failed" in result.stdout, result
    assert "AINATIVE-IAC-001" in result.stdout and "AINATIVE-IAC-002" in result.stdout, result
    for name in ("checks/s3_sse_kms.rego", "checks/gcp_disk_cmek.rego", "data/allowed_kms_keys.yaml"):
        with open(os.path.join(BUNDLE, name)) as shipped, open(os.path.join(bundle, name)) as copied:
            assert shipped.read() == copied.read()
    with open(str(tmp_path / "reports" / "scan.json")) as handle:
        ids = set(f["id"] for f in json.load(handle)["findings"])
    assert ids == {"AINATIVE-IAC-001", "AINATIVE-IAC-002"}
