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
    throttled. RV(coverage) counts regions; a region whose lookups fail is a coverage gap, never skipped silently.
  - O(source=s3) reads a trail's log archive (C(AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/), organization
    trails C(AWSLogs/<org-id>/<account>/...) too), downloading in parallel (at most O(concurrency) files in
    flight, so memory does not grow with the archive) and parsing in worker processes.
  - In O(source=s3), every folder under C(AWSLogs/) that is not named like an account or organization id is
    read when it has the CloudTrail layout (and named in RV(notes)), and is a coverage gap when it has not.
    An account and region without any log file in the window is a gap too (no log files delivered), as a
    delivery gap is itself a sign of tampering.
  - O(source=local) reads C(.json.gz) or C(.json) CloudTrail files (files, folders or glob patterns) for forensics.
  - For V(s3) and V(local), RV(coverage) counts log files read; a file that cannot be read, or is not a
    CloudTrail log (no C(Records) list, for example a digest file), is a coverage gap for either parser.
  - An incomplete run (a gap, or nothing examined) fails the gate unless O(accept_incomplete) gives a reason.
  - Uses C(isal) and C(msgspec) when installed for speed; falls back to the standard library.
  - The module only reads AWS; besides the O(reports), the one file it changes is the O(history) file (C(changed)
    is true only when one of them changed). Check mode runs the full hunt and writes neither.
author:
  - Ainative Security Team (@ainative-security)
extends_documentation_fragment:
  - ainative.security.attributes
  - ainative.security.attributes.action_group_security_aws
  - ainative.security.control
  - ainative.security.control.gate
  - ainative.security.control.risk_gate
  - ainative.security.control.reports
  - ansible.builtin.files
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - ainative.security.aws_organization
attributes:
  check_mode:
    support: full
    details: The module only reads AWS, so check mode runs the same hunt (reports and the O(history) file are not written).
  diff_mode:
    support: partial
    details: Shows the principals, source IPs and networks the O(history) file would learn.
  platform:
    platforms: aws
