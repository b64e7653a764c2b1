# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dataset integrity control: verify a file, verify a tree against a manifest, or pin a tree.

Turns the engine's results into findings, coverage (unit ``files``) and the module's 0.1.0 result keys.
Coverage: ``asked`` is every file the manifest lists (verify) or the walk found (create); a file is
examined when its outcome is known (hashed, size-checked, found missing or refused as unsafe). A file
that could not be read, or that the ``ignore`` globs left out, is missed, so a run that skipped listed
files is incomplete and cannot pass the gate.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.ainative.security.plugins.module_utils.core import findings as fmodel
from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import (
    MESSAGE_LIMIT,
    ControlError,
    InputError,
    SourceError,
)
from ansible_collections.ainative.security.plugins.module_utils.core.fileio import read_regular_file, write_if_changed
from ansible_collections.ainative.security.plugins.module_utils.core.module import Outcome
from ansible_collections.ainative.security.plugins.module_utils.integrity import engine, manifest
from ansible_collections.ainative.security.plugins.module_utils.integrity.digests import parse_digest
from ansible_collections.ainative.security.plugins.module_utils.integrity.paths import (
    NAME_IN_MESSAGE,
    IgnoreRules,
    display_name,
)
from ansible_collections.ainative.security.plugins.module_utils.integrity.tree import hash_single_file

CONTROL = "dataset_hash_verify"
MANIFEST_LIMIT = 512 << 20
# The lowest severity of the findings below: the gate default that fails on every one of them, as 0.1.0's
# fail_on_mismatch=true did.
DEFAULT_GATE = "MEDIUM"

# What each problem means, for findings.
PROBLEMS = {
    "mismatched": ("dataset_file_mismatch", "HIGH", "content differs from the approved manifest"),
    "missing": ("dataset_file_missing", "HIGH", "file listed in the manifest is missing"),
    "extra": ("dataset_file_extra", "MEDIUM", "file is not in the approved manifest"),
    "unsafe": ("dataset_file_unsafe", "HIGH", "file was refused as unsafe"),
}
# Lists of the 0.1.0 result, bounded by max_findings (counts are complete).
LISTS = ("mismatched", "missing", "extra", "unsafe", "unreadable")


def manifest_format(fmt, manifest_path):
    """The format to write: JSON for a .json name unless set."""
    if fmt != "auto":
        return fmt
    return "json" if manifest_path.endswith(".json") else "sha256sum"


def _manifest_relpath(params, root, key="manifest"):
    """The manifest's (or its signature's) path relative to the root when it lies inside the tree it
    describes, else None."""
    rel = os.path.relpath(os.path.abspath(params[key]), os.path.abspath(root))
    return None if rel.startswith("..") else rel.replace(os.sep, "/")


def _own_files(params, root):
    """The manifest and its signature, when they lie inside the tree: never entries of the tree itself."""
    return [rel for rel in (_manifest_relpath(params, root, key) for key in ("manifest", "manifest_signature")
                            if params.get(key)) if rel]


def _ignore_rules(params, root, patterns):
    return IgnoreRules(patterns, _own_files(params, root))


def _check_root(path):
    if not os.path.exists(path):
        raise InputError("path %s does not exist" % path)
    if not os.path.isdir(path):
        raise InputError("path %s is not a directory; give a directory with manifest, or a file with digest" % path)


def _describe(kind, item):
    """One short reason per problem, so no list entry or finding is without one."""
    if isinstance(item, str):
        return PROBLEMS[kind][2]
    if kind == "mismatched" and item.get("reason") == "size":
        return "size %s bytes, expected %s" % (item["actual_size"], item["expected_size"])
    if kind == "mismatched":
        return "digest %s, expected %s" % (item.get("actual"), item.get("expected"))
    return item.get("reason") or PROBLEMS.get(kind, ("", "", kind))[2]


