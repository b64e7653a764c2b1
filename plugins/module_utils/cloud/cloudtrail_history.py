# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Bedrock invocation history of ``cloudtrail_hunt`` (option ``history``): LLM-jacking detections that
compare a hunt's model invocations with what earlier hunts saw.

The three rules (rules/cloudtrail/bedrock_invocation_new_*.yml, ..._unusual_volume.yml) count the built-in
``bedrock_model_invocation`` rule's events; the scan collects those events once and this module judges them:

* ``bedrock_invocation_new_principal``: a principal the account's history has not seen;
* ``bedrock_invocation_new_source_ip``: a known principal from a source IP the account has not seen (its
  severity when the network, /24 or /64, is new; LOW when only the address is);
* ``bedrock_invocation_unusual_volume``: a principal's invocations on one UTC day of the window above
  ``max(VOLUME_FACTOR x p95 of its daily counts in the history, VOLUME_FLOOR)``.

Judge first, then learn: every event of the hunt is judged against the state as it was before the hunt,
so an attacker's own events cannot make themselves normal. A principal is its ``userIdentity.arn``, an
assumed-role session reduced to its role (``arn:aws:iam::<account>:role/<name>``, without the role's path,
which the session arn does not carry). Daily counts merge by maximum, so a hunt repeated over the same
window changes nothing; keep one hunt cadence per state file, as the counts are what one hunt saw of a day.

The state is one JSON file, written only through core.fileio (atomic, mode 0600, the previous state kept as
``<path>.bak``), bounded (MAX_PRINCIPALS, MAX_ADDRESSES: the entries seen longest ago are dropped first), and
read fail-closed: a file that is not this state is an error, never a silent new start, and so is a missing
file unless ``history.create`` asks for a new history (and never while ``<path>.bak`` is there).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress
import json
import math
import os
import re

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.core.fileio import (
    atomic_write, read_bytes, read_regular_file, write_if_changed)
from ansible_collections.ainative.security.plugins.module_utils.cloud import cloudtrail_scan as scan

NEW_PRINCIPAL = "bedrock_invocation_new_principal"
NEW_SOURCE_IP = "bedrock_invocation_new_source_ip"
UNUSUAL_VOLUME = "bedrock_invocation_unusual_volume"
IDS = (NEW_PRINCIPAL, NEW_SOURCE_IP, UNUSUAL_VOLUME)
SELECTOR = "bedrock_model_invocation"  # the built-in rule the three count

SCHEMA = "ainative.security/cloudtrail_hunt/history"
VERSION = 1
VOLUME_FACTOR = 3
VOLUME_FLOOR = 100
MAX_PRINCIPALS = 10000      # over all accounts: with 90 daily counts each, about 25 MB at most
MAX_ADDRESSES = 20000       # source IPs, and networks, each over all accounts
MAX_RUN_PRINCIPALS = 20000  # principals one hunt follows (about 3 kB of memory each)
MAX_RUN_ADDRESSES = 20000   # (principal, source IP) pairs one hunt follows
MAX_STATE_BYTES = 64 << 20  # a larger file is not one this module wrote
MAX_AGE_DAYS = 3660
EVIDENCE = 20               # event ids and source IPs kept in each finding
DIFF_LINES = 500

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(r"%s\.%s\.%s\.%s" % ((_OCTET,) * 4))
_ASSUMED_ROLE = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/.*$")


def scan_ids(ids):
    """Detection ids for the scan: the history rules need only their selector's events, collected once."""
    out = [i for i in ids if i not in IDS]
    if len(out) < len(ids) and SELECTOR not in out:
        out.append(SELECTOR)
    return out


def principal_of(name):
    """The principal a history keeps: an assumed-role session counts as its role."""
    found = _ASSUMED_ROLE.match(name or "")
    if found:
        return "arn:%s:iam::%s:role/%s" % found.groups()
    return name or "unknown"