options:
  source:
    description:
      - Where the events come from.
      - V(athena) (version 0.3.0) runs the same rules as one Athena (Trino) query over the CloudTrail table, see O(athena).
    type: str
    choices: [lookup_events, s3, local, athena]
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
  rules:
    description:
      - Your own Sigma rule files (C(.yml), C(.yaml)) or folders of them, run with the built-in rules (which are
        Sigma rules too, shipped in the collection's C(rules/cloudtrail/)). Needs C(pysigma) 1.x on the host.
      - Each rule is parsed and validated by pySigma (every validator but the ATT&CK and D3FEND tag checks, which
        need the network); its C(logsource) must be C(product) V(aws), C(service) V(cloudtrail). A rule that fails
        is refused and listed in RV(rules_refused) with its file, line (when pySigma gives one) and reason, and is a
        coverage gap, so the run is incomplete unless O(accept_incomplete) gives a reason.
      - Also refused, because Python's C(re) has no timeout and pySigma expands YAML aliases - a file over 1 MiB, a
        file with YAML aliases, and a C(re) value with a backreference, a nested quantifier, an alternation under
        a quantifier or more than one unbounded quantifier (a wildcard value such as C(*a*b*) matches in linear time).
      - A rule's C(name) (else its C(id)) is the finding id and selects it in O(detections); its C(level) is the
        severity, its C(attack.*) tags the technique and tactic, and C(hunt_tags) plus its tags work in O(tags).
      - Sigma field semantics, evaluated on the full event - equality is case-insensitive; C(*) and C(?) are the
        wildcards (C(_) is literal); C(contains), C(startswith), C(endswith), C(re), C(cidr), C(exists),
        C(fieldref), C(all) and number comparisons; a dotted field walks nested objects, lists and JSON strings;
        a filter on an absent field does not drop the event.
      - A rule that pins C(eventName) values (else C(eventSource) values) runs only on those events (compared
        case-insensitively, but O(source=lookup_events) asks LookupEvents for the names as written, so spell them as AWS does);
        a rule that pins neither runs on every event, which is slower.
      - Sigma C(event_count) correlation rules with a C(gte) or C(gt) condition count the events of your rules
        (C(group-by) fields, C(timespan)); other correlation types are refused.
    type: list
    elements: path
    default: []
    version_added: 0.2.0
  exclude_rules:
    description:
      - Rules not to run, built-in or your own, by rule id (C(name)), Sigma C(id) or tag (C(hunt_tags) or Sigma tags
        such as V(attack.t1530)). An entry that matches no rule is an error.
    type: list
    elements: str
    default: []
    version_added: 0.2.0
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
  fail_on_incomplete:
    description:
      - Deprecated, an incomplete run now fails the gate by default; use O(accept_incomplete) to let one pass.
      - "V(false) (the 0.1.0 default) lets an incomplete run pass, with the accepted reason C(fail_on_incomplete: false (deprecated))."
    type: bool
  max_findings:
    description:
      - Return at most this many findings (most severe first); RV(counts) and RV(summary) always cover all. V(0) keeps all.
      - Also bounds the event ids and source IPs kept as evidence in each threshold finding.
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
  deadline:
    description:
      - With O(source=s3), seconds from the start of the hunt after which no download starts; downloads still in
        flight then are abandoned. Every file not read by then is a coverage gap (C(deadline reached)), so the run
        is incomplete and fails the gate unless O(accept_incomplete) gives a reason.
      - Each S3 request is retried by botocore alone (standard retry mode, at most 4 attempts, jittered backoff of
        at most 20 seconds), so one throttled file cannot stall the run; a file still refused then is a gap.
    type: int
    default: 900
    version_added: 0.2.0
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
  athena:
    description:
      - With O(source=athena), the CloudTrail table in Athena (the layout AWS documents in "Creating the table for
        CloudTrail logs in Athena using partition projection"). The selected Sigma rules are compiled to one Trino query
        with the fast path's semantics; a rule that cannot be compiled (keyword rules, fields that are not table columns,
        IPv6 CIDRs, Python-only regular expressions) is a coverage gap, not dropped.
      - The query filters the window on C(eventtime) and, with O(athena.partition_projection), on the projected
        C(timestamp) (C(yyyy/MM/dd)), C(region) (from O(regions)) and C(account) (from O(accounts)) partitions.
      - A query that fails, is cancelled, outlasts O(athena.max_wait) or matches more than O(athena.max_rows) rows
        leaves the hunt incomplete with the reason.
      - So does a query that read no data (C(DataScannedInBytes) 0 or absent), as an empty table, a wrong
        C(LOCATION) or a partition projection that points at no log files give no rows without examining anything.
      - Needs C(athena:StartQueryExecution), C(athena:GetQueryExecution), C(athena:GetQueryResults),
        C(athena:StopQueryExecution), Glue read access to the table and S3 access to the logs and the output location.
    type: dict
    version_added: 0.3.0
    suboptions:
      database:
        description: The Glue database of the table.
        type: str
        required: true
      table:
        description: The CloudTrail table.
        type: str
        default: cloudtrail_logs
      catalog:
        description: The data catalog.
        type: str
        default: AwsDataCatalog
      workgroup:
        description: The Athena workgroup.
        type: str
        default: primary
      output_location:
        description: The C(s3://) URI for query results (leave out when the workgroup sets one).
        type: str
      poll_interval:
        description: Seconds between two GetQueryExecution calls.
        type: float
        default: 1.0
      max_wait:
        description: Seconds to wait for the query; then it is stopped and the hunt is incomplete.
        type: int
        default: 300
      partition_projection:
        description: Whether the table has the projected C(timestamp), C(region) and C(account) partition columns.
        type: bool
        default: true
      max_rows:
        description: Most result rows read; more rows leave the hunt incomplete.
        type: int
        default: 100000
  history:
    description:
      - A history of Bedrock model invocations kept between hunts, for the LLM-jacking detections
        C(bedrock_invocation_new_principal) (a principal the account has not invoked a model with),
        C(bedrock_invocation_new_source_ip) (a known principal from a source IP the account has not seen; LOW when its
        /24 or /64 network is known) and C(bedrock_invocation_unusual_volume) (one principal's invocations on a UTC day
        of the window above 3 times the 95th percentile of its daily counts in the history, and above 100).
        Without it these three detections are inactive (named in RV(notes)).
      - The events of the hunt are judged against the history as it was before the hunt, then learned, so an
        attacker's events cannot make themselves normal in the run that sees them. A flagged principal or IP is
        reported once; the next hunt knows it.
      - A principal is its C(userIdentity.arn); an assumed-role session counts as its role
        (C(arn:aws:iam::<account>:role/<name>)). Daily counts merge by maximum, so hunt at one cadence per file.
      - The file is bounded (10000 principals, 20000 source IPs and networks; those seen longest ago are dropped
        first) and written atomically with mode C(0600), the previous state kept as C(<path>.bak). A file that is not
        such a history (not JSON, another schema or version) fails the run.
      - A missing file fails the run too, unless O(history.create) is set, and always when C(<path>.bak) exists. A
        deleted history would make every principal new, its findings LOW while learning, and teach the attacker's
        invocations as normal.
      - Not available with O(organization) yet.
    type: dict
    version_added: 0.3.0
    suboptions:
      path:
        description:
          - The history's JSON file; its folder must exist.
        type: path
        required: true
      create:
        description:
          - Start a new history when O(history.path) does not exist (the first hunt). Without it a missing file fails
            the run. Set it for the first hunt only, so that a history deleted later is refused, not restarted.
        type: bool
        default: false
      learn:
        description:
          - Add what this hunt saw to the history. V(false) only judges.
        type: bool
        default: true
      max_age_days:
        description:
          - Entries last seen this many days before the newest hunt are forgotten.
        type: int
        default: 90
      min_days:
        description:
          - Until hunts on this many UTC days are in the history it is learning - its findings are LOW, and
            RV(history) and RV(notes) say so. A window read only in part does not count.
        type: int
        default: 7
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
    reports:
      sarif: /var/lib/awx/reports/cloudtrail.sarif

- name: A region that is known to be quiet may leave the run incomplete, with the reason recorded
  ainative.security.cloudtrail_hunt:
    source: s3
    bucket: org-cloudtrail-logs
    regions: [eu-south-2]
    since: 1h
    accept_incomplete: eu-south-2 has no workload (ticket SEC-12)

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

- name: LLM-jacking hunt against the Bedrock history of earlier hunts (the first run starts the file)
  ainative.security.cloudtrail_hunt:
    source: s3
    bucket: org-cloudtrail-logs
    since: 24h
    tags: [ai]
    fail_on: HIGH
    history:
      path: /var/lib/hunt/bedrock-history.json
      create: "{{ bedrock_history_first_run | default(false) }}"
"""

RETURN = r"""
findings:
  description:
    - Findings in the collection's shared model, most severe first, at most O(max_findings).
    - One finding per hit; threshold detections one per group, with C(count) and every C(event_ids) (at most O(max_findings)).
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
    - What the control examined, in C(files) read (V(s3), V(local)) or C(regions) hunted (V(lookup_events)).
    - Before 0.2.0 this was the per account and region list now returned as RV(coverage_detail).
    - What the control examined - C(unit), C(asked), C(examined), C(missed) (each with C(item) and C(reason),
      at most 50), C(missed_count), C(complete), C(gaps) and C(accepted_incomplete).
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
  description: Log files read and parsed (V(s3) and V(local)); files that failed are in RV(coverage).
  returned: always
  type: int
coverage_detail:
  description:
    - Per account and region (V(s3)), region (V(lookup_events)) or the whole run (V(local)), whether everything
      could be read, with C(files_listed), C(files_read), C(files_failed), C(error_count) and the first 20 C(errors).
    - V(s3) folders that could not be listed or are not the CloudTrail layout have an entry with C(folder).
  returned: always
  type: list
  elements: dict
coverage_complete:
  description: False when some part of the window could not be read (the same as C(coverage.complete)).
  returned: always
  type: bool
rules_loaded:
  description:
    - The rules that ran, built-in and your own - C(id), C(rule_id) (the Sigma id), C(title), C(level) and C(file).
    - Each finding carries the same C(rule_id), C(level) and C(falsepositives) in its C(details).
  returned: always
  type: list
  elements: dict
  version_added: 0.2.0
rules_refused:
  description: Rules of O(rules) that did not load - C(file), C(line) (or null), C(id), C(title) and C(reason).
  returned: always
  type: list
  elements: dict
  sample:
    - file: /etc/hunt/rules/bad.yml
      line: null
      id: my_rule
      title: My rule
      reason: "Sigma modifier 'containz' is unknown"
  version_added: 0.2.0
parser:
  description: The parser used (V(msgspec+isal), V(json+zlib), ...).
  returned: always
  type: str
history:
  description:
    - The O(history) file - C(path), C(created) (this hunt started it, with O(history.create)), C(learning),
      C(days_covered), C(min_days), C(max_age_days), C(learn), C(changed), the C(principals), C(source_ips) and
      C(networks) it holds after the hunt, C(added) (entries new in this hunt) and C(dropped) (entries dropped to keep
      it bounded).
  returned: when O(history) is set
  type: dict
  sample: {path: /var/lib/hunt/bedrock-history.json, created: false, learning: false, days_covered: 30, min_days: 7,
           max_age_days: 90, learn: true, changed: true, principals: 12, source_ips: 40, networks: 9, added: 2, dropped: 0}
  version_added: 0.3.0
accounts:
  description:
    - With O(organization), one entry per account - C(account), C(name), C(status) (V(complete), V(incomplete),
      V(missed), V(excluded) or V(skipped) when not ACTIVE), C(credentials) (V(caller) or V(role)), C(examined) and
      C(missed) (units of RV(coverage)) and C(reason).
  returned: when O(organization) is set
  type: list
  elements: dict
  sample:
    - {account: "111122223333", name: data, status: missed, credentials: role, examined: 0, missed: 1,
       reason: "sts:AssumeRole of arn:aws:iam::111122223333:role/OrganizationAccountAccessRole failed: AccessDenied: ..."}
  version_added: 0.3.0
"""

from ansible_collections.ainative.security.plugins.module_utils.cloud.aws import AWSControlModule
from ansible_collections.ainative.security.plugins.module_utils.cloud import organizations
from ansible_collections.ainative.security.plugins.module_utils.cloud import cloudtrail


def main():
    argument_spec = dict(
        source=dict(type="str", choices=["lookup_events", "s3", "local", "athena"], default="lookup_events"),
        athena=dict(type="dict", options=dict(
            database=dict(type="str", required=True), table=dict(type="str", default="cloudtrail_logs"),
            catalog=dict(type="str", default="AwsDataCatalog"), workgroup=dict(type="str", default="primary"),
            output_location=dict(type="str"), poll_interval=dict(type="float", default=1.0),
            max_wait=dict(type="int", default=300), partition_projection=dict(type="bool", default=True),
            max_rows=dict(type="int", default=100000))),
        detections=dict(type="list", elements="str", default=[]),
        tags=dict(type="list", elements="str", default=[]),
        exclude_detections=dict(type="list", elements="str", default=[]),
        rules=dict(type="list", elements="path", default=[]),
        exclude_rules=dict(type="list", elements="str", default=[]),
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
        fail_on_incomplete=dict(type="bool"),
        lookup_rate=dict(type="float", default=2.0),
        max_lookup_events=dict(type="int", default=0),
        concurrency=dict(type="int", default=16),
        deadline=dict(type="int", default=900),
        workers=dict(type="int", default=0),
        parser=dict(type="str", choices=["auto", "msgspec", "json"], default="auto"),
        history=dict(type="dict", options=dict(
            path=dict(type="path", required=True),
            create=dict(type="bool", default=False),
            learn=dict(type="bool", default=True),
            max_age_days=dict(type="int", default=90),
            min_days=dict(type="int", default=7),
        )),
    )
    argument_spec.update(organizations.argument_spec())
    module = AWSControlModule(
        "cloudtrail_hunt",
        argument_spec=argument_spec,
        gate=None,
        max_findings=500,
        # 0.1.0's default (false) let incomplete runs pass; now they fail unless accepted.
        legacy_gate={"fail_on_incomplete": ({}, {"accept_incomplete": "fail_on_incomplete: false (deprecated)"})},
        mutually_exclusive=[("since", "start_time")],
        required_if=[("source", "s3", ["bucket"]), ("source", "local", ["paths"]), ("source", "athena", ["athena"])],
    )
    module.run(cloudtrail.run)


if __name__ == "__main__":
    main()
