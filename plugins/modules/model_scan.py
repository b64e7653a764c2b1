#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: model_scan
short_description: Find model files that run code when loaded, and enforce a model format policy
version_added: 0.2.0
description:
  - Scans a model file or folder on the managed host for serialization that executes code when the model is
    loaded. Nothing is loaded or unpickled.
  - Pickles (C(.pkl), C(.pickle), C(.joblib), PyTorch C(.pt), C(.pth), C(.ckpt), C(.bin) and the C(data.pkl)
    inside zip-based PyTorch files, numpy object arrays) are disassembled with fickling. An import of a module
    that runs code or reaches the system (C(os), C(subprocess), C(socket), C(runpy), C(builtins) C(eval) and
    C(exec), and the rest of fickling's list) is V(CRITICAL); an import that is not on fickling's ML allowlist
    or a short list of plain containers is V(HIGH), because nothing proves it harmless (fail closed). The
    finding id is the import as users know it, for example V(os.system) for pickle's C(posix.system), with the
    aliases V(model-unsafe-pickle-import) and V(model-unverified-pickle-import).
  - Keras C(.keras) files are read for Lambda layers (V(keras-lambda-layer)) and objects imported from a module
    outside Keras (V(keras-custom-module)); Keras 2 HDF5 (C(.h5)) files for the same in the root group's
    C(model_config) attribute (with h5py, attributes only; the format is V(hdf5)); TensorFlow C(saved_model.pb) for
    the C(ReadFile) and C(WriteFile) ops (V(tf-op-ReadFile), V(tf-op-WriteFile)), by their protobuf field bytes
    since TensorFlow is not needed.
  - Safetensors files are checked by their header only (length, JSON, offsets inside the file); the tensors
    are never read. GGUF is recognized by its magic, ONNX by its name; neither is parsed further.
  - A file that claims a format but cannot be parsed (also an HDF5 file h5py cannot open), a pickle larger
    than 256 MiB, a symlink or a special file is a miss in RV(coverage), so the run is incomplete and
    the gate fails unless O(accept_incomplete) gives a reason. Symlinks are never followed.
  - With O(allowed_formats), each model file in another format is a V(HIGH) V(model-format-not-allowed)
    finding. Files in no model format (C(config.json), tokenizers, text) are listed as V(other) and not
    subject to the policy.
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
  - fickling (to examine pickles)
  - h5py (to examine HDF5 / Keras .h5 files)
options:
  path:
    description: The model file or folder to scan.
    type: path
    required: true
  allowed_formats:
    description:
      - The model formats production accepts, for example V([safetensors, gguf, onnx]). Empty means no format
        policy.
      - One or more of V(safetensors), V(gguf), V(onnx), V(pickle), V(pytorch), V(keras), V(hdf5), V(numpy),
        V(savedmodel), V(zip).
    type: list
    elements: str
    default: []
  exclude:
    description:
      - Glob patterns of paths relative to O(path) to leave out (C(*) stays in one component, C(**) crosses
        them, a pattern without C(/) matches at any depth).
    type: list
    elements: str
    default: []
  fail_on:
    description:
      - Fail when an open finding has this severity or a higher one. Unsafe imports are V(CRITICAL); unproven
        imports, Lambda layers, TensorFlow file ops and formats the policy does not allow are V(HIGH).
      - One of V(none), V(INFO), V(LOW), V(MEDIUM), V(HIGH), V(CRITICAL), in any case.
    type: str
    default: HIGH
notes:
  - fickling was chosen over picklescan because picklescan reports a file it cannot parse as clean and skips
    zip members it cannot open, and judges imports by a blocklist; here every import not proven harmless is
    a finding and every file that cannot be decoded is a miss.
seealso:
  - module: ainative.security.model_verify
  - module: ainative.security.model_sign
"""

EXAMPLES = r"""
- name: Admit only safetensors, GGUF or ONNX, with no code in any file
  ainative.security.model_scan:
    path: /models/llm
    allowed_formats: [safetensors, gguf, onnx]
    reports:
      sarif: /var/lib/ainative/reports/model_scan.sarif

- name: Scan a PyTorch checkpoint, report only
  ainative.security.model_scan:
    path: /models/classifier/model.pt
    report_only: true
  register: scan
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
formats:
  description: Files examined per format (V(other) for files in no model format).
  returned: always
  type: dict
  sample: {"safetensors": 4, "other": 3}
files:
  description: Each file examined, with C(path), C(format), C(findings) and, for safetensors, C(tensors); at most O(max_findings).
  returned: always
  type: list
  elements: dict
allowed_formats:
  description: The format policy applied (empty for none).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.ainative.security.plugins.module_utils.core.module import ControlModule
from ansible_collections.ainative.security.plugins.module_utils.models import scan


def main():
    module = ControlModule(
        scan.CONTROL,
        argument_spec=dict(
            path=dict(type="path", required=True),
            allowed_formats=dict(type="list", elements="str", default=[]),
            exclude=dict(type="list", elements="str", default=[]),
        ),
        gate=scan.DEFAULT_GATE,
        reports=True,
    )
    module.run(scan.run)


if __name__ == "__main__":
    main()
