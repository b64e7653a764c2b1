"""AWS Organizations fan-out of s3_encryption_assert and cloudtrail_hunt on moto (organizations, sts, iam, s3).

moto in server mode with its IAM enforcement switched on (``/moto-api/reset-auth``): the auditor is an IAM
user of the management account whose policy denies sts:AssumeRole into one member account - the account
that blocks the audit role. moto maps the access key of an assumed role to the role's account, so what a
member creates with its credentials is listed only in that account (asserted below). moto does not check a
cross-account role's trust policy, and does not implement cloudtrail:LookupEvents (an HTTP 500), so the
hunt's fan-out is proven on coverage: every region of every account is attempted with that account's
credentials and named as a gap.
"""

import datetime
import json
import os
import threading
import time
import urllib.request

import boto3
import pytest

from lab.harness import run_module
from lab.services import moto as moto_service

NO_AMBIENT_CREDENTIALS = {
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    "AWS_CONFIG_FILE": "/nonexistent/config",
    "AWS_EC2_METADATA_DISABLED": "true",
}
ROLE = "OrganizationAccountAccessRole"
MEMBERS = ("data", "ml", "blocked", "sandbox")


def _post(info, path, data):
    req = urllib.request.Request(info["endpoint_url"] + path, data=data, method="POST",
                                 headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read()


def _kw(endpoint, key, secret, token=None):
    return dict(endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
                region_name="us-east-1")


def _member(endpoint, admin, account):
    creds = boto3.client("sts", **admin).assume_role(RoleArn="arn:aws:iam::%s:role/%s" % (account, ROLE),
                                                     RoleSessionName="seed")["Credentials"]
    return _kw(endpoint, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


def _compliant(s3, kms, name):
    key = kms.create_key()["KeyMetadata"]["Arn"]
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key},
        "BucketKeyEnabled": True}]})
    objects = "arn:aws:s3:::%s/*" % name
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "TLS", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": ["arn:aws:s3:::%s" % name, objects], "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Sid": "NoSSEC", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": objects,
         "Condition": {"Null": {"s3:x-amz-server-side-encryption-customer-algorithm": "false"}}}]}))
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True))


