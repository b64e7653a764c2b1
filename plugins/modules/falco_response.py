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
    description: C(stop) (SIGTERM, then SIGKILL after I(timeout)) or C(kill) (I(signal) at once).
    type: str
    choices: [stop, kill]
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
    description: Fail when a container could not be stopped or killed.
    type: bool
    default: true
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
    (stopped, killed, would_stop, would_kill, skipped, unchanged, failed) and reason.
  returned: always
  type: list
  elements: dict
responded:
  description: Names (or ids) of the containers stopped or killed.
  returned: always
  type: list
  elements: str
findings:
  description: One runtime finding per container acted on or spared.
  returned: always
  type: list
  elements: dict
summary:
  description: Counts of the findings.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ainative.security.plugins.module_utils.core import findings
from ansible_collections.ainative.security.plugins.module_utils.falco_events import (
    FalcoEventsError,
    Responder,
    container_of,
)


def collect_targets(params):
    targets = []
    for target in params["targets"] or []:
        if target.get("id") or target.get("name"):
            targets.append(target)
    for event in params["events"] or []:
        container = container_of(event)
        if container:
            container["rules"] = [event.get("rule")]
            targets.append(container)
    for name in params["names"] or []:
        targets.append({"id": None, "name": name})
    return targets


def main():
    module = AnsibleModule(
        argument_spec=dict(
            targets=dict(type="list", elements="dict"),
            events=dict(type="list", elements="dict"),
            names=dict(type="list", elements="str"),
            action=dict(type="str", choices=["stop", "kill"], default="stop"),
            runtime=dict(type="str", choices=["auto", "podman", "docker"], default="auto"),
            allow_list=dict(type="list", elements="str", default=[]),
            dry_run=dict(type="bool", default=False),
            timeout=dict(type="int", default=10),
            signal=dict(type="str", default="KILL"),
            fail_on_error=dict(type="bool", default=True),
        ),
        required_one_of=[("targets", "events", "names")],
        supports_check_mode=True,
    )
    params = module.params
    targets = collect_targets(params)
    result = dict(changed=False, actions=[], responded=[], findings=[], summary=findings.summarize([]))
    if not targets:
        module.exit_json(**result)
    try:
        responder = Responder(module, runtime=params["runtime"], action=params["action"],
                              allow_list=params["allow_list"], timeout=params["timeout"], signal=params["signal"],
                              dry_run=params["dry_run"] or module.check_mode)
        actions = responder.respond(targets)
    except FalcoEventsError as exc:
        module.fail_json(msg=str(exc))
    found = []
    for record in actions:
        label = record.get("name") or record.get("container")
        severity = "HIGH" if record["result"] in ("stopped", "killed", "failed") else "INFO"
        found.append(findings.make_finding(
            "falco_response", "runtime", "container_%s" % record["result"], severity,
            "container %s: %s%s" % (label, record["result"], " (%s)" % record["reason"] if record.get("reason") else ""),
            target=label, location={"resource": record.get("id") or record.get("container")},
            status="open" if record["result"] in ("stopped", "killed", "failed", "would_stop", "would_kill") else "ignored",
            details={"rules": record.get("rules"), "runtime": record.get("runtime"), "image": record.get("image")}))
    responded = [r.get("name") or r.get("container") for r in actions if r["result"] in ("stopped", "killed")]
    result.update(changed=bool(responded), actions=actions, responded=responded,
                  findings=findings.sort_findings(found), summary=findings.summarize(found))
    failed = [r for r in actions if r["result"] == "failed"]
    if failed and params["fail_on_error"]:
        module.fail_json(msg="could not %s %s" % (params["action"], ", ".join(
            "%s (%s)" % (r.get("name") or r["container"], r["reason"]) for r in failed)), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
