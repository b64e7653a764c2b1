# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-event conditions of the ``cloudtrail_hunt`` catalogue (``MATCHERS``) and their helpers.

Each matcher takes one full CloudTrail record (a dict) whose ``eventName`` is one of its detection's
``event_names`` and says whether the detection fires; the exact conditions are in the catalogue.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json


def succeeded(e):
    code = e.get("errorCode")
    return not code or code == "Success"


def _dig(obj, path):
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _walk(obj):
    """Every (key, value) pair of a nested structure."""
    stack = [obj]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            for k, v in cur.items():
                yield k, v
                if isinstance(v, (dict, list)):
                    stack.append(v)
        elif isinstance(cur, list):
            stack.extend(x for x in cur if isinstance(x, (dict, list)))


def _falsy(value):
    return value is False or str(value).strip().lower() == "false"


def _m_console_login_without_mfa(e):
    if _dig(e, "responseElements.ConsoleLogin") != "Success":
        return False
    if (_dig(e, "userIdentity.type") or "") == "AssumedRole":
        return False
    return str(_dig(e, "additionalEventData.MFAUsed") or "").lower() != "yes"


def console_login_failure(e):
    return _dig(e, "responseElements.ConsoleLogin") == "Failure" or e.get("errorMessage") == "Failed authentication"


def _m_cloudtrail_tampering(e):
    return e.get("eventSource") == "cloudtrail.amazonaws.com" and succeeded(e)


def _m_guardduty_disabled(e):
    if e.get("eventSource") != "guardduty.amazonaws.com" or not succeeded(e):
        return False
    if e.get("eventName") == "DeleteDetector":
        return True
    return _falsy(_dig(e, "requestParameters.enable")) if _dig(e, "requestParameters.enable") is not None else False


def _m_guardduty_ipset(e):
    return e.get("eventSource") == "guardduty.amazonaws.com" and succeeded(e)


def _m_access_key_other_user(e):
    if e.get("eventSource") != "iam.amazonaws.com" or not succeeded(e):
        return False
    target = _dig(e, "requestParameters.userName")
    if not target:
        return False
    caller = _dig(e, "userIdentity.userName")
    arn = _dig(e, "userIdentity.arn") or ""
    if caller == target or arn.split("/")[-1] == target and ":user/" in arn:
        return False
    return True


def _m_sg_open(e):
    if not succeeded(e):
        return False
    for key, value in _walk(e.get("requestParameters") or {}):
        if (key == "cidrIp" and value == "0.0.0.0/0") or (key == "cidrIpv6" and value == "::/0"):
            return True
    return False


_PUBLIC_GROUPS = ("http://acs.amazonaws.com/groups/global/AllUsers",
                  "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")
_PUBLIC_CANNED = ("public-read", "public-read-write", "authenticated-read")


def _m_bucket_acl_public(e):
    if not succeeded(e):
        return False
    for key, value in _walk(e.get("requestParameters") or {}):
        if key == "URI" and value in _PUBLIC_GROUPS:
            return True
        if key == "x-amz-acl" and any(v in _PUBLIC_CANNED for v in (value if isinstance(value, list) else [value])):
            return True
    return False


def _m_bucket_policy_public(e):
    if not succeeded(e):
        return False
    policy = _dig(e, "requestParameters.bucketPolicy")
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return False
    statements = (policy or {}).get("Statement") if isinstance(policy, dict) else None
    for stmt in statements if isinstance(statements, list) else [statements]:
        if not isinstance(stmt, dict) or stmt.get("Effect") != "Allow" or stmt.get("Condition"):
            continue
        principal = stmt.get("Principal")
        aws = principal.get("AWS") if isinstance(principal, dict) else None
        if principal == "*" or aws == "*" or (isinstance(aws, list) and "*" in aws):
            return True
    return False


_PAB_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def _m_pab_weakened(e):
    if not succeeded(e):
        return False
    if e.get("eventName", "").startswith("Delete"):
        return True
    for key, value in _walk(e.get("requestParameters") or {}):
        if key in _PAB_FLAGS and _falsy(value):
            return True
    return False


def _m_s3_encryption_removed(e):
    return e.get("eventSource") == "s3.amazonaws.com" and succeeded(e)


def _m_kms(e):
    return e.get("eventSource") == "kms.amazonaws.com" and succeeded(e)


def _m_logging_disrupted(e):
    if not succeeded(e):
        return False
    return e.get("eventName") == "DeleteFlowLogs" or e.get("eventSource") == "config.amazonaws.com"


def _m_ebs(e):
    return e.get("eventSource") == "ec2.amazonaws.com" and succeeded(e)


MATCHERS = {
    "console_login_without_mfa": _m_console_login_without_mfa,
    "console_login_failure": console_login_failure,
    "cloudtrail_tampering": _m_cloudtrail_tampering,
    "guardduty_disabled": _m_guardduty_disabled,
    "guardduty_ipset_created": _m_guardduty_ipset,
    "access_key_created_for_other_user": _m_access_key_other_user,
    "security_group_open_to_world": _m_sg_open,
    "s3_bucket_acl_public": _m_bucket_acl_public,
    "s3_bucket_policy_public": _m_bucket_policy_public,
    "s3_public_access_block_weakened": _m_pab_weakened,
    "s3_bucket_encryption_removed": _m_s3_encryption_removed,
    "kms_key_disabled_or_deleted": _m_kms,
    "logging_disrupted": _m_logging_disrupted,
    "ebs_default_encryption_disabled": _m_ebs,
}


def networks(cidrs):
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def principal_key(ident):
    if not isinstance(ident, dict):
        ident = {}
    if ident.get("type") == "Root":
        return "root@%s" % (ident.get("accountId") or "?")
    return ident.get("userName") or ident.get("arn") or ident.get("principalId") or "unknown"


class NetCheck:
    """Whether a source IP is outside ``allowed_cidrs`` (cached; service names are never untrusted)."""

    def __init__(self, cidrs):
        self.nets = networks(cidrs)
        self.cache = {}

    def untrusted(self, ip):
        hit = self.cache.get(ip)
        if hit is None:
            try:
                addr = ipaddress.ip_address(ip)
                hit = not any(addr in net for net in self.nets if net.version == addr.version)
            except (TypeError, ValueError):
                hit = False  # a service name (ec2.amazonaws.com), "AWS Internal", none ...
            self.cache[ip] = hit
        return hit