def network_of(ip):
    """The /24 (IPv4) or /64 (IPv6) of a source IP; None for a service name such as bedrock.amazonaws.com."""
    found = _IPV4.fullmatch(ip) if isinstance(ip, str) else None
    if found:  # the common case, without ipaddress's cost (a hostile log may hold a million addresses)
        return "%s.%s.%s.0/24" % found.groups()[:3]
    try:
        addr = ipaddress.ip_address(ip)
    except (TypeError, ValueError):
        return None
    return str(ipaddress.ip_network("%s/%d" % (addr, 24 if addr.version == 4 else 64), strict=False))


def _p95(values):
    """Nearest-rank 95th percentile (0 for no values)."""
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[max(0, int(math.ceil(0.95 * len(ordered))) - 1)]


def empty_state():
    return {"schema": SCHEMA, "version": VERSION, "days": [], "accounts": {}}


# --- reading the state, fail closed ------------------------------------------------------------------

def _seen_ok(entry):
    return isinstance(entry, dict) and isinstance(entry.get("first"), str) and isinstance(entry.get("last"), str)


def _problem(doc):
    """Why ``doc`` is not a history state of this version, or None."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        return "it is not a cloudtrail_hunt history (schema %s expected)" % SCHEMA
    if doc.get("version") != VERSION:
        return "its version %r is not %d, the one this collection reads" % (doc.get("version"), VERSION)
    days, accounts = doc.get("days"), doc.get("accounts")
    if not isinstance(days, list) or not all(isinstance(d, str) and _DAY.match(d) for d in days):
        return "days must be a list of YYYY-MM-DD dates"
    if not isinstance(accounts, dict):
        return "accounts must be an object"
    for account, entry in accounts.items():
        if not isinstance(entry, dict) or set(entry) != {"principals", "ips", "networks"}:
            return "account %s must have exactly principals, ips and networks" % account
        if not all(isinstance(entry[k], dict) for k in entry):
            return "account %s: principals, ips and networks must be objects" % account
        for name, seen in entry["principals"].items():
            counts = seen.get("days") if isinstance(seen, dict) else None
            if not _seen_ok(seen) or not isinstance(counts, dict) or not all(
                    _DAY.match(d) and isinstance(n, int) and not isinstance(n, bool) and n >= 0 for d, n in counts.items()):
                return "account %s principal %s must have first, last and days (date: count)" % (account, name)
        for kind in ("ips", "networks"):
            if not all(_seen_ok(seen) for seen in entry[kind].values()):
                return "account %s: every entry of %s must have first and last" % (account, kind)
    return None


def check_options(options):
    if options["max_age_days"] < 1 or options["max_age_days"] > MAX_AGE_DAYS:
        raise InputError("history.max_age_days must be 1 to %d, got %d" % (MAX_AGE_DAYS, options["max_age_days"]))
    if options["min_days"] < 0 or options["min_days"] > options["max_age_days"]:
        raise InputError("history.min_days must be 0 to history.max_age_days (%d), got %d"
                         % (options["max_age_days"], options["min_days"]))


def load(options, organization=None):
    """The state before this hunt (an empty one when the file does not exist and ``create`` is set), or None
    without ``history``."""
    if not options:
        return None
    if organization:
        raise InputError("history does not work with organization yet: hunt each account with its own history.path")
    check_options(options)
    path = options["path"]
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InputError("history.path %s: folder %s does not exist; create it first" % (path, directory))
    if not os.path.lexists(path):
        # a deleted history would make every principal new again, its findings LOW while "learning", and the
        # attacker's own invocations learned as normal: only an explicit create starts one
        if os.path.lexists(path + ".bak"):
            raise InputError("history.path %s is missing but %s.bak exists, so the history was deleted or moved; "
                             "restore it from %s.bak" % (path, path, path))
        if not options.get("create"):
            raise InputError("history.path %s does not exist; set history.create: true on the first hunt to start "
                             "a new history (a history that is deleted later is refused, not restarted)" % path)
        return empty_state()
    data = read_regular_file(path, "history.path", limit=MAX_STATE_BYTES)
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        doc, problem = None, "it is not JSON (%s)" % exc
    else:
        problem = _problem(doc)
    if problem:
        raise InputError("history.path %s cannot be used: %s; restore %s.bak or move the file away to start a new "
                         "history" % (path, problem, path))
    return doc


# --- this hunt's invocations ---------------------------------------------------------------------------

def _collect(matches):
    """({account: {principal: aggregate}}, events not judged) of the selector's events (each event once).

    At most MAX_RUN_PRINCIPALS principals and MAX_RUN_ADDRESSES (principal, IP) pairs are followed, so a hostile
    log cannot exhaust memory; the events past them are counted, and the caller makes them a coverage gap.
    """
    seen_ids = set()
    accounts = {}
    networks = {}
    tracked = untracked = addresses = 0
    for det_id, summary in matches:
        if det_id != SELECTOR:
            continue
        event_id = summary.get("event_id")
        if event_id is not None:
            if event_id in seen_ids:
                continue
            seen_ids.add(event_id)
        etime = summary.get("event_time") or ""
        principals = accounts.setdefault(summary.get("account") or "unknown-account", {})
        name = principal_of(summary.get("principal"))
        agg = principals.get(name)
        if agg is None:
            if tracked >= MAX_RUN_PRINCIPALS:
                untracked += 1
                continue
            tracked += 1
            agg = principals[name] = {"first": etime, "last": etime, "days": {}, "ips": {}, "names": set(),
                                      "event_ids": [], "count": 0, "sample": summary}
        agg["count"] += 1
        agg["first"], agg["last"] = min(agg["first"], etime), max(agg["last"], etime)
        day = etime[:10]
        agg["days"][day] = agg["days"].get(day, 0) + 1
        agg["names"].add(summary.get("event_name"))
        if len(agg["event_ids"]) < EVIDENCE:
            agg["event_ids"].append(event_id)
        ip = summary.get("source_ip")
        cur = agg["ips"].get(ip)
        if cur is not None:
            cur[0] += 1
            cur[1], cur[2] = min(cur[1], etime), max(cur[2], etime)
            continue
        net = networks.get(ip)
        if net is None:
            net = networks[ip] = network_of(ip) or ""
        if not net:
            continue
        if addresses >= MAX_RUN_ADDRESSES:
            untracked += 1  # counted, not judged from this address: a gap
            continue
        addresses += 1
        agg["ips"][ip] = [1, etime, etime, summary, net]
    return accounts, untracked


# --- judging -------------------------------------------------------------------------------------------

class Judged(object):
    """What the history added to a hunt: findings, notes, the result key and the state to write."""

    def __init__(self, findings=None, notes=None, result=None, data=None, added=None, path=None):
        self.findings = findings or []
        self.notes = notes or []
        self.result = result
        self.data = data        # the new state's bytes (None: nothing to learn)
        self.added = added or []
        self.path = path


def _finding(det, agg, account, learning, details, resource, severity=None, summary=None):
    info = {"principal": resource.split("@", 1)[0], "count": agg["count"], "first_time": agg["first"],
            "last_time": agg["last"], "event_names": sorted(n for n in agg["names"] if n),
            "event_ids": agg["event_ids"], "event_ids_truncated": agg["count"] > len(agg["event_ids"]),
            "source_ips": sorted(agg["ips"])[:EVIDENCE], "learning": learning}
    info.update(details)
    found = scan._finding(det, dict(summary or agg["sample"], source=None), details=info, resource=resource,
                          target=account)
    if learning:
        found["severity"] = "LOW"
    elif severity:
        found["severity"] = severity
    return found


def _prune(state, reference, max_age):
    """Forget what was last seen before ``reference`` - ``max_age`` days (in place)."""
    cutoff = (reference - datetime.timedelta(days=max_age)).strftime("%Y-%m-%d")
    state["days"] = [d for d in state["days"] if d >= cutoff]
    for account in list(state["accounts"]):
        entry = state["accounts"][account]
        for name in list(entry["principals"]):
            seen = entry["principals"][name]
            seen["days"] = dict((d, n) for d, n in seen["days"].items() if d >= cutoff)
            if seen["last"][:10] < cutoff:
                del entry["principals"][name]
        for kind in ("ips", "networks"):
            entry[kind] = dict((k, v) for k, v in entry[kind].items() if v["last"][:10] >= cutoff)
        if not any(entry.values()):
            del state["accounts"][account]


def _cap(state, kind, limit):
    """Keep at most ``limit`` entries of ``kind`` over all accounts, dropping those seen longest ago; the count dropped."""
    entries = [(seen["last"], account, key) for account, entry in state["accounts"].items()
               for key, seen in entry[kind].items()]
    if len(entries) <= limit:
        return 0
    entries.sort()
    for dummy, account, key in entries[:len(entries) - limit]:
        del state["accounts"][account][kind][key]
    return len(entries) - limit


def _window_days(start, end):
    day, days = start.date(), []
    while day <= end.date():
        days.append(day.strftime("%Y-%m-%d"))
        day += datetime.timedelta(days=1)
    return days


def _merge(seen, first, last):
    if seen is None:
        return {"first": first, "last": last}
    seen["first"], seen["last"] = min(seen["first"], first), max(seen["last"], last)
    return seen


def _learn(state, current, start, end, complete):
    """Add this hunt's invocations to ``state`` (in place); the lines a diff shows for what is new."""
    added = []
    if complete:  # a window read only in part does not count as a day of history
        state["days"] = sorted(set(state["days"]) | set(_window_days(start, end)[-MAX_AGE_DAYS:]))
    for account, principals in sorted(current.items()):
        entry = state["accounts"].setdefault(account, {"principals": {}, "ips": {}, "networks": {}})
        for name, agg in sorted(principals.items()):
            if name not in entry["principals"]:
                added.append("principal %s %s" % (account, name))
            seen = _merge(entry["principals"].get(name), agg["first"], agg["last"])
            days = seen.setdefault("days", {})
            for day, count in agg["days"].items():
                days[day] = max(days.get(day, 0), count)
            entry["principals"][name] = seen
            for ip, (dummy, first, last, dummy2, net) in sorted(agg["ips"].items()):
                if ip not in entry["ips"]:
                    added.append("source_ip %s %s" % (account, ip))
                if net not in entry["networks"]:
                    added.append("network %s %s" % (account, net))
                entry["ips"][ip] = _merge(entry["ips"].get(ip), first, last)
                entry["networks"][net] = _merge(entry["networks"].get(net), first, last)
    return sorted(set(added))


