"""findings_report: aggregation counts, attribution, coverage of the inputs, gate, HTML escaping and
self-containment, idempotent output."""

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding
from ansible_collections.ainative.security.plugins.module_utils.reporting import aggregate as agg
from ansible_collections.ainative.security.plugins.module_utils.reporting import html as report_html
from ansible_collections.ainative.security.plugins.module_utils.reporting.inputs import Inputs, report_from_result
from ansible_collections.ainative.security.plugins.modules import findings_report

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quoted" \u2028 </script>'


def _f(control, fid, severity, status="open", target="t", **kwargs):
    return make_finding(control, kwargs.pop("kind", "misconfiguration"), fid, severity, "title of %s" % fid,
                        target=target, status=status, **kwargs)


def _sources():
    return [
        {"control": "image_scan", "verdict": "fail", "notes": ["scanned 1 image"],
         "findings": [_f("image_scan", "CVE-1", "CRITICAL", kind="vulnerability"),
                      _f("image_scan", "CVE-2", "HIGH", status="ignored", kind="vulnerability")]},
        {"control": "dataset_integrity", "host": "web1", "verdict": "findings", "notes": [],
         "findings": [_f("dataset_hash_verify", "dataset_file_mismatch", "HIGH", kind="integrity", target="/d")]},
        {"control": "dataset_integrity", "host": "web2", "verdict": "pass", "notes": [],
         "findings": [_f("dataset_hash_verify", "dataset_file_mismatch", "HIGH", kind="integrity", target="/d")]},
        {"control": "cloudtrail_hunt", "verdict": "findings", "notes": [],
         "findings": [_f("cloudtrail_hunt", "root_login", "MEDIUM", kind="detection",
                         details={"account": "111122223333"}),
                      _f("s3_encryption_assert", "s3_no_kms", "LOW", kind="encryption",
                         location={"resource": "arn:aws:kms:us-east-1:444455556666:key/abc"})]},
        {"control": "vault_dynamic_creds", "verdict": "pass", "notes": [], "findings": []},
    ]


def _aggregate(sources, default_host="localhost"):
    inputs = Inputs(Coverage("reports"))
    inputs.add_items(sources)
    findings, built = agg.aggregate(inputs.sources, default_host)
    return inputs, findings, built


@pytest.fixture
def build(run_module, tmp_path):
    """Run the module over ``sources`` (passed as inputs); the result and the written documents."""
    def _build(sources, **args):
        dest = tmp_path / "out"
        result, failed = run_module(findings_report, dict(args, inputs=sources, dest=str(dest)))
        documents = {}
        for fmt, info in result.get("reports", {}).items():
            with open(info["path"], "rb") as handle:
                documents[fmt] = handle.read()
        result["documents"] = documents
        return result, failed
    return _build


