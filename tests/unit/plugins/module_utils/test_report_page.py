"""findings_report's page and trend: contrast of the emitted CSS, each control's status from the gate's own
decision, zero columns hidden, the expandable details, and the trend (new, fixed, waived, still open) that a
forged previous report cannot use to hide an open finding."""

import colorsys
import json
import os
import re

import pytest
import yaml

from ansible_collections.ainative.security.plugins.module_utils.core import module as core_module
from ansible_collections.ainative.security.plugins.module_utils.core import reports as report_writer
from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding, make_risk
from ansible_collections.ainative.security.plugins.module_utils.reporting import html as report_html
from ansible_collections.ainative.security.plugins.module_utils.reporting import trend
from ansible_collections.ainative.security.plugins.modules import findings_report

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


def _f(control, fid, severity, status="open", **kwargs):
    return make_finding(control, kwargs.pop("kind", "vulnerability"), fid, severity, "title of %s" % fid,
                        target=kwargs.pop("target", "img"), status=status, **kwargs)


def _sources():
    return [{"control": "image_scan", "verdict": "fail", "notes": [],
             "findings": [_f("image_scan", "CVE-1", "CRITICAL"), _f("image_scan", "CVE-2", "HIGH"),
                          _f("image_scan", "CVE-3", "MEDIUM")]},
            {"control": "falco", "verdict": "findings", "notes": [],
             "findings": [_f("falco_events", "shell", "LOW", kind="runtime", target="c1")]}]


@pytest.fixture
def build(run_module, tmp_path):
    def _build(sources, **args):
        dest = tmp_path / "out"
        result, failed = run_module(findings_report, dict(args, inputs=sources, dest=str(dest)))
        docs = {}
        for fmt, info in result.get("reports", {}).items():
            with open(info["path"], "rb") as handle:
                docs[fmt] = handle.read()
        return result, failed, docs
    return _build


