# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hunt CloudTrail events for high-risk activity (control ``cloudtrail_hunt``): the entry point.

The parts: cloudtrail_window (time windows), cloudtrail_detections (the catalogue and selecting from
it), cloudtrail_matchers (per-event conditions), cloudtrail_scan (records, files, findings),
cloudtrail_sources (local files, LookupEvents, worker processes) and cloudtrail_s3 (the log archive).

Coverage counts log files read (``local``, ``s3``: a file that could not be read or is not a log is a
gap, and so is an account/region without log files in the window) or regions hunted
(``lookup_events``). The per account/region breakdown is returned as ``coverage_detail``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress
import time

from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import DependencyError, InputError
from ansible_collections.ainative.security.plugins.module_utils.core.module import Outcome
from ansible_collections.ainative.security.plugins.module_utils.cloud import cloudtrail_history as history
from ansible_collections.ainative.security.plugins.module_utils.cloud import cloudtrail_athena
from ansible_collections.ainative.security.plugins.module_utils.cloud import cloudtrail_scan as scan
from ansible_collections.ainative.security.plugins.module_utils.cloud.aws import Clients
from ansible_collections.ainative.security.plugins.module_utils.cloud import organizations
from ansible_collections.ainative.security.plugins.module_utils.cloud.cloudtrail_detections import (
    select_detections, user_detections)
from ansible_collections.ainative.security.plugins.module_utils.cloud.cloudtrail_s3 import (
    DEFAULT_DEADLINE, Archive, bound_retries, scan_s3)
from ansible_collections.ainative.security.plugins.module_utils.cloud.cloudtrail_sources import (
    expand_paths, scan_local, scan_lookup)
from ansible_collections.ainative.security.plugins.module_utils.cloud.cloudtrail_window import (
    iso, parse_duration, time_window)

LOOKUP_RETENTION_DAYS = 90


def validate(params):
    for name in ("brute_force_threshold", "unauthorized_threshold", "concurrency", "deadline"):
        if params[name] < 1:
            raise InputError("%s must be at least 1, got %d" % (name, params[name]))
    if params["lookup_rate"] <= 0 or params["lookup_rate"] > 2.0:
        raise InputError("lookup_rate must be above 0 and at most 2 (the LookupEvents quota per region), got %s"
                         % params["lookup_rate"])
    if params["workers"] < 0 or params["max_lookup_events"] < 0:
        raise InputError("workers and max_lookup_events cannot be negative")
    for cidr in params.get("allowed_cidrs") or []:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise InputError("allowed_cidrs: %r is not an IPv4/IPv6 network (e.g. 203.0.113.0/24)" % cidr)


def run(ctl):
    """The module's run function: ``ctl`` is the AWSControlModule."""
    params = ctl.params
    validate(params)
    clients = None
    if params["source"] != "local":
        clients = Clients(ctl.module, max_pool=params["concurrency"])
    if params["source"] == "s3":
        bound_retries(clients)
    if params.get("organization"):
        if params["source"] != "lookup_events":
            raise InputError("organization works with source lookup_events only; an organization trail's S3 archive "
                             "already holds every account (use source s3 with organization_id)")
        empty = dict(dict.fromkeys(("events_scanned", "events_in_window", "files_scanned"), 0), counts={}, window=None,
                     detections=[], rules_loaded=[], rules_refused=[], coverage_detail=[], parser=None)
        outcome = organizations.fan_out(params["organization"], clients, lambda account_clients: hunt(
            params, account_clients), "regions", per_account=("coverage_detail",), empty=empty)
        outcome.extra["coverage_complete"] = outcome.coverage.complete
    else:
        outcome = hunt(params, clients)
    history.commit(outcome, ctl.check_mode, ctl.diff_mode)
    for note in outcome.notes:
        if note.startswith("coverage is incomplete"):
            ctl.warn(note)
    return outcome


def _file_coverage(cov, partial):
    cov.add(partial.files)
    for source, reason in partial.errors:
        cov.miss(source, reason)


