# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Aggregation of the input reports: findings tagged with where they came from, counts by control, host,
cloud account and severity, each control's worst verdict and the coverage its reports declared.

Every count is a sum over the inputs; nothing is de-duplicated or dropped.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.ainative.security.plugins.module_utils.core.findings import SEVERITIES, STATUSES

# Most severe first: the order of every table, chart and count in the page.
SEVERITY_ORDER = tuple(reversed(SEVERITIES))
# Worst last; a verdict a control invents ranks like "findings".
VERDICT_RANK = {"pass": 0, "findings": 1, "incomplete": 2, "error": 3, "fail": 4}
_ARN_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:[^:]*:[^:]*:(\d{12}):")


def coverage_text(coverage):
    """One line for a coverage dict (a control's or the aggregate's); ``complete`` None: none reported."""
    if coverage.get("complete") is None:
        return coverage.get("reason") or "no coverage reported"
    text = "examined %s %s" % (coverage.get("examined"), coverage.get("unit"))
    if coverage.get("asked") is not None:
        text += " of %s" % coverage["asked"]
    missed = coverage.get("missed") or []
    if coverage.get("missed_count"):
        text += "; missed %d (%s)" % (coverage["missed_count"], "; ".join(
            "%s: %s" % (m.get("item"), m.get("reason")) for m in missed[:5]))
    elif not coverage["complete"]:
        text += "; incomplete (%s)" % "; ".join(coverage.get("gaps") or [])
    if coverage.get("accepted_incomplete"):
        text += "; incomplete accepted: %s" % coverage["accepted_incomplete"]
    return text


def _account(finding, source):
    details = finding["details"]
    for key in ("account", "account_id"):
        if details.get(key):
            return str(details[key])
    if source.get("account"):
        return source["account"]
    for value in (finding["location"].get("resource"), finding.get("target")):
        match = _ARN_ACCOUNT.match(str(value or ""))
        if match:
            return match.group(1)
    return None


def _host(finding, source, default_host):
    details = finding["details"]
    for key in ("host", "hostname"):
        if isinstance(details.get(key), str) and details[key]:
            return details[key]
    return source.get("host") or default_host


def _counter():
    return {"total": 0, "open": 0, "by_severity": dict((s, 0) for s in SEVERITY_ORDER),
            "by_status": dict((s, 0) for s in STATUSES)}


def _count(counter, finding):
    counter["total"] += 1
    counter["by_status"][finding["status"]] += 1
    if finding["status"] == "open":
        counter["open"] += 1
        counter["by_severity"][finding["severity"]] += 1


def _control_entry(by_control, name):
    entry = by_control.get(name)
    if entry is None:
        entry = by_control[name] = dict(_counter(), verdicts=[], hosts=[], modules=[], sources=[], notes=[],
                                        coverage=[])
    return entry


def _entry(table, name):
    entry = table.get(name)
    if entry is None:
        entry = table[name] = _counter()
    return entry


def worst_verdict(verdicts):
    known = [v for v in verdicts if v]
    if not known:
        return None
    return max(known, key=lambda v: (VERDICT_RANK.get(v, 1), v))


def _source_coverage(source):
    """The coverage row of one input in its control's entry (what the report declared, and whether it counts)."""
    declared = source.get("coverage")
    row = {"source": source["source"], "complete": None, "incomplete": source.get("incomplete")}
    if isinstance(declared, dict):
        row.update((k, declared.get(k)) for k in ("unit", "asked", "examined", "missed", "missed_count", "gaps",
                                                  "accepted_incomplete"))
        row["complete"] = bool(declared.get("complete"))
    if source.get("incomplete"):
        row["complete"] = False
        row["reason"] = source["incomplete"]
    return row


def aggregate(sources, default_host="localhost"):
    """Tag each source's (checked) findings with ``details.origin``; count by control, host, account."""
    findings = []
    by_control, by_host, by_account = {}, {}, {}
    inputs = []
    for source in sources:
        control_of_source = source.get("control")
        for finding in source["findings"]:
            control = control_of_source or finding["control"]
            origin = {"control": control, "host": _host(finding, source, default_host),
                      "account": _account(finding, source), "source": source["source"]}
            finding["details"]["origin"] = origin
            entry = _control_entry(by_control, control)
            _count(entry, finding)
            if origin["host"] not in entry["hosts"]:
                entry["hosts"].append(origin["host"])
            if finding["control"] not in entry["modules"]:
                entry["modules"].append(finding["control"])
            _count(_entry(by_host, origin["host"]), finding)
            if origin["account"]:
                _count(_entry(by_account, origin["account"]), finding)
        # A control that ran and found nothing is still listed (with its verdict and coverage).
        names = [control_of_source] if control_of_source else sorted(set(
            f["details"]["origin"]["control"] for f in source["findings"])) or [source["source"]]
        for name in names:
            entry = _control_entry(by_control, name)
            entry["sources"].append(source["source"])
            if source.get("verdict"):
                entry["verdicts"].append(source["verdict"])
            entry["notes"].extend(source.get("notes") or [])
            entry["coverage"].append(_source_coverage(source))
            host = source.get("host") or default_host
            if control_of_source and host not in entry["hosts"]:
                entry["hosts"].append(host)
        inputs.append({"source": source["source"], "control": control_of_source, "host": source.get("host"),
                       "verdict": source.get("verdict"), "findings": len(source["findings"]),
                       "incomplete": source.get("incomplete")})
        findings.extend(source["findings"])
    for entry in by_control.values():
        entry["verdict"] = worst_verdict(entry.pop("verdicts")) or ("findings" if entry["open"] else "pass")
        entry["hosts"].sort()
        entry["modules"].sort()
    return findings, {"by_control": by_control, "by_host": by_host, "by_account": by_account, "inputs": inputs}


def controls_view(by_control):
    """The per-control part of the module result (no notes, no per-status counts)."""
    return dict((c, {"verdict": e["verdict"], "open": e["open"], "total": e["total"], "by_severity": e["by_severity"],
                     "hosts": e["hosts"], "coverage": e["coverage"]})
                for c, e in by_control.items())


def stats(agg, summary, verdict, failed):
    """A small dict for set_stats (AWX workflows): counts and verdicts, no findings."""
    return {"verdict": verdict, "failed": failed, "total": summary["total"], "open": summary["open"],
            "by_severity": summary["by_severity"],
            "controls": dict((c, {"verdict": e["verdict"], "open": e["open"]}) for c, e in agg["by_control"].items()),
            "hosts": dict((h, e["open"]) for h, e in agg["by_host"].items()),
            "accounts": dict((a, e["open"]) for a, e in agg["by_account"].items())}
