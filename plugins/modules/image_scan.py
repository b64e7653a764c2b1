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
  - Vulnerability findings keep their risk data in C(details.risk) - CVSS v2, v3 and v4 scores and vectors per
    source, CWE ids, vendor severities, EPSS, the KEV flag, the published date and the image layer - for the
    O(fail_on_kev), O(fail_on_epss) and O(fail_on_cvss) gates and SARIF's C(security-severity). EPSS and KEV come
    from the scanner (Grype) or from the offline files O(kev_catalog) and O(epss_scores).
  - Applies a triage policy (ignore entries with a reason and an expiry date, C(.trivyignore),
    C(.trivyignore.yaml), OpenVEX documents), optionally keeps only findings new against a baseline report,
    and fails when open findings reach O(fail_on) or match O(fail_on_ids), unless O(report_only=true).
  - Writes normalized JSON, SARIF 2.1.0, JUnit XML and the scanner's CycloneDX BOM atomically when asked.
    Reports hold no timestamps, so a report is rewritten (and the task C(changed)) only when its content changes.
  - Secret findings never carry the secret's value into results, reports or logs.
  - Waivers come from the playbook's policy, never from what is scanned. Trivy obeys inline
    C(#trivy:ignore:ID) and C(#tfsec:ignore:ID) comments in IaC and has no option to turn that off, so for
    V(directory) and V(iac) targets the module reports each such comment as a HIGH misconfiguration
    C(inline-waiver) (accept one with an O(ignore) entry and a reason) and scans a copy of the configuration
    files with the comments defused, so the findings they hid are reported anyway (marked C(details.inline_waiver)).
  - Misconfiguration ids are the same for every Trivy version (V(AVD-AWS-0088), also when Trivy 0.69 or later
    writes V(AWS-0088)); the other spelling is in C(details.aliases), and O(fail_on_ids), O(ignore), ignore
    files and baselines match either.
  - Works air-gapped with a seeded DB cache (O(offline), O(skip_db_update), O(cache_dir)) or an internal DB
    mirror (O(db_repository)).
author:
  - ainative.security contributors (@ainative-security)
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
          - V(tfplan) (since 0.2.0) is a Terraform plan as JSON (C(terraform show -json PLANFILE)); the file must have
            C(format_version), C(terraform_version) and C(planned_values) or C(resource_changes), and a resource
            for each planned one, or the target is not scanned and says why.
        type: str
        required: true
        choices: [image, archive, directory, rootfs, sbom, iac, tfplan]
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
    description:
      - The scanner backend. Grype scans vulnerabilities only.
      - V(checkov) (since 0.2.0) is a second IaC engine for V(iac), V(directory) and V(tfplan) targets (misconfig
        only; any other target type fails the task). It runs offline from its own venv (C(make setup) links
        C(.venv/bin/checkov)). Offline it reports no severity, so a check mapped to a Trivy check takes that
        check's severity and any other check is V(HIGH). Its C(checkov:skip) comments and a C(.checkov.yaml) in the
        scanned tree are not obeyed (waivers come from the playbook), and a file it cannot parse is a coverage miss.
      - Where both engines check the same control, a finding carries C(details.canonical_id) and the other
        engine's id in C(details.aliases), so O(fail_on_ids) and O(ignore) entries match either id.
    type: str
    default: trivy
    choices: [trivy, grype, checkov]
  scanner_path:
    description: Path of the scanner binary (or a directory holding it); found on E(PATH) when omitted.
    type: path
  scanners:
    description:
      - Scanners for every target without its own O(targets[].scanners).
      - Default per type; V(image), V(archive) and V(directory) get all three, V(rootfs) vuln and secret,
        V(sbom) vuln, V(iac) and V(tfplan) misconfig.
    type: list
    elements: str
    choices: [vuln, secret, misconfig]
  fail_on:
    description:
      - Lowest severity of an open finding that fails the gate (V(none), V(INFO), V(LOW), V(MEDIUM), V(HIGH),
        V(CRITICAL), any case). V(none) gates on O(fail_on_ids) and coverage only.
      - Since 0.2.0 an unknown value fails the task before anything is scanned.
    type: str
    default: HIGH
  only_fixed:
    description: Gate only on vulnerabilities that have a fixed version (misconfigurations and secrets always count).
    type: bool
    default: false
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
  kev_catalog:
    description:
      - CISA's Known Exploited Vulnerabilities catalogue (C(known_exploited_vulnerabilities.json)) on the managed
        host. A vulnerability whose id, alias or related id it lists gets C(details.risk.kev=true), every other one
        C(false); O(fail_on_kev) gates on that.
      - Read offline, nothing is fetched; its C(catalogVersion) and C(dateReleased) go into the notes and the JSON
        report. A file that is not a KEV catalogue fails the task.
      - Without it, Trivy findings have no KEV data (Grype with a schema v6 DB has its own), so O(fail_on_kev)
        makes the run incomplete.
    type: path
    version_added: 0.2.0
  epss_scores:
    description:
      - FIRST's EPSS scores CSV (C(epss_scores-YYYY-MM-DD.csv.gz), gzip or plain) on the managed host. Each
        vulnerability's CVE gets C(details.risk.epss) (score and percentile, V(0) to V(1)); O(fail_on_epss)
        gates on the score. The file's score is used over the scanner's.
      - Read offline and streamed (only the findings' CVEs are kept); its score date goes into the notes and the
        JSON report. A file that is not an EPSS CSV fails the task.
      - Without it and without EPSS from the scanner (Trivy has none), O(fail_on_epss) makes the run incomplete.
    type: path
    version_added: 0.2.0
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
  iac_policies:
    description:
      - Custom Rego checks run by Trivy's embedded OPA on V(iac), V(directory) and V(tfplan) targets (Trivy only).
        Their findings are misconfigurations with the check's own id (METADATA C(custom.id), C(custom.avd_id) an
        alias); role M(ainative.security.scan_gate) ships an example bundle.
      - A check or data file that does not load (syntax, type or data error) fails the task with the file and
        Trivy's reason; the scan never goes on without it.
    type: dict
    version_added: 0.2.0
    suboptions:
      checks:
        description: C(.rego) files or folders of them (searched recursively) on the managed host.
        type: list
        elements: path
        required: true
      data:
        description: YAML or JSON data files or folders the checks read under C(data) (such as allowed KMS keys).
        type: list
        elements: path
        default: []
      namespaces:
        description:
          - Rego packages to run; a check runs when its package is one of them or under one (V(user.ainative)
            runs V(user.ainative.s3)). Empty runs every package the checks declare.
          - A namespace that no check declares fails the task (it would run nothing).
        type: list
        elements: str
        default: []
      builtin:
        description: Also report Trivy's own checks; V(false) keeps only the custom checks' findings.
        type: bool
        default: true
  concurrency:
    description: Targets scanned at the same time.
    type: int
    default: 2
  licenses:
    description:
      - Licence policy (Trivy only). Trivy's licence scanner runs on every target and each declared licence
        that breaks the policy is a C(license) finding whose id is the licence as declared (V(license-unknown)
        for a package that declares none); C(details.decision) is V(denied), V(not_allowed) or V(unknown).
      - Licences are SPDX expressions. V(A OR B) passes when one branch passes (the licensee may choose it) and
        is denied only when every branch is; V(A AND B) needs every part to pass and is denied when any part is;
        V(X WITH exception) is judged as V(X) unless the whole expression is on the allow list.
      - Ids compare in any case; V(X+) means V(X-or-later) and a bare GNU id (V(GPL-3.0)) means V(X-only).
    type: dict
    version_added: 0.2.0
    suboptions:
      allow:
        description:
          - SPDX ids or globs. When not empty, any licence not matched is a finding at O(licenses.severity).
          - V(X-or-later) is allowed when V(X-only) is listed.
        type: list
        elements: str
        default: []
      deny:
        description:
          - SPDX ids or globs; a denied licence is a finding at O(licenses.severity), also when allowed.
          - An entry denies the licence's whole version family, so V(GPL-3.0) or V(GPL-3.0*) also denies
            V(GPL-3.0-only), V(gpl-3.0-or-later) and V(GPL-3.0+).
        type: list
        elements: str
        default: []
      severity:
        description: Severity of a denied or not allowed licence.
        type: str
        default: HIGH
      unknown:
        description:
          - Severity of a package that declares no licence, or (with no O(licenses.allow) list) a licence
            Trivy cannot name; V(none) reports neither.
        type: str
        default: MEDIUM
  reports:
    description:
      - Reports to write on the managed host (parent directories are created). Each is written atomically and
        only when its content changed; the file options (O(mode), O(owner), O(group), ...) apply to every report.
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
notes:
  - Exit codes are not used to detect findings; the scanner's JSON is parsed.
  - Each target stands on its own. A target that cannot be scanned (a missing path, a scanner that crashes, times
    out or is killed for memory) is listed in RV(coverage) with the tail of the scanner's standard error; the other
    targets' findings and reports are kept, and the gate fails on the incomplete run unless O(accept_incomplete)
    gives a reason.
  - A missing scanner binary, a missing offline DB or a bad option fails the task before anything is scanned.
  - A scanned directory with nothing to report is examined; only a run in which no target could be scanned
    examined nothing (RV(verdict) V(incomplete)).
  - Fingerprints (what O(baseline) compares) are the target, the package or file and resource, and the id; a
    line added above a resource or a DB update that adds a fixed version does not make a finding new.
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

- name: Refuse Terraform and its plan that break the organization's own Rego checks
  ainative.security.image_scan:
    targets:
      - type: iac
        ref: /srv/infra
      - type: tfplan
        ref: /srv/infra/plan.json   # terraform show -json tfplan > plan.json
    iac_policies:
      checks: [/opt/ainative/rego/checks]
      data: [/etc/ainative/allowed_kms_keys.yaml]
      namespaces: [user.ainative]
      builtin: false

- name: Refuse known exploited or likely exploited vulnerabilities, whatever their severity, from offline data
  ainative.security.image_scan:
    targets:
      - type: archive
        ref: /srv/build/model-server.tar
    offline: true
    fail_on: none
    fail_on_kev: true
    fail_on_epss: 0.5
    fail_on_cvss: 9.0
    kev_catalog: /srv/feeds/known_exploited_vulnerabilities.json
    epss_scores: /srv/feeds/epss_scores-current.csv.gz

- name: Refuse GPL-3.0 code in the model-server image and write its CycloneDX BOM
  ainative.security.image_scan:
    targets:
      - type: archive
        ref: /srv/build/model-server.tar
        name: model-server
    licenses:
      allow: [MIT, Apache-2.0, BSD-*, ISC, Zlib, PSF-2.0]
      deny: [GPL-3.0*, AGPL-*]
      unknown: LOW
    reports:
      cyclonedx: /srv/reports/sbom

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
  description:
    - Findings in the collection's shared model, most severe first, at most O(max_findings).
    - With O(baseline) every finding is returned; C(details.baseline) says V(new) or V(unchanged), and only new
      ones fail the gate.
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
  description: True when RV(findings) was cut at O(max_findings); reports and RV(summary) hold every finding.
  returned: always
  type: bool
summary:
  description: Counts of every finding by severity, kind and status.
  returned: always
  type: dict
verdict:
  description:
    - V(pass), V(findings) (open findings below the gate), V(fail) (findings fail the gate) or V(incomplete)
      (coverage incomplete and not accepted).
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
    - The targets examined - C(unit) (V(targets)), C(asked), C(examined), C(missed) (each target that could not
      be scanned, with C(item) and C(reason)), C(missed_count), C(complete), C(gaps) and C(accepted_incomplete).
  returned: always
  type: dict
notes:
  description: Remarks about the run (expired ignores, baseline counts, scanners a backend lacks).
  returned: always
  type: list
  elements: str
reports:
  description:
    - Reports written (or that would be written in check mode), by format, each with C(path) and C(changed);
      C(cyclonedx) also lists C(files).
  returned: always
  type: dict
expired_ignores:
  description: Ignore entries past their expiry that matched a finding (which is open again).
  returned: always
  type: list
  elements: dict
scanner:
  description: Backend name, version, binary path, DB facts and cache directory.
  returned: always
  type: dict
targets:
  description:
    - Each target with its type, archive format, scanners, seconds taken and number of findings.
    - A target that could not be scanned has C(error), the reason (also in RV(coverage)).
  returned: always
  type: list
  elements: dict
unused_ignores:
  description: Ignore entries (task, ignore files, VEX) that matched nothing (candidates for removal).
  returned: always
  type: list
  elements: dict
baseline:
  description: With O(baseline), its C(path) and the number of C(known) and C(new) findings; null without.
  returned: always
  type: dict
check_mode:
  description: Says that the scan ran in check mode and no report was written.
  returned: in check mode
  type: str
"""

from ansible_collections.ainative.security.plugins.module_utils.core.module import ControlModule
from ansible_collections.ainative.security.plugins.module_utils.scanners import image_scan
from ansible_collections.ainative.security.plugins.module_utils.scanners.base import SCANNER_KINDS, TARGET_TYPES


def argument_spec():
    return dict(
        targets=dict(type="list", elements="dict", required=True, options=dict(
            type=dict(type="str", required=True, choices=list(TARGET_TYPES)),
            ref=dict(type="str", required=True),
            name=dict(type="str"),
            scanners=dict(type="list", elements="str", choices=list(SCANNER_KINDS)),
        )),
        scanner=dict(type="str", default="trivy", choices=["trivy", "grype", "checkov"]),
        scanner_path=dict(type="path"),
        scanners=dict(type="list", elements="str", choices=list(SCANNER_KINDS)),
        only_fixed=dict(type="bool", default=False),
        ignore_files=dict(type="list", elements="path", default=[]),
        vex=dict(type="list", elements="path", default=[]),
        kev_catalog=dict(type="path"),
        epss_scores=dict(type="path"),
        cache_dir=dict(type="path"),
        offline=dict(type="bool", default=False),
        skip_db_update=dict(type="bool", default=False),
        db_repository=dict(type="str"),
        timeout=dict(type="int", default=600),
        iac_policies=dict(type="dict", options=dict(
            checks=dict(type="list", elements="path", required=True),
            data=dict(type="list", elements="path", default=[]),
            namespaces=dict(type="list", elements="str", default=[]),
            builtin=dict(type="bool", default=True),
        )),
        concurrency=dict(type="int", default=2),
        licenses=dict(type="dict", options=dict(
            allow=dict(type="list", elements="str", default=[]),
            deny=dict(type="list", elements="str", default=[]),
            severity=dict(type="str", default="HIGH"),
            unknown=dict(type="str", default="MEDIUM"),
        )),
    )


def main():
    module = ControlModule(
        image_scan.CONTROL,
        argument_spec=argument_spec(),
        gate="HIGH",
        max_findings=1000,
        reports=True,
        report_formats=("cyclonedx",),
        mutually_exclusive=[("offline", "db_repository")],
    )
    module.run(image_scan.run)


if __name__ == "__main__":
    main()
