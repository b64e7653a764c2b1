import pytest

from ansible_collections.ainative.security.plugins.module_utils.core import findings as f


@pytest.mark.parametrize("given, expected", [
    ("critical", "CRITICAL"), ("High", "HIGH"), ("Negligible", "INFO"), ("moderate", "MEDIUM"),
    ("warning", "MEDIUM"), ("EMERGENCY", "CRITICAL"), (None, "UNKNOWN"), ("", "UNKNOWN"), (" low ", "LOW"),
])
def test_normalize_severity_spellings(given, expected):
    assert f.normalize_severity(given) == expected


def test_unknown_severity_is_a_clear_error():
    with pytest.raises(f.FindingError, match="unknown severity 'urgent'; use one of UNKNOWN, INFO"):
        f.normalize_severity("urgent")


def test_make_finding_fills_every_key_and_fingerprints_identity_not_severity():
    one = f.make_finding("image_scan", "vulnerability", "CVE-1", "high", "bash overflow", target="img",
                         location={"package": "bash", "installed_version": "5.2"})
    assert set(one) == {"id", "control", "kind", "severity", "title", "target", "location", "url", "status",
                        "details", "fingerprint"}
    assert one["location"]["path"] is None and one["severity"] == "HIGH"
    two = f.make_finding("image_scan", "vulnerability", "CVE-1", "low", "other title", target="img",
                         location={"package": "bash", "installed_version": "5.2"}, status="ignored")
    assert one["fingerprint"] == two["fingerprint"]
    # An upgrade that keeps the hole, a DB update that adds the fix, a line shift: the same finding.
    three = f.make_finding("image_scan", "vulnerability", "CVE-1", "high", "x", target="img",
                           location={"package": "bash", "installed_version": "5.3", "fixed_version": "5.4", "line": 9})
    assert three["fingerprint"] == one["fingerprint"]
    other_package = f.make_finding("image_scan", "vulnerability", "CVE-1", "high", "x", target="img",
                                   location={"package": "zsh"})
    assert other_package["fingerprint"] != one["fingerprint"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(kind="virus"), "unknown finding kind"),
    (dict(status="maybe"), "unknown finding status"),
    (dict(location={"file": "x"}), "unknown location keys: file"),
])
def test_make_finding_rejects_bad_input(kwargs, message):
    args = dict(control="c", kind="secret", finding_id="x", severity="LOW", title="t")
    args.update(kwargs)
    with pytest.raises(f.FindingError, match=message):
        f.make_finding(**args)


def test_summarize_sort_and_bounded():
    items = [
        f.make_finding("c", "secret", "a", "LOW", "t"),
        f.make_finding("c", "secret", "b", "CRITICAL", "t"),
        f.make_finding("c", "misconfiguration", "c", "HIGH", "t", status="ignored"),
        f.make_finding("c", "misconfiguration", "d", "MEDIUM", "t"),
    ]
    summary = f.summarize(items)
    assert summary["total"] == 4 and summary["open"] == 3
    assert summary["by_severity"]["CRITICAL"] == 1 and summary["by_severity"]["HIGH"] == 0
    assert summary["by_kind"] == {"secret": 2, "misconfiguration": 1}
    assert summary["by_status"]["ignored"] == 1
    assert [x["id"] for x in f.sort_findings(items)] == ["b", "c", "d", "a"]
    assert f.bounded(items, 2) == (items[:2], True)
    assert f.bounded(items, 0) == (items, False)
    assert f.at_or_above("critical", "HIGH") and not f.at_or_above("low", "medium")
