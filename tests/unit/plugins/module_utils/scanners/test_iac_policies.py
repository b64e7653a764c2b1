"""iac_policies (custom Rego checks for Trivy) and tfplan targets, without running Trivy."""

import json
import os

import pytest

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.scanners import iac_policies
from ansible_collections.ainative.security.plugins.module_utils.scanners import image_scan
from ansible_collections.ainative.security.plugins.module_utils.scanners import trivy
from ansible_collections.ainative.security.plugins.module_utils.scanners.base import (
    Target,
    TargetError,
    default_scanners,
    validate_target,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))))
BUNDLE_CHECKS = os.path.join(ROOT, "roles", "scan_gate", "files", "rego", "checks")
# What Trivy 0.59.1 printed (last stderr line) for a check with a syntax error and for a bad data file.
TRIVY_PARSE_ERROR = (
    "trivy (iac tree) exited with code 1. Last stderr lines:\n"
    "2026-12-01T17:34:51Z\tFATAL\tFatal error\tfs scan error: scan error: scan failed: failed analysis: post "
    "analysis error: post analysis error: terraform scan error: scan config error: failed to load rego checks "
    "from [.]: failed to parse Rego module: 1 error occurred: tmp/p/broken.rego:5: rego_parse_error: "
    "unexpected } token: expected \",\" or \")\"\n\t}\n\t^")
TRIVY_DATA_ERROR = (
    "trivy (iac tree) exited with code 1. Last stderr lines:\n"
    "2026-12-01T17:37:31Z\tFATAL\tFatal error\tfs scan error: scan error: scan failed: failed analysis: post "
    "analysis error: post analysis error: terraform scan error: scan config error: unable to load data: load "
    "documents: 1 error occurred during loading: srv/rego/data/keys.yaml: error converting YAML to JSON: yaml: "
    "line 2: did not find expected ',' or ']'")


def _check(tmp_path, name, package):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# METADATA\n# custom:\n#   id: X-1\npackage %s\n\ndeny[res] {\n  res := 1\n}\n" % package)
    return str(path)


def _params(**opts):
    return {"iac_policies": opts, "scanner": "trivy"}


def test_no_option_means_no_policies():
    assert iac_policies.from_params({}) is None
    assert iac_policies.from_params({"iac_policies": None}) is None


def test_shipped_bundle_declares_its_two_packages():
    policies = iac_policies.from_params(_params(checks=[BUNDLE_CHECKS]))
    assert policies.namespaces == ["user.ainative.gcp_disk_cmek", "user.ainative.s3_sse_kms"]
    assert policies.builtin is True


def test_argv_gives_trivy_first_components_only(tmp_path):
    checks = os.path.dirname(_check(tmp_path, "c/a.rego", "user.ainative.s3"))
    _check(tmp_path, "c/sub/b.rego", "corp.disks")
    data = tmp_path / "keys.yaml"
    data.write_text("ainative: {allowed_kms_keys: [k]}\n")
    policies = iac_policies.from_params(_params(checks=[checks], data=[str(data)],
                                                namespaces=["user.ainative", "corp.disks"]))
    assert policies.argv() == ["--config-check", checks, "--config-data", str(data), "--check-namespaces", "corp,user"]


@pytest.mark.parametrize("namespace", ["user.ainative.typo", "user.ain", "ainative"])
def test_a_namespace_no_check_declares_is_refused(tmp_path, namespace):
    check = _check(tmp_path, "a.rego", "user.ainative.s3")
    with pytest.raises(InputError) as err:
        iac_policies.from_params(_params(checks=[check], namespaces=[namespace]))
    assert namespace in err.value.msg and "user.ainative.s3" in err.value.msg


@pytest.mark.parametrize("namespace", ["builtin", "builtin.aws", "user..x", "user.ainative; rm"])
def test_builtin_or_malformed_namespaces_are_refused(tmp_path, namespace):
    check = _check(tmp_path, "a.rego", "user.ainative.s3")
    with pytest.raises(InputError):
        iac_policies.from_params(_params(checks=[check], namespaces=[namespace]))


