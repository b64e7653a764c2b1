# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Audit and enforce encryption at rest on S3 buckets (control ``s3_encryption_assert``).

Every bucket has had SSE-S3 by default since January 2023, so the real questions are: is default
encryption KMS with an allowed CMK, is the bucket key on, does the bucket policy deny plain-HTTP
access, wrongly encrypted uploads and SSE-C, and are all four public-access-block flags set.

Each requirement has a pure ``check_*`` function (current state -> list of gaps) and, for enforce
mode, a ``handle_*`` function that returns ``(changed, current)`` like amazon.aws's s3_bucket
handlers. Enforcement writes a KMS key only after ``kms:DescribeKey`` resolved it, in the bucket's
region, to an enabled symmetric key, and writes that key's ARN (an alias resolves in the caller's
account, not the bucket owner's). Coverage counts buckets: one whose settings cannot be read is a gap.

Bucket policies are merged by ``Sid``: our statements replace statements with the same Sid, every
other statement survives, and an equivalent statement of the owner's counts as compliant (no
duplicate is added).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import fnmatch
import json
import re

from ansible_collections.ainative.security.plugins.module_utils.core import findings as fmodel
from ansible_collections.ainative.security.plugins.module_utils.core.concurrency import run_bounded
from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import ControlError, InputError
from ansible_collections.ainative.security.plugins.module_utils.core.module import Outcome
from ansible_collections.ainative.security.plugins.module_utils.cloud.aws import (
    AWSAuditError, BotoCoreError, Clients, ClientError, describe_error, error_code)
from ansible_collections.ainative.security.plugins.module_utils.cloud import organizations

CONTROL = "s3_encryption_assert"

SID_TLS = "AinativeDenyInsecureTransport"
SID_UPLOAD = "AinativeDenyUnencryptedUploads"
SID_KMS_KEY = "AinativeDenyWrongKmsKey"
SID_SSEC = "AinativeDenySSECUploads"

ALGORITHM_CHOICES = ("any_kms", "aws:kms", "aws:kms:dsse", "AES256", "none")
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
PAB_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")

