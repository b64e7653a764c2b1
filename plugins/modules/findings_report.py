#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: findings_report
short_description: One findings report across controls, hosts and accounts (JSON, SARIF, JUnit, HTML)
version_added: 0.1.0
description:
  - Reads the per-control report files the collection's playbooks write to C(ainative_report_dir)
    (C({"control", "verdict", "findings", "notes"}), optionally C(host), C(account) and C(coverage)) and/or
    reports and registered results passed in O(inputs), and aggregates every finding by control, host, cloud
    account and severity. Every count is a sum over the inputs, except that the same finding (fingerprint,
    host and account) read from two inputs counts once.
  - Each finding is checked against the collection's findings model and tagged with where it came from in
    C(details.origin) (report control, host, account, source file).
  - Its coverage unit is C(reports) - the input reports given, and those read and understood. An input that
    cannot be read, is not a findings report or holds a finding outside the findings model is missed, with
    the reason. An input whose own run was incomplete (its C(coverage), or the verdict V(incomplete) or
    V(error)) or whose findings were cut at its C(max_findings) is missed too, so the aggregate is incomplete
    and fails the gate unless O(accept_incomplete) says why that is fine. A gap a control accepted itself
    (its C(coverage.accepted_incomplete)) stays accepted and is shown.
  - Writes, atomically and only when the content changed, the normalized JSON report, SARIF 2.1.0 (one run
    per module, host and account in each result's properties), JUnit XML (one suite per module, host and
    target, and a coverage test case) and one self-contained HTML page - a verdict banner naming the gate
    rule that decided it, the scope (hosts, accounts, time, collection version, each input's scanner and DB
    version, O(commit)), summary cards, the trend since O(previous), an inline SVG chart of open findings by
    control and severity, a section per control (its status under this gate, the verdict it reported itself,
    coverage, notes and its most severe open findings, expandable), tables by host and account, and a
    searchable, sortable, paged findings table filtered by severity, status, control or trend, each finding
    expandable (remediation, installed and fixed version, expected and actual values, evidence, CVSS, EPSS,
    KEV, link). The page loads nothing from anywhere; its Content-Security-Policy forbids it.
  - The reports are published as one set - each streamed to a temporary file in O(dest), then all renamed
    into place under a journal - so a failed or killed run leaves the whole previous set (or, once renaming
    began, the whole new one after the next run), never a new JSON beside an old page. The next run removes
    the temporary files a killed run left; 100,000 findings are never one string in memory.
  - A SARIF run keeps at most 5,000 results (GitHub code scanning's limit), the open ones first and the
    most severe first; a capped run says in its C(properties) (C(resultsTotal), C(resultsOmitted),
    C(resultsLimit)) and in a warning notification how many were left out. The JSON report, JUnit and the
    page keep every finding.
  - Returns counts suitable for M(ansible.builtin.set_stats) (AWX/Tower workflows) in RV(stats).
  - Fails the task after the reports are written when the gate fails - O(fail_on), O(fail_on_ids),
    O(fail_on_verdict) or incomplete coverage - unless O(report_only) is set.
  - Runs on the controller; use C(delegate_to=localhost) and C(run_once=true) on the task.
author:
  - Ainative Security Team (@ainative-security)
extends_documentation_fragment:
  - ainative.security.attributes
  - ainative.security.attributes.action_group_security
  - ainative.security.control
  - ainative.security.control.gate
  - ainative.security.control.risk_gate
attributes:
  check_mode:
    support: full
    details: Reads and aggregates the inputs and evaluates the gate; writes nothing and reports what would change.
  diff_mode:
    support: full
    details: Shows the verdict, summary and per-control counts of the JSON report before and after.
  platform:
    platforms: posix
    support: full
options:
  src_dir:
    description:
      - Directory holding the per-control report files (C(*.json)), usually C(ainative_report_dir).
      - Every C(*.json) file in it is an input; this module's own outputs are never read back (one found there
        is named in RV(notes); pass it in O(inputs) to read it). A file that is not a findings report is missed
        (see RV(coverage)).
      - At least one of O(src_dir) and O(inputs) is required.
    type: path
  inputs:
    description:
      - Reports passed directly, each a dict with a C(findings) list and optionally C(control), C(host),
        C(account), C(verdict), C(notes) and C(coverage) (a control's report, or a registered result of one
        of the collection's modules), or a bare list of findings.
      - A findings_report JSON report (or its registered result) passed back in is read as what it
        aggregated - each finding keeps its report control, host, account, fingerprint and status, each control
        its verdict and coverage, and the report's gate decision is kept in RV(inputs) - so the verdict and
        counts come out the same.
      - A registered result of a failed task without findings, or of a skipped task, is an input with the
        verdict V(error) (so the aggregate is incomplete). For a loop, pass its C(results) list.
      - Called O(reports) in 0.1.0; that name is deprecated because every other control's O(reports) names
        the report files it writes.
    type: list
    elements: raw
    aliases: [reports]
    version_added: 0.2.0
  dest:
    description:
      - Directory the reports are written to (created when missing). May be O(src_dir).
    type: path
    required: true
  formats:
    description: Which reports to write.
    type: list
    elements: str
    choices: [json, sarif, junit, html]
    default: [json, sarif, junit, html]
  basename:
    description: File name stem of the JSON (C(.json)), SARIF (C(.sarif)) and JUnit (C(.junit.xml)) reports.
    type: str
    default: findings-report
  html_name:
    description: File name of the HTML page.
    type: str
    default: index.html
  title:
    description: Title of the HTML page and of the JSON report's C(meta).
    type: str
    default: ainative.security findings report
  generated_at:
    description:
      - A timestamp (any string) to print in the page and the JSON C(meta). Unset, the reports hold no
        time, so a rerun on the same inputs rewrites nothing and reports C(changed=false).
    type: str
  default_host:
    description:
      - Host credited with findings whose report names no C(host) and whose details name none (reports
        written by plays that ran on the controller).
    type: str
    default: localhost
  fail_on:
    description:
      - Fail when an open finding (within O(fail_controls)) has this severity or a higher one.
      - One of V(none), V(INFO), V(LOW), V(MEDIUM), V(HIGH), V(CRITICAL), in any case. Unset, findings
        fail the task only through O(fail_on_ids) or O(fail_on_verdict).
      - Also the threshold of JUnit failures (V(HIGH) when unset).
    type: str
  fail_on_verdict:
    description:
      - Fail when a control (within O(fail_controls)) reported the verdict V(fail).
      - An input with the verdict V(incomplete) or V(error) always makes the run incomplete, with or
        without this option.
    type: bool
    default: false
  fail_controls:
    description:
      - Limit the findings gate (O(fail_on), O(fail_on_ids)) and O(fail_on_verdict) to these controls
        (report control names such as V(image_scan), V(dataset_integrity)). Empty means every control.
      - Coverage is not scoped - an incomplete input fails the gate whatever its control.
    type: list
    elements: str
    default: []
  previous:
    description:
      - Path of an earlier JSON report of this module (its C(findings-report.json)); the page, RV(trend) and
        the JSON report's C(meta.trend) then say which open findings are new, fixed, now ignored and still
        open, matched by fingerprint.
      - Only the findings open in that report count as open then; a finding open now is new or still open
        whatever that report says about it. The trend is information; the gate never reads it.
      - The run fails with one message when the file is not a JSON report of findings_report.
    type: path
    version_added: 0.2.0
  commit:
    description:
      - A source revision (for example the git commit of the playbooks or of the scanned code) named in the
        page's scope and in the JSON report's C(meta.scope).
    type: str
    version_added: 0.2.0
  html_max_rows:
    description:
      - Rows per page of the HTML findings table (filtering and sorting cover every finding; counts are
        complete). The page's script renders one page at a time from the findings embedded as JSON.
    type: int
    default: 1000
notes:
  - The JSON report has the collection's normalized shape (C(schema), C(control=findings_report), C(verdict),
    C(summary), C(findings), C(notes), C(coverage), C(gate), C(meta)); C(meta) holds the counts, verdict and
    coverage by control, the counts by host and account, the inputs and the gate.
  - O(ignore) and O(baseline) apply to the aggregated findings.
