#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: cloudtrail_hunt
short_description: Hunt CloudTrail events for high-risk activity with a catalogue of detections
version_added: 0.1.0
description:
  - Runs a catalogue of CloudTrail detections (each with an id, title, severity, MITRE ATT&CK technique and an
    exact condition) over the events of a time window and reports one finding per hit in the collection's
    shared findings model, with event id, time, principal, source IP and region, plus counts per detection.
  - Detections (select by id or tag) are C(console_login_without_mfa), C(console_login_failure),
    C(console_login_brute_force), C(root_account_usage), C(cloudtrail_tampering), C(guardduty_disabled),
    C(guardduty_ipset_created), C(access_key_created_for_other_user), C(security_group_open_to_world),
    C(s3_bucket_acl_public), C(s3_bucket_policy_public), C(s3_public_access_block_weakened),
    C(s3_bucket_encryption_removed), C(kms_key_disabled_or_deleted), C(logging_disrupted),
    C(ebs_default_encryption_disabled), C(unauthorized_api_burst) and C(api_call_from_untrusted_network).
    The conditions are listed in the collection's C(docs/cloudtrail_hunt.md) and returned in each finding.
  - O(source=lookup_events) reads the CloudTrail LookupEvents API in every enabled region (or O(regions)), one
    C(EventName) attribute per call when the selected detections allow it, 50 events per page, every page,
    rate-limited to O(lookup_rate) requests per second per region and retried with jittered backoff when
    throttled. A region whose lookups fail is reported in RV(coverage) as incomplete, never skipped silently.
  - O(source=s3) reads a trail's log archive (C(AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/), organization
    trails C(AWSLogs/<org-id>/<account>/...) too), downloading in parallel and parsing in worker processes.
  - O(source=local) reads C(.json.gz) or C(.json) CloudTrail files (files, folders or glob patterns) for forensics.
  - Uses C(isal) and C(msgspec) when installed for speed; falls back to the standard library.
  - The module only reads; it never changes anything, so check mode runs the full hunt.
author:
  - Ainative Security Team (@ainative-security)
extends_documentation_fragment:
  - ainative.security.attributes
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    details: The module only reads, so check mode runs the same hunt.
  diff_mode:
    support: none
  platform:
    platforms: aws
  action_group:
    description: Use C(group/ainative.security.aws) (which extends C(amazon.aws.aws)) or C(group/ainative.security.security) in C(module_defaults).
    support: full
    membership:
      - ainative.security.aws
      - ainative.security.security
