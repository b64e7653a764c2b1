"""The KEV, EPSS and CVSS gates of image_scan (issue 18 item 1) with the real Trivy 0.59.1 and the lab's DB.

The DB (lab/trivydb.py) gives CVE-2099-0001 (bash, HIGH) NVD CVSS 3.1 9.8 / 4.0 9.3 and CVE-2099-1000
(requests, CRITICAL) NVD CVSS 3.1 7.4. The KEV catalogue and the EPSS CSV are files written here in CISA's and
FIRST's formats; nothing is fetched. Every gate runs with ``fail_on: none``, so only the risk rule can fail it.
"""

import gzip
import json
import os

import pytest

from lab import harness, image_scan_fixtures

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRIVY = os.path.join(ROOT, ".venv", "bin", "trivy")

pytestmark = pytest.mark.skipif(not os.path.exists(TRIVY), reason="the Trivy binary comes with ./setup/setup.sh")


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("image-scan-risk"))
    paths = image_scan_fixtures.prepare(work)
    # build_image leaves the image's file tree behind: the same packages as a rootfs target
    paths["rootfs"] = os.path.join(work, "image-context", "rootfs")
    return paths


@pytest.fixture
def scan(fx, tmp_path):
    """image_scan in a subprocess, as Ansible runs it, on the rootfs with fail_on none: its parsed result."""
    def run(**args):
        data = {"scanner_path": TRIVY, "cache_dir": fx["cache_dir"], "offline": True, "fail_on": "none",
                "targets": [{"type": "rootfs", "ref": fx["rootfs"], "name": "rootfs", "scanners": ["vuln"]}]}
        data.update(args)
        return harness.run_module("image_scan", data, tmp_path, timeout=300)[1]
    return run


def _kev(path, cves):
    path.write_text(json.dumps({
        "title": "CISA Catalog of Known Exploited Vulnerabilities", "catalogVersion": "2099.01.15",
        "dateReleased": "2099-01-15T17:00:00.000Z", "count": len(cves),
        "vulnerabilities": [{"cveID": cve, "vendorProject": "test", "product": "test", "dateAdded": "2099-01-10",
                             "dueDate": "2099-01-31", "knownRansomwareCampaignUse": "Unknown"} for cve in cves]}))
    return str(path)


def _epss(path, rows):
    with gzip.open(str(path), "wt") as handle:
        handle.write("#model_version:v2025.03.14,score_date:2099-01-15T00:00:00+0000\ncve,epss,percentile\n")
        handle.writelines("%s,%s,%s\n" % row for row in rows)
    return str(path)


def _risk(result, vid):
    return [f for f in result["findings"] if f["id"] == vid][0]["details"]["risk"]


def test_fail_on_kev_fails_on_the_listed_cve_alone_and_passes_without_it(scan, tmp_path):
    listed = scan(fail_on_kev=True, kev_catalog=_kev(tmp_path / "kev.json", ["CVE-2099-1000", "CVE-2021-44228"]),
                  reports={"json": str(tmp_path / "kev-report.json")})
    assert listed["failed"] and listed["verdict"] == "fail"
    assert listed["gate"]["failing_ids"] == ["CVE-2099-1000"] and listed["gate"]["rules"] == ["fail_on_kev"]
    assert "match fail_on_kev: CVE-2099-1000" in listed["msg"]
    assert _risk(listed, "CVE-2099-1000")["kev"] is True and _risk(listed, "CVE-2099-0001")["kev"] is False
    assert any(n.startswith("KEV catalogue 2099.01.15 (released 2099-01-15T17:00:00.000Z") for n in listed["notes"])
    with open(str(tmp_path / "kev-report.json")) as handle:
        report = json.load(handle)
    assert report["meta"]["risk_data"]["kev_catalog"]["version"] == "2099.01.15"
    # Strict twin: the same scan with a catalogue that does not list it passes.
    clean = scan(fail_on_kev=True, kev_catalog=_kev(tmp_path / "kev2.json", ["CVE-2021-44228"]))
    assert not clean.get("failed") and clean["verdict"] == "findings" and clean["coverage"]["complete"]
    assert all(f["details"]["risk"]["kev"] is False for f in clean["findings"])


