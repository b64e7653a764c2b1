# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A trail's S3 log archive for ``cloudtrail_hunt``:
``[prefix/]AWSLogs/[<org-id>/]<account>/CloudTrail/<region>/YYYY/MM/DD/``.

Discovery names every folder it does not understand: a folder under ``AWSLogs/`` whose name is not an
account or organization id is still read when it has the CloudTrail layout, and is a coverage gap when
it has not. An (account, region) with no log file in the window is a gap too ("no log files
delivered"): a delivery gap is itself a tampering signal. Downloads run on a fixed number of threads
with a bounded parse backlog, so memory does not grow with the archive; each request's retries are
bounded, and no download starts after the run's deadline (every file not read by then is a gap).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import queue
import re
import threading
import time
from collections import deque

try:
    from botocore.config import Config
except ImportError:  # pragma: no cover - AnsibleAWSModule reports missing boto3 itself
    Config = None

from ansible_collections.ainative.security.plugins.module_utils.core.concurrency import run_bounded
from ansible_collections.ainative.security.plugins.module_utils.cloud.aws import (
    AWSAuditError, BotoCoreError, ClientError, describe_error)
from ansible_collections.ainative.security.plugins.module_utils.cloud.cloudtrail_scan import Partial
from ansible_collections.ainative.security.plugins.module_utils.cloud.cloudtrail_sources import (
    default_workers, process_pool, scan_blobs)
from ansible_collections.ainative.security.plugins.module_utils.cloud.cloudtrail_window import iso

_ACCOUNT = re.compile(r"^\d{12}$")
_ORG = re.compile(r"^o-[a-z0-9]{10,32}$")
_FILE_TS = re.compile(r"_(\d{8}T\d{4})Z_")
LAYOUT = "<account>/CloudTrail/<region>/ or <org-id>/<account>/CloudTrail/<region>/"
# Downloaded bytes handed to a parse worker at once, and parse batches queued per worker.
BATCH_BYTES = 1024 * 1024
QUEUED_BATCHES_PER_WORKER = 2
# Every S3 call of a hunt: botocore's standard retry mode (jittered exponential backoff, at most 20 s a
# wait, a retry quota per client) and at most 4 attempts, so one throttled file costs seconds, not minutes.
RETRIES = {"mode": "standard", "total_max_attempts": 4}
DEFAULT_DEADLINE = 900


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


class Archive(object):
    """What discovery and listing found: ``targets`` (prefix, account, region), ``gaps`` (item, reason)
    that make coverage incomplete, ``notes``, and per (account, region) the keys of the window."""

    def __init__(self, s3, bucket, prefix=None):
        self.s3 = s3
        self.bucket = bucket
        self.root = (prefix.strip("/") + "/" if prefix and prefix.strip("/") else "") + "AWSLogs/"
        self.targets = []
        self.gaps = []
        self.notes = []
        self.keys = {}      # (account, region) -> [(key, size)]
        self.errors = {}    # (account, region) -> [why it is not fully covered: listing errors, no files]

    def url(self, key):
        return "s3://%s/%s" % (self.bucket, key)

    def _prefixes(self, prefix):
        """Sub-folder names, or None after recording the listing error as a gap."""
        try:
            return _list_prefixes(self.s3, self.bucket, prefix)
        except (BotoCoreError, ClientError) as exc:
            self.gaps.append((self.url(prefix), describe_error(exc, "listing %s" % self.url(prefix))))
            return None

    def _odd(self, folder, name, org, children=None):
        """A folder whose name is not an account id: read it when it has the CloudTrail layout."""
        children = self._prefixes(folder) if children is None else children
        if children is None:
            return []
        if "CloudTrail" in children:
            self.notes.append("%s is not named like an account id but has the CloudTrail layout; it was read"
                              % self.url(folder))
            return [(folder, name, org)]
        self.gaps.append((self.url(folder), "not the CloudTrail layout (%s); not read" % LAYOUT))
        return []

    def _org(self, folder, org):
        bases = []
        for acct in self._prefixes(folder) or []:
            if _ACCOUNT.match(acct):
                bases.append((folder + acct + "/", acct, org))
            else:
                bases.extend(self._odd(folder + acct + "/", acct, org))
        return bases

    def discover(self, accounts=None, organization_id=None, regions=None):
        try:
            top = _list_prefixes(self.s3, self.bucket, self.root)
        except (BotoCoreError, ClientError) as exc:
            raise AWSAuditError(describe_error(exc, "listing %s" % self.url(self.root)))
        bases = []  # (account prefix, account id, org id)
        skipped = []
        for entry in top:
            folder = self.root + entry + "/"
            if organization_id:
                if entry == organization_id:
                    bases.extend(self._org(folder, entry))
                else:
                    skipped.append(entry)
            elif _ORG.match(entry):
                bases.extend(self._org(folder, entry))
            elif _ACCOUNT.match(entry):
                bases.append((folder, entry, None))
            else:
                children = self._prefixes(folder)
                if children is None:
                    continue
                if "CloudTrail" in children:
                    bases.extend(self._odd(folder, entry, None, children))
                elif children:  # an organization folder under another name: its accounts decide
                    found = self._org(folder, entry)
                    if found:
                        self.notes.append("%s is not named like an organization id; its account folders were read"
                                          % self.url(folder))
                    bases.extend(found)
                else:
                    self.gaps.append((self.url(folder), "not the CloudTrail layout (%s); not read" % LAYOUT))
        if skipped:
            self.notes.append("not read (organization_id is %s): %s" % (organization_id, ", ".join(
                self.url(self.root + s + "/") for s in skipped[:20])))
        if accounts:
            bases = [b for b in bases if b[1] in accounts]
        if not bases and not self.gaps:
            raise AWSAuditError("no CloudTrail logs under %s%s; check bucket, prefix, organization_id and accounts"
                                % (self.url(self.root), organization_id + "/" if organization_id else ""))
        for base, acct, _org_id in bases:
            found = self._prefixes(base + "CloudTrail/")
            if found is None:
                continue
            if not found:
                self.gaps.append((self.url(base), "no CloudTrail/<region>/ folder; nothing to read for account %s"
                                  % acct))
            for region in found:
                if not regions or region in regions:
                    self.targets.append((base + "CloudTrail/" + region + "/", acct, region))
            for region in sorted(set(regions or ()) - set(found)) if found else ():
                self._target_gap((acct, region), "no log files delivered: %s has no %s/ folder"
                                 % (self.url(base + "CloudTrail/"), region))
        return self

    def _target_gap(self, target, reason):
        self.keys.setdefault(target, [])
        self.errors.setdefault(target, []).append(reason)
        self.gaps.append(("%s/%s" % target, reason))

    def list_window(self, start, end, concurrency=16):
        """List one prefix per day of the window for every target; keep files delivered in the window."""
        lo = start.strftime("%Y%m%dT%H%M")
        hi = (end + datetime.timedelta(hours=1)).strftime("%Y%m%dT%H%M")
        jobs = [(t, day) for t in self.targets for day in _days(start, end)]

        def list_day(job):
            (pfx, acct, region), day = job
            folder = pfx + day.strftime("%Y/%m/%d/")
            try:
                keys = _list_keys(self.s3, self.bucket, folder)
            except (BotoCoreError, ClientError) as exc:
                return (acct, region), None, describe_error(exc, "listing %s" % self.url(folder))
            keep = []
            for key, size in keys:
                m = _FILE_TS.search(key.rsplit("/", 1)[-1])
                # the file's timestamp is its delivery time: records are older, never newer
                if m and (m.group(1) < lo or m.group(1) > hi):
                    continue
                keep.append((key, size))
            return (acct, region), keep, None

        for _pfx, acct, region in self.targets:
            self.keys.setdefault((acct, region), [])
            self.errors.setdefault((acct, region), [])
        for target, keep, err in run_bounded(list_day, jobs, concurrency):
            if err:
                self._target_gap(target, err)
            else:
                self.keys[target].extend(keep)
        for target, keys in sorted(self.keys.items()):
            if not keys and not self.errors[target]:
                self._target_gap(target, "no log files delivered between %s and %s" % (iso(start), iso(end)))
        return self

    def all_keys(self):
        return [key for target in sorted(self.keys) for key in self.keys[target]]

    def detail(self, failed):
        """Coverage per (account, region): files listed, read and failed, with the error total.

        ``failed``: {s3 URL: reason} of the files that could not be downloaded or parsed.
        """
        out = []
        for target, keys in sorted(self.keys.items()):
            bad = ["%s: %s" % (self.url(k), failed[self.url(k)]) for k, _size in keys if self.url(k) in failed]
            errors = self.errors[target] + bad
            out.append({"source": "s3", "account": target[0], "region": target[1], "complete": bool(keys) and not errors,
                        "files_listed": len(keys), "files_read": len(keys) - len(bad), "files_failed": len(bad),
                        "error_count": len(errors), "errors": errors[:20]})
        return out


def bound_retries(clients):
    """Make the hunt's S3 calls retry with botocore's bounded policy (before any client is created)."""
    if Config is not None:
        clients.config = clients.config.merge(Config(retries=RETRIES))


def scan_s3(s3, bucket, keys, spec, workers, concurrency, stop_at=None, late="deadline reached"):
    """Download ``keys`` (at most ``concurrency`` in flight) and parse them in worker processes.

    Memory stays bounded: a download starts only when one finished, and a parse batch is queued only
    when fewer than ``QUEUED_BATCHES_PER_WORKER`` per worker are waiting. From ``stop_at`` (a
    ``time.monotonic()`` value) on no download starts and those in flight are abandoned: every file not
    read by then is an error ``late`` in the result. Downloads run on daemon threads, so an abandoned
    one cannot hold the module's exit.
    """
    total = Partial()
    workers = default_workers(workers)
    pool = process_pool(workers) if len(keys) > 1 else None
    queued = deque()
    batch, size = [], 0
    jobs, results = queue.Queue(), queue.Queue()
    answered = set()

    def fetch(key):
        try:
            # botocore's bounded retries only (RETRIES): amazon.aws's backoff on top would multiply them
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            return key, None, describe_error(exc, "s3:GetObject s3://%s/%s" % (bucket, key))
        return key, body, None

    def download():
        for key in iter(jobs.get, None):
            try:
                results.put(fetch(key))
            except Exception as exc:  # pylint: disable=broad-except  # any failure is this file's gap, never a hang
                results.put((key, None, "s3:GetObject s3://%s/%s failed: %s: %s" % (bucket, key, type(exc).__name__, exc)))

    def parse(blobs):
        if pool is None:
            total.merge(scan_blobs(blobs, spec))
            return
        while len(queued) >= workers * QUEUED_BATCHES_PER_WORKER:
            total.merge(queued.popleft().result())
        queued.append(pool.submit(scan_blobs, blobs, spec))

    limit = max(1, min(concurrency, len(keys) or 1))
    threads = [threading.Thread(target=download, name="s3-get-%d" % n, daemon=True) for n in range(limit)]
    for thread in threads:
        thread.start()
    todo = iter(key for key, _size in keys)
    running = 0
    try:
        while True:
            while running < limit and (stop_at is None or time.monotonic() < stop_at):
                key = next(todo, None)
                if key is None:
                    break
                jobs.put(key)
                running += 1
            if not running:
                break
            try:
                key, body, err = results.get(timeout=None if stop_at is None else max(0.0, stop_at - time.monotonic()))
            except queue.Empty:
                break  # the deadline, with downloads in flight: they are abandoned
            running -= 1
            answered.add(key)
            url = "s3://%s/%s" % (bucket, key)
            if err:
                total.failed(url, err)
                continue
            batch.append((url, body))
            size += len(body)
            if size >= BATCH_BYTES:
                parse(batch)
                batch, size = [], 0
        for key, _size in keys:
            if key not in answered:
                total.failed("s3://%s/%s" % (bucket, key), late)
        if batch:
            parse(batch)
        while queued:
            total.merge(queued.popleft().result())
    finally:
        for _thread in threads:
            jobs.put(None)
        if pool is not None:
            pool.shutdown()
    return total
