"""The findings report page a security lead acts on, opened in headless Chromium: the verdict banner and the
controls agree with the JSON report's gate, the counts and the trend on the page are the JSON's, the
expandable findings carry the real integrity digests and the risk data, a forged previous report cannot
hide an open finding, and 100,000 findings stay one usable page. Screenshots stay in tests/output/."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from ansible_collections.ainative.security.plugins.module_utils.core import reports as report_writer
from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding, make_risk, summarize
from ansible_collections.ainative.security.plugins.module_utils.reporting import aggregate
from ansible_collections.ainative.security.plugins.module_utils.reporting import html as report_html
from lab import datasets

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUTPUT = os.path.join(ROOT, "tests", "output")
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="the chromium binary is absent (setup/apt.d/report.txt installs it)")
COMMIT = "8f0ba7e1712e0fac3bd4f0f5b8140e0d94c0e0a"
SCANNER = {"name": "trivy", "version": "0.59.1", "db": {"version": 2, "updated_at": "2026-11-30T06:12:44Z"}}
CVSS = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def _vuln(number, severity, kev=False):
    """A vulnerability as image_scan reports it, with the risk data (CVSS, EPSS, KEV) of issue 18."""
    return make_finding("image_scan", "vulnerability", "CVE-2026-%04d" % number, severity, "libfoo overflow %d" % number,
                        target="registry.example/app:1.0",
                        location={"package": "libfoo%d" % number, "installed_version": "1.2.0", "fixed_version": "1.2.%d" % number},
                        url="https://avd.aquasec.com/nvd/cve-2026-%04d" % number,
                        details={"scanner": "trivy", "fixable": True, "risk": make_risk(
                            cvss=[{"version": "3.1", "score": 9.8, "vector": CVSS, "source": "nvd"}],
                            epss=0.4213, epss_percentile=0.9712, kev=kev)})


def _image_report(path, findings):
    coverage = {"unit": "targets", "asked": 1, "examined": 1, "complete": True, "missed": [], "missed_count": 0,
                "gaps": [], "accepted_incomplete": None}
    with open(path, "wb") as handle:  # as image_scan writes it: its own gate failed (verdict fail)
        report_writer.stream_json(handle, findings, "image_scan", verdict_="fail", coverage=coverage,
                                  meta={"scanner": SCANNER})


def _chromium(*args, url):
    profile = tempfile.mkdtemp(prefix="chromium-")
    try:
        argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]
        proc = subprocess.run(argv + list(args) + [url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                              check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    console = [line for line in proc.stderr.decode("utf-8", "replace").splitlines() if ":CONSOLE" in line]
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.decode("utf-8", "replace"), console


_DOMS = {}


def _dom(path, fragment=""):
    """The DOM after the page's script ran (each page and fragment opened once per session)."""
    if (path, fragment) in _DOMS:
        return _DOMS[(path, fragment)]
    dom, console = _chromium("--dump-dom", url="file://%s%s" % (path, fragment))
    assert not console, console  # no script error, no CSP violation, no failed load
    assert 'data-rendered="true"' in dom
    _DOMS[(path, fragment)] = dom
    return dom


