"""Realistic CloudTrail log archives for the lab, the tests and the benchmark.

* :func:`planted` returns, for every detection of ``cloudtrail_hunt``, events that must fire it and a
  benign twin that must not (same shape, one condition different), plus a manifest of their event ids.
* :func:`background` makes benign management traffic from a few templates, fast enough for millions
  of events (pre-serialised JSON with the event id and time substituted per event).
* :func:`write_archive` lays files out as CloudTrail delivers them:
  ``[prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16 chars>.json.gz``
  into a folder, or hands each (key, bytes) to a callback (to put it into S3).

CLI: ``python -m lab.cloudtrail_archive DEST --files 2000 --events-per-file 1000 [--org o-...]``.
"""

import argparse
import datetime
import json
import os
import random
import string
import sys
import uuid

try:
    from isal import igzip as _gz
except ImportError:  # the standard library is fine, only slower
    import gzip as _gz

ACCOUNT = "123456789012"
ALLOWED_CIDRS = ["10.0.0.0/8", "192.0.2.0/24"]
UNTRUSTED_IP = "198.51.100.77"
CONSOLE_IP = "192.0.2.44"

_USERS = ["alice", "bob", "carol", "dave", "svc-etl", "svc-train"]
_ROLES = ["MLPipelineRole", "SageMakerExecution", "DataEngineer"]


def _iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _user(name, account=ACCOUNT):
    return {"type": "IAMUser", "principalId": "AIDA" + name.upper().replace("-", "")[:12].ljust(12, "X"),
            "arn": "arn:aws:iam::%s:user/%s" % (account, name), "accountId": account,
            "accessKeyId": "AKIA" + name.upper().replace("-", "")[:12].ljust(16, "Q"), "userName": name}


def _role(name, session="session", account=ACCOUNT):
    return {"type": "AssumedRole", "principalId": "AROAEXAMPLE%s:%s" % (name.upper()[:6], session),
            "arn": "arn:aws:sts::%s:assumed-role/%s/%s" % (account, name, session), "accountId": account,
            "accessKeyId": "ASIAEXAMPLE" + name.upper()[:9],
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE",
                                                 "arn": "arn:aws:iam::%s:role/%s" % (account, name),
                                                 "accountId": account, "userName": name},
                               "attributes": {"creationDate": "2026-01-01T00:00:00Z", "mfaAuthenticated": "false"}}}


def _root(account=ACCOUNT, invoked_by=None):
    ident = {"type": "Root", "principalId": account, "arn": "arn:aws:iam::%s:root" % account, "accountId": account,
             "accessKeyId": "ASIAROOTEXAMPLE"}
    if invoked_by:
        ident["invokedBy"] = invoked_by
    return ident


def event(name, source, ident, when, region="us-east-1", ip="10.20.30.40", request=None, response=None,
          error=None, error_message=None, additional=None, event_type="AwsApiCall", read_only=False,
          account=ACCOUNT, event_id=None, agent="aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64.debian.12"):
    rec = {
        "eventVersion": "1.09",
        "userIdentity": ident,
        "eventTime": _iso(when) if isinstance(when, datetime.datetime) else when,
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": agent,
        "requestParameters": request,
        "responseElements": response,
        "requestID": str(uuid.uuid4()),
        "eventID": event_id or str(uuid.uuid4()),
        "readOnly": read_only,
        "eventType": event_type,
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    if error:
        rec["errorCode"] = error
        rec["errorMessage"] = error_message or "User is not authorized to perform this operation"
    if additional is not None:
        rec["additionalEventData"] = additional
    if event_type == "AwsConsoleSignIn":
        rec["userAgent"] = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
        rec["tlsDetails"] = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                             "clientProvidedHostHeader": "signin.aws.amazon.com"}
    return rec


