# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""findings_forward: the findings of control reports, as validated OCSF events, to the security channel.

Coverage counts deliveries (``events``: each event to each destination). An event a destination did not
take after the retries is a miss, with the reason, so the run is incomplete and fails unless the playbook
accepts it; with ``spool_dir`` the undelivered events are also kept and sent first by the next run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.core.findings import sort_findings
from ansible_collections.ainative.security.plugins.module_utils.core.module import Outcome
from ansible_collections.ainative.security.plugins.module_utils.core.reports import read_report
from ansible_collections.ainative.security.plugins.module_utils.ocsf import destinations as dest_mod
from ansible_collections.ainative.security.plugins.module_utils.ocsf import spool
from ansible_collections.ainative.security.plugins.module_utils.ocsf.mapping import OCSF_VERSION, to_event
from ansible_collections.ainative.security.plugins.module_utils.ocsf.validate import Validator
from ansible_collections.ainative.security.plugins.module_utils.reporting.inputs import (
    check_finding,
    report_from_result,
)

CONTROL = "findings_forward"


def events_from_reports(paths, statuses, validator):
    """(events, notes): one validated event per finding with a wanted status, first copy of each finding."""
    events = []
    notes = []
    seen = set()
    duplicates = 0
    for path in paths:
        report = report_from_result(read_report(path, "findings report"))
        findings = [check_finding(f, path, index) for index, f in enumerate(report["findings"])]
        coverage = report.get("coverage") or {}
        if report.get("verdict") in ("incomplete", "error") or coverage.get("complete") is False:
            notes.append("%s says its own run was incomplete: its findings are forwarded, what it missed is not" % path)
        # The report's time is when its findings were recorded; a rerun on the same report gives the same events.
        when_ms = int(os.stat(path).st_mtime * 1000)
        for finding in sort_findings(findings):
            if finding["status"] not in statuses:
                continue
            key = (finding["fingerprint"], finding["status"])
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            event = to_event(finding, when_ms)
            validator.check(event, "finding %s of %s in %s" % (finding["id"], finding["control"], path))
            events.append(event)
    if duplicates:
        notes.append("%d finding(s) given twice (a control report and the merged report) were sent once" % duplicates)
    return events, notes


class Delivery(object):
    """Sends a queue to one destination in batches, with bounded retries and exponential backoff."""

    def __init__(self, destination, retries, delay, deadline, sleep=time.sleep, clock=time.monotonic):
        self.destination = destination
        self.retries = retries
        self.delay = delay
        self.deadline = deadline
        self.sleep = sleep
        self.clock = clock
        self.attempts = 0
        self.error = None

    def run(self, queue):
        """How many events of ``queue`` (a prefix) were delivered; ``error`` says why the rest were not."""
        end = self.clock() + self.deadline
        size = self.destination.batch_size or len(queue) or 1
        delivered = 0
        try:
            if not queue and not self.destination.batch_size:
                # A whole-file destination is rewritten even empty: it must not keep the last run's events.
                if not self._send(queue, end):
                    return 0
            while delivered < len(queue):
                batch = queue[delivered:delivered + size]
                if not self._send(batch, end):
                    break
                delivered += len(batch)
        finally:
            self.destination.close()
        if delivered == len(queue):
            self.error = None  # a retry got through: nothing to report
        return delivered

    def _send(self, batch, end):
        wait = self.delay
        for attempt in range(self.retries + 1):
            self.attempts += 1
            try:
                self.destination.send(batch)
                return True
            except dest_mod.DeliveryError as exc:
                self.error = exc.reason
                if exc.permanent:
                    return False
            if attempt == self.retries or self.clock() + wait > end:
                if attempt < self.retries:
                    self.error += " (deadline of %ss reached)" % self.deadline
                return False
            self.sleep(wait)
            wait *= 2
        return False


def _destinations(specs, check_mode):
    names = set()
    built = []
    for spec in specs:
        spec = dict(spec)
        spec["name"] = spec.get("name") or spec["type"]
        if spec["name"] in names:
            raise InputError("two destinations are called %s; give each a distinct name (it names its spool file)"
                             % spec["name"])
        names.add(spec["name"])
        built.append(dest_mod.build(spec, check_mode=check_mode))
    return built


def run(ctl):
    params = ctl.params
    if not params["destinations"]:
        raise InputError("destinations is empty; name at least one place to send the events")
    if params["retries"] < 0 or params["retry_delay"] < 0 or params["deadline"] <= 0:
        raise InputError("retries and retry_delay must be 0 or more and deadline more than 0")
    targets = _destinations(params["destinations"], ctl.check_mode)
    validator = Validator()
    events, notes = events_from_reports(params["src"], set(params["statuses"]), validator)
    spool_dir = params.get("spool_dir")
    cov = Coverage("events", asked=0)
    results = []
    changed = False
    by_class = {}
    for event in events:
        by_class[event["class_name"]] = by_class.get(event["class_name"], 0) + 1
    for target in targets:
        pending = spool.load(spool_dir, target.name) if spool_dir else []
        for event in pending:
            problems = validator.errors(event)
            if problems:
                raise InputError("spool file %s holds an event that is not valid OCSF (%s); move the file away to "
                                 "drop what it holds" % (spool.spool_path(spool_dir, target.name), problems[0]))
        spooled_uids = set(e["metadata"].get("uid") for e in pending)
        queue = pending + [e for e in events if e["metadata"]["uid"] not in spooled_uids]
        cov.asked += len(queue)
        info = dict(target.describe(), queued=len(queue), resent=len(pending))
        if ctl.check_mode and target.type != "file":
            cov.add(len(queue))
            changed = changed or bool(queue)
            info.update(delivered=0, would_send=len(queue), undelivered=0, attempts=0, error=None)
            results.append(info)
            continue
        delivery = Delivery(target, params["retries"], params["retry_delay"], params["deadline"])
        delivered = delivery.run(queue)
        cov.add(delivered)
        left = queue[delivered:]
        for event in left:
            cov.miss("%s: event %s" % (target.name, event["metadata"].get("uid")), delivery.error)
        if not queue and delivery.error:
            cov.miss(target.name, delivery.error)
        if spool_dir:
            changed = spool.save(spool_dir, target.name, left, check_mode=ctl.check_mode) or changed
            info["spooled"] = len(left)
        changed = changed or target.changed or (delivered > 0 and target.type != "file")
        info.update(delivered=delivered, undelivered=len(left), attempts=delivery.attempts, error=delivery.error)
        results.append(info)
    if not cov.asked:
        notes.append("no finding with status %s in %s: nothing to send" % (
            "/".join(params["statuses"]), ", ".join(params["src"])))
    undelivered = sum(r["undelivered"] for r in results)
    spooled = sum(r.get("spooled", 0) for r in results)
    out = Outcome(cov, [], notes=notes, changed=changed, events=len(events), by_class=by_class,
                  destinations=results, undelivered=undelivered, spooled=spooled, ocsf_version=OCSF_VERSION)
    out.msg = "%d OCSF event(s) from %d report(s), %d delivery(ies) to %d destination(s), %d not delivered%s" % (
        len(events), len(params["src"]), cov.examined, len(targets), undelivered,
        (" (%d spooled in %s for the next run)" % (spooled, spool_dir)) if spooled else "")
    return out
