#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: sarif_upload
short_description: Upload a SARIF log to GitHub code scanning, within GitHub's limits and only once per commit
version_added: 0.2.0
description:
  - Uploads a SARIF 2.1.0 log (what the C(reports.sarif) option of the collection's controls writes, or any
    tool's) to GitHub code scanning with the REST API (C(POST /repos/{owner}/{repo}/code-scanning/sarifs),
    API version 2022-11-28), gzipped and base64-encoded. Works with GitHub Enterprise Server through O(api_url).
  - Each run's C(automationDetails.id) is set to its category (O(category); with several runs, the category
    followed by the tool name), so a new upload replaces that category's previous analysis on the ref.
  - "GitHub's limits are kept: a run with more than 5,000 results is truncated to its 5,000 most severe
    results (rule C(security-severity), then level), because GitHub shows only those; splitting it into extra
    categories would leave alerts of a category a later, smaller scan no longer uploads open for ever. The
    run gets a C(properties) note and RV(notes) says how many were dropped. Runs that do not fit one upload
    (10 MB gzipped, 20 runs) go in several uploads, each run keeping its category."
  - Idempotent by commit and category. Before uploading, the analyses of O(ref) are listed; when an analysis
    of the same commit, category and tool with the same number of results exists, that run is not sent again
    (RV(already_uploaded)) and the task is not changed.
  - The token is sent only in the C(Authorization) header and never appears in results, warnings or errors.
author:
  - ainative.security contributors (@ainative-security)
extends_documentation_fragment:
  - ainative.security.attributes
attributes:
  check_mode:
    support: full
    details: Lists the ref's analyses (a read) and returns what would be uploaded; nothing is sent.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  repository:
    description: The repository, C(owner/name).
    type: str
    required: true
  commit_sha:
    description: The full 40-hex id of the commit the SARIF log describes.
    type: str
    required: true
  ref:
    description: The Git ref of the commit, C(refs/heads/BRANCH), C(refs/tags/TAG) or C(refs/pull/N/merge) (or C(/head)).
    type: str
    required: true
  sarif:
    description: Path of the SARIF 2.1.0 log on the managed host.
    type: path
    required: true
  category:
    description:
      - Category of the analysis (for example V(image-scan/model-server)); several runs get
        C(<category>/<tool>). Without it each run keeps its own C(automationDetails.id) or uses its tool name.
    type: str
  checkout_uri:
    description: The C(file://) URI of the checkout the SARIF paths are relative to (GitHub's C(checkout_uri)).
    type: str
  api_url:
    description: The GitHub REST API, V(https://api.github.com) or C(https://HOST/api/v3) for GitHub Enterprise Server.
    type: str
    default: https://api.github.com
  token:
    description:
      - A token with the C(security_events) write permission (a fine-grained token with Code scanning alerts
        read and write, or the Actions C(GITHUB_TOKEN) with C(security-events write)).
      - Defaults to the E(GITHUB_TOKEN) environment variable of the managed host.
    type: str
  wait:
    description: Wait until GitHub has processed each upload (C(processing_status) V(complete)); fail when it V(failed).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for processing with O(wait) before the task fails.
    type: int
    default: 120
  validate_certs:
    description: Verify the API's TLS certificate.
    type: bool
    default: true
  timeout:
    description: Seconds one API request may take.
    type: int
    default: 30
notes:
  - Runs are never sent twice for one commit and category; to replace an analysis of the same commit, change
    the category or the SARIF's results.
  - A SARIF log without runs examined nothing; the task fails (RV(coverage)).
seealso:
  - name: Uploading a SARIF file to GitHub
    description: GitHub documentation.
    link: https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/uploading-a-sarif-file-to-github
  - name: Code scanning REST API
    description: GitHub REST API reference.
    link: https://docs.github.com/en/rest/code-scanning/code-scanning
"""

EXAMPLES = r"""
- name: Scan the image and send its SARIF to code scanning for this commit
  ainative.security.image_scan:
    targets:
      - type: archive
        ref: /srv/build/model-server.tar
        name: model-server
    report_only: true
    reports:
      sarif: /srv/reports/model-server.sarif

- name: Upload it (a second run for the same commit changes nothing)
  ainative.security.sarif_upload:
    repository: acme/model-server
    commit_sha: "{{ lookup('ansible.builtin.env', 'GITHUB_SHA') }}"
    ref: "{{ lookup('ansible.builtin.env', 'GITHUB_REF') }}"
    sarif: /srv/reports/model-server.sarif
    category: image-scan/model-server
  environment:
    GITHUB_TOKEN: "{{ vault_github_security_events_token }}"
"""

RETURN = r"""
uploads:
  description:
    - Each upload sent (or, in check mode, that would be sent) with C(sarif_id), C(url), C(processing_status),
      C(gzip_bytes) and its C(runs) (C(category), C(tool), C(results), C(digest)).
  returned: always
  type: list
  elements: dict
already_uploaded:
  description: Runs not sent because an analysis of the same commit, category, tool and results count exists (with C(analysis_id)).
  returned: always
  type: list
  elements: dict
repository:
  description: The repository.
  returned: always
  type: str
commit_sha:
  description: The commit (lower case).
  returned: always
  type: str
ref:
  description: The ref.
  returned: always
  type: str
coverage:
  description:
    - The runs handled - C(unit) (V(runs)), C(asked), C(examined) (uploaded or already there), C(missed),
      C(missed_count), C(complete), C(gaps) and C(accepted_incomplete).
  returned: always
  type: dict
notes:
  description: Truncations and splits made to keep within GitHub's limits, and check mode remarks.
  returned: always
  type: list
  elements: str
verdict:
  description: V(pass), or V(incomplete) when the SARIF log had no run.
  returned: always
  type: str
"""

from ansible.module_utils.basic import env_fallback

from ansible_collections.ainative.security.plugins.module_utils.codescanning import upload
from ansible_collections.ainative.security.plugins.module_utils.core.module import NO_GATE, ControlModule


def main():
    module = ControlModule(
        upload.CONTROL,
        argument_spec=dict(
            repository=dict(type="str", required=True),
            commit_sha=dict(type="str", required=True),
            ref=dict(type="str", required=True),
            sarif=dict(type="path", required=True),
            category=dict(type="str"),
            checkout_uri=dict(type="str"),
            api_url=dict(type="str", default="https://api.github.com"),
            token=dict(type="str", no_log=True, fallback=(env_fallback, ["GITHUB_TOKEN"])),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=120),
            validate_certs=dict(type="bool", default=True),
            timeout=dict(type="int", default=30),
        ),
        gate=NO_GATE,
        max_findings=None,
        reports=False,
    )
    module.run(upload.run)


if __name__ == "__main__":
    main()
