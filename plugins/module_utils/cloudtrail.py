# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hunt CloudTrail events for high-risk activity (control ``cloudtrail_hunt``).

Sources:

* ``lookup_events``: the CloudTrail LookupEvents API, per region (every enabled region by default),
  at most 50 events per page, one lookup attribute per call, rate-limited to 2 requests/s per region
  (token bucket) with amazon.aws's jittered backoff on throttling; every page is followed. A region
  whose lookups fail is reported as incomplete coverage, never silently skipped.
* ``s3``: a trail's log archive (``[prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/``),
  listed per day of the window, downloaded by a bounded thread pool and parsed by worker processes.
* ``local``: ``.json.gz`` / ``.json`` CloudTrail files or folders (forensics).

Parsing uses isal (gzip) and msgspec (typed decoding of only the fields the matchers need; nested
request/response parameters stay raw until an event's name makes them relevant) when available, and
falls back to the standard library (gzip + json) otherwise.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import gc
import glob
import gzip
import ipaddress
import json
import os
import re
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.ainative.security.plugins.module_utils.core import findings as fmodel
from ansible_collections.ainative.security.plugins.module_utils.cloud.aws import (
    AWSAuditError, BotoCoreError, ClientError, RateLimiter, describe_error)
from ansible_collections.ainative.security.plugins.module_utils.cloudtrail_detections import (
    ATTACK_URL, BY_ID, CATALOGUE)

try:
    from isal import igzip as _igzip
    from isal import isal_zlib as _isal_zlib
    HAS_ISAL = True
except ImportError:
    _igzip = _isal_zlib = None
    HAS_ISAL = False

try:
    import msgspec
    from typing import List, Optional
    HAS_MSGSPEC = True
except ImportError:
    msgspec = None
    HAS_MSGSPEC = False

CONTROL = "cloudtrail_hunt"
LOOKUP_MAX_RESULTS = 50
LOOKUP_RETENTION_DAYS = 90

if HAS_MSGSPEC:
    class _Identity(msgspec.Struct, gc=False):
        type: Optional[str] = None
        invokedBy: Optional[str] = None

    _DECODERS = {}

    def _light_decoder(identity, error, ip):
        """A decoder of log files into structs holding only what the selected detections pre-filter on.

        Fewer fields means fewer strings built per event; a candidate is decoded in full from its raw bytes.
        """
        key = (identity, error, ip)
        if key not in _DECODERS:
            fields = [("eventTime", Optional[str], None), ("eventName", Optional[str], None)]
            if identity:
                fields += [("eventType", Optional[str], None), ("userIdentity", Optional[_Identity], None)]
            if error:
                fields.append(("errorCode", Optional[str], None))
            if ip:
                fields.append(("sourceIPAddress", Optional[str], None))
            light = msgspec.defstruct("_Light", fields, gc=False)
            _DECODERS[key] = msgspec.json.Decoder(msgspec.defstruct("_LightFile", [("Records", List[light], [])], gc=False))
        return _DECODERS[key]

    class _RawFile(msgspec.Struct):
        Records: List[msgspec.Raw] = []

    _RAW_FILE_DECODER = msgspec.json.Decoder(_RawFile)
    _RAW_DECODER = msgspec.json.Decoder()


# --- time window -------------------------------------------------------------------------------

_SINCE = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _utc(dt):
    if dt.tzinfo is None:
        return dt.replace(tzinfo=datetime.timezone.utc)
    return dt.astimezone(datetime.timezone.utc)


def parse_duration(text, what="since"):
    match = _SINCE.match(str(text or ""))
    if not match or int(match.group(1)) <= 0:
        raise AWSAuditError("%s: %r is not a duration; use a number and a unit, e.g. 30m, 24h, 7d, 2w" % (what, text))
    return int(match.group(1)) * _UNITS[match.group(2)]


def parse_time(text, what):
    value = str(text).strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    for fmt in (None, "%Y-%m-%d"):
        try:
            dt = datetime.datetime.fromisoformat(value) if fmt is None else datetime.datetime.strptime(value, fmt)
            return _utc(dt)
        except ValueError:
            continue
    raise AWSAuditError("%s: %r is not an ISO 8601 time (e.g. 2026-11-25T08:00:00Z or 2026-11-25)" % (what, text))


def time_window(since=None, start_time=None, end_time=None, now=None):
    """(start, end) as aware UTC datetimes; ``since`` (24h) or ``start_time``/``end_time``."""
    now = _utc(now or datetime.datetime.now(datetime.timezone.utc))
    end = parse_time(end_time, "end_time") if end_time else now
    if since and start_time:
        raise AWSAuditError("give either since or start_time, not both")
    if start_time:
        start = parse_time(start_time, "start_time")
    else:
        start = end - datetime.timedelta(seconds=parse_duration(since or "24h"))
    if start >= end:
        raise AWSAuditError("the time window is empty: start %s is not before end %s" % (_iso(start), _iso(end)))
    if start > now:
        raise AWSAuditError("the time window starts in the future (%s)" % _iso(start))
    return start, end


def _iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(text):
    try:
        return datetime.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=datetime.timezone.utc).timestamp()
    except (TypeError, ValueError):
        return 0.0


