"""Streamed reports: the SARIF cap, the atomic publish (a failed or killed write leaves the old report),
and the compare-while-writing that keeps an unchanged report untouched."""

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.ainative.security.plugins.module_utils.core import fileio, reports
from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding

SEVERITIES = ("LOW", "CRITICAL", "MEDIUM", "HIGH", "INFO")


def _findings(count, control="image_scan", ignored_every=0):
    findings = []
    for i in range(count):
        finding = make_finding(control, "vulnerability", "CVE-%d" % (i % 40), SEVERITIES[i % len(SEVERITIES)],
                               "title %d" % i, target="img:%d" % i, location={"package": "p%d" % i})
        if ignored_every and i % ignored_every == 0:
            finding["status"] = "ignored"
        findings.append(finding)
    return findings


def test_sarif_keeps_the_most_severe_open_results_per_run_and_says_how_many_were_left_out():
    # CRITICAL ones are ignored here: the open HIGH ones come first.
    findings = _findings(50) + _findings(3, control="s3_encryption_assert")
    for finding in findings:
        if finding["severity"] == "CRITICAL" and finding["control"] == "image_scan":
            finding["status"] = "ignored"
    log = json.loads(reports.render_sarif(findings, coverage={"complete": True, "gaps": []}, max_results=12))
    runs = dict((run["automationDetails"]["id"], run) for run in log["runs"])
    capped, small = runs["image_scan/"], runs["s3_encryption_assert/"]
    assert len(capped["results"]) == 12
    assert capped["properties"] == {"resultsTotal": 50, "resultsOmitted": 38, "resultsLimit": 12}
    kept = [r["properties"] for r in capped["results"]]
    assert [k["severity"] for k in kept] == ["HIGH"] * 10 + ["MEDIUM"] * 2
    assert all(k["status"] == "open" for k in kept)
    notes = capped["invocations"][0]["toolExecutionNotifications"]
    assert any(n["level"] == "warning" and "38 of 50 results left out" in n["message"]["text"] for n in notes)
    # Rules are those of the kept results only, and every ruleIndex points at its rule.
    rules = capped["tool"]["driver"]["rules"]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in capped["results"])
    assert len(rules) == len(set(r["ruleId"] for r in capped["results"]))
    assert len(small["results"]) == 3 and "properties" not in small
    # With fewer open findings than the cap, the most severe ignored ones fill it.
    few = json.loads(reports.render_sarif(_findings(10, ignored_every=2), max_results=7))["runs"][0]
    statuses = [r["properties"]["status"] for r in few["results"]]
    assert statuses.count("open") == 5 and len(statuses) == 7


def test_sarif_default_cap_is_githubs_5000_results_per_run():
    findings = _findings(reports.SARIF_MAX_RESULTS + 30)
    run = json.loads(reports.render_sarif(findings))["runs"][0]
    assert len(run["results"]) == reports.SARIF_MAX_RESULTS == 5000
    assert run["properties"]["resultsOmitted"] == 30
    assert not [n for n in run.get("invocations", [{}])[0].get("toolExecutionNotifications", []) if n["level"] == "error"]
    uncapped = json.loads(reports.render_sarif(findings, max_results=0))["runs"][0]
    assert len(uncapped["results"]) == len(findings) and "properties" not in uncapped


def test_streamed_formats_equal_the_rendered_bytes(tmp_path):
    findings = _findings(30, ignored_every=4)
    for fmt in reports.FORMATS:
        path = str(tmp_path / ("r." + fmt))
        written = reports.write_reports({fmt: path}, findings, control="image_scan", fail_on="HIGH")
        assert written[fmt]["changed"]
        with open(path, "rb") as handle:
            data = handle.read()
        assert data == reports.render(fmt, findings, control="image_scan", fail_on="HIGH")
    doc = json.loads((tmp_path / "r.json").read_text())
    assert len(doc["findings"]) == 30 and doc["summary"]["total"] == 30
    root = ET.fromstring((tmp_path / "r.junit").read_bytes())
    assert root.get("tests") == "30" and int(root.get("failures")) == sum(
        1 for f in findings if f["status"] == "open" and f["severity"] in ("HIGH", "CRITICAL"))


