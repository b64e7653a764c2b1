#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: model_sign
short_description: Sign a model or dataset folder in the OpenSSF model signing format, offline
version_added: 0.2.0
description:
  - Signs a model or dataset file or folder on the managed host with the C(model-signing) library. The
    signature is a Sigstore bundle holding a DSSE envelope with an in-toto statement of (path, digest)
    subjects, the same file C(model_signing sign key) or C(model_signing sign certificate) writes, so the CLI
    verifies it and M(ainative.security.model_verify) verifies the CLI's.
  - Signs with an EC private key, or with a private key and its signing certificate and chain (the
    certificate needs the codeSigning extended key usage). Keyless Sigstore signing needs the public Sigstore
    services and is not offered here; use the CLI on a connected host.
  - Any symlink, device, FIFO or socket in the tree (outside O(ignore_paths)) is refused, never followed. A
    tree with no file to sign is refused too.
  - A signature already on disk that verifies with this key over this exact tree and options is kept
    (RV(changed) is false), since a new signature would differ only in its timestamp and randomness. Otherwise the
    new signature replaces it atomically.
  - The private key and its password never appear in the result.
author:
  - Ainative Security Team (@ainative-security)
extends_documentation_fragment:
  - ainative.security.attributes
attributes:
  check_mode:
    support: full
    details: Hashes the tree and reports whether the signature would change; writes nothing.
  diff_mode:
    support: full
    details: Shows the signed (digest, path) subjects before and after.
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
  private_key:
    description: The PEM private key file on the managed host (EC, for example P-256). Only its path is taken.
    type: path
    required: true
  password:
    description: The password of an encrypted O(private_key).
    type: str
  signing_certificate:
    description: The PEM signing certificate of O(private_key); signs in the CLI's C(certificate) mode.
    type: path
  certificate_chain:
    description: PEM certificates of the chain from the signing certificate up (intermediates), put in the bundle.
    type: list
    elements: path
    default: []
  hashing_algorithm:
    description: Digest of each file.
    type: str
    choices: [sha256, blake2, blake3]
    default: sha256
seealso:
  - module: ainative.security.model_verify
  - module: ainative.security.model_scan
"""

EXAMPLES = r"""
- name: Sign the approved model with the release key
  ainative.security.model_sign:
    path: /models/llm
    signature: /models/llm.sig
    private_key: /etc/ainative/keys/model-signing.pem

- name: Sign with a certificate chain (CLI certificate mode)
  ainative.security.model_sign:
    path: /models/llm
    signature: /models/llm.sig
    private_key: /etc/ainative/keys/leaf.key
    signing_certificate: /etc/ainative/keys/leaf.pem
    certificate_chain: [/etc/ainative/keys/intermediate.pem]
    password: "{{ vault_model_key_password }}"
"""

RETURN = r"""
changed:
  description: True when a new signature was (or, in check mode, would be) written.
  returned: always
  type: bool
coverage:
  description: The files signed - C(unit) C(files), C(asked), C(examined), C(complete).
  returned: always
  type: dict
signature:
  description: Path of the signature.
  returned: always
  type: str
files:
  description: Files covered by the signature.
  returned: always
  type: int
hashing_algorithm:
  description: Digest of each file.
  returned: always
  type: str
msg:
  description: One line about the run.
  returned: always
  type: str
"""

from ansible_collections.ainative.security.plugins.module_utils.core.module import NO_GATE, ControlModule
from ansible_collections.ainative.security.plugins.module_utils.models import signing


def main():
    module = ControlModule(
        signing.SIGN,
        argument_spec=dict(
            path=dict(type="path", required=True),
            signature=dict(type="path", required=True),
            ignore_paths=dict(type="list", elements="str", default=[]),
            ignore_git_paths=dict(type="bool", default=True),
            private_key=dict(type="path", required=True),
            password=dict(type="str", no_log=True),
            signing_certificate=dict(type="path"),
            certificate_chain=dict(type="list", elements="path", default=[]),
            hashing_algorithm=dict(type="str", choices=["sha256", "blake2", "blake3"], default="sha256"),
        ),
        gate=NO_GATE,
        max_findings=None,
        reports=False,
        mutually_exclusive=[("password", "signing_certificate")],
    )
    module.run(signing.sign)


if __name__ == "__main__":
    main()