# --- selection ---------------------------------------------------------------------------------

def select_detections(ids=None, tags=None, exclude=None):
    """Catalogue entries by id (``all`` = every one) and/or tag; unknown ids or tags are errors."""
    ids = list(ids or [])
    tags = list(tags or [])
    known_tags = set(t for d in CATALOGUE for t in d["tags"])
    unknown = [i for i in ids + list(exclude or []) if i != "all" and i not in BY_ID]
    if unknown:
        raise AWSAuditError("unknown detection id(s): %s; known: %s" % (", ".join(unknown), ", ".join(sorted(BY_ID))))
    bad_tags = [t for t in tags if t not in known_tags]
    if bad_tags:
        raise AWSAuditError("unknown detection tag(s): %s; known: %s" % (", ".join(bad_tags), ", ".join(sorted(known_tags))))
    if not ids and not tags:
        ids = ["all"]
    chosen = []
    for det in CATALOGUE:
        if "all" in ids or det["id"] in ids or set(tags) & set(det["tags"]):
            if det["id"] not in (exclude or []):
                chosen.append(det)
    if not chosen:
        raise AWSAuditError("the selection of detections is empty")
    return chosen


def lookup_event_names(detections):
    """EventName values to query, or None when a selected detection needs every event."""
    names = set()
    for det in detections:
        if det["event_names"] is None:
            return None
        names.update(det["event_names"])
    return sorted(names)


# --- matchers ----------------------------------------------------------------------------------

def _ok(e):
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


def _m_console_login_failure(e):
    return _dig(e, "responseElements.ConsoleLogin") == "Failure" or e.get("errorMessage") == "Failed authentication"


def _m_cloudtrail_tampering(e):
    return e.get("eventSource") == "cloudtrail.amazonaws.com" and _ok(e)


def _m_guardduty_disabled(e):
    if e.get("eventSource") != "guardduty.amazonaws.com" or not _ok(e):
        return False
    if e.get("eventName") == "DeleteDetector":
        return True
    return _falsy(_dig(e, "requestParameters.enable")) if _dig(e, "requestParameters.enable") is not None else False


def _m_guardduty_ipset(e):
    return e.get("eventSource") == "guardduty.amazonaws.com" and _ok(e)


def _m_access_key_other_user(e):
    if e.get("eventSource") != "iam.amazonaws.com" or not _ok(e):
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
    if not _ok(e):
        return False
    for key, value in _walk(e.get("requestParameters") or {}):
        if (key == "cidrIp" and value == "0.0.0.0/0") or (key == "cidrIpv6" and value == "::/0"):
            return True
    return False


_PUBLIC_GROUPS = ("http://acs.amazonaws.com/groups/global/AllUsers",
                  "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")
_PUBLIC_CANNED = ("public-read", "public-read-write", "authenticated-read")


def _m_bucket_acl_public(e):
    if not _ok(e):
        return False
    for key, value in _walk(e.get("requestParameters") or {}):
        if key == "URI" and value in _PUBLIC_GROUPS:
            return True
        if key == "x-amz-acl" and any(v in _PUBLIC_CANNED for v in (value if isinstance(value, list) else [value])):
            return True
    return False


def _m_bucket_policy_public(e):
    if not _ok(e):
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
    if not _ok(e):
        return False
    if e.get("eventName", "").startswith("Delete"):
        return True
    for key, value in _walk(e.get("requestParameters") or {}):
        if key in _PAB_FLAGS and _falsy(value):
            return True
    return False


def _m_s3_encryption_removed(e):
    return e.get("eventSource") == "s3.amazonaws.com" and _ok(e)


def _m_kms(e):
    return e.get("eventSource") == "kms.amazonaws.com" and _ok(e)


def _m_logging_disrupted(e):
    if not _ok(e):
        return False
    return e.get("eventName") == "DeleteFlowLogs" or e.get("eventSource") == "config.amazonaws.com"


def _m_ebs(e):
    return e.get("eventSource") == "ec2.amazonaws.com" and _ok(e)