options:
  source:
    description:
      - Where the events come from.
    type: str
    choices: [lookup_events, s3, local]
    default: lookup_events
  detections:
    description:
      - Detection ids to run; V(all) runs the whole catalogue. Unknown ids are an error.
      - Combined with O(tags), a detection runs when its id is listed or it has one of the tags.
      - When both O(detections) and O(tags) are empty, every detection runs.
    type: list
    elements: str
    default: []
  tags:
    description:
      - Select detections by tag (for example C(authentication), C(logging), C(s3), C(public-exposure), C(cis)).
    type: list
    elements: str
    default: []
  exclude_detections:
    description:
      - Detection ids not to run.
    type: list
    elements: str
    default: []
  since:
    description:
      - Length of the window ending at O(end_time) (or now), such as V(30m), V(24h), V(7d), V(2w).
      - Defaults to V(24h) when O(start_time) is not set.
    type: str
  start_time:
    description:
      - Window start, ISO 8601 (V(2026-11-25T08:00:00Z)) or a date.
    type: str
  end_time:
    description:
      - Window end, ISO 8601 or a date; default now.
    type: str
  regions:
    description:
      - Regions to hunt. Default for V(lookup_events) every enabled region (C(ec2:DescribeRegions)), for V(s3)
        every region found in the archive.
    type: list
    elements: str
  bucket:
    description:
      - Bucket of the trail's log archive (O(source=s3)).
    type: str
  prefix:
    description:
      - The trail's S3 key prefix, if it has one (the part before C(AWSLogs/)).
    type: str
  accounts:
    description:
      - Account ids to read from the archive; default all found.
    type: list
    elements: str
  organization_id:
    description:
      - For an organization trail, the organization id (C(o-...)); default every organization and account found.
    type: str
  paths:
    description:
      - Files, folders or glob patterns of CloudTrail log files (O(source=local)).
    type: list
    elements: path
  allowed_cidrs:
    description:
      - Networks API calls are expected from; C(api_call_from_untrusted_network) reports calls from elsewhere.
        Calls made by AWS services on your behalf are not counted.
    type: list
    elements: str
    default: []
  brute_force_threshold:
    description:
      - Failed console logins for one user within O(burst_window) that make a brute force.
    type: int
    default: 10
  unauthorized_threshold:
    description:
      - Unauthorized calls of one principal within O(burst_window) that make a burst.
    type: int
    default: 10
  burst_window:
    description:
      - Sliding window of the threshold detections.
    type: str
    default: 10m
  fail_on:
    description:
      - Fail the task when a finding has at least this severity (for scheduled AWX jobs). Findings are still returned.
    type: str
    choices: [INFO, LOW, MEDIUM, HIGH, CRITICAL]
  fail_on_incomplete:
    description:
      - Fail when some region, account or file could not be read.
    type: bool
    default: false
  max_findings:
    description:
      - Return at most this many findings (most severe first); RV(counts) and RV(summary) always cover all. 0 keeps all.
    type: int
    default: 500
  lookup_rate:
    description:
      - LookupEvents requests per second per region (AWS allows 2 per account and region).
    type: float
    default: 2.0
  max_lookup_events:
    description:
      - Stop reading a region after this many events (coverage is then reported incomplete). 0 means no limit.
    type: int
    default: 0
  concurrency:
    description:
      - Parallel regions (V(lookup_events)) or parallel S3 requests (V(s3)).
    type: int
    default: 16
  workers:
    description:
      - Processes that parse log files (V(s3), V(local)); 0 uses the host's CPUs (at most 8).
    type: int
    default: 0
  parser:
    description:
      - V(auto) uses msgspec when installed, V(json) forces the standard library, V(msgspec) requires msgspec.
    type: str
    choices: [auto, msgspec, json]
    default: auto
notes:
  - Permissions needed are C(cloudtrail:LookupEvents), C(ec2:DescribeRegions) and C(sts:GetCallerIdentity) for
    V(lookup_events); C(s3:ListBucket) and C(s3:GetObject) on the archive (and C(kms:Decrypt) if it is
    SSE-KMS encrypted) for V(s3).
  - LookupEvents keeps 90 days of management events and returns at most 50 events per call.
seealso:
  - module: amazon.aws.cloudtrail_info
"""

EXAMPLES = r"""
- name: Hourly AWX job, fail on anything HIGH in the last day
  ainative.security.cloudtrail_hunt:
    since: 24h
    allowed_cidrs: [203.0.113.0/24, 10.0.0.0/8]
    fail_on: HIGH

- name: Hunt a week of the organization trail's archive for logging and exposure changes
  ainative.security.cloudtrail_hunt:
    source: s3
    bucket: org-cloudtrail-logs
    organization_id: o-a1b2c3d4e5
    since: 7d
    tags: [logging, public-exposure]
  register: hunt

- name: Forensics on exported files
  ainative.security.cloudtrail_hunt:
    source: local
    paths: [/srv/incident-42/cloudtrail/]
    start_time: "2026-11-20T00:00:00Z"
    end_time: "2026-11-22T00:00:00Z"
"""

RETURN = r"""
findings:
  description: One finding per hit (threshold detections one per group), most severe first, at most O(max_findings).
  returned: always
  type: list
  elements: dict
  sample:
    - id: console_login_without_mfa
      control: cloudtrail_hunt
      kind: detection
      severity: HIGH
      title: Console login succeeded without MFA
      target: 123456789012/us-east-1
      location: {resource: 3bd0a3c6-3e3e-4b8c-9c0e-1f1e2d3c4b5a, path: "s3://trail/AWSLogs/..."}
      details: {event_time: "2026-11-25T08:12:44Z", principal: "arn:aws:iam::123456789012:user/alice",
                source_ip: 198.51.100.7, region: us-east-1, technique: T1078.004}
summary:
  description: Counts of all findings by severity, kind and status.
  returned: always
  type: dict
counts:
  description: Number of findings per selected detection id.
  returned: always
  type: dict
  sample: {console_login_without_mfa: 1, root_account_usage: 0}
