# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One findings model for every control of the collection.

Every module reports what it found as a list of plain dicts built by :func:`make_finding`, so one
report (JSON, SARIF, JUnit, HTML) can hold the findings of all controls, hosts and accounts.

A finding has these keys (all always present; unknown values are ``None``)::

    id            rule or advisory id (CVE-2024-1234, AVD-AWS-0088, console_login_without_mfa, ...)
    control       the control that produced it (image_scan, dataset_hash_verify, ...)
    kind          one of KINDS
    severity      one of SEVERITIES (upper case)
    title         one line for humans
    target        what was examined (image, directory, bucket, account/region, endpoint, ...)
    location      dict: package, installed_version, fixed_version, path, line, resource
    url           primary reference
    status        open | ignored | expired_ignore | fixed
    details       dict of control-specific facts (never secrets); a vulnerability may carry
                  ``details["risk"]``, built by :func:`make_risk` (CVSS, CWE, EPSS, KEV, dates, layer)
    fingerprint   stable hash of (control, kind, id, target, package, path, resource); baselines compare
                  these. The line, the installed and the fixed version are left out on purpose, so a line
                  shift, an upgrade that keeps the hole or a DB update that adds a fix is not a new finding.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import gc
import hashlib
import json

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError

SEVERITIES = ("UNKNOWN", "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL")
SEVERITY_RANK = dict((name, rank) for rank, name in enumerate(SEVERITIES))

KINDS = (
    "vulnerability",
    "secret",
    "misconfiguration",
    "integrity",
    "encryption",
    "detection",
    "runtime",
    "authentication",
    "license",
)

STATUSES = ("open", "ignored", "expired_ignore", "fixed")

# Scanner- and vendor-specific spellings mapped onto SEVERITIES.
_SEVERITY_ALIASES = {
    "NEGLIGIBLE": "INFO",
    "INFORMATIONAL": "INFO",
    "NOTE": "INFO",
    "NOTICE": "INFO",
    "DEBUG": "INFO",
    "NONE": "INFO",
    "WARNING": "MEDIUM",
    "MODERATE": "MEDIUM",
    "IMPORTANT": "HIGH",
    "ERROR": "HIGH",
    "EMERGENCY": "CRITICAL",
    "ALERT": "CRITICAL",
}

LOCATION_KEYS = ("package", "installed_version", "fixed_version", "path", "line", "resource")
IDENTITY_KEYS = ("package", "path", "resource")
_LOCATION_KEY_SET = frozenset(LOCATION_KEYS)


class FindingError(InputError):
    """Raised for a finding that cannot be built (bad kind, severity or status)."""


def normalize_severity(value, default="UNKNOWN"):
    """Return the canonical upper-case severity for any common spelling, or raise FindingError."""
    if isinstance(value, str) and value in SEVERITY_RANK:  # canonical already: every finding read back
        return value
    if value is None or value == "":
        return default
    name = str(value).strip().upper()
    name = _SEVERITY_ALIASES.get(name, name)
    if name not in SEVERITY_RANK:
        raise FindingError(
            "unknown severity %r; use one of %s" % (value, ", ".join(SEVERITIES))
        )
    return name


def severity_rank(value):
    return SEVERITY_RANK[normalize_severity(value)]


def at_or_above(severity, threshold):
    """True when ``severity`` is at least ``threshold`` (both in any accepted spelling)."""
    return severity_rank(severity) >= severity_rank(threshold)


# One encoder for every fingerprint: the same output as json.dumps(..., sort_keys=True, separators=(",", ":"),
# default=str) without building an encoder per call (a third of make_finding's time at 100,000 findings).
_FINGERPRINT_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def fingerprint(control, kind, finding_id, target, location):
    """Stable identity of a finding across runs (not of its severity, status, line or versions)."""
    material = _FINGERPRINT_ENCODER.encode(
        [control, kind, finding_id, target, [location.get(k) for k in IDENTITY_KEYS]])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