MATCHERS = {
    "console_login_without_mfa": _m_console_login_without_mfa,
    "console_login_failure": _m_console_login_failure,
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


class ScanSpec:
    """What a worker needs to scan records: window, selected detections, allowed networks (picklable)."""

    def __init__(self, detection_ids, start, end, allowed_cidrs=None, parser="auto"):
        self.ids = set(detection_ids)
        self.start = _iso(start)
        self.end = _iso(end)
        self.allowed_cidrs = list(allowed_cidrs or [])
        self.parser = parser
        by_name = {}
        for det_id in self.ids:
            det = BY_ID[det_id]
            if det_id in MATCHERS and det["event_names"]:
                for name in det["event_names"]:
                    by_name.setdefault(name, []).append(det_id)
        if "console_login_brute_force" in self.ids:
            by_name.setdefault("ConsoleLogin", [])
        self.by_name = by_name
        self.root = "root_account_usage" in self.ids
        self.unauthorized = "unauthorized_api_burst" in self.ids
        self.brute = "console_login_brute_force" in self.ids
        self.failure = "console_login_failure" in self.ids
        self.network = "api_call_from_untrusted_network" in self.ids and bool(self.allowed_cidrs)


def _summary(e, source):
    ident = e.get("userIdentity")
    if not isinstance(ident, dict):
        ident = {}
    principal = ident.get("arn") or ("%s:%s" % (ident.get("type"), ident.get("userName") or ident.get("principalId")))
    return {
        "event_id": e.get("eventID"),
        "event_time": e.get("eventTime"),
        "event_name": e.get("eventName"),
        "event_source": e.get("eventSource"),
        "principal": principal,
        "principal_type": ident.get("type"),
        "source_ip": e.get("sourceIPAddress"),
        "region": e.get("awsRegion"),
        "account": e.get("recipientAccountId") or ident.get("accountId"),
        "user_agent": str(e.get("userAgent") or "")[:200] or None,
        "error_code": e.get("errorCode"),
        "source": source,
    }


class _Partial:
    """What one worker found; merged by the parent."""

    def __init__(self):
        self.events = 0
        self.in_window = 0
        self.files = 0
        self.matches = []          # (detection id, summary)
        self.failures = []         # (group, time, summary) for brute force
        self.unauthorized = []     # (group, time, summary)
        self.network = {}          # (principal, ip) -> [count, first, last, summary]
        self.errors = []           # (source, reason)
        self.parser = None

    def merge(self, other):
        self.events += other.events
        self.in_window += other.in_window
        self.files += other.files
        self.matches.extend(other.matches)
        self.failures.extend(other.failures)
        self.unauthorized.extend(other.unauthorized)
        for key, val in other.network.items():
            cur = self.network.get(key)
            if cur is None:
                self.network[key] = val
            else:
                cur[0] += val[0]
                cur[1] = min(cur[1], val[1])
                cur[2] = max(cur[2], val[2])
        self.errors.extend(other.errors)
        self.parser = self.parser or other.parser
        return self


def _networks(cidrs):
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def _principal_key(ident):
    if not isinstance(ident, dict):
        ident = {}
    if ident.get("type") == "Root":
        return "root@%s" % (ident.get("accountId") or "?")
    return ident.get("userName") or ident.get("arn") or ident.get("principalId") or "unknown"


class _NetCheck:
    def __init__(self, cidrs):
        self.nets = _networks(cidrs)
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


def _hit(full, etime, candidates, is_root, is_unauth, untrusted_ip, spec, source, partial):
    """Run the matchers of one candidate event (a plain dict) and record what fired."""
    summary = None
    if candidates:
        for det_id in candidates:
            if MATCHERS[det_id](full):
                summary = summary or _summary(full, source)
                partial.matches.append((det_id, summary))
        if spec.brute and full.get("eventName") == "ConsoleLogin" and _m_console_login_failure(full):
            summary = summary or _summary(full, source)
            partial.failures.append((_principal_key(full.get("userIdentity")), etime, summary))
    if is_root:
        summary = summary or _summary(full, source)
        partial.matches.append(("root_account_usage", summary))
    if is_unauth:
        summary = summary or _summary(full, source)
        ident = full.get("userIdentity") or {}
        partial.unauthorized.append((ident.get("arn") or ident.get("principalId") or "unknown", etime, summary))
    if untrusted_ip:
        summary = summary or _summary(full, source)
        key = (summary["principal"], untrusted_ip)
        cur = partial.network.get(key)
        if cur is None:
            partial.network[key] = [1, etime, etime, summary]
        else:
            cur[0] += 1
            cur[1] = min(cur[1], etime)
            cur[2] = max(cur[2], etime)


def _text(value):
    return value if isinstance(value, str) else None


def scan_records(records, spec, source, partial, typed, net=None):
    """Run the selected detections over ``records``; add hits to ``partial``.

    ``typed``: the file's JSON bytes when ``records`` are msgspec structs holding only what the pre-filter
    needs (events that may match are then decoded in full from those bytes); otherwise None and
    ``records`` are plain dicts.
    """
    start, end, by_name = spec.start, spec.end, spec.by_name
    root, unauth = spec.root, spec.unauthorized
    if spec.network and net is None:
        net = _NetCheck(spec.allowed_cidrs)
    cache = net.cache if net is not None else None
    partial.events += len(records)
    in_window = 0
    if typed:
        hits = []
        need_ident = root or cache is not None
        for index, r in enumerate(records):
            etime = r.eventTime
            if not etime or etime < start or etime > end:
                continue
            in_window += 1
            candidates = by_name.get(r.eventName)
            is_root = is_unauth = False
            untrusted_ip = None
            if need_ident:
                ident = r.userIdentity
                invoked = ident.invokedBy if ident is not None else None
                is_root = root and ident is not None and ident.type == "Root" and r.eventType != "AwsServiceEvent" \
                    and not invoked
                if cache is not None and not invoked:
                    ip = r.sourceIPAddress
                    bad = cache.get(ip)
                    if bad is None:
                        bad = net.untrusted(ip)
                    if bad:
                        untrusted_ip = ip
            if unauth:
                code = r.errorCode
                is_unauth = code is not None and (code.endswith("UnauthorizedOperation") or code.startswith("AccessDenied"))
            if candidates is None and not (is_root or is_unauth or untrusted_ip):
                continue
            hits.append((index, etime, candidates, is_root, is_unauth, untrusted_ip))
        if hits:
            # only now read the full events: the raw bytes of each record, decoded one by one
            raws = _RAW_FILE_DECODER.decode(typed).Records
            for index, etime, candidates, is_root, is_unauth, untrusted_ip in hits:
                full = _RAW_DECODER.decode(raws[index])
                if isinstance(full, dict):
                    _hit(full, etime, candidates, is_root, is_unauth, untrusted_ip, spec, source, partial)
        partial.in_window += in_window
        return partial
    for rec in records:
        etime = rec.get("eventTime")
        if not isinstance(etime, str) or etime < start or etime > end:
            continue
        name, code, ip = (_text(rec.get(k)) for k in ("eventName", "errorCode", "sourceIPAddress"))
        ident = rec.get("userIdentity")
        if not isinstance(ident, dict):
            ident = {}
        itype, invoked = ident.get("type"), ident.get("invokedBy")
        in_window += 1
        candidates = by_name.get(name)
        is_root = root and itype == "Root" and rec.get("eventType") != "AwsServiceEvent" and not invoked
        is_unauth = unauth and code and (code.endswith("UnauthorizedOperation") or code.startswith("AccessDenied"))
        untrusted_ip = None
        if cache is not None and ip and not invoked and net.untrusted(ip):
            untrusted_ip = ip
        if candidates is None and not (is_root or is_unauth or untrusted_ip):
            continue
        _hit(rec, etime, candidates, is_root, is_unauth, untrusted_ip, spec, source, partial)
    partial.in_window += in_window
    return partial


# --- parsing files -----------------------------------------------------------------------------

_GZIP_ERRORS = (OSError, EOFError, zlib.error, ValueError) + ((_isal_zlib.error,) if HAS_ISAL else ())


def _decompress(data):
    if data[:2] != b"\x1f\x8b":
        return data
    if HAS_ISAL:
        # One gzip member is the norm for CloudTrail; the zlib-level call skips igzip's stream reader.
        inflater = _isal_zlib.decompressobj(31)
        out = inflater.decompress(data)
        if inflater.eof and not inflater.unused_data:
            return out
        return _igzip.decompress(data)  # several members, or truncated: let igzip read (or reject) it all
    return gzip.decompress(data)


def _parser_for(spec):
    if spec.parser == "json" or not HAS_MSGSPEC:
        return "json"
    return "msgspec"


def parse_blob(data, spec, source, partial, net=None):
    """Decompress and scan one CloudTrail log file's bytes; a damaged file is recorded, not fatal."""
    try:
        raw = _decompress(data)
    except _GZIP_ERRORS as exc:
        partial.errors.append((source, "not a readable gzip file: %s" % exc))
        return partial
    parser = _parser_for(spec)
    partial.files += 1
    if parser == "msgspec":
        try:
            records = _light_decoder(spec.root or spec.network, spec.unauthorized, spec.network).decode(raw).Records
        except (msgspec.DecodeError, msgspec.ValidationError):
            records = None  # not the usual shape: the untyped parser below says what is wrong
        if records is not None:
            partial.parser = "msgspec+%s" % ("isal" if HAS_ISAL else "zlib")
            return scan_records(records, spec, source, partial, raw, net)
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        partial.errors.append((source, "not CloudTrail JSON: %s" % exc))
        return partial
    records = doc.get("Records") if isinstance(doc, dict) else None
    if not isinstance(records, list):
        partial.errors.append((source, "no Records list (not a CloudTrail log file)"))
        return partial
    partial.parser = partial.parser or "json+%s" % ("isal" if HAS_ISAL else "zlib")
    return scan_records([r for r in records if isinstance(r, dict)], spec, source, partial, None, net)


def _read(path):
    try:
        with open(path, "rb") as handle:
            return path, handle.read(), None
    except (IOError, OSError) as exc:
        return path, None, "cannot read: %s" % exc


def _scan_items(items, spec, load):
    """Scan (source, item) pairs; ``load(item) -> (source, bytes or None, error)``."""
    was_enabled = gc.isenabled()
    gc.disable()  # millions of short-lived objects and no cycles: collection passes only cost time
    try:
        partial = _Partial()
        net = _NetCheck(spec.allowed_cidrs) if spec.network else None
        for item in items:
            source, data, err = load(item)
            if err:
                partial.errors.append((source, err))
                continue
            parse_blob(data, spec, source, partial, net)
        return partial
    finally:
        if was_enabled:
            gc.enable()


def _scan_paths(paths, spec):
    return _scan_items(paths, spec, _read)


def _scan_blobs(blobs, spec):
    return _scan_items(blobs, spec, lambda blob: (blob[0], blob[1], None))


def _chunks(items, parts):
    parts = max(1, min(parts, len(items)))
    return [items[i::parts] for i in range(parts)]


def _process_pool(workers):
    if workers <= 1:
        return None
    try:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))
    except (ImportError, ValueError, OSError):
        return None