def _screenshot(path, name):
    os.makedirs(OUTPUT, exist_ok=True)
    shot = os.path.join(OUTPUT, name)
    if os.path.exists(shot):
        os.unlink(shot)
    dummy, console = _chromium("--screenshot=" + shot, "--window-size=1280,2000", "--hide-scrollbars",
                               url="file://" + path)
    assert not console, console
    with open(shot, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    return shot


def _modules(work, calls):
    """Run the modules as Ansible runs them (``python <module>.py <args file>``), in parallel; their results."""
    procs = []
    for index, (name, args) in enumerate(calls):
        path = os.path.join(work, "args-%s-%d-%d.json" % (name, index, len(os.listdir(work))))
        with open(path, "w") as handle:
            json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
        procs.append(subprocess.Popen([PYTHON, os.path.join(ROOT, "plugins", "modules", name + ".py"), path],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=work,
                                      env=dict(os.environ, PYTHONPATH=COLLECTIONS)))
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        text = out.decode("utf-8", "replace")
        assert "{" in text, err.decode("utf-8", "replace")[-2000:]
        results.append(json.loads(text[text.index("{"):]))
    return results


def _read(path):
    with open(path) as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """Yesterday's run (the previous report), today's without a gate, today's gated on CRITICAL, and the two
    attacks on the trend: a forged previous report and one that is no findings_report at all."""
    work = str(tmp_path_factory.mktemp("report-page"))
    train = os.path.join(work, "data", "train")
    datasets.make_tree(train, files=12, min_size=64, max_size=2048, per_dir=6, seed="report-page")
    datasets.tamper(train, os.path.join(work, "data", "tampered"))
    src0, src1 = os.path.join(work, "src0"), os.path.join(work, "src1")
    os.makedirs(src0)
    os.makedirs(src1)
    # Yesterday: CVE 1 (CRITICAL, KEV), 2 (HIGH) and 3 (MEDIUM). Today: 2 is fixed, 4 (LOW) is new.
    _image_report(os.path.join(src0, "image_scan.json"), [_vuln(1, "CRITICAL", kev=True), _vuln(2, "HIGH"), _vuln(3, "MEDIUM")])
    today = [_vuln(1, "CRITICAL", kev=True), _vuln(3, "MEDIUM"), _vuln(4, "LOW")]
    _image_report(os.path.join(src1, "image_scan.json"), today)
    # The forged previous report: today's CRITICAL finding "fixed", nothing open.
    forged_finding = dict(_vuln(1, "CRITICAL", kev=True), status="fixed")
    forged = os.path.join(work, "forged.json")
    with open(forged, "wb") as handle:
        report_writer.stream_json(handle, [forged_finding], "findings_report", verdict_="pass")
    manifest = os.path.join(work, "data", "train.json")
    out = dict((name, os.path.join(work, name)) for name in ("yesterday", "today", "gated", "forged", "foreign"))
    _modules(work, [("dataset_hash_verify", {"path": train, "manifest": manifest, "mode": "create"})])
    verified = _modules(work, [("dataset_hash_verify", {
        "path": os.path.join(work, "data", "tampered"), "manifest": manifest, "report_only": True,
        "reports": {"json": os.path.join(src0, "dataset_integrity.json")}})])[0]
    assert verified["verdict"] == "fail" and not verified.get("failed"), verified["msg"]
    shutil.copy(os.path.join(src0, "dataset_integrity.json"), src1)
    _modules(work, [("findings_report", {"src_dir": src0, "dest": out["yesterday"], "generated_at": "2026-11-30T06:00:00Z"})])
    today_args = {"src_dir": src1, "dest": out["today"], "previous": os.path.join(out["yesterday"], "findings-report.json"),
                  "commit": COMMIT, "generated_at": "2026-12-01T06:00:00Z"}
    names = ("today", "gated", "forged", "foreign")
    runs = _modules(work, [
        ("findings_report", today_args),
        ("findings_report", dict(today_args, dest=out["gated"], fail_on="CRITICAL", report_only=True)),
        ("findings_report", dict(today_args, dest=out["forged"], previous=forged, fail_on="CRITICAL", report_only=True)),
        ("findings_report", dict(today_args, dest=out["foreign"], previous=os.path.join(src0, "image_scan.json")))])
    results = dict(zip(names, runs))
    docs = dict((name, _read(os.path.join(path, "findings-report.json"))) for name, path in out.items()
                if name != "foreign")
    return {"work": work, "out": out, "results": results, "docs": docs, "today": today}


def _banner(dom):
    match = re.search(r'<section class="banner b-([a-z]+)" id="verdict" data-verdict="([a-z]+)" data-failed="([a-z]+)">'
                      r'<div class="word">([A-Z]+)</div>(.*?)</section>', dom)
    assert match, "no verdict banner"
    return match.groups()


def _control_rows(dom):
    """{control: (status under this gate, the verdict its own report gave)} from the controls table."""
    rows = {}
    for name, cells in re.findall(r'<tr data-name="([^"]+)">(.*?)</tr>', dom):
        status = re.findall(r'<span class="verdict v-([a-z]+)">', cells)
        reported = re.findall(r'<span class="verdict" data-reported="([a-z]+)">', cells)
        if status:
            rows[name] = (status[0], reported[0])
    return rows


def _count(dom, key):
    match = re.search(r'data-count-of="%s">(\d+)<' % key, dom)
    assert match, "the page's script did not fill the %s count" % key
    return int(match.group(1))


def test_no_gate_banner_and_rows_agree_with_the_json(pages):
    """No gate set: the banner says FINDINGS and no control row says fail, though image_scan's own report did."""
    doc = pages["docs"]["today"]
    assert doc["verdict"] == "findings" and doc["gate"]["fail_on"] == "none"
    dom = _dom(os.path.join(pages["out"]["today"], "index.html"))
    colour, verdict, failed, word, reason = _banner(dom)
    assert (colour, verdict, failed, word) == ("findings", "findings", "false", "FINDINGS")
    assert "no gate rule is set" in reason
    rows = _control_rows(dom)
    assert set(rows) == set(doc["meta"]["by_control"]) == {"image_scan", "dataset_hash_verify"}
    for control, (status, reported) in rows.items():
        assert status == doc["gate"]["controls"][control]["verdict"] == "findings", control
        assert reported == doc["meta"]["by_control"][control]["verdict"] == "fail", control  # shown, labelled
    sections = dict(re.findall(r'<section class="control c-[a-z]+" data-control="([^"]+)" data-verdict="([a-z]+)">', dom))
    assert sections == {"image_scan": "findings", "dataset_hash_verify": "findings"}


def test_gated_banner_names_the_rule_and_the_failing_control(pages):
    doc = pages["docs"]["gated"]
    result = pages["results"]["gated"]
    assert doc["verdict"] == result["verdict"] == "fail" and result["gate"]["failing_ids"] == ["CVE-2026-0001"]
    dom = _dom(os.path.join(pages["out"]["gated"], "index.html"))
    colour, verdict, failed, word, reason = _banner(dom)
    assert (colour, verdict, failed, word) == ("fail", "fail", "true", "FAIL")
    assert "match fail_on CRITICAL: CVE-2026-0001" in reason and doc["gate"]["reason"] in reason
    assert 'data-rule="fail_on">fail_on CRITICAL' in reason and 'data-rule="report_only"' in reason
    rows = _control_rows(dom)
    assert rows["image_scan"][0] == doc["gate"]["controls"]["image_scan"]["verdict"] == "fail"
    assert rows["dataset_hash_verify"][0] == doc["gate"]["controls"]["dataset_hash_verify"]["verdict"] == "findings"
    _screenshot(os.path.join(pages["out"]["gated"], "index.html"), "report_page_fail.png")


def test_counts_scope_and_expandable_findings_match_the_json(pages):
    doc = pages["docs"]["today"]
    dom = _dom(os.path.join(pages["out"]["today"], "index.html"))
    summary = doc["summary"]
    assert _count(dom, "total") == summary["total"] == len(doc["findings"])
    assert _count(dom, "open") == summary["open"]
    for severity, count in summary["by_severity"].items():
        header = '<th class="n sev-%s">%s</th>' % (severity, severity)
        if count:
            assert _count(dom, severity) == count and header in dom, severity
        else:  # a severity no finding has gets no column
            assert header not in dom, severity
    assert not summary["by_severity"]["INFO"] and not summary["by_severity"]["UNKNOWN"]
    assert 'data-count-of="INFO"' not in dom and 'data-count-of="UNKNOWN"' not in dom
    # Scope: hosts, time, collection, commit, the scanner and its DB, as in the JSON's meta.scope.
    scope = doc["meta"]["scope"]
    assert scope["commit"] == COMMIT and '<span id="scope-commit">%s</span>' % COMMIT in dom
    assert scope["hosts"] == ["localhost"] and scope["generated_at"] == "2026-12-01T06:00:00Z"
    assert "ainative.security %s" % scope["collection"]["version"] in dom
    assert "trivy 0.59.1, DB 2 updated 2026-11-30T06:12:44Z" in dom
    # The integrity finding expands to the manifest's digest and the one read from disk (real, from the module).
    mismatch = [f for f in doc["findings"] if f["id"] == "dataset_file_mismatch"][0]
    expected, actual = mismatch["details"]["expected"], mismatch["details"]["actual"]
    assert re.match(r"^[0-9a-f]{64}$", expected) and re.match(r"^[0-9a-f]{64}$", actual) and expected != actual
    for value in (expected, actual):
        assert re.search(r"<dt>(expected|actual)</dt><dd>%s</dd>" % value, dom), value
    # The risk data of the KEV CRITICAL: CVSS with its vector, EPSS and its percentile, KEV; fixed version.
    assert "<dt>CVSS</dt><dd>9.8 %s</dd>" % CVSS in dom
    assert "<dt>EPSS</dt><dd>42.13% (percentile 97.12%)</dd>" in dom
    assert "<dt>known exploited (KEV)</dt><dd>yes</dd>" in dom and "<dt>fixed version</dt><dd>1.2.1</dd>" in dom
    assert dom.count("<details") >= len(doc["findings"]) * 2  # every row and every control sample expands
    # The table's rows expand too (built by the page's script; "expand" opens every row of the page).
    dom = _dom(os.path.join(pages["out"]["today"], "index.html"), "#severity=CRITICAL&expand")
    table = dom.split('id="findings-body"')[1]
    assert re.findall(r'<tr data-severity="([A-Z]+)"', table) == ["CRITICAL"]
    assert "<details open=\"\">" in table and "<dt>CVSS</dt><dd>9.8 %s</dd>" % CVSS in table
    assert "<dt>EPSS</dt><dd>42.13% (percentile 97.12%)</dd>" in table and "<dt>known exploited (KEV)</dt><dd>yes</dd>" in table
    assert "<dt>fixed version</dt><dd>1.2.1</dd>" in table and "<dt>location</dt><dd>libfoo1 1.2.0; fixed in 1.2.1</dd>" in table
    # The severity filter (from the URL) narrows the table to that severity.
    dom = _dom(os.path.join(pages["out"]["today"], "index.html"), "#severity=MEDIUM")
    medium = [f for f in doc["findings"] if f["severity"] == "MEDIUM"]
    assert re.findall(r'<tr data-severity="([A-Z]+)"', dom) == ["MEDIUM"] * len(medium) and medium


def test_trend_on_the_page_matches_the_json_and_the_result(pages):
    doc = pages["docs"]["today"]
    result = pages["results"]["today"]["trend"]
    trend = doc["meta"]["trend"]
    still_open = doc["summary"]["open"] - 1
    assert trend["counts"] == result["counts"] == {"new": 1, "fixed": 1, "waived": 0, "still_open": still_open}
    assert [b["id"] for b in result["new"]] == ["CVE-2026-0004"] and [b["id"] for b in trend["fixed"]] == ["CVE-2026-0002"]
    assert trend["previous_generated_at"] == "2026-11-30T06:00:00Z"
    new_fp = [f["fingerprint"] for f in doc["findings"] if f["id"] == "CVE-2026-0004"]
    assert trend["new"] == new_fp == [b["fingerprint"] for b in result["new"]]
    dom = _dom(os.path.join(pages["out"]["today"], "index.html"))
    for name, count in trend["counts"].items():
        assert re.search(r'data-trend-count="%s">%d<' % (name, count), dom), name
    assert _count(dom, "trend-new") == trend["counts"]["new"]
    dom = _dom(os.path.join(pages["out"]["today"], "index.html"), "#trend=new")
    assert re.findall(r'<a [^>]*>(CVE-[0-9-]+)</a>', dom.split('id="findings-body"')[1]) == ["CVE-2026-0004"]
    _screenshot(os.path.join(pages["out"]["today"], "index.html"), "report_page_trend.png")


def test_forged_previous_report_hides_no_open_finding_and_does_not_move_the_gate(pages):
    """The attack: the previous report claims today's KEV CRITICAL was fixed. It is still open now, counted
    new (not hidden), and the gate fails on it exactly as without that previous report."""
    forged = pages["results"]["forged"]
    honest = pages["results"]["gated"]
    assert forged["trend"]["counts"]["new"] == honest["summary"]["open"] > 3  # every open finding is new
    assert forged["trend"]["counts"]["fixed"] == 0 and forged["trend"]["counts"]["still_open"] == 0
    assert "CVE-2026-0001" in [b["id"] for b in forged["trend"]["new"]]
    assert forged["gate"]["failed"] and forged["gate"]["failing_ids"] == honest["gate"]["failing_ids"] == ["CVE-2026-0001"]
    assert forged["summary"] == honest["summary"] and forged["verdict"] == honest["verdict"] == "fail"
    # Strict twin: the honest previous report had the CRITICAL open, so it is still open, not new.
    today = pages["results"]["today"]["trend"]
    assert "CVE-2026-0001" in [b["id"] for b in today["still_open"]]
    assert "CVE-2026-0001" not in [b["id"] for b in today["new"]]
    dom = _dom(os.path.join(pages["out"]["forged"], "index.html"))
    assert _banner(dom)[1] == "fail" and re.search(r'data-trend-count="new">%d<' % honest["summary"]["open"], dom)


def test_previous_that_is_no_findings_report_is_one_clear_line(pages):
    foreign = pages["results"]["foreign"]
    assert foreign["failed"] and "Traceback" not in foreign["msg"] and "\n" not in foreign["msg"]
    assert "is not a findings_report JSON report" in foreign["msg"] and "image_scan.json" in foreign["msg"]
    assert not os.path.exists(os.path.join(pages["out"]["foreign"], "index.html"))  # failed before writing


def test_100000_findings_page_is_paged_searchable_and_filterable(tmp_path):
    """The page of the bench's scale: one page of rows in the DOM, search and severity filter over all."""
    total = 100000
    severities = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
    findings = [make_finding("image_scan", "vulnerability", "CVE-2024-%06d" % i, severities[i % 4], "title %d" % i,
                             target="img:%d" % (i % 50), location={"package": "pkg%d" % i, "fixed_version": "2"},
                             url="https://avd.aquasec.com/nvd/cve-2024-%06d" % i) for i in range(total)]
    agg = aggregate.aggregate([{"control": "image_scan", "source": "image_scan.json", "findings": findings}])[1]
    summary = summarize(findings)
    gate = {"fail_on": "none", "failed": False, "report_only": False, "reason": "no gate", "failing": 0}
    page = str(tmp_path / "index.html")
    started = time.time()
    with open(page, "wb") as handle:
        report_html.stream_html(handle, findings, agg, summary, gate, "findings",
                                {"complete": True, "examined": 1, "unit": "reports", "asked": 1}, "scale", max_rows=500)
    written = time.time() - started
    started = time.time()
    # ids CVE-2024-000000..009999 match, a quarter of them HIGH: 2,500 rows, pages of 500, the third shown.
    dom = _dom(page, "#filter=cve-2024-00&severity=HIGH&sort=id&page=3")
    opened = time.time() - started
    matching = sorted(f["id"] for f in findings if f["id"].startswith("CVE-2024-00") and f["severity"] == "HIGH")
    assert len(matching) == 2500
    assert 'data-rows="500" data-matching="2500" data-page="3" data-pages="5"' in dom
    ids = re.findall(r'<tr data-severity="HIGH" data-status="open">(?:<td[^>]*>.*?</td>){4}<td><a [^>]*>([^<]*)', dom)
    assert ids == matching[1000:1500]
    print("100,000 findings: page written in %.2f s, opened and filtered in Chromium in %.2f s" % (written, opened))