def test_bad_check_and_data_paths_are_refused(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        iac_policies.from_params(_params(checks=[str(tmp_path / "missing")]))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="holds no .rego file"):
        iac_policies.from_params(_params(checks=[str(tmp_path / "empty")]))
    check = _check(tmp_path, "a.rego", "user.x")
    with pytest.raises(InputError, match="data path"):
        iac_policies.from_params(_params(checks=[check], data=[str(tmp_path / "nodata.yaml")]))
    nopkg = tmp_path / "nopkg.rego"
    nopkg.write_text("deny[res] { res := 1 }\n")
    with pytest.raises(iac_policies.CheckError, match="declares no 'package'"):
        iac_policies.from_params(_params(checks=[str(nopkg)]))


def test_only_builtin_packages_run_nothing_of_ones_own(tmp_path):
    check = _check(tmp_path, "a.rego", "builtin.aws.mine")
    with pytest.raises(InputError, match="only builtin"):
        iac_policies.from_params(_params(checks=[check]))


def _report(*namespaces):
    return {"Results": [{"Target": "main.tf", "Misconfigurations": [
        {"ID": "ID-%d" % i, "Namespace": ns, "Status": "FAIL", "Severity": "HIGH"} for i, ns in enumerate(namespaces)]}]}


def test_select_keeps_asked_packages_at_a_dot_boundary(tmp_path):
    _check(tmp_path, "a.rego", "user.ainative.s3")
    _check(tmp_path, "b.rego", "user.ainativex")
    policies = iac_policies.from_params(_params(checks=[str(tmp_path)], namespaces=["user.ainative"], builtin=False))
    kept = policies.select(_report("user.ainative.s3", "user.ainativex", "user.other", "builtin.aws.s3.aws0088"))
    assert [m["Namespace"] for m in kept["Results"][0]["Misconfigurations"]] == ["user.ainative.s3"]
    policies.builtin = True
    kept = policies.select(_report("builtin.aws.s3.aws0088", "user.ainativex"))
    assert [m["Namespace"] for m in kept["Results"][0]["Misconfigurations"]] == ["builtin.aws.s3.aws0088"]


def test_trivy_load_failures_become_one_line_naming_the_file(tmp_path):
    policies = iac_policies.from_params(_params(checks=[_check(tmp_path, "a.rego", "user.x")]))
    err = policies.load_failure(TRIVY_PARSE_ERROR)
    assert isinstance(err, iac_policies.CheckError) and err.kind == "policy"
    assert err.msg == ('iac_policies check /tmp/p/broken.rego does not load (line 5): rego_parse_error: '
                       'unexpected } token: expected "," or ")"')
    err = policies.load_failure(TRIVY_DATA_ERROR)
    assert err.msg.startswith("iac_policies data file /srv/rego/data/keys.yaml does not load: error converting YAML")
    assert "\n" not in err.msg
    assert policies.load_failure("trivy (iac tree) was killed by signal 9, which usually means ...") is None


def test_custom_check_ids_are_kept_as_written_and_fingerprints_are_stable():
    report = {"Results": [{"Target": "main.tf", "Class": "config", "Type": "terraform", "Misconfigurations": [
        {"ID": "CORP-0001", "AVDID": "CORP-0001", "Namespace": "user.corp.s3", "Status": "FAIL", "Severity": "HIGH",
         "Title": "t", "CauseMetadata": {"Resource": "aws_s3_bucket.a", "StartLine": 1}},
        {"ID": "AINATIVE-IAC-001", "AVDID": "AVD-AINATIVE-1", "Namespace": "user.ainative.s3", "Status": "FAIL",
         "Severity": "HIGH", "CauseMetadata": {"Resource": "aws_s3_bucket.a", "StartLine": 1}},
        {"ID": "AWS-0088", "Namespace": "builtin.aws.s3.aws0088", "Status": "FAIL", "Severity": "HIGH",
         "CauseMetadata": {"Resource": "aws_s3_bucket.a", "StartLine": 1}},
    ]}]}
    first = trivy.normalize(report, "tree")
    assert [(f["id"], f["kind"]) for f in first] == [("CORP-0001", "misconfiguration"),
                                                     ("AINATIVE-IAC-001", "misconfiguration"),
                                                     ("AVD-AWS-0088", "misconfiguration")]
    assert first[0]["details"]["aliases"] == [] and first[1]["details"]["aliases"] == ["AVD-AINATIVE-1"]
    assert first[0]["details"]["namespace"] == "user.corp.s3"
    report["Results"][0]["Misconfigurations"][0]["CauseMetadata"]["StartLine"] = 9   # a line added above
    again = trivy.normalize(report, "tree")
    assert [f["fingerprint"] for f in first] == [f["fingerprint"] for f in again]


