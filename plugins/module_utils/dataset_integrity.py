# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dataset integrity control: verify a file, verify a tree against a manifest, or pin a tree.

Turns the hashing results into the module's result and into findings of the shared model.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.ainative.security.plugins.module_utils.core import findings as fmodel
from ansible_collections.ainative.security.plugins.module_utils import hashing
from ansible_collections.ainative.security.plugins.module_utils.core.fileio import read_bytes, write_if_changed
from ansible_collections.ainative.security.plugins.module_utils.hashing import HashingError

CONTROL = "dataset_hash_verify"

# What each problem means, for findings.
_PROBLEMS = {
    "mismatched": ("dataset_file_mismatch", "HIGH", "content differs from the approved manifest"),
    "missing": ("dataset_file_missing", "HIGH", "file listed in the manifest is missing"),
    "extra": ("dataset_file_extra", "MEDIUM", "file is not in the approved manifest"),
    "unsafe": ("dataset_file_unsafe", "HIGH", "file was refused as unsafe"),
    "unreadable": ("dataset_file_unreadable", "MEDIUM", "file could not be read"),
}


def manifest_format(fmt, manifest_path):
    """The format to write: JSON for a .json name unless set."""
    if fmt != "auto":
        return fmt
    return "json" if manifest_path.endswith(".json") else "sha256sum"


def _ignore_rules(params, root):
    extra = []
    manifest = params.get("manifest")
    if manifest:
        # The manifest may live inside the tree it describes; it is never part of the dataset.
        rel = os.path.relpath(os.path.abspath(manifest), os.path.abspath(root))
        if not rel.startswith(".."):
            extra.append(rel.replace(os.sep, "/"))
    return hashing.IgnoreRules(params.get("ignore") or [], extra)


def _check_root(path):
    if not os.path.exists(path):
        raise HashingError("path %s does not exist" % path)
    if not os.path.isdir(path):
        raise HashingError("path %s is not a directory; give a directory with manifest, or a file with digest"
                           % path)


def verify_file(params):
    path = params["path"]
    if not os.path.lexists(path):
        raise HashingError("path %s does not exist" % path)
    if os.path.isdir(path):
        raise HashingError("path %s is a directory; use manifest to verify a directory" % path)
    algorithm, expected = hashing.parse_digest(params["digest"], params.get("algorithm"))
    timer = hashing.Timer()
    actual, size = hashing.hash_single_file(path, algorithm, params["follow_symlinks"])
    verified = actual == expected
    result = {"changed": False, "mode": "verify", "verified": verified, "algorithm": algorithm,
              "digest": "%s:%s" % (algorithm, actual)}
    result.update(timer.stats(1, size))
    problems = {} if verified else {"mismatched": [{"path": os.path.basename(path), "reason": "digest",
                                                    "expected": expected, "actual": actual}]}
    _attach_findings(result, path, problems, params["max_reported"])
    return result


def verify_tree(params):
    root = params["path"]
    _check_root(root)
    manifest_path = params["manifest"]
    data = read_bytes(manifest_path)
    if data is None:
        raise HashingError("manifest %s does not exist; create it with mode=create" % manifest_path)
    fmt = params["manifest_format"]
    if fmt == "auto":  # by content when reading, whatever the file is called
        fmt = "json" if data.lstrip()[:1] == b"{" else "sha256sum"
    algorithm, digests, sizes = hashing.read_manifest(data, fmt, params.get("algorithm"), manifest_path)
    pinned = hashing.dataset_digest(algorithm, digests)
    if params.get("manifest_digest"):
        want = hashing.parse_digest(params["manifest_digest"], "sha256")[1]
        if pinned != "sha256:" + want:
            raise HashingError("manifest %s does not match manifest_digest (it pins %s, expected sha256:%s); "
                               "it was changed after approval, so it is not trusted" % (manifest_path, pinned, want))
    outcome = hashing.verify_tree(root, digests, sizes, algorithm, _ignore_rules(params, root),
                                  params["follow_symlinks"], params["workers"])
    if params["allow_extra"]:
        outcome["extra_allowed"] = outcome.pop("extra")
    problems = dict((key, outcome.get(key) or []) for key in _PROBLEMS)
    verified = not any(problems.values())
    result = {"changed": False, "mode": "verify", "verified": verified, "algorithm": algorithm,
              "manifest": manifest_path, "manifest_format": fmt, "manifest_digest": pinned}
    for key in ("files", "bytes", "seconds", "throughput_mib_s"):
        result[key] = outcome[key]
    counts = dict((key, len(value)) for key, value in problems.items())
    counts["ok"] = outcome["ok"]
    if params["allow_extra"]:
        counts["extra_allowed"] = len(outcome["extra_allowed"])
        result["extra_allowed"] = fmodel.bounded(outcome["extra_allowed"], params["max_reported"])[0]
    result["counts"] = counts
    truncated = False
    for key, value in problems.items():
        result[key], cut = fmodel.bounded(value, params["max_reported"])
        truncated = truncated or cut
    result["truncated"] = truncated
    _attach_findings(result, root, problems, params["max_reported"])
    return result


