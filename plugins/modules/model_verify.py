#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: model_verify
short_description: Verify a model or dataset folder against its OpenSSF model signature, offline
version_added: 0.2.0
description:
  - Verifies a model or dataset file or folder on the managed host against a signature in the OpenSSF model
    signing format (a Sigstore bundle with a DSSE envelope over an in-toto statement of (path, digest)
    subjects), as written by M(ainative.security.model_sign) or the C(model_signing) CLI, with an EC public
    key or a certificate chain. Keyless Sigstore signatures need the public Sigstore services and are not
    verified here.
  - Any symlink, device, FIFO or socket in the tree is refused before anything is hashed, even when the
    signature was made with C(--allow_symlinks) (model_signing would then follow a link out of the folder).
    A signature that names an absolute path or C(..) is refused.
  - A file changed since signing (V(model-file-modified)), added (V(model-file-unsigned)) or removed
    (V(model-file-missing)) is one V(HIGH) finding naming the file. A missing, malformed or invalid signature
    (wrong key, untrusted chain, edited statement) is a V(CRITICAL) finding and a miss in RV(coverage), so
    the run is incomplete.
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
    details: Read-only; runs the same in check mode (reports are not written).
  diff_mode:
    support: none
  platform:
    platforms: posix
    support: full
requirements:
  - model-signing
  - pyopenssl
options:
  path:
    description: The model file or folder (the model_signing CLI's C(MODEL_PATH)).
    type: path
    required: true
  signature:
    description:
      - The signature file, a Sigstore bundle (JSON). When it lies inside O(path) it is left out of the signed
        files, as the model_signing CLI does.
    type: path
    required: true
  ignore_paths:
    description:
      - Paths relative to O(path) that are not part of the signature (a directory leaves out its whole
        subtree). Absolute paths and C(..) are refused.
    type: list
    elements: str
    default: []
  ignore_git_paths:
    description: Leave out C(.git), C(.github), C(.gitattributes) and C(.gitignore), as the CLI does by default.
    type: bool
    default: true
  public_key:
    description: The PEM public key that matches the signing key (the CLI's C(verify key) mode).
    type: path
  certificate_chain:
    description:
      - PEM certificates that anchor trust, root and intermediates (the CLI's C(verify certificate) mode).
    type: list
    elements: path
    default: []
  fail_on:
    description:
      - Fail when an open finding has this severity or a higher one. Changed, added and removed files are
        V(HIGH), a missing or invalid signature and refused paths V(CRITICAL).
      - One of V(none), V(INFO), V(LOW), V(MEDIUM), V(HIGH), V(CRITICAL), in any case.
    type: str
    default: HIGH
seealso:
  - module: ainative.security.model_sign
  - module: ainative.security.model_scan
"""

EXAMPLES = r"""
- name: Admit the model only if it is exactly what the release key signed
  ainative.security.model_verify:
    path: /models/llm
    signature: /models/llm.sig
    public_key: /etc/ainative/keys/model-signing.pub

- name: Verify a signature made in certificate mode
  ainative.security.model_verify:
    path: /models/llm
    signature: /models/llm.sig
    certificate_chain: [/etc/ainative/ca/root.pem, /etc/ainative/ca/intermediate.pem]
    reports:
      json: /var/lib/ainative/reports/model_verify.json
"""

RETURN = r"""
findings:
  description: Findings in the collection's shared model, most severe first, at most O(max_findings).
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
    - What the control examined - C(unit) (here C(files)), C(asked), C(examined), C(missed) (each with C(item) and
      C(reason), at most 50), C(missed_count), C(complete), C(gaps) and C(accepted_incomplete).
  returned: always
  type: dict
notes:
  description: Remarks about the run (expired waivers, baseline counts).
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
msg:
  description: One line - what was found, how many files were examined and the gate's decision.
  returned: always
  type: str
verified:
  description: True when the signature is valid and every file matches it.
  returned: always
  type: bool
signature:
  description: Path of the signature.
  returned: always
  type: str
files:
  description: Files in the tree (outside O(ignore_paths)).
  returned: always
  type: int
signed_files:
  description: Files the signature lists.
  returned: when the signature could be read
  type: int
hashing_algorithm:
  description: Digest the signature uses.
  returned: when the signature could be read
  type: str
signer:
  description: The signing certificate's subject, or the key hint of a key signature.
  returned: when the signature could be read
  type: str
"""

from ansible_collections.ainative.security.plugins.module_utils.core.module import ControlModule
from ansible_collections.ainative.security.plugins.module_utils.models import signing


def main():
    module = ControlModule(
        signing.VERIFY,
        argument_spec=dict(
            path=dict(type="path", required=True),
            signature=dict(type="path", required=True),
            ignore_paths=dict(type="list", elements="str", default=[]),
            ignore_git_paths=dict(type="bool", default=True),
            public_key=dict(type="path"),
            certificate_chain=dict(type="list", elements="path", default=[]),
        ),
        gate="HIGH",
        reports=True,
        mutually_exclusive=[("public_key", "certificate_chain")],
        required_one_of=[("public_key", "certificate_chain")],
    )
    module.run(signing.verify)


if __name__ == "__main__":
    main()
