#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: findings_forward
short_description: Send findings to the security channel as OCSF events (syslog, webhook, Splunk HEC, file)
version_added: 0.2.0
description:
  - Reads the JSON report of any control of the collection (what its C(reports.json) option writes) or the
    merged report of M(ainative.security.findings_report) (O(src)), turns every finding with
    one of O(statuses) into one OCSF 1.5.0 event and sends the events to each of O(destinations).
  - "One table chooses the OCSF class per finding kind: C(detection) (CloudTrail) and C(runtime) (Falco
    alerts, responses) are Detection Finding (class_uid 2004); C(vulnerability) (image scans) is Vulnerability
    Finding (2002); C(misconfiguration), C(encryption) (S3), C(integrity) (datasets), C(secret), C(license) and
    C(authentication) (JWT gateway probes) are Compliance Finding (2003)."
  - "Every event is validated before anything is sent: against the official OCSF schema (PyPI
    C(ocsf-json-schema), JSON Schema Draft 2020-12), and in code for what the schema does not check:
    type_uid is class_uid * 100 + activity_id, and severity, activity_name, status and compliance.status
    are the captions of their ids. An event that fails is a bug: the task fails with one line and sends nothing."
  - Each batch is retried O(retries) times with exponential backoff from O(retry_delay), within O(deadline)
    seconds per destination; a refusal a retry cannot fix (a wrong token, an HTTP 4xx) is not retried.
  - "Nothing is lost silently: coverage counts deliveries (unit C(events), one per event and destination).
    An event a destination did not take is missed with the reason, so the run is incomplete and the task
    fails unless O(accept_incomplete) gives a reason. With O(spool_dir) the undelivered events are also
    written there (atomically, mode 0600) and the next run sends them first, each once."
  - This module forwards findings; it does not judge them again (the control that found them has its own gate).
author:
  - Ainative Security Team (@ainative-security)
extends_documentation_fragment:
  - ainative.security.attributes