def hunt(params, clients=None, now=None):
    """Run a hunt from module parameters; returns the Outcome (every finding, coverage, own keys)."""
    started = time.monotonic()
    own_rules, own_bases, refused = user_detections(params.get("rules"))
    detections = select_detections(params.get("detections"), params.get("tags"), params.get("exclude_detections"),
                                   extra=own_rules, exclude_rules=params.get("exclude_rules"))
    past = history.load(params.get("history"), params.get("organization"))  # fail closed before reading logs
    start, end = time_window(params.get("since"), params.get("start_time"), params.get("end_time"), now=now)
    burst_window = parse_duration(params.get("burst_window") or "10m", "burst_window")
    spec = scan.ScanSpec(history.scan_ids([d["id"] for d in detections]), start, end, params.get("allowed_cidrs"),
                         params.get("parser") or "auto", rules=own_rules + own_bases)
    if spec.parser == "msgspec" and not scan.HAS_MSGSPEC:
        raise DependencyError("parser: msgspec is not installed on the host; use parser: auto or json, "
                              "or pip install msgspec")
    notes = []
    if "api_call_from_untrusted_network" in spec.ids and not spec.allowed_cidrs:
        notes.append("api_call_from_untrusted_network is inactive: set allowed_cidrs")
    source = params["source"]
    concurrency = params.get("concurrency") or 16
    if source == "local":
        files = expand_paths(params.get("paths") or [])
        cov = Coverage("files", asked=len(files))
        partial = scan_local(files, spec, params.get("workers") or 0)
        _file_coverage(cov, partial)
        detail = [{"source": "local", "account": None, "region": None,
                   "complete": bool(files) and not partial.errors, "files_listed": len(files),
                   "files_read": partial.files, "files_failed": len(partial.errors),
                   "error_count": len(partial.errors), "errors": ["%s: %s" % e for e in partial.errors[:20]]}]
    elif source == "s3":
        clients.account_id()
        s3 = clients.client("s3")
        archive = Archive(s3, params["bucket"], params.get("prefix")).discover(
            params.get("accounts"), params.get("organization_id"), params.get("regions"))
        archive.list_window(start, end, concurrency)
        keys = archive.all_keys()
        cov = Coverage("files", asked=len(keys))
        deadline = params.get("deadline") or DEFAULT_DEADLINE
        late = "deadline reached (%d s) before it was read" % deadline
        partial = scan_s3(s3, params["bucket"], keys, spec, params.get("workers") or 0, concurrency,
                          stop_at=started + deadline, late=late)
        unread = sum(1 for _source, reason in partial.errors if reason == late)
        if unread:
            notes.append("deadline reached (%d s): %d of %d files not read" % (deadline, unread, len(keys)))
        _file_coverage(cov, partial)
        for item, reason in archive.gaps:
            cov.miss(item, reason)
        notes.extend(archive.notes)
        detail = archive.detail(dict(partial.errors))
        detail.extend({"source": "s3", "account": None, "region": None, "folder": item, "complete": False,
                       "error_count": 1, "errors": [reason]}
                      for item, reason in archive.gaps if item.startswith("s3://"))
    elif source == "athena":
        cov, partial, detail, more = cloudtrail_athena.hunt_athena(
            clients.client("athena"), params, spec, dict((d["id"], d["rule"]) for d in own_rules + own_bases), start, end)
        notes.extend(more)
    else:
        clients.account_id()
        if end - start > datetime.timedelta(days=LOOKUP_RETENTION_DAYS):
            notes.append("LookupEvents keeps %d days of events; older parts of the window are not covered"
                         % LOOKUP_RETENTION_DAYS)
        regions = params.get("regions") or clients.enabled_regions()
        cov = Coverage("regions", asked=len(regions))
        partial, detail = scan_lookup(clients, regions, detections, spec, start, end,
                                      rate=params.get("lookup_rate") or 2.0, concurrency=params.get("concurrency") or 4,
                                      max_events=params.get("max_lookup_events"))
        for entry in detail:
            if entry["complete"]:
                cov.add()
            else:
                cov.miss(entry["region"], entry["errors"][0])
    for bad in refused:  # a rule asked for and not run is a gap, like a file not read
        cov.miss("%s%s" % (bad["file"] or bad["id"], ":%d" % bad["line"] if bad["line"] else ""), "rule refused: %s"
                 % bad["reason"])
    limit = params.get("max_findings") or 0
    findings = scan.build_findings(partial, detections, params.get("brute_force_threshold") or 10,
                                   params.get("unauthorized_threshold") or 10, burst_window, evidence_limit=limit)
    judged = history.judge(params.get("history"), past, detections, partial.matches, start, end, cov)
    findings.extend(judged.findings)
    notes.extend(judged.notes)
    counts = dict((d["id"], 0) for d in detections)
    for finding in findings:
        counts[finding["id"]] += 1
    if limit and len(findings) > limit:
        notes.append("findings truncated to max_findings=%d of %d (counts and summary cover all)"
                     % (limit, len(findings)))
    if not cov.complete:
        notes.append("coverage is incomplete: %s" % "; ".join(cov.gaps()))
    outcome = Outcome(
        cov, findings, notes=notes, changed=False,
        counts=counts,
        window={"start": iso(start), "end": iso(end)},
        detections=[dict((k, d[k]) for k in ("id", "title", "severity", "tags")) for d in detections],
        rules_loaded=[dict((k, d[k]) for k in ("id", "rule_id", "title", "level", "file")) for d in detections],
        rules_refused=refused,
        events_scanned=partial.events,
        events_in_window=partial.in_window,
        files_scanned=partial.files if source != "lookup_events" else 0,
        coverage_detail=detail,
        coverage_complete=cov.complete,
        parser=partial.parser or scan.parser_for(spec),
    )
    outcome.report_meta = dict((k, outcome.extra[k]) for k in ("window", "counts", "events_in_window", "files_scanned"))
    outcome.report_meta["source"] = source
    outcome.history = judged  # written by run(), which knows check and diff mode
    if judged.result:
        outcome.extra["history"] = judged.result
    return outcome
