# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checkov backend (``scanner: checkov``): a second IaC engine for directory, iac and tfplan targets.

Checkov's JSON report is one object per framework (a list when several ran, a bare summary when none
found a file): ``check_type``, ``summary`` (``passed``, ``failed``, ``skipped``, ``parsing_errors``,
``resource_count``) and ``results`` (``failed_checks``, ``skipped_checks``, ``parsing_errors`` as paths).

Offline and policy-neutral by construction:

* ``--skip-download`` and ``BC_SKIP_MAPPING`` keep it off the Prisma Cloud API (no severities, no
  guidelines, no platform suppressions); ``CKV_SKIP_PACKAGE_UPDATE_CHECK`` stops the PyPI version check.
* Every ``CKV_*``, ``BC_*``, ``CHECKOV_*`` and ``PRISMA_*`` variable of the caller is removed (such as
  ``CKV_SKIP_CHECK`` or an API key), HOME and the working folder are private, and a ``.checkov.yaml`` /
  ``.checkov.yml`` at the scanned tree's top (which Checkov reads) is left out of a copy that is scanned
  instead: waivers come only from the playbook's policy.
* ``checkov:skip=`` comments in the scanned code are reported as ``inline-waiver`` findings and the checks
  they skipped are reported anyway (``details.inline_waiver``), as for Trivy's inline ignores.

Offline, Checkov gives no severity: a mapped check takes its canonical control's (``scanners.canonical``),
any other ``DEFAULT_SEVERITY`` (HIGH, so the default gate does not pass on a missing number).
A file Checkov could not parse, and a run that checked no resource, are coverage misses.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import shutil
import tempfile

from ansible_collections.ainative.security.plugins.module_utils.core.errors import bounded_text
from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding
from ansible_collections.ainative.security.plugins.module_utils.scanners import canonical, inline_waivers
from ansible_collections.ainative.security.plugins.module_utils.scanners.base import (
    ScanError,
    TargetError,
    find_binary,
    run_scanner,
)

CONTROL = "image_scan"
TARGET_TYPES = ("directory", "iac", "tfplan")
DEFAULT_SEVERITY = "HIGH"
CONFIG_FILES = (".checkov.yaml", ".checkov.yml")
# The IaC Checkov reads on its own (helm and kustomize need their binaries; secrets are Trivy's; package and
# image scans need the Prisma Cloud API).
IAC_FRAMEWORKS = ("terraform", "cloudformation", "kubernetes", "dockerfile", "arm", "bicep", "serverless")
OFFLINE_ENV = {"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE"}
CALLER_ENV_PREFIXES = ("CKV_", "BC_", "CHECKOV_", "PRISMA_")
# Checkov's own comment syntax (checkov/common/comment/enum.py).
SKIP_COMMENT = re.compile(r"(checkov:skip=|bridgecrew:skip=|cortex:skip=) *([A-Za-z_\d-]+(?:,[A-Za-z_\d-]+)*)?(:[^\n]*)?")


def _interpreter(binary):
    """The Python a ``checkov`` entry-point script runs on (its shebang), or None."""
    try:
        with open(binary, "rb") as handle:
            first = handle.readline(512).decode("utf-8", "replace").strip()
    except (IOError, OSError):
        return None
    path = first[2:].strip().split(" ")[0] if first.startswith("#!") else ""
    return path if os.path.basename(path).startswith("python") and os.access(path, os.X_OK) else None


def skip_comments(root):
    """Inline ``checkov:skip=`` comments under ``root``: list of inline_waivers.InlineWaiver."""
    found = []
    for rel in inline_waivers.config_files(root):
        path = os.path.join(root, rel)
        try:
            if os.path.getsize(path) > inline_waivers.FILE_LIMIT:
                continue
            with open(path, "rb") as handle:
                data = handle.read()
        except (IOError, OSError):
            continue
        if b":skip=" not in data:
            continue
        for number, line in enumerate(data.decode("utf-8", "replace").split("\n"), 1):
            for match in SKIP_COMMENT.finditer(line):
                for waived in (match.group(2) or "*").split(","):
                    found.append(inline_waivers.InlineWaiver(rel, number, waived, bounded_text(match.group(0), 200)))
    return found


