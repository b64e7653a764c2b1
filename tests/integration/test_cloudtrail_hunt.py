"""cloudtrail_hunt on an organization trail's archive in the emulator's S3 and on local copies of it.

Every detection must fire on its planted event and stay quiet on its benign twin
(lab/cloudtrail_archive.py). LookupEvents is not implemented by the emulator: its paging, rate limit
and throttling are covered with botocore's Stubber in tests/unit/plugins/module_utils/test_cloudtrail.py;
here the module must report the emulator's error as incomplete coverage.
"""

import os

import boto3
import pytest

from lab import cloud_audit_seed
from lab.services import moto as moto_service

TARGETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks", "cloudtrail_hunt")


@pytest.fixture(scope="module")
def archive(lab, tmp_path_factory):
    info = lab.up("moto")
    moto_service.reset(info)
    seeded = cloud_audit_seed.seed_archive(info["endpoint_url"])
    local = tmp_path_factory.mktemp("cloudtrail-local")
    s3 = boto3.client("s3", endpoint_url=info["endpoint_url"], region_name="us-east-1",
                      aws_access_key_id=info["access_key"], aws_secret_access_key=info["secret_key"])
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=seeded["bucket"]):
        for obj in page.get("Contents", []):
            path = local / obj["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket=seeded["bucket"], Key=obj["Key"])["Body"].read())
    aws = dict((k, info[k]) for k in ("endpoint_url", "access_key", "secret_key", "region"))
    return aws, seeded, str(local)


def test_every_detection_fires_on_planted_event_not_on_benign_twin(archive, playbook):
    aws, seeded, local = archive
    res = playbook(os.path.join(TARGETS, "main.yml"),
                   extra_vars={"aws": aws, "archive": seeded, "local_dir": local})
    assert res.rc == 0, res
    assert "failed=0" in res.stdout
    for detection in seeded["manifest"]:
        assert "(item=%s)" % detection in res.stdout, detection