def default_workers(workers):
    if workers and workers > 0:
        return workers
    return max(1, min(os.cpu_count() or 1, 8))


def expand_paths(paths):
    """Files named, matched by glob, or found (``*.json.gz``/``*.json``) under folders, sorted."""
    out = []
    for item in paths:
        matches = sorted(glob.glob(item)) if any(c in item for c in "*?[") else [item]
        if not matches:
            raise AWSAuditError("paths: %r matches no file" % item)
        for path in matches:
            if os.path.isdir(path):
                for dirpath, dirnames, filenames in os.walk(path):
                    dirnames.sort()
                    for fname in sorted(filenames):
                        if fname.endswith(".json.gz") or fname.endswith(".json"):
                            out.append(os.path.join(dirpath, fname))
            elif os.path.isfile(path):
                out.append(path)
            else:
                raise AWSAuditError("paths: %s does not exist" % path)
    return out


def scan_local(paths, spec, workers):
    files = expand_paths(paths)
    total = _Partial()
    workers = min(default_workers(workers), max(1, len(files)))
    pool = _process_pool(workers) if len(files) > 1 else None
    if pool is None:
        return _scan_paths(files, spec), len(files)
    try:
        # Several chunks per worker keeps both cores busy when file sizes differ.
        chunks = _chunks(files, workers * 4)
        for part in pool.map(_scan_paths, chunks, [spec] * len(chunks)):
            total.merge(part)
    finally:
        pool.shutdown()
    return total, len(files)


