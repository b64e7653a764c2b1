"""Risk data of vulnerabilities (issue 18 item 1): Trivy and Grype extraction, KEV and EPSS files, fail-closed gaps.

The Trivy report comes from the real Trivy binary run on a rootfs against the lab's self-built DB
(lab/trivydb.py), never from hand-written JSON. Grype is not installed here, so its document is a fixture
written in Grype's documented format (fixtures/grype-risk.json says so).
"""

import copy
import gzip
import json
import os
import subprocess
import tracemalloc

import pytest

from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding
from ansible_collections.ainative.security.plugins.module_utils.core.gate import Gate
from ansible_collections.ainative.security.plugins.module_utils.scanners import grype as scanner_grype
from ansible_collections.ainative.security.plugins.module_utils.scanners import risk
from ansible_collections.ainative.security.plugins.module_utils.scanners import trivy as scanner_trivy
from lab import image_scan_fixtures, trivydb

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
TRIVY = os.path.join(ROOT, ".venv", "bin", "trivy")
FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
EPSS_COMMENT = "#model_version:v2025.03.14,score_date:2099-01-15T00:00:00+0000\n"


@pytest.fixture(scope="module")
def trivy_report(tmp_path_factory):
    """Trivy 0.59.1's JSON for a Debian 12 rootfs with bash and requests, scanned offline with the lab DB."""
    if not os.path.exists(TRIVY):
        pytest.skip("the Trivy binary comes with ./setup/setup.sh")
    work = tmp_path_factory.mktemp("trivy-risk")
    cache = str(work / "cache")
    trivydb.build(cache)
    rootfs = work / "rootfs"
    files = {"etc/os-release": image_scan_fixtures.OS_RELEASE, "etc/debian_version": "12.8\n",
             "var/lib/dpkg/status": image_scan_fixtures.DPKG_STATUS,
             "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA":
                 "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n"}
    for rel, text in files.items():
        (rootfs / rel).parent.mkdir(parents=True, exist_ok=True)
        (rootfs / rel).write_text(text)
    out = subprocess.run([TRIVY, "rootfs", "--format", "json", "--quiet", "--cache-dir", cache, "--skip-db-update",
                          "--skip-java-db-update", "--offline-scan", "--scanners", "vuln", str(rootfs)],
                         capture_output=True, check=True, timeout=120)
    return json.loads(out.stdout)


def _by_id(findings):
    return dict((f["id"], f) for f in findings)


def test_trivy_keeps_cvss_per_source_and_version_cwe_vendor_severity_and_dates(trivy_report):
    found = _by_id(scanner_trivy.normalize(trivy_report, "rootfs"))
    bash = found["CVE-2099-0001"]["details"]["risk"]
    assert sorted((c["source"], c["version"], c["score"]) for c in bash["cvss"]) == [
        ("debian", "3.1", 7.8), ("nvd", "2.0", 10.0), ("nvd", "3.1", 9.8), ("nvd", "4.0", 9.3)]
    v4 = [c for c in bash["cvss"] if c["version"] == "4.0"][0]
    assert v4["vector"].startswith("CVSS:4.0/AV:N/AC:L/AT:N")
    assert bash["cvss_score"] == 9.8  # the highest v3/v4 score; the v2 10.0 does not count
    assert bash["cwe"] == ["CWE-78"]
    assert bash["vendor_severity"] == {"debian": "HIGH", "nvd": "CRITICAL"}
    assert bash["published"] == "2099-01-01T00:00:00Z"
    assert found["CVE-2099-0001"]["details"]["last_modified"] == "2099-01-02T00:00:00Z"
    # Trivy knows neither KEV nor EPSS: unknown, never "not exploited"
    assert bash["kev"] is None and bash["epss"] is None
    assert bash["layer"] is None  # a rootfs has no layers
    requests = found["CVE-2099-1000"]["details"]["risk"]
    assert requests["cvss_score"] == 7.4 and requests["cwe"] == ["CWE-20", "CWE-200"]
    assert requests["vendor_severity"] == {"ghsa": "CRITICAL", "nvd": "HIGH"}
    assert found["CVE-2099-1000"]["severity"] == "CRITICAL"  # the gate's severity is still Trivy's


