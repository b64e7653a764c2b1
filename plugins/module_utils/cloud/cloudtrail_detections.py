# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CloudTrail detection catalogue of ``cloudtrail_hunt`` (data, and selecting from it; the
matchers live in cloudtrail_matchers.py).

Each entry: ``id``, ``title``, ``severity``, MITRE ATT&CK ``technique`` (id, name, tactic), ``tags``,
``event_names`` (the CloudTrail ``eventName`` values it looks at; ``None`` = every event, so a
LookupEvents hunt must read all management events), the exact ``condition`` in words, ``aggregate``
(``None`` for per-event detections, else how events are grouped and counted) and ``references``.
Sources of the conditions: SigmaHQ/sigma cloudtrail rules, Prowler CIS metric filters, elastic
detection-rules and airbnb/streamalert (see docs/cloudtrail_hunt.md).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError

ATTACK_URL = "https://attack.mitre.org/techniques/%s/"

CATALOGUE = [
    {
        "id": "console_login_without_mfa",
        "title": "Console login succeeded without MFA",
        "severity": "HIGH",
        "technique": ("T1078.004", "Valid Accounts: Cloud Accounts", "initial-access"),
        "tags": ["authentication", "console", "mfa", "cis"],
        "event_names": ["ConsoleLogin"],
        "condition": "eventName = ConsoleLogin AND responseElements.ConsoleLogin = Success AND "
                     "additionalEventData.MFAUsed != Yes (case-insensitive) AND userIdentity.type is not "
                     "AssumedRole (federated sign-ins do MFA at the identity provider)",
        "aggregate": None,
        "references": ["SigmaHQ aws_cloudtrail_console_login_success_without_mfa",
                       "Prowler cloudwatch_log_metric_filter_sign_in_without_mfa"],
    },
    {
        "id": "console_login_failure",
        "title": "Console login failed",
        "severity": "LOW",
        "technique": ("T1110", "Brute Force", "credential-access"),
        "tags": ["authentication", "console", "cis"],
        "event_names": ["ConsoleLogin"],
        "condition": "eventName = ConsoleLogin AND (responseElements.ConsoleLogin = Failure OR "
                     "errorMessage = 'Failed authentication')",
        "aggregate": None,
        "references": ["SigmaHQ aws_cloudtrail_console_login_failed_authentication",
                       "Prowler cloudwatch_log_metric_filter_authentication_failures"],
    },
    {
        "id": "console_login_brute_force",
        "title": "Console login brute force (many failures for one user)",
        "severity": "HIGH",
        "technique": ("T1110.001", "Brute Force: Password Guessing", "credential-access"),
        "tags": ["authentication", "console", "threshold"],
        "event_names": ["ConsoleLogin"],
        "condition": "at least brute_force_threshold console_login_failure events for the same user "
                     "(userIdentity.userName, else arn or principalId; root grouped per account) within burst_window",
        "aggregate": {"of": "console_login_failure", "threshold": "brute_force_threshold"},
        "references": ["elastic credential_access_console_login_brute_force_by_user",
                       "elastic credential_access_root_console_failure_brute_force"],
    },
    {
        "id": "root_account_usage",
        "title": "Root account used",
        "severity": "HIGH",
        "technique": ("T1078.004", "Valid Accounts: Cloud Accounts", "privilege-escalation"),
        "tags": ["iam", "root", "cis"],
        "event_names": None,
        "condition": "userIdentity.type = Root AND eventType != AwsServiceEvent AND userIdentity.invokedBy is absent",
        "aggregate": None,
        "references": ["SigmaHQ aws_root_account_usage", "Prowler cloudwatch_log_metric_filter_root_usage"],
    },
    {
        "id": "cloudtrail_tampering",
        "title": "CloudTrail trail stopped, updated or deleted",
        "severity": "CRITICAL",
        "technique": ("T1562.008", "Impair Defenses: Disable or Modify Cloud Logs", "defense-evasion"),
        "tags": ["logging", "cloudtrail", "defense-evasion", "cis"],
        "event_names": ["StopLogging", "UpdateTrail", "DeleteTrail"],
        "condition": "eventSource = cloudtrail.amazonaws.com AND eventName IN (StopLogging, UpdateTrail, DeleteTrail) "
                     "AND the call succeeded (no errorCode)",
        "aggregate": None,
        "references": ["SigmaHQ aws_cloudtrail_disable_logging"],
    },
    {
        "id": "guardduty_disabled",
        "title": "GuardDuty detector deleted or disabled",
        "severity": "CRITICAL",
        "technique": ("T1562.001", "Impair Defenses: Disable or Modify Tools", "defense-evasion"),
        "tags": ["guardduty", "defense-evasion"],
        "event_names": ["DeleteDetector", "UpdateDetector"],
        "condition": "eventSource = guardduty.amazonaws.com AND (eventName = DeleteDetector OR (eventName = "
                     "UpdateDetector AND requestParameters.enable = false)) AND the call succeeded",
        "aggregate": None,
        "references": ["SigmaHQ aws_cloudtrail_guardduty_detector_deleted_or_updated",
                       "streamalert cloudtrail_critical_api_calls"],
    },
    {
        "id": "guardduty_ipset_created",
        "title": "GuardDuty trusted IP list created (findings from those IPs are suppressed)",
        "severity": "MEDIUM",
        "technique": ("T1562.001", "Impair Defenses: Disable or Modify Tools", "defense-evasion"),
        "tags": ["guardduty", "defense-evasion"],
        "event_names": ["CreateIPSet"],
        "condition": "eventSource = guardduty.amazonaws.com AND eventName = CreateIPSet AND the call succeeded",
        "aggregate": None,
        "references": ["SigmaHQ aws_guardduty_disruption"],
    },
    {
        "id": "access_key_created_for_other_user",
        "title": "Access key created for another IAM user",
        "severity": "MEDIUM",
        "technique": ("T1098.001", "Account Manipulation: Additional Cloud Credentials", "persistence"),
        "tags": ["iam", "persistence", "credentials"],
        "event_names": ["CreateAccessKey"],
        "condition": "eventSource = iam.amazonaws.com AND eventName = CreateAccessKey AND the call succeeded AND "
                     "requestParameters.userName is set AND differs from the caller (userIdentity.userName, "
                     "or the last part of userIdentity.arn)",
        "aggregate": None,
        "references": ["SigmaHQ aws_iam_backdoor_users_keys (as a field-to-field comparison)"],
    },
    {
        "id": "security_group_open_to_world",
        "title": "Security group ingress opened to the internet",
        "severity": "HIGH",
        "technique": ("T1562.007", "Impair Defenses: Disable or Modify Cloud Firewall", "defense-evasion"),
        "tags": ["network", "ec2", "public-exposure"],
        "event_names": ["AuthorizeSecurityGroupIngress"],
        "condition": "eventName = AuthorizeSecurityGroupIngress AND the call succeeded AND any nested "
                     "requestParameters cidrIp = 0.0.0.0/0 OR cidrIpv6 = ::/0",
        "aggregate": None,
        "references": ["streamalert cloudtrail_security_group_ingress_anywhere"],
    },
    {
        "id": "s3_bucket_acl_public",
        "title": "S3 bucket ACL grants access to everyone",
        "severity": "HIGH",
        "technique": ("T1530", "Data from Cloud Storage", "collection"),
        "tags": ["s3", "public-exposure"],
        "event_names": ["PutBucketAcl"],
        "condition": "eventName = PutBucketAcl AND the call succeeded AND (a grantee URI in requestParameters is "
                     "http://acs.amazonaws.com/groups/global/AllUsers or .../AuthenticatedUsers, OR x-amz-acl is "
                     "public-read, public-read-write or authenticated-read)",
        "aggregate": None,
        "references": ["streamalert cloudtrail_put_bucket_acl"],
    },
    {
        "id": "s3_bucket_policy_public",
        "title": "S3 bucket policy allows everyone",
        "severity": "HIGH",
        "technique": ("T1530", "Data from Cloud Storage", "collection"),
        "tags": ["s3", "public-exposure"],
        "event_names": ["PutBucketPolicy"],
        "condition": "eventName = PutBucketPolicy AND the call succeeded AND requestParameters.bucketPolicy (object "
                     "or JSON string) has a statement with Effect Allow, Principal * (or AWS: *) and no Condition",
        "aggregate": None,
        "references": ["streamalert cloudtrail_public_resources"],
    },
    {
        "id": "s3_public_access_block_weakened",
        "title": "S3 public access block weakened or removed",
        "severity": "HIGH",
        "technique": ("T1530", "Data from Cloud Storage", "collection"),
        "tags": ["s3", "public-exposure"],
        "event_names": ["PutBucketPublicAccessBlock", "PutAccountPublicAccessBlock",
                        "DeleteBucketPublicAccessBlock", "DeleteAccountPublicAccessBlock"],
        "condition": "the call succeeded AND (eventName IN (DeleteBucketPublicAccessBlock, "
                     "DeleteAccountPublicAccessBlock) OR (eventName IN (PutBucketPublicAccessBlock, "
                     "PutAccountPublicAccessBlock) AND any of BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, "
                     "RestrictPublicBuckets in requestParameters.PublicAccessBlockConfiguration is false))",
        "aggregate": None,
        "references": ["streamalert cloudtrail_critical_api_calls"],
    },
    {
        "id": "s3_bucket_encryption_removed",
        "title": "S3 bucket default encryption removed",
        "severity": "MEDIUM",
        "technique": ("T1562", "Impair Defenses", "defense-evasion"),
        "tags": ["s3", "encryption", "defense-evasion"],
        "event_names": ["DeleteBucketEncryption"],
        "condition": "eventSource = s3.amazonaws.com AND eventName = DeleteBucketEncryption AND the call succeeded",
        "aggregate": None,
        "references": ["elastic defense_evasion_s3_bucket_configuration_deletion",
                       "SigmaHQ aws_s3_data_management_tampering"],
    },
    {
        "id": "kms_key_disabled_or_deleted",
        "title": "KMS key disabled or scheduled for deletion",
        "severity": "HIGH",
        "technique": ("T1485", "Data Destruction", "impact"),
        "tags": ["kms", "encryption", "impact", "cis"],
        "event_names": ["DisableKey", "ScheduleKeyDeletion"],
        "condition": "eventSource = kms.amazonaws.com AND eventName IN (DisableKey, ScheduleKeyDeletion) AND the call succeeded",
        "aggregate": None,
        "references": ["Prowler cloudwatch_log_metric_filter_disable_or_scheduled_deletion_of_kms_cmk"],
    },
    {
        "id": "logging_disrupted",
        "title": "AWS Config recording or VPC flow logs disrupted",
        "severity": "HIGH",
        "technique": ("T1562.008", "Impair Defenses: Disable or Modify Cloud Logs", "defense-evasion"),
        "tags": ["logging", "config", "network", "defense-evasion", "cis"],
        "event_names": ["DeleteFlowLogs", "StopConfigurationRecorder", "DeleteConfigurationRecorder",
                        "DeleteDeliveryChannel"],
        "condition": "the call succeeded AND (eventName = DeleteFlowLogs OR (eventSource = config.amazonaws.com AND "
                     "eventName IN (StopConfigurationRecorder, DeleteConfigurationRecorder, DeleteDeliveryChannel)))",
        "aggregate": None,
        "references": ["SigmaHQ aws_cloudtrail_vpc_flow_logs_deleted", "SigmaHQ aws_config_disable_recording"],
    },
    {
        "id": "ebs_default_encryption_disabled",
        "title": "EBS encryption by default disabled",
        "severity": "MEDIUM",
        "technique": ("T1562", "Impair Defenses", "defense-evasion"),
        "tags": ["ec2", "encryption", "defense-evasion"],
        "event_names": ["DisableEbsEncryptionByDefault"],
        "condition": "eventSource = ec2.amazonaws.com AND eventName = DisableEbsEncryptionByDefault AND the call succeeded",
        "aggregate": None,
        "references": ["SigmaHQ aws_ec2_disable_encryption"],
    },
    {
        "id": "unauthorized_api_burst",
        "title": "Burst of unauthorized API calls from one principal",
        "severity": "MEDIUM",
        "technique": ("T1580", "Cloud Infrastructure Discovery", "discovery"),
        "tags": ["iam", "discovery", "threshold", "cis"],
        "event_names": None,
        "condition": "at least unauthorized_threshold events with errorCode ending in UnauthorizedOperation or "
                     "starting with AccessDenied, for the same userIdentity.arn (else principalId), within burst_window",
        "aggregate": {"of": "unauthorized_call", "threshold": "unauthorized_threshold"},
        "references": ["Prowler cloudwatch_log_metric_filter_unauthorized_api_calls"],
    },
    {
        "id": "api_call_from_untrusted_network",
        "title": "API calls from outside the allowed networks",
        "severity": "MEDIUM",
        "technique": ("T1078.004", "Valid Accounts: Cloud Accounts", "initial-access"),
        "tags": ["network", "authentication"],
        "event_names": None,
        "condition": "allowed_cidrs is set AND sourceIPAddress is an IP address outside every allowed CIDR AND the "
                     "call was not made by an AWS service (no userIdentity.invokedBy, source not *.amazonaws.com); "
                     "one finding per (principal, source IP) with the count",
        "aggregate": {"of": "untrusted_network", "threshold": None},
        "references": ["ainative.security (issue 5)"],
    },
]

