"""Image scan gate in the lab: a small image with a planted AWS key and vulnerable packages, plus an IaC
directory, scanned offline with the real Trivy and a tiny self-built DB. The play first shows the gate
failing on the planted findings, then passing once each is ignored with a reason and an expiry date."""

import datetime
import os

from lab import image_scan_fixtures

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Checked by lab/prereq.py before prepare(); when this part fails, its plays in site.yml get no hosts.
REQUIRES = ("trivy", "podman")
PLAY_HOSTS = ("image_scan_hosts",)


def prepare(lab, work):
    base = os.path.join(work, "image_scan")
    paths = image_scan_fixtures.prepare(base)
    expires = (datetime.date.today() + datetime.timedelta(days=30)).isoformat()
    reason = "lab fixture planted on purpose (ainative.security lab), re-check by %s" % expires
    print("[lab] image_scan: image archive %s, IaC %s, DB %s" % (paths["archive"], paths["iac_good"],
                                                                paths["cache_dir"]))
    return {
        "image_scan_targets": [
            {"type": "archive", "ref": paths["archive"], "name": "lab/model-server", "scanners": ["vuln", "secret"]},
            {"type": "iac", "ref": paths["iac_good"], "name": "lab/terraform"},
        ],
        "image_scan_compare_without_ignores": True,
        "image_scan_ignore": [
            {"id": "aws-access-key-id", "reason": reason, "expires": expires, "paths": ["app/.env"]},
            {"id": "aws-secret-access-key", "reason": reason, "expires": expires, "paths": ["app/.env"]},
            {"id": "CVE-2099-0001", "reason": reason, "expires": expires, "packages": ["bash"]},
            {"id": "CVE-2099-1000", "reason": reason, "expires": expires, "packages": ["requests"]},
        ],
        "scan_gate_scanner_path": os.path.join(ROOT, ".venv", "bin", "trivy"),
        "scan_gate_cache_dir": paths["cache_dir"],
        "scan_gate_offline": True,
        "scan_gate_report_dir": os.path.join(base, "reports"),
    }
