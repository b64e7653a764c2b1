#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: image_scan
short_description: Scan images, archives, directories, SBOMs and IaC with Trivy or Grype and gate on the findings
version_added: 0.1.0
description:
  - Scans container images, image archives (docker-archive or OCI archive), directories, root file systems,
    SBOMs (CycloneDX or SPDX) and IaC directories (Terraform, Dockerfile, Kubernetes) with Trivy
    (vulnerabilities, secrets, misconfigurations) or Grype (vulnerabilities).
  - Several targets are scanned concurrently, at most O(concurrency) at a time.
  - Every finding uses the collection's shared findings model (id, kind, severity, package and versions or
    file and line, target, title, URL, status, fingerprint).
  - Applies a triage policy (ignore entries with a reason and an expiry date, C(.trivyignore),
    C(.trivyignore.yaml), OpenVEX documents), optionally keeps only findings new against a baseline report,
    and fails when open findings reach O(fail_on) or match O(fail_on_ids), unless O(report_only=true).
  - Writes normalized JSON, SARIF 2.1.0, JUnit XML and the scanner's CycloneDX BOM atomically when asked.
    Reports hold no timestamps, so a report is rewritten (and the task C(changed)) only when its content changes.
  - Secret findings never carry the secret's value into results, reports or logs.
  - Works air-gapped with a seeded DB cache (O(offline), O(skip_db_update), O(cache_dir)) or an internal DB
    mirror (O(db_repository)).
author:
  - ainative.security contributors (@ainative-security)
extends_documentation_fragment:
  - ainative.security.attributes
attributes:
  check_mode:
    support: full
    details: The scan runs in check mode too (it changes nothing); reports are not written.
  diff_mode:
    support: partial
    details: Shows which findings the JSON report gains or loses.
  platform:
    platforms: posix
options:
  targets:
    description: What to scan.
    type: list
    elements: dict
    required: true
    suboptions:
      type:
        description:
          - V(image) is an image reference the scanner pulls or finds locally.
          - V(archive) is a C(docker save)/C(podman save) tar (docker-archive or OCI archive, detected from its
            content; an OCI archive is unpacked to a layout directory for the scanner) or an OCI layout directory.
          - V(directory) is a source or model directory, V(rootfs) an unpacked root file system,
            V(sbom) a CycloneDX or SPDX JSON file, V(iac) a directory of Terraform, Dockerfiles or Kubernetes manifests.
        type: str
        required: true
        choices: [image, archive, directory, rootfs, sbom, iac]
      ref:
        description: The image reference or the path on the managed host.
        type: str
        required: true
      name:
        description:
          - Name of the target in findings, reports and baselines (defaults to O(targets[].ref)).
          - Keep it stable between runs so baselines match.
        type: str
      scanners:
        description: Scanners for this target (overrides O(scanners)).
        type: list
        elements: str
        choices: [vuln, secret, misconfig]
  scanner:
    description: The scanner backend. Grype scans vulnerabilities only.
    type: str
    default: trivy
    choices: [trivy, grype]
  scanner_path:
    description: Path of the scanner binary (or a directory holding it); found on E(PATH) when omitted.
    type: path
  scanners:
    description:
      - Scanners for every target without its own O(targets[].scanners).
      - Default per type; V(image), V(archive) and V(directory) get all three, V(rootfs) vuln and secret,
        V(sbom) vuln, V(iac) misconfig.
    type: list
    elements: str
    choices: [vuln, secret, misconfig]
  fail_on:
    description:
      - Lowest severity of an open finding that fails the gate (UNKNOWN, INFO, LOW, MEDIUM, HIGH, CRITICAL, any
        case). V(none) gates on O(fail_on_ids) only.
    type: str
    default: HIGH
  fail_on_ids:
    description: Finding ids (for example V(AVD-AWS-0088)) that fail the gate whatever their severity.
    type: list
    elements: str
    default: []
  only_fixed:
    description: Gate only on vulnerabilities that have a fixed version (misconfigurations and secrets always count).
    type: bool
    default: false
  report_only:
    description: Audit mode; report the gate's verdict in RV(gate) but never fail the task because of it.
    type: bool
    default: false
  baseline:
    description:
      - JSON report of an earlier run (O(reports.json)). Only findings whose fingerprint it lacks are returned,
        reported and gated.
    type: path
  ignore:
    description:
      - Accepted findings. An entry past its O(ignore[].expires) date no longer hides its finding and is
        listed in RV(expired_ignores).
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description: Finding id (CVE, GHSA, AVD or secret rule id).
        type: str
        required: true
      reason:
        description: Why the finding is accepted (and by whom).
        type: str
        required: true
      expires:
        description: Last day the entry applies, V(YYYY-MM-DD).
        type: str
      paths:
        description: Only findings whose path matches one of these globs.
        type: list
        elements: str
      packages:
        description: Only findings in these packages.
        type: list
        elements: str
      targets:
        description: Only findings of these target names.
        type: list
        elements: str
  ignore_files:
    description:
      - Trivy ignore files on the managed host, C(.trivyignore) (C(ID [exp:YYYY-MM-DD]); a comment line right
        above an entry is its reason) or C(.trivyignore.yaml) (by extension). Applied to both backends.
    type: list
    elements: path
    default: []
  vex:
    description: OpenVEX documents; statements with status C(not_affected) or C(fixed) hide matching findings.
    type: list
    elements: path
    default: []
  cache_dir:
    description: Scanner cache directory (Trivy C(--cache-dir), Grype E(GRYPE_DB_CACHE_DIR)) holding the vulnerability DB.
    type: path
  offline:
    description:
      - Air-gapped mode; no DB or check download, no network lookups. The DB must already be in O(cache_dir);
        if it is not, the task fails and says how to seed it.
    type: bool
    default: false
  skip_db_update:
    description: Use the DB in O(cache_dir) as it is.
    type: bool
    default: false
  db_repository:
    description: Internal mirror of the vulnerability DB (Trivy C(--db-repository), Grype E(GRYPE_DB_UPDATE_URL)).
    type: str
  timeout:
    description: Seconds one scanner run may take before it is stopped.
    type: int
    default: 600
  concurrency:
    description: Targets scanned at the same time.
    type: int
    default: 2
  reports:
    description: Reports to write on the managed host (parent directories are created).
    type: dict
    default: {}
    suboptions:
      json:
        description: Normalized JSON report (also what O(baseline) reads).
        type: path
      sarif:
        description: SARIF 2.1.0 log for code-scanning dashboards.
        type: path
      junit:
        description: JUnit XML for CI; findings that fail the gate are failures, ignored ones skipped.
        type: path
      cyclonedx:
        description: Directory for the scanner's CycloneDX BOM of each target (C(<name>.cdx.json); Trivy only).
        type: path
  max_findings:
    description: At most this many findings in RV(findings) (most severe first); V(0) returns all. Reports hold all.
    type: int
    default: 1000
