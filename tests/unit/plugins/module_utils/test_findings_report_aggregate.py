"""findings_report: aggregation counts, attribution, gate, HTML escaping and self-containment, idempotent output."""

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from ansible_collections.ainative.security.plugins.module_utils import findings_report as fr
from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quoted" \u2028 </script>'


def _f(control, fid, severity, status="open", target="t", **kwargs):
    return make_finding(control, kwargs.pop("kind", "misconfiguration"), fid, severity, "title of %s" % fid,
                        target=target, status=status, **kwargs)


def _sources():
    return [
        {"source": "image_scan.json", "control": "image_scan", "host": None, "account": None, "verdict": "fail",
         "notes": ["scanned 1 image"],
         "findings": [_f("image_scan", "CVE-1", "CRITICAL", kind="vulnerability"),
                      _f("image_scan", "CVE-2", "HIGH", status="ignored", kind="vulnerability")]},
        {"source": "dataset_integrity-web1.json", "control": "dataset_integrity", "host": "web1", "account": None,
         "verdict": "findings", "notes": [],
         "findings": [_f("dataset_hash_verify", "dataset_file_mismatch", "HIGH", kind="integrity", target="/d")]},
        {"source": "dataset_integrity-web2.json", "control": "dataset_integrity", "host": "web2", "account": None,
         "verdict": "pass", "notes": [],
         "findings": [_f("dataset_hash_verify", "dataset_file_mismatch", "HIGH", kind="integrity", target="/d")]},
        {"source": "cloudtrail_hunt.json", "control": "cloudtrail_hunt", "host": None, "account": None,
         "verdict": "findings", "notes": [],
         "findings": [_f("cloudtrail_hunt", "root_login", "MEDIUM", kind="detection",
                         details={"account": "111122223333"}),
                      _f("s3_encryption_assert", "s3_no_kms", "LOW", kind="encryption",
                         location={"resource": "arn:aws:kms:us-east-1:444455556666:key/abc"})]},
        {"source": "vault_dynamic_creds.json", "control": "vault_dynamic_creds", "host": None, "account": None,
         "verdict": "pass", "notes": [], "findings": []},
    ]


def test_counts_are_sums_of_the_inputs_by_control_host_account_severity():
    sources = _sources()
    built = fr.build(sources, default_host="ctl")
    assert built["summary"]["total"] == sum(len(s["findings"]) == 0 and 0 or len(s["findings"]) for s in sources) == 6
    assert built["summary"]["open"] == 5
    controls = built["controls"]
    assert set(controls) == {"image_scan", "dataset_integrity", "cloudtrail_hunt", "vault_dynamic_creds"}
    assert controls["dataset_integrity"]["total"] == 2 and controls["dataset_integrity"]["hosts"] == ["web1", "web2"]
    assert controls["dataset_integrity"]["verdict"] == "findings"  # worst of findings and pass
    assert controls["image_scan"]["verdict"] == "fail" and controls["image_scan"]["by_severity"]["CRITICAL"] == 1
    assert controls["vault_dynamic_creds"] == {"verdict": "pass", "open": 0, "total": 0, "hosts": ["ctl"],
                                               "by_severity": dict((s, 0) for s in fr.SEVERITY_ORDER)}
    assert sum(c["total"] for c in controls.values()) == 6
    assert sum(h["total"] for h in built["hosts"].values()) == 6
    assert built["hosts"]["web1"]["open"] == 1 and built["hosts"]["ctl"]["total"] == 4
    assert {a: e["total"] for a, e in built["accounts"].items()} == {"111122223333": 1, "444455556666": 1}
    for severity in fr.SEVERITY_ORDER:
        assert built["summary"]["by_severity"][severity] == sum(
            c["by_severity"][severity] for c in controls.values())
    assert built["stats"]["controls"]["image_scan"] == {"verdict": "fail", "open": 1}
    json.dumps(built["stats"])  # set_stats needs plain data
    doc = json.loads(built["documents"]["json"])
    assert doc["control"] == "findings_report" and doc["summary"]["total"] == 6
    assert doc["meta"]["by_control"]["dataset_integrity"]["total"] == 2
    origins = sorted(f["details"]["origin"]["host"] for f in doc["findings"])
    assert origins == ["ctl", "ctl", "ctl", "ctl", "web1", "web2"]
    # The same finding on two hosts stays two findings, in two JUnit suites and two SARIF results.
    suites = ET.fromstring(built["documents"]["junit"]).findall("testsuite")
    assert {s.get("hostname") for s in suites if s.get("name").startswith("dataset_hash_verify")} == {"web1", "web2"}
    sarif = json.loads(built["documents"]["sarif"])
    hosts = [r["properties"].get("host") for run in sarif["runs"] for r in run["results"]]
    assert sorted(h for h in hosts if h) == origins