def create_manifest(params, check_mode, diff_mode):
    root = params["path"]
    _check_root(root)
    manifest_path = params["manifest"]
    fmt = manifest_format(params["manifest_format"], manifest_path)
    algorithm = params.get("algorithm") or "sha256"
    entries, stats = hashing.build_entries(root, _ignore_rules(params, root), algorithm,
                                           params["follow_symlinks"], params["workers"])
    render = hashing.render_json_manifest if fmt == "json" else hashing.render_text_manifest
    content = render(algorithm, entries)
    result = {"mode": "create", "algorithm": algorithm, "manifest": manifest_path, "manifest_format": fmt,
              "verified": None,
              "manifest_digest": hashing.dataset_digest(algorithm, dict((k, v[0]) for k, v in entries.items()))}
    result.update(stats)
    parent = os.path.dirname(os.path.abspath(manifest_path))
    if not check_mode and not os.path.isdir(parent):
        raise HashingError("cannot write manifest %s: directory %s does not exist" % (manifest_path, parent))
    try:
        result.update(write_if_changed(manifest_path, content, int(params["manifest_mode"], 8), backup=params["backup"],
                                       check_mode=check_mode, diff=diff_mode))
    except (IOError, OSError) as exc:
        raise HashingError("cannot write manifest %s: %s" % (manifest_path, exc.strerror or exc))
    result["findings"] = []
    result["summary"] = fmodel.summarize([])
    return result


def _attach_findings(result, target, problems, limit):
    found = []
    for key, items in problems.items():
        rule, severity, title = _PROBLEMS[key]
        for item in fmodel.bounded(items, limit)[0]:
            path = item if isinstance(item, str) else item["path"]
            details = {} if isinstance(item, str) else dict((k, v) for k, v in item.items() if k != "path")
            found.append(fmodel.make_finding(CONTROL, "integrity", rule, severity, "%s: %s" % (path, title),
                                             target=target, location={"path": path}, details=details))
    result["findings"] = fmodel.sort_findings(found)
    result["summary"] = fmodel.summarize(found)


def failure_message(result):
    """One line naming what failed verification (for fail_on_mismatch)."""
    parts = []
    for key in ("mismatched", "missing", "extra", "unsafe", "unreadable"):
        count = result.get("counts", {}).get(key, len(result.get(key, [])))
        if count:
            shown = [item if isinstance(item, str) else item.get("reason") if key in ("unsafe", "unreadable")
                     else item["path"] for item in result.get(key, [])[:3]]
            parts.append("%d %s (%s%s)" % (count, key, ", ".join(shown), ", ..." if count > len(shown) else ""))
    return "dataset %s failed verification: %s" % (result.get("target"), "; ".join(parts))


def run(params, check_mode=False, diff_mode=False):
    """Dispatch on the parameters; raises HashingError with a message for the user."""
    try:
        if params["mode"] == "create":
            result = create_manifest(params, check_mode, diff_mode)
        elif params.get("digest"):
            result = verify_file(params)
        else:
            result = verify_tree(params)
    except (IOError, OSError) as exc:
        # A file system error not tied to one listed file (a directory vanished mid-run, ...).
        raise HashingError("cannot check %s: %s" % (params["path"], exc))
    result["target"] = params["path"]
    return result