window:
  description: The UTC time window hunted.
  returned: always
  type: dict
  sample: {start: "2026-11-24T08:00:00Z", end: "2026-11-25T08:00:00Z"}
detections:
  description: The detections that ran (id, title, severity, tags).
  returned: always
  type: list
  elements: dict
events_scanned:
  description: Events read (before the time filter).
  returned: always
  type: int
events_in_window:
  description: Events inside the window.
  returned: always
  type: int
files_scanned:
  description: Log files read (V(s3) and V(local)).
  returned: always
  type: int
coverage:
  description: Per region, account or source, whether everything could be read, and the errors if not.
  returned: always
  type: list
  elements: dict
coverage_complete:
  description: False when some part of the window could not be read.
  returned: always
  type: bool
parser:
  description: The parser used (V(msgspec+isal), V(json+zlib), ...).
  returned: always
  type: str
notes:
  description: Remarks on the run (inactive detections, truncation, incomplete coverage).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.ainative.security.plugins.module_utils.cloud.aws import (
    AnsibleAWSModule, AWSAuditError, Clients)
from ansible_collections.ainative.security.plugins.module_utils.core import findings as fmodel
from ansible_collections.ainative.security.plugins.module_utils.cloudtrail import hunt


def main():
    argument_spec = dict(
        source=dict(type="str", choices=["lookup_events", "s3", "local"], default="lookup_events"),
        detections=dict(type="list", elements="str", default=[]),
        tags=dict(type="list", elements="str", default=[]),
        exclude_detections=dict(type="list", elements="str", default=[]),
        since=dict(type="str"),
        start_time=dict(type="str"),
        end_time=dict(type="str"),
        regions=dict(type="list", elements="str"),
        bucket=dict(type="str"),
        prefix=dict(type="str"),
        accounts=dict(type="list", elements="str"),
        organization_id=dict(type="str"),
        paths=dict(type="list", elements="path"),
        allowed_cidrs=dict(type="list", elements="str", default=[]),
        brute_force_threshold=dict(type="int", default=10),
        unauthorized_threshold=dict(type="int", default=10),
        burst_window=dict(type="str", default="10m"),
        fail_on=dict(type="str", choices=["INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]),
        fail_on_incomplete=dict(type="bool", default=False),
        max_findings=dict(type="int", default=500),
        lookup_rate=dict(type="float", default=2.0),
        max_lookup_events=dict(type="int", default=0),
        concurrency=dict(type="int", default=16),
        workers=dict(type="int", default=0),
        parser=dict(type="str", choices=["auto", "msgspec", "json"], default="auto"),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[("since", "start_time")],
        required_if=[("source", "s3", ["bucket"]), ("source", "local", ["paths"])],
    )
    params = module.params
    for name in ("brute_force_threshold", "unauthorized_threshold", "concurrency"):
        if params[name] < 1:
            module.fail_json(msg="%s must be at least 1, got %d" % (name, params[name]))
    if params["lookup_rate"] <= 0 or params["lookup_rate"] > 2.0:
        module.fail_json(msg="lookup_rate must be above 0 and at most 2 (the LookupEvents quota per region), got %s"
                         % params["lookup_rate"])
    if params["max_findings"] < 0 or params["workers"] < 0 or params["max_lookup_events"] < 0:
        module.fail_json(msg="max_findings, workers and max_lookup_events cannot be negative")
    error = result = None
    try:
        clients = None if params["source"] == "local" else Clients(module, max_pool=params["concurrency"])
        result = hunt(params, clients)
    except AWSAuditError as exc:
        error = exc.msg
    if error:  # outside the except block: no traceback in the result
        module.fail_json(msg=error)
    all_findings = result.pop("_all_findings")
    for note in result["notes"]:
        if note.startswith("coverage is incomplete"):
            module.warn(note)
    if params["fail_on_incomplete"] and not result["coverage_complete"]:
        module.fail_json(msg="the hunt could not read everything: " + "; ".join(
            n for n in result["notes"] if n.startswith("coverage")), changed=False, **result)
    gated = fmodel.gate(all_findings, params["fail_on"])
    if gated:
        ids = sorted(set(f["id"] for f in gated))
        module.fail_json(msg="%d finding(s) at or above %s: %s" % (len(gated), params["fail_on"], ", ".join(ids)),
                         changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
