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
    (C({"control", "verdict", "findings", "notes"}), optionally C(host) and C(account)) and/or findings lists
    passed in O(reports), and aggregates every finding by control, host, cloud account and severity.
    Every count is a sum over the inputs; nothing is de-duplicated or dropped.
  - Each finding is checked against the collection's findings model and tagged with where it came from in
    C(details.origin) (report control, host, account, source file).
  - Writes, atomically and only when the content changed, the normalized JSON report, SARIF 2.1.0 (one run
    per module, host and account in each result's properties), JUnit XML (one suite per module, host and
    target) and one self-contained HTML page (summary cards, an inline SVG chart of open findings by control
    and severity, sortable tables by control, host and account, a sortable and filterable findings table).
    The page loads nothing from anywhere; its Content-Security-Policy forbids it.
  - Returns counts suitable for M(ansible.builtin.set_stats) (AWX/Tower workflows) in RV(stats).
  - Fails the task only when asked, with O(fail_on) and/or O(fail_on_verdict), after the reports are written.
  - Runs on the controller; use C(delegate_to=localhost) and C(run_once=true) on the task.
author:
  - Ainative Security Team (@ainative-security)
extends_documentation_fragment:
  - ainative.security.attributes
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
      - Files that are not findings reports (no C(findings) list) are left out and named in RV(notes); this
        module's own JSON output is never read back as an input.
      - At least one of O(src_dir) and O(reports) is required.
    type: path
  reports:
    description:
      - Reports passed directly, each a dict with a C(findings) list and optionally C(control), C(host),
        C(account), C(verdict) and C(notes) (a control's report, or a registered result of one of the
        collection's modules), or a bare list of findings.
    type: list
    elements: raw
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
      - Fail the task when an open finding is at or above this severity (within O(fail_controls)).
        Unset, findings never fail the task. Also the threshold of JUnit failures (V(HIGH) when unset).
    type: str
    choices: [CRITICAL, HIGH, MEDIUM, LOW, INFO, UNKNOWN]
  fail_on_verdict:
    description: Fail the task when a control (within O(fail_controls)) reported the verdict V(fail).
    type: bool
    default: false
  fail_controls:
    description:
      - Limit O(fail_on) and O(fail_on_verdict) to these controls (report control names such as
        V(image_scan), V(dataset_integrity)). Empty means every control.
    type: list
    elements: str
    default: []
  html_max_rows:
    description: Most findings rows the HTML table shows at once (filtering searches all; counts are complete).
    type: int
    default: 1000
notes:
  - The JSON report has the collection's normalized shape (C(schema), C(control=findings_report), C(verdict),
    C(summary), C(findings), C(notes), C(meta)); C(meta) holds the counts by control, host and account and the
    gate.
seealso:
  - module: ansible.builtin.set_stats
  - name: Findings report guide
    description: What the report holds, how AWX workflows use its stats, how to gate a job on it.
    link: https://example.invalid/ainative/security/docs/findings_report.html
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

- name: Aggregate registered results of this play without files in between
  ainative.security.findings_report:
    reports:
      - control: s3_encryption_assert
        account: "123456789012"
        findings: "{{ s3.findings }}"
      - "{{ hunt }}"
    dest: /tmp/report
    formats: [json]
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
verdict:
  description: V(fail) when the gate failed, V(findings) when open findings remain, else V(pass).
  returned: always
  type: str
  sample: findings
summary:
  description: Counts over all findings (from C(findings.summarize)); C(by_severity) counts open findings.
  returned: always
  type: dict
  sample: {"total": 76, "open": 71, "by_severity": {"CRITICAL": 4, "HIGH": 24}, "by_status": {"open": 71, "ignored": 5}}
controls:
  description: Per report control, its worst verdict, hosts, open and total counts and open counts by severity.
  returned: always
  type: dict
  sample: {"image_scan": {"verdict": "pass", "open": 0, "total": 4, "hosts": ["localhost"], "by_severity": {}}}
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
  description: The gate asked for and its outcome (C(failed), C(reasons), C(failing_count), C(failed_controls)).
  returned: always
  type: dict
reports:
  description: Each written (or, in check mode, would-be written) report, its path and whether it changed.
  returned: always
  type: dict
  sample: {"html": {"path": "/srv/reports/index.html", "changed": true}}
inputs:
  description: The inputs read, each with its source, control, host, verdict and number of findings.
  returned: always
  type: list
  elements: dict
notes:
  description: What was read, what was left out, why the gate failed.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ainative.security.plugins.module_utils import findings_report

SEVERITY_CHOICES = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO", "UNKNOWN"]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            src_dir=dict(type="path"),
            reports=dict(type="list", elements="raw"),
            dest=dict(type="path", required=True),
            formats=dict(type="list", elements="str", choices=list(findings_report.FORMATS),
                         default=list(findings_report.FORMATS)),
            basename=dict(type="str", default="findings-report"),
            html_name=dict(type="str", default="index.html"),
            title=dict(type="str", default="ainative.security findings report"),
            generated_at=dict(type="str"),
            default_host=dict(type="str", default="localhost"),
            fail_on=dict(type="str", choices=SEVERITY_CHOICES),
            fail_on_verdict=dict(type="bool", default=False),
            fail_controls=dict(type="list", elements="str", default=[]),
            html_max_rows=dict(type="int", default=1000),
        ),
        required_one_of=[("src_dir", "reports")],
        supports_check_mode=True,
    )
    p = module.params
    for name in ("basename", "html_name"):
        if not p[name] or "/" in p[name] or p[name] in (".", ".."):
            module.fail_json(msg="%s must be a plain file name (no '/'), got %r" % (name, p[name]))
    if p["html_max_rows"] < 1:
        module.fail_json(msg="html_max_rows must be at least 1")
    outputs = findings_report.output_paths(p["dest"], p["formats"], p["basename"], p["html_name"])
    try:
        sources, skipped = [], []
        if p["src_dir"]:
            sources, skipped = findings_report.load_dir(p["src_dir"], exclude=outputs.values())
        sources += [findings_report.source_from_param(item, i) for i, item in enumerate(p["reports"] or [])]
        built = findings_report.build(
            sources, formats=p["formats"], default_host=p["default_host"], fail_on=p["fail_on"],
            fail_controls=p["fail_controls"], fail_on_verdict=p["fail_on_verdict"], generated_at=p["generated_at"],
            title=p["title"], max_rows=p["html_max_rows"], skipped=skipped)
        diff = None
        if module._diff and "json" in built["documents"]:
            diff = findings_report.summary_diff(outputs["json"], built["documents"]["json"])
        written = findings_report.write(outputs, built["documents"], check_mode=module.check_mode)
    except findings_report.FindingsReportError as exc:
        module.fail_json(msg=str(exc))
    result = dict(
        changed=any(w["changed"] for w in written.values()),
        verdict=built["verdict"], summary=built["summary"], controls=built["controls"], hosts=built["hosts"],
        accounts=built["accounts"], stats=built["stats"], gate=built["gate"], reports=written,
        inputs=built["inputs"], notes=built["notes"],
    )
    if diff is not None and result["changed"]:
        result["diff"] = diff
    if built["gate"]["failed"]:
        module.fail_json(msg="findings report gate failed: %s; reports in %s" % (
            "; ".join(built["gate"]["reasons"]), p["dest"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
