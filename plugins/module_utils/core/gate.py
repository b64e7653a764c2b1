# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one gate every control uses: a severity threshold, ids that always fail, risk rules, and coverage.

The gate fails when an open finding is at or above ``fail_on``, matches ``fail_on_ids`` (by id or any
alias), or meets a risk rule (``fail_on_kev``, ``fail_on_epss``, ``fail_on_cvss``: each its own rule,
read from the finding's ``details.risk``), or when coverage is incomplete and the playbook did not accept
that with a reason. Whether the risk data was available at all is the control's coverage to report.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ainative.security.plugins.module_utils.core.errors import PolicyError
from ansible_collections.ainative.security.plugins.module_utils.core.findings import (
    SEVERITIES,
    SEVERITY_RANK,
    FindingError,
    normalize_severity,
)

THRESHOLDS = ("none",) + SEVERITIES[1:]
FAILING_SAMPLE = 20


def parse_threshold(value, option="fail_on"):
    """``fail_on`` in any case -> canonical severity, or None for ``none``."""
    if value is None or str(value).strip().lower() in ("none", ""):
        return None
    try:
        return normalize_severity(value)
    except FindingError:
        raise PolicyError("%s %r is not a severity; use one of %s (any case)" % (option, value, ", ".join(THRESHOLDS)))


def finding_ids(finding):
    """The finding's id and its aliases, upper case (ids are compared case-insensitively)."""
    ids = [finding["id"].upper()]
    ids.extend(str(alias).upper() for alias in finding["details"].get("aliases") or ())
    return ids


def parse_limit(value, option, high):
    """A risk threshold (``fail_on_epss`` 0-1, ``fail_on_cvss`` 0-10), or None when not set."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not 0.0 <= number <= high:
        raise PolicyError("%s %r must be a number from 0 to %s" % (option, value, high))
    return number


class Gate(object):
    def __init__(self, fail_on=None, fail_on_ids=None, only_fixed=False, report_only=False, accept_incomplete=None,
                 fail_on_kev=False, fail_on_epss=None, fail_on_cvss=None):
        self.threshold = parse_threshold(fail_on)
        self.ids = frozenset(str(i).strip().upper() for i in fail_on_ids or () if str(i).strip())
        self.only_fixed = only_fixed
        self.report_only = report_only
        self.accept_incomplete = (accept_incomplete or "").strip() or None
        self.kev = bool(fail_on_kev)
        self.epss = parse_limit(fail_on_epss, "fail_on_epss", 1.0)
        self.cvss = parse_limit(fail_on_cvss, "fail_on_cvss", 10.0)

    @classmethod
    def from_params(cls, params):
        return cls(params.get("fail_on"), params.get("fail_on_ids"), params.get("only_fixed") or False,
                   params.get("report_only") or False, params.get("accept_incomplete"),
                   params.get("fail_on_kev") or False, params.get("fail_on_epss"), params.get("fail_on_cvss"))

    @property
    def risk_rules(self):
        """The risk rules in force, as the options that set them."""
        rules = []
        if self.kev:
            rules.append("fail_on_kev")
        if self.epss is not None:
            rules.append("fail_on_epss %s" % self.epss)
        if self.cvss is not None:
            rules.append("fail_on_cvss %s" % self.cvss)
        return rules

    def rules_hit(self, finding):
        """The gate rules an open finding meets (empty when it passes)."""
        if finding["status"] != "open":
            return []
        hits = []
        if self.threshold is not None and SEVERITY_RANK[finding["severity"]] >= SEVERITY_RANK[self.threshold]:
            hits.append("fail_on %s" % self.threshold)
        if self.ids and any(i in self.ids for i in finding_ids(finding)):
            hits.append("fail_on_ids")
        risk = finding["details"].get("risk")
        if risk and (self.kev or self.epss is not None or self.cvss is not None):
            if self.kev and risk.get("kev") is True:
                hits.append("fail_on_kev")
            epss = (risk.get("epss") or {}).get("score")
            if self.epss is not None and epss is not None and epss >= self.epss:
                hits.append("fail_on_epss %s" % self.epss)
            cvss = risk.get("cvss_score")
            if self.cvss is not None and cvss is not None and cvss >= self.cvss:
                hits.append("fail_on_cvss %s" % self.cvss)
        if hits and self.only_fixed and finding["kind"] == "vulnerability":
            if not finding["details"].get("fixable", bool(finding["location"].get("fixed_version"))):
                return []
        return hits

    def fails(self, finding):
        return bool(self.rules_hit(finding))

    def failing(self, findings):
        return [f for f in findings if self.fails(f)]

    def decide(self, findings, coverage):
        """The gate's decision as a dict; ``failed`` is the verdict's source of truth."""
        failing = []
        rules = set()
        for finding in findings:
            hits = self.rules_hit(finding)
            if hits:
                failing.append(finding)
                rules.update(hits)
        incomplete = not coverage.complete
        accepted = None
        if incomplete and self.accept_incomplete:
            accepted = self.accept_incomplete
            coverage.accept(accepted)
        reasons = []
        if failing:
            rule = ", ".join(sorted(rules))
            ids = sorted(set(f["id"] for f in failing))
            shown = ", ".join(ids[:5]) + (" and %d more" % (len(ids) - 5) if len(ids) > 5 else "")
            reasons.append("%d open finding(s) match %s: %s" % (len(failing), rule, shown))
        if incomplete:
            gaps = "; ".join(coverage.gaps())
            reasons.append("coverage incomplete (%s)%s" % (
                gaps, ", accepted: %s" % accepted if accepted else ""))
        failed = bool(failing) or (incomplete and not accepted)
        if failing:
            verdict = "fail"
        elif incomplete and not accepted:
            verdict = "incomplete"
        elif any(f["status"] == "open" for f in findings):
            verdict = "findings"
        else:
            verdict = "pass"
        return {
            "fail_on": self.threshold or "none",
            "fail_on_ids": sorted(self.ids),
            "fail_on_kev": self.kev,
            "fail_on_epss": self.epss,
            "fail_on_cvss": self.cvss,
            "rules": sorted(rules),
            "failing": len(failing),
            "failing_ids": sorted(set(f["id"] for f in failing))[:FAILING_SAMPLE],
            "failing_fingerprints": [f["fingerprint"] for f in failing],
            "incomplete": incomplete,
            "accepted_incomplete": accepted,
            "report_only": self.report_only,
            "failed": failed,
            "verdict": verdict,
            "reason": "; ".join(reasons) or "no open finding matches the gate and coverage is complete",
        }
