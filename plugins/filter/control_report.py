# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: control_report
short_description: A findings report from a registered task result, also of a failed or skipped task
version_added: 0.2.0
author:
  - ainative.security contributors (@ainative-security)
description:
  - Turns the registered result of one of the collection's modules into the report dict
    M(ainative.security.findings_report) reads (C(control), C(host), C(account), C(verdict), C(findings),
    C(notes) and, when the module returned them, C(coverage) and C(findings_truncated)), for example to
    write it to C(ainative_report_dir) with M(ansible.builtin.copy).
  - A skipped task, and a failed task that returned no findings, get the verdict V(error) and a note
    saying why, so the report says the control did not run instead of saying nothing.
  - Nothing else of the result (its invocation, module arguments, credentials) is carried over.
  - M(ainative.security.findings_report) does the same with a result passed in its O(ainative.security.findings_report#module:inputs).
positional: _input
options:
  _input:
    description: The registered result (or a control's report, or a list of findings).
    type: raw
    required: true
  host:
    description: Host to credit the findings to (for example C(inventory_hostname)).
    type: str
  control:
    description: Report control name (for example V(dataset_integrity)); default the result's own C(control).
    type: str
seealso:
  - module: ainative.security.findings_report
"""

EXAMPLES = r"""
- name: Verify the dataset, even when that fails
  ainative.security.dataset_hash_verify:
    path: /srv/data/train
    manifest: /srv/data/train.json
  register: verified
  ignore_errors: true

- name: Write its report for the findings report (verdict error when the task failed without findings)
  ansible.builtin.copy:
    dest: "{{ ainative_report_dir }}/dataset_integrity-{{ inventory_hostname }}.json"
    content: "{{ verified | ainative.security.control_report(host=inventory_hostname, control='dataset_integrity') | to_nice_json }}\n"
    mode: "0644"
  delegate_to: localhost
"""

RETURN = r"""
_value:
  description: The report dict.
  type: dict
  contains:
    control:
      description: The report control name, or null.
      type: str
    host:
      description: The host, or null.
      type: str
    verdict:
      description: The module's verdict, V(error) for a skipped task or a failed one without findings.
      type: str
    findings:
      description: The findings (at most the module's C(max_findings)).
      type: list
      elements: dict
    notes:
      description: The module's notes, or why the control did not run.
      type: list
      elements: str
    coverage:
      description: The module's coverage, when it returned one.
      type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ainative.security.plugins.module_utils.core.errors import ControlError
from ansible_collections.ainative.security.plugins.module_utils.reporting.inputs import report_from_result


def control_report(result, host=None, control=None):
    try:
        return report_from_result(result, host=host, control=control)
    except ControlError as exc:
        raise AnsibleFilterError("control_report: %s" % exc.msg)


class FilterModule(object):
    def filters(self):
        return {"control_report": control_report}
