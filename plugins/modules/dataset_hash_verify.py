#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dataset_hash_verify
short_description: Prove a dataset or model is exactly what was approved, by its hashes
version_added: 0.1.0
description:
  - Verifies one file against an expected digest, verifies a directory tree against a manifest, or creates
    (pins) a manifest for a tree. Runs on the managed host, where the data is.
  - Manifests are coreutils C(sha256sum) text (with the C(*) binary marker, backslash-escaped names and
    C(--tag) lines) or a JSON document with the algorithm, each file's size and digest, and one
    C(dataset_digest) over the sorted entries, so a whole dataset is pinned by one value.
  - Pass that value as O(manifest_digest) to make the module refuse a manifest that changed after approval.
  - Hostile manifests and trees are refused, with a message naming the entry, absolute paths, C(..), NUL
    bytes, symlinks (unless O(follow_symlinks), and never outside the root), devices, FIFOs and sockets.
    Each file is opened without following symlinks on any path component, checked to be a regular file and
    the same inode the tree walk saw, and hashed from that same descriptor.
  - Hashing runs in one process per CPU with reusable 1 MiB buffers; OpenSSL uses the CPU's SHA extensions.
author:
  - Ainative Security Team (@ainative-security)
extends_documentation_fragment:
  - ainative.security.attributes
attributes:
  check_mode:
    support: full
    details: In O(mode=create) the tree is hashed and the result reported, but no manifest is written.
  diff_mode:
    support: full
    details: In O(mode=create) shows the manifest before and after (up to 256 KiB each).
  platform:
    platforms: posix
    support: full