attributes:
  check_mode:
    support: partial
    details:
      - Builds and validates the events and reads the spool; contacts no receiver and writes no file or
        spool. RV(destinations) says what would be sent (C(would_send)); C(changed) is true when something
        would be sent or a file would change.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  src:
    description: JSON reports to forward (a control's C(reports.json), or C(findings-report.json)).
    type: list
    elements: path
    required: true
  statuses:
    description:
      - Findings with these statuses are sent. V(ignored) ones get OCSF status Suppressed, V(fixed) ones
        activity Close and status Resolved.
    type: list
    elements: str
    choices: [open, expired_ignore, ignored, fixed]
    default: [open, expired_ignore]
  destinations:
    description: Where the events go; each destination gets every event.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Label in the result and name of the spool file; unique. Defaults to O(destinations[].type).
        type: str
      type:
        description:
          - V(syslog) - one RFC 5424 message per event (the event as JSON in MSG, MSGID C(ocsf-<class_uid>)),
            RFC 6587 octet-counting framing, over TCP or TLS.
          - V(webhook) - HTTP POST, a JSON array of events per batch (O(destinations[].format=json)) or one
            Slack-compatible summary (C(text) and C(blocks)) per batch (O(destinations[].format=slack)).
          - V(hec) - Splunk HTTP Event Collector, C(POST /services/collector/event) with
            an C(Authorization) header C(Splunk <token>), the events of a batch separated by newlines.
          - V(file) - JSON lines (one event a line), written atomically and only when the content changes.
        type: str
        required: true
        choices: [syslog, webhook, hec, file]
      host:
        description: Syslog receiver host.
        type: str
      port:
        description: Syslog receiver port.
        type: int
      transport:
        description: Syslog over plain V(tcp) or V(tls).
        type: str
        choices: [tcp, tls]
        default: tcp
      facility:
        description: Syslog facility.
        type: str
        choices: [kern, user, daemon, auth, authpriv, local0, local1, local2, local3, local4, local5, local6, local7]
        default: authpriv
      server_name:
        description: Name to check the syslog server's TLS certificate against (default O(destinations[].host)).
        type: str
      url:
        description:
          - Webhook URL, or the HEC base URL (C(/services/collector/event) is added when missing).
          - Treated as a secret (a Slack webhook URL is its credential) - never shown in the result.
        type: str
      format:
        description: Webhook body.
        type: str
        choices: [json, slack]
        default: json
      token:
        description: HEC token. Never shown in the result.
        type: str
      headers:
        description: Extra HTTP headers for a webhook or HEC (for example C(Authorization)). Never shown.
        type: dict
      index:
        description: HEC index for the events.
        type: str
      sourcetype:
        description: HEC sourcetype (default C(ocsf:<class_uid>)).
        type: str
      path:
        description: File of a V(file) destination.
        type: path
      batch_size:
        description: Events per HTTP request (webhook, HEC).
        type: int
        default: 100
      ca_path:
        description: CA bundle to verify the receiver's TLS certificate (syslog TLS, HTTPS).
        type: path
      client_cert:
        description: Client certificate for mutual TLS.
        type: path
      client_key:
        description: Key of O(destinations[].client_cert).
        type: path
      validate_certs:
        description: Verify the receiver's TLS certificate.
        type: bool
        default: true
      timeout:
        description: Seconds to wait for the receiver per connection or request.
        type: float
        default: 10
  retries:
    description: Retries per batch after the first attempt.
    type: int
    default: 3
  retry_delay:
    description: Seconds before the first retry; doubled before each next one.
    type: float
    default: 0.5
  deadline:
    description: Seconds one destination may take in total; no retry starts after it.
    type: float
    default: 30
  spool_dir:
    description:
      - Directory for undelivered events (C(<name>.jsonl) per destination). They are sent first by the next
        run with the same O(spool_dir), and removed from the spool once delivered.
      - Without it, undelivered events are only reported (the task fails unless O(accept_incomplete)).
    type: path
  accept_incomplete:
    description:
      - Reason to accept a run in which some events were not delivered (or there was nothing to send); the
        task then passes and RV(coverage) keeps the gaps.
    type: str
notes:
  - Syslog over TCP has no acknowledgement - an event the connection accepted counts as delivered. HTTP
    destinations count a batch delivered on a 2xx answer (and for HEC, C(code) 0).
  - Delivery is at least once - a batch that failed part-way (a connection cut, a timeout after the receiver
    took it) is sent again whole; receivers can drop repeats by C(metadata.uid).
  - Syslog receivers must accept messages as large as an event (a few KB; rsyslog's default
    C(maxMessageSize) is 8k).
  - A report without any finding to send examines nothing, so the run is incomplete; give O(accept_incomplete)
    when that is expected.
  - The event time is the report file's modification time, so a rerun on the same report builds the same
    events (same C(metadata.uid)), which the spool uses to send each event once.
seealso:
  - module: ainative.security.findings_report
"""

EXAMPLES = r"""
- name: Send the merged report's open findings to rsyslog over TLS and to Splunk
  ainative.security.findings_forward:
    src: [/var/lib/ainative/reports/findings-report.json]
    spool_dir: /var/spool/ainative-ocsf
    destinations:
      - name: siem-syslog
        type: syslog
        host: siem.example.com
        port: 6514
        transport: tls
        ca_path: /etc/pki/siem-ca.pem
      - name: splunk
        type: hec
        url: https://splunk.example.com:8088
        token: "{{ vault_splunk_hec_token }}"

- name: Post a summary of an image scan to Slack and keep the events as JSON lines
  ainative.security.findings_forward:
    src: [reports/image_scan.json]
    destinations:
      - type: webhook
        format: slack
        url: "{{ vault_slack_webhook_url }}"
      - type: file
        path: reports/image_scan.ocsf.jsonl
"""

RETURN = r"""
events:
  description: OCSF events built from the reports (one per finding with a wanted status, duplicates once).
  returned: always
  type: int
by_class:
  description: Events per OCSF class name.
  returned: always
  type: dict
  sample: {"Detection Finding": 34, "Compliance Finding": 25}
destinations:
  description:
    - Per destination - C(name), C(type), C(host)/C(port)/C(transport) or C(path) (never a URL or token),
      C(queued), C(resent) (from the spool), C(delivered), C(undelivered), C(spooled), C(attempts),
      C(error), and C(would_send) in check mode.
  returned: always
  type: list
  elements: dict
undelivered:
  description: Deliveries that did not happen (events times destinations).
  returned: always
  type: int
spooled:
  description: Events left in the spool for the next run.
  returned: always
  type: int
ocsf_version:
  description: OCSF schema version of the events.
  returned: always
  type: str
  sample: 1.5.0
findings:
  description: Always empty (this module forwards the findings of other controls; it finds nothing).
  returned: always
  type: list
  elements: dict
findings_truncated:
  description: Always false.
  returned: always
  type: bool
summary:
  description: Counts of findings of this module (always none).
  returned: always
  type: dict
verdict:
  description: V(pass) when every event reached every destination, V(incomplete) otherwise (not accepted).
  returned: always
  type: str
gate:
  description: The decision - C(incomplete), C(accepted_incomplete), C(failed), C(verdict) and C(reason).
  returned: always
  type: dict
coverage:
  description:
    - Deliveries, in unit C(events) - C(asked) (events times destinations, spooled ones included),
      C(examined) (delivered), C(missed) (each with C(item) naming destination and event uid, and C(reason),
      at most 50), C(missed_count), C(complete), C(gaps) and C(accepted_incomplete).
  returned: always
  type: dict
notes:
  description: Remarks about the run (inputs whose own run was incomplete, duplicates, nothing to send).
  returned: always
  type: list
  elements: str
reports:
  description: Always empty (this module writes no findings report).
  returned: always
  type: dict
"""

from ansible_collections.ainative.security.plugins.module_utils.core.module import NO_GATE, ControlModule
from ansible_collections.ainative.security.plugins.module_utils.ocsf import forward
from ansible_collections.ainative.security.plugins.module_utils.ocsf.destinations import FACILITIES, TYPES

DESTINATION = dict(
    name=dict(type="str"),
    type=dict(type="str", required=True, choices=list(TYPES)),
    host=dict(type="str"),
    port=dict(type="int"),
    transport=dict(type="str", choices=["tcp", "tls"], default="tcp"),
    facility=dict(type="str", choices=sorted(FACILITIES, key=FACILITIES.get), default="authpriv"),
    server_name=dict(type="str"),
    url=dict(type="str", no_log=True),
    format=dict(type="str", choices=["json", "slack"], default="json"),
    token=dict(type="str", no_log=True),
    headers=dict(type="dict", no_log=True),
    index=dict(type="str"),
    sourcetype=dict(type="str"),
    path=dict(type="path"),
    batch_size=dict(type="int", default=100),
    ca_path=dict(type="path"),
    client_cert=dict(type="path"),
    client_key=dict(type="path", no_log=False),
    validate_certs=dict(type="bool", default=True),
    timeout=dict(type="float", default=10),
)


def main():
    module = ControlModule(
        forward.CONTROL,
        argument_spec=dict(
            src=dict(type="list", elements="path", required=True),
            statuses=dict(type="list", elements="str", choices=["open", "expired_ignore", "ignored", "fixed"],
                          default=["open", "expired_ignore"]),
            destinations=dict(type="list", elements="dict", required=True, options=DESTINATION),
            retries=dict(type="int", default=3),
            retry_delay=dict(type="float", default=0.5),
            deadline=dict(type="float", default=30),
            spool_dir=dict(type="path"),
            accept_incomplete=dict(type="str"),
        ),
        gate=NO_GATE,
        max_findings=None,
        reports=False,
    )
    module.run(forward.run)


if __name__ == "__main__":
    main()
