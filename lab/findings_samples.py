"""Findings as the collection's controls emit them, one or more per finding kind (for OCSF tests and demos).

Each entry mirrors a real control's make_finding call (ids, targets and location fields as that control
fills them), so a test of the OCSF mapping covers every kind and control the collection has.
"""

import os

from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding
from ansible_collections.ainative.security.plugins.module_utils.core.reports import render_json

IMAGE = "registry.example.com/ml/serving:1.4"


def findings():
    return [
        make_finding("image_scan", "vulnerability", "CVE-2023-44487", "HIGH", "nghttp2: HTTP/2 Rapid Reset",
                     target=IMAGE, location={"package": "libnghttp2-14", "installed_version": "1.52.0-1",
                                             "fixed_version": "1.52.0-1+deb12u1"},
                     url="https://avd.aquasec.com/nvd/cve-2023-44487", details={"aliases": ["GHSA-qppj-fm5r-hxr3"]}),
        make_finding("image_scan", "vulnerability", "GHSA-9wx4-h78v-vm56", "MEDIUM", "requests leaks Proxy-Authorization",
                     target=IMAGE, location={"package": "requests", "installed_version": "2.30.0",
                                             "path": "usr/lib/python3/dist-packages"}, status="ignored",
                     details={"ignored_by": {"reason": "not reachable", "source": "playbook"}}),
        make_finding("image_scan", "secret", "aws-access-key-id", "CRITICAL", "AWS Access Key ID", target=IMAGE,
                     location={"path": "app/settings.py", "line": 12}),
        make_finding("image_scan", "license", "GPL-3.0", "LOW", "GPL-3.0 in a proprietary image", target=IMAGE,
                     location={"package": "readline-common"}),
        make_finding("image_scan", "misconfiguration", "AVD-DS-0002", "HIGH", "Image user should not be 'root'",
                     target="Dockerfile", location={"path": "Dockerfile"}),
        make_finding("s3_encryption_assert", "encryption", "s3_default_encryption_not_kms", "HIGH",
                     "Default encryption is not SSE-KMS", target="s3://ml-datasets",
                     location={"resource": "arn:aws:s3:::ml-datasets"}, details={"region": "us-east-1"}),
        make_finding("s3_encryption_assert", "misconfiguration", "s3_public_access_block_off", "MEDIUM",
                     "Public access block is not fully enabled", target="s3://ml-models",
                     location={"resource": "arn:aws:s3:::ml-models"}, status="fixed"),
        make_finding("dataset_hash_verify", "integrity", "digest_mismatch", "HIGH",
                     "train/shard-0003.parquet does not match the manifest", target="/data/train",
                     location={"path": "train/shard-0003.parquet"}),
        make_finding("cloudtrail_hunt", "detection", "cloudtrail_tampering", "CRITICAL",
                     "CloudTrail trail stopped, updated or deleted", target="123456789012/us-east-1",
                     location={"resource": "49ad16a0-4500-4e73-b54d-7567ce17492d"},
                     url="https://attack.mitre.org/techniques/T1562/008/",
                     details={"event_name": "StopLogging", "origin": {"host": "localhost", "account": "123456789012"}}),
        make_finding("falco_events", "runtime", "Terminal shell in container", "MEDIUM",
                     "Terminal shell in container (3 events)", target="falco-it-victim",
                     location={"resource": "0123456789ab"}, details={"count": 3, "priority": "warning"}),
        make_finding("falco_response", "runtime", "container_stopped", "HIGH", "container falco-it-victim: stopped",
                     target="falco-it-victim", location={"resource": "0123456789ab"}),
        make_finding("api_jwt_probe", "authentication", "jwt_alg_none", "CRITICAL",
                     "https://gw.example.com/v1: alg none -> accepted (must be rejected)",
                     target="https://gw.example.com/v1", location={"resource": "https://gw.example.com/v1"},
                     url="https://www.rfc-editor.org/rfc/rfc8725"),
        make_finding("vault_dynamic_creds", "misconfiguration", "vault_tls_unverified", "MEDIUM",
                     "TLS certificate of Vault is not verified", target="https://vault.example.com:8200"),
        make_finding("falco_rules", "misconfiguration", "falco_rules_unknown_macro", "UNKNOWN",
                     "rule uses an unknown macro", target="/etc/falco/rules.d",
                     location={"path": "rules.d/custom.yaml", "line": 4}),
        make_finding("api_jwt_probe", "authentication", "jwt_long_lifetime", "INFO",
                     "token lifetime above a day is accepted", target="https://gw.example.com/v1"),
    ]


def write_report(path, control="findings_report", items=None):
    """A JSON report as the controls write it (core.reports.render_json); returns the findings."""
    items = findings() if items is None else items
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(render_json(items, control=control))
    return items