options:
  path:
    description:
      - The file to verify (with O(digest)), or the root of the dataset tree (with O(manifest)).
    type: path
    required: true
  mode:
    description:
      - V(verify) checks the data; V(create) writes the manifest of the tree at O(path) into O(manifest).
    type: str
    choices: [verify, create]
    default: verify
  digest:
    description:
      - Expected digest of the single file O(path), as V(sha256:<hex>) (any algorithm name as prefix) or
        bare hex with O(algorithm).
    type: str
  manifest:
    description:
      - Manifest file on the managed host. Read in O(mode=verify), written atomically in O(mode=create).
      - When it lies inside O(path) it is left out of the dataset.
    type: path
  manifest_format:
    description:
      - V(auto) reads JSON when the content starts with C({) and writes JSON when the name ends in C(.json);
        otherwise coreutils text.
    type: str
    choices: [auto, json, sha256sum]
    default: auto
  manifest_digest:
    description:
      - The approved C(dataset_digest) of the manifest, V(sha256:<hex>), as returned by O(mode=create).
        The manifest is refused before any file is hashed when its entries do not produce this value.
    type: str
  algorithm:
    description:
      - Hash algorithm. In O(mode=verify) the manifest's own algorithm is used; setting a different one is
        an error. V(blake3) needs the Python package C(blake3) on the managed host.
      - Defaults to V(sha256) when nothing else says otherwise.
    type: str
    choices: [sha256, sha384, sha512, blake2b, blake3]
  ignore:
    description:
      - Glob patterns of paths relative to O(path) to leave out, in both the tree and the manifest.
        C(*) stays within one path component, C(**) crosses them, a pattern without C(/) matches a name at
        any depth, and V(.git/**) also skips the directory itself.
    type: list
    elements: str
    default: []
  allow_extra:
    description: Files in the tree that the manifest does not list are reported but do not fail verification.
    type: bool
    default: false
  follow_symlinks:
    description:
      - Hash the targets of symlinks that resolve inside O(path). Symlinks that resolve outside are always
        refused. When false, any symlink that is not ignored is refused.
    type: bool
    default: false
  fail_on_mismatch:
    description:
      - Fail the task when verification finds a mismatched, missing, unreadable or unsafe file (or an extra
        one unless O(allow_extra)). When false the task reports the findings and succeeds.
    type: bool
    default: true
  max_reported:
    description: Longest list returned per problem kind (counts are always complete). V(0) returns all.
    type: int
    default: 100
  workers:
    description: Hashing processes. V(0) uses one per CPU.
    type: int
    default: 0
  manifest_mode:
    description: Permissions of a created manifest, in octal.
    type: str
    default: "0644"
  backup:
    description: Keep a timestamped copy of a manifest that O(mode=create) replaces.
    type: bool
    default: false
notes:
  - The C(manifest_digest) is SHA-256 over the algorithm and the sorted (path, digest) pairs, so the same tree
    pinned as JSON or as C(sha256sum) text gives the same value.
seealso:
  - name: Dataset integrity guide
    description: How to pin and verify datasets, and what each finding means.
    link: https://example.invalid/ainative/security/docs/dataset_integrity.html
"""

EXAMPLES = r"""
- name: Pin the approved training set (JSON manifest, returns the dataset digest)
  ainative.security.dataset_hash_verify:
    path: /data/train
    manifest: /data/manifests/train.json
    mode: create
    ignore: [".git/**", "*.tmp"]
  register: pinned

- name: Halt the pipeline unless the data is exactly what was approved
  ainative.security.dataset_hash_verify:
    path: /data/train
    manifest: /data/manifests/train.json
    manifest_digest: "{{ pinned.manifest_digest }}"

- name: Verify a directory against a sha256sum file, report only
  ainative.security.dataset_hash_verify:
    path: /models/llm
    manifest: /models/llm/SHA256SUMS
    allow_extra: true
    fail_on_mismatch: false
  register: model_check

- name: Verify one model file
  ainative.security.dataset_hash_verify:
    path: /models/llm/model.safetensors
    digest: "sha256:{{ approved_model_sha256 }}"
"""

RETURN = r"""
mode:
  description: What was done, V(verify) or V(create).
  returned: always
  type: str
verified:
  description: True when the data matched; null in O(mode=create).
  returned: always
  type: bool
algorithm:
  description: Algorithm used.
  returned: always
  type: str
  sample: sha256
digest:
  description: Digest of the single file, V(<algorithm>:<hex>).
  returned: when O(digest) is given
  type: str
manifest_digest:
  description: The dataset digest of the manifest (verify) or of the tree (create), V(sha256:<hex>).
  returned: when a manifest is used
  type: str
  sample: sha256:3f1d...
manifest_format:
  description: Format read or written, V(json) or V(sha256sum).
  returned: when a manifest is used
  type: str
files:
  description: Files hashed.
  returned: always
  type: int
bytes:
  description: Bytes hashed.
  returned: always
  type: int
seconds:
  description: Wall time of the walk and hashing.
  returned: always
  type: float
throughput_mib_s:
  description: Bytes hashed per second, in MiB.
  returned: always
  type: float
counts:
  description: Complete counts per outcome (ok, mismatched, missing, extra, unsafe, unreadable, extra_allowed).
  returned: in O(mode=verify) of a tree
  type: dict
mismatched:
  description: Files whose content differs, with expected and actual digest (or sizes), at most O(max_reported).
  returned: in O(mode=verify)
  type: list
  elements: dict
missing:
  description: Paths listed in the manifest but absent, at most O(max_reported).
  returned: in O(mode=verify) of a tree
  type: list
  elements: str
extra:
  description: Paths in the tree but not in the manifest, at most O(max_reported).
  returned: in O(mode=verify) of a tree, unless O(allow_extra)
  type: list
  elements: str
extra_allowed:
  description: Paths in the tree but not in the manifest, accepted because of O(allow_extra).
  returned: when O(allow_extra)
  type: list
  elements: str
unsafe:
  description: Files refused while hashing (replaced during verification, turned into a symlink).
  returned: in O(mode=verify) of a tree
  type: list
  elements: dict
unreadable:
  description: Files that could not be read, with the reason.
  returned: in O(mode=verify) of a tree
  type: list
  elements: dict
truncated:
  description: True when some list was cut at O(max_reported).
  returned: in O(mode=verify) of a tree
  type: bool
findings:
  description: Problems in the collection's shared findings model (control C(dataset_hash_verify), kind C(integrity)).
  returned: always
  type: list
  elements: dict
summary:
  description: Counts of the findings by severity, kind and status.
  returned: always
  type: dict
backup_file:
  description: Copy of the replaced manifest.
  returned: when O(backup) and a manifest was replaced
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ainative.security.plugins.module_utils import dataset_integrity
from ansible_collections.ainative.security.plugins.module_utils.hashing import ALGORITHMS, HashingError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            mode=dict(type="str", choices=["verify", "create"], default="verify"),
            digest=dict(type="str"),
            manifest=dict(type="path"),
            manifest_format=dict(type="str", choices=["auto", "json", "sha256sum"], default="auto"),
            manifest_digest=dict(type="str"),
            algorithm=dict(type="str", choices=list(ALGORITHMS)),
            ignore=dict(type="list", elements="str", default=[]),
            allow_extra=dict(type="bool", default=False),
            follow_symlinks=dict(type="bool", default=False),
            fail_on_mismatch=dict(type="bool", default=True),
            max_reported=dict(type="int", default=100),
            workers=dict(type="int", default=0),
            manifest_mode=dict(type="str", default="0644"),
            backup=dict(type="bool", default=False),
        ),
        mutually_exclusive=[("digest", "manifest"), ("digest", "manifest_digest")],
        required_one_of=[("digest", "manifest")],
        required_if=[("mode", "create", ("manifest",))],
        supports_check_mode=True,
    )
    params = module.params
    if params["max_reported"] < 0 or params["workers"] < 0:
        module.fail_json(msg="max_reported and workers must be 0 or more")
    try:
        int(params["manifest_mode"], 8)
    except ValueError:
        module.fail_json(msg="manifest_mode %r is not an octal mode such as 0644" % params["manifest_mode"])
    try:
        result = dataset_integrity.run(params, module.check_mode, module._diff)
    except HashingError as exc:
        module.fail_json(msg=str(exc))
    if result["verified"] is False and params["fail_on_mismatch"]:
        module.fail_json(msg=dataset_integrity.failure_message(result), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
