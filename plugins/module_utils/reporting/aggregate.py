# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Aggregation of the input reports: findings tagged with where they came from, counts by control, host,
cloud account and severity, each control's worst verdict and the coverage its reports declared.

Every count is a sum over the inputs, except that the same finding (fingerprint, host and account) read
from two inputs - a control's report and an aggregate that holds it - counts once, the first time it is
read. A finding of an aggregate passed back in keeps the control, host and account it was counted under.
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


def counted_key(finding, origin=None):
    """A finding as the report counts it: the same fingerprint on another host or account is another finding.
    ``origin`` defaults to the finding's ``details.origin`` (set by :func:`aggregate`, kept in the JSON report)."""
    origin = origin or finding["details"].get("origin") or {}
    return (origin.get("host"), origin.get("account"), finding["fingerprint"])


def _origin(finding, source, default_host):
    """Where a finding is counted: its report control, host, account and source file."""
    prior = finding["details"].get("origin") if source.get("aggregate") is not None else None
    if isinstance(prior, dict) and prior.get("control"):  # read back from an aggregate: counted as it was
        return {"control": str(prior["control"]), "host": str(prior.get("host") or _host(finding, source, default_host)),
                "account": str(prior["account"]) if prior.get("account") else None,
                "source": str(prior.get("source") or source["source"]), "via": source["source"]}
    return {"control": source.get("control") or finding["control"], "host": _host(finding, source, default_host),
            "account": _account(finding, source), "source": source["source"]}


def _source_controls(source, default_host):
    """The controls a source speaks for, each with what it says of them: (verdict, notes, coverage rows, hosts)."""
    view = source.get("aggregate")
    if view is not None:
        named = dict((c, (e["verdict"], e["notes"], e["coverage"], e["hosts"])) for c, e in view["by_control"].items())
        for finding in source["findings"]:
            named.setdefault(finding["details"]["origin"]["control"], (None, [], [], []))
        if source.get("incomplete"):
            for control, (verdict_, notes, rows, hosts) in named.items():
                named[control] = (verdict_, notes, rows + [_source_coverage(source)], hosts)
        return named or {source["source"]: (None, source.get("notes") or [], [_source_coverage(source)], [])}
    names = [source["control"]] if source.get("control") else sorted(set(
        f["details"]["origin"]["control"] for f in source["findings"])) or [source["source"]]
    host = [source.get("host") or default_host] if source.get("control") else []
    return dict((name, (source.get("verdict"), source.get("notes") or [], [_source_coverage(source)], host))
                for name in names)


def aggregate(sources, default_host="localhost"):
    """Tag each source's (checked) findings with ``details.origin``; count by control, host, account."""
    findings = []
    by_control, by_host, by_account = {}, {}, {}
    inputs = []
    seen = set()
    for source in sources:
        counted = []
        for finding in source["findings"]:
            origin = _origin(finding, source, default_host)
            key = counted_key(finding, origin)
            if key in seen:
                continue
            seen.add(key)
            counted.append(finding)
            finding["details"]["origin"] = origin
            control = origin["control"]
            entry = _control_entry(by_control, control)
            _count(entry, finding)
            if origin["host"] not in entry["hosts"]:
                entry["hosts"].append(origin["host"])
            if finding["control"] not in entry["modules"]:
                entry["modules"].append(finding["control"])
            _count(_entry(by_host, origin["host"]), finding)
            if origin["account"]:
                _count(_entry(by_account, origin["account"]), finding)
        duplicates = len(source["findings"]) - len(counted)
        source["findings"] = counted
        # A control that ran and found nothing is still listed (with its verdict and coverage).
        for name, (verdict_, notes, rows, hosts) in sorted(_source_controls(source, default_host).items()):
            entry = _control_entry(by_control, name)
            entry["sources"].append(source["source"])
            if verdict_:
                entry["verdicts"].append(verdict_)
            entry["notes"].extend(notes)
            entry["coverage"].extend(rows)
            for host in hosts:
                if host not in entry["hosts"]:
                    entry["hosts"].append(host)
        row = {"source": source["source"], "control": source.get("control"), "host": source.get("host"),
               "verdict": source.get("verdict"), "findings": len(counted), "duplicates": duplicates,
               "incomplete": source.get("incomplete")}
        if source.get("aggregate") is not None:
            row["gate"] = source["aggregate"]["gate"]
        inputs.append(row)
        findings.extend(counted)
    for entry in by_control.values():
        entry["verdict"] = worst_verdict(entry.pop("verdicts")) or ("findings" if entry["open"] else "pass")
        entry["hosts"].sort()
        entry["modules"].sort()
    accepted, named = [], set()
    for reason in (a for source in sources for a in source.get("accepted") or []):
        if (reason["control"], reason["reason"]) not in named:  # a report read directly and inside an aggregate
            named.add((reason["control"], reason["reason"]))
            accepted.append(reason)
    return findings, {"by_control": by_control, "by_host": by_host, "by_account": by_account, "inputs": inputs,
                      "accepted": accepted}


def controls_view(by_control):
    """The per-control part of the module result (no notes, no per-status counts)."""
    return dict((c, {"verdict": e["verdict"], "open": e["open"], "total": e["total"], "by_severity": e["by_severity"],
                     "hosts": e["hosts"], "coverage": e["coverage"]})
                for c, e in by_control.items())


def control_verdicts(by_control, findings, decision, scope=()):
    """Each control's status under this report's gate decision (the same rules as the verdict):
    ``fail`` when one of its open findings failed the gate or its reported verdict did (``fail_on_verdict``),
    ``incomplete`` when one of its inputs was incomplete and that was not accepted, else ``findings`` when
    it has open findings, else ``pass``. ``{control: {"verdict", "failing"}}``."""
    failing = set(decision.get("failing_fingerprints") or ())
    scope = set(scope or ())
    counts = dict((c, 0) for c in by_control)
    if failing:
        for finding in findings:
            control = finding["details"]["origin"]["control"]
            if finding["status"] == "open" and finding["fingerprint"] in failing and (not scope or control in scope):
                counts[control] = counts.get(control, 0) + 1
    failed_controls = set(decision.get("failed_controls") or ())
    out = {}
    for control, entry in by_control.items():
        if counts.get(control) or control in failed_controls:
            verdict = "fail"
        elif any(c.get("incomplete") for c in entry["coverage"]) and not decision.get("accepted_incomplete"):
            verdict = "incomplete"
        else:
            verdict = "findings" if entry["open"] else "pass"
        out[control] = {"verdict": verdict, "failing": counts.get(control, 0)}
    return out


def stats(agg, summary, verdict, failed, controls=None):
    """A small dict for set_stats (AWX workflows): counts and verdicts, no findings.

    Each control's ``verdict`` is its status under this report's gate (``controls``, from
    :func:`control_verdicts`), so it never contradicts the overall verdict; ``reported`` is the verdict its
    own inputs gave under their own gates.
    """
    controls = controls or {}
    return {"verdict": verdict, "failed": failed, "total": summary["total"], "open": summary["open"],
            "by_severity": summary["by_severity"],
            "controls": dict((c, {"verdict": (controls.get(c) or {}).get("verdict", e["verdict"]),
                                  "reported": e["verdict"], "open": e["open"]})
                             for c, e in agg["by_control"].items()),
            "hosts": dict((h, e["open"]) for h, e in agg["by_host"].items()),
            "accounts": dict((a, e["open"]) for a, e in agg["by_account"].items())}
