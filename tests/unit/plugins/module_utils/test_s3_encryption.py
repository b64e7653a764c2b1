"""s3_encryption module_utils: policy analysis and merge by Sid, evaluation, handlers, unreadable buckets."""

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from ansible_collections.ainative.security.plugins.module_utils.cloud import s3_encryption as s3e
from ansible_collections.ainative.security.plugins.module_utils.cloud.aws import (
    RetryingBotoClientWrapper, retry_decorator)
from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError

KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER = "arn:aws:kms:us-east-1:111122223333:key/99999999-12ab-34cd-56ef-1234567890ab"
ALL_FLAGS = dict((f, True) for f in s3e.PAB_FLAGS)


def ident(key):
    return key


def tls(value, op="Bool"):
    return {"Sid": "Mine", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"], "Condition": {op: {"aws:SecureTransport": value}}}


@pytest.mark.parametrize("value,op,expected", [
    (False, "Bool", True), ("false", "Bool", True), ("False", "BoolIfExists", True),
    (True, "Bool", False), ("true", "Bool", False),
])
def test_secure_transport_accepts_boolean_or_string(value, op, expected):
    policy = {"Statement": [tls(value, op)]}
    assert s3e.policy_denies_insecure_transport(policy, "b") is expected


def test_secure_transport_needs_deny_for_everyone_on_objects():
    allow = dict(tls(False), Effect="Allow")
    other_bucket = dict(tls(False), Resource="arn:aws:s3:::other/*")
    some_principal = dict(tls(False), Principal={"AWS": "arn:aws:iam::111122223333:root"})
    for stmt in (allow, other_bucket, some_principal):
        assert not s3e.policy_denies_insecure_transport({"Statement": [stmt]}, "b")
    assert not s3e.policy_denies_insecure_transport(None, "b")


def test_merge_by_sid_keeps_unrelated_statements_and_replaces_ours():
    unrelated = {"Sid": "AllowAnalyticsRead", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:role/A"},
                 "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
    stale = {"Sid": s3e.SID_TLS, "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}
    req = s3e.Requirements(kms_key_ids=[KEY], deny_unencrypted_uploads=True)
    wanted = s3e.wanted_statements("b", req, {KEY})
    merged = s3e.merge_policy({"Version": "2012-10-17", "Statement": [unrelated, stale]}, wanted)
    sids = [st["Sid"] for st in merged["Statement"]]
    assert sids == ["AllowAnalyticsRead", s3e.SID_TLS, s3e.SID_UPLOAD, s3e.SID_KMS_KEY, s3e.SID_SSEC]
    assert merged["Statement"][0] == unrelated
    assert merged["Statement"][1]["Action"] == "s3:*"
    assert s3e.policy_denies_insecure_transport(merged, "b")
    assert s3e.policy_denies_unencrypted_uploads(merged, "b", req.accepted_algorithms())
    assert s3e.policy_denies_wrong_kms_key(merged, "b", {KEY})
    assert s3e.policy_denies_sse_c(merged, "b")


def test_evaluate_gaps_and_implied_sse_s3():
    req = s3e.Requirements(kms_key_ids=[KEY], deny_unencrypted_uploads=True)
    empty = {"encryption": None, "policy": None, "public_access_block": None}
    gaps = dict(s3e.evaluate("b", empty, req, ident))
    assert gaps["s3_default_encryption_not_kms"]["current"] == "AES256"
    assert set(gaps) == {"s3_default_encryption_not_kms", "s3_insecure_transport_allowed",
                         "s3_unencrypted_uploads_allowed", "s3_wrong_kms_key_uploads_allowed",
                         "s3_sse_c_not_blocked", "s3_public_access_block_incomplete"}
    kms_other = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": OTHER}
    wrong = {"encryption": {"Rules": [{"ApplyServerSideEncryptionByDefault": kms_other}]},
             "policy": s3e.merge_policy(None, s3e.wanted_statements("b", req, {KEY})),
             "public_access_block": ALL_FLAGS}
    assert [gap[0] for gap in s3e.evaluate("b", wrong, req, ident)] == ["s3_kms_key_not_allowed", "s3_bucket_key_disabled"]
    blocked = dict(wrong, policy={"Statement": []})
    dsse = {"SSEAlgorithm": "aws:kms:dsse", "KMSMasterKeyID": KEY}
    blocked["encryption"] = {"Rules": [{"ApplyServerSideEncryptionByDefault": dsse, "BucketKeyEnabled": True,
                                        "BlockedEncryptionTypes": {"EncryptionType": ["SSE-C"]}}]}
    assert "s3_sse_c_not_blocked" not in dict(s3e.evaluate("b", blocked, req, ident))
    aes = s3e.Requirements(sse_algorithm="AES256", secure_transport=False, deny_unencrypted_uploads=False,
                           block_sse_c=False, public_access_block=False)
    assert s3e.evaluate("b", empty, aes, ident) == []


@pytest.mark.parametrize("keys,message", [
    (["arn:aws:kms:us-east-1:12345:key/x"], "is not a KMS key ARN"),
    (["my-key"], "is not a KMS key ARN"),
])
def test_bad_key_ids(keys, message):
    with pytest.raises(InputError, match=message):
        s3e.Requirements(kms_key_ids=keys)
    with pytest.raises(InputError, match="needs a KMS sse_algorithm"):
        s3e.Requirements(sse_algorithm="AES256", kms_key_ids=[KEY])


def test_enforce_key_picks_the_bucket_region():
    req = s3e.Requirements(kms_key_ids=[KEY, KEY.replace("us-east-1", "eu-west-1")])
    assert s3e.enforce_key(req, "eu-west-1").startswith("arn:aws:kms:eu-west-1")
    assert s3e.enforce_key(s3e.Requirements(kms_key_ids=[KEY]), "eu-west-1") is None
    assert s3e.enforce_key(s3e.Requirements(kms_key_ids=[KEY, "alias/data"]), "eu-west-1") == "alias/data"


def test_select_buckets_patterns():
    names = ["ml-a", "ml-b", "logs", "ml-tmp"]
    assert s3e.select_buckets(names, include=["ml-*"], exclude=["*-tmp"]) == ["ml-a", "ml-b"]


class FakeClients:
    def __init__(self, client):
        self.c = RetryingBotoClientWrapper(client, retry_decorator(retries=2, delay=0.01))

    def client(self, service, region=None):
        return self.c


def test_unreadable_bucket_is_unknown_with_reason():
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    stub = Stubber(client)
    stub.add_response("get_bucket_location", {"LocationConstraint": "eu-west-1"}, {"Bucket": "locked"})
    stub.add_response("get_bucket_encryption", {"ServerSideEncryptionConfiguration": {"Rules": []}}, {"Bucket": "locked"})
    stub.add_client_error("get_bucket_policy", service_error_code="AccessDenied", service_message="Access Denied",
                          http_status_code=403, expected_params={"Bucket": "locked"})
    stub.add_response("get_public_access_block", {"PublicAccessBlockConfiguration": ALL_FLAGS}, {"Bucket": "locked"})
    req = s3e.Requirements()
    with stub:
        res = s3e.process_bucket(FakeClients(client), "locked", None, req, "enforce", False, s3e.KeyResolver(None))
    assert res["status"] == "unknown" and res["compliant"] is None and not res["changed"]
    assert res["region"] == "eu-west-1"
    assert "s3:GetBucketPolicy failed: AccessDenied: Access Denied" in res["reason"]
    finding = s3e.bucket_findings(res, "enforce", False)[0]
    assert finding["id"] == "s3_bucket_unreadable" and finding["severity"] == "UNKNOWN"


def test_enforce_handlers_return_changed_and_current_and_respect_check_mode():
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    stub = Stubber(client)
    req = s3e.Requirements(kms_key_ids=[KEY])
    state = {"encryption": None, "policy": {"Statement": [{"Sid": "Keep", "Effect": "Allow", "Principal": "*",
                                                           "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/x"}]},
             "public_access_block": None}
    wrapped = RetryingBotoClientWrapper(client, retry_decorator(retries=1, delay=0.01))
    with stub:  # check mode: no call at all (the stubber has no responses queued)
        changed, current = s3e.handle_encryption(wrapped, "b", state, req, ident, True, "us-east-1", ident)
        assert changed and current["Rules"][0]["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == KEY
        assert current["Rules"][0]["BucketKeyEnabled"] is True
        changed, policy = s3e.handle_policy(wrapped, "b", state, req, ident, True)
        assert changed and policy["Statement"][0]["Sid"] == "Keep"
    stub.add_response("put_public_access_block", {}, {"Bucket": "b", "PublicAccessBlockConfiguration": ALL_FLAGS})
    with stub:
        assert s3e.handle_public_access_block(wrapped, "b", state, False) == (True, ALL_FLAGS)
        stub.assert_no_pending_responses()
    assert s3e.handle_public_access_block(wrapped, "b", {"public_access_block": ALL_FLAGS}, False) == (False, ALL_FLAGS)
    json.dumps(policy)


def test_deny_unencrypted_uploads_is_opt_in():
    """Issue 13 case 19: the deny refuses writers that rely on default encryption (ELB logs, CloudTrail)."""
    req = s3e.Requirements(kms_key_ids=[KEY])
    assert not req.deny_unencrypted_uploads
    assert [st["Sid"] for st in s3e.wanted_statements("b", req, {KEY})] == [s3e.SID_TLS, s3e.SID_SSEC]
    empty = {"encryption": None, "policy": None, "public_access_block": None}
    gaps = dict(s3e.evaluate("b", empty, req, ident))
    assert "s3_unencrypted_uploads_allowed" not in gaps and "s3_wrong_kms_key_uploads_allowed" not in gaps


class MotoClients:
    def __init__(self):
        self.cache = {}

    def client(self, service, region=None):
        key = (service, region or "us-east-1")
        if key not in self.cache:
            self.cache[key] = RetryingBotoClientWrapper(boto3.client(
                service, region_name=key[1], aws_access_key_id="x", aws_secret_access_key="y"),
                retry_decorator(retries=1, delay=0.01))
        return self.cache[key]


@pytest.fixture
def moto_bucket():
    with mock_aws():
        clients = MotoClients()
        clients.client("s3").create_bucket(Bucket="ml-data")
        kms = clients.client("kms")
        key = kms.create_key(Description="ml-data")["KeyMetadata"]
        kms.create_alias(AliasName="alias/ml-data", TargetKeyId=key["KeyId"])
        disabled = kms.create_key(Description="off")["KeyMetadata"]
        kms.disable_key(KeyId=disabled["KeyId"])
        yield clients, key["Arn"], disabled["Arn"]


def _encryption(clients):
    rules = clients.client("s3").get_bucket_encryption(Bucket="ml-data")["ServerSideEncryptionConfiguration"]["Rules"]
    return rules[0]["ApplyServerSideEncryptionByDefault"]


def test_enforce_writes_the_key_arn_an_alias_resolves_to(moto_bucket):
    """Issue 13 case 18: an alias resolves in the caller's account, so the bucket gets the key ARN."""
    clients, key_arn, _disabled = moto_bucket
    req = s3e.Requirements(kms_key_ids=["alias/ml-data"], secure_transport=False, block_sse_c=False,
                           public_access_block=False)
    res = s3e.process_bucket(clients, "ml-data", "us-east-1", req, "enforce", False, s3e.KeyResolver(clients))
    assert res["status"] == "fixed" and res["changed"]
    assert _encryption(clients) == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
    again = s3e.process_bucket(clients, "ml-data", "us-east-1", req, "enforce", False, s3e.KeyResolver(clients))
    assert again["status"] == "compliant" and not again["changed"]


@pytest.mark.parametrize("key,why", [
    ("alias/no-such-key", "NotFoundException"),
    ("1234abcd-12ab-34cd-56ef-1234567890ab", "NotFoundException"),
    ("disabled", "the key is Disabled, not Enabled"),
])
def test_enforce_refuses_a_key_describe_key_cannot_resolve(moto_bucket, key, why):
    """Issue 13 case 17: S3 does not validate the key, so writing a bad one breaks every default-encrypted upload."""
    clients, _key_arn, disabled = moto_bucket
    key = disabled if key == "disabled" else key
    req = s3e.Requirements(kms_key_ids=[key], secure_transport=False, block_sse_c=False, public_access_block=False)
    res = s3e.process_bucket(clients, "ml-data", "us-east-1", req, "enforce", False, s3e.KeyResolver(clients))
    assert res["status"] == "noncompliant" and not res["changed"] and res["fixed"] == []
    assert "refusing KMS key %s for bucket ml-data (us-east-1)" % key in res["reason"] and why in res["reason"]
    with pytest.raises(ClientError, match="ServerSideEncryptionConfigurationNotFoundError"):
        _encryption(clients)  # nothing was written