def _waiver_finding(waiver, target_name):
    return make_finding(
        CONTROL, "misconfiguration", inline_waivers.RULE_ID, "HIGH",
        "inline waiver without reason from policy: %s" % waiver.text, target=target_name,
        location={"path": waiver.path, "line": waiver.line, "resource": waiver.waived},
        details={"scanner": "checkov", "fixable": True, "waived": waiver.waived, "rule": waiver.text,
                 "message": "the scanned file skips %s itself; Checkov would hide it, so it is reported anyway. "
                            "Remove the comment, or accept this waiver in the playbook's ignore list with a reason"
                            % waiver.waived})


def _relative(path, root):
    """Checkov's ``/main.tf`` (or an absolute path) -> ``main.tf``, as Trivy names files."""
    path = path or ""
    if root and os.path.isabs(path) and path.startswith(root.rstrip("/") + "/"):
        path = path[len(root.rstrip("/")) + 1:]
    return path.lstrip("/") or None


class CheckovBackend(object):
    name = "checkov"
    kinds = ("misconfig",)

    def __init__(self, binary=None, timeout=600):
        self.binary = find_binary("checkov", binary)
        self.cache_dir = None
        self.timeout = timeout

    def version(self, write_cache=True):
        """Checkov's version; asked of its interpreter (0.1 s) rather than ``checkov --version`` (8 s)."""
        python = _interpreter(self.binary)
        argv = ([python, "-I", "-c", "import importlib.metadata as m; print(m.version('checkov'))"] if python
                else [self.binary, "--version"])
        res = run_scanner(argv, timeout=min(self.timeout, 60), what="checkov version", env=OFFLINE_ENV)
        return {"name": "checkov", "version": res.stdout.decode("utf-8", "replace").strip() or None,
                "path": self.binary, "db": None}

    def check_db(self, needs_vulnerability_db):
        """Checkov has no vulnerability DB (it does not scan for vulnerabilities here)."""

    def argv(self, target, ref):
        cmd = [self.binary]
        if target.type == "tfplan":
            cmd += ["-f", ref, "--framework", "terraform_plan"]
        else:
            cmd += ["-d", ref, "--framework"] + list(IAC_FRAMEWORKS)
        cmd += ["-o", "json", "--skip-download", "--skip-results-upload"]
        # The caller's Checkov settings (a skip list, an API key) must not change what this task checks.
        unset = sorted(k for k in os.environ if k.startswith(CALLER_ENV_PREFIXES) and k not in OFFLINE_ENV)
        return (["env"] + [arg for k in unset for arg in ("-u", k)] + cmd) if unset else cmd

    def _tree(self, target, workdir):
        """The tree to scan: the target, or a copy without the Checkov config file at its top."""
        present = [n for n in CONFIG_FILES if os.path.lexists(os.path.join(target.ref, n))]
        if not present:
            return target.ref, []
        copy = os.path.join(tempfile.mkdtemp(prefix="checkov-tree-", dir=workdir), "tree")
        try:
            shutil.copytree(target.ref, copy, symlinks=True, ignore=lambda d, names: [
                n for n in names if os.path.samefile(d, target.ref) and n in CONFIG_FILES])
        except (IOError, OSError, shutil.Error) as exc:
            raise ScanError("cannot copy %s to scan it without its %s: %s" % (target.ref, present[0], exc))
        return copy, ["%s: %s is Checkov's configuration inside the scanned code (it can skip checks); it was "
                      "not used" % (target.name, ", ".join(present))]

    def scan(self, target, scanners, workdir, list_all_pkgs=False):
        """Run Checkov on one target; return (report, raw JSON bytes, seconds).

        ``report`` is {"runs": [per-framework objects], "root": folder the paths are relative to,
        "waivers": inline skip comments, "notes": [...]}.
        """
        if target.type not in TARGET_TYPES:
            raise TargetError("scanner checkov scans %s targets, not %s (%s); use scanner trivy for it"
                              % (", ".join(TARGET_TYPES), target.type, target.name))
        if "misconfig" not in scanners:
            raise TargetError("scanner checkov only checks misconfigurations; add misconfig to the scanners of %s"
                              % target.name)
        notes = []
        if target.type == "tfplan":
            ref = os.path.abspath(target.ref)
            root, waivers = os.path.dirname(ref), []
        else:
            ref, notes = self._tree(target, workdir)
            ref = os.path.abspath(ref)
            root, waivers = ref, skip_comments(ref)
        env = dict(OFFLINE_ENV, HOME=tempfile.mkdtemp(prefix="checkov-home-", dir=workdir))
        res = run_scanner(self.argv(target, ref), timeout=self.timeout, grace=5, ok_codes=(0, 1), env=env,
                          what="checkov (%s %s)" % (target.type, target.name), cwd=workdir)
        try:
            runs = json.loads(res.stdout)
        except ValueError:
            raise ScanError("checkov printed no JSON report for %s; last stderr lines:\n%s"
                            % (target.name, res.stderr.decode("utf-8", "replace")[-2000:]))
        runs = runs if isinstance(runs, list) else [runs]
        if not all(isinstance(run, dict) for run in runs):
            raise ScanError("checkov's report for %s is not a list of objects" % target.name)
        return {"runs": runs, "root": root, "waivers": waivers, "notes": notes}, res.stdout, res.seconds

    @staticmethod
    def normalize(report, target_name):
        return normalize(report, target_name)