def test_trivy_layer_digest_wins_over_diff_id_and_odd_vendor_levels_are_dropped(trivy_report):
    report = copy.deepcopy(trivy_report)
    vuln = [v for r in report["Results"] for v in r.get("Vulnerabilities", []) if v["VulnerabilityID"] == "CVE-2099-0001"][0]
    vuln["Layer"] = {"DiffID": "sha256:" + "d" * 64}
    vuln["VendorSeverity"]["bogus"] = 9
    risk_data = scanner_trivy.risk_of(vuln)
    assert risk_data["layer"] == "sha256:" + "d" * 64 and "bogus" not in risk_data["vendor_severity"]
    vuln["Layer"]["Digest"] = "sha256:" + "a" * 64
    assert scanner_trivy.risk_of(vuln)["layer"] == "sha256:" + "a" * 64


def test_trivy_without_risk_fields_gives_an_empty_risk():
    report = {"Results": [{"Target": "x", "Class": "os-pkgs", "Type": "debian", "Vulnerabilities": [
        {"VulnerabilityID": "CVE-2099-7", "PkgName": "p", "InstalledVersion": "1", "Severity": "LOW"}]}]}
    data = scanner_trivy.normalize(report, "t")[0]["details"]["risk"]
    assert data["cvss"] == [] and data["cvss_score"] is None and data["cwe"] == [] and data["kev"] is None


def _grype():
    with open(os.path.join(FIXTURES, "grype-risk.json")) as handle:
        return json.load(handle)


def test_grype_keeps_epss_kev_risk_cvss_and_cwe_from_the_match_and_its_related_records():
    found = _by_id(scanner_grype.normalize(_grype(), "dir"))
    ghsa = found["GHSA-2099-aaaa-bbbb"]
    data = ghsa["details"]["risk"]
    assert data["kev"] is True
    assert data["epss"] == {"score": 0.87412, "percentile": 0.99431}
    assert data["cvss_score"] == 9.3  # the related NVD v4.0 score beats GitHub's 9.1 and NVD's v2
    assert sorted((c["source"], c["version"]) for c in data["cvss"]) == [
        ("github", "3.1"), ("nvd@nist.gov", "2.0"), ("nvd@nist.gov", "4.0")]
    assert data["cwe"] == ["CWE-20", "CWE-94"]
    assert ghsa["details"]["risk_score"] == 71.3 and ghsa["details"]["related"] == ["CVE-2099-1000"]
    # Strict twin: a match without knownExploited from a schema v6 DB is known not to be in KEV.
    bash = found["CVE-2099-0001"]["details"]
    assert bash["risk"]["kev"] is False and bash["risk"]["epss"]["score"] == 0.00043
    assert bash["risk"]["cvss_score"] is None and bash["risk_score"] == 0.02


def test_grype_schema_v5_db_has_no_kev_so_kev_is_unknown():
    doc = _grype()
    doc["descriptor"]["db"] = {"built": "2024-01-01T00:00:00Z", "schemaVersion": 5}
    found = _by_id(scanner_grype.normalize(doc, "dir"))
    assert found["CVE-2099-0001"]["details"]["risk"]["kev"] is None
    assert found["GHSA-2099-aaaa-bbbb"]["details"]["risk"]["kev"] is True  # listed is listed, whatever the DB
    assert scanner_grype.db_has_kev({}) is False


# -- the KEV catalogue ----------------------------------------------------------------------------------

def _kev(path, cves, **extra):
    doc = {"title": "CISA Catalog of Known Exploited Vulnerabilities", "catalogVersion": "2099.01.15",
           "dateReleased": "2099-01-15T17:00:00.000Z", "count": len(cves),
           "vulnerabilities": [{"cveID": c, "dateAdded": "2099-01-10", "dueDate": "2099-01-31"} for c in cves]}
    doc.update(extra)
    path.write_text(json.dumps(doc))
    return str(path)


def test_kev_catalogue_is_read_with_its_version(tmp_path):
    catalog = risk.load_kev(_kev(tmp_path / "kev.json", ["CVE-2099-1000", "cve-2021-44228"]))
    assert catalog.ids == frozenset(["CVE-2099-1000", "CVE-2021-44228"])
    assert catalog.meta() == {"path": str(tmp_path / "kev.json"), "version": "2099.01.15",
                              "released": "2099-01-15T17:00:00.000Z", "count": 2}


