# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every scanner backend shares: targets, running the scanner binary, the cache folder.

A backend (``scanners.trivy``, ``scanners.grype``) turns a :class:`Target` into an argv, runs it with
:func:`run_scanner` and normalizes the scanner's JSON into findings built with
``findings.make_finding``. A scanner run that fails raises :class:`ScanError` (a ``SourceError``), a target
that cannot be scanned :class:`TargetError` (an ``InputError``), a missing binary or DB ``DependencyError``;
each message says what is wrong and how to fix it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time

from ansible_collections.ainative.security.plugins.module_utils.core.errors import (
    DependencyError,
    InputError,
    SourceError,
)

TARGET_TYPES = ("image", "archive", "directory", "rootfs", "sbom", "iac", "tfplan")
SCANNER_KINDS = ("vuln", "secret", "misconfig")
STDERR_TAIL_LINES = 15


class ScanError(SourceError):
    """A scanner run failed (crash, timeout, killed, no JSON)."""


class TargetError(InputError):
    """A target cannot be scanned as given (missing path, wrong type, unreadable archive)."""


def default_cache_dir(env_var, *parts):
    """``$env_var``, else ``$XDG_CACHE_HOME/<parts>`` (``~/.cache/<parts>``): where a scanner keeps its DB."""
    if os.environ.get(env_var):
        return os.environ[env_var]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, *parts)


class Target(object):
    """One thing to scan: ``type`` in TARGET_TYPES, ``ref`` (path or image reference), ``name``."""

    __slots__ = ("type", "ref", "name", "scanners", "archive_format", "layout_dir")

    def __init__(self, type, ref, name=None, scanners=None):
        self.type = type
        self.ref = ref
        self.name = name or ref
        self.scanners = scanners
        self.archive_format = None
        self.layout_dir = None

    def as_dict(self):
        return {"type": self.type, "ref": self.ref, "name": self.name, "scanners": list(self.scanners or []),
                "archive_format": self.archive_format}


def default_scanners(target_type):
    """The scanners that make sense for a target type when the user names none."""
    return {
        "image": ["vuln", "secret", "misconfig"],
        "archive": ["vuln", "secret", "misconfig"],
        "directory": ["vuln", "secret", "misconfig"],
        "rootfs": ["vuln", "secret"],
        "sbom": ["vuln"],
        "iac": ["misconfig"],
        "tfplan": ["misconfig"],
    }[target_type]


def archive_format(path):
    """``docker`` (has manifest.json), ``oci`` (has index.json / oci-layout) or raise TargetError."""
    names = set()
    try:
        with tarfile.open(path) as archive:
            for member in archive:
                names.add(member.name[2:] if member.name.startswith("./") else member.name)
    except (tarfile.TarError, IOError, OSError) as exc:
        raise TargetError("image archive %s is not a readable tar file (%s); create it with "
                          "'podman save -o FILE IMAGE' or 'docker save -o FILE IMAGE'" % (path, exc))
    if "manifest.json" in names:
        return "docker"
    oci = "index.json" in names or "oci-layout" in names
    if oci:
        return "oci"
    raise TargetError("image archive %s has neither manifest.json (docker-archive) nor index.json (OCI archive); "
                      "create it with 'podman save' or 'docker save'" % path)


def _holds_a_file(top):
    """Whether the tree under ``top`` holds at least one non-directory entry outside .git (stops at the first)."""
    for dummy, dirs, files in os.walk(top):
        if files:
            return True
        dirs[:] = [d for d in dirs if d not in (".git",)]
    return False


def validate_target(target):
    """Check a target before any scanner runs; fills ``archive_format`` for archives."""
    if target.type not in TARGET_TYPES:
        raise TargetError("unknown target type %r for %s; use one of %s"
                          % (target.type, target.ref, ", ".join(TARGET_TYPES)))
    if not target.ref:
        raise TargetError("a %s target needs 'ref' (a path or an image reference)" % target.type)
    if target.scanners:
        bad = [s for s in target.scanners if s not in SCANNER_KINDS]
        if bad:
            raise TargetError("unknown scanner(s) %s for target %s; use %s"
                              % (", ".join(bad), target.name, ", ".join(SCANNER_KINDS)))
    if target.type == "image":
        return target
    if not os.path.exists(target.ref):
        raise TargetError("%s target %s does not exist; check the path (it is read on the managed host)"
                          % (target.type, target.ref))
    if target.type == "archive":
        if os.path.isdir(target.ref):
            target.archive_format = "oci-layout"
        elif not os.path.isfile(target.ref):
            raise TargetError("archive target %s is not a file" % target.ref)
        else:
            target.archive_format = archive_format(target.ref)
    elif target.type in ("directory", "rootfs", "iac"):
        if not os.path.isdir(target.ref):
            raise TargetError("%s target %s is not a directory" % (target.type, target.ref))
        if not _holds_a_file(target.ref):
            # Trivy reports nothing for an empty tree: that is no clean scan, it is nothing scanned.
            raise TargetError("%s target %s holds no file to scan; check 'ref' (a wrong or empty folder "
                              "examines nothing)" % (target.type, target.ref))
    elif target.type == "sbom" and not os.path.isfile(target.ref):
        raise TargetError("sbom target %s is not a file (CycloneDX or SPDX JSON)" % target.ref)
    elif target.type == "tfplan":
        _check_plan(target.ref)
    return target


