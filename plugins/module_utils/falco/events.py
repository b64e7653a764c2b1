# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Triage of Falco JSON alerts.

Falco's JSON alert (``json_output: true``) is one object per line with ``time``, ``rule``,
``priority``, ``output``, ``output_fields``, ``hostname``, ``source`` and ``tags``. :func:`triage`
filters a stream of them (a log file read line by line, or lines given) and aggregates by
priority, rule and container. Every non-empty line that is not a Falco JSON alert is a coverage
miss: a text-format log or a file that is no Falco log at all must not pass as "no alerts".
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import fnmatch
import json
import os
import re

from ansible_collections.ainative.security.plugins.module_utils.core import findings
from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.core.module import Outcome

CONTROL = "falco_events"

# Falco priorities, most severe first, and how they map onto the collection's severities.
PRIORITY_ORDER = ("emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug")
PRIORITY_ALIASES = {"info": "informational"}
SEVERITY_OF = {
    "emergency": "CRITICAL", "alert": "CRITICAL", "critical": "CRITICAL", "error": "HIGH",
    "warning": "MEDIUM", "notice": "LOW", "informational": "INFO", "debug": "INFO",
}


def normalize_priority(value):
    name = str(value or "").strip().lower()
    name = PRIORITY_ALIASES.get(name, name)
    if name not in PRIORITY_ORDER:
        raise InputError("unknown Falco priority %r; use one of %s" % (value, ", ".join(PRIORITY_ORDER)))
    return name


def priority_rank(value):
    """Higher is more severe (debug 0 ... emergency 7)."""
    return len(PRIORITY_ORDER) - 1 - PRIORITY_ORDER.index(normalize_priority(value))


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(value, now=None, field="time"):
    """Aware UTC datetime from Falco's RFC 3339 time (nanoseconds allowed) or a duration ago (``15m``)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=_UTC)
    text = str(value).strip()
    match = _DURATION.match(text)
    if match:
        now = now or datetime.datetime.now(_UTC)
        return now - datetime.timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    iso = re.match(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$", text)
    if not iso:
        raise InputError("%s %r is neither an RFC 3339 time (2026-11-25T10:00:00Z) nor a duration "
                         "such as 30m, 6h or 2d" % (field, value))
    frac = (iso.group(3) or ".0")[1:7].ljust(6, "0")
    stamp = datetime.datetime.strptime("%s %s" % (iso.group(1), iso.group(2)), "%Y-%m-%d %H:%M:%S")
    stamp = stamp.replace(microsecond=int(frac))
    zone = iso.group(4) or "Z"
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        stamp = stamp - sign * offset
    return stamp.replace(tzinfo=_UTC)


class _UTCZone(datetime.tzinfo):
    def utcoffset(self, dt):
        return datetime.timedelta(0)

    def dst(self, dt):
        return datetime.timedelta(0)

    def tzname(self, dt):
        return "UTC"


_UTC = _UTCZone()


def container_of(event):
    """(id, name, image) of the container an event happened in, or None for the host."""
    fields = event.get("output_fields") or {}
    cid = fields.get("container.id")
    if not cid or cid == "host":
        return None
    image = fields.get("container.image.repository")
    tag = fields.get("container.image.tag")
    if image and tag:
        image = "%s:%s" % (image, tag)
    return {"id": str(cid), "name": fields.get("container.name"), "image": image}


def _match_any(value, patterns):
    return any(fnmatch.fnmatchcase(str(value), p) for p in patterns)


class Filter(object):
    def __init__(self, priority=None, rules=None, exclude_rules=None, tags=None, since=None, until=None,
                 containers=None, sources=None, hostnames=None, now=None):
        self.min_rank = priority_rank(priority) if priority else None
        self.rules = list(rules or [])
        self.exclude_rules = list(exclude_rules or [])
        self.tags = set(tags or [])
        self.since = parse_time(since, now=now, field="since")
        self.until = parse_time(until, now=now, field="until")
        if self.since and self.until and self.since > self.until:
            raise InputError("since (%s) is after until (%s)" % (self.since.isoformat(), self.until.isoformat()))
        self.containers = list(containers or [])
        self.sources = set(sources or [])
        self.hostnames = list(hostnames or [])

    @property
    def windowed(self):
        return bool(self.since or self.until)

    def in_window(self, event):
        """True when the alert's time is inside since/until; InputError when it has no usable time."""
        if not self.windowed:
            return True
        stamp = parse_time(event.get("time"))
        if stamp is None:
            raise InputError("the alert has no time")
        return not ((self.since and stamp < self.since) or (self.until and stamp > self.until))

    def accepts(self, event):
        """The alert matches the priority, rule, tag, source, host and container filters."""
        if self.min_rank is not None:
            try:
                if priority_rank(event.get("priority")) < self.min_rank:
                    return False
            except InputError:
                return False
        rule = event.get("rule") or ""
        if self.rules and not _match_any(rule, self.rules):
            return False
        if self.exclude_rules and _match_any(rule, self.exclude_rules):
            return False
        if self.tags and not self.tags.intersection(event.get("tags") or []):
            return False
        if self.sources and event.get("source") not in self.sources:
            return False
        if self.hostnames and not _match_any(event.get("hostname") or "", self.hostnames):
            return False
        if self.containers:
            container = container_of(event)
            if container is None:
                return False
            names = [container["id"], container["id"][:12], container.get("name") or "", container.get("image") or ""]
            if not any(_match_any(n, self.containers) for n in names if n):
                return False
        return True