def judge(options, past, detections, matches, start, end, cov):
    """Judge the hunt's invocations against ``past`` (from :func:`load`), then learn them; a Judged.

    ``cov``: the hunt's Coverage; a window not read whole does not count as days of history, and events that
    could not be judged are a gap in it.
    """
    selected = dict((d["id"], d) for d in detections if d["id"] in IDS)
    if not selected:
        return Judged()
    if past is None:
        return Judged(notes=["%s inactive: set history.path" % ", ".join(sorted(selected))])
    reference = max([end] + [datetime.datetime.strptime(d, "%Y-%m-%d").replace(tzinfo=end.tzinfo) for d in past["days"]])
    state = json.loads(json.dumps(past))
    _prune(state, reference, options["max_age_days"])
    covered = len(state["days"])
    learning = covered < options["min_days"]
    complete = cov.complete
    current, untracked = _collect(matches)
    if untracked:
        cov.miss("history", "%d Bedrock invocations not judged: more than %d principals or %d (principal, source IP) "
                 "pairs in one hunt" % (untracked, MAX_RUN_PRINCIPALS, MAX_RUN_ADDRESSES))
    found = []
    for account, principals in sorted(current.items()):
        known = state["accounts"].get(account) or {"principals": {}, "ips": {}, "networks": {}}
        for name, agg in sorted(principals.items()):
            history = known["principals"].get(name)
            if history is None and NEW_PRINCIPAL in selected:
                found.append(_finding(selected[NEW_PRINCIPAL], agg, account, learning, {}, name))
            if history is not None and NEW_SOURCE_IP in selected:
                for ip, (count, first, last, summary, net) in sorted(agg["ips"].items()):
                    if ip in known["ips"]:
                        continue
                    net_known = net in known["networks"]
                    found.append(_finding(selected[NEW_SOURCE_IP], agg, account, learning, {
                        "source_ip": ip, "network": net, "network_known": net_known, "ip_count": count,
                        "ip_first_time": first, "ip_last_time": last}, "%s@%s" % (name, ip),
                        severity="LOW" if net_known else None, summary=summary))
            if UNUSUAL_VOLUME in selected:
                worst = None
                for day, count in sorted(agg["days"].items()):
                    usual = _p95([n for d, n in (history or {}).get("days", {}).items() if d != day])
                    threshold = max(VOLUME_FACTOR * usual, VOLUME_FLOOR)
                    if count > threshold and (worst is None or count - threshold > worst[1] - worst[3]):
                        worst = (day, count, usual, threshold)
                if worst:
                    found.append(_finding(selected[UNUSUAL_VOLUME], agg, account, learning, {
                        "day": worst[0], "day_count": worst[1], "p95": worst[2], "threshold": worst[3],
                        "factor": VOLUME_FACTOR, "floor": VOLUME_FLOOR}, name))
    notes = []
    if learning:
        notes.append("history is learning (%d of %d days covered): its findings are LOW until then"
                     % (covered, options["min_days"]))
    data, added, dropped = None, [], 0
    if options["learn"]:
        added = _learn(state, current, start, end, complete)
        _prune(state, max(reference, end), options["max_age_days"])
        dropped = _cap(state, "principals", MAX_PRINCIPALS) + _cap(state, "ips", MAX_ADDRESSES) + \
            _cap(state, "networks", MAX_ADDRESSES)
        if dropped:
            notes.append("history is full: %d entries seen longest ago were dropped" % dropped)
        data = (json.dumps(state, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")
    accounts = state["accounts"].values()
    result = {"path": options["path"], "created": not os.path.lexists(options["path"]), "learning": learning,
              "days_covered": covered, "min_days": options["min_days"], "max_age_days": options["max_age_days"], "learn": options["learn"], "changed": False,
              "principals": sum(len(a["principals"]) for a in accounts), "source_ips": sum(len(a["ips"]) for a in accounts),
              "networks": sum(len(a["networks"]) for a in accounts), "added": len(added), "dropped": dropped}
    return Judged(found, notes, result, data, added, options["path"])


def commit(outcome, check_mode=False, diff=False):
    """Write the state a hunt learned (``outcome.history``, a Judged) atomically, mode 0600, the previous one kept
    as ``<path>.bak``; sets the outcome's ``changed`` and, in diff mode, its ``diff`` (the entries added)."""
    judged = getattr(outcome, "history", None)
    if judged is None or judged.data is None:
        return
    path = judged.path
    old = read_bytes(path) if os.path.isfile(path) else None
    changed = old != judged.data
    shown = None
    if diff and changed:
        lines = ["+ %s" % line for line in judged.added[:DIFF_LINES]]
        if len(judged.added) > DIFF_LINES:
            lines.append("... and %d more" % (len(judged.added) - DIFF_LINES))
        shown = {"before_header": "%s (known)" % path, "after_header": "%s (added)" % path,
                 "before": "", "after": "".join(line + "\n" for line in lines)}
    if changed and not check_mode:
        try:
            if old is not None:
                atomic_write(path + ".bak", old, mode=0o600)
            write_if_changed(path, judged.data, mode=0o600)
        except (IOError, OSError) as exc:
            raise InputError("history.path %s: cannot write the history: %s" % (path, exc.strerror or exc))
    judged.result["changed"] = changed
    outcome.changed = outcome.changed or changed
    if shown:
        outcome.diff = shown