notes:
  - Exit codes are not used to detect findings; the scanner's JSON is parsed. A scanner that crashes or times out
    fails the task with the tail of its standard error.
seealso:
  - name: Trivy
    description: Trivy documentation.
    link: https://trivy.dev/
  - name: Grype
    description: Grype documentation.
    link: https://github.com/anchore/grype
"""

EXAMPLES = r"""
- name: Gate a model-serving image archive and its IaC at HIGH, offline
  ainative.security.image_scan:
    targets:
      - type: archive
        ref: /srv/build/model-server.tar
        name: model-server
      - type: iac
        ref: /srv/build/terraform
    cache_dir: /var/cache/trivy
    offline: true
    fail_on: HIGH
    ignore:
      - id: CVE-2024-0001
        reason: not reachable, no network listener (SEC-123, jane)
        expires: "2026-12-31"
    reports:
      json: /srv/reports/model-server.json
      sarif: /srv/reports/model-server.sarif
      junit: /srv/reports/model-server.junit.xml

- name: Only fail on new, fixable findings against last release's report
  ainative.security.image_scan:
    targets:
      - type: directory
        ref: /srv/training-code
    baseline: /srv/reports/release-1.4.json
    only_fixed: true

- name: Refuse Terraform with an unencrypted S3 bucket or a GCP disk without a customer-managed key
  ainative.security.image_scan:
    targets:
      - type: iac
        ref: /srv/infra
    fail_on: none
    fail_on_ids: [AVD-AWS-0088, AVD-GCP-0034]

- name: Audit with Grype without failing
  ainative.security.image_scan:
    scanner: grype
    targets:
      - type: sbom
        ref: /srv/sbom/model-server.cdx.json
    report_only: true
  register: audit
"""

RETURN = r"""
findings:
  description: Findings (shared model), most severe first, at most O(max_findings).
  returned: always
  type: list
  elements: dict
  sample:
    - id: CVE-2099-0001
      control: image_scan
      kind: vulnerability
      severity: HIGH
      title: "bash: planted test vulnerability"
      target: model-server
      location: {package: bash, installed_version: 5.2.15-2+b13, fixed_version: 5.2.15-3, path: null, line: null,
                 resource: null}
      url: https://avd.aquasec.com/nvd/cve-2099-0001
      status: open
      details: {scanner: trivy, fixable: true}
      fingerprint: 0f1e2d3c4b5a69788796a5b4c3d2e1f0
findings_truncated:
  description: True when RV(findings) was cut to O(max_findings).
  returned: always
  type: bool
summary:
  description: Counts by severity, kind and status over all findings (from C(findings.summarize)).
  returned: always
  type: dict
gate:
  description: The gate's verdict.
  returned: always
  type: dict
  contains:
    failed:
      description: True when open findings fail the gate.
      type: bool
    fail_on:
      description: Severity threshold (null when V(none)).
      type: str
    fail_on_ids:
      description: Ids that always fail.
      type: list
    only_fixed:
      description: Whether only fixable vulnerabilities counted.
      type: bool
    new_only:
      description: Whether only findings new against a baseline counted.
      type: bool
    mode:
      description: V(gate) or V(report).
      type: str
    count:
      description: Number of failing findings.
      type: int
    ids:
      description: Up to 50 failing ids.
      type: list