def test_a_failed_write_leaves_the_previous_report_and_no_temporary_file(tmp_path):
    path = str(tmp_path / "r.json")
    old = reports.render_json(_findings(5), "image_scan")
    assert reports.write_report(path, old) is True

    def half_then_fail(out):
        out.write(b'{"half": ')
        out.write(b"x" * (3 << 20))  # past the sink's buffer: part of it is in the temporary file
        raise OSError(28, "No space left on device")

    with pytest.raises(InputError) as raised:
        reports.write_report(path, half_then_fail)
    assert "cannot write report %s" % path in raised.value.msg
    with open(path, "rb") as handle:
        assert handle.read() == old
    assert os.listdir(str(tmp_path)) == ["r.json"]


def test_a_killed_writer_leaves_the_previous_report_whole(tmp_path):
    path = str(tmp_path / "r.json")
    fileio.atomic_write(path, b"previous report\n")
    script = (
        "import sys, time\n"
        "from ansible_collections.ainative.security.plugins.module_utils.core.fileio import atomic_writer\n"
        "with atomic_writer(sys.argv[1]) as out:\n"
        "    out.write(b'x' * (1 << 20)); out.flush(); print('writing', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, path], stdout=subprocess.PIPE, env=dict(
        os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)))
    try:
        assert proc.stdout.readline() == b"writing\n"
        temporary = [name for name in os.listdir(str(tmp_path)) if name != "r.json"]
        assert len(temporary) == 1 and temporary[0].startswith(".r.json.")
        assert os.path.getsize(str(tmp_path / temporary[0])) == 1 << 20
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with open(path, "rb") as handle:
        assert handle.read() == b"previous report\n"  # the rename never happened; the hidden temp is all that is left


def test_unchanged_report_is_not_rewritten_and_check_mode_writes_nothing(tmp_path):
    path = str(tmp_path / "r.sarif")
    findings = _findings(20)
    assert reports.write_reports({"sarif": path}, findings)["sarif"]["changed"]
    before = os.stat(path)
    time.sleep(0.01)
    assert not reports.write_reports({"sarif": path}, findings)["sarif"]["changed"]
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(os.listdir(str(tmp_path))) == ["r.sarif"]
    # A longer and a shorter content are both changes; check mode only says so.
    for changed in (findings + _findings(1, control="other"), findings[:19]):
        assert reports.write_reports({"sarif": path}, changed, check_mode=True)["sarif"]["changed"]
        assert os.stat(path).st_mtime_ns == before.st_mtime_ns
    missing = str(tmp_path / "new" / "r.json")
    assert reports.write_report(missing, b"{}\n", check_mode=True) and not os.path.exists(missing)


def test_atomic_writer_sets_the_mode_through_the_descriptor(tmp_path):
    path = str(tmp_path / "creds")
    with fileio.atomic_writer(path, mode=0o600) as out:
        out.write(b"secret")
    assert os.stat(path).st_mode & 0o777 == 0o600
    written = fileio.write_stream_if_changed(path, lambda out: out.write(b"other"), mode=0o640)
    assert written == {"changed": True} and os.stat(path).st_mode & 0o777 == 0o640


def test_write_reports_publishes_the_formats_and_extra_files_as_one_set(tmp_path, monkeypatch):
    findings = _findings(10)
    outputs = {"json": str(tmp_path / "r.json"), "sarif": str(tmp_path / "r.sarif"), "junit": str(tmp_path / "r.xml")}
    sbom = str(tmp_path / "img.cdx.json")
    written = reports.write_reports(outputs, findings, control="image_scan", extra={"cyclonedx": (sbom, b"{}\n")})
    assert sorted(written) == ["cyclonedx", "json", "junit", "sarif"] and all(i["changed"] for i in written.values())
    before = dict((name, (tmp_path / name).read_bytes()) for name in os.listdir(str(tmp_path)))
    # One format failing half-way leaves every file of the set as it was, and nothing of ours beside them.
    real = reports.stream

    def failing_junit(out, fmt, *args, **kwargs):
        if fmt == "junit":
            raise OSError(28, "No space left on device")
        return real(out, fmt, *args, **kwargs)

    monkeypatch.setattr(reports, "stream", failing_junit)
    with pytest.raises(InputError) as raised:
        reports.write_reports(outputs, _findings(12), control="image_scan", extra={"cyclonedx": (sbom, b"[]\n")})
    assert "No space left on device" in raised.value.msg
    assert dict((name, (tmp_path / name).read_bytes()) for name in os.listdir(str(tmp_path))) == before
