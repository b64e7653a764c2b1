"""image_scan with scanner checkov: the real Checkov 3.3.30 (own venv) on Terraform trees and plans, offline.

Checkov takes seconds to start, so each module run scans several targets once (module-scoped fixtures)
and the tests read that one result. The bad run is made with the network closed (``unshare -n``) when
the machine allows it, so it proves Checkov needs no connection.
"""

import json
import os
import subprocess
import sys

import pytest

from lab import checkov_fixtures

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECKOV = os.path.join(ROOT, ".venv", "bin", "checkov")

pytestmark = pytest.mark.skipif(not os.path.exists(CHECKOV), reason="Checkov comes with ./setup/setup.sh")


def _offline_prefix():
    """``unshare -n`` (a network namespace with no interface) when this machine allows it, else nothing."""
    try:
        ok = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False).returncode == 0
    except OSError:
        ok = False
    return ["unshare", "-n"] if ok else []


def _run(work, args, env=None, prefix=()):
    data = {"scanner": "checkov", "scanner_path": CHECKOV}
    data.update(args)
    path = os.path.join(work, "args-%d.json" % abs(hash(json.dumps(data, sort_keys=True))))
    with open(path, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": data}, handle)
    full_env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, ".build", "collections"))
    full_env.update(env or {})
    proc = subprocess.run(list(prefix) + [sys.executable, "-m",
                                          "ansible_collections.ainative.security.plugins.modules.image_scan", path],
                          capture_output=True, env=full_env, timeout=300, check=False)
    assert b"Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("checkov"))
    paths = checkov_fixtures.prepare(os.path.join(work, "fx"))
    paths["work"] = work
    return paths


@pytest.fixture(scope="module")
def bad(fx):
    """bad tree, self-waived tree (its caller also sets CKV_SKIP_CHECK and an API key), broken tree, bad
    plan, a tree without IaC: one module run, network closed, gating on Trivy's id of the S3 KMS control only."""
    targets = [{"type": "iac", "ref": fx["bad"], "name": "bad"},
               {"type": "iac", "ref": fx["waived"], "name": "waived"},
               {"type": "iac", "ref": fx["broken"], "name": "broken"},
               {"type": "tfplan", "ref": fx["plan-bad"], "name": "plan"},
               {"type": "iac", "ref": fx["no-iac"], "name": "no-iac"}]
    env = {"CKV_SKIP_CHECK": checkov_fixtures.ENV_SKIPPED_CHECK, "BC_API_KEY": "00000000-0000-0000-0000-000000000000"}
    prefix = _offline_prefix()
    result = _run(fx["work"], {"targets": targets, "fail_on": "none", "fail_on_ids": ["AVD-AWS-0132"],
                               "ignore": [{"id": "AVD-AWS-0089", "reason": "access logs go to the central trail",
                                           "expires": "2999-01-01"}]}, env=env, prefix=prefix)
    result["_offline"] = bool(prefix)
    return result


@pytest.fixture(scope="module")
def good(fx):
    return _run(fx["work"], {"targets": [{"type": "iac", "ref": fx["good"], "name": "good"},
                                         {"type": "tfplan", "ref": fx["plan-good"], "name": "plan"}]})


def _of(result, target, finding_id=None):
    return [f for f in result["findings"] if f["target"] == target and finding_id in (None, f["id"])]


def test_bad_tree_findings_carry_canonical_ids_and_the_trivy_id_gates_them(bad):
    assert bad["scanner"]["name"] == "checkov" and bad["scanner"]["version"] == "3.3.30"
    kms = _of(bad, "bad", "CKV_AWS_145")
    assert len(kms) == 1 and kms[0]["details"]["canonical_id"] == "s3-bucket-kms-encryption"
    assert "AVD-AWS-0132" in kms[0]["details"]["aliases"] and kms[0]["location"]["path"] == "main.tf"
    assert "CKV_AWS_145" in bad["gate"]["failing_ids"] and bad["failed"]
    assert set(bad["gate"]["failing_ids"]) <= {"CKV_AWS_145"}  # fail_on none: only the id rule fails
    logging = _of(bad, "bad", "CKV_AWS_18")
    assert logging[0]["status"] == "ignored" and logging[0]["details"]["canonical_id"] == "s3-bucket-access-logging"


