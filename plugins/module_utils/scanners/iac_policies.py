# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Custom Rego checks for Trivy's embedded OPA (image_scan option ``iac_policies``) and Terraform plan input.

Trivy 0.59 has three silent failure modes this module closes:

- ``--check-namespaces`` matches only a package's first component (``user.ainative`` runs nothing,
  ``user`` runs every ``user.*`` check), so Trivy gets the first components and the findings are then
  narrowed here to the namespaces asked for.
- A namespace no check declares runs nothing; that is refused before any scan.
- A plan JSON whose file name does not end in ``.json`` is not recognized (no finding, no error), so
  such a plan is scanned through a ``.json`` copy.

A check or data file that does not load makes Trivy stop; its reason becomes one :class:`CheckError`
line naming the file, which fails the task instead of leaving one target unscanned.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import tempfile

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError, PolicyError

# Target types whose configuration files Trivy's misconfiguration scanners read in place.
TARGET_TYPES = ("iac", "directory", "tfplan")
BUILTIN_PREFIX = "builtin."
_PACKAGE = re.compile(r"^[ \t]*package[ \t]+([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)", re.M)
_NAMESPACE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
# What Trivy writes when a check or data file does not load (parse, type or compile error, bad data).
_LOAD_FAILURE = re.compile(r"(failed to load rego checks|unable to load data|rego_[a-z]+_error)")
_FILE_REASON = re.compile(r"([^\s:]+\.(?:rego|ya?ml|json)):(?:(\d+):)?\s*(.+)")


class CheckError(PolicyError):
    """A custom check or its data does not load; fails the task (a dropped check would pass silently)."""


def custom_check_id(misconf):
    """(id, aliases) of a finding of a custom check: its METADATA custom.id as written (no AVD- prefix
    is added, unlike Trivy's own checks), custom.avd_id an alias. None for Trivy's own checks."""
    namespace = misconf.get("Namespace") or BUILTIN_PREFIX
    if namespace.startswith(BUILTIN_PREFIX):
        return None
    ident = misconf.get("ID") or misconf.get("AVDID") or namespace
    return ident, [a for a in (misconf.get("AVDID"),) if a and a != ident]


def _rego_files(path):
    if os.path.isfile(path):
        return [path]
    found = []
    for base, dirs, files in os.walk(path):
        dirs.sort()
        found.extend(os.path.join(base, name) for name in sorted(files) if name.endswith(".rego"))
    return found


def _packages(files):
    """{package: first file declaring it}, read from the files' ``package`` lines."""
    packages = {}
    for path in files:
        try:
            with open(path, "rb") as handle:
                text = handle.read().decode("utf-8", "replace")
        except (IOError, OSError) as exc:
            raise InputError("iac_policies check %s cannot be read: %s" % (path, exc))
        match = _PACKAGE.search(text)
        if not match:
            raise CheckError("iac_policies check %s declares no 'package'; a Rego check needs one "
                             "(e.g. 'package user.ainative.s3')" % path)
        packages.setdefault(match.group(1), path)
    return packages


def _in_namespace(package, namespace):
    return package == namespace or package.startswith(namespace + ".")


class IacPolicies(object):
    """Validated ``iac_policies``: absolute check and data paths, the namespaces to run, builtin on or off."""

    def __init__(self, checks, data, namespaces, builtin):
        self.checks = checks
        self.data = data
        self.namespaces = namespaces
        self.builtin = builtin

    def argv(self):
        cmd = []
        for path in self.checks:
            cmd += ["--config-check", path]
        for path in self.data:
            cmd += ["--config-data", path]
        cmd += ["--check-namespaces", ",".join(sorted(set(ns.split(".")[0] for ns in self.namespaces)))]
        return cmd

    def wanted(self, namespace):
        """Whether a misconfiguration from Rego package ``namespace`` is kept."""
        if not namespace or namespace.startswith(BUILTIN_PREFIX):
            return self.builtin
        return any(_in_namespace(namespace, ns) for ns in self.namespaces)

    def select(self, report):
        """Drop the misconfigurations of packages not asked for (and Trivy's own with builtin off)."""
        for result in report.get("Results") or ():
            if result.get("Misconfigurations"):
                result["Misconfigurations"] = [m for m in result["Misconfigurations"] if self.wanted(m.get("Namespace"))]
        return report

    def load_failure(self, message):
        """A CheckError for Trivy's error text when a check or data file did not load, else None."""
        if not _LOAD_FAILURE.search(message or ""):
            return None
        line = next((ln for ln in message.splitlines() if _LOAD_FAILURE.search(ln)), message)
        detail = line.split("error occurred: ")[-1].split("error occurred during loading: ")[-1]
        match = _FILE_REASON.search(detail)
        if not match:
            return CheckError("iac_policies checks or data did not load in Trivy: %s" % detail.strip())
        reported, lineno, reason = match.groups()
        # Trivy names the file relative to "/" (every path it gets here is absolute).
        path = "/" + reported.lstrip("/")
        kind = "check" if path.endswith(".rego") else "data file"
        return CheckError("iac_policies %s %s does not load%s: %s" % (
            kind, path, " (line %s)" % lineno if lineno else "", reason.strip()))


def from_params(params):
    """IacPolicies from the module's ``iac_policies`` option, or None; every path and namespace is checked."""
    opts = params.get("iac_policies")
    if not opts:
        return None
    checks = [os.path.abspath(p) for p in opts.get("checks") or []]
    if not checks:
        raise InputError("iac_policies needs 'checks' (.rego files or folders of them)")
    files = []
    for path in checks:
        if not os.path.exists(path):
            raise InputError("iac_policies check path %s does not exist (it is read on the managed host)" % path)
        found = _rego_files(path)
        if not found:
            raise InputError("iac_policies check path %s holds no .rego file" % path)
        files.extend(found)
    data = [os.path.abspath(p) for p in opts.get("data") or []]
    for path in data:
        if not os.path.exists(path):
            raise InputError("iac_policies data path %s does not exist (it is read on the managed host)" % path)
    packages = _packages(files)
    namespaces = list(opts.get("namespaces") or [])
    for ns in namespaces:
        if not _NAMESPACE.match(ns) or ns.startswith(BUILTIN_PREFIX) or ns == BUILTIN_PREFIX[:-1]:
            raise InputError("iac_policies namespace %r is not a Rego package name of your own (like "
                             "user.ainative); Trivy's own checks are turned on and off with 'builtin'" % ns)
        if not any(_in_namespace(pkg, ns) for pkg in packages):
            raise InputError("iac_policies namespace %s is declared by no check, so it would run nothing; the "
                             "checks declare %s" % (ns, ", ".join(sorted(packages))))
    if not namespaces:
        namespaces = sorted(pkg for pkg in packages if not pkg.startswith(BUILTIN_PREFIX))
    if not namespaces:
        raise InputError("iac_policies checks declare only builtin.* packages (%s); give your checks a package "
                         "of your own, such as user.ainative.s3" % ", ".join(sorted(packages)))
    return IacPolicies(checks, data, namespaces, opts.get("builtin", True))


def plan_path(ref, workdir):
    """The path Trivy should scan for plan JSON ``ref``: itself, or a ``.json`` copy Trivy recognizes."""
    if ref.lower().endswith(".json"):
        return ref
    copy = os.path.join(tempfile.mkdtemp(prefix="tfplan-", dir=workdir), "plan.json")
    try:
        shutil.copyfile(ref, copy)
    except (IOError, OSError) as exc:
        raise InputError("cannot copy plan %s to scan it: %s" % (ref, exc))
    return copy
