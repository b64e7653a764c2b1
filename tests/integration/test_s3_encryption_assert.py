"""s3_encryption_assert on the AWS emulator: audit, enforce, check mode + diff, merge by Sid, clear errors."""

import os

import pytest

from lab import cloud_audit_seed
from lab.harness import free_port
from lab.services import moto as moto_service

TARGETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks", "s3_encryption_assert")
NO_AMBIENT_CREDENTIALS = {
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    "AWS_CONFIG_FILE": "/nonexistent/config",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(scope="module")
def seeded(lab):
    info = lab.up("moto")
    moto_service.reset(info)
    seed = cloud_audit_seed.seed_buckets(info["endpoint_url"])
    aws = dict((k, info[k]) for k in ("endpoint_url", "access_key", "secret_key", "region"))
    return aws, seed


def test_audit_enforce_idempotence_check_mode_and_merge(seeded, playbook):
    aws, seed = seeded
    res = playbook(os.path.join(TARGETS, "main.yml"), extra_vars={"aws": aws, "seed": seed}, env=NO_AMBIENT_CREDENTIALS)
    assert res.rc == 0, res
    assert "failed=0" in res.stdout
    assert "Enforce fixes every gap" in res.stdout


def test_bad_input_gives_one_clear_error_each(seeded, playbook):
    aws = seeded[0]
    unreachable = "http://127.0.0.1:%d" % free_port()
    res = playbook(os.path.join(TARGETS, "errors.yml"), extra_vars={"aws": aws, "unreachable": unreachable},
                   env=NO_AMBIENT_CREDENTIALS)
    assert res.rc == 0, res
    assert "Traceback" not in res.stdout
    assert "is not a KMS key ARN" in res.stdout
    assert "no usable AWS credentials" in res.stdout