# --- S3 log archive ----------------------------------------------------------------------------

_ACCOUNT = re.compile(r"^\d{12}$")
_ORG = re.compile(r"^o-[a-z0-9]{10,32}$")
_FILE_TS = re.compile(r"_(\d{8}T\d{4})Z_")


def _list_prefixes(s3, bucket, prefix):
    out, token = [], None
    while True:
        kwargs = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/"}
        if token:
            kwargs["ContinuationToken"] = token
        page = s3.list_objects_v2(aws_retry=True, **kwargs)
        out.extend(p["Prefix"][len(prefix):].rstrip("/") for p in page.get("CommonPrefixes", []))
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return out


def _list_keys(s3, bucket, prefix):
    out, token = [], None
    while True:
        kwargs = {"Bucket": bucket, "Prefix": prefix}
        if token:
            kwargs["ContinuationToken"] = token
        page = s3.list_objects_v2(aws_retry=True, **kwargs)
        out.extend((o["Key"], o.get("Size", 0)) for o in page.get("Contents", []))
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return out


def _days(start, end):
    day = start.date()
    last = (end + datetime.timedelta(hours=1)).date()
    while day <= last:
        yield day
        day += datetime.timedelta(days=1)


def archive_keys(s3, bucket, prefix, start, end, accounts=None, organization_id=None, regions=None,
                 concurrency=16):
    """Log file keys of the window: discovers org/account/region prefixes, lists one prefix per day.

    Returns (keys, coverage) where coverage lists every (account, region) with complete True/False.
    """
    root = (prefix.strip("/") + "/" if prefix and prefix.strip("/") else "") + "AWSLogs/"
    try:
        top = _list_prefixes(s3, bucket, root)
    except (BotoCoreError, ClientError) as exc:
        raise AWSAuditError(describe_error(exc, "listing s3://%s/%s" % (bucket, root)))
    bases = []  # (account prefix, account id, org id)
    for entry in top:
        if _ORG.match(entry):
            if organization_id and entry != organization_id:
                continue
            try:
                for acct in _list_prefixes(s3, bucket, root + entry + "/"):
                    if _ACCOUNT.match(acct):
                        bases.append((root + entry + "/" + acct + "/", acct, entry))
            except (BotoCoreError, ClientError) as exc:
                raise AWSAuditError(describe_error(exc, "listing s3://%s/%s%s/" % (bucket, root, entry)))
        elif _ACCOUNT.match(entry) and not organization_id:
            bases.append((root + entry + "/", entry, None))
    if accounts:
        bases = [b for b in bases if b[1] in accounts]
    if not bases:
        raise AWSAuditError("no CloudTrail logs under s3://%s/%s%s; check bucket, prefix, organization_id and accounts"
                            % (bucket, root, organization_id + "/" if organization_id else ""))
    targets = []
    for base, acct, org in bases:
        try:
            found = _list_prefixes(s3, bucket, base + "CloudTrail/")
        except (BotoCoreError, ClientError) as exc:
            raise AWSAuditError(describe_error(exc, "listing s3://%s/%sCloudTrail/" % (bucket, base)))
        for region in found:
            if not regions or region in regions:
                targets.append((base + "CloudTrail/" + region + "/", acct, org, region))
    lo = start.strftime("%Y%m%dT%H%M")
    hi = (end + datetime.timedelta(hours=1)).strftime("%Y%m%dT%H%M")
    jobs = [(t, day) for t in targets for day in _days(start, end)]

    def list_day(job):
        (pfx, acct, org, region), day = job
        try:
            keys = _list_keys(s3, bucket, pfx + day.strftime("%Y/%m/%d/"))
        except (BotoCoreError, ClientError) as exc:
            return (acct, region), None, describe_error(exc, "listing s3://%s/%s%s" % (bucket, pfx, day.strftime("%Y/%m/%d/")))
        keep = []
        for key, size in keys:
            m = _FILE_TS.search(key.rsplit("/", 1)[-1])
            # the file's timestamp is its delivery time: records are older, never newer
            if m and (m.group(1) < lo or m.group(1) > hi):
                continue
            keep.append((key, size))
        return (acct, region), keep, None

    coverage = {}
    keys = []
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(jobs) or 1))) as pool:
        for target, keep, err in pool.map(list_day, jobs):
            entry = coverage.setdefault(target, {"source": "s3", "account": target[0], "region": target[1],
                                                 "complete": True, "errors": []})
            if err:
                entry["complete"] = False
                entry["errors"].append(err)
            else:
                keys.extend(keep)
    return keys, list(coverage.values())