seealso:
  - module: ansible.builtin.set_stats
  - plugin: ainative.security.control_report
    plugin_type: filter
"""

EXAMPLES = r"""
- name: One report over every control that wrote to the report directory
  ainative.security.findings_report:
    src_dir: "{{ ainative_report_dir }}"
    dest: "{{ ainative_report_dir }}"
  delegate_to: localhost
  run_once: true
  register: findings

- name: Hand the counts to the next node of the AWX workflow
  ansible.builtin.set_stats:
    data:
      ainative_findings: "{{ findings.stats }}"

- name: Gate the job on CRITICAL findings of the image and dataset controls only
  ainative.security.findings_report:
    src_dir: /var/lib/ainative/reports
    dest: /var/www/security
    formats: [html, sarif]
    fail_on: CRITICAL
    fail_controls: [image_scan, dataset_integrity]
  delegate_to: localhost
  run_once: true

- name: Aggregate registered results of this play without files in between (a failed or skipped one too)
  ainative.security.findings_report:
    inputs:
      - control: s3_encryption_assert
        account: "123456789012"
        findings: "{{ s3.findings }}"
      - "{{ hunt }}"
    dest: /tmp/report
    formats: [json]
  delegate_to: localhost
  run_once: true

- name: Accept that the Falco report is missing on hosts without Falco
  ainative.security.findings_report:
    src_dir: "{{ ainative_report_dir }}"
    dest: "{{ ainative_report_dir }}"
    fail_on: HIGH
    accept_incomplete: "edge hosts run without Falco (ticket SEC-41)"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