@pytest.fixture(scope="module")
def org(lab):
    info = lab.up("moto")
    moto_service.reset(info)
    endpoint = info["endpoint_url"]
    admin = _kw(endpoint, info["access_key"], info["secret_key"])
    orgs = boto3.client("organizations", **admin)
    orgs.create_organization(FeatureSet="ALL")
    ids = dict((name, orgs.create_account(AccountName=name, Email="%s@example.com" % name)
                ["CreateAccountStatus"]["AccountId"]) for name in MEMBERS)
    buckets = {}
    for name, account in ids.items():
        member = _member(endpoint, admin, account)
        # moto creates the role with no permissions; the audit role gets them, as in a real organization
        boto3.client("iam", **member).put_role_policy(RoleName=ROLE, PolicyName="audit", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        s3, kms = boto3.client("s3", **member), boto3.client("kms", **member)
        for suffix in ("enc", "plain"):
            bucket = "%s-%s" % (name, suffix)
            s3.create_bucket(Bucket=bucket)
            buckets[bucket] = account
        _compliant(s3, kms, "%s-enc" % name)
    iam = boto3.client("iam", **admin)
    iam.create_user(UserName="auditor")
    iam.put_user_policy(UserName="auditor", PolicyName="audit", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            # what a member that removed the audit role's trust looks like to the caller: AccessDenied
            {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::%s:role/*" % ids["blocked"]}]}))
    key = iam.create_access_key(UserName="auditor")["AccessKey"]
    _post(info, "/moto-api/reset-auth", b"0")
    try:
        yield {"endpoint": endpoint, "ids": ids, "buckets": buckets, "management": info["account"], "admin": admin,
               "aws": {"endpoint_url": endpoint, "access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"],
                       "region": "us-east-1"}}
    finally:
        _post(info, "/moto-api/reset-auth", b"inf")


def _run(name, args, tmp_path):
    """The module in its own process, as Ansible runs it, with no credentials but the ones passed."""
    old = dict((k, os.environ.get(k)) for k in NO_AMBIENT_CREDENTIALS)
    os.environ.update(NO_AMBIENT_CREDENTIALS)
    try:
        return run_module(name, args, tmp_path)
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key)
            else:
                os.environ[key] = value


def _s3(tmp_path, org, organization, check_mode=False, **extra):
    args = dict(org["aws"], all_buckets=True, organization=organization, fail_on="LOW", _ansible_check_mode=check_mode)
    args.update(extra)
    return _run("s3_encryption_assert", args, tmp_path)


def _by_account(result):
    return dict((a["account"], a) for a in result["accounts"])


def test_all_accounts_merged_and_a_blocked_member_fails_closed(org, tmp_path):
    rc, res = _s3(tmp_path, org, {"accounts": "all"})
    ids = org["ids"]
    assert rc == 1 and res["gate"]["incomplete"] and not res["coverage"]["complete"], res["msg"]
    summary = _by_account(res)
    assert set(summary) == set(ids.values()) | {org["management"]}
    assert summary[ids["blocked"]]["status"] == "missed"
    assert "AccessDenied" in summary[ids["blocked"]]["reason"] and "sts:AssumeRole" in summary[ids["blocked"]]["reason"]
    assert [m["item"] for m in res["coverage"]["missed"]] == [ids["blocked"]]
    for name in ("data", "ml", "sandbox"):
        assert summary[ids[name]] == dict(summary[ids[name]], status="complete", credentials="role", examined=2, missed=0)
    assert summary[org["management"]]["credentials"] == "caller"
    # every bucket seen once, under the account that created it (credentials of that account only)
    seen = dict((b["name"], b["account"]) for b in res["buckets"])
    assert seen == dict((b, a) for b, a in org["buckets"].items() if a != ids["blocked"])
    open_gaps = dict(((f["target"], f["id"]), f["details"]["account"]) for f in res["findings"] if f["status"] == "open")
    assert open_gaps[("s3://data-plain", "s3_default_encryption_not_kms")] == ids["data"]
    assert open_gaps[("s3://ml-plain", "s3_public_access_block_incomplete")] == ids["ml"]
    assert not [t for t, _i in open_gaps if t.endswith("-enc")]
    assert res["coverage"]["examined"] == 6 and res["counts"]["total"] == 6


def test_strict_twin_every_role_present_passes_and_exclusions_are_honoured(org, tmp_path):
    ids = org["ids"]
    rc, res = _s3(tmp_path, org, {"accounts": "all", "exclude_accounts": [ids["blocked"], ids["sandbox"]],
                                  "include_management_account": False}, include=["*-enc"])
    assert rc == 0 and res["verdict"] == "pass", res["msg"]
    summary = _by_account(res)
    assert [summary[ids[n]]["status"] for n in ("data", "ml", "blocked", "sandbox")] == [
        "complete", "complete", "excluded", "excluded"]
    assert summary[org["management"]]["status"] == "excluded"
    assert sorted(b["name"] for b in res["buckets"]) == ["data-enc", "ml-enc"]
    assert res["coverage"]["complete"] and res["coverage"]["examined"] == 2


def test_a_role_without_permissions_and_an_account_outside_the_organization_are_gaps(org, tmp_path):
    ids = org["ids"]
    # moto lets any role be assumed; one that does not exist has no permissions, so the account cannot be read
    rc, res = _s3(tmp_path, org, {"accounts": [ids["data"], "999999999999"], "role_name": "NoSuchAuditRole"})
    assert rc == 1 and res["verdict"] == "incomplete", res["msg"]
    summary = _by_account(res)
    assert summary[ids["data"]]["status"] == "missed" and "s3:ListBuckets" in summary[ids["data"]]["reason"]
    assert summary["999999999999"]["status"] == "missed"
    assert "not an account of the organization" in summary["999999999999"]["reason"]
    assert sorted(m["item"] for m in res["coverage"]["missed"]) == sorted([ids["data"], "999999999999"])
    assert res["buckets"] == [] and res["counts"]["total"] == 0


def test_enforce_honours_check_mode_in_every_account(org, tmp_path):
    ids = org["ids"]
    organization = {"accounts": [ids["data"], ids["ml"]]}
    rc, res = _s3(tmp_path, org, organization, check_mode=True, mode="enforce", include=["*-plain"])
    assert res["changed"] and rc == 1
    assert [(b["name"], b["status"], bool(b["fixed"])) for b in res["buckets"]] == [
        ("data-plain", "noncompliant", True), ("ml-plain", "noncompliant", True)]
    auditor = _kw(org["endpoint"], org["aws"]["access_key"], org["aws"]["secret_key"])
    member = dict((name, boto3.client("s3", **_member(org["endpoint"], auditor, ids[name]))) for name in ("data", "ml"))
    for name, s3 in member.items():
        with pytest.raises(s3.exceptions.ClientError, match="ServerSideEncryptionConfigurationNotFound"):
            s3.get_bucket_encryption(Bucket="%s-plain" % name)
    rc, res = _s3(tmp_path, org, {"accounts": [ids["ml"]]}, mode="enforce", include=["ml-plain"])
    assert rc == 0 and res["changed"] and res["buckets"][0]["status"] == "fixed", res["msg"]
    rule = member["ml"].get_bucket_encryption(Bucket="ml-plain")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    with pytest.raises(member["data"].exceptions.ClientError, match="ServerSideEncryptionConfigurationNotFound"):
        member["data"].get_bucket_encryption(Bucket="data-plain")  # another account is never touched


def test_concurrency_bound_is_honoured(org):
    from ansible_collections.ainative.security.plugins.module_utils.cloud import organizations
    from ansible_collections.ainative.security.plugins.module_utils.cloud.aws import Clients
    from ansible_collections.ainative.security.plugins.module_utils.cloud.s3_encryption import Requirements, assert_buckets

    aws = org["aws"]
    session = boto3.session.Session(aws_access_key_id=aws["access_key"], aws_secret_access_key=aws["secret_key"])
    clients = Clients(params={"region": "us-east-1", "endpoint_url": org["endpoint"]}, session=session)
    lock = threading.Lock()
    state = {"now": 0, "peak": 0, "accounts": []}

    def work(account_clients):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        try:
            time.sleep(0.3)  # long enough that unbounded threads would overlap
            state["accounts"].append(account_clients.account_id())
            return assert_buckets(account_clients, Requirements(), names=[])
        finally:
            with lock:
                state["now"] -= 1

    for bound in (1, 2):
        state.update(now=0, peak=0, accounts=[])
        spec = dict((k, v.get("default")) for k, v in organizations.ORGANIZATION_OPTIONS.items())
        spec.update(max_concurrency=bound, exclude_accounts=[org["ids"]["blocked"]])
        outcome = organizations.fan_out(spec, clients, work, "buckets", per_account=("buckets",))
        assert state["peak"] == bound
        assert sorted(state["accounts"]) == sorted(set(org["ids"].values()) - {org["ids"]["blocked"]}
                                                   | {org["management"]})
        assert [a["status"] for a in outcome.extra["accounts"]].count("excluded") == 1


def test_cloudtrail_hunt_fans_out_lookup_events_per_account(org, tmp_path):
    ids = org["ids"]
    args = dict(org["aws"], source="lookup_events", regions=["us-east-1"], since="1h",
                organization={"accounts": [ids["data"], ids["blocked"]]})
    started = time.monotonic()
    rc, res = _run("cloudtrail_hunt", args, tmp_path)
    print("cloudtrail_hunt fan-out: %.1f s" % (time.monotonic() - started))
    assert rc == 1 and res["verdict"] == "incomplete", res["msg"]
    summary = _by_account(res)
    assert summary[ids["blocked"]]["status"] == "missed" and "AccessDenied" in summary[ids["blocked"]]["reason"]
    assert summary[ids["data"]]["status"] == "incomplete" and summary[ids["data"]]["credentials"] == "role"
    missed = dict((m["item"], m["reason"]) for m in res["coverage"]["missed"])
    assert "cloudtrail:LookupEvents in us-east-1" in missed["%s/us-east-1" % ids["data"]]
    assert ids["blocked"] in missed
    assert [(d["account"], d["region"]) for d in res["coverage_detail"]] == [(ids["data"], "us-east-1")]
    assert res["coverage_complete"] is False


def test_cloudtrail_findings_of_each_account_are_merged_with_their_account(org):
    """moto has no LookupEvents: that one call is answered in-process with events planted for the account the
    (real, moto-issued) credentials belong to; organizations, AssumeRole and the identity come from moto."""
    from ansible_collections.ainative.security.plugins.module_utils.cloud import cloudtrail, organizations
    from ansible_collections.ainative.security.plugins.module_utils.cloud.aws import Clients
    from lab import cloudtrail_archive as ca

    class Answer:
        status_code = 200

    now = datetime.datetime.now(datetime.timezone.utc)

    def work(account_clients):
        account = account_clients.account_id()  # moto: the account the assumed role's key maps to

        def lookup(params, **kwargs):  # params: the serialized request, its body the API parameters
            wanted = [a["AttributeValue"] for a in json.loads(params["body"]).get("LookupAttributes", [])]
            plants = ca.planted(now - datetime.timedelta(minutes=30), account=account)["cloudtrail_tampering"]
            events = [{"EventId": e["eventID"], "EventName": e["eventName"], "EventTime": now,
                       "CloudTrailEvent": json.dumps(dict(e, recipientAccountId=account))}
                      for e in plants["fire"] + plants["benign"] if e["eventName"] in wanted]
            return Answer(), {"Events": events}
        account_clients.session.events.register("before-call.cloudtrail.LookupEvents", lookup, unique_id="plant")
        return cloudtrail.hunt({"source": "lookup_events", "regions": ["us-east-1"], "since": "1h",
                                "detections": ["cloudtrail_tampering"], "lookup_rate": 2.0}, account_clients)

    aws, ids = org["aws"], org["ids"]
    session = boto3.session.Session(aws_access_key_id=aws["access_key"], aws_secret_access_key=aws["secret_key"])
    clients = Clients(params={"region": "us-east-1", "endpoint_url": org["endpoint"]}, session=session)
    spec = dict((k, v.get("default")) for k, v in organizations.ORGANIZATION_OPTIONS.items())
    spec["accounts"] = [ids["data"], ids["ml"], ids["blocked"]]
    out = organizations.fan_out(spec, clients, work, "regions", per_account=("coverage_detail",))
    found = sorted((f["details"]["account"], f["target"], f["id"]) for f in out.findings)
    assert found == sorted((ids[n], "%s/us-east-1" % ids[n], "cloudtrail_tampering") for n in ("data", "ml"))
    assert out.extra["counts"] == {"cloudtrail_tampering": 2}
    assert [m["item"] for m in out.coverage.missed] == [ids["blocked"]] and not out.coverage.complete
    # the strict twin: every role can be assumed, every region of every account read
    spec["accounts"] = [ids["data"], ids["ml"]]
    out = organizations.fan_out(spec, clients, work, "regions", per_account=("coverage_detail",))
    assert out.coverage.complete and out.coverage.examined == 2 and len(out.findings) == 2
    assert sorted(d["account"] for d in out.extra["coverage_detail"]) == sorted([ids["data"], ids["ml"]])