def test_counts_are_sums_of_the_inputs_by_control_host_account_severity(build):
    sources = _sources()
    built, failed = build(sources, default_host="ctl")
    assert not failed
    assert built["summary"]["total"] == sum(len(s["findings"]) for s in sources) == 6
    assert built["summary"]["open"] == 5
    controls = built["controls"]
    assert set(controls) == {"image_scan", "dataset_integrity", "cloudtrail_hunt", "vault_dynamic_creds"}
    assert controls["dataset_integrity"]["total"] == 2 and controls["dataset_integrity"]["hosts"] == ["web1", "web2"]
    assert controls["dataset_integrity"]["verdict"] == "findings"  # worst of findings and pass
    assert controls["image_scan"]["verdict"] == "fail" and controls["image_scan"]["by_severity"]["CRITICAL"] == 1
    vault = controls["vault_dynamic_creds"]
    assert vault == {"verdict": "pass", "open": 0, "total": 0, "hosts": ["ctl"],
                     "by_severity": dict((s, 0) for s in agg.SEVERITY_ORDER), "coverage": vault["coverage"]}
    assert vault["coverage"] == [{"source": "inputs[4]", "complete": None, "incomplete": None}]
    assert sum(c["total"] for c in controls.values()) == 6
    assert sum(h["total"] for h in built["hosts"].values()) == 6
    assert built["hosts"]["web1"]["open"] == 1 and built["hosts"]["ctl"]["total"] == 4
    assert {a: e["total"] for a, e in built["accounts"].items()} == {"111122223333": 1, "444455556666": 1}
    for severity in agg.SEVERITY_ORDER:
        assert built["summary"]["by_severity"][severity] == sum(
            c["by_severity"][severity] for c in controls.values())
    # Under this report's gate (none here) the control does not fail; its own input said fail.
    assert built["stats"]["controls"]["image_scan"] == {"verdict": "findings", "reported": "fail", "open": 1}
    assert built["coverage"]["asked"] == built["coverage"]["examined"] == 5 and built["coverage"]["complete"]
    json.dumps(built["stats"])  # set_stats needs plain data
    doc = json.loads(built["documents"]["json"])
    assert doc["control"] == "findings_report" and doc["summary"]["total"] == 6
    assert doc["meta"]["by_control"]["dataset_integrity"]["total"] == 2
    assert doc["coverage"]["examined"] == 5 and doc["verdict"] == "findings"
    origins = sorted(f["details"]["origin"]["host"] for f in doc["findings"])
    assert origins == ["ctl", "ctl", "ctl", "ctl", "web1", "web2"]
    # The same finding on two hosts stays two findings, in two JUnit suites and two SARIF results.
    suites = ET.fromstring(built["documents"]["junit"]).findall("testsuite")
    assert {s.get("hostname") for s in suites if s.get("name").startswith("dataset_hash_verify")} == {"web1", "web2"}
    sarif = json.loads(built["documents"]["sarif"])
    hosts = [r["properties"].get("host") for run in sarif["runs"] for r in run["results"]]
    assert sorted(h for h in hosts if h) == origins
    assert all(run["invocations"][0]["executionSuccessful"] for run in sarif["runs"])


def test_gate_fails_only_when_asked_and_only_in_scope(build):
    sources = _sources()
    built, failed = build(sources)
    assert not failed and not built["gate"]["failed"] and built["verdict"] == "findings"
    built, failed = build(sources, fail_on="HIGH")
    assert failed and built["verdict"] == "fail" and built["gate"]["failing_count"] == 3
    assert built["gate"]["failing_ids"] == ["CVE-1", "dataset_file_mismatch"]
    junit = ET.fromstring(built["documents"]["junit"])
    assert junit.get("failures") == "3"
    scoped, failed = build(sources, fail_on="HIGH", fail_controls=["cloudtrail_hunt"])
    assert not failed and not scoped["gate"]["failed"] and scoped["verdict"] == "findings"
    verdict, failed = build(sources, fail_on_verdict=True)
    assert failed and verdict["gate"]["failed_controls"] == ["image_scan"]
    verdict, failed = build(sources, fail_on_verdict=True, fail_controls=["dataset_integrity"])
    assert not failed and not verdict["gate"]["failed"]
    waivers = [{"id": "dataset_file_mismatch", "reason": "known"}, {"id": "CVE-1", "reason": "accepted"}]
    ignored, failed = build(sources, fail_on="HIGH", ignore=waivers)
    assert not failed and ignored["summary"]["by_status"]["ignored"] == 4


def test_bad_inputs_are_named_and_missed(tmp_path):
    bad = {"control": "x", "findings": [{"id": "a", "control": "x"}]}
    inputs, findings, dummy = _aggregate([bad, dict(bad, findings=[dict(_f("x", "a", "HIGH"), severity="SUPER")]),
                                          "text"])
    reasons = [m["reason"] for m in inputs.coverage.missed]
    assert re.match(r"inputs\[0\] findings\[0\] is not in the findings model: missing kind", reasons[0])
    assert "unknown severity" in reasons[1] and "a str is not a report" in reasons[2]
    assert inputs.coverage.examined == 0 and not inputs.coverage.complete and not findings
    (tmp_path / "broken.json").write_text("{nope")
    inputs = Inputs(Coverage("reports"))
    inputs.read_dir(str(tmp_path))
    assert inputs.coverage.missed[0]["item"] == "broken.json"
    assert "broken.json is not a JSON report" in inputs.coverage.missed[0]["reason"]
    with pytest.raises(InputError, match="does not exist"):
        inputs.read_dir(str(tmp_path / "missing"))