def test_gate_fails_only_when_asked_and_only_in_scope():
    sources = _sources()
    assert not fr.build(sources)["gate"]["failed"]
    assert fr.build(sources)["verdict"] == "findings"
    built = fr.build(sources, fail_on="HIGH")
    assert built["gate"]["failed"] and built["verdict"] == "fail" and built["gate"]["failing_count"] == 3
    assert "image_scan 1" in built["gate"]["reasons"][0]
    scoped = fr.build(sources, fail_on="HIGH", fail_controls=["cloudtrail_hunt"])
    assert not scoped["gate"]["failed"] and scoped["verdict"] == "findings"
    verdict = fr.build(sources, fail_on_verdict=True)
    assert verdict["gate"]["failed_controls"] == ["image_scan"]
    assert not fr.build(sources, fail_on_verdict=True, fail_controls=["dataset_integrity"])["gate"]["failed"]
    junit = ET.fromstring(built["documents"]["junit"])
    assert junit.get("failures") == "3"


def test_bad_inputs_are_named(tmp_path):
    bad = {"source": "x.json", "control": "x", "findings": [{"id": "a", "control": "x"}]}
    with pytest.raises(fr.FindingsReportError, match="x.json findings\\[0\\].*missing kind"):
        fr.build([bad])
    bad["findings"] = [dict(_f("x", "a", "HIGH"), severity="SUPER")]
    with pytest.raises(fr.FindingsReportError, match="unknown severity"):
        fr.build([bad])
    (tmp_path / "broken.json").write_text("{nope")
    with pytest.raises(fr.FindingsReportError, match="broken.json is not valid JSON"):
        fr.load_dir(str(tmp_path))
    with pytest.raises(fr.FindingsReportError, match="does not exist"):
        fr.load_dir(str(tmp_path / "missing"))
    with pytest.raises(fr.FindingsReportError, match="reports\\[0\\]"):
        fr.source_from_param("text", 0)


def test_load_dir_skips_other_json_and_its_own_output(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"control": "a", "verdict": "pass", "findings": [_f("a", "1", "LOW")]}))
    (tmp_path / "vars.json").write_text(json.dumps({"x": 1}))
    sources, skipped = fr.load_dir(str(tmp_path))
    built = fr.build(sources, skipped=skipped)
    outputs = fr.output_paths(str(tmp_path), fr.FORMATS)
    fr.write(outputs, built["documents"])
    again, skipped_again = fr.load_dir(str(tmp_path))
    assert [s["source"] for s in again] == ["a.json"] and skipped_again == ["vars.json"]
    assert "vars.json" in built["notes"][1]


def test_source_from_param_takes_registered_results_and_bare_lists():
    registered = {"changed": False, "findings": [_f("image_scan", "CVE-9", "LOW")], "summary": {}}
    bare = [_f("falco_events", "rule", "HIGH", kind="runtime")]
    sources = [fr.source_from_param(registered, 0), fr.source_from_param(bare, 1)]
    built = fr.build(sources)
    assert set(built["controls"]) == {"image_scan", "falco_events"}
    assert built["summary"]["total"] == 2


def test_same_input_same_bytes_and_generated_at_only_when_given(tmp_path):
    first = fr.build(_sources())["documents"]
    second = fr.build(_sources())["documents"]
    assert first == second
    for fmt, data in first.items():
        assert not re.search(rb"20\d\d-\d\d-\d\dT", data), fmt
    stamped = fr.build(_sources(), generated_at="2030-01-02T03:04:05Z")["documents"]
    assert b"2030-01-02T03:04:05Z" in stamped["html"] and b"2030-01-02T03:04:05Z" in stamped["json"]
    outputs = fr.output_paths(str(tmp_path), fr.FORMATS)
    assert all(w["changed"] for w in fr.write(outputs, first, check_mode=True).values())
    assert not list(tmp_path.iterdir())
    assert all(w["changed"] for w in fr.write(outputs, first).values())
    assert not any(w["changed"] for w in fr.write(outputs, second).values())


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


def test_html_escapes_hostile_content_and_loads_nothing_external():
    hostile = make_finding("image_scan", "vulnerability", EVIL, "HIGH", EVIL, target=EVIL,
                           location={"package": EVIL, "path": EVIL}, url="javascript:alert(1)")
    sources = [{"source": "evil.json", "control": EVIL, "host": EVIL, "account": None, "verdict": "fail",
                "notes": [EVIL], "findings": [hostile, _f("image_scan", "CVE-3", "LOW", url="https://x.invalid/a")]}]
    html = fr.build(sources)["documents"]["html"].decode("utf-8")
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
    assert payload["findings"][0]["title"] == EVIL  # the page shows the text as text (textContent)
    assert payload["findings"][0]["url"] is None  # javascript: links are dropped
    assert payload["findings"][1]["url"] == "https://x.invalid/a"
    # Self-contained: no src/href to anywhere, and a CSP that forbids loading anything.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    csp = [a for t, a in parser.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"][0]["content"]
    assert csp.startswith("default-src 'none'") and "'unsafe-inline'" not in csp
    script = parser.scripts[1][1]
    assert fr._csp_hash(script) in csp


def test_chart_has_one_segment_per_control_and_severity_with_counts():
    built = fr.build(_sources())
    html = built["documents"]["html"].decode("utf-8")
    segments = re.findall(r'data-control="([^"]+)" data-severity="([A-Z]+)" data-count="(\d+)"', html)
    assert sum(int(n) for dummy, dummy2, n in segments) == built["summary"]["open"]
    assert ("image_scan", "CRITICAL", "1") in segments
