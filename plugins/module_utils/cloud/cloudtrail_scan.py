# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scanning CloudTrail records and log files, and turning hits into findings (``cloudtrail_hunt``).

Parsing uses isal (gzip) and msgspec (typed decoding of only the fields the pre-filter needs; an event
that may match is then decoded in full from its raw bytes) when available, and falls back to the
standard library (gzip + json) otherwise. A file that is not a CloudTrail log (no ``Records`` list,
not JSON, not gzip) is an error for either parser, never an empty log.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gc
import gzip
import json
import zlib

from ansible_collections.ainative.security.plugins.module_utils.core import findings as fmodel
from ansible_collections.ainative.security.plugins.module_utils.cloud.cloudtrail_detections import (
    ATTACK_URL, BUILTIN_RULES, THRESHOLD_OPTIONS)
from ansible_collections.ainative.security.plugins.module_utils.cloud.cloudtrail_matchers import (
    MATCHERS, NetCheck, console_login_failure, principal_key)
from ansible_collections.ainative.security.plugins.module_utils.cloud.sigma_engine import compile_node, field_values
from ansible_collections.ainative.security.plugins.module_utils.cloud.cloudtrail_window import epoch, iso

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

if HAS_MSGSPEC:
    class _Identity(msgspec.Struct, gc=False):
        type: Optional[str] = None
        invokedBy: Optional[str] = None

    _DECODERS = {}

    def _light_decoder(identity, error, ip, source=False):
        """A decoder of log files into structs holding only what the selected detections pre-filter on.

        Fewer fields means fewer strings built per event; a candidate is decoded in full from its raw bytes.
        """
        key = (identity, error, ip, source)
        if key not in _DECODERS:
            fields = [("eventTime", Optional[str], None), ("eventName", Optional[str], None)]
            if identity:
                fields += [("eventType", Optional[str], None), ("userIdentity", Optional[_Identity], None)]
            if error:
                fields.append(("errorCode", Optional[str], None))
            if ip:
                fields.append(("sourceIPAddress", Optional[str], None))
            if source:
                fields.append(("eventSource", Optional[str], None))
            light = msgspec.defstruct("_Light", fields, gc=False)
            # Records is required: a JSON file without it is not a log file (a digest, other JSON)
            _DECODERS[key] = msgspec.json.Decoder(msgspec.defstruct("_LightFile", [("Records", List[light])], gc=False))
        return _DECODERS[key]

    class _RawFile(msgspec.Struct):
        Records: List[msgspec.Raw] = []

    _RAW_FILE_DECODER = msgspec.json.Decoder(_RawFile)
    _RAW_DECODER = msgspec.json.Decoder()


class ScanSpec:
    """What a worker needs to scan records: window, selected detections, allowed networks (picklable)."""

    def __init__(self, detection_ids, start, end, allowed_cidrs=None, parser="auto", rules=None):
        self.ids = set(detection_ids)
        self.start = iso(start)
        self.end = iso(end)
        self.allowed_cidrs = list(allowed_cidrs or [])
        self.parser = parser
        known = dict(BUILTIN_RULES)
        known.update((d["id"], d["rule"]) for d in rules or [])
        # Sigma event_count correlations (besides the two threshold detections): the rules they count
        self.feeds = {}
        for det_id in self.ids:
            corr = known[det_id]["correlation"]
            if corr and det_id not in THRESHOLD_OPTIONS:
                for base in corr["rules"]:
                    self.feeds.setdefault(base, []).append((det_id, corr["group_by"]))
        scanned = self.ids | set(self.feeds)
        # a user's Sigma rules, compiled lazily in each worker process
        self.user_rules = dict((i, known[i]["condition"]) for i in scanned if i not in MATCHERS and known[i]["condition"])
        self._matchers = {}
        by_name, by_source = {}, {}
        every = []  # user rules that pin neither eventName nor eventSource: every event is a candidate
        for det_id in scanned:
            names = known[det_id]["event_names"]
            sources = known[det_id].get("event_sources")
            if (det_id in MATCHERS or det_id in self.user_rules) and names:
                for name in names:
                    by_name.setdefault(name, []).append(det_id)
            elif det_id in self.user_rules and sources:
                for source in sources:
                    by_source.setdefault(source, []).append(det_id)
            elif det_id in self.user_rules:
                every.append(det_id)
        self.by_source = by_source or None
        for name in by_name:
            by_name[name].extend(every)
        self.every = every or None
        if "console_login_brute_force" in self.ids:
            by_name.setdefault("ConsoleLogin", [])
        # Sigma equality ignores case: a user's rule may pin "getobject", so its hunts look names up folded
        self.fold = bool(self.user_rules)
        if self.fold:
            by_name, self.by_source = _folded_index(by_name), _folded_index(self.by_source)
        self.by_name = by_name
        self.root = "root_account_usage" in self.ids
        self.unauthorized = "unauthorized_api_burst" in self.ids
        self.brute = "console_login_brute_force" in self.ids
        self.failure = "console_login_failure" in self.ids
        self.network = "api_call_from_untrusted_network" in self.ids and bool(self.allowed_cidrs)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_matchers"] = {}  # compiled functions do not pickle
        return state

    def matcher(self, det_id):
        found = MATCHERS.get(det_id) or self._matchers.get(det_id)
        if found is None:
            found = self._matchers[det_id] = compile_node(self.user_rules[det_id])
        return found


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


