#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: falco_response
short_description: Stop or kill the containers named in Falco alerts, with Podman or Docker and an allow-list
version_added: 0.1.0
description:
  - Takes the containers of triaged Falco alerts (the C(containers) or C(events) returned by
    M(ainative.security.falco_events)) and stops or kills each one that still runs.
  - Containers matching the I(allow_list) (name, id, 12-character id or image; shell-style patterns) are never
    touched, and neither are host events (C(container.id=host)).
  - Works with Podman and Docker (C(auto) tries Podman first, then Docker, per container).
  - I(dry_run) (or check mode) reports what would be done without doing it.
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
    description: Same as I(dry_run).
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
options:
  targets:
    description: Containers to act on - dicts with C(id) and/or C(name) (the C(containers) of M(ainative.security.falco_events)).
    type: list
    elements: dict
  events:
    description: Falco alerts; the containers they name are the targets.
    type: list
    elements: dict
  names:
    description: Container names or ids to act on directly.
    type: list
    elements: str
  action:
    description:
      - C(stop) (SIGTERM, then SIGKILL after I(timeout)), C(kill) (I(signal) at once) or C(pause) (the
        container is frozen, its processes and file system kept for forensics; C(version_added) 0.2.0).
    type: str
    choices: [stop, kill, pause]
    default: stop
  runtime:
    description: Container runtime to use.
    type: str
    choices: [auto, podman, docker]
    default: auto
  allow_list:
    description: Containers never touched - names, ids or images, shell-style patterns allowed.
    type: list
    elements: str
    default: []
  dry_run:
    description: Report what would be done without doing it.
    type: bool
    default: false
  timeout:
    description: Seconds C(stop) waits before killing.
    type: int
    default: 10
  signal:
    description: Signal sent by C(kill).
    type: str
    default: KILL
  fail_on_error:
    description:
      - Deprecated. A container that could not be stopped or killed is a miss in RV(coverage), so the task fails
        unless O(accept_incomplete) gives a reason; V(false) sets O(accept_incomplete) for you.
    type: bool
seealso:
  - module: ainative.security.falco_events
"""

EXAMPLES = r"""
- name: Find critical alerts from containers in the last 15 minutes
  ainative.security.falco_events:
    path: /var/log/falco.log
    priority: critical
    since: 15m
  register: falco_triage

- name: Kill those containers, except the platform's own
  ainative.security.falco_response:
    targets: "{{ falco_triage.containers }}"
    action: kill
    allow_list: [falco, falcosidekick, "registry.example.com/platform/*"]
"""

RETURN = r"""
actions:
  description: One record per container with container, id, name, image, runtime, rules, action, result
    (stopped, killed, paused, would_stop, would_kill, would_pause, skipped, unchanged, failed) and reason.
  returned: always
  type: list
  elements: dict
responded:
  description: Names (or ids) of the containers stopped or killed.
  returned: always
  type: list
  elements: str
findings:
  description: One runtime finding per container acted on or spared, in the collection's shared model, most severe first, at most O(max_findings).
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
    - What the control examined (unit V(containers); a failed action is a miss).
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
from ansible_collections.ainative.security.plugins.module_utils.falco import response


def main():
    module = ControlModule(
        response.CONTROL,
        argument_spec=dict(
            targets=dict(type="list", elements="dict"),
            events=dict(type="list", elements="dict"),
            names=dict(type="list", elements="str"),
            action=dict(type="str", choices=["stop", "kill", "pause"], default="stop"),
            runtime=dict(type="str", choices=["auto", "podman", "docker"], default="auto"),
            allow_list=dict(type="list", elements="str", default=[]),
            dry_run=dict(type="bool", default=False),
            timeout=dict(type="int", default=10),
            signal=dict(type="str", default="KILL"),
            fail_on_error=dict(type="bool"),
        ),
        gate=None,
        # 0.1.0: false let failed actions pass; now a failed action is a coverage gap.
        legacy_gate={"fail_on_error": ({}, {"accept_incomplete": "fail_on_error: false (deprecated)"})},
        required_one_of=[("targets", "events", "names")],
    )
    module.run(response.run)


if __name__ == "__main__":
    main()
