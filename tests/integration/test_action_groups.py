"""Action groups hold only modules that share options: every shared option of each group, set through
module_defaults, reaches every member (no "Unsupported parameters"), on real inputs and moto."""

import hashlib
import json
import os

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from lab.services import moto as moto_service

NO_AMBIENT_CREDENTIALS = {
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    "AWS_CONFIG_FILE": "/nonexistent/config",
    "AWS_EC2_METADATA_DISABLED": "true",
}
GROUP_ID = "GROUP-DEFAULT-ID"

# Every option of group/ainative.security.security (the control contract's gate options and max_findings).
SECURITY_DEFAULTS = {
    "fail_on": "critical",
    "fail_on_ids": [GROUP_ID],
    "accept_incomplete": "set by the action group test",
    "report_only": True,
    "ignore": [{"id": "CVE-0000-0000", "reason": "action group test", "expires": "2999-12-31"}],
    "max_findings": 7,
}


def _members(work, trivy):
    data = os.path.join(work, "data.bin")
    digest = hashlib.sha256(open(data, "rb").read()).hexdigest()
    return {
        "dataset_hash_verify": {"path": data, "digest": "sha256:" + digest},
        "image_scan": {"targets": [{"type": "directory", "ref": os.path.join(work, "src")}], "scanners": ["secret"],
                       "scanner_path": trivy, "offline": True, "skip_db_update": True,
                       "cache_dir": os.path.join(work, "trivy-cache")},
        "cloudtrail_hunt": {"source": "local", "paths": [os.path.join(work, "trail")], "since": "3650d"},
        "falco_events": {"path": os.path.join(work, "falco.log")},
        "falco_rules": {"src": os.path.join(work, "rules.yaml"), "falco_validate": "never"},
        "falco_response": {"events": [], "names": [], "dry_run": True},
        # Port 9 (discard) is closed on loopback: every case is a coverage miss, accepted by the group default.
        "api_jwt_probe": {"url": "http://127.0.0.1:9/", "timeout": 2,
                          "token": jwt.encode({"sub": "group-test", "exp": 4102444800}, "k" * 32, algorithm="HS256")},
        "findings_report": {"inputs": [os.path.join(work, "input.json")], "dest": os.path.join(work, "out")},
        "s3_encryption_assert": {"buckets": ["ainative-group-test"]},
        "model_scan": {"path": os.path.join(work, "src")},
        # No signature yet: a CRITICAL finding and a coverage miss, both taken by the group's report_only.
        "model_verify": {"path": os.path.join(work, "src"), "signature": os.path.join(work, "model.sig"),
                         "public_key": os.path.join(work, "signer.pub")},
    }


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    base = tmp_path_factory.mktemp("groups")
    (base / "data.bin").write_bytes(b"dataset bytes\n")
    (base / "src").mkdir()
    (base / "src" / "app.py").write_text("print('hello')\n")
    (base / "trail").mkdir()
    (base / "falco.log").write_text(json.dumps({
        "time": "2026-12-01T10:00:00.000000000Z", "rule": "Terminal shell in container", "priority": "Notice",
        "output": "shell", "output_fields": {"container.name": "web"}, "source": "syscall", "hostname": "h"}) + "\n")
    (base / "rules.yaml").write_text("- rule: Group test\n  desc: group test rule\n  condition: evt.type = open\n"
                                     "  output: opened\n  priority: NOTICE\n")
    (base / "input.json").write_text(json.dumps({"schema": "ainative.security/findings/1", "control": "demo",
                                                 "verdict": "pass", "findings": [], "notes": [], "meta": {}}))
    (base / "baseline.json").write_text(json.dumps({"findings": []}))
    signer = ec.generate_private_key(ec.SECP256R1())
    (base / "signer.pub").write_bytes(signer.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return str(base)


def _play(members, defaults, group, extra_defaults=None):
    tasks = []
    for name, args in sorted(members.items()):
        tasks.append({"name": "Run %s with the group's defaults" % name,
                      "ainative.security.%s" % name: args, "register": "out_" + name, "ignore_errors": True})
        tasks.append({"name": "Check %s took every group option" % name, "ansible.builtin.assert": {"that": [
            "'Unsupported parameters' not in (out_%s.msg | default(''))" % name,
            "out_%s.gate is defined" % name,
            "out_%s.gate.report_only" % name,
            "out_%s.gate.fail_on == 'CRITICAL'" % name,
            "out_%s.gate.fail_on_ids == ['%s']" % (name, GROUP_ID),
            "out_%s.coverage is defined" % name,
        ], "fail_msg": "{{ out_%s.msg | default('') }}" % name}})
    module_defaults = {"group/ainative.security.%s" % group: defaults}
    module_defaults.update(extra_defaults or {})
    return [{"name": "Action group %s" % group, "hosts": "localhost", "gather_facts": False,
             "module_defaults": module_defaults, "tasks": tasks}]


def test_security_group_sets_every_shared_option_on_every_member(lab, playbook, work, tmp_path, root):
    info = lab.up("moto")
    moto_service.reset(info)
    aws = dict((k, info[k]) for k in ("endpoint_url", "access_key", "secret_key", "region"))
    members = _members(work, os.path.join(root, ".venv", "bin", "trivy"))
    runtime = os.path.join(root, "meta", "runtime.yml")
    import yaml
    group = yaml.safe_load(open(runtime))["action_groups"]["security"]
    assert sorted(group) == sorted(members), "update this test with the group's members"
    defaults = dict(SECURITY_DEFAULTS, baseline=os.path.join(work, "baseline.json"))
    path = tmp_path / "security.yml"
    path.write_text(json.dumps(_play(members, defaults, "security", {"group/ainative.security.aws": aws})))
    res = playbook(str(path), env=NO_AMBIENT_CREDENTIALS)
    assert res.rc == 0, res
    assert "failed=0" in res.stdout and "Traceback" not in res.stdout


def test_aws_group_sets_connection_options_for_amazon_aws_and_ours(lab, playbook, tmp_path, work):
    info = lab.up("moto")
    aws = dict((k, info[k]) for k in ("endpoint_url", "access_key", "secret_key", "region"))
    tasks = [
        {"name": "Create a bucket with amazon.aws through the group", "amazon.aws.s3_bucket": {"name": "ainative-group-aws"}},
        {"name": "Audit it with ours through the same group", "ainative.security.s3_encryption_assert": {
            "buckets": ["ainative-group-aws"], "report_only": True}, "register": "audit"},
        {"name": "Hunt a trail bucket through the same group", "ainative.security.cloudtrail_hunt": {
            "source": "s3", "bucket": "ainative-group-aws", "since": "1d"}, "register": "hunt", "ignore_errors": True},
        # The bucket holds no trail: hunting says so, which it can only know after listing it with the group's keys.
        {"name": "Both reached moto with the group's credentials", "ansible.builtin.assert": {"that": [
            "audit.coverage.examined == 1", "hunt.error_kind == 'source'", "'no CloudTrail logs' in hunt.msg"]}},
    ]
    path = tmp_path / "aws.yml"
    path.write_text(json.dumps([{"name": "Action group aws", "hosts": "localhost", "gather_facts": False,
                                 "module_defaults": {"group/ainative.security.aws": aws}, "tasks": tasks}]))
    res = playbook(str(path), env=NO_AMBIENT_CREDENTIALS)
    assert res.rc == 0, res