def test_fail_on_epss_fails_at_the_threshold_from_the_epss_csv(scan, tmp_path):
    epss = _epss(tmp_path / "epss.csv.gz", [("CVE-2099-0001", "0.62000", "0.98000"),
                                            ("CVE-2099-1000", "0.03100", "0.61000")])
    hit = scan(fail_on_epss=0.5, epss_scores=epss)
    assert hit["failed"] and hit["gate"]["failing_ids"] == ["CVE-2099-0001"]
    assert hit["gate"]["rules"] == ["fail_on_epss 0.5"]
    assert _risk(hit, "CVE-2099-0001")["epss"] == {"score": 0.62, "percentile": 0.98}
    assert any("EPSS scores of 2099-01-15T00:00:00+0000" in n for n in hit["notes"])
    # Strict twin: a threshold above both scores passes.
    assert not scan(fail_on_epss=0.7, epss_scores=epss).get("failed")


def test_fail_on_cvss_reads_the_db_cvss_and_sarif_carries_it(scan, fx, tmp_path):
    sarif = str(tmp_path / "r.sarif")
    targets = [{"type": "rootfs", "ref": fx["rootfs"], "name": "rootfs", "scanners": ["vuln"]},
               {"type": "archive", "ref": fx["archive"], "name": "probe", "scanners": ["vuln"]}]
    hit = scan(fail_on_cvss=9.0, targets=targets, reports={"sarif": sarif})
    assert hit["failed"] and hit["gate"]["failing_ids"] == ["CVE-2099-0001"]  # 9.8; CVE-2099-1000 is 7.4
    assert hit["gate"]["rules"] == ["fail_on_cvss 9.0"]
    bash = _risk(hit, "CVE-2099-0001")
    assert bash["cvss_score"] == 9.8 and {"4.0", "3.1", "2.0"} <= set(c["version"] for c in bash["cvss"])
    assert bash["cwe"] == ["CWE-78"] and bash["vendor_severity"] == {"debian": "HIGH", "nvd": "CRITICAL"}
    layers = dict((f["target"], f["details"]["risk"]["layer"]) for f in hit["findings"] if f["id"] == "CVE-2099-0001")
    assert layers["rootfs"] is None and layers["probe"].startswith("sha256:")  # the image's layer
    with open(sarif) as handle:
        rules = dict((r["id"], r["properties"]["security-severity"]) for r in json.load(handle)["runs"][0]["tool"]["driver"]["rules"])
    assert rules["CVE-2099-0001"] == "9.8" and rules["CVE-2099-1000"] == "7.4"
    # Strict twin: a threshold above every score passes.
    assert not scan(fail_on_cvss=9.9).get("failed")


def test_a_risk_gate_without_its_data_is_incomplete_unless_accepted(scan, tmp_path):
    blind = scan(fail_on_kev=True)
    assert blind["failed"] and blind["verdict"] == "incomplete" and blind["gate"]["failing"] == 0
    assert blind["coverage"]["missed"][0]["item"] == "kev data"
    assert "give kev_catalog" in blind["coverage"]["missed"][0]["reason"]
    accepted = scan(fail_on_kev=True, accept_incomplete="no KEV feed on this runner, SEC-77")
    assert not accepted.get("failed") and accepted["gate"]["accepted_incomplete"] == "no KEV feed on this runner, SEC-77"
    assert scan(fail_on_epss=0.1)["verdict"] == "incomplete"
    # A file that is no catalogue is one clear error, not a gate decision.
    bad = tmp_path / "kev.json"
    bad.write_text("<html>rate limited</html>")
    error = scan(fail_on_kev=True, kev_catalog=str(bad))
    assert error["failed"] and error["error_kind"] == "input" and "is not JSON" in error["msg"]