class Partial:
    """What one worker found; merged by the parent."""

    def __init__(self):
        self.events = 0
        self.in_window = 0
        self.files = 0              # files read and parsed (a failed file is in errors)
        self.matches = []          # (detection id, summary)
        self.correlated = []       # (correlation id, group, time, summary) for Sigma event_count rules
        self.failures = []         # (group, time, summary) for brute force
        self.unauthorized = []     # (group, time, summary)
        self.network = {}          # (principal, ip) -> [count, first, last, summary]
        self.errors = []           # (source, reason)
        self.parser = None

    def failed(self, source, reason):
        self.errors.append((source, reason))

    def untrusted_call(self, principal, ip, count, first, last, summary):
        """Count ``count`` calls of ``principal`` from the untrusted ``ip`` between ``first`` and ``last``."""
        cur = self.network.get((principal, ip))
        if cur is None:
            self.network[(principal, ip)] = [count, first, last, summary]
        else:
            cur[0] += count
            cur[1] = min(cur[1], first)
            cur[2] = max(cur[2], last)

    def merge(self, other):
        self.events += other.events
        self.in_window += other.in_window
        self.files += other.files
        self.matches.extend(other.matches)
        self.correlated.extend(other.correlated)
        self.failures.extend(other.failures)
        self.unauthorized.extend(other.unauthorized)
        for (principal, ip), (count, first, last, summary) in other.network.items():
            self.untrusted_call(principal, ip, count, first, last, summary)
        self.errors.extend(other.errors)
        self.parser = self.parser or other.parser
        return self


def _hit(full, etime, candidates, is_root, is_unauth, untrusted_ip, spec, source, partial):
    """Run the matchers of one candidate event (a plain dict) and record what fired."""
    summary = None
    if candidates is not None:  # [] still means "ConsoleLogin for brute force"
        for det_id in candidates:
            if spec.matcher(det_id)(full):
                summary = summary or _summary(full, source)
                partial.matches.append((det_id, summary))
                for corr_id, group_by in spec.feeds.get(det_id, ()):
                    partial.correlated.append((corr_id, _group(full, group_by), etime, summary))
        if spec.brute and full.get("eventName") == "ConsoleLogin" and console_login_failure(full):
            summary = summary or _summary(full, source)
            partial.failures.append((principal_key(full.get("userIdentity")), etime, summary))
    if is_root and MATCHERS["root_account_usage"](full):
        summary = summary or _summary(full, source)
        partial.matches.append(("root_account_usage", summary))
    if is_unauth and MATCHERS["unauthorized_call"](full):
        summary = summary or _summary(full, source)
        ident = full.get("userIdentity") or {}
        partial.unauthorized.append((ident.get("arn") or ident.get("principalId") or "unknown", etime, summary))
    if untrusted_ip and MATCHERS["api_call_from_untrusted_network"](full):
        summary = summary or _summary(full, source)
        partial.untrusted_call(summary["principal"], untrusted_ip, 1, etime, etime, summary)


def _folded_index(index):
    """``index`` (value -> rule ids) keyed by the lower-cased value, each rule once; None stays None."""
    if index is None:
        return None
    out = {}
    for value, ids in index.items():
        merged = out.setdefault(value.lower(), [])
        merged.extend(i for i in ids if i not in merged)
    return out


def _group(event, fields):
    """The group-by value of an event, as in a Sigma correlation: each field's first value, or '-'."""
    values = [field_values(event, f) for f in fields]
    return "|".join(str(v[0]) if v else "-" for v in values) or "all"


def _text(value):
    return value if isinstance(value, str) else None


def scan_records(records, spec, source, partial, typed, net=None):
    """Run the selected detections over ``records``; add hits to ``partial``.

    ``typed``: the file's JSON bytes when ``records`` are msgspec structs holding only what the pre-filter
    needs (events that may match are then decoded in full from those bytes); otherwise None and
    ``records`` are plain dicts.
    """
    start, end, by_name, every, by_source = spec.start, spec.end, spec.by_name, spec.every, spec.by_source
    fold = spec.fold
    root, unauth = spec.root, spec.unauthorized
    if spec.network and net is None:
        net = NetCheck(spec.allowed_cidrs)
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
            name, event_source = r.eventName, r.eventSource if by_source else None
            if fold:
                name, event_source = (name or "").lower(), (event_source or "").lower()
            candidates = by_name.get(name, every)
            if by_source and event_source in by_source:
                candidates = (candidates or []) + by_source[event_source]
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
        event_source = _text(rec.get("eventSource")) if by_source else None
        if fold:
            name, event_source = (name or "").lower(), (event_source or "").lower()
        candidates = by_name.get(name, every)
        if by_source and event_source in by_source:
            candidates = (candidates or []) + by_source[event_source]
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


