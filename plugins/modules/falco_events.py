#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: falco_events
short_description: Triage Falco JSON alerts by priority, rule, tag, time window and container
version_added: 0.1.0
description:
  - Reads Falco alerts in Falco's JSON output format (one object per line with C(time), C(rule), C(priority),
    C(output), C(output_fields), C(hostname), C(source), C(tags)) from a log file such as C(/var/log/falco.log),
    or from lines given, and filters them.
  - Returns counts by priority and rule, the containers involved (ready for M(ainative.security.falco_response)),
    the newest matching events (bounded by I(limit)) and one finding per rule and container.
  - The file is streamed line by line, so large logs do not need to fit in memory. Lines that are not Falco JSON
    alerts (Falco's own log lines, text-format alerts) are counted in C(skipped_lines).
  - Read-only; meant for scheduled AWX jobs.
author:
  - Ainative Security Team (@ainative-security)
extends_documentation_fragment:
  - ainative.security.attributes
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
options:
  path:
    description: Falco JSON event log on the managed host.
    type: path
  lines:
    description: Events given directly, as JSON strings or dicts.
    type: list
    elements: raw
  priority:
    description: Minimum Falco priority (this one and more severe).
    type: str
    choices: [emergency, alert, critical, error, warning, notice, informational, info, debug]
  rules:
    description: Keep only these rules (shell-style patterns such as C(Terminal shell*)).
    type: list
    elements: str
  exclude_rules:
    description: Drop these rules (patterns).
    type: list
    elements: str
  tags:
    description: Keep events carrying at least one of these tags (C(container), C(mitre_execution), C(T1059)).
    type: list
    elements: str
  since:
    description: Start of the time window, RFC 3339 (C(2026-11-25T10:00:00Z)) or a duration ago (C(15m), C(6h), C(2d)).
    type: str
  until:
    description: End of the time window, same forms as I(since).
    type: str
  containers:
    description: Keep events of these containers (id, 12-character id, name or image; patterns allowed).
    type: list
    elements: str
  sources:
    description: Keep events of these sources (C(syscall), C(k8s_audit), ...).
    type: list
    elements: str
  hostnames:
    description: Keep events of these hosts (patterns).
    type: list
    elements: str
  limit:
    description: Most matching events to return (the newest); C(0) returns all. Counts always cover all.
    type: int
    default: 100
  fail_on:
    description: Fail when a matching event maps to this severity or higher (C(CRITICAL), C(HIGH), ...).
    type: str
    choices: [CRITICAL, HIGH, MEDIUM, LOW, INFO]
notes:
  - Falco writes JSON alerts only with C(json_output=true) (see M(ainative.security.falco_config)).
  - Priorities map to severities as emergency/alert/critical=CRITICAL, error=HIGH, warning=MEDIUM, notice=LOW,
    informational/debug=INFO.
seealso:
  - module: ainative.security.falco_response
"""

EXAMPLES = r"""
- name: Warnings and worse from containers in the last hour
  ainative.security.falco_events:
    path: /var/log/falco.log
    priority: warning
    since: 1h
    tags: [container]
  register: falco_triage

- name: Stop the containers they came from
  ainative.security.falco_response:
    targets: "{{ falco_triage.containers }}"
    allow_list: [falco, "registry.example.com/platform/*"]
"""

RETURN = r"""
total:
  description: Falco alerts read.
  returned: always
  type: int
matched:
  description: Alerts that passed the filters.
  returned: always
  type: int
skipped_lines:
  description: Non-empty lines that were not Falco JSON alerts.
  returned: always
  type: int
events:
  description: The newest matching alerts (at most I(limit)), in log order.
  returned: always
  type: list
  elements: dict
truncated:
  description: Whether some matching alerts were left out of C(events).
  returned: always
  type: bool
by_priority:
  description: Matching alerts per priority.
  returned: always
  type: dict
  sample: {"critical": 2, "warning": 5}
by_rule:
  description: Matching alerts per rule.
  returned: always
  type: dict
containers:
  description: Containers of the matching alerts with id, name, image, count, rules, max_priority, first_seen, last_seen.
  returned: always
  type: list
  elements: dict
first_time:
  description: Time of the oldest matching alert.
  returned: always
  type: str
last_time:
  description: Time of the newest matching alert.
  returned: always
  type: str
findings:
  description: One runtime finding per rule and container (or host), at the highest priority seen.
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
    Filter,
    FalcoEventsError,
    event_findings,
    iter_file,
    triage,
)

PRIORITIES = ["emergency", "alert", "critical", "error", "warning", "notice", "informational", "info", "debug"]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path"),
            lines=dict(type="list", elements="raw"),
            priority=dict(type="str", choices=PRIORITIES),
            rules=dict(type="list", elements="str"),
            exclude_rules=dict(type="list", elements="str"),
            tags=dict(type="list", elements="str"),
            since=dict(type="str"),
            until=dict(type="str"),
            containers=dict(type="list", elements="str"),
            sources=dict(type="list", elements="str"),
            hostnames=dict(type="list", elements="str"),
            limit=dict(type="int", default=100),
            fail_on=dict(type="str", choices=["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"]),
        ),
        required_one_of=[("path", "lines")],
        mutually_exclusive=[("path", "lines")],
        supports_check_mode=True,
    )
    params = module.params
    if params["limit"] < 0:
        module.fail_json(msg="limit must be 0 (all) or a positive number, got %d" % params["limit"])
    try:
        flt = Filter(priority=params["priority"], rules=params["rules"], exclude_rules=params["exclude_rules"],
                     tags=params["tags"], since=params["since"], until=params["until"],
                     containers=params["containers"], sources=params["sources"], hostnames=params["hostnames"])
        source = iter_file(params["path"]) if params["path"] else params["lines"]
        result = triage(source, flt, limit=params["limit"])
    except FalcoEventsError as exc:
        module.fail_json(msg=str(exc))
    found = event_findings(result, params["path"] or "events")
    result.update(changed=False, findings=found, summary=findings.summarize(found))
    gated = findings.gate(found, params["fail_on"])
    if gated:
        module.fail_json(msg="%d finding(s) at or above %s: %s" % (
            len(gated), params["fail_on"], "; ".join(f["title"] for f in gated[:10])), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