_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key/[A-Za-z0-9-]+|alias/[A-Za-z0-9/_-]+)$")
_KEY_ID = re.compile(r"^(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
_ALIAS = re.compile(r"^alias/[A-Za-z0-9/_-]+$")

# Finding catalogue: id -> (severity, kind, title)
GAPS = {
    "s3_default_encryption_not_kms": ("HIGH", "encryption", "Default encryption is not SSE-KMS"),
    "s3_default_encryption_wrong_algorithm": ("HIGH", "encryption", "Default encryption uses a different algorithm than required"),
    "s3_kms_key_not_allowed": ("HIGH", "encryption", "Default encryption uses a KMS key that is not allowed"),
    "s3_bucket_key_disabled": ("LOW", "encryption", "S3 Bucket Key is not enabled for SSE-KMS"),
    "s3_insecure_transport_allowed": ("MEDIUM", "misconfiguration", "Bucket policy does not deny non-TLS requests"),
    "s3_unencrypted_uploads_allowed": ("MEDIUM", "encryption", "Bucket policy does not deny unencrypted or wrongly encrypted PutObject"),
    "s3_wrong_kms_key_uploads_allowed": ("MEDIUM", "encryption", "Bucket policy does not deny uploads with another KMS key"),
    "s3_sse_c_not_blocked": ("MEDIUM", "encryption", "SSE-C uploads are not blocked"),
    "s3_public_access_block_incomplete": ("HIGH", "misconfiguration", "Not all four S3 public access block flags are set"),
    "s3_bucket_unreadable": ("UNKNOWN", "misconfiguration", "Bucket settings could not be read"),
}
DOC_URL = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/serv-side-encryption.html"
# Which enforcement handler fixes which gaps.
ENCRYPTION_GAPS = frozenset(["s3_default_encryption_not_kms", "s3_default_encryption_wrong_algorithm",
                             "s3_kms_key_not_allowed", "s3_bucket_key_disabled"])
POLICY_GAPS = frozenset(["s3_insecure_transport_allowed", "s3_unencrypted_uploads_allowed",
                         "s3_wrong_kms_key_uploads_allowed", "s3_sse_c_not_blocked"])
PAB_GAPS = frozenset(["s3_public_access_block_incomplete"])


class Requirements:
    """The switchable requirements, validated once (bad key ARNs fail before any AWS call)."""

    def __init__(self, sse_algorithm="any_kms", kms_key_ids=None, bucket_key=True, secure_transport=True,
                 deny_unencrypted_uploads=False, block_sse_c=True, public_access_block=True):
        if sse_algorithm not in ALGORITHM_CHOICES:
            raise InputError("sse_algorithm must be one of %s, got %r" % (", ".join(ALGORITHM_CHOICES), sse_algorithm))
        self.sse_algorithm = sse_algorithm
        self.kms_key_ids = list(kms_key_ids or [])
        for key in self.kms_key_ids:
            if not (_KEY_ARN.match(key) or _KEY_ID.match(key) or _ALIAS.match(key)):
                raise InputError(
                    "kms_key_ids: %r is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), alias ARN "
                    "(arn:aws:kms:<region>:<account>:alias/<name>), key id or alias/<name>" % key)
        if self.kms_key_ids and sse_algorithm in ("AES256", "none"):
            raise InputError("kms_key_ids needs a KMS sse_algorithm (any_kms, aws:kms or aws:kms:dsse), not %s"
                             % sse_algorithm)
        self.bucket_key = bool(bucket_key) and self.kms
        self.secure_transport = bool(secure_transport)
        self.deny_unencrypted_uploads = bool(deny_unencrypted_uploads) and sse_algorithm != "none"
        self.block_sse_c = bool(block_sse_c)
        self.public_access_block = bool(public_access_block)

    @property
    def kms(self):
        return self.sse_algorithm in ("any_kms",) + KMS_ALGORITHMS

    def accepted_algorithms(self):
        if self.sse_algorithm == "any_kms":
            return list(KMS_ALGORITHMS)
        if self.sse_algorithm == "AES256":
            return ["AES256"] + list(KMS_ALGORITHMS)
        if self.sse_algorithm == "none":
            return []
        return [self.sse_algorithm]

    def target_algorithm(self):
        return {"any_kms": "aws:kms"}.get(self.sse_algorithm, self.sse_algorithm)


# --- bucket selection --------------------------------------------------------------------------

def select_buckets(all_names, names=None, include=None, exclude=None):
    """Names to audit: ``names`` (or every bucket) filtered by include/exclude glob patterns."""
    chosen = list(names) if names else list(all_names)
    if include:
        chosen = [n for n in chosen if any(fnmatch.fnmatchcase(n, p) for p in include)]
    if exclude:
        chosen = [n for n in chosen if not any(fnmatch.fnmatchcase(n, p) for p in exclude)]
    seen = set()
    return [n for n in chosen if not (n in seen or seen.add(n))]


def list_buckets(s3):
    """Every bucket with its region when ListBuckets reports it (``BucketRegion``), following pages."""
    buckets, token = [], None
    while True:
        kwargs = {"MaxBuckets": 1000}
        if token:
            kwargs["ContinuationToken"] = token
        try:
            page = s3.list_buckets(aws_retry=True, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise AWSAuditError(describe_error(exc, "s3:ListBuckets"))
        for bucket in page.get("Buckets", []):
            buckets.append((bucket["Name"], bucket.get("BucketRegion")))
        token = page.get("ContinuationToken")
        # An emulator that ignores paging returns everything and no token; stop either way.
        if not token:
            return buckets


# --- policy analysis ---------------------------------------------------------------------------

def _as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _is_false(value):
    return any(str(v).strip().lower() == "false" for v in _as_list(value))


def _principal_everyone(principal):
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return "*" in _as_list(principal.get("AWS"))
    return False


def _covers(actions, wanted):
    for action in _as_list(actions):
        a = str(action).lower()
        if a in ("*", "s3:*") or fnmatch.fnmatchcase(wanted.lower(), a):
            return True
    return False


def _covers_bucket_objects(resources, bucket):
    for res in _as_list(resources):
        if res in ("*", "arn:aws:s3:::%s/*" % bucket, "arn:aws:s3:::*") or fnmatch.fnmatchcase(
                "arn:aws:s3:::%s/anyobject" % bucket, res):
            return True
    return False


def _deny_statements(policy):
    for stmt in _as_list((policy or {}).get("Statement")):
        if isinstance(stmt, dict) and stmt.get("Effect") == "Deny" and _principal_everyone(stmt.get("Principal")) \
                and "NotAction" not in stmt and "NotPrincipal" not in stmt:
            yield stmt


def _cond(stmt, operators, key):
    """Values of condition ``key`` under any of ``operators`` (keys compared case-insensitively)."""
    out = []
    for op, body in (stmt.get("Condition") or {}).items():
        if op not in operators or not isinstance(body, dict):
            continue
        for k, v in body.items():
            if k.lower() == key.lower():
                out.extend(_as_list(v))
    return out


def policy_denies_insecure_transport(policy, bucket):
    """A Deny for everyone on s3:* (or GetObject/PutObject) when aws:SecureTransport is false (bool or string)."""
    for stmt in _deny_statements(policy):
        if not (_covers(stmt.get("Action"), "s3:GetObject") and _covers(stmt.get("Action"), "s3:PutObject")):
            continue
        if not _covers_bucket_objects(stmt.get("Resource"), bucket):
            continue
        if _is_false(_cond(stmt, ("Bool", "BoolIfExists"), "aws:SecureTransport")):
            return True
    return False


def policy_denies_unencrypted_uploads(policy, bucket, accepted):
    """A Deny on PutObject when the SSE header is missing or names an algorithm not in ``accepted``."""
    for stmt in _deny_statements(policy):
        if not (_covers(stmt.get("Action"), "s3:PutObject") and _covers_bucket_objects(stmt.get("Resource"), bucket)):
            continue
        values = _cond(stmt, ("StringNotEquals",), "s3:x-amz-server-side-encryption")
        if values and set(values) <= set(accepted):
            return True  # StringNotEquals on a missing key is true: missing header is denied too
    return False


def policy_denies_wrong_kms_key(policy, bucket, key_arns):
    for stmt in _deny_statements(policy):
        if not (_covers(stmt.get("Action"), "s3:PutObject") and _covers_bucket_objects(stmt.get("Resource"), bucket)):
            continue
        values = _cond(stmt, ("StringNotEquals", "StringNotEqualsIfExists", "ArnNotEquals", "ArnNotEqualsIfExists"),
                       "s3:x-amz-server-side-encryption-aws-kms-key-id")
        if values and set(values) <= set(key_arns):
            return True
    return False


def policy_denies_sse_c(policy, bucket):
    for stmt in _deny_statements(policy):
        if not (_covers(stmt.get("Action"), "s3:PutObject") and _covers_bucket_objects(stmt.get("Resource"), bucket)):
            continue
        if _is_false(_cond(stmt, ("Null",), "s3:x-amz-server-side-encryption-customer-algorithm")):
            return True
    return False


def wanted_statements(bucket, req, key_arns):
    """Our statements (by Sid) for the requirements switched on."""
    objects = "arn:aws:s3:::%s/*" % bucket
    out = []
    if req.secure_transport:
        out.append({"Sid": SID_TLS, "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                    "Resource": ["arn:aws:s3:::%s" % bucket, objects],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    if req.deny_unencrypted_uploads:
        out.append({"Sid": SID_UPLOAD, "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                    "Resource": objects,
                    "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": req.accepted_algorithms()}}})
        if key_arns:
            out.append({"Sid": SID_KMS_KEY, "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                        "Resource": objects,
                        "Condition": {"StringNotEqualsIfExists": {
                            "s3:x-amz-server-side-encryption-aws-kms-key-id": sorted(key_arns)}}})
    if req.block_sse_c:
        out.append({"Sid": SID_SSEC, "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                    "Resource": objects,
                    "Condition": {"Null": {"s3:x-amz-server-side-encryption-customer-algorithm": "false"}}})
    return out


def merge_policy(policy, statements):
    """``policy`` with ``statements`` merged by Sid (replace same Sid, append new); others untouched."""
    merged = copy.deepcopy(policy) if policy else {"Version": "2012-10-17", "Statement": []}
    existing = _as_list(merged.get("Statement"))
    by_sid = dict((s.get("Sid"), i) for i, s in enumerate(existing) if isinstance(s, dict) and s.get("Sid"))
    for stmt in statements:
        if stmt["Sid"] in by_sid:
            existing[by_sid[stmt["Sid"]]] = stmt
        else:
            existing.append(stmt)
    merged["Statement"] = existing
    merged.setdefault("Version", "2012-10-17")
    return merged


# --- reading a bucket --------------------------------------------------------------------------

def _read(call, missing_codes, action):
    """(value, None) or (None, reason); a missing configuration is (None, None)."""
    try:
        return call(), None
    except ClientError as exc:
        if error_code(exc) in missing_codes:
            return None, None
        return None, describe_error(exc, action)
    except BotoCoreError as exc:
        return None, describe_error(exc, action)


def read_state(s3, bucket, req):
    """Current settings of ``bucket`` the requirements need; ``errors`` lists what could not be read."""
    state = {"encryption": None, "policy": None, "public_access_block": None}
    errors = []
    if req.sse_algorithm != "none" or req.bucket_key:
        enc, err = _read(lambda: s3.get_bucket_encryption(aws_retry=True, Bucket=bucket)["ServerSideEncryptionConfiguration"],
                         ("ServerSideEncryptionConfigurationNotFoundError",), "s3:GetBucketEncryption")
        if err:
            errors.append(err)
        state["encryption"] = enc
    if req.secure_transport or req.deny_unencrypted_uploads or req.block_sse_c:
        pol, err = _read(lambda: s3.get_bucket_policy(aws_retry=True, Bucket=bucket)["Policy"],
                         ("NoSuchBucketPolicy",), "s3:GetBucketPolicy")
        if err:
            errors.append(err)
        elif pol:
            try:
                state["policy"] = json.loads(pol)
            except ValueError:
                errors.append("s3:GetBucketPolicy returned a policy that is not JSON")
    if req.public_access_block:
        pab, err = _read(lambda: s3.get_public_access_block(aws_retry=True, Bucket=bucket)["PublicAccessBlockConfiguration"],
                         ("NoSuchPublicAccessBlockConfiguration",), "s3:GetPublicAccessBlock")
        if err:
            errors.append(err)
        state["public_access_block"] = pab
    return state, errors


def default_encryption(enc):
    """(algorithm, kms key id, bucket key enabled, blocked encryption types) of the first rule.

    No configuration means SSE-S3 (AES256): AWS applies it to every bucket since January 2023.
    """
    rules = (enc or {}).get("Rules") or []
    if not rules:
        return "AES256", None, False, []
    rule = rules[0]
    default = rule.get("ApplyServerSideEncryptionByDefault") or {}
    blocked = (rule.get("BlockedEncryptionTypes") or {}).get("EncryptionType") or []
    return default.get("SSEAlgorithm", "AES256"), default.get("KMSMasterKeyID"), bool(rule.get("BucketKeyEnabled")), blocked


# --- evaluation --------------------------------------------------------------------------------

def evaluate(bucket, state, req, key_resolver):
    """Gaps of one bucket as ``[(gap id, detail dict)]``; ``key_resolver(key_id) -> ARN or key_id``."""
    gaps = []
    algorithm, key_id, bucket_key, blocked = default_encryption(state["encryption"])
    accepted = req.accepted_algorithms()
    if req.sse_algorithm != "none" and algorithm not in accepted:
        gap = "s3_default_encryption_not_kms" if req.kms else "s3_default_encryption_wrong_algorithm"
        gaps.append((gap, {"current": algorithm, "required": accepted}))
    allowed_arns = set(key_resolver(k) for k in req.kms_key_ids)
    if req.kms_key_ids and algorithm in KMS_ALGORITHMS:
        current_arn = key_resolver(key_id) if key_id else "aws/s3 (AWS managed key)"
        if current_arn not in allowed_arns and key_id not in req.kms_key_ids:
            gaps.append(("s3_kms_key_not_allowed", {"current": key_id or "aws/s3 (AWS managed key)",
                                                    "allowed": req.kms_key_ids}))
    if req.bucket_key and algorithm in KMS_ALGORITHMS and not bucket_key:
        gaps.append(("s3_bucket_key_disabled", {"current": False}))
    policy = state["policy"]
    if req.secure_transport and not policy_denies_insecure_transport(policy, bucket):
        gaps.append(("s3_insecure_transport_allowed", {}))
    if req.deny_unencrypted_uploads:
        if not policy_denies_unencrypted_uploads(policy, bucket, accepted):
            gaps.append(("s3_unencrypted_uploads_allowed", {"accepted": accepted}))
        key_arns = _policy_key_arns(req, key_resolver)
        if key_arns and not policy_denies_wrong_kms_key(policy, bucket, key_arns):
            gaps.append(("s3_wrong_kms_key_uploads_allowed", {"allowed": sorted(key_arns)}))
    if req.block_sse_c and "SSE-C" not in blocked and not policy_denies_sse_c(policy, bucket):
        gaps.append(("s3_sse_c_not_blocked", {}))
    if req.public_access_block:
        pab = state["public_access_block"] or {}
        missing = [flag for flag in PAB_FLAGS if not pab.get(flag)]
        if missing:
            gaps.append(("s3_public_access_block_incomplete", {"missing": missing}))
    return gaps


def _policy_key_arns(req, key_resolver):
    """Key ARNs for the upload condition (S3 compares the key *ARN*); aliases that do not resolve are left out."""
    arns = set()
    for key in req.kms_key_ids:
        arn = key_resolver(key)
        if arn and ":key/" in arn:
            arns.add(arn)
    return arns


# --- enforcement handlers: (changed, current) --------------------------------------------------

def enforce_key(req, region):
    """The first allowed key usable in ``region``: an ARN of that region, or an alias/key id (resolved there)."""
    for key in req.kms_key_ids:
        if not key.startswith("arn:") or key.split(":")[3] == region:
            return key
    return None


def handle_encryption(s3, bucket, state, req, key_resolver, check_mode, region, usable_key):
    """``usable_key(key) -> key ARN`` resolves the key to write, or raises when it cannot be used."""
    algorithm, key_id, bucket_key, blocked = default_encryption(state["encryption"])
    accepted = req.accepted_algorithms()
    want_alg = algorithm if algorithm in accepted else req.target_algorithm()
    want_key = key_id
    if want_alg in KMS_ALGORITHMS and req.kms_key_ids:
        allowed = set(key_resolver(k) for k in req.kms_key_ids) | set(req.kms_key_ids)
        if not key_id or (key_resolver(key_id) not in allowed and key_id not in allowed):
            want_key = enforce_key(req, region)
            if want_key is None:
                raise InputError("no key in kms_key_ids is in the bucket's region %s (a bucket can only use a "
                                 "KMS key of its own region); add one, or an alias" % region)
            want_key = usable_key(want_key)
    if want_alg not in KMS_ALGORITHMS:
        want_key = None
    want_bucket_key = bool(bucket_key) or (req.bucket_key and want_alg in KMS_ALGORITHMS)
    if (want_alg, want_key, want_bucket_key) == (algorithm, key_id, bucket_key) and state["encryption"] is not None:
        return False, state["encryption"]
    if state["encryption"] is None and want_alg == "AES256" and not want_bucket_key:
        return False, state["encryption"]  # implied SSE-S3 already satisfies the requirement
    default = {"SSEAlgorithm": want_alg}
    if want_key:
        default["KMSMasterKeyID"] = want_key
    rule = {"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": want_bucket_key}
    if blocked:
        rule["BlockedEncryptionTypes"] = {"EncryptionType": blocked}
    wanted = {"Rules": [rule]}
    if not check_mode:
        s3.put_bucket_encryption(aws_retry=True, Bucket=bucket, ServerSideEncryptionConfiguration=wanted)
    return True, wanted


def handle_policy(s3, bucket, state, req, key_resolver, check_mode):
    policy = state["policy"]
    accepted = req.accepted_algorithms()
    key_arns = _policy_key_arns(req, key_resolver) if req.deny_unencrypted_uploads else set()
    needed = []
    for stmt in wanted_statements(bucket, req, key_arns):
        sid = stmt["Sid"]
        present = _statement_by_sid(policy, sid)
        if present == stmt:
            continue
        if present is None:
            # an equivalent statement of the owner's (any Sid) satisfies the requirement
            if sid == SID_TLS and policy_denies_insecure_transport(policy, bucket):
                continue
            if sid == SID_UPLOAD and policy_denies_unencrypted_uploads(policy, bucket, accepted):
                continue
            if sid == SID_KMS_KEY and policy_denies_wrong_kms_key(policy, bucket, key_arns):
                continue
            if sid == SID_SSEC and policy_denies_sse_c(policy, bucket):
                continue
        needed.append(stmt)
    if not needed:
        return False, policy
    merged = merge_policy(policy, needed)
    if not check_mode:
        s3.put_bucket_policy(aws_retry=True, Bucket=bucket, Policy=json.dumps(merged, sort_keys=True))
    return True, merged


def _statement_by_sid(policy, sid):
    for stmt in _as_list((policy or {}).get("Statement")):
        if isinstance(stmt, dict) and stmt.get("Sid") == sid:
            return stmt
    return None


def handle_public_access_block(s3, bucket, state, check_mode):
    current = state["public_access_block"] or {}
    if all(current.get(flag) for flag in PAB_FLAGS):
        return False, state["public_access_block"]
    wanted = dict((flag, True) for flag in PAB_FLAGS)
    if not check_mode:
        s3.put_public_access_block(aws_retry=True, Bucket=bucket, PublicAccessBlockConfiguration=wanted)
    return True, wanted


# --- one bucket, all buckets --------------------------------------------------------------------

class KeyResolver:
    """KMS key id/alias -> key ARN via kms:DescribeKey in the bucket's region (cached).

    ``for_region`` is lenient (an unresolved key stays as given, for comparing with what a bucket has);
    ``usable_in`` is strict (the key enforcement writes must resolve to an enabled symmetric key).
    """

    def __init__(self, clients):
        self.clients = clients
        self.cache = {}
        self.described = {}

    def describe(self, region, key):
        """(KeyMetadata, None) or (None, why DescribeKey could not resolve the key); cached."""
        if (region, key) not in self.described:
            try:
                meta = self.clients.client("kms", region).describe_key(aws_retry=True, KeyId=key)["KeyMetadata"]
                self.described[(region, key)] = (meta, None)
            except (BotoCoreError, ClientError) as exc:
                self.described[(region, key)] = (None, describe_error(exc, "kms:DescribeKey in %s" % region))
            except AWSAuditError as exc:
                self.described[(region, key)] = (None, exc.msg)
        return self.described[(region, key)]

    def usable_in(self, region, bucket):
        def usable(key):
            meta, err = self.describe(region, key)
            why = err
            if meta is not None:
                if meta.get("KeyState") != "Enabled":
                    why = "the key is %s, not Enabled" % meta.get("KeyState")
                elif (meta.get("KeyUsage") or "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT" or \
                        (meta.get("KeySpec") or "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
                    why = "S3 default encryption needs a symmetric encryption key, this one is %s/%s" % (
                        meta.get("KeySpec"), meta.get("KeyUsage"))
            if why:
                raise InputError("refusing KMS key %s for bucket %s (%s): %s; the default encryption was not changed"
                                 % (key, bucket, region, why))
            return meta["Arn"]
        return usable

    def for_region(self, region):
        def resolve(key):
            if not key:
                return key
            if key.startswith("arn:") and ":key/" in key:
                return key
            cache_key = (region, key)
            if cache_key not in self.cache:
                meta, _err = self.describe(region, key)
                self.cache[cache_key] = meta["Arn"] if meta and meta.get("Arn") else key
            return self.cache[cache_key]
        return resolve


def bucket_region(s3, bucket, listed_region):
    if listed_region:
        return listed_region
    loc = s3.get_bucket_location(aws_retry=True, Bucket=bucket).get("LocationConstraint")
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(loc, loc)


def process_bucket(clients, name, listed_region, req, mode, check_mode, resolver):
    """Audit (and in enforce mode fix) one bucket; never raises for AWS errors on that bucket."""
    result = {"name": name, "region": listed_region, "status": "unknown", "compliant": None, "reason": None,
              "gaps": [], "fixed": [], "changed": False, "before": None, "after": None}
    try:
        region = bucket_region(clients.client("s3"), name, listed_region)
    except (BotoCoreError, ClientError) as exc:
        result["reason"] = describe_error(exc, "s3:GetBucketLocation")
        return result
    result["region"] = region
    s3 = clients.client("s3", region)
    state, errors = read_state(s3, name, req)
    if errors:
        result["reason"] = "; ".join(errors)
        return result
    key_resolver = resolver.for_region(region)
    gaps = evaluate(name, state, req, key_resolver)
    result["gaps"] = [{"id": g, "details": d} for g, d in gaps]
    result["before"] = state
    if mode == "audit" or not gaps:
        result["status"] = "compliant" if not gaps else "noncompliant"
        result["compliant"] = not gaps
        return result
    after = copy.deepcopy(state)
    gap_ids = set(gap[0] for gap in gaps)
    handlers = (
        ("encryption", ENCRYPTION_GAPS, lambda: handle_encryption(
            s3, name, state, req, key_resolver, check_mode, region, resolver.usable_in(region, name))),
        ("policy", POLICY_GAPS, lambda: handle_policy(s3, name, state, req, key_resolver, check_mode)),
        ("public_access_block", PAB_GAPS, lambda: handle_public_access_block(s3, name, state, check_mode)),
    )
    errors = []
    for setting, fixes, handle in handlers:
        if not gap_ids & fixes:
            continue
        try:  # one setting that cannot be fixed (a refused key) does not stop the others
            changed, after[setting] = handle()
            result["changed"] |= changed
        except (BotoCoreError, ClientError, ControlError) as exc:
            errors.append(exc.msg if isinstance(exc, ControlError) else describe_error(exc, "enforcing on %s" % name))
    remaining = evaluate(name, after, req, key_resolver)
    result["after"] = after
    result["fixed"] = sorted(gap_ids - set(gap[0] for gap in remaining))
    result["reason"] = "; ".join(errors) or None
    if check_mode:
        result["status"] = "noncompliant"
        result["compliant"] = False
    else:
        result["status"] = "fixed" if not remaining else "noncompliant"
        result["compliant"] = not remaining
    return result


def bucket_findings(result, mode, check_mode):
    out = []
    name = result["name"]
    if result["status"] == "unknown":
        sev, kind, title = GAPS["s3_bucket_unreadable"]
        out.append(fmodel.make_finding(CONTROL, kind, "s3_bucket_unreadable", sev, title, target="s3://%s" % name,
                                       location={"resource": "arn:aws:s3:::%s" % name}, url=DOC_URL,
                                       details={"reason": result["reason"], "region": result["region"]}))
        return out
    fixed = set(result["fixed"]) if (mode == "enforce" and not check_mode) else set()
    for gap in result["gaps"]:
        sev, kind, title = GAPS[gap["id"]]
        details = dict(gap["details"], region=result["region"])
        if mode == "enforce" and check_mode and gap["id"] in result["fixed"]:
            details["would_fix"] = True
        out.append(fmodel.make_finding(CONTROL, kind, gap["id"], sev, title, target="s3://%s" % name,
                                       location={"resource": "arn:aws:s3:::%s" % name}, url=DOC_URL,
                                       status="fixed" if gap["id"] in fixed else "open", details=details))
    return out


def assert_buckets(clients, req, names=None, all_buckets=False, include=None, exclude=None, mode="audit",
                   check_mode=False, concurrency=16):
    """Audit or enforce every selected bucket; returns the Outcome (``diff`` holds every changed bucket)."""
    if mode not in ("audit", "enforce"):
        raise InputError("mode must be audit or enforce, got %r" % mode)
    clients.account_id()  # fails early and clearly on missing credentials or an unreachable endpoint
    listed = {}
    if all_buckets:
        listed = dict(list_buckets(clients.client("s3")))
        candidates = sorted(listed)
    else:
        candidates = names or []
    selected = select_buckets(candidates, None, include, exclude)
    resolver = KeyResolver(clients)

    def one(name):
        return process_bucket(clients, name, listed.get(name), req, mode, check_mode, resolver)

    results = run_bounded(one, selected, max(1, concurrency))
    cov = Coverage("buckets", asked=len(selected))
    found = []
    diff = {"before": {}, "after": {}}
    notes = []
    for res in results:
        found.extend(bucket_findings(res, mode, check_mode))
        if res["status"] == "unknown":
            cov.miss(res["name"], res["reason"])
        else:
            cov.add()
        if res["changed"]:
            diff["before"][res["name"]] = _diffable(res["before"])
            diff["after"][res["name"]] = _diffable(res["after"])
        if mode == "enforce" and res["status"] == "noncompliant" and res["reason"]:
            notes.append("%s not fixed: %s" % (res["name"], res["reason"]))
    if not selected:
        notes.append("no bucket matched buckets/all_buckets with include and exclude")
    counts = {"total": len(results)}
    for status in ("compliant", "noncompliant", "fixed", "unknown"):
        counts[status] = sum(1 for r in results if r["status"] == status)
    buckets = []
    for res in results:
        entry = dict((k, res[k]) for k in ("name", "region", "status", "compliant", "reason", "fixed", "changed"))
        entry["gaps"] = [g["id"] for g in res["gaps"]]
        buckets.append(entry)
    outcome = Outcome(cov, found, notes=notes, changed=any(r["changed"] for r in results), buckets=buckets,
                      counts=counts)
    bad = [b["name"] for b in buckets if b["status"] in ("noncompliant", "unknown")]
    if bad:
        outcome.msg = "%d of %d buckets are not compliant: %s" % (
            len(bad), len(buckets), ", ".join(bad[:20]) + (" ..." if len(bad) > 20 else ""))
    outcome.diff = diff
    outcome.report_meta = {"mode": mode, "counts": counts}
    return outcome


def run(ctl):
    """The module's run function: ``ctl`` is the AWSControlModule."""
    params = ctl.params
    if not params["all_buckets"] and not params["buckets"]:
        raise InputError("give the buckets to check in buckets, or set all_buckets: true")
    if params["concurrency"] < 1 or params["concurrency"] > 128:
        raise InputError("concurrency must be between 1 and 128, got %d" % params["concurrency"])
    req = Requirements(sse_algorithm=params["sse_algorithm"], kms_key_ids=params["kms_key_ids"],
                       bucket_key=params["bucket_key"], secure_transport=params["secure_transport"],
                       deny_unencrypted_uploads=params["deny_unencrypted_uploads"],
                       block_sse_c=params["block_sse_c"], public_access_block=params["public_access_block"])
    if params.get("organization") and not params["all_buckets"]:
        raise InputError("organization needs all_buckets: true (narrow with include/exclude); a bucket lives in one "
                         "account, so check named buckets without organization")
    clients = Clients(ctl.module, max_pool=params["concurrency"])

    def audit(account_clients):
        return assert_buckets(account_clients, req, names=params["buckets"], all_buckets=params["all_buckets"],
                              include=params["include"], exclude=params["exclude"], mode=params["mode"],
                              check_mode=ctl.check_mode, concurrency=params["concurrency"])
    if params.get("organization"):  # every account in check mode too: audit/enforce gets ctl.check_mode
        outcome = organizations.fan_out(params["organization"], clients, audit, "buckets", per_account=("buckets",),
                                        empty={"buckets": [], "counts": dict.fromkeys(
                                            ("total", "compliant", "noncompliant", "fixed", "unknown"), 0)})
    else:
        outcome = audit(clients)
    if not (ctl.diff_mode and outcome.changed):
        outcome.diff = None
    return outcome


def _diffable(state):
    if state is None:
        return {}
    return {"encryption": state.get("encryption"), "policy": state.get("policy"),
            "public_access_block": state.get("public_access_block")}