def parser_for(spec):
    if spec.parser == "json" or not HAS_MSGSPEC:
        return "json"
    return "msgspec"


def parse_blob(data, spec, source, partial, net=None):
    """Decompress and scan one CloudTrail log file's bytes; a damaged file is recorded, not fatal."""
    try:
        raw = _decompress(data)
    except _GZIP_ERRORS as exc:
        partial.failed(source, "not a readable gzip file: %s" % exc)
        return partial
    if parser_for(spec) == "msgspec":
        try:
            records = _light_decoder(spec.root or spec.network, spec.unauthorized, spec.network,
                                     bool(spec.by_source)).decode(raw).Records
        except (msgspec.DecodeError, msgspec.ValidationError):
            records = None  # not the usual shape: the untyped parser below says what is wrong
        if records is not None:
            partial.files += 1
            partial.parser = "msgspec+%s" % ("isal" if HAS_ISAL else "zlib")
            return scan_records(records, spec, source, partial, raw, net)
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        partial.failed(source, "not CloudTrail JSON: %s" % exc)
        return partial
    records = doc.get("Records") if isinstance(doc, dict) else None
    if not isinstance(records, list):
        partial.failed(source, "no Records list (not a CloudTrail log file)")
        return partial
    partial.files += 1
    partial.parser = partial.parser or "json+%s" % ("isal" if HAS_ISAL else "zlib")
    return scan_records([r for r in records if isinstance(r, dict)], spec, source, partial, None, net)


def scan_items(items, spec, load):
    """Scan items one by one; ``load(item) -> (source, bytes or None, error)``."""
    was_enabled = gc.isenabled()
    gc.disable()  # millions of short-lived objects and no cycles: collection passes only cost time
    try:
        partial = Partial()
        net = NetCheck(spec.allowed_cidrs) if spec.network else None
        for item in items:
            source, data, err = load(item)
            if err:
                partial.failed(source, err)
                continue
            parse_blob(data, spec, source, partial, net)
        return partial
    finally:
        if was_enabled:
            gc.enable()


# --- findings ----------------------------------------------------------------------------------

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


def _finding(det, summary, details=None, resource=None, target=None):
    tech = det["technique"]
    info = dict(summary)
    info.update({"detection": det["id"], "technique": tech[0], "technique_name": tech[1], "tactic": tech[2],
                 "condition": det["condition"], "rule_id": det["rule_id"], "level": det["level"],
                 "falsepositives": det["falsepositives"]})
    if details:
        info.update(details)
    target = target or "%s/%s" % (summary.get("account") or "unknown-account", summary.get("region") or "unknown-region")
    return fmodel.make_finding(CONTROL, "detection", det["id"], det["severity"], det["title"], target=target,
                               location={"resource": resource or summary.get("event_id"),
                                         "path": summary.get("source")},
                               url=ATTACK_URL % tech[0].replace(".", "/") if tech[0] else None, details=info)


def build_findings(partial, detections, brute_threshold=10, unauthorized_threshold=10, burst_window=600,
                   evidence_limit=0):
    """Findings of the hits in ``partial``; a threshold finding keeps every event id of its burst (at most
    ``evidence_limit``, 0 = all) and the count."""
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
            groups.setdefault(group, []).append((epoch(etime), summary))
        for group, burst in _sliding(groups, threshold, burst_window):
            found.append(_burst_finding(selected[det_id], group, burst, threshold, burst_window, evidence_limit))
    for det in detections:
        corr = det["rule"]["correlation"]
        if not corr or det["id"] in THRESHOLD_OPTIONS:
            continue
        groups = {}
        for corr_id, group, etime, summary in partial.correlated:
            if corr_id == det["id"]:
                groups.setdefault(group, []).append((epoch(etime), summary))
        threshold = corr["count"] + (1 if corr["op"] == "gt" else 0)
        for group, burst in _sliding(groups, threshold, corr["timespan"]):
            found.append(_burst_finding(det, group, burst, threshold, corr["timespan"], evidence_limit))
    if "api_call_from_untrusted_network" in selected:
        for (principal, ip), (count, first, last, summary) in sorted(partial.network.items()):
            found.append(_finding(selected["api_call_from_untrusted_network"], summary,
                                  resource="%s@%s" % (principal, ip),
                                  details={"count": count, "first_time": first, "last_time": last}))
    return fmodel.sort_findings(found)


def _burst_finding(det, group, burst, threshold, window, evidence_limit):
    """One finding for a group's burst: every event id of it (at most ``evidence_limit``) and the count."""
    first, last = burst[0][1], burst[-1][1]
    return _finding(det, last, resource=group, details={
        "count": len(burst), "threshold": threshold, "window_seconds": window,
        "first_time": first["event_time"], "last_time": last["event_time"],
        "group": group, "event_ids": _bounded([item[1]["event_id"] for item in burst], evidence_limit),
        "event_ids_truncated": bool(evidence_limit) and len(burst) > evidence_limit,
        "source_ips": _bounded(sorted(set(item[1]["source_ip"] for item in burst if item[1]["source_ip"])),
                               evidence_limit)})


def _bounded(items, limit):
    return items[:limit] if limit else items
