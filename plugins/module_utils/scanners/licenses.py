# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Licence findings: Trivy's licence scan judged against the playbook's allow and deny lists.

Trivy 0.59 (``--scanners license``) writes ``Results[]`` of ``Class: license`` (and ``license-file``) with
``Licenses[]`` entries (``Name``, ``PkgName``, ``FilePath``, ``Category``, ``Severity``); ``Name`` is an SPDX
id or, as the package declares it, an expression (``MIT OR Apache-2.0``) that Trivy files as ``unknown``.
With ``--list-all-pkgs`` the ``Packages[]`` of each result also list packages that declare no licence at all.

Trivy's own categories are not the policy: every name is parsed here as an SPDX expression and judged:

* a deny entry matches a licence's whole version family in any case: ``GPL-3.0`` (or ``GPL-3.0*``) denies
  ``GPL-3.0``, ``GPL-3.0-only``, ``gpl-3.0-or-later`` and ``GPL-3.0+``;
* an allow entry matches exactly (any case, globs allowed), after ``X+`` -> ``X-or-later`` and a bare GNU id
  -> ``X-only``; ``X-or-later`` is allowed when ``X-only`` is (the licensee may pick that version);
* ``A OR B`` is acceptable when one branch is acceptable (the licensee picks it), denied when every branch
  is; ``A AND B`` needs every part acceptable and is denied when any part is; ``X WITH exception`` is
  judged as ``X`` unless the whole ``X WITH exception`` is listed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import re

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.core.findings import (
    FindingError,
    make_finding,
    normalize_severity,
)

CONTROL = "image_scan"
NO_LICENSE_ID = "license-unknown"
ALLOWED, DENIED, NOT_ALLOWED = "allowed", "denied", "not_allowed"

_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_LICENSE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_-]*(:[A-Za-z0-9][A-Za-z0-9.+_-]*)?$")
# GNU ids whose bare form (GPL-3.0) is the deprecated spelling of -only.
_GNU = re.compile(r"^(A?GPL|LGPL|GFDL)-[0-9.]+$", re.I)
_FAMILY_SUFFIX = re.compile(r"(-ONLY|-OR-LATER|\+)$")


class LicensePolicy(object):
    """The ``licenses`` option, checked: allow and deny patterns (upper case) and the two severities."""

    __slots__ = ("allow", "deny", "severity", "unknown")

    def __init__(self, allow=None, deny=None, severity="HIGH", unknown="MEDIUM"):
        self.allow = [_pattern(p, "allow") for p in allow or []]
        self.deny = [_pattern(p, "deny") for p in deny or []]
        if not self.allow and not self.deny:
            raise InputError("licenses needs an 'allow' or a 'deny' list of SPDX ids (globs allowed)")
        self.severity = _severity(severity, "licenses.severity", allow_none=False)
        self.unknown = _severity(unknown, "licenses.unknown", allow_none=True)


def _pattern(value, what):
    text = str(value or "").strip()
    if not text:
        raise InputError("licenses.%s has an empty entry; list SPDX ids such as MIT or GPL-3.0*" % what)
    text = " ".join(text.split()).upper()
    parts = text.split(" WITH ")
    return canonical(parts[0]) + " WITH " + parts[1] if len(parts) == 2 and not _glob(parts[0]) else text


def _severity(value, what, allow_none):
    if allow_none and str(value).strip().lower() == "none":
        return None
    try:
        return normalize_severity(value)
    except FindingError:
        raise InputError("%s %r is no severity; use INFO, LOW, MEDIUM, HIGH or CRITICAL%s"
                         % (what, value, " (or none)" if allow_none else ""))


def from_params(params):
    """LicensePolicy of the ``licenses`` option, or None when it is not set."""
    value = params.get("licenses")
    if not value:
        return None
    return LicensePolicy(value.get("allow"), value.get("deny"), value.get("severity") or "HIGH",
                         value.get("unknown") if value.get("unknown") is not None else "MEDIUM")


# -- SPDX expressions --------------------------------------------------------------------------------------
def parse(text):
    """``("or"|"and", [children])``, ``("id", name, exception)`` or None when ``text`` is no SPDX expression.

    Operators are accepted in any case (package metadata often writes ``MIT or Apache-2.0``)."""
    tokens = _TOKEN.findall(text or "")
    if not tokens:
        return None
    pos = [0]

    def peek():
        return tokens[pos[0]].upper() if pos[0] < len(tokens) else None

    def take():
        pos[0] += 1
        return tokens[pos[0] - 1]

    def binary(op, sub):
        children = [sub()]
        while peek() == op.upper():
            take()
            children.append(sub())
        return children[0] if len(children) == 1 else (op, children)

    def atom():
        if peek() == "(":
            take()
            node = binary("or", lambda: binary("and", atom))
            if peek() != ")":
                raise ValueError("unbalanced parenthesis")
            take()
            return node
        if peek() in (None, ")", "OR", "AND", "WITH") or not _LICENSE_ID.match(tokens[pos[0]]):
            raise ValueError("licence id expected")
        name = take()
        exception = None
        if peek() == "WITH":
            take()
            if peek() is None or not _LICENSE_ID.match(tokens[pos[0]]):
                raise ValueError("exception id expected")
            exception = take()
        return ("id", name, exception)

    try:
        node = binary("or", lambda: binary("and", atom))
    except ValueError:
        return None
    return node if pos[0] == len(tokens) else None