verdict:
  description: V(fail), V(findings) (open ones below the gate) or V(pass).
  returned: always
  type: str
scanner:
  description: Backend name, version, binary path, DB facts and cache directory.
  returned: always
  type: dict
targets:
  description: Each target scanned with its type, archive format, scanners, seconds taken and number of findings.
  returned: always
  type: list
  elements: dict
expired_ignores:
  description: Ignore entries past their expiry date that matched a finding (which is now open again).
  returned: always
  type: list
  elements: dict
unused_ignores:
  description: Ignore entries that matched nothing (candidates for removal).
  returned: always
  type: list
  elements: dict
baseline:
  description: With O(baseline), the number of known and new findings.
  returned: always
  type: dict
reports:
  description: Reports written (or that would be written in check mode), each with path and changed.
  returned: always
  type: dict
notes:
  description: Things worth knowing (expired ignores, baseline counts, scanners a backend lacks).
  returned: always
  type: list
  elements: str
check_mode:
  description: Says that the scan ran in check mode and no report was written.
  returned: in check mode
  type: str
"""

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ainative.security.plugins.module_utils import image_scan
from ansible_collections.ainative.security.plugins.module_utils.core.fileio import read_bytes
from ansible_collections.ainative.security.plugins.module_utils.scanner_base import ScanError

SCANNER_KINDS = ["vuln", "secret", "misconfig"]


def argument_spec():
    return dict(
        targets=dict(type="list", elements="dict", required=True, options=dict(
            type=dict(type="str", required=True, choices=["image", "archive", "directory", "rootfs", "sbom", "iac"]),
            ref=dict(type="str", required=True),
            name=dict(type="str"),
            scanners=dict(type="list", elements="str", choices=SCANNER_KINDS),
        )),
        scanner=dict(type="str", default="trivy", choices=["trivy", "grype"]),
        scanner_path=dict(type="path"),
        scanners=dict(type="list", elements="str", choices=SCANNER_KINDS),
        fail_on=dict(type="str", default="HIGH"),
        fail_on_ids=dict(type="list", elements="str", default=[]),
        only_fixed=dict(type="bool", default=False),
        report_only=dict(type="bool", default=False),
        baseline=dict(type="path"),
        ignore=dict(type="list", elements="dict", default=[], options=dict(
            id=dict(type="str", required=True),
            reason=dict(type="str", required=True),
            expires=dict(type="str"),
            paths=dict(type="list", elements="str"),
            packages=dict(type="list", elements="str"),
            targets=dict(type="list", elements="str"),
        )),
        ignore_files=dict(type="list", elements="path", default=[]),
        vex=dict(type="list", elements="path", default=[]),
        cache_dir=dict(type="path"),
        offline=dict(type="bool", default=False),
        skip_db_update=dict(type="bool", default=False),
        db_repository=dict(type="str"),
        timeout=dict(type="int", default=600),
        concurrency=dict(type="int", default=2),
        reports=dict(type="dict", default={}, options=dict(
            json=dict(type="path"),
            sarif=dict(type="path"),
            junit=dict(type="path"),
            cyclonedx=dict(type="path"),
        )),
        max_findings=dict(type="int", default=1000),
    )


def _finding_lines(data):
    if not data:
        return ""
    try:
        doc = json.loads(data)
    except ValueError:
        return ""
    return "".join("%s %s %s %s\n" % (f.get("severity"), f.get("id"), f.get("target"), f.get("status"))
                   for f in doc.get("findings") or [])


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("offline", "db_repository")],
        supports_check_mode=True,
    )
    params = module.params
    if params["timeout"] < 1 or params["concurrency"] < 1 or params["max_findings"] < 0:
        module.fail_json(msg="timeout and concurrency must be at least 1 and max_findings at least 0")
    json_path = (params.get("reports") or {}).get("json")
    before = read_bytes(json_path) if json_path and module._diff else None
    try:
        result = image_scan.run(params, check_mode=module.check_mode)
    except ScanError as exc:
        module.fail_json(msg=str(exc))
    if module._diff and json_path and result["reports"].get("json", {}).get("changed"):
        after = "".join("%s %s %s %s\n" % (f["severity"], f["id"], f["target"], f["status"])
                        for f in result["findings"])
        result["diff"] = {"before_header": json_path, "after_header": json_path,
                          "before": _finding_lines(before), "after": after}
    if result["gate"]["failed"] and not params["report_only"]:
        module.fail_json(msg=image_scan.gate_message(result), **result)
    result["msg"] = "%d finding(s), %d open; gate %s" % (
        result["summary"]["total"], result["summary"]["open"],
        "FAILED (report only)" if result["gate"]["failed"] else "passed")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
