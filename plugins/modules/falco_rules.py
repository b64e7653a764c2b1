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
  - An invalid file never replaces the live one. A valid file is written atomically, with a backup of the old one.
  - Without I(dest) the module only validates (useful in CI) and never reports a change.
requirements:
  - PyYAML on the managed host (C(python3-yaml) on Debian/Ubuntu, C(python3-pyyaml) on RHEL).
author:
  - Ainative Security Team (@ainative-security)
extends_documentation_fragment:
  - ainative.security.attributes
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
  fail_on_warnings:
    description: Treat warnings (deprecated keys, unknown keys, possibly undefined lists) as errors.
    type: bool
    default: false
  backup:
    description: Keep a timestamped copy of the file it replaces.
    type: bool
    default: true
  mode:
    description: File mode of I(dest), as an octal string.
    type: str
    default: '0644'
notes:
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
  description: Errors (HIGH) and warnings (LOW) in the collection's findings model.
  returned: when state is present
  type: list
  elements: dict
summary:
  description: Counts of the findings.
  returned: when state is present
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ainative.security.plugins.module_utils import falco_rules as rules_lib
from ansible_collections.ainative.security.plugins.module_utils.falco_files import FalcoFileError, RulesDeployer


def main():
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type="path"),
            content=dict(type="str"),
            dest=dict(type="path"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            base_rules=dict(type="list", elements="path"),
            engine_version=dict(type="str"),
            falco_validate=dict(type="str", choices=["auto", "always", "never"], default="auto"),
            falco_binary=dict(type="str", default="falco"),
            fail_on_warnings=dict(type="bool", default=False),
            backup=dict(type="bool", default=True),
            mode=dict(type="str", default="0644"),
        ),
        mutually_exclusive=[("src", "content")],
        required_if=[("state", "present", ("src", "content"), True), ("state", "absent", ("dest",))],
        supports_check_mode=True,
    )
    if module.params["state"] == "present" and not rules_lib.HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=str(rules_lib.YAML_IMPORT_ERROR))
    try:
        int(module.params["mode"], 8)
    except ValueError:
        module.fail_json(msg="mode %r is not an octal file mode such as '0644'" % module.params["mode"])
    try:
        result = RulesDeployer(module).apply()
    except FalcoFileError as exc:
        details = dict(exc.details)
        details.pop("changed", None)
        module.fail_json(msg=str(exc), **details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
