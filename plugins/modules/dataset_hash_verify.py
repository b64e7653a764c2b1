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
    With O(follow_symlinks), links are resolved by the module one component at a time under directory
    descriptors opened without following links, so a link swapped in out of the root is refused, never read.
    Each file is opened without following symlinks on any path component, checked to be a regular file and
    the same inode the tree walk saw, and hashed from that same descriptor.
  - Names are bytes, as on disk; a manifest path may start with C(./) (as C(find . | xargs sha256sum) writes).
    The manifest must be a regular file of at most 512 MiB.
  - Hashing runs in one process per CPU with reusable 1 MiB buffers; OpenSSL uses the CPU's SHA extensions.
  - Every result carries RV(coverage) (unit C(files)) and a gate decision in RV(verdict) and RV(gate). A file
    the manifest lists but that could not be read, or that O(ignore) leaves out, is not examined, so such a
    run is incomplete and fails the gate unless O(accept_incomplete) gives a reason.
author:
  - Ainative Security Team (@ainative-security)
extends_documentation_fragment:
  - ainative.security.attributes
  - ainative.security.attributes.action_group_security
  - ainative.security.control
  - ainative.security.control.risk_gate
  - ainative.security.control.reports
  - ansible.builtin.files
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
  manifest_signature:
    description:
      - An OpenSSF model signing bundle over the manifest file, made by M(ainative.security.model_sign) (or the
        C(model_signing) CLI) with O(ainative.security.model_sign#module:path) set to the manifest.
      - The signature is checked, on the manifest's bytes as read once, before any digest in it is trusted.
        When it is missing or does not verify with O(public_key) or O(certificate_chain), the result is one
        V(CRITICAL) finding C(manifest-signature-invalid), no file is verified, and the run is incomplete.
      - Needs the Python packages C(model-signing) and C(pyopenssl) on the managed host. O(manifest_digest)
        stays for users without keys; both can be given.
    type: path
    version_added: 0.2.0
  public_key:
    description: The PEM public key that verifies O(manifest_signature) (the model_signing CLI's C(verify key) mode).
    type: path
    version_added: 0.2.0
  certificate_chain:
    description:
      - PEM certificates that anchor trust in O(manifest_signature)'s signing certificate, root and intermediates.
    type: list
    elements: path
    default: []
    version_added: 0.2.0
  algorithm:
    description:
      - Hash algorithm. In O(mode=verify) the manifest's own algorithm is used; setting a different one is
        an error. V(blake3) needs the Python package C(blake3) on the managed host.
      - Defaults to V(sha256) when nothing else says otherwise.
    type: str
    choices: [sha256, sha384, sha512, blake2b, blake3]
  ignore:
    description:
      - Glob patterns of paths relative to O(path) to leave out, in both the tree and the manifest. These are
        path globs (not the waivers other controls take under this name).
        C(*) stays within one path component, C(**) crosses them, a pattern without C(/) matches a name at
        any depth, and V(.git/**) also skips the directory itself.
      - A file the manifest lists that a pattern leaves out is not examined, so the run is incomplete (see
        O(accept_incomplete)).
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
  fail_on:
    description:
      - Fail when an open finding has this severity or a higher one. Mismatched, missing and unsafe files are
        V(HIGH), extra files V(MEDIUM), so the default V(MEDIUM) fails on every problem, as 0.1.0 did.
      - One of V(none), V(INFO), V(LOW), V(MEDIUM), V(HIGH), V(CRITICAL), in any case. V(none) gates on
        O(fail_on_ids) and coverage only.
    type: str
    default: MEDIUM
    version_added: 0.2.0
  fail_on_ids:
    description:
      - Finding ids (V(dataset_file_mismatch), V(dataset_file_missing), V(dataset_file_extra),
        V(dataset_file_unsafe)) that fail the gate whatever their severity.
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  accept_incomplete:
    description:
      - Why an incomplete run may pass the gate (files that could not be read, or listed files left out by
        O(ignore)). The reason is recorded in RV(gate) and RV(coverage).
    type: str
    version_added: 0.2.0
  report_only:
    description: Report the gate's decision in RV(gate) and RV(verdict) but do not fail the task.
    type: bool
    default: false
    version_added: 0.2.0
  baseline:
    description:
      - JSON report of an earlier run. Only findings whose fingerprint it lacks fail the gate.
    type: path
    version_added: 0.2.0
  fail_on_mismatch:
    description:
      - Deprecated, use O(fail_on). V(true) is O(fail_on=MEDIUM), V(false) is O(fail_on=none); an incomplete
        run still fails unless O(accept_incomplete) is set.
    type: bool
  max_findings:
    description:
      - Longest list returned in RV(findings) and per problem kind (counts are always complete). V(0) returns all.
    type: int
    default: 100
    aliases: [max_reported]
    version_added: 0.2.0
  workers:
    description: Hashing processes. V(0) uses one per CPU.
    type: int
    default: 0
  manifest_mode:
    description:
      - Permissions of a created manifest, in octal (V("0644")) or symbolic (V(u=rw,g=r,o=r)) form, as the
        O(ansible.builtin.file#module:mode) option; Ansible validates and applies it.
      - This is the file option C(mode) of the manifest (O(mode) selects verify or create). The other file
        options (O(owner), O(group), ...) apply to the created manifest and to the reports.
    type: raw
    default: "0644"
  backup:
    description: Keep a timestamped copy of a manifest that O(mode=create) replaces.
    type: bool
    default: false
notes:
  - The C(manifest_digest) is SHA-256 over the algorithm and the sorted (path, digest) pairs, so the same tree
    pinned as JSON or as C(sha256sum) text gives the same value.
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

- name: Sign the approved manifest once (release side) ...
  ainative.security.model_sign:
    path: /data/train/MANIFEST.json
    signature: /data/train/MANIFEST.json.sig
    private_key: /etc/ainative/keys/dataset-signing.pem

- name: ... and verify it before any digest is trusted (training side)
  ainative.security.dataset_hash_verify:
    path: /data/train
    manifest: /data/train/MANIFEST.json
    manifest_signature: /data/train/MANIFEST.json.sig
    public_key: /etc/ainative/keys/dataset-signing.pub

- name: Verify a directory against a sha256sum file, report only
  ainative.security.dataset_hash_verify:
    path: /models/llm
    manifest: /models/llm/SHA256SUMS
    allow_extra: true
    fail_on: none  # report findings only; a file not examined still fails (see accept_incomplete)
  register: model_check

- name: Verify the model, and write a JSON and a SARIF report
  ainative.security.dataset_hash_verify:
    path: /models/llm
    manifest: /models/llm/SHA256SUMS
    reports:
      json: /var/lib/ainative/reports/model.json
      sarif: /var/lib/ainative/reports/model.sarif

- name: Verify one model file
  ainative.security.dataset_hash_verify:
    path: /models/llm/model.safetensors
    digest: "sha256:{{ approved_model_sha256 }}"
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
    - C(asked) is every file the manifest lists (verify) or the walk found (create); a file counts as examined
      when its outcome is known (hashed, size-checked, found missing or refused as unsafe).
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
msg:
  description: One line - what was found, how many files were examined and the gate's decision.
  returned: always
  type: str
mode:
  description: What was done, V(verify) or V(create).
  returned: always
  type: str
verified:
  description: True when the data matched and every listed file was examined; null in O(mode=create).
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
manifest_signed:
  description: True when O(manifest_signature) was given (its check is in RV(findings) and RV(coverage)).
  returned: in verify mode with a manifest
  type: bool
  version_added: 0.2.0
manifest_signer:
  description: Who signed the manifest - the certificate subject, or the public key's hint - once the signature verified.
  returned: in verify mode with a manifest
  type: str
  version_added: 0.2.0
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
  description: Complete counts per outcome (ok, mismatched, missing, extra, unsafe, unreadable, ignored, extra_allowed).
  returned: in O(mode=verify) of a tree
  type: dict
mismatched:
  description: Files whose content differs, with expected and actual digest (or sizes), at most O(max_findings).
  returned: in O(mode=verify)
  type: list
  elements: dict
missing:
  description: Paths listed in the manifest but absent, at most O(max_findings).
  returned: in O(mode=verify) of a tree
  type: list
  elements: str
extra:
  description: Paths in the tree but not in the manifest, at most O(max_findings).
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
  description: True when some list was cut at O(max_findings).
  returned: in O(mode=verify) of a tree
  type: bool
backup_file:
  description: Copy of the replaced manifest.
  returned: when O(backup) and a manifest was replaced
  type: str
"""

from ansible_collections.ainative.security.plugins.module_utils.core.module import COLLECTION, DEPRECATED_IN, ControlModule
from ansible_collections.ainative.security.plugins.module_utils.integrity import dataset
from ansible_collections.ainative.security.plugins.module_utils.integrity.digests import ALGORITHMS


def main():
    module = ControlModule(
        dataset.CONTROL,
        argument_spec=dict(
            path=dict(type="path", required=True),
            mode=dict(type="str", choices=["verify", "create"], default="verify"),
            digest=dict(type="str"),
            manifest=dict(type="path"),
            manifest_format=dict(type="str", choices=["auto", "json", "sha256sum"], default="auto"),
            manifest_digest=dict(type="str"),
            manifest_signature=dict(type="path"),
            public_key=dict(type="path"),
            certificate_chain=dict(type="list", elements="path", default=[]),
            algorithm=dict(type="str", choices=list(ALGORITHMS)),
            # 0.1.0's path globs replace the shared waiver list of the same name.
            ignore=dict(type="list", elements="str", default=[]),
            allow_extra=dict(type="bool", default=False),
            follow_symlinks=dict(type="bool", default=False),
            fail_on_mismatch=dict(type="bool"),
            max_findings=dict(type="int", default=100, aliases=["max_reported"], deprecated_aliases=[
                dict(name="max_reported", version=DEPRECATED_IN, collection_name=COLLECTION)]),
            workers=dict(type="int", default=0),
            manifest_mode=dict(type="raw", default="0644"),
            backup=dict(type="bool", default=False),
        ),
        gate=dataset.DEFAULT_GATE,
        max_findings=100,
        reports=True,
        legacy_gate={"fail_on_mismatch": dataset.DEFAULT_GATE},
        mutually_exclusive=[("digest", "manifest"), ("digest", "manifest_digest"), ("digest", "manifest_signature"),
                            ("public_key", "certificate_chain")],
        required_one_of=[("digest", "manifest")],
        required_if=[("mode", "create", ("manifest",))],
    )
    module.run(dataset.run)


if __name__ == "__main__":
    main()