def _finding(check, root, target_name, skipped):
    check_id = check.get("check_id")
    mapped = canonical.lookup(check_id)
    severity = check.get("severity") or (mapped[2] if mapped else DEFAULT_SEVERITY)
    lines = check.get("file_line_range") or [None]
    details = {"scanner": "checkov", "fixable": True, "check_type": check.get("check_type"),
               "aliases": [check["bc_check_id"]] if check.get("bc_check_id") else [],
               "severity_source": "checkov" if check.get("severity") else ("canonical" if mapped else "default")}
    if skipped:
        details["inline_waiver"] = ("skipped by an inline comment in the scanned files (%s); reported anyway"
                                    % bounded_text((check.get("check_result") or {}).get("suppress_comment") or "", 200))
    return make_finding(
        CONTROL, "misconfiguration", check_id, severity, check.get("check_name") or check_id, target=target_name,
        location={"path": _relative(check.get("file_path"), root), "line": lines[0] or None,
                  "resource": check.get("resource") or None},
        url=check.get("guideline") or None, details=details)


def normalize(report, target_name):
    """Checkov report (as ``CheckovBackend.scan`` returns it) -> findings for ``target_name``."""
    out = [_waiver_finding(waiver, target_name) for waiver in report.get("waivers") or ()]
    root = report.get("root")
    for run in report.get("runs") or ():
        results = run.get("results") or {}
        for key, skipped in (("failed_checks", False), ("skipped_checks", True)):
            for check in results.get(key) or ():
                check = dict(check, check_type=run.get("check_type"))
                out.append(_finding(check, root, target_name, skipped))
    return out


def coverage_facts(report, target_name):
    """(misses, notes) of one Checkov report: each file it could not parse, and a run that checked nothing."""
    misses = []
    resources = checks = 0
    root = report.get("root")
    for run in report.get("runs") or ():
        summary = run.get("summary") or run
        resources += summary.get("resource_count") or 0
        checks += sum(summary.get(k) or 0 for k in ("passed", "failed", "skipped"))
        for path in (run.get("results") or {}).get("parsing_errors") or ():
            misses.append(("%s:%s" % (target_name, _relative(path, root)),
                           "Checkov could not parse this file, so none of its resources was checked; fix its syntax"))
        if summary.get("parsing_errors") and not (run.get("results") or {}).get("parsing_errors"):
            misses.append((target_name, "Checkov reported %s parsing error(s)" % summary["parsing_errors"]))
    if not resources or not checks:
        misses.append((target_name, "Checkov checked no resource (%d resources, %d checks); the tree holds no IaC it "
                                    "reads, or it could not read it" % (resources, checks)))
    notes = list(report.get("notes") or ())
    notes.append("%s: Checkov checked %d resource(s) with %d check result(s)" % (target_name, resources, checks))
    return misses, notes


def scanner(params):
    return CheckovBackend(params.get("scanner_path"), params.get("timeout") or 600)