BY_ID = dict((d["id"], d) for d in CATALOGUE)


def select_detections(ids=None, tags=None, exclude=None):
    """Catalogue entries by id (``all`` = every one) and/or tag; unknown ids or tags are errors."""
    ids = list(ids or [])
    tags = list(tags or [])
    known_tags = set(t for d in CATALOGUE for t in d["tags"])
    unknown = [i for i in ids + list(exclude or []) if i != "all" and i not in BY_ID]
    if unknown:
        raise InputError("unknown detection id(s): %s; known: %s" % (", ".join(unknown), ", ".join(sorted(BY_ID))))
    bad_tags = [t for t in tags if t not in known_tags]
    if bad_tags:
        raise InputError("unknown detection tag(s): %s; known: %s" % (", ".join(bad_tags), ", ".join(sorted(known_tags))))
    if not ids and not tags:
        ids = ["all"]
    chosen = []
    for det in CATALOGUE:
        if "all" in ids or det["id"] in ids or set(tags) & set(det["tags"]):
            if det["id"] not in (exclude or []):
                chosen.append(det)
    if not chosen:
        raise InputError("the selection of detections is empty")
    return chosen


def lookup_event_names(detections):
    """EventName values to query, or None when a selected detection needs every event."""
    names = set()
    for det in detections:
        if det["event_names"] is None:
            return None
        names.update(det["event_names"])
    return sorted(names)
