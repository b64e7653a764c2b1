# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The trend since an earlier findings report: new, fixed, waived and still open findings, matched the way
the report counts them (:func:`aggregate.counted_key`: fingerprint, host and account), so a finding fixed on
one host and still open on another is one of each.

A finding is open now or not by this run's own findings only. The previous report says only what was
open then: a finding it claims ``fixed`` (or leaves out) that is open now is ``new``, never hidden. The
trend is information; the gate never reads it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.core.findings import SEVERITY_RANK, sort_findings
from ansible_collections.ainative.security.plugins.module_utils.core.reports import (
    JSON_SCHEMA_ID,
    Lines,
    ReportError,
    read_report,
)
from ansible_collections.ainative.security.plugins.module_utils.reporting.aggregate import counted_key

CONTROL = "findings_report"
# Entries per list in the module result and on the page (the counts and the JSON report are complete).
SAMPLE = 50
LISTS = ("new", "fixed", "waived", "still_open")
_BRIEF_KEYS = ("fingerprint", "id", "control", "severity", "title", "target")


def load_previous(path):
    """The earlier report's open findings as ``{"path", "generated_at", "verdict", "open": {fp: brief}}``."""
    try:
        doc = read_report(path, "previous report")
    except ReportError as exc:
        raise InputError(exc.msg)
    if not isinstance(doc, dict) or doc.get("control") != CONTROL or doc.get("schema") != JSON_SCHEMA_ID \
            or not isinstance(doc.get("findings"), list):
        raise InputError("previous report %s is not a findings_report JSON report (schema %s, control %s); give "
                         "the findings-report.json an earlier run of findings_report wrote" % (path, JSON_SCHEMA_ID, CONTROL))
    opened = {}
    for index, finding in enumerate(doc["findings"]):
        if not isinstance(finding, dict) or not isinstance(finding.get("fingerprint"), str) \
                or finding.get("severity") not in SEVERITY_RANK:
            raise InputError("previous report %s findings[%d] has no fingerprint or severity; give the "
                             "findings-report.json an earlier run of findings_report wrote" % (path, index))
        if finding.get("status") == "open":
            details = finding.get("details") if isinstance(finding.get("details"), dict) else {}
            opened[counted_key({"fingerprint": finding["fingerprint"], "details": details})] = _brief(finding)
    meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
    return {"path": path, "generated_at": meta.get("generated_at"), "verdict": doc.get("verdict"), "open": opened}


def _brief(finding):
    brief = dict((k, finding.get(k)) for k in _BRIEF_KEYS)
    brief["target"] = None if brief["target"] is None else str(brief["target"])
    origin = (finding.get("details") or {}).get("origin")
    brief["host"] = str(origin["host"]) if isinstance(origin, dict) and origin.get("host") else None
    return brief


def _most_severe(briefs):
    return sorted(briefs, key=lambda b: (-SEVERITY_RANK.get(b["severity"], 0), b["id"] or "", b["fingerprint"]))


def compare(findings, previous):
    """Each list as briefs, most severe first: ``new`` (open now, not open then), ``still_open``,
    ``waived`` (open then, present now but ignored) and ``fixed`` (open then, not present now or fixed)."""
    now = {}
    present = {}
    for finding in sort_findings(findings):
        if finding["status"] == "open":
            now.setdefault(counted_key(finding), finding)
        else:
            present.setdefault(counted_key(finding), finding)
    before = previous["open"]
    lists = dict((name, []) for name in LISTS)
    for key, finding in now.items():
        lists["still_open" if key in before else "new"].append(_brief(finding))
    for key, brief in before.items():
        if key in now:
            continue
        waived = present.get(key)
        if waived is not None and waived["status"] in ("ignored", "expired_ignore"):
            lists["waived"].append(_brief(waived))
        else:
            lists["fixed"].append(brief)
    lists = dict((name, _most_severe(items)) for name, items in lists.items())
    return {"previous": previous["path"], "previous_generated_at": previous["generated_at"],
            "previous_verdict": previous["verdict"], "counts": dict((n, len(lists[n])) for n in LISTS),
            "lists": lists}


def result_view(trend, sample=SAMPLE):
    """The module result's ``trend``: counts and at most ``sample`` briefs per list."""
    view = dict((k, trend[k]) for k in ("previous", "previous_generated_at", "previous_verdict", "counts"))
    for name in LISTS:
        view[name] = trend["lists"][name][:sample]
    view["truncated"] = any(len(items) > sample for items in trend["lists"].values())
    return view


def report_view(trend):
    """The JSON report's ``meta.trend``: counts, every fixed finding (brief: it is not in the report) and
    the fingerprints of the new, waived and still open ones (their findings are in the report)."""
    view = dict((k, trend[k]) for k in ("previous", "previous_generated_at", "previous_verdict", "counts"))
    view["fixed"] = Lines(trend["lists"]["fixed"])
    for name in ("new", "waived", "still_open"):
        view[name] = Lines([b["fingerprint"] for b in trend["lists"][name]])
    return view