def _login(ident, when, ok=True, mfa="No", region="us-east-1", ip=CONSOLE_IP):
    return event("ConsoleLogin", "signin.amazonaws.com", ident, when, region, ip,
                 response={"ConsoleLogin": "Success" if ok else "Failure"},
                 error_message=None if ok else "Failed authentication",
                 additional={"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No",
                             "MFAUsed": mfa},
                 event_type="AwsConsoleSignIn")


def _failed_login(ident, when, region="us-east-1", ip=CONSOLE_IP):
    rec = _login(ident, when, ok=False, mfa="No", region=region, ip=ip)
    rec["errorMessage"] = "Failed authentication"
    return rec


def planted(base, region="us-east-1", account=ACCOUNT):
    """{detection id: {"fire": [events], "benign": [events]}} around ``base`` (an aware datetime)."""
    t = lambda minutes: base + datetime.timedelta(minutes=minutes)  # noqa: E731
    ip = "192.0.2.10"
    alice, bob, carol = _user("alice", account), _user("bob", account), _user("carol", account)
    admin = _role("AdminRole", "ops", account)
    pol_public = {"Version": "2012-10-17", "Statement": [{"Sid": "Pub", "Effect": "Allow", "Principal": "*",
                                                         "Action": "s3:GetObject", "Resource": "arn:aws:s3:::ml-public/*"}]}
    pol_vpce = {"Version": "2012-10-17", "Statement": [{"Sid": "Vpce", "Effect": "Allow", "Principal": "*",
                                                       "Action": "s3:GetObject", "Resource": "arn:aws:s3:::ml-data/*",
                                                       "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}}]}

    def pab(flag_value):
        return {"bucketName": "ml-data", "PublicAccessBlockConfiguration": {
            "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/", "BlockPublicAcls": True, "IgnorePublicAcls": True,
            "BlockPublicPolicy": True, "RestrictPublicBuckets": flag_value}, "publicAccessBlock": ""}

    def acl(uri=None, canonical=None):
        grantee = {"xsi:type": "Group", "URI": uri} if uri else {"xsi:type": "CanonicalUser", "ID": canonical}
        return {"bucketName": "ml-data", "acl": "", "AccessControlPolicy": {"AccessControlList": {"Grant": [
            {"Grantee": grantee, "Permission": "READ"}]}, "Owner": {"ID": "abc123"}}}

    def sg(cidr):
        return {"groupId": "sg-0123456789abcdef0", "ipPermissions": {"items": [{
            "ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
            "ipRanges": {"items": [{"cidrIp": cidr}]}, "ipv6Ranges": {}, "prefixListIds": {}, "groups": {}}]}}

    plants = {
        "console_login_without_mfa": {"fire": [_login(alice, t(1), mfa="No")],
                                      "benign": [_login(alice, t(2), mfa="Yes")]},
        "console_login_failure": {"fire": [_failed_login(bob, t(3))],
                                  "benign": [_login(bob, t(4), mfa="Yes")]},
        "console_login_brute_force": {"fire": [_failed_login(_user("mallory-target", account), t(10) + datetime.timedelta(seconds=20 * i))
                                               for i in range(12)],
                                      "benign": [_failed_login(carol, t(10 + 20 * i)) for i in range(3)]},
        "root_account_usage": {"fire": [event("DescribeInstances", "ec2.amazonaws.com", _root(account), t(5), region, ip,
                                              read_only=True)],
                               "benign": [event("DescribeInstances", "ec2.amazonaws.com",
                                                _root(account, "support.amazonaws.com"), t(6), region,
                                                "support.amazonaws.com", read_only=True)]},
        "cloudtrail_tampering": {"fire": [event("StopLogging", "cloudtrail.amazonaws.com", admin, t(7), region, ip,
                                                request={"name": "arn:aws:cloudtrail:%s:%s:trail/main" % (region, account)})],
                                 "benign": [event("StartLogging", "cloudtrail.amazonaws.com", admin, t(8), region, ip,
                                                  request={"name": "arn:aws:cloudtrail:%s:%s:trail/main" % (region, account)})]},
        "guardduty_disabled": {"fire": [event("UpdateDetector", "guardduty.amazonaws.com", admin, t(9), region, ip,
                                              request={"detectorId": "12abc34d567e8fa901bc2d34e56789f0", "enable": False})],
                               "benign": [event("UpdateDetector", "guardduty.amazonaws.com", admin, t(11), region, ip,
                                                request={"detectorId": "12abc34d567e8fa901bc2d34e56789f0", "enable": True})]},
        "guardduty_ipset_created": {"fire": [event("CreateIPSet", "guardduty.amazonaws.com", admin, t(12), region, ip,
                                                   request={"detectorId": "12abc", "name": "trusted", "format": "TXT",
                                                            "activate": True})],
                                    "benign": [event("CreateIPSet", "guardduty.amazonaws.com", admin, t(13), region, ip,
                                                     request={"detectorId": "12abc", "name": "trusted", "format": "TXT"},
                                                     error="BadRequestException", error_message="The request is rejected")]},
        "access_key_created_for_other_user": {
            "fire": [event("CreateAccessKey", "iam.amazonaws.com", alice, t(14), "us-east-1", ip,
                           request={"userName": "svc-deploy"},
                           response={"accessKey": {"userName": "svc-deploy", "accessKeyId": "AKIAEXAMPLEDEPLOY",
                                                   "status": "Active"}})],
            "benign": [event("CreateAccessKey", "iam.amazonaws.com", alice, t(15), "us-east-1", ip,
                             request={"userName": "alice"},
                             response={"accessKey": {"userName": "alice", "accessKeyId": "AKIAEXAMPLEALICE",
                                                     "status": "Active"}})]},
        "security_group_open_to_world": {
            "fire": [event("AuthorizeSecurityGroupIngress", "ec2.amazonaws.com", admin, t(16), region, ip, request=sg("0.0.0.0/0"))],
            "benign": [event("AuthorizeSecurityGroupIngress", "ec2.amazonaws.com", admin, t(17), region, ip, request=sg("10.0.0.0/16"))]},
        "s3_bucket_acl_public": {
            "fire": [event("PutBucketAcl", "s3.amazonaws.com", admin, t(18), region, ip,
                           request=acl(uri="http://acs.amazonaws.com/groups/global/AllUsers"))],
            "benign": [event("PutBucketAcl", "s3.amazonaws.com", admin, t(19), region, ip, request=acl(canonical="abc123"))]},
        "s3_bucket_policy_public": {
            "fire": [event("PutBucketPolicy", "s3.amazonaws.com", admin, t(20), region, ip,
                           request={"bucketName": "ml-public", "bucketPolicy": pol_public, "policy": ""})],
            "benign": [event("PutBucketPolicy", "s3.amazonaws.com", admin, t(21), region, ip,
                             request={"bucketName": "ml-data", "bucketPolicy": pol_vpce, "policy": ""})]},
        "s3_public_access_block_weakened": {
            "fire": [event("PutBucketPublicAccessBlock", "s3.amazonaws.com", admin, t(22), region, ip, request=pab(False))],
            "benign": [event("PutBucketPublicAccessBlock", "s3.amazonaws.com", admin, t(23), region, ip, request=pab(True))]},
        "s3_bucket_encryption_removed": {
            "fire": [event("DeleteBucketEncryption", "s3.amazonaws.com", admin, t(24), region, ip,
                           request={"bucketName": "ml-data", "encryption": ""})],
            "benign": [event("PutBucketEncryption", "s3.amazonaws.com", admin, t(25), region, ip,
                             request={"bucketName": "ml-data", "encryption": ""})]},
        "kms_key_disabled_or_deleted": {
            "fire": [event("ScheduleKeyDeletion", "kms.amazonaws.com", admin, t(26), region, ip,
                           request={"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "pendingWindowInDays": 7})],
            "benign": [event("EnableKey", "kms.amazonaws.com", admin, t(27), region, ip,
                             request={"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab"})]},
        "logging_disrupted": {
            "fire": [event("DeleteFlowLogs", "ec2.amazonaws.com", admin, t(28), region, ip,
                           request={"DeleteFlowLogsRequest": {"FlowLogId": {"tag": 1, "content": "fl-0abc"}}}),
                     event("StopConfigurationRecorder", "config.amazonaws.com", admin, t(29), region, ip,
                           request={"configurationRecorderName": "default"})],
            "benign": [event("CreateFlowLogs", "ec2.amazonaws.com", admin, t(30), region, ip, request={}),
                       event("StartConfigurationRecorder", "config.amazonaws.com", admin, t(31), region, ip,
                             request={"configurationRecorderName": "default"})]},
        "ebs_default_encryption_disabled": {
            "fire": [event("DisableEbsEncryptionByDefault", "ec2.amazonaws.com", admin, t(32), region, ip,
                           request={"DisableEbsEncryptionByDefaultRequest": ""})],
            "benign": [event("EnableEbsEncryptionByDefault", "ec2.amazonaws.com", admin, t(33), region, ip,
                             request={"EnableEbsEncryptionByDefaultRequest": ""})]},
        "unauthorized_api_burst": {
            "fire": [event(name, "iam.amazonaws.com", _role("ReconRole", "r", account), t(40) + datetime.timedelta(seconds=10 * i),
                           "us-east-1", ip, error="AccessDenied",
                           error_message="User is not authorized to perform: iam:%s" % name, read_only=True)
                     for i, name in enumerate(["ListUsers", "ListRoles", "GetAccountAuthorizationDetails",
                                               "ListPolicies", "ListGroups", "GetUser", "ListAccessKeys",
                                               "ListMFADevices", "ListAttachedUserPolicies", "GetAccountSummary",
                                               "ListInstanceProfiles", "ListSAMLProviders"])],
            "benign": [event("DescribeInstances", "ec2.amazonaws.com", _role("DevRole", "d", account), t(41 + i), region, ip,
                             error="Client.UnauthorizedOperation", read_only=True) for i in range(2)]},
        "api_call_from_untrusted_network": {
            "fire": [event("GetCallerIdentity", "sts.amazonaws.com", _user("eve", account), t(45), region, UNTRUSTED_IP,
                           read_only=True)],
            "benign": [event("GetCallerIdentity", "sts.amazonaws.com", _user("eve", account), t(46), region, "10.1.2.3",
                             read_only=True),
                       event("Decrypt", "kms.amazonaws.com", _role("MLPipelineRole", "p", account), t(47), region,
                             "s3.amazonaws.com", read_only=True)]},
    }
    plants.update(_ai_plants(t, ip, admin, region, account))
    return plants


def _ai_plants(t, ip, admin, region, account):
    """The AI platform's detections (issue 15): Bedrock, SageMaker and the Stratus Red Team evasions."""
    stolen = _user("svc-legacy", account)  # a long-lived access key, as stolen keys are
    pipeline = _role("MLPipelineRole", "p", account)
    model = {"modelId": "anthropic.claude-3-5-sonnet-20240620-v1:0"}
    calls = ["InvokeModel", "Converse", "InvokeModelWithResponseStream"]

    def bedrock(name, ident, minutes, request=None, error=None):
        return event(name, "bedrock.amazonaws.com", ident, t(minutes), region, ip, request=request, error=error)

    def sagemaker(name, minutes, request, error=None):
        return event(name, "sagemaker.amazonaws.com", admin, t(minutes), region, ip, request=request, error=error)

    def selectors(read_write, management):
        return {"trailName": "main", "eventSelectors": [{"readWriteType": read_write, "includeManagementEvents": management,
                                                         "dataResources": [], "excludeManagementEventSources": []}]}

    def lifecycle(days):
        return {"bucketName": "org-cloudtrail-logs", "LifecycleConfiguration": {"Rule": [{
            "ID": "expire", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": days}}]}}

    def sg_rule(cidr):
        rule = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv4": cidr}
        return {"ModifySecurityGroupRulesRequest": {"GroupId": "sg-0123456789abcdef0", "SecurityGroupRule": {
            "SecurityGroupRuleId": "sgr-0abc", "SecurityGroupRule": rule, "tag": 1}}}

    burst_start = t(50)
    return {
        "bedrock_invocation_burst": {
            "fire": [event(calls[i % 3], "bedrock.amazonaws.com", stolen, burst_start + datetime.timedelta(seconds=5 * i),
                           region, ip, request=model) for i in range(60)],
            "benign": [bedrock("InvokeModel", pipeline, 51 + i, model) for i in range(5)]},
        "bedrock_model_enumeration": {"fire": [bedrock("ListFoundationModels", stolen, 48)],
                                      "benign": [bedrock("ListFoundationModels", pipeline, 49)]},
        "bedrock_model_access_requested": {"fire": [bedrock("PutUseCaseForModelAccess", stolen, 60, {"formData": "e30="})],
                                           "benign": [bedrock("GetUseCaseForModelAccess", stolen, 61)]},
        "bedrock_invocation_logging_deleted": {"fire": [bedrock("DeleteModelInvocationLoggingConfiguration", admin, 62)],
                                               "benign": [bedrock("PutModelInvocationLoggingConfiguration", admin, 63,
                                                                  {"loggingConfig": {"textDataDeliveryEnabled": True}})]},
        "bedrock_guardrail_removed_or_changed": {
            "fire": [bedrock("DeleteGuardrail", admin, 64, {"guardrailIdentifier": "gr-1"}),
                     bedrock("UpdateGuardrail", admin, 65, {"guardrailIdentifier": "gr-2", "name": "pii"})],
            "benign": [bedrock("DeleteGuardrail", admin, 66, {"guardrailIdentifier": "gr-1"}, error="AccessDeniedException")]},
        "sagemaker_presigned_notebook_url": {
            "fire": [sagemaker("CreatePresignedNotebookInstanceUrl", 67, {"notebookInstanceName": "research"})],
            "benign": [sagemaker("CreatePresignedNotebookInstanceUrl", 68, {"notebookInstanceName": "research"},
                                 error="ValidationException")]},
        "sagemaker_lifecycle_config_changed": {
            "fire": [sagemaker("CreateNotebookInstanceLifecycleConfig", 69,
                               {"notebookInstanceLifecycleConfigName": "lc", "onStart": [{"content": "IyEvYmluL2Jhc2g="}]}),
                     sagemaker("UpdateNotebookInstance", 70, {"notebookInstanceName": "research", "lifecycleConfigName": "lc"})],
            "benign": [sagemaker("UpdateNotebookInstance", 71, {"notebookInstanceName": "research", "instanceType": "ml.t3.large"})]},
        "cloudtrail_event_selectors_weakened": {
            "fire": [event("PutEventSelectors", "cloudtrail.amazonaws.com", admin, t(72), region, ip,
                           request=selectors("ReadOnly", False))],
            "benign": [event("PutEventSelectors", "cloudtrail.amazonaws.com", admin, t(73), region, ip,
                             request=selectors("All", True))]},
        "s3_lifecycle_short_expiration": {
            "fire": [event("PutBucketLifecycle", "s3.amazonaws.com", admin, t(74), region, ip, request=lifecycle(1))],
            "benign": [event("PutBucketLifecycle", "s3.amazonaws.com", admin, t(75), region, ip, request=lifecycle(365))]},
        "organization_left": {
            "fire": [event("LeaveOrganization", "organizations.amazonaws.com", admin, t(76), "us-east-1", ip)],
            "benign": [event("DescribeOrganization", "organizations.amazonaws.com", admin, t(77), "us-east-1", ip,
                             read_only=True)]},
        "security_group_rule_opened_to_world": {
            "fire": [event("ModifySecurityGroupRules", "ec2.amazonaws.com", admin, t(78), region, ip, request=sg_rule("0.0.0.0/0"))],
            "benign": [event("ModifySecurityGroupRules", "ec2.amazonaws.com", admin, t(79), region, ip,
                             request=sg_rule("10.0.0.0/16"))]},
    }


def manifest(plants):
    """{detection: {"fire": [event ids], "benign": [event ids]}}."""
    return dict((det, {"fire": [e["eventID"] for e in p["fire"]], "benign": [e["eventID"] for e in p["benign"]]})
                for det, p in plants.items())


# --- fast background traffic --------------------------------------------------------------------

_ID = "@@EVENTID@@"
_TIME = "@@EVENTTIME@@"


def _templates(account, region):
    """Pre-serialised benign events (bytes with id/time placeholders)."""
    out = []
    rng = random.Random(7)
    calls = [
        ("DescribeInstances", "ec2.amazonaws.com", True, None),
        ("GetCallerIdentity", "sts.amazonaws.com", True, None),
        ("AssumeRole", "sts.amazonaws.com", False, {"roleArn": "arn:aws:iam::%s:role/MLPipelineRole" % account,
                                                   "roleSessionName": "pipeline"}),
        ("ListBuckets", "s3.amazonaws.com", True, {"Host": "s3.amazonaws.com"}),
        ("GetBucketLocation", "s3.amazonaws.com", True, {"bucketName": "ml-data", "location": ""}),
        ("DescribeTrainingJob", "sagemaker.amazonaws.com", True, {"trainingJobName": "train-42"}),
        ("CreateTrainingJob", "sagemaker.amazonaws.com", False, {"trainingJobName": "train-43",
                                                                 "roleArn": "arn:aws:iam::%s:role/SageMakerExecution" % account}),
        ("Decrypt", "kms.amazonaws.com", True, {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
        ("GenerateDataKey", "kms.amazonaws.com", True, {"keySpec": "AES_256", "keyId": "alias/ml-data"}),
        ("DescribeLogStreams", "logs.amazonaws.com", True, {"logGroupName": "/aws/sagemaker/TrainingJobs"}),
        ("GetParameter", "ssm.amazonaws.com", True, {"name": "/ml/feature-store/endpoint", "withDecryption": False}),
        ("DescribeSecurityGroups", "ec2.amazonaws.com", True, {"groupIdSet": {}}),
        ("ListUsers", "iam.amazonaws.com", True, None),
        ("GetObject", "s3.amazonaws.com", True, {"bucketName": "ml-data", "key": "train/part-0001.parquet"}),
        ("PutObject", "s3.amazonaws.com", False, {"bucketName": "ml-data", "key": "models/run-7/model.safetensors",
                                                 "x-amz-server-side-encryption": "aws:kms"}),
    ]
    for name, source, read_only, request in calls:
        for variant in range(3):
            ident = _user(rng.choice(_USERS), account) if variant == 0 else _role(rng.choice(_ROLES), "s%d" % variant, account)
            ip = "10.%d.%d.%d" % (rng.randrange(256), rng.randrange(256), rng.randrange(1, 255))
            rec = event(name, source, ident, _TIME, region, ip, request=request, read_only=read_only, account=account)
            rec["eventID"] = _ID
            rec["eventTime"] = _TIME
            rec["requestID"] = "req-%s-%d" % (name.lower(), variant)
            text = json.dumps(rec, separators=(",", ":"))
            before, rest = text.split(_TIME, 1)
            middle, after = rest.split(_ID, 1)
            out.append((before.encode(), middle.encode(), after.encode()))
    return out


def _event_id(rng):
    h = "%032x" % rng.getrandbits(128)
    return ("%s-%s-4%s-a%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:32])).encode()


def _serialize(events):
    return json.dumps({"Records": events}, separators=(",", ":")).encode()


def file_bytes(templates, rng, start, seconds, count, extra=None):
    """One log file: ``count`` benign events in [start, start+seconds) plus ``extra`` records, gzipped."""
    parts = []
    base = start.timestamp()
    step = seconds / max(count, 1)
    for i in range(count):
        before, middle, after = templates[rng.randrange(len(templates))]
        when = datetime.datetime.fromtimestamp(base + i * step, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        parts.append(before + when.encode() + middle + _event_id(rng) + after)
    for rec in extra or []:
        parts.append(json.dumps(rec, separators=(",", ":")).encode())
    return _gz.compress(b"{\"Records\":[" + b",".join(parts) + b"]}", 1)


def key_for(account, region, delivered, org=None, prefix=None, rng=None):
    rng = rng or random
    unique = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(16))
    base = (prefix.strip("/") + "/" if prefix else "") + "AWSLogs/" + (org + "/" if org else "") + account
    return "%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz" % (
        base, region, delivered.strftime("%Y/%m/%d"), account, region, delivered.strftime("%Y%m%dT%H%MZ"), unique)


def _write_chunk(args):
    (dest, indices, files, events_per_file, start, span, accounts, regions, org, prefix, seed, plant_every,
     plant_events) = args
    rng = random.Random(seed)
    templates = dict(((a, r), _templates(a, r)) for a in accounts for r in regions)
    written = []
    for i in indices:
        account = accounts[i % len(accounts)]
        region = regions[(i // len(accounts)) % len(regions)]
        file_start = start + datetime.timedelta(seconds=span * i / files)
        extra = []
        if plant_every and i % plant_every == 0:
            extra = [dict(e, eventID=str(uuid.UUID(int=rng.getrandbits(128))),
                          eventTime=_iso(file_start + datetime.timedelta(seconds=1))) for e in plant_events]
        data = file_bytes(templates[(account, region)], rng, file_start, max(1, span / files), events_per_file, extra)
        key = key_for(account, region, file_start + datetime.timedelta(minutes=5), org, prefix, rng)
        path = os.path.join(dest, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
        written.append((key, len(extra)))
    return written


def write_archive(dest, files, events_per_file, start, span_seconds=86400, accounts=(ACCOUNT,), regions=("us-east-1",),
                  org=None, prefix=None, seed=1, processes=2, plant_every=0, plant_events=None):
    """Write ``files`` log files of ``events_per_file`` benign events each under ``dest``; returns the keys.

    With ``plant_every`` N, every Nth file also carries ``plant_events`` (fresh ids and times).
    """
    chunks = [list(range(p, files, processes)) for p in range(processes)]
    args = [(dest, chunk, files, events_per_file, start, span_seconds, list(accounts), list(regions), org, prefix,
             seed + n, plant_every, plant_events or []) for n, chunk in enumerate(chunks)]
    if processes > 1:
        import multiprocessing
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            results = pool.map(_write_chunk, args)
    else:
        results = [_write_chunk(a) for a in args]
    return [k for part in results for k in part]


def planted_files(plants, account=ACCOUNT, region="us-east-1", org=None, prefix=None):
    """The planted events as log files (key, gz bytes): fire and benign twins mixed, a few per file."""
    events = []
    for det in sorted(plants):
        events.extend(plants[det]["fire"])
        events.extend(plants[det]["benign"])
    events.sort(key=lambda e: e["eventTime"])
    out = []
    rng = random.Random(3)
    for i in range(0, len(events), 8):
        chunk = events[i:i + 8]
        last = datetime.datetime.strptime(chunk[-1]["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        key = key_for(chunk[0]["recipientAccountId"], region, last + datetime.timedelta(minutes=5), org, prefix, rng)
        out.append((key, _gz.compress(_serialize(chunk))))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--events-per-file", type=int, default=1000)
    parser.add_argument("--org")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args(argv)
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
    keys = write_archive(args.dest, args.files, args.events_per_file, start, org=args.org, processes=args.processes)
    print("wrote %d files, %d events under %s" % (len(keys), len(keys) * args.events_per_file, args.dest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
