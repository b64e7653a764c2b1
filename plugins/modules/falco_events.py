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
  - The file is streamed line by line, so large logs do not need to fit in memory. Every non-empty line that is not
    a Falco JSON alert (Falco's own log lines, text-format alerts, a file that is no Falco log) is counted in
    C(skipped_lines) and missed in RV(coverage), so the run is incomplete and the gate fails unless
    O(accept_incomplete) gives a reason. A log with no alert at all is incomplete as well.
  - Read-only; meant for scheduled AWX jobs.
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
    description:
      - Start of the time window, RFC 3339 (C(2026-11-25T10:00:00Z)) or a duration ago (C(15m), C(6h), C(2d)).
      - Only alerts inside the window are examined. When none is and the log file was last written before
        the window started (Falco stopped, or its file output broken), the run is incomplete.
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
  description: Non-empty lines that were not Falco JSON alerts (each is a miss in RV(coverage)).
  returned: always
  type: int
outside_window:
  description:
    - Alerts outside the I(since)/I(until) window. They are read but not examined, so a log whose
      alerts all predate the window is incomplete, and a log not written since the window started is a
      miss in RV(coverage).
  returned: always
  type: int
  version_added: 0.2.0
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
  description: One runtime finding per rule and container (or host), at the highest priority seen, most severe first, at most O(max_findings).
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
    - What the control examined (unit V(events), the alert lines read).
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
from ansible_collections.ainative.security.plugins.module_utils.falco import events

PRIORITIES = ["emergency", "alert", "critical", "error", "warning", "notice", "informational", "info", "debug"]


def main():
    module = ControlModule(
        "falco_events",
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
        ),
        gate=None,
        required_one_of=[("path", "lines")],
        mutually_exclusive=[("path", "lines")],
    )
    module.run(events.run)


if __name__ == "__main__":
    main()