def scan_s3(s3, bucket, keys, spec, workers, concurrency):
    """Download ``keys`` with a bounded thread pool and parse them in worker processes."""
    total = _Partial()
    errors = []
    workers = default_workers(workers)
    pool = _process_pool(workers) if len(keys) > 1 else None
    batch_bytes = 4 * 1024 * 1024
    lock = threading.Lock()
    futures = []
    pending = {"blobs": [], "size": 0}

    def flush():
        blobs, pending["blobs"], pending["size"] = pending["blobs"], [], 0
        if not blobs:
            return
        if pool is None:
            total.merge(_scan_blobs(blobs, spec))
        else:
            futures.append(pool.submit(_scan_blobs, blobs, spec))

    def fetch(item):
        key = item[0]
        try:
            body = s3.get_object(aws_retry=True, Bucket=bucket, Key=key)["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            return key, None, describe_error(exc, "s3:GetObject s3://%s/%s" % (bucket, key))
        return key, body, None

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(keys) or 1))) as io_pool:
            for key, body, err in io_pool.map(fetch, keys):
                if err:
                    errors.append((key, err))
                    continue
                with lock:
                    pending["blobs"].append(("s3://%s/%s" % (bucket, key), body))
                    pending["size"] += len(body)
                    if pending["size"] >= batch_bytes:
                        flush()
        flush()
        for fut in futures:
            total.merge(fut.result())
    finally:
        if pool is not None:
            pool.shutdown()
    total.errors.extend(errors)
    return total


# --- LookupEvents ------------------------------------------------------------------------------