findings:
  description:
    - The aggregated findings in the collection's shared model, most severe first, at most O(max_findings),
      each with C(details.origin).
  returned: always
  type: list
  elements: dict
  version_added: 0.2.0
findings_truncated:
  description: True when RV(findings) was cut at O(max_findings); reports and RV(summary) hold every finding.
  returned: always
  type: bool
  version_added: 0.2.0
verdict:
  description:
    - V(pass), V(findings) (open findings below the gate), V(fail) (findings or a control's verdict fail the
      gate) or V(incomplete) (an input missed or incomplete, and not accepted).
  returned: always
  type: str
  sample: findings
summary:
  description: Counts over all findings (from C(findings.summarize)); C(by_severity) counts open findings.
  returned: always
  type: dict
  sample: {"total": 76, "open": 71, "by_severity": {"CRITICAL": 4, "HIGH": 24}, "by_status": {"open": 71, "ignored": 5}}
coverage:
  description:
    - The input reports - C(unit=reports), C(asked) (inputs given), C(examined) (read and understood),
      C(missed) (each with C(item) and C(reason), at most 50; an unreadable or incomplete input),
      C(missed_count), C(complete), C(gaps) and C(accepted_incomplete).
  returned: always
  type: dict
  version_added: 0.2.0
controls:
  description:
    - Per report control, its worst verdict, hosts, open and total counts, open counts by severity, and
      C(coverage), one entry per input report (C(source), C(complete) - null when the report declared no
      coverage -, C(unit), C(examined), C(missed), C(accepted_incomplete), C(incomplete) - why it counts
      as incomplete here).
  returned: always
  type: dict
  sample: {"image_scan": {"verdict": "pass", "open": 0, "total": 4, "hosts": ["localhost"], "by_severity": {},
           "coverage": [{"source": "image_scan.json", "complete": true, "unit": "targets", "examined": 2}]}}
hosts:
  description: Per host, total, open and open-by-severity counts.
  returned: always
  type: dict
accounts:
  description: Per cloud account, total, open and open-by-severity counts.
  returned: always
  type: dict
stats:
  description: A small dict for M(ansible.builtin.set_stats) (no findings, only counts and verdicts).
  returned: always
  type: dict
  sample: {"verdict": "findings", "failed": false, "total": 76, "open": 71, "controls": {"falco": {"verdict": "findings", "open": 7}}}