def make_finding(control, kind, finding_id, severity, title, target=None, location=None,
                 url=None, status="open", details=None, known_fingerprint=None):
    """Build one finding dict; the only constructor every control uses.

    ``known_fingerprint``: the fingerprint of a finding read back from a report, kept (not recomputed).
    """
    if kind not in KINDS:
        raise FindingError("unknown finding kind %r; use one of %s" % (kind, ", ".join(KINDS)))
    if status not in STATUSES:
        raise FindingError("unknown finding status %r; use one of %s" % (status, ", ".join(STATUSES)))
    loc = dict.fromkeys(LOCATION_KEYS)
    if location:
        if not _LOCATION_KEY_SET.issuperset(location):
            unknown = set(location) - _LOCATION_KEY_SET
            raise FindingError("unknown location keys: %s" % ", ".join(sorted(unknown)))
        loc.update(location)
    return {
        "id": str(finding_id),
        "control": control,
        "kind": kind,
        "severity": normalize_severity(severity),
        "title": title,
        "target": target,
        "location": loc,
        "url": url,
        "status": status,
        "details": details or {},
        "fingerprint": known_fingerprint or fingerprint(control, kind, str(finding_id), target, loc),
    }


CVSS_VERSIONS = ("2.0", "3.0", "3.1", "4.0")


def _unit_float(value, name, low, high):
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FindingError("%s %r is not a number" % (name, value))
    if not low <= number <= high:
        raise FindingError("%s %r is outside %s-%s" % (name, value, low, high))
    return number


def make_risk(cvss=None, cwe=None, epss=None, epss_percentile=None, kev=None, published=None, layer=None,
              vendor_severity=None):
    """The risk data of a vulnerability finding, in one shape whatever the scanner.

    ``cvss``: list of dicts ``{version, score, vector, source}``. ``cvss_score`` is the highest v3 or v4
    score (v2 only when nothing newer is known), the number ``fail_on_cvss`` and SARIF's
    ``security-severity`` read. ``kev``: True, False or None (unknown: no KEV data was available).
    """
    entries = []
    for item in cvss or ():
        score = _unit_float(item.get("score"), "CVSS score", 0.0, 10.0)
        if score is None and not item.get("vector"):
            continue
        version = str(item.get("version") or "")
        entries.append({"version": version, "score": score, "vector": item.get("vector") or None,
                        "source": item.get("source") or None})
    modern = [e["score"] for e in entries if e["score"] is not None and not e["version"].startswith("2")]
    legacy = [e["score"] for e in entries if e["score"] is not None and e["version"].startswith("2")]
    epss_score = _unit_float(epss, "EPSS score", 0.0, 1.0)
    return {
        "cvss": entries,
        "cvss_score": max(modern or legacy) if (modern or legacy) else None,
        "cwe": sorted(set(str(c).upper() for c in cwe or () if c)),
        "epss": None if epss_score is None else {
            "score": epss_score, "percentile": _unit_float(epss_percentile, "EPSS percentile", 0.0, 1.0)},
        "kev": None if kev is None else bool(kev),
        "published": published or None,
        "layer": layer or None,
        "vendor_severity": dict((str(k), v if v in SEVERITY_RANK else normalize_severity(v))
                                for k, v in (vendor_severity or {}).items()),
    }


def summarize(findings):
    """Counts by severity, kind and status; ``open`` counts only findings with status open."""
    by_severity = dict((name, 0) for name in SEVERITIES)
    by_kind = {}
    by_status = dict((name, 0) for name in STATUSES)
    for finding in findings:
        by_status[finding["status"]] += 1
        if finding["status"] != "open":
            continue
        by_severity[finding["severity"]] += 1
        by_kind[finding["kind"]] = by_kind.get(finding["kind"], 0) + 1
    return {
        "total": len(findings),
        "open": by_status["open"],
        "by_severity": by_severity,
        "by_kind": by_kind,
        "by_status": by_status,
    }


class SortedFindings(list):
    """A list :func:`sort_findings` made: sorting it again returns it as it is. Every report format and the
    result sort the same findings, and at 100,000 findings each sort costs a third of a second of keys."""


def sort_findings(findings):
    """Most severe first, then by id and target, so reports and lists are stable."""
    if isinstance(findings, SortedFindings):
        return findings
    return SortedFindings(sorted(
        findings,
        key=lambda f: (-SEVERITY_RANK[f["severity"]], f["control"] or "", f["id"], str(f["target"]),
                       str(f["location"].get("path") or f["location"].get("package") or "")),
    ))


def bounded(items, limit):
    """(first ``limit`` items, True if some were left out); limit 0 or None keeps all."""
    if not limit or len(items) <= limit:
        return list(items), False
    return list(items[:limit]), True


@contextlib.contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while many findings are built or read: they hold no cycles
    (reference counting frees them), and its full passes over 100,000 findings' dicts cost a third of
    normalizing, reading or aggregating them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