def _shown(items):
    """Result entries with names as text (bounded, non-UTF-8 bytes escaped): names are bytes on disk."""
    shown = []
    for item in items:
        if isinstance(item, str):
            shown.append(display_name(item))
            continue
        item = dict(item, path=display_name(item["path"]))
        if "reason" in item:
            item["reason"] = display_name(item["reason"])
        shown.append(item)
    return shown


def _findings(target, problems):
    found = []
    for kind, items in problems.items():
        if kind not in PROBLEMS:
            continue
        rule, severity, title = PROBLEMS[kind]
        for item in items:
            path = item if isinstance(item, str) else item["path"]
            details = {} if isinstance(item, str) else dict((k, v) for k, v in item.items() if k != "path")
            details["message"] = _describe(kind, item)
            found.append(fmodel.make_finding(CONTROL, "integrity", rule, severity,
                                             "%s: %s" % (display_name(path, NAME_IN_MESSAGE), title),
                                             target=target, location={"path": path}, details=details))
    return found


def failure_message(target, counts, problems):
    """One line naming what failed verification, a few names per kind."""
    parts = []
    for key in LISTS:
        count = counts.get(key, 0)
        if not count:
            continue
        # unsafe and unreadable entries say why (the reason starts with the name)
        shown = [display_name(item if isinstance(item, str) else item["reason"] if key in ("unsafe", "unreadable")
                              else item["path"], NAME_IN_MESSAGE) for item in problems.get(key, [])[:3]]
        parts.append("%d %s (%s%s)" % (count, key, ", ".join(shown), ", ..." if count > len(shown) else ""))
    return "dataset %s failed verification: %s" % (target, "; ".join(parts))


def verify_file(ctl):
    params = ctl.params
    path = params["path"]
    if not os.path.lexists(path):
        raise InputError("path %s does not exist" % path)
    if os.path.isdir(path):
        raise InputError("path %s is a directory; use manifest to verify a directory" % path)
    algorithm, expected = parse_digest(params["digest"], params.get("algorithm"))
    timer = engine.Timer()
    actual, size = hash_single_file(path, algorithm, params["follow_symlinks"])
    cov = Coverage("files", asked=1).add()
    verified = actual == expected
    problems = {"mismatched": []}
    if not verified:
        problems["mismatched"].append({"path": os.path.basename(path), "reason": "digest",
                                       "expected": expected, "actual": actual})
    out = Outcome(cov, _findings(path, problems), changed=False, mode="verify", verified=verified,
                  algorithm=algorithm, digest="%s:%s" % (algorithm, actual), target=path,
                  mismatched=problems["mismatched"], **timer.stats(1, size))
    out.msg = "file verified" if verified else "file %s failed verification: %s" % (
        display_name(path, NAME_IN_MESSAGE), _describe("mismatched", problems["mismatched"][0]))
    return out


class ManifestNotTrusted(InputError):
    """The manifest's signature is missing, unreadable or does not verify."""


def _manifest_signer(params, data):
    """Check ``manifest_signature`` over the manifest bytes before any digest is trusted.

    Returns the signer, or None when no signature is asked for; raises InputError when it does not verify.
    """
    if not params.get("manifest_signature"):
        return None
    if not (params.get("public_key") or params.get("certificate_chain")):
        raise InputError("manifest_signature needs public_key or certificate_chain to verify it with")
    # Imported here: model-signing is needed only by users who sign their manifests.
    from ansible_collections.ainative.security.plugins.module_utils.models.signing import verify_file_content
    try:
        return verify_file_content(data, params["manifest"], params["manifest_signature"], params.get("public_key"),
                                   params.get("certificate_chain"))
    except InputError as exc:
        raise ManifestNotTrusted(exc.msg)


def _read_manifest(params, signed=None):
    """The manifest's format, algorithm, digests and sizes; ``signed(data)`` checks the bytes first."""
    path = params["manifest"]
    if not os.path.lexists(path):
        raise InputError("manifest %s does not exist; create it with mode=create" % path)
    data = read_regular_file(path, "manifest", limit=MANIFEST_LIMIT)
    if signed is not None:
        signed(data)
    fmt = params["manifest_format"]
    if fmt == "auto":  # by content when reading, whatever the file is called
        fmt = "json" if data.lstrip()[:1] == b"{" else "sha256sum"
    algorithm, digests, sizes = manifest.read_manifest(data, fmt, params.get("algorithm"), path)
    return fmt, algorithm, digests, sizes