def parse_event(line):
    """A Falco JSON alert dict from one line, or None when the line is not one."""
    if isinstance(line, dict):
        event = line
    else:
        text = line.strip() if isinstance(line, str) else line.decode("utf-8", "replace").strip()
        if not text.startswith("{"):
            return None
        try:
            event = json.loads(text)
        except ValueError:
            return None
    if not isinstance(event, dict) or "rule" not in event or "priority" not in event:
        return None
    return event


def iter_file(path):
    try:
        handle = open(path, "rb")
    except (IOError, OSError) as exc:
        raise InputError("cannot read the Falco event log %s: %s. Check the path (file_output.filename) "
                         "and that the task can read it (become: true)" % (path, exc.strerror or exc))
    with handle:
        yield from handle


def triage(lines, flt, limit=100, newest=True, coverage=None, source="lines"):
    """Filter events; return counts, aggregates and up to ``limit`` matching events (newest kept).

    ``coverage`` counts every alert read inside the time window, and every non-empty line that is not
    an alert (or an alert with no usable time when a window is set) as a miss.
    """
    coverage = coverage or Coverage("events")
    total = matched = skipped = outside = 0
    kept = []
    by_priority = {}
    by_rule = {}
    containers = {}
    first = last = None
    for number, line in enumerate(lines, 1):
        if not (line.strip() if isinstance(line, (str, bytes)) else line):
            continue
        event = parse_event(line)
        if event is None:
            skipped += 1
            coverage.miss("%s:%d" % (source, number), "not a Falco JSON alert (json_output: true writes one "
                          "object with rule and priority per line)")
            continue
        total += 1
        # Only alerts inside the time window answer the question asked: a stale log whose alerts all
        # predate `since` must not count as examined.
        try:
            inside = flt.in_window(event)
        except InputError as exc:
            coverage.miss("%s:%d" % (source, number), "%s; the time window cannot place it" % exc)
            continue
        if not inside:
            outside += 1
            continue
        coverage.add()
        if not flt.accepts(event):
            continue
        matched += 1
        try:
            prio = normalize_priority(event.get("priority"))
        except InputError:
            prio = str(event.get("priority")).lower()
        by_priority[prio] = by_priority.get(prio, 0) + 1
        rule = event.get("rule") or ""
        by_rule[rule] = by_rule.get(rule, 0) + 1
        stamp = event.get("time")
        if stamp:
            first = stamp if first is None or stamp < first else first
            last = stamp if last is None or stamp > last else last
        container = container_of(event)
        if container:
            entry = containers.setdefault(container["id"], dict(
                container, count=0, rules=[], max_priority=prio, first_seen=stamp, last_seen=stamp))
            entry["count"] += 1
            if rule not in entry["rules"]:
                entry["rules"].append(rule)
            if priority_rank_safe(prio) > priority_rank_safe(entry["max_priority"]):
                entry["max_priority"] = prio
            if stamp and (entry["last_seen"] is None or stamp > entry["last_seen"]):
                entry["last_seen"] = stamp
        kept.append(event)
        if limit and len(kept) > limit:
            kept.pop(0 if newest else -1)
    return {
        "total": total,
        "matched": matched,
        "skipped_lines": skipped,
        "outside_window": outside,
        "events": kept,
        "truncated": bool(limit) and matched > len(kept),
        "by_priority": by_priority,
        "by_rule": by_rule,
        "containers": sorted(containers.values(), key=lambda c: (-c["count"], c["id"])),
        "first_time": first,
        "last_time": last,
    }


