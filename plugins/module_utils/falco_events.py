# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Triage of Falco JSON alerts and the container response to them.

Falco's JSON alert (``json_output: true``) is one object per line with ``time``, ``rule``,
``priority``, ``output``, ``output_fields``, ``hostname``, ``source`` and ``tags``. :func:`triage`
filters a stream of them (a log file read line by line, or lines given) and aggregates by
priority, rule and container; :class:`Responder` stops or kills the containers named in the
events with Podman or Docker, never touching an allow-listed one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import fnmatch
import json
import re

from ansible_collections.ainative.security.plugins.module_utils.core import findings

CONTROL = "falco_events"

# Falco priorities, most severe first, and how they map onto the collection's severities.
PRIORITY_ORDER = ("emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug")
PRIORITY_ALIASES = {"info": "informational"}
SEVERITY_OF = {
    "emergency": "CRITICAL", "alert": "CRITICAL", "critical": "CRITICAL", "error": "HIGH",
    "warning": "MEDIUM", "notice": "LOW", "informational": "INFO", "debug": "INFO",
}
CONTAINER_FIELDS = ("container.id", "container.name", "container.image.repository", "container.image.tag",
                    "k8s.ns.name", "k8s.pod.name")


class FalcoEventsError(Exception):
    """Bad input (unreadable log, bad time window); the message says what to fix."""


def normalize_priority(value):
    name = str(value or "").strip().lower()
    name = PRIORITY_ALIASES.get(name, name)
    if name not in PRIORITY_ORDER:
        raise FalcoEventsError("unknown Falco priority %r; use one of %s" % (value, ", ".join(PRIORITY_ORDER)))
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
        raise FalcoEventsError("%s %r is neither an RFC 3339 time (2026-11-25T10:00:00Z) nor a duration "
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
            raise FalcoEventsError("since (%s) is after until (%s)" % (self.since.isoformat(), self.until.isoformat()))
        self.containers = list(containers or [])
        self.sources = set(sources or [])
        self.hostnames = list(hostnames or [])

    def accepts(self, event):
        if self.min_rank is not None:
            try:
                if priority_rank(event.get("priority")) < self.min_rank:
                    return False
            except FalcoEventsError:
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
        if self.since or self.until:
            try:
                stamp = parse_time(event.get("time"))
            except FalcoEventsError:
                return False
            if stamp is None or (self.since and stamp < self.since) or (self.until and stamp > self.until):
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
        raise FalcoEventsError("cannot read the Falco event log %s: %s. Check the path (file_output.filename) "
                               "and that the task can read it (become: true)" % (path, exc.strerror or exc))
    with handle:
        yield from handle


def triage(lines, flt, limit=100, newest=True):
    """Filter events; return counts, aggregates and up to ``limit`` matching events (newest kept)."""
    total = matched = skipped = 0
    kept = []
    by_priority = {}
    by_rule = {}
    containers = {}
    first = last = None
    for line in lines:
        if not (line.strip() if isinstance(line, (str, bytes)) else line):
            continue
        event = parse_event(line)
        if event is None:
            skipped += 1
            continue
        total += 1
        if not flt.accepts(event):
            continue
        matched += 1
        try:
            prio = normalize_priority(event.get("priority"))
        except FalcoEventsError:
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
    except FalcoEventsError:
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
        except FalcoEventsError:
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


# -- response -----------------------------------------------------------------------------------

class Responder(object):
    """Stop or kill the containers named in events, with Podman or Docker, honouring an allow-list."""

    def __init__(self, module, runtime="auto", action="stop", allow_list=None, timeout=10, signal="KILL",
                 dry_run=False):
        self.module = module
        self.action = action
        self.allow_list = list(allow_list or [])
        self.timeout = timeout
        self.signal = signal
        self.dry_run = dry_run
        self.runtimes = self._runtimes(runtime)

    def _runtimes(self, runtime):
        names = ["podman", "docker"] if runtime == "auto" else [runtime]
        found = []
        for name in names:
            path = self.module.get_bin_path(name)
            if path:
                found.append((name, path))
        if not found:
            raise FalcoEventsError("no container runtime found (%s); install podman or docker, or set runtime"
                                   % " or ".join(names))
        return found

    def inspect(self, ref):
        """(runtime name, binary, info dict) of the container ``ref`` (id, id prefix or name), or None."""
        for name, binary in self.runtimes:
            rc, out, _err = self.module.run_command([binary, "container", "inspect", ref])
            if rc != 0:
                continue
            try:
                data = json.loads(out)
            except ValueError:
                continue
            if isinstance(data, list) and data:
                return name, binary, data[0]
        return None

    def allowed(self, info, candidates):
        names = [n for n in candidates if n]
        cid = info.get("Id") or ""
        name = (info.get("Name") or "").lstrip("/")
        image = info.get("ImageName") or (info.get("Config") or {}).get("Image") or ""
        names += [cid, cid[:12], name, image]
        for pattern in self.allow_list:
            for value in names:
                if value and (fnmatch.fnmatchcase(value, pattern) or (len(pattern) >= 12 and value.startswith(pattern))):
                    return pattern
        return None

    def respond(self, targets):
        """``targets``: list of dicts with id/name/image/rules/max_priority. Returns the action records."""
        records = []
        seen = set()
        for target in targets:
            ref = target.get("id") or target.get("name")
            record = {"container": ref, "name": target.get("name"), "image": target.get("image"),
                      "rules": target.get("rules", []), "action": self.action, "runtime": None}
            found = self.inspect(ref) or (self.inspect(target["name"]) if target.get("name") else None)
            if not found:
                record.update(result="skipped", reason="container not found in %s"
                              % " or ".join(n for n, _b in self.runtimes))
                records.append(record)
                continue
            runtime, binary, info = found
            cid = info.get("Id") or ref
            if cid in seen:
                continue
            seen.add(cid)
            record.update(runtime=runtime, id=cid, name=(info.get("Name") or "").lstrip("/") or target.get("name"))
            pattern = self.allowed(info, [target.get("name"), target.get("image")])
            if pattern:
                record.update(result="skipped", reason="allow-listed by %r" % pattern)
                records.append(record)
                continue
            state = info.get("State") or {}
            running = state.get("Running") if isinstance(state, dict) else str(state).lower() == "running"
            if not running:
                record.update(result="unchanged", reason="container is not running")
                records.append(record)
                continue
            if self.dry_run:
                record.update(result="would_%s" % self.action, reason="dry run")
                records.append(record)
                continue
            if self.action == "stop":
                argv = [binary, "stop", "--time", str(self.timeout), cid]
            else:
                argv = [binary, "kill", "--signal", self.signal, cid]
            rc, out, err = self.module.run_command(argv)
            if rc != 0:
                record.update(result="failed", reason=(err or out).strip()[-500:])
            else:
                record.update(result="stopped" if self.action == "stop" else "killed", reason=None)
            records.append(record)
        return records
