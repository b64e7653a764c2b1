# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Findings of the collection's findings model as OCSF 1.5.0 finding events (category 2, Findings).

:data:`CLASS_BY_KIND` is the one table that chooses the OCSF class of each finding kind. Every other
attribute follows from the finding: severity, status, the rule id (``finding_info.analytic``), the target
and resource (``resources``), and per class the package and fix (2002) or the failed check (2003).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

from ansible_collections.ainative.security.plugins.module_utils.core.errors import bounded_text

OCSF_VERSION = "1.5.0"
PRODUCT = {"name": "ainative.security", "vendor_name": "ainative.security"}
CATEGORY = (2, "Findings")

DETECTION = (2004, "detection_finding", "Detection Finding")
VULNERABILITY = (2002, "vulnerability_finding", "Vulnerability Finding")
COMPLIANCE = (2003, "compliance_finding", "Compliance Finding")
CLASSES = (DETECTION, VULNERABILITY, COMPLIANCE)

# finding kind -> OCSF class. Something that happened (a CloudTrail call, a Falco alert, a container the
# response stopped) is a detection; a known hole in a package is a vulnerability; everything that compares
# a state with the policy (configuration, encryption, dataset digests, a secret in an image, a license,
# a gateway that accepts a forged token) is a failed compliance check.
CLASS_BY_KIND = {
    "detection": DETECTION,
    "runtime": DETECTION,
    "vulnerability": VULNERABILITY,
    "misconfiguration": COMPLIANCE,
    "encryption": COMPLIANCE,
    "integrity": COMPLIANCE,
    "secret": COMPLIANCE,
    "license": COMPLIANCE,
    "authentication": COMPLIANCE,
}

# severity_id of the OCSF base event; the caption (``severity``) comes from the schema itself.
SEVERITY_ID = {"UNKNOWN": 0, "INFO": 1, "LOW": 2, "MEDIUM": 3, "HIGH": 4, "CRITICAL": 5}
SEVERITY_CAPTION = {0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical"}

# finding status -> (activity_id, status_id, compliance status_id)
ACTIVITY = {1: "Create", 3: "Close"}
STATUS = {1: "New", 3: "Suppressed", 4: "Resolved"}
COMPLIANCE_STATUS = {1: "Pass", 3: "Fail"}
BY_STATUS = {
    "open": (1, 1, 3),
    "expired_ignore": (1, 1, 3),
    "ignored": (1, 3, 3),
    "fixed": (3, 4, 1),
}
ANALYTIC_RULE = 1
DETAILS_LIMIT = 4096
TEXT_LIMIT = 1024


def event_class(finding):
    """(class_uid, schema name, caption) of the finding's kind."""
    return CLASS_BY_KIND[finding["kind"]]


def event_uid(finding, class_uid, when_ms):
    """Stable id of the event: the same finding, state and time give the same id (spool dedupe)."""
    material = json.dumps([finding["fingerprint"], finding["status"], finding["severity"], class_uid, when_ms])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


def _clean(value):
    """Drop None values and empty containers, so optional OCSF attributes are absent, never null."""
    if isinstance(value, dict):
        out = dict((k, _clean(v)) for k, v in value.items())
        return dict((k, v) for k, v in out.items() if v not in (None, "", [], {}))
    if isinstance(value, list):
        return [_clean(v) for v in value if v not in (None, "", [], {})]
    return value


def _details(finding):
    """The control's own facts, kept only when small (never secrets, by the findings model)."""
    details = finding.get("details") or {}
    try:
        text = json.dumps(details, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return None
    return json.loads(text) if len(text) <= DETAILS_LIMIT else None


def _resources(finding):
    loc = finding["location"]
    origin = finding["details"].get("origin") if isinstance(finding["details"].get("origin"), dict) else {}
    target = None if finding["target"] is None else bounded_text(finding["target"], TEXT_LIMIT)
    resource = {
        "name": target,
        "uid": bounded_text(loc["resource"], TEXT_LIMIT) if loc.get("resource") else target,
        "hostname": origin.get("host"),
        "owner": {"account": {"uid": str(origin["account"])}} if origin.get("account") else None,
    }
    return [resource] if resource["name"] or resource["uid"] else []


def _vulnerability(finding, severity):
    loc = finding["location"]
    package = None
    if loc.get("package"):
        package = {"name": loc["package"], "version": loc.get("installed_version") or "unknown",
                   "fixed_in_version": loc.get("fixed_version"), "path": loc.get("path")}
    vid = finding["id"]
    vuln = {
        "title": finding["title"] or vid,
        "severity": severity,
        "affected_packages": [package] if package else None,
        "is_fix_available": bool(loc.get("fixed_version")),
        "references": [finding["url"]] if finding.get("url") else None,
    }
    # The schema wants exactly one of cve, cwe and advisory: a CVE (the id or an alias) wins.
    ids = [vid] + [str(a) for a in finding["details"].get("aliases") or ()]
    cves = [i for i in ids if i.upper().startswith("CVE-")]
    if cves:
        vuln["cve"] = {"uid": cves[0]}
    elif vid.upper().startswith("CWE-"):
        vuln["cwe"] = {"uid": vid}
    else:
        vuln["advisory"] = {"uid": vid, "title": finding["title"] or vid, "src_url": finding.get("url")}
    return vuln


def to_event(finding, when_ms):
    """One OCSF event dict for one finding (built by core.findings.make_finding) seen at ``when_ms``."""
    class_uid, caption = event_class(finding)[0], event_class(finding)[2]
    activity_id, status_id, compliance_status = BY_STATUS[finding["status"]]
    severity_id = SEVERITY_ID[finding["severity"]]
    severity = SEVERITY_CAPTION[severity_id]
    title = bounded_text(finding["title"] or finding["id"], TEXT_LIMIT)
    event = {
        "activity_id": activity_id,
        "activity_name": ACTIVITY[activity_id],
        "category_uid": CATEGORY[0],
        "category_name": CATEGORY[1],
        "class_uid": class_uid,
        "class_name": caption,
        "type_uid": class_uid * 100 + activity_id,
        "type_name": "%s: %s" % (caption, ACTIVITY[activity_id]),
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": STATUS[status_id],
        "time": when_ms,
        "message": title,
        "metadata": {
            "version": OCSF_VERSION,
            "uid": event_uid(finding, class_uid, when_ms),
            "product": dict(PRODUCT, feature={"name": finding["control"] or "ainative.security"}),
            "labels": [finding["kind"]],
        },
        "finding_info": {
            "uid": finding["fingerprint"],
            "title": title,
            "types": [finding["kind"]],
            "analytic": {"uid": finding["id"], "name": finding["id"], "type_id": ANALYTIC_RULE, "type": "Rule"},
            "src_url": finding.get("url"),
        },
        "resources": _resources(finding),
        "unmapped": {"control": finding["control"], "kind": finding["kind"], "status": finding["status"],
                     "location": finding["location"], "details": _details(finding)},
    }
    if class_uid == DETECTION[0]:
        event["is_alert"] = finding["status"] in ("open", "expired_ignore")
    elif class_uid == VULNERABILITY[0]:
        event["vulnerabilities"] = [_vulnerability(finding, severity)]
    else:
        event["compliance"] = {"control": finding["id"], "standards": ["ainative.security/%s" % finding["control"]],
                               "status_id": compliance_status, "status": COMPLIANCE_STATUS[compliance_status]}
    return _clean(event)