def priority_rank_safe(value):
    try:
        return priority_rank(value)
    except InputError:
        return -1


def event_findings(result, target):
    """One finding per (rule, container or host) pair, at the highest priority seen."""
    groups = {}
    for event in result["events"]:
        container = container_of(event)
        key = (event.get("rule"), container["id"] if container else "host")
        group = groups.setdefault(key, {"count": 0, "priority": event.get("priority"), "event": event,
                                        "container": container})
        group["count"] += 1
        if priority_rank_safe(event.get("priority")) > priority_rank_safe(group["priority"]):
            group["priority"] = event.get("priority")
            group["event"] = event
    out = []
    for (rule, where), group in groups.items():
        try:
            severity = SEVERITY_OF[normalize_priority(group["priority"])]
        except InputError:
            severity = "UNKNOWN"
        container = group["container"]
        if container:
            resource = "container %s (%s)" % (container.get("name") or container["id"][:12], container["id"][:12])
        else:
            resource = "host %s" % (group["event"].get("hostname") or "")
        out.append(findings.make_finding(
            CONTROL, "runtime", rule, severity,
            "%s (%d event%s)" % (rule, group["count"], "" if group["count"] == 1 else "s"),
            target=target,
            location={"resource": resource},
            url="https://falco.org/docs/concepts/rules/",
            details={"count": group["count"], "priority": group["priority"],
                     "tags": group["event"].get("tags") or [], "last_output": (group["event"].get("output") or "")[:500],
                     "container": container}))
    return findings.sort_findings(out)


def log_written_before(path, start):
    """The log's modification time (ISO) when it is older than ``start``, else None."""
    try:
        mtime = datetime.datetime.fromtimestamp(os.stat(path).st_mtime, _UTC)
    except OSError:
        return None
    return mtime.isoformat() if mtime < start else None


def run(ctl):
    """The falco_events control: triage a log file or lines, one finding per rule and container."""
    params = ctl.params
    if params["limit"] < 0:
        raise InputError("limit must be 0 (all) or a positive number, got %d" % params["limit"])
    flt = Filter(priority=params["priority"], rules=params["rules"], exclude_rules=params["exclude_rules"],
                 tags=params["tags"], since=params["since"], until=params["until"],
                 containers=params["containers"], sources=params["sources"], hostnames=params["hostnames"])
    target = params["path"] or "events"
    cov = Coverage("events")
    source = iter_file(params["path"]) if params["path"] else params["lines"]
    result = triage(source, flt, limit=params["limit"], coverage=cov, source=target)
    notes = []
    if params["path"] and flt.since:
        stale_since = log_written_before(params["path"], flt.since)
        if stale_since and not cov.examined:
            cov.miss(target, "the log was last written at %s, before the window starts (%s): check that Falco "
                     "is running and its file_output writes this file" % (stale_since, flt.since.isoformat()))
    if result["outside_window"]:
        notes.append("%d alert(s) of %s are outside the time window" % (result["outside_window"], target))
    if result["skipped_lines"]:
        notes.append("%d line(s) of %s are not Falco JSON alerts; enable json_output (falco_config) or give "
                     "the JSON alert log" % (result["skipped_lines"], target))
    out = Outcome(cov, event_findings(result, target), notes=notes, **result)
    out.msg = "%d alert(s) read, %d matched" % (result["total"], result["matched"])
    return out
