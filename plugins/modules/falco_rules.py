#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: falco_rules
short_description: Validate a Falco rules file and deploy it only when it is valid
version_added: 0.1.0
description:
  - Validates a Falco rules file together with the files Falco loads before it (the packaged
    C(falco_rules.yaml), then earlier files of the same directory), and writes it to I(dest) only when it is valid.
  - The collection's own checks always run and report the file and line of each problem - YAML syntax,
    rule/macro/list structure, required keys, key types, priorities, C(exceptions), C(override) and the deprecated
    C(append), condition syntax, macros that are not defined, macro cycles, overrides of objects that do not exist,
    and (as warnings) names in C(in (...)) lists that look like undefined lists.
  - When the C(falco) binary is present (I(falco_validate=auto)) it also runs C(falco -V) on the same file set and
    refuses the file if Falco does.
  - An invalid file, or one whose findings fail the gate (O(fail_on)), never replaces the live one. A valid file
    is written atomically, with a backup of the old one. Errors are V(HIGH) findings, warnings V(LOW).
  - Without I(dest) the module only validates (useful in CI) and never reports a change.
requirements:
  - PyYAML on the managed host (C(python3-yaml) on Debian/Ubuntu, C(python3-pyyaml) on RHEL).
author:
  - Ainative Security Team (@ainative-security)
extends_documentation_fragment:
  - ainative.security.attributes
  - ainative.security.attributes.action_group_security
  - ainative.security.control
  - ainative.security.control.gate
  - ainative.security.control.risk_gate
  - ainative.security.control.reports
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    description: Validates and reports whether the file would change, without writing it.
  diff_mode:
    support: full
    description: Shows the old and new file content.
  platform:
    support: full
    platforms: posix
options:
  src:
    description: Path of the candidate rules file on the managed host.
    type: path
  content:
    description: The candidate rules file content.
    type: str
  dest:
    description: Where the rules file goes live, usually under C(/etc/falco/rules.d/). Omit to only validate.
    type: path
  state:
    description: C(absent) removes I(dest).
    type: str
    choices: [present, absent]
    default: present
  base_rules:
    description:
      - Rules files Falco loads before this one, in order; their macros and lists are in scope and they can be
        overridden. Defaults to the packaged C(/etc/falco/falco_rules.yaml) and C(falco_rules.local.yaml) when
        present, then the files of the I(dest) directory that sort before it.
    type: list
    elements: path
  engine_version:
    description: Falco engine version of the target; a file with a higher C(required_engine_version) is refused.
    type: str
  falco_validate:
    description:
      - Also run C(falco -V) - C(auto) when the binary is found, C(always) (fail if it is missing) or C(never).
    type: str
    choices: [auto, always, never]
    default: auto
  falco_binary:
    description: Name or path of the Falco binary.
    type: str
    default: falco
  fail_on:
    description:
      - Fail, and do not deploy, when a finding has this severity or a higher one. Errors are V(HIGH), warnings
        (deprecated keys, unknown keys, possibly undefined lists) V(LOW).
      - One of V(none), V(INFO), V(LOW), V(MEDIUM), V(HIGH), V(CRITICAL), in any case.
    type: str
    default: HIGH
    version_added: 0.2.0
  fail_on_warnings:
    description:
      - Deprecated, use O(fail_on). V(true) is O(fail_on=LOW) (warnings fail too); V(false) keeps O(fail_on)
        (errors still fail).
    type: bool
  backup:
    description: Keep a timestamped copy of the file it replaces.
    type: bool
    default: true
notes:
  - The file options (O(mode), O(owner), ...) apply to I(dest) and to the reports; a new I(dest) gets mode C(0644)
    unless O(mode) says otherwise.
  - Falco reloads rules when a watched file changes (C(watch_config_files)); the C(ainative.security.falco) role also
    reloads the service when a rules file changed.
seealso:
  - module: ainative.security.falco_config
  - module: ainative.security.falco_install
"""

EXAMPLES = r"""
- name: Deploy the team's rules, refused with line-level reasons if invalid
  ainative.security.falco_rules:
    src: /tmp/ml_platform_rules.yaml
    dest: /etc/falco/rules.d/50-ml-platform.yaml