def _luminance(colour):
    colour = colour.lstrip("#")
    if len(colour) == 3:
        colour = "".join(c * 2 for c in colour)
    channels = [int(colour[i:i + 2], 16) / 255.0 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(first, second):
    high, low = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _rules(css):
    """[(selector, {"color": ..., "background": ...})] of the rules that set a colour."""
    out = []
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        decl = dict((k.strip(), v.strip()) for k, v in (d.split(":", 1) for d in body.split(";") if ":" in d))
        colours = dict((k, decl[k]) for k in ("color", "background", "background-color") if k in decl
                       and re.match(r"^#[0-9a-fA-F]{3,6}$", decl[k]))
        if colours:
            out.append((selector.strip(), colours))
    return out


def test_every_text_colour_in_the_emitted_css_meets_wcag_aa(build):
    dummy, failed, docs = build(_sources())
    assert not failed
    css = re.search(r"<style>(.*?)</style>", docs["html"].decode("utf-8"), re.S).group(1)
    rules = _rules(css)
    # Text without its own background sits on one of the page's light surfaces (page, section, card, header cell).
    surfaces = [c.get("background") or c.get("background-color") for dummy, c in rules
                if "color" not in c and _luminance(c.get("background") or c.get("background-color")) > 0.8]
    surfaces += [c["background"] for s, c in rules if s in ("body", "th") or s.startswith(".card")]
    surfaces = sorted(set(surfaces + ["#fff"]))
    checked = 0
    for selector, colours in rules:
        if "color" not in colours:
            continue
        backgrounds = [colours.get("background") or colours.get("background-color")] if (
            "background" in colours or "background-color" in colours) else surfaces
        for background in backgrounds:
            ratio = _contrast(colours["color"], background)
            assert ratio >= 4.5, "%s: %s on %s is %.2f:1" % (selector, colours["color"], background, ratio)
            checked += 1
    assert checked > 30
    # Each severity's text and pill colours are the ones checked above.
    for severity, colour in report_html.SEVERITY_COLOURS.items():
        assert ".sev-%s{color:%s}" % (severity, colour) in css and ".sp-%s{color:#fff;background:%s}" % (
            severity, colour) in css


def _hue(colour):
    colour = colour.lstrip("#")
    return colorsys.rgb_to_hls(*[int(colour[i:i + 2], 16) / 255.0 for i in (0, 2, 4)])[0] * 360


def test_severity_colours_are_red_orange_gold_blue_and_apart():
    colours = report_html.SEVERITY_COLOURS
    critical = _hue(colours["CRITICAL"])
    assert critical >= 340 or critical <= 10, critical  # red, not purple
    hues = [_hue(colours[s]) for s in ("CRITICAL", "HIGH", "MEDIUM", "LOW")]
    for index, first in enumerate(hues):
        for second in hues[index + 1:]:
            distance = min(abs(first - second), 360 - abs(first - second))
            assert distance >= 15, hues
    assert 180 <= _hue(colours["LOW"]) <= 250  # LOW is blue, nowhere near MEDIUM's amber


def _controls_table(html):
    return dict((name, (re.search(r'<span class="verdict v-([a-z]+)">', cells).group(1),
                        re.search(r'data-reported="([a-z]+)"', cells).group(1)))
                for name, cells in re.findall(r'<tr data-name="([^"]+)">(.*?)</tr>', html)
                if "data-reported" in cells)


def test_without_a_gate_no_control_says_fail_while_the_verdict_says_findings(build):
    """The issue's case: image_scan reported fail under its own gate; this report sets none."""
    result, failed, docs = build(_sources())
    assert not failed and result["verdict"] == "findings"
    assert result["gate"]["controls"] == {"image_scan": {"verdict": "findings", "failing": 0},
                                          "falco": {"verdict": "findings", "failing": 0}}
    html = docs["html"].decode("utf-8")
    assert _controls_table(html) == {"image_scan": ("findings", "fail"), "falco": ("findings", "findings")}
    assert 'id="verdict" data-verdict="findings" data-failed="false"><div class="word">FINDINGS</div>' in html
    assert json.loads(docs["json"])["gate"]["controls"] == result["gate"]["controls"]


@pytest.mark.parametrize("args, verdict, controls", [
    ({"fail_on": "HIGH"}, "fail", {"image_scan": "fail", "falco": "findings"}),
    ({"fail_on": "LOW", "fail_controls": ["falco"]}, "fail", {"image_scan": "findings", "falco": "fail"}),
    ({"fail_on_ids": ["shell"]}, "fail", {"image_scan": "findings", "falco": "fail"}),
    ({"fail_on_verdict": True}, "fail", {"image_scan": "fail", "falco": "findings"}),
    ({"fail_on": "CRITICAL", "fail_controls": ["falco"]}, "findings", {"image_scan": "findings", "falco": "findings"}),
])
def test_control_status_and_verdict_come_from_one_decision(build, args, verdict, controls):
    result, failed, docs = build(_sources(), report_only=True, **args)
    assert not failed and result["verdict"] == verdict
    assert dict((c, e["verdict"]) for c, e in result["gate"]["controls"].items()) == controls
    # The verdict is fail exactly when a control is, and the page shows both from the same decision.
    assert (verdict == "fail") == ("fail" in controls.values())
    html = docs["html"].decode("utf-8")
    assert dict((c, s[0]) for c, s in _controls_table(html).items()) == controls
    banner = re.search(r'<section class="banner b-([a-z]+)" id="verdict" data-verdict="([a-z]+)"', html).groups()
    assert banner == (verdict, verdict)
    if verdict == "fail":
        assert result["gate"]["reason"] in html


def test_an_incomplete_input_makes_its_control_incomplete_unless_accepted(build):
    sources = _sources()
    sources[1]["verdict"] = "incomplete"
    result, failed, docs = build(sources)
    assert failed and result["verdict"] == "incomplete"
    assert result["gate"]["controls"]["falco"]["verdict"] == "incomplete"
    assert result["gate"]["controls"]["image_scan"]["verdict"] == "findings"
    assert 'data-verdict="incomplete"' in docs["html"].decode("utf-8")
    result, failed, docs = build(sources, accept_incomplete="falco is not on edge hosts")
    assert not failed and result["gate"]["controls"]["falco"]["verdict"] == "findings"
    assert "incomplete coverage accepted: falco is not on edge hosts" in docs["html"].decode("utf-8")


def test_zero_count_severity_columns_are_hidden_and_present_ones_shown(build):
    html = build(_sources())[2]["html"].decode("utf-8")
    for severity in ("INFO", "UNKNOWN"):
        assert '<th class="n sev-%s">' % severity not in html and 'data-col="%s"' % severity not in html
        assert 'data-count-of="%s"' % severity not in html
    sources = _sources()
    sources[1]["findings"].append(_f("falco_events", "note", "INFO", kind="runtime"))
    html = build(sources)[2]["html"].decode("utf-8")
    assert '<th class="n sev-INFO">' in html and 'data-count-of="INFO"' in html
    assert '<th class="n sev-UNKNOWN">' not in html


def test_expanded_finding_holds_digests_risk_remediation_and_evidence():
    integrity = make_finding("dataset_hash_verify", "integrity", "dataset_file_mismatch", "HIGH", "differs",
                             target="train", location={"path": "a.bin"},
                             details={"reason": "digest", "expected": "a" * 64, "actual": "b" * 64})
    more = report_html._more(integrity)
    assert more == {"expected": "a" * 64, "actual": "b" * 64}
    assert integrity["fingerprint"] in report_html._more_html(integrity)
    vuln = make_finding("image_scan", "vulnerability", "CVE-9", "HIGH", "t", location={"fixed_version": "2.0",
                        "installed_version": "1.0"}, details={"risk": make_risk(
                            cvss=[{"version": "2.0", "score": 5.0, "vector": "AV:N"},
                                  {"version": "3.1", "score": 8.1, "vector": "CVSS:3.1/AV:N"}],
                            epss=0.5, epss_percentile=0.9, kev=False)})
    more = report_html._more(vuln)
    assert more["risk"] == {"cvss": 8.1, "vector": "CVSS:3.1/AV:N", "epss": 0.5, "epss_percentile": 0.9, "kev": False}
    assert more["fixed"] == "2.0"
    misconf = make_finding("image_scan", "misconfiguration", "AVD-1", "LOW", "t",
                           details={"resolution": "Enable encryption", "risk": make_risk()})
    assert report_html._more(misconf)["remediation"] == "Enable encryption" and "risk" not in report_html._more(misconf)
    burst = make_finding("cloudtrail_hunt", "detection", "burst", "HIGH", "t",
                         details={"event_ids": ["e%d" % i for i in range(30)]})
    assert report_html._more(burst)["evidence"] == ["e%d" % i for i in range(10)]


def test_collection_version_is_galaxy_yml_version():
    with open(os.path.join(ROOT, "galaxy.yml")) as handle:
        assert core_module.COLLECTION_VERSION == yaml.safe_load(handle)["version"]


def _previous(tmp_path, findings, name="previous.json", control="findings_report"):
    path = tmp_path / name
    with open(str(path), "wb") as handle:
        report_writer.stream_json(handle, findings, control)
    return str(path)


def test_trend_new_fixed_waived_still_open(tmp_path):
    before = [_f("image_scan", "CVE-1", "CRITICAL"), _f("image_scan", "CVE-2", "HIGH"), _f("image_scan", "CVE-3", "LOW"),
              _f("image_scan", "CVE-5", "LOW", status="ignored")]
    now = [_f("image_scan", "CVE-1", "HIGH"), _f("image_scan", "CVE-3", "LOW", status="ignored"),
           _f("image_scan", "CVE-4", "MEDIUM"), _f("image_scan", "CVE-5", "LOW")]
    result = trend.compare(now, trend.load_previous(_previous(tmp_path, before)))
    ids = dict((name, [b["id"] for b in items]) for name, items in result["lists"].items())
    # CVE-1's severity changed but its fingerprint did not: still open. CVE-5 was ignored then: new now.
    assert ids == {"new": ["CVE-4", "CVE-5"], "fixed": ["CVE-2"], "waived": ["CVE-3"], "still_open": ["CVE-1"]}
    assert result["counts"] == {"new": 2, "fixed": 1, "waived": 1, "still_open": 1}
    view = trend.result_view(result, sample=1)
    assert view["truncated"] and [b["id"] for b in view["new"]] == ["CVE-4"] and view["counts"]["new"] == 2


def test_forged_previous_cannot_hide_an_open_finding_or_move_the_gate(build, tmp_path):
    """Attack: the previous report says the open CRITICAL is fixed (and claims a pass)."""
    plain, failed_plain, plain_docs = build(_sources(), fail_on="CRITICAL", report_only=True)
    # Both previous reports are this report's own JSON (as a scheduled job keeps it), cut to CVE-1.
    previous = json.loads(plain_docs["json"])
    previous["findings"] = [f for f in previous["findings"] if f["id"] == "CVE-1"]
    honest = str(tmp_path / "honest.json")
    with open(honest, "w") as handle:
        json.dump(previous, handle)
    previous["findings"][0]["status"] = "fixed"
    forged = str(tmp_path / "forged.json")
    with open(forged, "w") as handle:
        json.dump(previous, handle)
    attacked, failed, docs = build(_sources(), fail_on="CRITICAL", report_only=True, previous=forged)
    assert not failed and not failed_plain  # report_only: the gate fails, the task does not
    assert "CVE-1" in [b["id"] for b in attacked["trend"]["new"]]
    assert attacked["trend"]["counts"]["new"] == attacked["summary"]["open"] == 4
    assert attacked["gate"]["failing_ids"] == plain["gate"]["failing_ids"] == ["CVE-1"]
    assert attacked["verdict"] == plain["verdict"] == "fail" and attacked["summary"] == plain["summary"]
    assert json.loads(docs["json"])["meta"]["trend"]["counts"]["new"] == 4
    # Strict twin: a previous report that had it open makes it still open, not new.
    twin = build(_sources(), fail_on="CRITICAL", report_only=True, previous=honest)[0]
    assert [b["id"] for b in twin["trend"]["still_open"]] == ["CVE-1"] and twin["trend"]["counts"]["new"] == 3
    assert twin["gate"] == plain["gate"]


@pytest.mark.parametrize("content, expected", [
    (None, "cannot read previous report"),
    (b"not json", "is not a JSON report"),
    (b'{"control": "image_scan", "schema": "ainative.security/findings/1", "findings": []}',
     "is not a findings_report JSON report"),
    (b'{"control": "findings_report", "schema": "ainative.security/findings/1", "findings": [{"id": "x"}]}',
     "findings[0] has no fingerprint"),
])
def test_previous_that_is_not_a_findings_report_is_one_line(build, tmp_path, content, expected):
    path = tmp_path / "previous.json"
    if content is not None:
        path.write_bytes(content)
    result, failed, docs = build(_sources(), previous=str(path))
    assert failed and expected in result["msg"] and "\n" not in result["msg"] and not docs
    assert "Traceback" not in result["msg"] and result["error_kind"] == "input"


def test_trend_counts_a_finding_per_host_fixed_on_one_and_open_on_the_other(tmp_path):
    def on(host, status="open"):
        finding = _f("image_scan", "CVE-9", "HIGH", status=status)
        finding["details"]["origin"] = {"control": "image_scan", "host": host, "account": None, "source": "x"}
        return finding
    before = [on("web1"), on("web2")]
    result = trend.compare([on("web2")], trend.load_previous(_previous(tmp_path, before)))
    # One fingerprint, two hosts: fixed on web1, still open on web2 (fingerprint alone said "still open" only).
    assert [(b["id"], b["host"]) for b in result["lists"]["fixed"]] == [("CVE-9", "web1")]
    assert [(b["id"], b["host"]) for b in result["lists"]["still_open"]] == [("CVE-9", "web2")]
    assert result["counts"]["new"] == 0
