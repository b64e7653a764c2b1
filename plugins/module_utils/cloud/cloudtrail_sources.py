# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where ``cloudtrail_hunt`` reads events: local files and the LookupEvents API (the S3 archive is in
cloudtrail_s3.py), and the worker processes that parse log files.

* ``local``: ``.json.gz`` / ``.json`` CloudTrail files, folders or glob patterns (forensics).
* ``lookup_events``: per region (every enabled region by default), at most 50 events per page, one
  lookup attribute per call, rate-limited to 2 requests/s per region (token bucket) with amazon.aws's
  jittered backoff on throttling; every page is followed. A region whose lookups fail is a coverage gap.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os

from ansible_collections.ainative.security.plugins.module_utils.core.concurrency import run_bounded
from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.cloud.aws import (
    AWSAuditError, BotoCoreError, ClientError, RateLimiter, describe_error)
from ansible_collections.ainative.security.plugins.module_utils.cloud.cloudtrail_detections import lookup_event_names
from ansible_collections.ainative.security.plugins.module_utils.cloud.cloudtrail_scan import Partial, scan_items, scan_records

LOOKUP_MAX_RESULTS = 50


# --- worker processes --------------------------------------------------------------------------

def _read(path):
    try:
        with open(path, "rb") as handle:
            return path, handle.read(), None
    except (IOError, OSError) as exc:
        return path, None, "cannot read: %s" % exc


def scan_paths(paths, spec):
    return scan_items(paths, spec, _read)


def scan_blobs(blobs, spec):
    """Scan ``(source, bytes)`` pairs (downloaded files)."""
    return scan_items(blobs, spec, lambda blob: (blob[0], blob[1], None))


def chunks(items, parts):
    parts = max(1, min(parts, len(items)))
    return [items[i::parts] for i in range(parts)]


def process_pool(workers):
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
            raise InputError("paths: %r matches no file" % item)
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
                raise InputError("paths: %s does not exist" % path)
    return out


def scan_local(files, spec, workers):
    """Scan local ``files`` in worker processes; every file is read or is an error in the result."""
    workers = min(default_workers(workers), max(1, len(files)))
    pool = process_pool(workers) if len(files) > 1 else None
    if pool is None:
        return scan_paths(files, spec)
    total = Partial()
    try:
        # Several chunks per worker keeps both cores busy when file sizes differ.
        parts = chunks(files, workers * 4)
        for part in pool.map(scan_paths, parts, [spec] * len(parts)):
            total.merge(part)
    finally:
        pool.shutdown()
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
    """Hunt every region; returns (partial, per-region coverage entries)."""
    names = lookup_event_names(detections)

    def one(region):
        limiter = RateLimiter(rate)  # the quota is per account and region
        try:
            client = clients.client("cloudtrail", region)
        except AWSAuditError as exc:
            return region, [], exc.msg, 0
        records, err, calls = lookup_region(client, region, names, start, end, limiter, max_events)
        return region, records, err, calls

    total = Partial()
    coverage = []
    for region, records, err, calls in run_bounded(one, regions, concurrency):
        part = Partial()
        part.parser = "json (LookupEvents)"
        scan_records(records, spec, "lookup_events:%s" % region, part, None)
        total.merge(part)
        coverage.append({"source": "lookup_events", "account": None, "region": region, "complete": err is None,
                         "errors": [err] if err else [], "error_count": 1 if err else 0, "api_calls": calls,
                         "events": len(records)})
    return total, coverage
