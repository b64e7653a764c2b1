#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: s3_encryption_assert
short_description: Audit and enforce encryption at rest on S3 buckets
version_added: 0.1.0
description:
  - Checks every selected S3 bucket against switchable requirements and reports per-bucket compliance
    and findings in the collection's shared findings model.
  - Requirements are SSE-KMS (or DSSE-KMS) default encryption with an allowed customer managed key,
    the S3 Bucket Key, a bucket policy that denies non-TLS access, a deny on unencrypted or wrongly
    encrypted C(PutObject), SSE-C blocked, and all four public access block flags.
  - Every bucket has had SSE-S3 (C(AES256)) by default since January 2023, so a bucket without a default
    encryption configuration is treated as C(AES256); the meaningful requirement is KMS with an allowed key.
  - With O(mode=enforce) the module fixes what it may. Bucket policy statements are merged by C(Sid);
    statements of the same C(Sid) are replaced, all other statements survive, and an equivalent deny the
    owner already has (any C(Sid), C(aws:SecureTransport) as boolean or string) counts as compliant.
  - A bucket the caller cannot read is reported with status C(unknown) and the reason, not as an error; it is
    a gap in RV(coverage) (unit C(buckets)), so the gate fails on it unless O(accept_incomplete) gives a reason.
    A run that selects no bucket (for example O(include) matches none) examined nothing and is incomplete too.
  - Enforce writes a KMS key only after C(kms:DescribeKey) resolved it in the bucket's region to an enabled
    symmetric key, and writes the key ARN it resolved to (an alias resolves in the caller's account, not the
    bucket owner's). A key that does not resolve is refused with the key and the reason, and the bucket stays
    non-compliant.
  - Buckets are processed concurrently (O(concurrency)), each with a client for its own region.
  - With O(organization) (it needs O(all_buckets=true), narrowed by O(include) and O(exclude)), every chosen member
    account is checked (or enforced, check mode included) through its assumed role; each bucket has its C(account).
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
  diff_mode:
    support: full
    details: The diff shows, per changed bucket, the encryption configuration, policy and public access block before and after.
  platform:
    platforms: aws
options:
  buckets:
    description:
      - Names of the buckets to check. Mutually exclusive with O(all_buckets).
    type: list
    elements: str
  all_buckets:
    description:
      - Check every bucket the caller can list.
    type: bool
    default: false
  include:
    description:
      - Glob patterns (C(fnmatch), case-sensitive); only buckets matching one of them are checked.
    type: list
    elements: str
  exclude:
    description:
      - Glob patterns of buckets to skip.
    type: list
    elements: str
  mode:
    description:
      - V(audit) only reports; V(enforce) also fixes the gaps (check mode and diff supported).
    type: str
    choices: [audit, enforce]
    default: audit
  sse_algorithm:
    description:
      - Required default encryption. V(any_kms) accepts C(aws:kms) and C(aws:kms:dsse) and enforces C(aws:kms);
        V(AES256) accepts SSE-S3 or stronger; V(none) switches the check off.
    type: str
    choices: [any_kms, aws:kms, aws:kms:dsse, AES256, none]
    default: any_kms
  kms_key_ids:
    description:
      - Allowed KMS keys as key ARNs, alias ARNs, key ids or C(alias/<name>). The first is used when enforcing.
      - Aliases and key ids are resolved to key ARNs with C(kms:DescribeKey) in the bucket's region.
      - Empty allows any key, including the AWS managed key C(aws/s3).
    type: list
    elements: str
    default: []
  bucket_key:
    description:
      - Require the S3 Bucket Key for SSE-KMS (fewer KMS requests, lower cost).
    type: bool
    default: true
  secure_transport:
    description:
      - Require a bucket policy statement that denies requests without TLS (C(aws:SecureTransport) false).
    type: bool
    default: true
  deny_unencrypted_uploads:
    description:
      - Require a bucket policy statement that denies C(PutObject) without, or with another, server-side
        encryption header; with O(kms_key_ids) also one that denies uploads naming another KMS key.
      - Off by default since 0.2.0. Default encryption already encrypts uploads without the header, and the
        deny would refuse every writer that relies on it, such as ELB access log delivery, CloudTrail without
        KMS, S3 replication or inventory. Switch it on only for buckets whose writers all send the header.
    type: bool
    default: false
  block_sse_c:
    description:
      - Require SSE-C uploads to be blocked (C(BlockedEncryptionTypes) or a policy deny on the
        C(s3:x-amz-server-side-encryption-customer-algorithm) header). Enforced with a policy statement.
    type: bool
    default: true
  public_access_block:
    description:
      - Require all four bucket-level public access block flags.
    type: bool
    default: true
  fail_on_noncompliant:
    description:
      - Deprecated, use O(fail_on) (V(true) is O(fail_on=LOW), every open gap; V(false) is O(fail_on=none)).
      - A bucket that could not be read fails the gate through RV(coverage) whatever this option says.
    type: bool
  fail_on:
    description:
      - Fail when an open finding (a gap not fixed) has this severity or a higher one.
      - One of V(none), V(INFO), V(LOW), V(MEDIUM), V(HIGH), V(CRITICAL), in any case; V(LOW) fails on every gap.
      - V(none) gates on O(fail_on_ids) and coverage only.
    type: str
    default: none
    version_added: 0.2.0
  concurrency:
    description:
      - Buckets processed at the same time.
    type: int
    default: 16
notes:
  - Required permissions for audit are C(s3:ListAllMyBuckets) (with O(all_buckets)), C(s3:GetBucketLocation),
    C(s3:GetEncryptionConfiguration), C(s3:GetBucketPolicy), C(s3:GetBucketPublicAccessBlock) and
    C(kms:DescribeKey); enforce also needs the matching C(Put*) permissions.
seealso:
  - module: amazon.aws.s3_bucket
  - module: amazon.aws.s3_bucket_info
"""

EXAMPLES = r"""
- name: Audit every data bucket for SSE-KMS with the platform key
  ainative.security.s3_encryption_assert:
    all_buckets: true
    include: ["ml-*", "datasets-*"]
    kms_key_ids:
      - arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab
    fail_on: LOW
    reports:
      sarif: /var/lib/awx/reports/s3-encryption.sarif

- name: Enforce (preview first with --check --diff)
  ainative.security.s3_encryption_assert:
    buckets: [ml-training-data, ml-models]
    mode: enforce
    kms_key_ids: [alias/ml-data]

- name: All AWS modules share the connection options
  module_defaults:
    group/ainative.security.aws:
      region: eu-west-1
      profile: audit
  block:
    - name: Only TLS and public access block, any encryption
      ainative.security.s3_encryption_assert:
        all_buckets: true
        sse_algorithm: none
        block_sse_c: false
"""

RETURN = r"""
buckets:
  description: One entry per checked bucket.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Bucket name.
      type: str
    region:
      description: Bucket region.
      type: str
    status:
      description: V(compliant), V(noncompliant), V(fixed) (enforce fixed every gap) or V(unknown) (could not be read).
      type: str
    compliant:
      description: True, false, or null when unknown.
      type: bool
    reason:
      description: Why the bucket is unknown (or why enforcement failed).
      type: str
    gaps:
      description: Ids of the requirements the bucket did not meet before this run.
      type: list
      elements: str
    fixed:
      description: Gap ids that enforce fixed (or would fix in check mode).
      type: list
      elements: str
    changed:
      description: Whether this bucket was (or would be) changed.
      type: bool
    account:
      description: The account of the bucket (with O(organization) only).
      type: str
      version_added: 0.3.0
  sample:
    - name: ml-training-data
      region: eu-west-1
      status: noncompliant
      compliant: false
      reason: null
      gaps: [s3_default_encryption_not_kms, s3_public_access_block_incomplete]
      fixed: []
      changed: false
counts:
  description: Number of buckets per status, and the total.
  returned: always
  type: dict
  sample: {total: 3, compliant: 1, noncompliant: 1, fixed: 0, unknown: 1}
findings:
  description:
    - Findings in the collection's shared model, most severe first, at most O(max_findings).
    - One finding per gap (status C(fixed) once enforced) or per unreadable bucket.
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
    - Buckets examined; a bucket whose settings could not be read is in C(missed) with the reason.
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
diff:
  description: Per changed bucket, the encryption configuration, policy and public access block before and after.
  returned: when diff mode is on and a bucket changed
  type: dict
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
from ansible_collections.ainative.security.plugins.module_utils.cloud import s3_encryption


def main():
    argument_spec = dict(
        buckets=dict(type="list", elements="str"),
        all_buckets=dict(type="bool", default=False),
        include=dict(type="list", elements="str"),
        exclude=dict(type="list", elements="str"),
        mode=dict(type="str", choices=["audit", "enforce"], default="audit"),
        sse_algorithm=dict(type="str", choices=list(s3_encryption.ALGORITHM_CHOICES), default="any_kms"),
        kms_key_ids=dict(type="list", elements="str", default=[], no_log=False),
        bucket_key=dict(type="bool", default=True),
        secure_transport=dict(type="bool", default=True),
        deny_unencrypted_uploads=dict(type="bool", default=False),
        block_sse_c=dict(type="bool", default=True),
        public_access_block=dict(type="bool", default=True),
        fail_on_noncompliant=dict(type="bool"),
        concurrency=dict(type="int", default=16),
    )
    argument_spec.update(organizations.argument_spec())
    module = AWSControlModule(
        "s3_encryption_assert",
        argument_spec=argument_spec,
        gate="none",
        legacy_gate={"fail_on_noncompliant": "LOW"},
        mutually_exclusive=[("buckets", "all_buckets")],
        required_one_of=[("buckets", "all_buckets")],
    )
    module.run(s3_encryption.run)


if __name__ == "__main__":
    main()
