# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Time windows of ``cloudtrail_hunt``: ``since`` durations, ISO 8601 times, UTC throughout."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError

_SINCE = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def utc(dt):
    if dt.tzinfo is None:
        return dt.replace(tzinfo=datetime.timezone.utc)
    return dt.astimezone(datetime.timezone.utc)


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(text):
    """Seconds of a CloudTrail ``eventTime``; 0 when it is not one."""
    try:
        return datetime.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=datetime.timezone.utc).timestamp()
    except (TypeError, ValueError):
        return 0.0


def parse_duration(text, what="since"):
    match = _SINCE.match(str(text or ""))
    if not match or int(match.group(1)) <= 0:
        raise InputError("%s: %r is not a duration; use a number and a unit, e.g. 30m, 24h, 7d, 2w" % (what, text))
    return int(match.group(1)) * _UNITS[match.group(2)]


def parse_time(text, what):
    value = str(text).strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    for fmt in (None, "%Y-%m-%d"):
        try:
            dt = datetime.datetime.fromisoformat(value) if fmt is None else datetime.datetime.strptime(value, fmt)
            return utc(dt)
        except ValueError:
            continue
    raise InputError("%s: %r is not an ISO 8601 time (e.g. 2026-11-25T08:00:00Z or 2026-11-25)" % (what, text))


def time_window(since=None, start_time=None, end_time=None, now=None):
    """(start, end) as aware UTC datetimes; ``since`` (24h) or ``start_time``/``end_time``."""
    now = utc(now or datetime.datetime.now(datetime.timezone.utc))
    end = parse_time(end_time, "end_time") if end_time else now
    if since and start_time:
        raise InputError("give either since or start_time, not both")
    if start_time:
        start = parse_time(start_time, "start_time")
    else:
        start = end - datetime.timedelta(seconds=parse_duration(since or "24h"))
    if start >= end:
        raise InputError("the time window is empty: start %s is not before end %s" % (iso(start), iso(end)))
    if start > now:
        raise InputError("the time window starts in the future (%s)" % iso(start))
    return start, end
