"""cloudtrail module_utils: LookupEvents with botocore's Stubber (paging, request validation, throttling),
rate limiting, time windows, the detection catalogue and both parsers on local files."""

import datetime
import gzip
import json
import os
import sys
import threading
import time

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from ansible_collections.ainative.security.plugins.module_utils.cloud import cloudtrail as ct
from ansible_collections.ainative.security.plugins.module_utils.cloud import cloudtrail_s3
from ansible_collections.ainative.security.plugins.module_utils.cloud import cloudtrail_scan as scan
from ansible_collections.ainative.security.plugins.module_utils.cloud import cloudtrail_sources as sources
from ansible_collections.ainative.security.plugins.module_utils.cloud.aws import (
    RateLimiter, RetryingBotoClientWrapper, retry_decorator)
from ansible_collections.ainative.security.plugins.module_utils.cloud.cloudtrail_detections import (
    CATALOGUE, lookup_event_names, select_detections)
from ansible_collections.ainative.security.plugins.module_utils.cloud.cloudtrail_matchers import MATCHERS
from ansible_collections.ainative.security.plugins.module_utils.cloud.cloudtrail_window import time_window
from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError

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
        records, err, calls = sources.lookup_region(RetryingBotoClientWrapper(client, retry_decorator(retries=3, delay=0.01)),
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
        records, err, calls = sources.lookup_region(RetryingBotoClientWrapper(client, retry_decorator(retries=1, delay=0.01)),
                                                    "eu-west-1", None, START, NOW, RateLimiter(0))
    assert records == [] and calls == 1
    assert "cloudtrail:LookupEvents in eu-west-1 failed: AccessDeniedException" in err


def test_lookup_without_attribute_when_a_detection_needs_every_event():
    dets = select_detections(["root_account_usage", "console_login_without_mfa"])
    assert lookup_event_names(dets) is None
    assert lookup_event_names(select_detections(["cloudtrail_tampering"])) == ["DeleteTrail", "StopLogging", "UpdateTrail"]
    client = _client()
    stub = Stubber(client)
    root = ca.planted(NOW - datetime.timedelta(hours=1))["root_account_usage"]["fire"][0]
    stub.add_response("lookup_events", {"Events": [_event(root)]},
                      {"StartTime": START, "EndTime": NOW, "MaxResults": 50})
    with stub:
        spec = scan.ScanSpec([d["id"] for d in dets], START, NOW)
        partial, coverage = sources.scan_lookup(FakeClients(client), ["us-east-1"], dets, spec, START, NOW, rate=100)
    assert coverage[0]["complete"] and coverage[0]["api_calls"] == 1
    findings = scan.build_findings(partial, dets)
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
    with pytest.raises(InputError) as err:
        time_window(now=NOW, **kwargs)
    assert message in err.value.msg


def test_time_windows():
    assert time_window(since="90m", now=NOW) == (NOW - datetime.timedelta(minutes=90), NOW)
    start, end = time_window(start_time="2026-11-24", end_time="2026-11-24T12:00:00+02:00", now=NOW)
    assert (start.isoformat(), end.isoformat()) == ("2026-11-24T00:00:00+00:00", "2026-11-24T10:00:00+00:00")


def test_catalogue_is_complete_and_selectable():
    ids = [d["id"] for d in CATALOGUE]
    assert len(ids) == len(set(ids)) >= 17
    for det in CATALOGUE:
        assert det["severity"] in ("LOW", "MEDIUM", "HIGH", "CRITICAL")
        assert det["technique"][0].startswith("T") and det["condition"]
        assert det["id"] in MATCHERS or det["aggregate"] or det["id"] == "root_account_usage"
    assert [d["id"] for d in select_detections(tags=["guardduty"])] == ["guardduty_disabled", "guardduty_ipset_created"]
    with pytest.raises(InputError, match="unknown detection id"):
        select_detections(["nope"])
    with pytest.raises(InputError, match="unknown detection tag"):
        select_detections(tags=["nope"])


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
    out = ct.hunt({"source": "local", "paths": [str(tmp_path)], "since": "24h", "parser": parser,
                   "allowed_cidrs": ca.ALLOWED_CIDRS, "max_findings": 0, "workers": 1}, now=NOW)
    findings = out.findings
    for det, ids in manifest.items():
        hits = [f for f in findings if f["id"] == det]
        seen = set(f["details"]["event_id"] for f in hits) | set(i for f in hits for i in f["details"].get("event_ids", []))
        assert set(ids["fire"]) & seen, det
        assert not set(ids["benign"]) & seen, det
    assert not out.extra["coverage_complete"] and not out.coverage.complete
    assert any("broken.json.gz" in e for e in out.extra["coverage_detail"][0]["errors"])
    missed = dict((m["item"].rsplit("/", 1)[-1], m["reason"]) for m in out.coverage.missed)
    assert "not a readable gzip file" in missed["broken.json.gz"]
    # a JSON file without Records is not an empty log, whichever parser reads it
    assert "no Records list" in missed["other.json"]
    assert out.coverage.examined == out.extra["files_scanned"] == out.coverage.asked - 2
    assert out.extra["parser"].startswith("msgspec" if parser == "auto" else "json")


def test_stdlib_fallback_when_speedups_are_missing(tmp_path, monkeypatch):
    manifest = _write_plants(tmp_path)
    monkeypatch.setattr(scan, "HAS_MSGSPEC", False)
    monkeypatch.setattr(scan, "HAS_ISAL", False)
    out = ct.hunt({"source": "local", "paths": [str(tmp_path)], "since": "24h", "max_findings": 0, "workers": 2},
                  now=NOW)
    assert out.extra["parser"] == "json+zlib"
    assert out.coverage.complete
    assert out.extra["counts"]["console_login_without_mfa"] == len(manifest["console_login_without_mfa"]["fire"])


def test_unreadable_gzip_member_does_not_stop_the_hunt(tmp_path):
    good = {"Records": [ca.planted(NOW - datetime.timedelta(hours=1))["cloudtrail_tampering"]["fire"][0]]}
    (tmp_path / "a.json.gz").write_bytes(gzip.compress(json.dumps(good).encode()))
    (tmp_path / "b.json.gz").write_bytes(gzip.compress(b'{"Records": [{"eventTime": 5}]}'))
    out = ct.hunt({"source": "local", "paths": [str(tmp_path / "*.json.gz")], "since": "24h", "workers": 1},
                  now=NOW)
    assert out.extra["counts"]["cloudtrail_tampering"] == 1
    assert out.extra["files_scanned"] == 2


def test_an_empty_folder_examined_nothing_and_is_incomplete(tmp_path):
    out = ct.hunt({"source": "local", "paths": [str(tmp_path)], "since": "24h", "workers": 1}, now=NOW)
    assert out.coverage.examined == 0 and not out.coverage.complete
    assert out.coverage.gaps() == ["examined no files"]
    assert out.extra["coverage_complete"] is False and out.extra["files_scanned"] == 0


@pytest.mark.parametrize("limit", [0, 5])
def test_threshold_findings_keep_every_evidence_id(tmp_path, limit):
    """Issue 13 case 15: brute force kept 10 of 12 event ids; and it only ran when another login detection did."""
    manifest = _write_plants(tmp_path)
    out = ct.hunt({"source": "local", "paths": [str(tmp_path)], "since": "24h", "workers": 1,
                   "detections": ["console_login_brute_force"], "max_findings": limit}, now=NOW)
    brute = out.findings[0]
    planted = manifest["console_login_brute_force"]["fire"]
    assert brute["details"]["count"] == len(planted) > 10
    if limit:
        assert len(brute["details"]["event_ids"]) == limit and set(brute["details"]["event_ids"]) <= set(planted)
        assert brute["details"]["event_ids_truncated"] is True
    else:
        assert sorted(brute["details"]["event_ids"]) == sorted(planted)
        assert brute["details"]["event_ids_truncated"] is False


# --- S3 archive on moto (issue 13 cases 12-16a) ------------------------------------------------

ARCHIVE = "trail-archive"
ORG = "o-exampleorg1"


class MotoClients:
    """cloudtrail.hunt's clients on moto's in-process S3 (same wrapper as the module's)."""

    def __init__(self):
        self.s3 = RetryingBotoClientWrapper(boto3.client(
            "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"),
            retry_decorator(retries=1, delay=0.01))

    def client(self, service, region=None):
        return self.s3

    def account_id(self):
        return "123456789012"


@pytest.fixture
def archive():
    with mock_aws():
        clients = MotoClients()
        clients.s3.create_bucket(Bucket=ARCHIVE)
        plants = ca.planted(NOW - datetime.timedelta(hours=3))
        for key, data in ca.planted_files(plants, org=ORG):
            clients.s3.put_object(Bucket=ARCHIVE, Key=key, Body=data)
        yield clients, ca.manifest(plants)


def _put(clients, key, body):
    clients.s3.put_object(Bucket=ARCHIVE, Key=key, Body=body)


def _s3_hunt(clients, **params):
    base = {"source": "s3", "bucket": ARCHIVE, "since": "24h", "max_findings": 0, "workers": 1, "concurrency": 4}
    base.update(params)
    return ct.hunt(base, clients, now=NOW)


def _log(records):
    return gzip.compress(json.dumps({"Records": records}).encode())


def test_s3_folders_outside_the_expected_layout_are_named_and_read_when_they_can_be(archive):
    clients, _manifest = archive
    tamper = ca.planted(NOW - datetime.timedelta(hours=2))["cloudtrail_tampering"]["fire"][0]
    odd_key = ca.key_for("123456789012", "us-east-1", NOW - datetime.timedelta(hours=1))
    # an account folder under an unexpected name, with the CloudTrail layout: read
    _put(clients, odd_key.replace("AWSLogs/123456789012/", "AWSLogs/legacy-account/"), _log([tamper]))
    # a folder without the layout: a gap, never skipped silently
    _put(clients, "AWSLogs/exports/readme.txt", b"not a log")
    out = _s3_hunt(clients)
    assert out.extra["counts"]["cloudtrail_tampering"] == 2
    assert any("AWSLogs/legacy-account/ is not named like an account id" in n for n in out.notes)
    missed = dict((m["item"], m["reason"]) for m in out.coverage.missed)
    assert "not the CloudTrail layout" in missed["s3://%s/AWSLogs/exports/" % ARCHIVE]
    assert not out.coverage.complete
    assert any(d.get("folder") == "s3://%s/AWSLogs/exports/" % ARCHIVE for d in out.extra["coverage_detail"])


def test_s3_a_region_or_window_without_log_files_is_a_gap(archive):
    clients, _manifest = archive
    out = _s3_hunt(clients, regions=["us-east-1", "us-west-2"], detections=["cloudtrail_tampering"])
    assert out.extra["counts"]["cloudtrail_tampering"] == 1
    assert [(m["item"], "no log files delivered" in m["reason"]) for m in out.coverage.missed] == [
        ("123456789012/us-west-2", True)]
    old = _s3_hunt(clients, since=None, start_time="2026-10-01T00:00:00Z", end_time="2026-10-02T00:00:00Z")
    assert old.coverage.examined == 0 and not old.coverage.complete
    assert "no log files delivered between 2026-10-01T00:00:00Z" in old.coverage.missed[0]["reason"]


@pytest.mark.parametrize("parser", ["auto", "json"])
def test_s3_files_without_records_are_gaps_and_coverage_counts_read_and_failed(archive, parser):
    clients, _manifest = archive
    delivered = NOW - datetime.timedelta(hours=1)
    digest = ca.key_for("123456789012", "us-east-1", delivered, org=ORG)
    _put(clients, digest, gzip.compress(json.dumps({"awsAccountId": "123456789012", "logFiles": []}).encode()))
    _put(clients, ca.key_for("123456789012", "us-east-1", delivered, org=ORG), b"\x1f\x8bbroken")
    out = _s3_hunt(clients, parser=parser)
    detail = out.extra["coverage_detail"][0]
    assert (detail["account"], detail["region"]) == ("123456789012", "us-east-1")
    assert detail["files_failed"] == detail["error_count"] == 2
    assert detail["files_read"] == detail["files_listed"] - 2 == out.extra["files_scanned"]
    assert not detail["complete"]
    reasons = sorted(m["reason"] for m in out.coverage.missed)
    assert "no Records list" in reasons[0] and "not a readable gzip file" in reasons[1]
    assert out.coverage.examined == out.coverage.asked - 2


def test_s3_downloads_are_bounded(archive, monkeypatch):
    clients, _manifest = archive
    delivered = NOW - datetime.timedelta(hours=1)
    for _n in range(30):
        _put(clients, ca.key_for("123456789012", "us-east-1", delivered, org=ORG), _log([]))
    lock = threading.Lock()
    state = {"started": 0, "running": 0, "peak": 0, "parsed": 0, "ahead": 0}
    real_get = clients.s3.get_object

    def get_object(**kwargs):
        with lock:
            state["started"] += 1
            state["running"] += 1
            state["peak"] = max(state["peak"], state["running"])
        try:
            time.sleep(0.005)
            return real_get(**kwargs)
        finally:
            with lock:
                state["running"] -= 1

    real_scan = cloudtrail_s3.scan_blobs

    def scan_blobs(blobs, spec):
        state["ahead"] = max(state["ahead"], state["started"] - state["parsed"])
        state["parsed"] += len(blobs)
        return real_scan(blobs, spec)

    monkeypatch.setattr(clients.s3, "get_object", get_object)
    monkeypatch.setattr(cloudtrail_s3, "scan_blobs", scan_blobs)
    monkeypatch.setattr(cloudtrail_s3, "BATCH_BYTES", 1)  # one file per parse batch
    out = _s3_hunt(clients, concurrency=3)
    assert out.extra["files_scanned"] == state["started"] == state["parsed"] > 30
    assert state["peak"] <= 3
    # a download starts only when one finished: never more than the bound ahead of parsing
    assert state["ahead"] <= 3


def test_s3_the_deadline_stops_downloads_and_every_unread_file_is_a_gap_of_its_account(archive, monkeypatch):
    clients, _manifest = archive
    delivered = NOW - datetime.timedelta(hours=1)
    for _n in range(12):
        _put(clients, ca.key_for("123456789012", "us-east-1", delivered, org=ORG), _log([]))
    started = []
    real_get = clients.s3.get_object

    def slow_get(**kwargs):
        started.append(time.monotonic())
        time.sleep(1.5)
        return real_get(**kwargs)

    monkeypatch.setattr(clients.s3, "get_object", slow_get)
    begin = time.monotonic()
    out = _s3_hunt(clients, concurrency=2, deadline=2)
    took = time.monotonic() - begin
    cov = out.coverage
    late = [m for m in cov.missed if m["reason"] == "deadline reached (2 s) before it was read"]
    assert 0 < cov.examined == out.extra["files_scanned"] < cov.asked
    assert len(late) == cov.missed_count == cov.asked - cov.examined
    assert not cov.complete and any(n.startswith("deadline reached (2 s): ") for n in out.notes)
    detail = out.extra["coverage_detail"][0]
    assert (detail["account"], detail["region"]) == ("123456789012", "us-east-1")
    assert detail["files_failed"] == len(late) and detail["files_read"] == cov.examined
    # nothing starts after the deadline, and the two downloads in flight then are not awaited (+1.5 s)
    assert max(started) - begin < 2.0 + 0.1  # queued before the deadline, picked up just after
    assert took < 2.0 + 0.7


def test_s3_retries_are_botocore_bounded_ones():
    class Holder:
        config = boto3.session.Config(retries={"mode": "legacy", "max_attempts": 10}, read_timeout=60)

    holder = Holder()
    cloudtrail_s3.bound_retries(holder)
    assert holder.config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert holder.config.read_timeout == 60