def test_trivy_argv_adds_checks_for_tree_and_plan_targets_only(tmp_path):
    binary = tmp_path / "trivy"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    policies = iac_policies.from_params(_params(checks=[_check(tmp_path, "a.rego", "user.ainative.s3")]))
    backend = trivy.TrivyBackend(str(binary), str(tmp_path / "cache"), offline=True, policies=policies)
    plan_argv = backend.argv(Target("tfplan", "/srv/plan.json"), ["misconfig"])
    assert plan_argv[1] == "fs" and plan_argv[-1] == "/srv/plan.json"
    assert plan_argv[plan_argv.index("--check-namespaces") + 1] == "user"
    assert "--config-check" in backend.argv(Target("iac", "/srv/tf"), ["misconfig"])
    assert "--config-check" not in backend.argv(Target("directory", "/srv/tf"), ["vuln"])
    assert "--config-check" not in backend.argv(Target("image", "alpine:3"), ["misconfig"])
    assert default_scanners("tfplan") == ["misconfig"]


def test_iac_policies_need_trivy():
    params = {"timeout": 60, "concurrency": 1, "fail_on": "HIGH", "reports": {}, "scanner": "grype",
              "iac_policies": {"checks": ["/x"]}}
    with pytest.raises(InputError, match="iac_policies needs scanner: trivy"):
        image_scan._check_options(params)


def _plan(**top):
    plan = {"format_version": "1.2", "terraform_version": "1.9.5",
            "planned_values": {"root_module": {"resources": [{"address": "aws_s3_bucket.a"}], "child_modules": [
                {"resources": [{"address": "module.m.aws_s3_bucket.b"}]}]}},
            "resource_changes": [{"address": "aws_s3_bucket.a"}, {"address": "module.m.aws_s3_bucket.b"}]}
    plan.update(top)
    return dict((k, v) for k, v in plan.items() if v is not None)


@pytest.mark.parametrize("content, reason", [
    ("not json", "not a readable JSON file"),
    (json.dumps([1, 2]), "not a Terraform plan"),
    (json.dumps({"version": 4, "terraform_version": "1.9.5", "resources": []}), "not a Terraform plan"),  # a state
    (json.dumps(_plan(terraform_version=None)), "terraform_version"),
    (json.dumps(_plan(planned_values=None, resource_changes=None)), "planned_values or resource_changes"),
    (json.dumps(_plan(resource_changes=[{"address": "aws_s3_bucket.a"}])), "module.m.aws_s3_bucket.b"),
])
def test_a_tfplan_target_must_be_terraform_show_json(tmp_path, content, reason):
    path = tmp_path / "plan.json"
    path.write_text(content)
    with pytest.raises(TargetError) as err:
        validate_target(Target("tfplan", str(path)))
    assert reason in err.value.msg and "terraform show -json" in err.value.msg


def test_a_complete_plan_is_a_valid_target_and_is_scanned_as_json(tmp_path):
    path = tmp_path / "plan.out"
    path.write_text(json.dumps(_plan()))
    assert validate_target(Target("tfplan", str(path))).type == "tfplan"
    with pytest.raises(TargetError, match="not a readable JSON file"):
        validate_target(Target("tfplan", str(tmp_path)))
    copy = iac_policies.plan_path(str(path), str(tmp_path))
    assert copy.endswith(".json") and open(copy).read() == path.read_text()
    json_plan = tmp_path / "plan.JSON"
    json_plan.write_text("{}")
    assert iac_policies.plan_path(str(json_plan), str(tmp_path)) == str(json_plan)