def lookup_region(client, region, names, start, end, limiter, max_events=None):
    """All events of ``region`` in the window (one EventName attribute per call, every page).

    Returns (records, error or None, calls). ``client`` is amazon.aws's retrying wrapper.
    """
    records, calls = [], 0
    seen = set()
    queries = [None] if names is None else [{"AttributeKey": "EventName", "AttributeValue": n} for n in names]
    try:
        for attribute in queries:
            token = None
            while True:
                kwargs = {"StartTime": start, "EndTime": end, "MaxResults": LOOKUP_MAX_RESULTS}
                if attribute:
                    kwargs["LookupAttributes"] = [attribute]
                if token:
                    kwargs["NextToken"] = token
                limiter.acquire()
                calls += 1
                page = client.lookup_events(aws_retry=True, **kwargs)
                for event in page.get("Events", []):
                    if event.get("EventId") in seen:
                        continue
                    seen.add(event.get("EventId"))
                    try:
                        rec = json.loads(event.get("CloudTrailEvent") or "{}")
                    except ValueError:
                        continue
                    if isinstance(rec, dict):
                        records.append(rec)
                token = page.get("NextToken")
                if not token:
                    break
                if max_events and len(records) >= max_events:
                    return records, "stopped after max_lookup_events=%d events; coverage is partial" % max_events, calls
    except (BotoCoreError, ClientError) as exc:
        return records, describe_error(exc, "cloudtrail:LookupEvents in %s" % region), calls
    return records, None, calls


def scan_lookup(clients, regions, detections, spec, start, end, rate=2.0, concurrency=4, max_events=None):
    names = lookup_event_names(detections)
    total = _Partial()
    coverage = []

    def one(region):
        limiter = RateLimiter(rate)  # the quota is per account and region
        try:
            client = clients.client("cloudtrail", region)
        except AWSAuditError as exc:
            return region, [], exc.msg, 0
        records, err, calls = lookup_region(client, region, names, start, end, limiter, max_events)
        return region, records, err, calls

    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(regions) or 1))) as pool:
        for region, records, err, calls in pool.map(one, regions):
            part = _Partial()
            part.parser = "json (LookupEvents)"
            scan_records(records, spec, "lookup_events:%s" % region, part, None)
            total.merge(part)
            coverage.append({"source": "lookup_events", "account": None, "region": region, "complete": err is None,
                             "errors": [err] if err else [], "api_calls": calls, "events": len(records)})
    return total, coverage


# --- results -----------------------------------------------------------------------------------

def _sliding(groups, threshold, window):
    """Per group: the largest count of events within ``window`` seconds, if it reaches ``threshold``."""
    out = []
    for group, items in groups.items():
        items.sort(key=lambda x: x[0])
        best, lo = (0, 0, 0), 0
        for hi in range(len(items)):
            while items[hi][0] - items[lo][0] > window:
                lo += 1
            if hi - lo + 1 > best[0]:
                best = (hi - lo + 1, lo, hi)
        if best[0] >= threshold:
            out.append((group, items[best[1]:best[2] + 1]))
    return out


def _finding(det, summary, details=None, resource=None):
    tech = det["technique"]
    info = dict(summary)
    info.update({"detection": det["id"], "technique": tech[0], "technique_name": tech[1], "tactic": tech[2],
                 "condition": det["condition"]})
    if details:
        info.update(details)
    target = "%s/%s" % (summary.get("account") or "unknown-account", summary.get("region") or "unknown-region")
    return fmodel.make_finding(CONTROL, "detection", det["id"], det["severity"], det["title"], target=target,
                               location={"resource": resource or summary.get("event_id"),
                                         "path": summary.get("source")},
                               url=ATTACK_URL % tech[0].replace(".", "/"), details=info)


def build_findings(partial, detections, brute_threshold=10, unauthorized_threshold=10, burst_window=600,
                   sample=10):
    selected = dict((d["id"], d) for d in detections)
    found = []
    seen = set()
    for det_id, summary in partial.matches:
        if det_id not in selected:
            continue
        key = (det_id, summary.get("event_id"))
        if key in seen:
            continue
        seen.add(key)
        found.append(_finding(selected[det_id], summary))
    for det_id, items, threshold in (("console_login_brute_force", partial.failures, brute_threshold),
                                     ("unauthorized_api_burst", partial.unauthorized, unauthorized_threshold)):
        if det_id not in selected:
            continue
        groups = {}
        for group, etime, summary in items:
            groups.setdefault(group, []).append((_epoch(etime), summary))
        for group, burst in _sliding(groups, threshold, burst_window):
            first, last = burst[0][1], burst[-1][1]
            found.append(_finding(selected[det_id], last, resource=group, details={
                "count": len(burst), "threshold": threshold, "window_seconds": burst_window,
                "first_time": first["event_time"], "last_time": last["event_time"],
                "group": group, "event_ids": [item[1]["event_id"] for item in burst[:sample]],
                "source_ips": sorted(set(item[1]["source_ip"] for item in burst if item[1]["source_ip"]))[:sample]}))
    if "api_call_from_untrusted_network" in selected:
        for (principal, ip), (count, first, last, summary) in sorted(partial.network.items()):
            found.append(_finding(selected["api_call_from_untrusted_network"], summary,
                                  resource="%s@%s" % (principal, ip),
                                  details={"count": count, "first_time": first, "last_time": last}))
    return fmodel.sort_findings(found)


