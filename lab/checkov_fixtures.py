"""Terraform trees and plans for image_scan with scanner checkov (and Trivy), made offline in no time.

* ``bad/``      the lab's unencrypted S3 bucket and GCP disk (image_scan_fixtures.TF_BAD)
* ``waived/``   the same, waiving itself three ways: an inline ``#checkov:skip=CKV_AWS_145`` comment, a
                ``.checkov.yaml`` that skips CKV_GCP_37, and (in the test's environment) CKV_SKIP_CHECK
* ``broken/``   a valid file next to one Checkov cannot parse (an unclosed block)
* ``no-iac/``    a README only (nothing Checkov reads)
* ``good/``     a rotated KMS key with a policy and an EBS volume encrypted with it (passes every Checkov check)
* ``plan-bad.json`` / ``plan-good.json``  ``terraform show -json`` output (format 1.2) of an S3 bucket
                without encryption and of the encrypted EBS volume
"""

import json
import os

from lab.image_scan_fixtures import TF_BAD

WAIVED_CHECK = "CKV_AWS_145"          # inline comment
CONFIG_SKIPPED_CHECK = "CKV_GCP_37"   # .checkov.yaml
ENV_SKIPPED_CHECK = "CKV_AWS_21"      # CKV_SKIP_CHECK

TF_WAIVED = TF_BAD.replace('  bucket = "ml-training-data"\n',
                           '  #checkov:skip=%s:KMS is not needed here\n  bucket = "ml-training-data"\n' % WAIVED_CHECK, 1)
CHECKOV_CONFIG = "skip-check:\n  - %s\n" % CONFIG_SKIPPED_CHECK
TF_BROKEN = 'resource "aws_s3_bucket" "half" {\n  bucket = "half-written"\n'
KMS_ARN = "arn:aws:kms:eu-west-1:111122223333:key/0f7c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"

TF_GOOD = """resource "aws_kms_key" "data" {
  description             = "training data"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "root"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::111122223333:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
}

resource "aws_ebs_volume" "scratch" {
  availability_zone = "eu-west-1a"
  size              = 100
  encrypted         = true
  kms_key_id        = aws_kms_key.data.arn
}
"""


def plan(resource_type, name, values):
    """A one-resource plan in the documented ``terraform show -json`` format (format_version 1.2)."""
    address = "%s.%s" % (resource_type, name)
    provider = "registry.terraform.io/hashicorp/%s" % resource_type.split("_", 1)[0]
    return {
        "format_version": "1.2", "terraform_version": "1.9.5",
        "planned_values": {"root_module": {"resources": [{
            "address": address, "mode": "managed", "type": resource_type, "name": name,
            "provider_name": provider, "schema_version": 0, "values": values, "sensitive_values": {}}]}},
        "resource_changes": [{
            "address": address, "mode": "managed", "type": resource_type, "name": name, "provider_name": provider,
            "change": {"actions": ["create"], "before": None, "after": values,
                       "after_unknown": {"arn": True, "id": True}, "before_sensitive": False, "after_sensitive": {}}}],
        "configuration": {
            "provider_config": {"aws": {"name": "aws", "full_name": provider}},
            "root_module": {"resources": [{
                "address": address, "mode": "managed", "type": resource_type, "name": name,
                "provider_config_key": "aws", "schema_version": 0,
                "expressions": dict((k, {"constant_value": v}) for k, v in values.items() if v is not None)}]}},
    }


PLAN_BAD = plan("aws_s3_bucket", "data", {"bucket": "ml-training-data", "force_destroy": False, "tags": None})
PLAN_GOOD = plan("aws_ebs_volume", "scratch", {"availability_zone": "eu-west-1a", "size": 100, "encrypted": True,
                                               "kms_key_id": KMS_ARN, "tags": None})


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


def prepare(work):
    """Lay out every tree and plan under ``work``; return their paths."""
    paths = {name: os.path.join(work, name) for name in ("bad", "waived", "broken", "no-iac", "good")}
    _write(os.path.join(paths["bad"], "main.tf"), TF_BAD)
    _write(os.path.join(paths["waived"], "main.tf"), TF_WAIVED)
    _write(os.path.join(paths["waived"], ".checkov.yaml"), CHECKOV_CONFIG)
    _write(os.path.join(paths["broken"], "ok.tf"), TF_BAD)
    _write(os.path.join(paths["broken"], "half.tf"), TF_BROKEN)
    _write(os.path.join(paths["no-iac"], "README.md"), "Nothing to deploy here.\n")
    _write(os.path.join(paths["good"], "main.tf"), TF_GOOD)
    for name, data in (("plan-bad", PLAN_BAD), ("plan-good", PLAN_GOOD)):
        paths[name] = os.path.join(work, name + ".json")
        _write(paths[name], json.dumps(data, indent=1))
    return paths