@pytest.mark.parametrize("content, words", [
    ("not json {", "is not JSON"),
    ('{"vulns": []}', "has no 'vulnerabilities' list"),
    ('[{"cveID": "CVE-2099-1000"}]', "has no 'vulnerabilities' list"),
    ('{"vulnerabilities": [{"cveID": "CVE-2099-1000"}, {"cve": "CVE-1"}]}', "vulnerabilities[1] has no valid cveID"),
    ('{"vulnerabilities": [{"cveID": "CVE-2099-1000; rm -rf /"}]}', "vulnerabilities[0] has no valid cveID"),
    ('{"count": 3, "vulnerabilities": [{"cveID": "CVE-2099-1000"}]}', "says it lists 3 vulnerabilities but holds 1"),
])
def test_a_file_that_is_no_kev_catalogue_is_one_clear_input_error(tmp_path, content, words):
    path = tmp_path / "kev.json"
    path.write_text(content)
    with pytest.raises(InputError) as err:
        risk.load_kev(str(path))
    assert words in err.value.msg and str(path) in err.value.msg and "known_exploited_vulnerabilities.json" in err.value.msg
    assert "\n" not in err.value.msg


def test_kev_catalogue_too_large_missing_or_not_a_file(tmp_path, monkeypatch):
    monkeypatch.setattr(risk, "KEV_LIMIT", 100)
    big = _kev(tmp_path / "big.json", ["CVE-2099-%04d" % n for n in range(20)])
    with pytest.raises(InputError, match="more than the 100 this control reads"):
        risk.load_kev(big)
    with pytest.raises(InputError, match="check the path"):
        risk.load_kev(str(tmp_path / "absent.json"))
    os.mkfifo(str(tmp_path / "fifo"))
    with pytest.raises(InputError, match="not a regular file"):
        risk.load_kev(str(tmp_path / "fifo"))  # a FIFO must not hang the module


# -- the EPSS CSV ----------------------------------------------------------------------------------------

def _epss(path, rows, comment=EPSS_COMMENT, header="cve,epss,percentile\n", compress=False):
    text = comment + header + "".join("%s,%s,%s\n" % row for row in rows)
    if compress:
        with gzip.open(str(path), "wb") as handle:
            handle.write(text.encode())
    else:
        path.write_text(text)
    return str(path)


def _raw(path, data):
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("compress", [False, True])
def test_epss_csv_plain_or_gzip_keeps_only_the_wanted_cves(tmp_path, compress):
    path = _epss(tmp_path / "epss.csv", [("CVE-2099-0001", "0.62000", "0.98000"), ("CVE-2099-1000", "0.03", "0.5"),
                                         ("CVE-1999-0001", "0.01", "0.1")], compress=compress)
    meta, scores, rows = risk.read_epss(path, {"CVE-2099-0001", "CVE-2099-1000", "CVE-2099-9999"})
    assert meta == {"model_version": "v2025.03.14", "score_date": "2099-01-15T00:00:00+0000"}
    assert scores == {"CVE-2099-0001": (0.62, 0.98), "CVE-2099-1000": (0.03, 0.5)} and rows == 3


def test_epss_csv_without_the_comment_line_is_read(tmp_path):
    path = _epss(tmp_path / "epss.csv", [("CVE-2099-0001", "0.5", "0.9")], comment="")
    assert risk.read_epss(path, {"CVE-2099-0001"}) == ({}, {"CVE-2099-0001": (0.5, 0.9)}, 1)


