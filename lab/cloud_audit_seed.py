"""Seed the AWS emulator for the cloud_audit lab, tests, Molecule scenario and benchmark.

Planted S3 gaps (bucket -> what is wrong):

* ``ml-compliant``: nothing (SSE-KMS with the allowed key, bucket key, TLS-only with a JSON *boolean*,
  deny on unencrypted uploads, deny on SSE-C, all four public-access-block flags)
* ``ml-no-encryption``: no default encryption config (implied SSE-S3), no policy, no public access block
* ``ml-aes256``: SSE-S3 explicitly, two of four public-access-block flags, and an unrelated policy
  statement (``AllowAnalyticsRead``) that enforcement must keep
* ``ml-wrong-key``: SSE-KMS with a key that is not allowed, no bucket key
* ``ml-eu-models`` (eu-west-1): no encryption, no policy, no public access block
* ``other-team-data``: not an ``ml-*`` bucket (include/exclude tests)

The CloudTrail archive bucket ``org-cloudtrail-logs`` holds an organization trail
(``AWSLogs/o-exampleorg1/<account>/CloudTrail/<region>/...``) with every planted detection event and
its benign twin in account 123456789012 / us-east-1, plus benign traffic for a second account and region.

CLI: ``python -m lab.cloud_audit_seed ENDPOINT [MANIFEST.json]`` prints/writes what it planted.
"""

import datetime
import json
import os
import sys

import boto3
from botocore.config import Config

from lab import cloudtrail_archive as ca

ACCOUNT = ca.ACCOUNT
OTHER_ACCOUNT = "210987654321"
ORG = "o-exampleorg1"
ARCHIVE_BUCKET = "org-cloudtrail-logs"
UNRELATED_SID = "AllowAnalyticsRead"
BUCKETS = ["ml-compliant", "ml-no-encryption", "ml-aes256", "ml-wrong-key", "ml-eu-models", "other-team-data"]


def clients(endpoint, region="us-east-1"):
    kw = dict(endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
              config=Config(max_pool_connections=32, retries={"max_attempts": 3, "mode": "standard"}))
    return lambda service, reg=region: boto3.client(service, region_name=reg, **kw)


def _create(s3, name, region):
    kwargs = {"Bucket": name}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)


def seed_buckets(endpoint):
    client = clients(endpoint)
    s3, kms, kms_eu = client("s3"), client("kms"), client("kms", "eu-west-1")
    allowed = kms.create_key(Description="ml-data")["KeyMetadata"]
    kms.create_alias(AliasName="alias/ml-data", TargetKeyId=allowed["KeyId"])
    other = kms.create_key(Description="someone else's key")["KeyMetadata"]
    eu_key = kms_eu.create_key(Description="ml-data eu")["KeyMetadata"]
    for name in BUCKETS:
        _create(s3 if name != "ml-eu-models" else client("s3", "eu-west-1"), name,
                "eu-west-1" if name == "ml-eu-models" else "us-east-1")
    all_flags = dict((f, True) for f in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"))
    # compliant: note aws:SecureTransport as a JSON boolean and the owner's own Sids
    s3.put_bucket_encryption(Bucket="ml-compliant", ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": allowed["Arn"]},
        "BucketKeyEnabled": True}]})
    s3.put_bucket_policy(Bucket="ml-compliant", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": ["arn:aws:s3:::ml-compliant", "arn:aws:s3:::ml-compliant/*"],
         "Condition": {"Bool": {"aws:SecureTransport": False}}},
        {"Sid": "KmsOnly", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:PutObject",
         "Resource": "arn:aws:s3:::ml-compliant/*",
         "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}},
        {"Sid": "KeyOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": "arn:aws:s3:::ml-compliant/*",
         "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": allowed["Arn"]}}},
        {"Sid": "NoSseC", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": "arn:aws:s3:::ml-compliant/*",
         "Condition": {"Null": {"s3:x-amz-server-side-encryption-customer-algorithm": "false"}}}]}))
    s3.put_public_access_block(Bucket="ml-compliant", PublicAccessBlockConfiguration=all_flags)
    # aes256 + partial PAB + unrelated statement
    s3.put_bucket_encryption(Bucket="ml-aes256", ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}]})
    s3.put_public_access_block(Bucket="ml-aes256", PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False, "RestrictPublicBuckets": False})
    s3.put_bucket_policy(Bucket="ml-aes256", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": UNRELATED_SID, "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:role/Analytics" % ACCOUNT},
         "Action": ["s3:GetObject", "s3:ListBucket"],
         "Resource": ["arn:aws:s3:::ml-aes256", "arn:aws:s3:::ml-aes256/*"]}]}))
    # wrong key, no bucket key
    s3.put_bucket_encryption(Bucket="ml-wrong-key", ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": other["Arn"]},
        "BucketKeyEnabled": False}]})
    s3.put_public_access_block(Bucket="ml-wrong-key", PublicAccessBlockConfiguration=all_flags)
    return {"allowed_key_arn": allowed["Arn"], "allowed_key_alias": "alias/ml-data", "other_key_arn": other["Arn"],
            "eu_key_arn": eu_key["Arn"], "buckets": BUCKETS}


def seed_archive(endpoint, now=None, background_files=40, events_per_file=200):
    """Put the planted detections (and benign traffic) into the org trail's archive bucket."""
    client = clients(endpoint)
    s3 = client("s3")
    try:
        s3.create_bucket(Bucket=ARCHIVE_BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    now = now or datetime.datetime.now(datetime.timezone.utc)
    base = now - datetime.timedelta(hours=3)
    plants = ca.planted(base)
    uploads = ca.planted_files(plants, org=ORG)
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        for account, region in ((ACCOUNT, "us-east-1"), (OTHER_ACCOUNT, "eu-west-1")):
            ca.write_archive(tmp, background_files // 2, events_per_file, now - datetime.timedelta(hours=20),
                             span_seconds=18 * 3600, accounts=(account,), regions=(region,), org=ORG,
                             processes=1, seed=hash(account) % 1000)
        for dirpath, _, filenames in os.walk(tmp):
            for fname in filenames:
                path = os.path.join(dirpath, fname)
                with open(path, "rb") as handle:
                    uploads.append((os.path.relpath(path, tmp), handle.read()))
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda kv: s3.put_object(Bucket=ARCHIVE_BUCKET, Key=kv[0], Body=kv[1]), uploads))
    return {"bucket": ARCHIVE_BUCKET, "organization_id": ORG, "files": len(uploads),
            "manifest": ca.manifest(plants), "allowed_cidrs": ca.ALLOWED_CIDRS}


def seed_all(endpoint):
    out = seed_buckets(endpoint)
    out["archive"] = seed_archive(endpoint)
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    out = seed_all(argv[0])
    text = json.dumps(out, indent=2, sort_keys=True)
    if len(argv) > 1:
        with open(argv[1], "w") as handle:
            handle.write(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
