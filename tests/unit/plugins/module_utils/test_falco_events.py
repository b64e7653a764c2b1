"""Falco event triage: time windows, filters, aggregation and findings on real-format alerts."""

import datetime
import json

import pytest

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.falco import events as fe
from lab import falco_data

NOW = datetime.datetime(2026, 11, 25, 12, 0, 0, tzinfo=datetime.timezone.utc)
VICTIM = {"id": "0123456789abcdef0123", "name": "model-server", "image": "registry.example.internal/ml/serve:1.2"}
OTHER = {"id": "fedcba9876543210fedc", "name": "falco", "image": "docker.io/falcosecurity/falco:0.42.1"}


def lines():
    return falco_data.event_log(VICTIM, OTHER, now=NOW)


def test_parse_time_forms():
    t = fe.parse_time("2026-11-25T10:00:00.123456789Z")
    assert t == datetime.datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=fe._UTC)
    assert fe.parse_time("2026-11-25T12:00:00+02:00") == datetime.datetime(2026, 11, 25, 10, 0, tzinfo=fe._UTC)
    assert fe.parse_time("15m", now=NOW) == NOW - datetime.timedelta(minutes=15)
    assert fe.parse_time("2d", now=NOW) == NOW - datetime.timedelta(days=2)
    with pytest.raises(InputError):
        fe.parse_time("yesterday")


def test_priorities():
    assert fe.normalize_priority("Critical") == "critical"
    assert fe.normalize_priority("INFO") == "informational"
    assert fe.priority_rank("emergency") > fe.priority_rank("warning") > fe.priority_rank("debug")
    with pytest.raises(InputError):
        fe.normalize_priority("severe")


def test_triage_all_and_skipped():
    result = fe.triage(lines(), fe.Filter(), limit=0)
    assert result["total"] == 6 and result["matched"] == 6
    assert result["skipped_lines"] == 3  # two Falco log lines and one garbage line
    assert [c["name"] for c in result["containers"]] == ["falco", "model-server"]
    assert result["by_priority"] == {"notice": 2, "warning": 1, "critical": 2, "error": 1}


def test_filters():
    flt = fe.Filter(priority="warning", since="1h", now=NOW)
    result = fe.triage(lines(), flt)
    assert result["matched"] == 4
    only = fe.triage(lines(), fe.Filter(containers=["model-*"], priority="critical"))
    assert only["matched"] == 1 and only["containers"][0]["id"] == VICTIM["id"][:12]
    tagged = fe.triage(lines(), fe.Filter(tags=["T1555"]))
    assert tagged["matched"] == 1 and tagged["containers"] == []
    rules = fe.triage(lines(), fe.Filter(rules=["Terminal*"], exclude_rules=["*package*"]))
    assert rules["by_rule"] == {"Terminal shell in container": 2}
    window = fe.triage(lines(), fe.Filter(since="2026-11-25T11:56:00Z", until="2026-11-25T11:59:00Z"))
    assert window["matched"] == 3
    with pytest.raises(InputError):
        fe.Filter(since="2026-11-25T12:00:00Z", until="2026-11-25T11:00:00Z")


def test_limit_keeps_newest():
    result = fe.triage(lines(), fe.Filter(), limit=2)
    assert result["truncated"]
    assert [e["rule"] for e in result["events"]] == ["Launch Package Management Process in Container",
                                                     "Drop and execute new binary in container"]


def test_findings_one_per_rule_and_container():
    result = fe.triage(lines(), fe.Filter(), limit=0)
    found = fe.event_findings(result, "/var/log/falco.log")
    assert found[0]["severity"] == "CRITICAL" and found[0]["kind"] == "runtime"
    keys = {(f["id"], f["location"]["resource"]) for f in found}
    assert len(keys) == len(found) == 6
    host = [f for f in found if f["location"]["resource"].startswith("host")]
    assert host and host[0]["severity"] == "MEDIUM"


def test_container_of_host_and_dict_lines():
    event = json.loads(lines()[3])
    assert fe.container_of(event) is None
    assert fe.parse_event(event) is event
    assert fe.parse_event('{"no": "rule"}') is None


def test_unreadable_log(tmp_path):
    with pytest.raises(InputError) as exc:
        list(fe.iter_file(str(tmp_path / "missing.log")))
    assert "cannot read the Falco event log" in str(exc.value)


def test_triage_counts_alerts_and_misses_other_lines():
    from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
    cov = Coverage("events")
    alert = [line for line in lines() if line.startswith("{")][0]
    result = fe.triage(["NAME=\"Debian GNU/Linux\"", "", alert], fe.Filter(), coverage=cov, source="f.log")
    assert result["total"] == cov.examined == 1 and result["skipped_lines"] == cov.missed_count == 1
    assert cov.missed[0]["item"] == "f.log:1" and not cov.complete