def verify_tree(ctl, patterns):
    params = ctl.params
    root = params["path"]
    _check_root(root)
    manifest_path = params["manifest"]
    signer = {}

    def check_signature(data):
        signer["name"] = _manifest_signer(params, data)

    try:
        fmt, algorithm, digests, sizes = _read_manifest(params, check_signature)
    except ManifestNotTrusted as exc:
        # A manifest whose signature does not verify is an integrity finding, and nothing it lists is trusted.
        cov = Coverage("files", asked=0)
        cov.miss(manifest_path, "not trusted: its signature did not verify (finding manifest-signature-invalid)")
        finding = fmodel.make_finding(CONTROL, "integrity", "manifest-signature-invalid", "CRITICAL",
                                      "The manifest's signature does not verify, so no digest in it is trusted",
                                      target=root, location={"path": manifest_path}, details={"reason": exc.msg})
        out = Outcome(cov, [finding], changed=False, mode="verify", verified=False, manifest=manifest_path,
                      target=root, manifest_signed=True, manifest_signer=None)
        out.msg = "manifest %s not trusted: %s" % (manifest_path, exc.msg)
        return out
    want = parse_digest(params["manifest_digest"], "sha256")[1] if params.get("manifest_digest") else None
    listed = digests

    def pin():
        """The manifest's dataset digest, checked against manifest_digest: computed while the workers hash,
        and an InputError here stops them, so no result of an unapproved manifest is reported."""
        pinned = manifest.dataset_digest(algorithm, listed)
        if want and pinned != "sha256:" + want:
            raise InputError("manifest %s does not match manifest_digest (it pins %s, expected sha256:%s); "
                             "it was changed after approval, so it is not trusted" % (manifest_path, pinned, want))
        return pinned

    notes = []
    own = _manifest_relpath(params, root)
    if own in digests:  # a manifest cannot pin its own content
        notes.append("the manifest lists itself (%s); that entry is not verified" % display_name(own, NAME_IN_MESSAGE))
        digests = dict(digests)
        del digests[own]
    outcome = engine.verify_tree(root, digests, sizes, algorithm, IgnoreRules(patterns, _own_files(params, root)),
                                 params["follow_symlinks"], params["workers"], beside=pin)
    pinned = outcome["beside"]
    if params["allow_extra"]:
        outcome["extra_allowed"] = outcome.pop("extra")
    problems = dict((key, _shown(outcome.get(key) or [])) for key in LISTS)
    cov = Coverage("files", asked=len(digests))
    cov.add(outcome["ok"] + sum(len(problems[key]) for key in ("mismatched", "missing", "unsafe")))
    for item in problems["unreadable"]:
        cov.miss(item["path"], item["reason"])
    for name in outcome["ignored"]:
        cov.miss(display_name(name), "left out by the ignore patterns")
    verified = not any(problems.values()) and cov.complete
    counts = dict((key, len(value)) for key, value in problems.items())
    counts["ok"] = outcome["ok"]
    counts["ignored"] = len(outcome["ignored"])
    limit = params["max_findings"]
    extra = dict(mode="verify", verified=verified, algorithm=algorithm, manifest=manifest_path, manifest_format=fmt,
                 manifest_digest=pinned, target=root, counts=counts,
                 manifest_signed=bool(params.get("manifest_signature")), manifest_signer=signer.get("name"))
    for key in ("files", "bytes", "seconds", "throughput_mib_s"):
        extra[key] = outcome[key]
    truncated = False
    for key, value in problems.items():
        extra[key], cut = fmodel.bounded(value, limit)
        truncated = truncated or cut
    if params["allow_extra"]:
        counts["extra_allowed"] = len(outcome["extra_allowed"])
        extra["extra_allowed"], cut = fmodel.bounded(_shown(outcome["extra_allowed"]), limit)
        truncated = truncated or cut
    extra["truncated"] = truncated
    out = Outcome(cov, _findings(root, problems), notes=notes, changed=False, **extra)
    if any(problems.values()):
        out.msg = failure_message(root, counts, problems)
    else:
        out.msg = "%d file(s) match the manifest" % outcome["ok"]
    return out


