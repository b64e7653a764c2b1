"""The risk rules of the shared gate (fail_on_kev, fail_on_epss, fail_on_cvss) and make_risk."""

import json

import pytest

from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import PolicyError
from ansible_collections.ainative.security.plugins.module_utils.core.findings import FindingError, make_finding, make_risk
from ansible_collections.ainative.security.plugins.module_utils.core.gate import Gate
from ansible_collections.ainative.security.plugins.module_utils.core.reports import render_sarif


def _vuln(fid, severity="LOW", status="open", fixed=None, **risk):
    finding = make_finding("image_scan", "vulnerability", fid, severity, "t", target="img", status=status,
                           location={"package": "openssl", "fixed_version": fixed})
    if risk:
        finding["details"]["risk"] = make_risk(**risk)
    return finding


def _complete():
    cov = Coverage("targets", asked=1)
    cov.add()
    return cov


def test_make_risk_takes_highest_modern_cvss_and_normalizes():
    risk = make_risk(cvss=[{"version": "2.0", "score": 10.0, "vector": "AV:N"},
                           {"version": "3.1", "score": 7.5, "vector": "CVSS:3.1/AV:N", "source": "nvd"},
                           {"version": "4.0", "score": 8.2, "vector": "CVSS:4.0/AV:N"}],
                     cwe=["cwe-79", "CWE-79"], epss="0.42", epss_percentile=0.9, kev=1,
                     vendor_severity={"redhat": "moderate"})
    assert risk["cvss_score"] == 8.2
    assert risk["cwe"] == ["CWE-79"]
    assert risk["epss"] == {"score": 0.42, "percentile": 0.9}
    assert risk["kev"] is True and risk["vendor_severity"] == {"redhat": "MEDIUM"}
    assert make_risk(cvss=[{"version": "2.0", "score": 5.0}])["cvss_score"] == 5.0
    assert make_risk()["kev"] is None and make_risk()["cvss_score"] is None


@pytest.mark.parametrize("kwargs", [dict(cvss=[{"version": "3.1", "score": 11}]), dict(epss=1.5), dict(epss="high")])
def test_make_risk_refuses_out_of_range(kwargs):
    with pytest.raises(FindingError):
        make_risk(**kwargs)


def test_each_risk_rule_fails_on_its_own_and_names_itself():
    findings = [_vuln("CVE-KEV", kev=True), _vuln("CVE-EPSS", epss=0.6), _vuln("CVE-CVSS", cvss=[{"version": "3.1", "score": 9.1}]),
                _vuln("CVE-QUIET", kev=False, epss=0.01, cvss=[{"version": "3.1", "score": 4.0}]), _vuln("CVE-NODATA")]
    decision = Gate("none", fail_on_kev=True, fail_on_epss=0.5, fail_on_cvss=9.0).decide(findings, _complete())
    assert decision["failed"] and decision["failing_ids"] == ["CVE-CVSS", "CVE-EPSS", "CVE-KEV"]
    assert decision["rules"] == ["fail_on_cvss 9.0", "fail_on_epss 0.5", "fail_on_kev"]
    assert "fail_on_kev" in decision["reason"]
    # Strict twin: the same findings below every threshold pass.
    assert not Gate("none", fail_on_epss=0.7, fail_on_cvss=9.5).decide(findings, _complete())["failed"]


def test_risk_rules_combine_with_severity_and_skip_waived_and_unfixable():
    findings = [_vuln("CVE-A", "CRITICAL"), _vuln("CVE-B", kev=True, status="ignored")]
    decision = Gate("CRITICAL", fail_on_kev=True).decide(findings, _complete())
    assert decision["failing_ids"] == ["CVE-A"] and decision["rules"] == ["fail_on CRITICAL"]
    assert not Gate(None, fail_on_kev=True, only_fixed=True).fails(_vuln("CVE-C", kev=True))
    assert Gate(None, fail_on_kev=True, only_fixed=True).fails(_vuln("CVE-C", kev=True, fixed="1.1"))


@pytest.mark.parametrize("kwargs", [dict(fail_on_epss=2), dict(fail_on_cvss=-1), dict(fail_on_cvss="x")])
def test_risk_thresholds_out_of_range_are_policy_errors(kwargs):
    with pytest.raises(PolicyError, match="must be a number from 0"):
        Gate(None, **kwargs)


def test_sarif_security_severity_is_the_cvss_score():
    doc = json.loads(render_sarif([_vuln("CVE-X", "LOW", cvss=[{"version": "3.1", "score": 9.8}]), _vuln("CVE-Y", "HIGH")]))
    rules = dict((r["id"], r["properties"]["security-severity"]) for r in doc["runs"][0]["tool"]["driver"]["rules"])
    assert rules == {"CVE-X": "9.8", "CVE-Y": "8.0"}
