# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The control contract's shared options (plugins/module_utils/core/module.py builds their spec).
    DOCUMENTATION = r"""
options:
  max_findings:
    description:
      - Most findings returned in RV(findings), most severe first; V(0) returns all.
      - Reports always hold every finding, and RV(summary) counts every finding.
    type: int
    default: 1000
notes:
  - Every result carries RV(coverage), what the control examined and what it could not examine and why.
    A run that examined nothing, or less than it was asked to, is incomplete, and the gate fails on it
    unless O(accept_incomplete) gives a reason.
"""

    GATE = r"""
options:
  fail_on:
    description:
      - Fail when an open finding has this severity or a higher one.
      - One of V(none), V(INFO), V(LOW), V(MEDIUM), V(HIGH), V(CRITICAL), in any case.
      - V(none) gates on O(fail_on_ids) and coverage only.
    type: str
  fail_on_ids:
    description:
      - Finding ids (CVE, rule or check ids, detection names) that fail the gate whatever their severity.
      - Compared case-insensitively with the id and every alias of a finding (V(AVD-AWS-0088) also matches V(AWS-0088)).
    type: list
    elements: str
    default: []
  accept_incomplete:
    description:
      - Why an incomplete run may pass the gate (for example V(region eu-south-2 not enabled, ticket SEC-12)).
      - Without it, a run that examined nothing or less than it was asked to fails the gate.
      - The reason is recorded in RV(gate) and RV(coverage) and in every report.
    type: str
  report_only:
    description: Report the gate's decision in RV(gate) and RV(verdict) but do not fail the task.
    type: bool
    default: false
  ignore:
    description:
      - Waivers from the playbook's policy. A waived finding keeps status V(ignored) with its reason.
      - An entry with O(ignore[].expires) in the past hides nothing and is listed in RV(expired_ignores).
      - Nothing in the examined artifact can waive a finding.
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description: Finding id or alias.
        type: str
        required: true
      reason:
        description: Why the finding is accepted, and by whom.
        type: str
        required: true
      expires:
        description: Last day (YYYY-MM-DD, UTC) the entry applies.
        type: str
      paths:
        description: Globs the finding's path must match.
        type: list
        elements: str
      packages:
        description: Package names the finding's package must be one of.
        type: list
        elements: str
      targets:
        description: Targets the finding's target must be one of.
        type: list
        elements: str
  baseline:
    description:
      - JSON report of an earlier run. Only findings whose fingerprint it lacks fail the gate.
      - Fingerprints leave out lines and versions, so a line shift or a DB update is not a new finding.
    type: path
"""

    REPORTS = r"""
options:
  reports:
    description:
      - Report files to write, by format. Each is written atomically and only when its content changed.
      - The file options (O(mode), O(owner), O(group), ...) apply to every report.
    type: dict
    default: {}
    suboptions:
      json:
        description: The collection's normalized JSON report (read by M(ainative.security.findings_report)).
        type: path
      sarif:
        description: SARIF 2.1.0, for code-scanning dashboards.
        type: path
      junit:
        description: JUnit XML, for CI test views.
        type: path
"""

    # The risk rules of the shared gate, apart so that a module documenting its own gate options
    # (dataset_hash_verify, whose ignore is a list of globs) can still share them.
    RISK_GATE = r"""
options:
  fail_on_kev:
    description:
      - Fail when an open vulnerability is in the CISA Known Exploited Vulnerabilities catalogue.
      - Read from the finding's C(details.risk.kev); each risk option is a rule of its own, and any rule that
        matches fails the gate, together with O(fail_on) and O(fail_on_ids).
      - M(ainative.security.image_scan) reports vulnerabilities it has no KEV data for (no O(ainative.security.image_scan#module:kev_catalog)
        and a scanner that reports none) as a coverage gap, so the rule cannot pass on what it could not judge.
    type: bool
    default: false
    version_added: 0.2.0
  fail_on_epss:
    description:
      - Fail when an open vulnerability's EPSS score (probability of exploitation in 30 days, V(0) to V(1)) is at
        least this value.
      - M(ainative.security.image_scan) reports a run with no EPSS data at all as a coverage gap.
    type: float
    version_added: 0.2.0
  fail_on_cvss:
    description:
      - Fail when an open vulnerability's highest CVSS v3 or v4 base score (V(0) to V(10)) is at least this value.
    type: float
    version_added: 0.2.0
"""
