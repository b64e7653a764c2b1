#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: model_bom
short_description: Write a CycloneDX ML-BOM of an admitted model, its datasets, their digests and the signer
version_added: 0.3.0
description:
  - Writes a CycloneDX JSON ML-BOM (spec 1.6 or 1.5, built with cyclonedx-python-lib) of a model file or
    folder on the managed host. The model is the BOM's subject (C(metadata.component), type
    C(machine-learning-model)), with one C(file) component per model file and their SHA-256 digests, and a
    C(modelCard) stub that refers to the datasets. Each dataset is a C(data) component whose SHA-256 is its
    manifest digest (the value O(ainative.security.dataset_hash_verify#module:manifest_digest) pins). The model depends on its datasets.
  - The model component's SHA-256 is the file's for a single file; for a folder it is the tree digest, the
    same value M(ainative.security.dataset_hash_verify) computes for a manifest of that folder. The
    property C(ainative:hash-subject) says which.
  - C(ainative:digest-source) says where each digest comes from - C(signature) (a signature verified with
    O(public_key) or O(certificate_chain)), C(computed) (hashed by this module) or C(manifest) (a dataset's
    manifest, not re-read here; verify datasets with M(ainative.security.dataset_hash_verify) first).
  - With O(signature) (an OpenSSF model signing bundle, as M(ainative.security.model_sign) writes), the
    signed subjects must be exactly the model's files with the same digests, or the task fails - a signer is
    never recorded for files it did not sign. The signer (certificate subject, issuer and fingerprint, or the
    public key's SHA-256 fingerprint) is recorded as C(ainative:signer:*) properties of the model, with
    C(ainative:signature:verified) true only when O(public_key) or O(certificate_chain) verified the
    signature itself.
  - Deterministic - no wall-clock time unless O(timestamp) is given, and the C(serialNumber) is a UUID v5 of
    the rest of the document, so an unchanged model and datasets give the same file and RV(changed) false.
  - The document is validated against the strict CycloneDX JSON schema shipped with the library before it is
    written; an invalid BOM is never written. The write is atomic.
  - A dataset whose manifest cannot be read is a miss in RV(coverage); the BOM is then not written and the task
    fails unless O(accept_incomplete) gives a reason (the BOM then says which datasets it lacks).
author:
  - Ainative Security Team (@ainative-security)
extends_documentation_fragment:
  - ainative.security.attributes
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    details: Builds and validates the BOM and reports whether the file would change; writes nothing.
  diff_mode:
    support: full
    details: Shows the BOM before and after.
  platform:
    platforms: posix
    support: full
requirements:
  - cyclonedx-python-lib (with its JSON validation extra, jsonschema)
  - model-signing and pyopenssl (only with O(signature))
options:
  path:
    description: The model file or folder. Symlinks and special files in it are refused, never followed.
    type: path
    required: true
  name:
    description: The model's name in the BOM. Defaults to the last part of O(path).
    type: str
  version:
    description: The model's version in the BOM.
    type: str
  signature:
    description:
      - The model's OpenSSF model signing bundle. When it lies inside O(path) it is not a model file, as
        model_signing treats it; git's files (C(.git), C(.gitignore), ...) are left out likewise.
    type: path
  public_key:
    description: PEM public key that verifies O(signature) (a key signature).
    type: path
  certificate_chain:
    description: PEM certificates (root last) that verify O(signature) (a certificate signature).
    type: list
    elements: path
    default: []
  datasets:
    description: The datasets the model was trained or evaluated on.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The dataset file or folder (recorded; the manifest gives its digests).
        type: path
        required: true
      manifest:
        description: Its M(ainative.security.dataset_hash_verify) manifest (JSON or sha256sum text).
        type: path
        required: true
      name:
        description: The dataset's name in the BOM (unique). Defaults to the last part of its O(datasets[].path).
        type: str
  dest:
    description: Where to write the BOM (JSON). Must not lie inside O(path).
    type: path
    required: true
  spec_version:
    description: CycloneDX specification version (ML-BOMs exist since 1.5).
    type: str
    choices: ['1.5', '1.6']
    default: '1.6'
  timestamp:
    description:
      - C(metadata.timestamp) of the BOM, ISO 8601 with a time zone (for example V(2026-12-01T10:00:00Z)).
        Without it the BOM has no timestamp, so reruns give identical files.
    type: str
  accept_incomplete:
    description:
      - Reason to write the BOM although some dataset manifests could not be read; the BOM's metadata
        property C(ainative:incomplete) names them and RV(coverage) keeps the gaps.
    type: str
seealso:
  - module: ainative.security.model_sign
  - module: ainative.security.model_verify
  - module: ainative.security.dataset_hash_verify
"""

EXAMPLES = r"""
- name: Record what was admitted
  ainative.security.model_bom:
    path: /srv/models/llm
    name: support-llm
    version: "2026.12"
    signature: /srv/models/llm.sig
    public_key: /etc/ainative/keys/model-signing.pub
    datasets:
      - name: support-tickets
        path: /srv/datasets/tickets
        manifest: /srv/datasets/tickets.sha256
    dest: /var/lib/ainative/bom/support-llm.cdx.json
    mode: "0644"
"""

RETURN = r"""
changed:
  description: True when the BOM file was (or, in check mode, would be) written or its attributes changed.
  returned: always
  type: bool
verdict:
  description: V(pass), or V(incomplete) when a dataset manifest could not be read.
  returned: always
  type: str
gate:
  description: The decision - C(failed), C(reason), C(incomplete), C(accepted_incomplete).
  returned: always
  type: dict
coverage:
  description: >-
    The components put in the BOM - C(unit) C(components), C(asked) (the model and each dataset), C(examined),
    C(missed) (datasets whose manifest could not be read, with the reason), C(complete).
  returned: always
  type: dict
findings:
  description: Always empty (this module has no findings); kept for the common result shape.
  returned: always
  type: list
  elements: dict
findings_truncated:
  description: Always false.
  returned: always
  type: bool
summary:
  description: Counts of findings (all zero).
  returned: always
  type: dict
notes:
  description: Remarks about the run.
  returned: always
  type: list
  elements: str
reports:
  description: Always empty (the BOM is RV(dest)).
  returned: always
  type: dict
dest:
  description: Path of the BOM.
  returned: always
  type: str
written:
  description: True when the file was written by this run.
  returned: always
  type: bool
serial_number:
  description: The BOM's C(serialNumber) (C(urn:uuid:), a UUID v5 of its content).
  returned: always
  type: str
  sample: urn:uuid:1b4e28ba-2fa1-5d2b-a3f4-6f3a1c9a1e11
spec_version:
  description: CycloneDX specification version.
  returned: always
  type: str
files:
  description: Model files in the BOM.
  returned: always
  type: int
tree_digest:
  description: SHA-256 tree digest of the model's files (as dataset_hash_verify's manifest digest).
  returned: always
  type: str
digest_source:
  description: Where the model's SHA-256 digests come from - V(signature) or V(computed).
  returned: always
  type: str
signer:
  description: >-
    Who signed - C(subject), C(issuer) and C(certificate_sha256) of the signing certificate, or C(key_sha256)
    (SHA-256 of the PEM public key, model_signing's key hint); null without O(signature).
  returned: always
  type: dict
signature_verified:
  description: True when O(public_key) or O(certificate_chain) verified the signature itself.
  returned: always
  type: bool
datasets:
  description: The datasets in the BOM, each with C(name) and C(manifest_digest).
  returned: always
  type: list
  elements: dict
msg:
  description: One line about the run.
  returned: always
  type: str
"""

from ansible_collections.ainative.security.plugins.module_utils.core.module import NO_GATE, ControlModule
from ansible_collections.ainative.security.plugins.module_utils.models import bom


def main():
    module = ControlModule(
        bom.CONTROL,
        argument_spec=dict(
            path=dict(type="path", required=True),
            name=dict(type="str"),
            version=dict(type="str"),
            signature=dict(type="path"),
            public_key=dict(type="path"),
            certificate_chain=dict(type="list", elements="path", default=[]),
            datasets=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="path", required=True),
                manifest=dict(type="path", required=True),
                name=dict(type="str"),
            )),
            dest=dict(type="path", required=True),
            spec_version=dict(type="str", choices=["1.5", "1.6"], default="1.6"),
            timestamp=dict(type="str"),
            accept_incomplete=dict(type="str"),
        ),
        gate=NO_GATE,
        max_findings=None,
        reports=False,
        add_file_common_args=True,
        mutually_exclusive=[("public_key", "certificate_chain")],
    )
    module.run(bom.run)


if __name__ == "__main__":
    main()