@pytest.mark.parametrize("make, words", [
    (lambda p: _epss(p, [], header="id,score\n"), "is not an EPSS CSV: line 2"),
    (lambda p: _epss(p, [], header=""), "has no 'cve,epss,percentile' header"),
    (lambda p: _epss(p, [("CVE-2099-0001", "high", "0.9")]), "epss 'high' is not a number from 0 to 1"),
    (lambda p: _epss(p, [("CVE-2099-0001", "0.5", "1.7")]), "percentile '1.7' is not a number from 0 to 1"),
    (lambda p: _epss(p, [("CVE-2099-0001", "nan", "0.5")]), "epss 'nan' is not a number from 0 to 1"),
    (lambda p: _epss(p, [("GHSA-x", "0.5", "0.5")]), "line 3 is 'GHSA-x,0.5,0.5', not 'CVE-id,epss,percentile'"),
    (lambda p: _epss(p, [("CVE-2099-0001", "0.5", "0.5,extra")]), "not 'CVE-id,epss,percentile'"),
    (lambda p: _raw(p, b"\x1f\x8b\x08\x00broken gzip"), "is not a readable gzip file"),
    (lambda p: _raw(p, b"\x00\xff" * 10 + b"\n"), "line 1 is not plain ASCII text"),
    (lambda p: _raw(p, b"A" * 100000), "line 1 is longer than 4096 bytes"),
    (lambda p: _raw(p, b""), "has no 'cve,epss,percentile' header"),
])
def test_a_file_that_is_no_epss_csv_is_one_clear_input_error(tmp_path, make, words):
    path = make(tmp_path / "epss.csv")
    with pytest.raises(InputError) as err:
        risk.read_epss(path, {"CVE-2099-0001"})
    assert words in err.value.msg and path in err.value.msg and "epss_scores-YYYY-MM-DD.csv.gz" in err.value.msg


def test_a_gzip_bomb_of_rows_stops_at_the_size_limit(tmp_path):
    path = str(tmp_path / "bomb.csv.gz")
    with gzip.open(path, "wb", compresslevel=9) as handle:
        handle.write((EPSS_COMMENT + "cve,epss,percentile\n").encode())
        handle.write(b"CVE-2099-0001,0.5,0.5\n" * 200000)  # 4.4 MB inflated from a few KB
    with pytest.raises(InputError, match="is over 1 MiB uncompressed"):
        risk.read_epss(path, {"CVE-2099-0001"}, limit=1 << 20)


def test_an_epss_csv_is_streamed_not_held(tmp_path):
    """The file is read line by line: peak memory stays a small fraction of its size (tracemalloc is slow, so
    the file is 20,000 rows; the real one has about 300,000 and reads in about half a second)."""
    path = tmp_path / "epss.csv"
    with open(str(path), "w") as handle:
        handle.write(EPSS_COMMENT + "cve,epss,percentile\n")
        for n in range(20000):
            handle.write("CVE-2098-%06d,0.00042,0.0512\n" % n)
    size = os.path.getsize(str(path))
    tracemalloc.start()
    try:
        meta, scores, rows = risk.read_epss(str(path), {"CVE-2098-000007"})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows == 20000 and scores == {"CVE-2098-000007": (0.00042, 0.0512)} and meta["score_date"]
    assert peak < size // 8, (peak, size)


# -- enrichment and the fail-closed gaps ----------------------------------------------------------------

def _vuln(vid, aliases=(), related=(), data=None):
    details = {"aliases": list(aliases), "related": list(related)}
    if data is not None:
        details["risk"] = data
    return make_finding("image_scan", "vulnerability", vid, "HIGH", vid, "t", {"package": "p"}, details=details)


def _params(**extra):
    params = {"kev_catalog": None, "epss_scores": None, "fail_on_kev": False, "fail_on_epss": None}
    params.update(extra)
    return params


def _run(params, findings):
    coverage = Coverage("targets", asked=1).add()
    notes = []
    meta = risk.RiskFiles(params).enrich(findings, coverage, notes)
    return coverage, notes, meta