gate:
  description:
    - The gate's decision - C(fail_on), C(fail_on_ids), C(fail_on_kev), C(fail_on_epss), C(fail_on_cvss), C(rules)
      (the rules findings matched), C(failing), C(failing_ids), C(incomplete), C(accepted_incomplete), C(report_only),
      C(failed), C(verdict) and C(reason).
    - Also, as in 0.1.0, C(reasons), C(failing_count), C(failed_controls), C(fail_controls) and C(fail_on_verdict).
    - C(controls) - each control's status under this gate (C(verdict) - V(fail), V(incomplete), V(findings) or
      V(pass), decided with the same rules as RV(verdict) - and C(failing), its open findings that fail the
      gate). The page shows it beside the verdict the control reported itself (RV(controls)).
    - C(accepted_incomplete_inputs) - each input's accepted-incomplete reason (C(source), C(control), C(reason);
      at most 20, C(accepted_incomplete_inputs_count) counts all); C(accepted_incomplete) names them after
      this run's own O(accept_incomplete) reason.
  returned: always
  type: dict
trend:
  description:
    - With O(previous), the trend since that report - C(previous), C(previous_generated_at),
      C(previous_verdict), C(counts) (C(new), C(fixed), C(waived), C(still_open)), each list with at most 50
      entries (C(fingerprint), C(id), C(control), C(severity), C(title), C(target)), most severe first, and
      C(truncated). The JSON report's C(meta.trend) holds every fixed one and the fingerprints of the others.
  returned: when O(previous) is given
  type: dict
  version_added: 0.2.0
  sample: {"previous": "/srv/reports/findings-report.json", "counts": {"new": 2, "fixed": 1, "waived": 0, "still_open": 40}}
reports:
  description: Each written (or, in check mode, would-be written) report, its path and whether it changed.
  returned: always
  type: dict
  sample: {"html": {"path": "/srv/reports/index.html", "changed": true}}
inputs:
  description:
    - The inputs read, each with its source, control, host, verdict, number of findings counted, C(duplicates)
      (its findings already counted from an earlier input) and C(incomplete) (why it counts as incomplete,
      or null); a findings_report read back also has its C(gate) (C(verdict), C(failed), C(reason), C(fail_on),
      C(accepted_incomplete)).
  returned: always
  type: list
  elements: dict
notes:
  description: What was read, what was left out and why, which inputs were incomplete.
  returned: always
  type: list
  elements: str
expired_ignores:
  description: Ignore entries past their expiry that matched a finding.
  returned: always
  type: list
  elements: dict
  version_added: 0.2.0
"""

from ansible_collections.ainative.security.plugins.module_utils.core.module import COLLECTION, DEPRECATED_IN
from ansible_collections.ainative.security.plugins.module_utils.reporting import module as report


def main():
    module = report.ReportModule(
        "findings_report",
        argument_spec=dict(
            src_dir=dict(type="path"),
            inputs=dict(type="list", elements="raw", aliases=["reports"],
                        deprecated_aliases=[dict(name="reports", version=DEPRECATED_IN, collection_name=COLLECTION)]),
            dest=dict(type="path", required=True),
            formats=dict(type="list", elements="str", choices=list(report.FORMATS), default=list(report.FORMATS)),
            basename=dict(type="str", default="findings-report"),
            html_name=dict(type="str", default="index.html"),
            title=dict(type="str", default="ainative.security findings report"),
            generated_at=dict(type="str"),
            default_host=dict(type="str", default="localhost"),
            fail_on_verdict=dict(type="bool", default=False),
            fail_controls=dict(type="list", elements="str", default=[]),
            html_max_rows=dict(type="int", default=1000),
            previous=dict(type="path"),
            commit=dict(type="str"),
        ),
        gate=None,
        reports=False,  # its own outputs (dest, formats): 0.1.0's reports option was the inputs
        required_one_of=[("src_dir", "inputs")],
    )
    module.run(report.run)


if __name__ == "__main__":
    main()