def _manifest_mode(ctl):
    """The created manifest's permissions as an int for the atomic write, or None for a symbolic mode."""
    value = ctl.params["manifest_mode"]
    if isinstance(value, int):
        return value
    try:
        return int(str(value), 8)
    except ValueError:
        return None  # symbolic (u=rw,g=r,o=r): applied by Ansible after the write, which validates it


def create_manifest(ctl, patterns):
    params = ctl.params
    root = params["path"]
    _check_root(root)
    manifest_path = params["manifest"]
    fmt = manifest_format(params["manifest_format"], manifest_path)
    algorithm = params.get("algorithm") or "sha256"
    entries, stats = engine.build_entries(root, _ignore_rules(params, root, patterns), algorithm,
                                          params["follow_symlinks"], params["workers"])
    render = manifest.render_json_manifest if fmt == "json" else manifest.render_text_manifest
    content = render(algorithm, entries)
    cov = Coverage("files", asked=len(entries)).add(len(entries))
    parent = os.path.dirname(os.path.abspath(manifest_path))
    if not ctl.check_mode and not os.path.isdir(parent):
        raise InputError("cannot write manifest %s: directory %s does not exist" % (manifest_path, parent))
    mode = _manifest_mode(ctl)
    try:
        written = write_if_changed(manifest_path, content, 0o644 if mode is None else mode, backup=params["backup"],
                                   check_mode=ctl.check_mode, diff=ctl.diff_mode)
    except (IOError, OSError) as exc:
        raise SourceError("cannot write manifest %s: %s" % (manifest_path, exc.strerror or exc))
    changed = written["changed"]
    if not ctl.check_mode:
        # Ansible's own file options: validates manifest_mode (the manifest's file mode) and fixes the
        # attributes of an unchanged manifest too.
        file_args = ctl.module.load_file_common_arguments(params, path=manifest_path)
        file_args["mode"] = params["manifest_mode"]
        changed = ctl.module.set_fs_attributes_if_different(file_args, changed)
    extra = dict(mode="create", verified=None, algorithm=algorithm, manifest=manifest_path, manifest_format=fmt,
                 target=root, manifest_digest=manifest.dataset_digest(
                     algorithm, dict((k, v[0]) for k, v in entries.items())))
    extra.update(stats)
    if written.get("backup_file"):
        extra["backup_file"] = written["backup_file"]
    out = Outcome(cov, [], changed=changed, **extra)
    out.diff = written.get("diff")
    out.msg = "manifest of %d file(s) %s" % (len(entries), "written" if changed else "unchanged")
    return out


def run(ctl):
    """The control: dispatch on the parameters, return an Outcome; raises ControlError for the user."""
    params = ctl.params
    if params["workers"] < 0:
        raise InputError("workers must be 0 (one per CPU) or more")
    # 0.1.0's ignore is path globs, not the shared waivers (the base reads no waivers for this module).
    patterns = params.get("ignore") or []
    try:
        if params["mode"] == "create":
            return create_manifest(ctl, patterns)
        if params.get("digest"):
            return verify_file(ctl)
        return verify_tree(ctl, patterns)
    except (IOError, OSError) as exc:
        # A file system error not tied to one listed file (a directory vanished mid-run, ...).
        error = SourceError("cannot check %s: %s" % (params["path"], exc))
    except ControlError as exc:
        error = exc
    # Messages name files, and a name may hold bytes that are not UTF-8.
    error.msg = display_name(error.msg, MESSAGE_LIMIT)
    raise error
