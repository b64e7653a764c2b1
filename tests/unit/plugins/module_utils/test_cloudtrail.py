"""cloudtrail module_utils: LookupEvents with botocore's Stubber (paging, request validation, throttling),
rate limiting, time windows, the detection catalogue and both parsers on local files."""

import datetime
import gzip
import json
import os
import sys

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ansible_collections.ainative.security.plugins.module_utils import cloudtrail as ct
from ansible_collections.ainative.security.plugins.module_utils.cloud.aws import (
    AWSAuditError, RateLimiter, RetryingBotoClientWrapper, retry_decorator)
from ansible_collections.ainative.security.plugins.module_utils.cloudtrail_detections import CATALOGUE

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
from lab import cloudtrail_archive as ca  # noqa: E402

NOW = datetime.datetime(2026, 11, 25, 12, 0, 0, tzinfo=datetime.timezone.utc)
START = NOW - datetime.timedelta(hours=24)


def _client():
    return boto3.client("cloudtrail", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")


def _event(rec):
    return {"EventId": rec["eventID"], "EventName": rec["eventName"], "EventTime": NOW,
            "CloudTrailEvent": json.dumps(rec)}


class FakeClients:
    def __init__(self, stubbed):
        self.stubbed = stubbed

    def client(self, service, region=None):
        return RetryingBotoClientWrapper(self.stubbed, retry_decorator(retries=3, delay=0.01, max_delay=0.02))

    def account_id(self):
        return "123456789012"


class Clock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_rate_limiter_spaces_calls():
    clock = Clock()
    limiter = RateLimiter(2.0, clock=clock.time, sleep=clock.sleep)
    for call in range(5):
        limiter.acquire()
        assert clock.now == call * 0.5
    assert clock.sleeps == [0.5, 0.5, 0.5, 0.5]
    assert clock.now == 2.0


def test_lookup_pages_fully_one_attribute_per_call_and_retries_throttling():
    plants = ca.planted(NOW - datetime.timedelta(hours=2))
    fire = plants["console_login_without_mfa"]["fire"][0]
    benign = plants["console_login_without_mfa"]["benign"][0]
    client = _client()
    stub = Stubber(client)
    expected = {"StartTime": START, "EndTime": NOW, "MaxResults": 50,
                "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "ConsoleLogin"}]}
    stub.add_client_error("lookup_events", service_error_code="ThrottlingException",
                          service_message="Rate exceeded", http_status_code=400, expected_params=expected)
    stub.add_response("lookup_events", {"Events": [_event(fire)], "NextToken": "page2"}, expected)
    stub.add_response("lookup_events", {"Events": [_event(benign)]}, dict(expected, NextToken="page2"))
    clock = Clock()
    limiter = RateLimiter(2.0, clock=clock.time, sleep=clock.sleep)
    with stub:
        records, err, calls = ct.lookup_region(RetryingBotoClientWrapper(client, retry_decorator(retries=3, delay=0.01)),
                                               "us-east-1", ["ConsoleLogin"], START, NOW, limiter)
        stub.assert_no_pending_responses()
    assert err is None
    assert calls == 2  # the throttled attempt is retried inside one logical call
    assert [r["eventID"] for r in records] == [fire["eventID"], benign["eventID"]]
    assert clock.sleeps == [0.5]


def test_lookup_error_is_incomplete_coverage_not_crash():
    client = _client()
    stub = Stubber(client)
    stub.add_client_error("lookup_events", service_error_code="AccessDeniedException",
                          service_message="not allowed", http_status_code=400, expected_params=None)
    with stub:
        records, err, calls = ct.lookup_region(RetryingBotoClientWrapper(client, retry_decorator(retries=1, delay=0.01)),
                                               "eu-west-1", None, START, NOW, RateLimiter(0))
    assert records == [] and calls == 1
    assert "cloudtrail:LookupEvents in eu-west-1 failed: AccessDeniedException" in err


def test_lookup_without_attribute_when_a_detection_needs_every_event():
    dets = ct.select_detections(["root_account_usage", "console_login_without_mfa"])
    assert ct.lookup_event_names(dets) is None
    assert ct.lookup_event_names(ct.select_detections(["cloudtrail_tampering"])) == ["DeleteTrail", "StopLogging", "UpdateTrail"]
    client = _client()
    stub = Stubber(client)
    root = ca.planted(NOW - datetime.timedelta(hours=1))["root_account_usage"]["fire"][0]
    stub.add_response("lookup_events", {"Events": [_event(root)]},
                      {"StartTime": START, "EndTime": NOW, "MaxResults": 50})
    with stub:
        spec = ct.ScanSpec([d["id"] for d in dets], START, NOW)
        partial, coverage = ct.scan_lookup(FakeClients(client), ["us-east-1"], dets, spec, START, NOW, rate=100)
    assert coverage[0]["complete"] and coverage[0]["api_calls"] == 1
    findings = ct.build_findings(partial, dets)
    assert [f["id"] for f in findings] == ["root_account_usage"]
    assert findings[0]["details"]["event_id"] == root["eventID"]


def test_stubber_rejects_invalid_request():
    client = _client()
    stub = Stubber(client)
    stub.add_response("lookup_events", {"Events": []}, {"MaxResults": ANY})
    with stub, pytest.raises(Exception):
        client.lookup_events(MaxResults=50, LookupAttributes=[{"AttributeKey": "NotAKey", "AttributeValue": "x"}])


@pytest.mark.parametrize("kwargs,message", [
    ({"since": "yesterday"}, "is not a duration"),
    ({"since": "0h"}, "is not a duration"),
    ({"start_time": "2026-11-25T10:00:00Z", "end_time": "2026-11-25T09:00:00Z"}, "the time window is empty"),
    ({"start_time": "not a time"}, "is not an ISO 8601 time"),
    ({"since": "1h", "start_time": "2026-11-25"}, "either since or start_time"),
    ({"start_time": "2027-01-01T00:00:00Z", "end_time": "2027-01-02T00:00:00Z"}, "starts in the future"),
])
def test_bad_time_windows(kwargs, message):
    with pytest.raises(AWSAuditError) as err:
        ct.time_window(now=NOW, **kwargs)
    assert message in err.value.msg


def test_time_windows():
    assert ct.time_window(since="90m", now=NOW) == (NOW - datetime.timedelta(minutes=90), NOW)
    start, end = ct.time_window(start_time="2026-11-24", end_time="2026-11-24T12:00:00+02:00", now=NOW)
    assert (start.isoformat(), end.isoformat()) == ("2026-11-24T00:00:00+00:00", "2026-11-24T10:00:00+00:00")


def test_catalogue_is_complete_and_selectable():
    ids = [d["id"] for d in CATALOGUE]
    assert len(ids) == len(set(ids)) >= 17
    for det in CATALOGUE:
        assert det["severity"] in ("LOW", "MEDIUM", "HIGH", "CRITICAL")
        assert det["technique"][0].startswith("T") and det["condition"]
        assert det["id"] in ct.MATCHERS or det["aggregate"] or det["id"] == "root_account_usage"
    assert [d["id"] for d in ct.select_detections(tags=["guardduty"])] == ["guardduty_disabled", "guardduty_ipset_created"]
    with pytest.raises(AWSAuditError, match="unknown detection id"):
        ct.select_detections(["nope"])
    with pytest.raises(AWSAuditError, match="unknown detection tag"):
        ct.select_detections(tags=["nope"])


def _write_plants(tmp_path):
    plants = ca.planted(NOW - datetime.timedelta(hours=3))
    for key, data in ca.planted_files(plants):
        path = tmp_path / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return ca.manifest(plants)


@pytest.mark.parametrize("parser", ["auto", "json"])
def test_every_detection_fires_and_twins_do_not(tmp_path, parser):
    manifest = _write_plants(tmp_path)
    (tmp_path / "broken.json.gz").write_bytes(b"\x1f\x8bnot gzip")
    (tmp_path / "other.json").write_text(json.dumps({"not": "cloudtrail"}))
    result = ct.hunt({"source": "local", "paths": [str(tmp_path)], "since": "24h", "parser": parser,
                      "allowed_cidrs": ca.ALLOWED_CIDRS, "max_findings": 0, "workers": 1}, now=NOW)
    findings = result["_all_findings"]
    for det, ids in manifest.items():
        hits = [f for f in findings if f["id"] == det]
        seen = set(f["details"]["event_id"] for f in hits) | set(i for f in hits for i in f["details"].get("event_ids", []))
        assert set(ids["fire"]) & seen, det
        assert not set(ids["benign"]) & seen, det
    assert not result["coverage_complete"]
    assert any("broken.json.gz" in e for e in result["coverage"][0]["errors"])
    assert result["parser"].startswith("msgspec" if parser == "auto" else "json")


def test_stdlib_fallback_when_speedups_are_missing(tmp_path, monkeypatch):
    manifest = _write_plants(tmp_path)
    monkeypatch.setattr(ct, "HAS_MSGSPEC", False)
    monkeypatch.setattr(ct, "HAS_ISAL", False)
    result = ct.hunt({"source": "local", "paths": [str(tmp_path)], "since": "24h", "max_findings": 0, "workers": 2},
                     now=NOW)
    assert result["parser"] == "json+zlib"
    assert result["counts"]["console_login_without_mfa"] == len(manifest["console_login_without_mfa"]["fire"])


def test_unreadable_gzip_member_does_not_stop_the_hunt(tmp_path):
    good = {"Records": [ca.planted(NOW - datetime.timedelta(hours=1))["cloudtrail_tampering"]["fire"][0]]}
    (tmp_path / "a.json.gz").write_bytes(gzip.compress(json.dumps(good).encode()))
    (tmp_path / "b.json.gz").write_bytes(gzip.compress(b'{"Records": [{"eventTime": 5}]}'))
    result = ct.hunt({"source": "local", "paths": [str(tmp_path / "*.json.gz")], "since": "24h", "workers": 1},
                     now=NOW)
    assert result["counts"]["cloudtrail_tampering"] == 1
    assert result["files_scanned"] == 2