def test_kev_catalogue_marks_by_id_alias_or_related_id_and_the_gate_fails_on_it(tmp_path, trivy_report):
    kev = _kev(tmp_path / "kev.json", ["CVE-2099-1000", "CVE-2099-4242", "CVE-2099-5000"])
    findings = scanner_trivy.normalize(trivy_report, "rootfs") + [
        _vuln("GHSA-2099-xxxx", related=["CVE-2099-4242"]), _vuln("OSV-1", aliases=["cve-2099-5000"])]
    coverage, notes, meta = _run(_params(kev_catalog=kev, fail_on_kev=True), findings)
    kev_of = dict((f["id"], f["details"]["risk"]["kev"]) for f in findings)
    assert kev_of == {"CVE-2099-1000": True, "CVE-2099-0001": False, "GHSA-2099-xxxx": True, "OSV-1": True}
    assert coverage.complete and meta["kev_catalog"]["version"] == "2099.01.15"
    assert "KEV catalogue 2099.01.15 (released 2099-01-15T17:00:00.000Z, 3 CVEs): 3 of 4" in notes[0]
    decision = Gate(fail_on="none", fail_on_kev=True).decide(findings, coverage)
    assert decision["failing_ids"] == ["CVE-2099-1000", "GHSA-2099-xxxx", "OSV-1"] and decision["rules"] == ["fail_on_kev"]


def test_fail_on_kev_without_any_kev_source_is_a_coverage_gap(trivy_report):
    findings = scanner_trivy.normalize(trivy_report, "rootfs")
    coverage, notes, meta = _run(_params(fail_on_kev=True), findings)
    assert not coverage.complete and meta == {} and notes == []
    assert coverage.missed[0]["item"] == "kev data" and "give kev_catalog" in coverage.missed[0]["reason"]
    # Strict twins: Grype's v6 DB is a KEV source; zero vulnerabilities leave nothing to judge.
    grype_findings = scanner_grype.normalize(_grype(), "dir")
    assert _run(_params(fail_on_kev=True), grype_findings)[0].complete
    assert _run(_params(fail_on_kev=True), [])[0].complete
    assert _run(_params(), findings)[0].complete  # no KEV rule, no KEV data needed


def test_fail_on_epss_needs_an_epss_source_and_the_file_wins(tmp_path, trivy_report):
    findings = scanner_trivy.normalize(trivy_report, "rootfs")
    coverage = _run(_params(fail_on_epss=0.5), findings)[0]
    assert not coverage.complete and coverage.missed[0]["item"] == "epss data"
    epss = _epss(tmp_path / "e.csv.gz", [("CVE-2099-0001", "0.62", "0.98")], compress=True)
    coverage, notes, meta = _run(_params(fail_on_epss=0.5, epss_scores=epss), findings)
    assert coverage.complete and meta["epss_scores"]["score_date"] == "2099-01-15T00:00:00+0000"
    assert _by_id(findings)["CVE-2099-0001"]["details"]["risk"]["epss"] == {"score": 0.62, "percentile": 0.98}
    assert "1 of 2 open vulnerability finding(s) scored" in notes[0]
    assert "cannot judge 1 finding(s) without an EPSS score (first: CVE-2099-1000)" in notes[1]
    assert Gate(fail_on_epss=0.5).decide(findings, coverage)["failing_ids"] == ["CVE-2099-0001"]
    # Grype's own EPSS counts as a source; the playbook's file replaces its score.
    grype_findings = scanner_grype.normalize(_grype(), "dir")
    assert _run(_params(fail_on_epss=0.5), grype_findings)[0].complete
    _run(_params(epss_scores=epss), grype_findings)
    assert _by_id(grype_findings)["CVE-2099-0001"]["details"]["risk"]["epss"]["score"] == 0.62


def test_bad_risk_files_fail_before_the_scan(tmp_path):
    """Both files are checked when RiskFiles is built, before image_scan starts a scanner."""
    bad = tmp_path / "kev.json"
    bad.write_text('{"catalogVersion": "x"}')
    with pytest.raises(InputError, match="is not a KEV catalogue"):
        risk.RiskFiles(_params(kev_catalog=str(bad)))
    wrong = _epss(tmp_path / "e.csv", [], header="cve,score\n")
    with pytest.raises(InputError, match="is not an EPSS CSV"):
        risk.RiskFiles(_params(epss_scores=wrong))
    # the header check reads no rows: a damaged row deep in the file is found when the rows are read
    late = _epss(tmp_path / "late.csv", [("CVE-2099-0001", "0.5", "0.5"), ("CVE-2099-0002", "x", "0.5")])
    files = risk.RiskFiles(_params(epss_scores=late))
    with pytest.raises(InputError, match="line 4: epss 'x'"):
        files.enrich([_vuln("CVE-2099-0002")], Coverage("targets").add(), [])