def test_read_dir_misses_other_json_and_skips_its_own_output(build, run_module, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.json").write_text(json.dumps({"control": "a", "verdict": "pass", "findings": [_f("a", "1", "LOW")]}))
    (src / "vars.json").write_text(json.dumps({"x": 1}))
    args = {"src_dir": str(src), "dest": str(src), "accept_incomplete": "vars.json is not ours"}
    result, failed = run_module(findings_report, args)
    assert not failed and [i["source"] for i in result["inputs"]] == ["a.json"]
    again, failed = run_module(findings_report, args)
    assert not failed and [i["source"] for i in again["inputs"]] == ["a.json"] and not again["changed"]
    assert again["coverage"]["asked"] == 2 and again["coverage"]["missed"][0]["item"] == "vars.json"
    assert any("left out vars.json: not a findings report" in n for n in again["notes"])


def test_report_from_result_takes_registered_results_and_bare_lists(build):
    registered = {"changed": False, "findings": [_f("image_scan", "CVE-9", "LOW")], "summary": {},
                  "invocation": {"module_args": {"password": "x"}}}
    bare = [_f("falco_events", "rule", "HIGH", kind="runtime")]
    built, failed = build([registered, bare])
    assert not failed and set(built["controls"]) == {"image_scan", "falco_events"}
    assert built["summary"]["total"] == 2
    report = report_from_result(registered, host="web1", control="image_scan")
    assert sorted(report) == ["account", "control", "findings", "host", "notes", "verdict"]
    assert report_from_result({"skipped": True}, control="c")["verdict"] == "error"
    failed_task = report_from_result({"failed": True, "msg": "boom"}, control="c")
    assert failed_task["verdict"] == "error" and failed_task["notes"] == ["the task failed: boom"]
    gate_failed = report_from_result({"failed": True, "verdict": "fail", "findings": bare})
    assert gate_failed["verdict"] == "fail" and gate_failed["findings"] == bare
    with pytest.raises(InputError, match="loop"):
        report_from_result({"results": [], "changed": False})


def test_truncated_findings_make_the_input_incomplete():
    inputs, dummy, dummy2 = _aggregate([{"findings": [], "findings_truncated": True, "verdict": "findings"}])
    assert inputs.coverage.examined == 1 and not inputs.coverage.complete
    assert "max_findings" in inputs.coverage.missed[0]["reason"]


def test_same_input_same_bytes_and_generated_at_only_when_given(build):
    first = build(_sources())[0]["documents"]
    second = build(_sources())[0]
    assert not second["changed"] and second["documents"] == first
    for fmt, data in first.items():
        assert not re.search(rb"20\d\d-\d\d-\d\dT", data), fmt
    stamped = build(_sources(), generated_at="2030-01-02T03:04:05Z")[0]["documents"]
    assert b"2030-01-02T03:04:05Z" in stamped["html"] and b"2030-01-02T03:04:05Z" in stamped["json"]


class _Collector(HTMLParser):
    def __init__(self):
        HTMLParser.__init__(self)
        self.tags = []
        self.scripts = []
        self._in_script = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = dict(attrs)

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None

    def handle_data(self, data):
        if self._in_script is not None:
            self.scripts.append((self._in_script, data))


def test_html_escapes_hostile_content_and_loads_nothing_external(build):
    hostile = make_finding("image_scan", "vulnerability", EVIL, "HIGH", EVIL, target=EVIL,
                           location={"package": EVIL, "path": EVIL}, url="javascript:alert(1)")
    coverage = {"unit": EVIL, "examined": 0, "missed": [{"item": EVIL, "reason": EVIL}], "missed_count": 1,
                "complete": False, "gaps": [EVIL], "accepted_incomplete": EVIL}
    sources = [{"control": EVIL, "host": EVIL, "verdict": "fail", "notes": [EVIL], "coverage": coverage,
                "findings": [hostile, _f("image_scan", "CVE-3", "LOW", url="https://x.invalid/a")]}]
    html = build(sources)[0]["documents"]["html"].decode("utf-8")
    parser = _Collector()
    parser.feed(html)
    tags = [t for t, dummy in parser.tags]
    assert "img" not in tags and tags.count("script") == 2
    assert all(not name.startswith("on") for dummy, attrs in parser.tags for name in attrs)
    assert "<script>alert" not in html and "&lt;script&gt;alert(&quot;x&quot;)" in html
    data_attrs, data = parser.scripts[0]
    assert data_attrs == {"type": "application/json", "id": "report-data"}
    assert "<" not in data and ">" not in data and "&" not in data and "\u2028" not in data
    payload = json.loads(data)
    rows = [dict(zip(payload["columns"], values)) for values in payload["findings"]]
    assert rows[0]["title"] == EVIL  # the page shows the text as text (textContent)
    assert rows[0]["url"] is None  # javascript: links are dropped
    assert rows[1]["url"] == "https://x.invalid/a"
    # Self-contained: nothing loads from anywhere (no src, no <link>), and a CSP that forbids loading anything.
    # Advisory links are plain http(s) anchors a reader may follow, never loaded, never javascript:.
    assert not re.search(r"""src\s*=\s*["']?(https?:|//)""", html) and "<link" not in html
    anchors = [a for t, a in parser.tags if t == "a"]
    assert anchors and all(re.match(r"^(https?://|#)", a["href"]) for a in anchors), anchors
    assert all(a.get("rel") == "noopener noreferrer" for a in anchors if not a["href"].startswith("#"))
    csp = [a for t, a in parser.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"][0]["content"]
    assert csp.startswith("default-src 'none'") and "'unsafe-inline'" not in csp
    script = parser.scripts[1][1]
    assert report_html._csp_hash(script) in csp


def test_chart_has_one_segment_per_control_and_severity_with_counts(build):
    built = build(_sources())[0]
    html = built["documents"]["html"].decode("utf-8")
    segments = re.findall(r'data-control="([^"]+)" data-severity="([A-Z]+)" data-count="(\d+)"', html)
    assert sum(int(n) for dummy, dummy2, n in segments) == built["summary"]["open"]
    assert ("image_scan", "CRITICAL", "1") in segments


def test_html_shows_each_control_verdict_and_coverage(build):
    sources = _sources()
    sources[4]["coverage"] = {"unit": "credentials", "asked": 1, "examined": 1, "missed": [], "missed_count": 0,
                              "complete": True, "gaps": [], "accepted_incomplete": None}
    sources[1]["coverage"] = {"unit": "files", "asked": 3, "examined": 2, "missed_count": 1, "complete": False,
                              "missed": [{"item": "/d/x", "reason": "permission denied"}],
                              "gaps": ["could not examine 1 files"], "accepted_incomplete": "read-only mount"}
    html = build(sources)[0]["documents"]["html"].decode("utf-8")
    row = re.search(r'<tr data-name="vault_dynamic_creds">(.*?)</tr>', html).group(1)
    assert "v-pass" in row and "examined 1 credentials of 1" in row
    row = re.search(r'<tr data-name="dataset_integrity">(.*?)</tr>', html).group(1)
    assert "missed 1 (/d/x: permission denied)" in row and "incomplete accepted: read-only mount" in row
    assert "no coverage reported" in row  # the web2 report declared none
    assert 'id="coverage" data-complete="true"' in html
