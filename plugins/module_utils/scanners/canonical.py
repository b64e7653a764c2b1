# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One canonical control for a Checkov check and the Trivy check that test the same thing.

Every pair below was checked by reading both checks' titles (``checkov --list`` of Checkov 3.3.30 and the
``Title`` of Trivy 0.59.1's embedded checks) and by running both on the same Terraform resource. A finding
of either engine gets ``details.canonical_id`` and the other engine's id (and the canonical id) in
``details.aliases``, so ``fail_on_ids``, ``ignore`` entries and policy files written with either id match
both engines. The finding's own id and fingerprint stay the engine's, so a baseline keeps matching its
engine across versions.

Pairs whose scopes differ are left out on purpose: CKV_AWS_24 (SSH only) vs AVD-AWS-0107 (SSH or RDP),
CKV_AWS_20 (public READ ACL) vs AVD-AWS-0092 (any public ACL), CKV_GCP_37 (any disk key, a raw
customer-supplied key passes) vs AVD-GCP-0034 (a KMS key).

``severity`` is Trivy's for the check; Checkov reports no severity offline, so its finding takes this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# canonical id: (Checkov id, Trivy AVD id, severity)
CONTROLS = {
    "s3-bucket-encryption": ("CKV_AWS_19", "AVD-AWS-0088", "HIGH"),
    "s3-bucket-kms-encryption": ("CKV_AWS_145", "AVD-AWS-0132", "HIGH"),
    "s3-bucket-versioning": ("CKV_AWS_21", "AVD-AWS-0090", "MEDIUM"),
    "s3-bucket-access-logging": ("CKV_AWS_18", "AVD-AWS-0089", "LOW"),
    "s3-bucket-public-access-block": ("CKV2_AWS_6", "AVD-AWS-0094", "LOW"),
    "s3-block-public-acls": ("CKV_AWS_53", "AVD-AWS-0086", "HIGH"),
    "s3-block-public-policy": ("CKV_AWS_54", "AVD-AWS-0087", "HIGH"),
    "s3-ignore-public-acls": ("CKV_AWS_55", "AVD-AWS-0091", "HIGH"),
    "s3-restrict-public-buckets": ("CKV_AWS_56", "AVD-AWS-0093", "HIGH"),
    "kms-key-rotation": ("CKV_AWS_7", "AVD-AWS-0065", "MEDIUM"),
    "ebs-volume-encryption": ("CKV_AWS_3", "AVD-AWS-0026", "HIGH"),
    "ebs-volume-customer-key": ("CKV_AWS_189", "AVD-AWS-0027", "LOW"),
    "rds-instance-encryption": ("CKV_AWS_16", "AVD-AWS-0080", "HIGH"),
    "rds-iam-authentication": ("CKV_AWS_161", "AVD-AWS-0176", "MEDIUM"),
    "rds-deletion-protection": ("CKV_AWS_293", "AVD-AWS-0177", "MEDIUM"),
    "rds-performance-insights": ("CKV_AWS_353", "AVD-AWS-0133", "LOW"),
    "cloudtrail-customer-key": ("CKV_AWS_35", "AVD-AWS-0015", "HIGH"),
    "cloudtrail-log-validation": ("CKV_AWS_36", "AVD-AWS-0016", "HIGH"),
    "cloudtrail-all-regions": ("CKV_AWS_67", "AVD-AWS-0014", "MEDIUM"),
    "cloudtrail-cloudwatch": ("CKV2_AWS_10", "AVD-AWS-0162", "LOW"),
    "gcs-uniform-bucket-access": ("CKV_GCP_29", "AVD-GCP-0002", "MEDIUM"),
}

# engine id (upper case) -> (canonical id, the other engine's id, severity)
_BY_ID = dict((ckv, (name, avd, sev)) for name, (ckv, avd, sev) in CONTROLS.items())
_BY_ID.update((avd, (name, ckv, sev)) for name, (ckv, avd, sev) in CONTROLS.items())


def lookup(check_id):
    """(canonical id, the other engine's id, severity) of an engine's check id, or None when unmapped."""
    return _BY_ID.get(str(check_id or "").upper())


def annotate(findings):
    """Give each mapped misconfiguration finding its canonical id and the other engine's id; returns findings."""
    for finding in findings:
        if finding["kind"] != "misconfiguration":
            continue
        found = lookup(finding["id"])
        if not found:
            continue
        details = finding["details"]
        details["canonical_id"] = found[0]
        aliases = list(details.get("aliases") or [])
        for name in found[:2]:
            if name not in aliases:
                aliases.append(name)
        details["aliases"] = aliases
    return findings