def test_the_scan_needs_no_network(bad):
    if not bad["_offline"]:
        pytest.skip("unshare -n is not allowed here; the run went with the network open")
    assert _of(bad, "bad") and _of(bad, "plan")


def test_bad_plan_json_is_scanned_as_terraform_plan(bad):
    plan = _of(bad, "plan", "CKV_AWS_145")
    assert plan and plan[0]["location"]["path"] == "plan-bad.json"
    assert plan[0]["location"]["resource"] == "aws_s3_bucket.data" and plan[0]["details"]["check_type"] == "terraform_plan"


def test_a_tree_that_waives_itself_waives_nothing(bad):
    ids = set(f["id"] for f in _of(bad, "waived"))
    assert {checkov_fixtures.WAIVED_CHECK, checkov_fixtures.CONFIG_SKIPPED_CHECK,
            checkov_fixtures.ENV_SKIPPED_CHECK, "inline-waiver"} <= ids
    skipped = _of(bad, "waived", checkov_fixtures.WAIVED_CHECK)[0]
    assert skipped["status"] == "open" and skipped["details"]["inline_waiver"]
    assert any("waived: .checkov.yaml" in note and "not used" in note for note in bad["notes"])


def test_the_waivers_would_work_on_bare_checkov(fx):
    """The strict twin: checkov run by hand on the same tree obeys its comment and its .checkov.yaml (the
    caller's CKV_SKIP_CHECK, which overrides the file, is left out here; its removal is unit-tested)."""
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith(("CKV_", "BC_")))
    env.update(BC_SKIP_MAPPING="TRUE", CKV_SKIP_PACKAGE_UPDATE_CHECK="TRUE")
    proc = subprocess.run([CHECKOV, "-d", fx["waived"], "-o", "json", "--skip-download", "--framework", "terraform"],
                          capture_output=True, env=env, cwd=fx["work"], timeout=300, check=False)
    results = json.loads(proc.stdout)["results"]
    failed = set(c["check_id"] for c in results["failed_checks"])
    assert not failed & {checkov_fixtures.WAIVED_CHECK, checkov_fixtures.CONFIG_SKIPPED_CHECK}
    assert checkov_fixtures.ENV_SKIPPED_CHECK in failed
    assert [c["check_id"] for c in results["skipped_checks"]] == [checkov_fixtures.WAIVED_CHECK]


def test_a_file_checkov_cannot_parse_makes_the_run_incomplete(bad):
    assert bad["verdict"] == "fail" and not bad["coverage"]["complete"]
    missed = [m["item"] for m in bad["coverage"]["missed"]]
    assert sorted(missed) == ["broken:half.tf", "no-iac"]
    assert _of(bad, "broken", "CKV_AWS_145")  # the file it could parse is still reported


def test_good_tree_and_good_plan_pass(good):
    assert good["verdict"] == "pass" and not good.get("failed"), good["msg"]
    assert good["findings"] == [] and good["coverage"]["complete"] and good["coverage"]["examined"] == 2
    assert any("good: Checkov checked 2 resource(s)" in note for note in good["notes"])


def test_a_tree_without_iac_is_a_miss_not_a_clean_scan(bad):
    missed = dict((m["item"], m["reason"]) for m in bad["coverage"]["missed"])
    assert "checked no resource" in missed["no-iac"]
    assert not _of(bad, "no-iac")


def test_checkov_refuses_an_image_target_before_scanning(fx):
    result = _run(fx["work"], {"targets": [{"type": "image", "ref": "localhost/x:1", "name": "img"}]})
    assert result["failed"] and "scanner checkov checks IaC only" in result["msg"] and "img" in result["msg"]