- name: Validate a rules file in CI without deploying it
  ainative.security.falco_rules:
    content: "{{ lookup('ansible.builtin.file', 'rules/custom.yaml') }}"
    base_rules: [/etc/falco/falco_rules.yaml]
  delegate_to: localhost
"""

RETURN = r"""
dest:
  description: The live path (null when only validating).
  returned: always
  type: str
valid:
  description: Whether the candidate passed every check.
  returned: always
  type: bool
errors:
  description: Problems that make Falco refuse the file; each has file, line, object, code, message.
  returned: always
  type: list
  elements: dict
  sample: [{"file": "/etc/falco/rules.d/50-ml.yaml", "line": 12, "object": "rule 'Shell in model server'",
            "code": "undefined_macro", "message": "condition uses macro 'spawnd_process', which is not defined ..."}]
rule_warnings:
  description: Problems Falco accepts but that are probably mistakes (same keys as C(errors)).
  returned: always
  type: list
  elements: dict
counts:
  description: Number of rules, macros and lists the candidate defines.
  returned: when state is present
  type: dict
  sample: {"rules": 12, "macros": 8, "lists": 5}
base_rules:
  description: Files that were loaded before the candidate.
  returned: when state is present
  type: list
  elements: str
falco_validation:
  description: Result of C(falco -V) (C(ran) false when the binary is absent or disabled).
  returned: when state is present
  type: dict
backup_file:
  description: Copy of the replaced file.
  returned: when a file was replaced and backup is true
  type: str
findings:
  description: Errors (HIGH) and warnings (LOW) in the collection's shared model, most severe first, at most O(max_findings).
  returned: always
  type: list
  elements: dict
findings_truncated:
  description: True when RV(findings) was cut at O(max_findings); reports and RV(summary) hold every finding.
  returned: always
  type: bool
summary:
  description: Counts of every finding by severity, kind and status.
  returned: always
  type: dict
verdict:
  description: V(pass), V(findings) (open findings below the gate), V(fail) (findings fail the gate) or V(incomplete) (coverage incomplete and not accepted).
  returned: always
  type: str
gate:
  description:
    - The gate's decision - C(fail_on), C(fail_on_ids), C(fail_on_kev), C(fail_on_epss), C(fail_on_cvss), C(rules)
      (the rules findings matched), C(failing), C(failing_ids), C(incomplete), C(accepted_incomplete), C(report_only),
      C(failed), C(verdict) and C(reason).
  returned: always
  type: dict
coverage:
  description:
    - What the control examined (unit V(rules files), the candidate).
    - C(unit), C(asked), C(examined), C(missed) (each with C(item) and C(reason), at most 50), C(missed_count),
      C(complete), C(gaps) and C(accepted_incomplete).
  returned: always
  type: dict
notes:
  description: Remarks about the run (expired waivers, baseline counts, skipped inputs).
  returned: always
  type: list
  elements: str
reports:
  description: Reports written, by format, each with C(path) and C(changed).
  returned: always
  type: dict
expired_ignores:
  description: Ignore entries past their expiry that matched a finding.
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.ainative.security.plugins.module_utils.core.module import ControlModule
from ansible_collections.ainative.security.plugins.module_utils.falco import rules


def main():
    module = ControlModule(
        rules.CONTROL,
        argument_spec=dict(
            src=dict(type="path"),
            content=dict(type="str"),
            dest=dict(type="path"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            base_rules=dict(type="list", elements="path"),
            engine_version=dict(type="str"),
            falco_validate=dict(type="str", choices=["auto", "always", "never"], default="auto"),
            falco_binary=dict(type="str", default="falco"),
            fail_on_warnings=dict(type="bool"),
            backup=dict(type="bool", default=True),
        ),
        gate="HIGH",
        # 0.1.0: true made warnings fail; false meant errors only, which is the default gate.
        legacy_gate={"fail_on_warnings": ({"fail_on": "LOW"}, {})},
        mutually_exclusive=[("src", "content")],
        required_if=[("state", "present", ("src", "content"), True), ("state", "absent", ("dest",))],
    )
    module.run(rules.run)


if __name__ == "__main__":
    main()