def canonical(name):
    """Upper-case SPDX id with ``X+`` -> ``X-OR-LATER`` and a bare GNU id -> ``X-ONLY``."""
    name = name.upper()
    if name.endswith("+"):
        return name[:-1] + "-OR-LATER"
    if _GNU.match(name):
        return name + "-ONLY"
    return name


def _family(name):
    return _FAMILY_SUFFIX.sub("", name)


def _glob(pattern):
    return any(c in pattern for c in "*?[")


def _denied_by(policy, name):
    """Deny patterns matching canonical ``name`` itself or its whole version family."""
    family = _family(name)
    return [p for p in policy.deny if fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(family, _family(canonical(p)))]


def _allowed(policy, names):
    if not policy.allow:
        return True
    for pattern in policy.allow:
        want = pattern if _glob(pattern) else canonical(pattern)
        if any(fnmatch.fnmatchcase(name, want) for name in names):
            return True
    return False


def judge(policy, node):
    """(ALLOWED|DENIED|NOT_ALLOWED, deny patterns that matched) of a parsed expression."""
    if node[0] == "id":
        base = canonical(node[1])
        full = "%s WITH %s" % (base, node[2].upper()) if node[2] else None
        if full and full in policy.allow:
            return ALLOWED, []  # the exception form itself is listed: it beats a deny of the base licence
        hits = _denied_by(policy, base)
        if hits:
            return DENIED, hits
        names = [base] + ([full] if full else [])
        if base.endswith("-OR-LATER"):
            names.append(base[:-len("-OR-LATER")] + "-ONLY")
        return (ALLOWED if _allowed(policy, names) else NOT_ALLOWED), []
    results = [judge(policy, child) for child in node[1]]
    states = [state for state, dummy in results]
    hits = sorted(set(h for dummy, found in results for h in found))
    if node[0] == "or":
        if ALLOWED in states:
            return ALLOWED, []
        return (DENIED if all(s == DENIED for s in states) else NOT_ALLOWED), hits
    if DENIED in states:
        return DENIED, hits
    return (ALLOWED if all(s == ALLOWED for s in states) else NOT_ALLOWED), hits


def decide(policy, name, category=None):
    """(decision, severity, denied_by) of one declared licence; decision None means it passes."""
    if not name or not str(name).strip():
        return "unknown", policy.unknown, []
    node = parse(str(name))
    if node is None:
        # Not an SPDX expression ("My Corp Licence v7"): only an exact allow entry passes it.
        whole = " ".join(str(name).split()).upper()
        if whole in policy.deny:
            return DENIED, policy.severity, [whole]
        if policy.allow:
            return (None, None, []) if whole in policy.allow else (NOT_ALLOWED, policy.severity, [])
        return "unknown", policy.unknown, []
    state, hits = judge(policy, node)
    if state == DENIED:
        return DENIED, policy.severity, hits
    if state == NOT_ALLOWED:
        return NOT_ALLOWED, policy.severity, []
    if node[0] == "id" and category == "unknown" and not policy.allow:
        return "unknown", policy.unknown, []  # one id Trivy does not know, under a deny-only policy
    return None, None, []


_TITLES = {
    DENIED: "licence %s of %s is denied",
    NOT_ALLOWED: "licence %s of %s is not on the allow list",
    "unknown": "licence %s of %s is not a licence Trivy can name",
}


def findings(report, target_name, policy):
    """License findings of one Trivy report (dict) under ``policy``."""
    purls = {}
    for result in report.get("Results") or ():
        for pkg in result.get("Packages") or ():
            purl = (pkg.get("Identifier") or {}).get("PURL")
            purls.setdefault(pkg.get("Name"), set()).add(purl)
    out = []
    seen = set()

    def add(name, pkg, path, version, category, rclass):
        decision, severity, hits = decide(policy, name, category)
        key = (name, pkg, path)
        if decision is None or severity is None or key in seen:
            return
        seen.add(key)
        found = purls.get(pkg) or set()
        title = (_TITLES[decision] % (name, pkg or path)) if name else "%s declares no licence" % (pkg or path)
        out.append(make_finding(
            CONTROL, "license", name or NO_LICENSE_ID, severity, title, target_name,
            {"package": pkg or None, "installed_version": version, "path": path or None},
            None, "open",
            {"scanner": "trivy", "license": name or None, "decision": decision, "denied_by": hits,
             "category": category, "class": rclass,
             "purl": next(iter(found)) if len(found) == 1 else None},
        ))

    for result in report.get("Results") or ():
        for lic in result.get("Licenses") or ():
            add(lic.get("Name"), lic.get("PkgName"), lic.get("FilePath"), None, lic.get("Category"),
                result.get("Class"))
        for pkg in result.get("Packages") or ():
            if not pkg.get("Licenses"):
                add(None, pkg.get("Name"), pkg.get("FilePath"), pkg.get("Version"), None, result.get("Class"))
    return out