def hunt(params, clients=None, now=None):
    """Run a hunt from module parameters; returns the module's result fields."""
    detections = select_detections(params.get("detections"), params.get("tags"), params.get("exclude_detections"))
    start, end = time_window(params.get("since"), params.get("start_time"), params.get("end_time"), now=now)
    for cidr in params.get("allowed_cidrs") or []:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise AWSAuditError("allowed_cidrs: %r is not an IPv4/IPv6 network (e.g. 203.0.113.0/24)" % cidr)
    burst_window = parse_duration(params.get("burst_window") or "10m", "burst_window")
    spec = ScanSpec([d["id"] for d in detections], start, end, params.get("allowed_cidrs"),
                    params.get("parser") or "auto")
    if spec.parser == "msgspec" and not HAS_MSGSPEC:
        raise AWSAuditError("parser: msgspec is not installed on the host; use parser: auto or json, or pip install msgspec")
    notes = []
    if "api_call_from_untrusted_network" in spec.ids and not spec.allowed_cidrs:
        notes.append("api_call_from_untrusted_network is inactive: set allowed_cidrs")
    source = params["source"]
    files = 0
    if source == "local":
        partial, files = scan_local(params.get("paths") or [], spec, params.get("workers") or 0)
        coverage = [{"source": "local", "account": None, "region": None, "complete": not partial.errors,
                     "errors": ["%s: %s" % e for e in partial.errors[:20]]}]
    elif source == "s3":
        clients.account_id()
        s3 = clients.client("s3")
        keys, coverage = archive_keys(s3, params["bucket"], params.get("prefix"), start, end,
                                      params.get("accounts"), params.get("organization_id"), params.get("regions"),
                                      params.get("concurrency") or 16)
        partial = scan_s3(s3, params["bucket"], keys, spec, params.get("workers") or 0, params.get("concurrency") or 16)
        files = len(keys)
        if partial.errors:
            coverage.append({"source": "s3", "account": None, "region": None, "complete": False,
                             "errors": ["%s: %s" % e for e in partial.errors[:20]]})
    else:
        clients.account_id()
        if end - start > datetime.timedelta(days=LOOKUP_RETENTION_DAYS):
            notes.append("LookupEvents keeps %d days of events; older parts of the window are not covered"
                         % LOOKUP_RETENTION_DAYS)
        regions = params.get("regions") or clients.enabled_regions()
        partial, coverage = scan_lookup(clients, regions, detections, spec, start, end,
                                        rate=params.get("lookup_rate") or 2.0,
                                        concurrency=params.get("concurrency") or 4,
                                        max_events=params.get("max_lookup_events"))
    all_findings = build_findings(partial, detections, params.get("brute_force_threshold") or 10,
                                  params.get("unauthorized_threshold") or 10, burst_window)
    counts = dict((d["id"], 0) for d in detections)
    for f in all_findings:
        counts[f["id"]] += 1
    shown, truncated = fmodel.bounded(all_findings, params.get("max_findings"))
    if truncated:
        notes.append("findings truncated to max_findings=%d of %d (counts and summary cover all)"
                     % (params.get("max_findings"), len(all_findings)))
    complete = all(c["complete"] for c in coverage)
    if not complete:
        notes.append("coverage is incomplete: %s" % "; ".join(
            "%s%s: %s" % (c.get("account") + "/" if c.get("account") else "", c.get("region") or c["source"],
                          (c["errors"] or ["?"])[0]) for c in coverage if not c["complete"])[:2000])
    return {
        "findings": shown,
        "summary": fmodel.summarize(all_findings),
        "counts": counts,
        "window": {"start": _iso(start), "end": _iso(end)},
        "detections": [dict((k, d[k]) for k in ("id", "title", "severity", "tags")) for d in detections],
        "events_scanned": partial.events,
        "events_in_window": partial.in_window,
        "files_scanned": files,
        "coverage": coverage,
        "coverage_complete": complete,
        "parser": partial.parser or _parser_for(spec),
        "notes": notes,
        "_all_findings": all_findings,
    }


def list_catalogue():
    return [dict((k, d[k]) for k in ("id", "title", "severity", "tags", "event_names", "condition"))
            for d in CATALOGUE]