def _plan_addresses(module):
    if not isinstance(module, dict):
        return
    for resource in module.get("resources") or ():
        if isinstance(resource, dict):
            yield resource.get("address")
    for child in module.get("child_modules") or ():
        yield from _plan_addresses(child)


def _check_plan(path):
    """A tfplan target must be ``terraform show -json`` output; anything else would scan as nothing."""
    hint = "write it with 'terraform show -json PLANFILE > plan.json'"
    try:
        with open(path, "rb") as handle:
            plan = json.load(handle)
    except (IOError, OSError, ValueError) as exc:
        raise TargetError("tfplan target %s is not a readable JSON file (%s); %s" % (path, exc, hint))
    if not isinstance(plan, dict) or not plan.get("format_version") or not plan.get("terraform_version") or not (
            isinstance(plan.get("planned_values"), dict) or isinstance(plan.get("resource_changes"), list)):
        raise TargetError("tfplan target %s is not a Terraform plan (its top level needs format_version, "
                          "terraform_version and planned_values or resource_changes); %s" % (path, hint))
    # Trivy reads each planned resource's values from its resource_changes entry (and crashes without one).
    changed = set(rc.get("address") for rc in plan.get("resource_changes") or () if isinstance(rc, dict))
    planned = plan.get("planned_values") if isinstance(plan.get("planned_values"), dict) else {}
    missing = [a for a in _plan_addresses(planned.get("root_module")) if a not in changed]
    if missing:
        raise TargetError("tfplan target %s plans %s but has no resource_changes entry for it, so it is not "
                          "complete 'terraform show -json' output; %s" % (path, missing[0], hint))


def unpack_oci_archive(target, workdir):
    """Unpack an OCI archive into an OCI layout directory (what scanners read) under ``workdir``."""
    layout = tempfile.mkdtemp(prefix="oci-layout-", dir=workdir)
    try:
        with tarfile.open(target.ref) as archive:
            for member in archive.getmembers():
                name = os.path.normpath(member.name)
                if name.startswith("..") or os.path.isabs(name) or not (member.isfile() or member.isdir()):
                    raise TargetError("OCI archive %s has an unsafe member %r; refusing to unpack it"
                                      % (target.ref, member.name))
            if hasattr(tarfile, "data_filter"):
                archive.extractall(layout, filter="data")
            else:
                archive.extractall(layout)  # members checked above
    except (tarfile.TarError, IOError, OSError) as exc:
        raise TargetError("cannot unpack OCI archive %s: %s" % (target.ref, exc))
    target.layout_dir = layout
    return layout


def find_binary(name, path=None):
    """Absolute path of the scanner binary (given ``path`` or found on PATH), or raise DependencyError."""
    if path:
        if os.path.isdir(path):
            path = os.path.join(path, name)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise DependencyError("scanner binary %s does not exist or is not executable; fix scanner_path or "
                                  "install %s (role ainative.security.scan_gate installs it)" % (path, name))
        return os.path.abspath(path)
    found = shutil.which(name)
    if not found:
        raise DependencyError("no %s binary on PATH (%s); install %s or set scanner_path "
                              "(role ainative.security.scan_gate installs it from a pinned URL)"
                              % (name, os.environ.get("PATH", ""), name))
    return found


def tail(text, lines=STDERR_TAIL_LINES):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    kept = [line for line in (text or "").splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


class ScanResult(object):
    __slots__ = ("rc", "stdout", "stderr", "seconds")

    def __init__(self, rc, stdout, stderr, seconds):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.seconds = seconds


def exit_reason(returncode):
    """How a scanner process ended, in words; SIGKILL (-9, or 137 from a shell) is usually the OOM killer."""
    if returncode in (-signal.SIGKILL, 128 + signal.SIGKILL):
        how = "was killed by signal 9" if returncode < 0 else "exited with code 137 (128 + signal 9)"
        return how + ", which usually means it ran out of memory; give it more memory or scan fewer targets at once"
    if returncode < 0:
        return "was killed by signal %d" % -returncode
    return "exited with code %d" % returncode


def run_scanner(argv, timeout, env=None, what="scanner", ok_codes=(0,), cwd=None, grace=0):
    """Run ``argv`` in its own process group; kill the group on timeout. Raise ScanError on failure.

    The error carries the exit code and the tail of stderr, which is what tells the user why a scanner
    crashed (missing DB, unreadable image, bad flag).
    """
    full_env = dict(os.environ)
    full_env.update(env or {})
    started = time.time()
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                env=full_env, cwd=cwd, start_new_session=True)
    except OSError as exc:
        raise ScanError("cannot start %s (%s): %s" % (what, argv[0], exc))
    try:
        out, err = proc.communicate(timeout=timeout + grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        out, err = proc.communicate()
        raise ScanError("%s timed out after %ss and was stopped; raise 'timeout' or scan fewer targets at once. "
                        "Last stderr lines:\n%s" % (what, timeout, tail(err) or "(none)"))
    seconds = time.time() - started
    if proc.returncode not in ok_codes:
        raise ScanError("%s %s. Last stderr lines:\n%s" % (what, exit_reason(proc.returncode), tail(err) or "(none)"))
    return ScanResult(proc.returncode, out, err, seconds)
