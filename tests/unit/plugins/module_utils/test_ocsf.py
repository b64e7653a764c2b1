"""OCSF mapping and validation: every finding kind the collection emits, in every status, is a valid OCSF
1.5.0 event of the class the table says; wrong events are caught; delivery retries and the spool."""

import copy
import json
import os
import stat

import pytest

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.core.findings import KINDS, STATUSES
from ansible_collections.ainative.security.plugins.module_utils.ocsf import destinations, forward, mapping, spool
from ansible_collections.ainative.security.plugins.module_utils.ocsf.validate import InvalidEvent, Validator
from lab import findings_samples

WHEN = 1764583200000


@pytest.fixture(scope="module")
def validator():
    return Validator()


@pytest.fixture(scope="module")
def events():
    return [mapping.to_event(f, WHEN) for f in findings_samples.findings()]


def test_the_table_maps_every_kind_to_one_of_the_three_classes():
    assert set(mapping.CLASS_BY_KIND) == set(KINDS)
    assert set(mapping.CLASS_BY_KIND.values()) == set(mapping.CLASSES)
    assert set(f["kind"] for f in findings_samples.findings()) == set(KINDS)


@pytest.mark.parametrize("status", STATUSES)
def test_every_sample_finding_is_a_valid_event(validator, status):
    for finding in findings_samples.findings():
        event = mapping.to_event(dict(finding, status=status), WHEN)
        assert validator.errors(event) == [], (finding["control"], finding["kind"])
        assert event["class_uid"] == mapping.CLASS_BY_KIND[finding["kind"]][0]
        assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]


def test_classes_and_fields(events):
    by_id = dict((e["finding_info"]["analytic"]["uid"], e) for e in events)
    cve = by_id["CVE-2023-44487"]
    assert (cve["class_uid"], cve["severity_id"], cve["severity"]) == (2002, 4, "High")
    assert cve["vulnerabilities"][0]["cve"] == {"uid": "CVE-2023-44487"}
    assert cve["vulnerabilities"][0]["affected_packages"][0]["fixed_in_version"] == "1.52.0-1+deb12u1"
    assert by_id["GHSA-9wx4-h78v-vm56"]["vulnerabilities"][0]["advisory"]["uid"] == "GHSA-9wx4-h78v-vm56"
    assert by_id["GHSA-9wx4-h78v-vm56"]["status"] == "Suppressed"
    trail = by_id["cloudtrail_tampering"]
    assert (trail["class_uid"], trail["is_alert"], trail["severity_id"]) == (2004, True, 5)
    assert trail["resources"][0]["hostname"] == "localhost"
    s3 = by_id["s3_default_encryption_not_kms"]
    assert s3["compliance"]["status"] == "Fail" and s3["class_name"] == "Compliance Finding"
    fixed = by_id["s3_public_access_block_off"]
    assert (fixed["activity_name"], fixed["status"], fixed["compliance"]["status"]) == ("Close", "Resolved", "Pass")
    assert fixed["type_uid"] == 200303
    assert by_id["falco_rules_unknown_macro"]["severity_id"] == 0
    assert by_id["jwt_long_lifetime"]["severity"] == "Informational"


def test_same_finding_and_time_give_the_same_event_id():
    finding = findings_samples.findings()[0]
    first, again = mapping.to_event(finding, WHEN), mapping.to_event(finding, WHEN)
    later = mapping.to_event(finding, WHEN + 1)
    assert first["metadata"]["uid"] == again["metadata"]["uid"] != later["metadata"]["uid"]


@pytest.mark.parametrize("change, expected", [
    (lambda e: e.update(severity_id=2), "severity 'High' does not match severity_id 2"),
    (lambda e: e.update(severity_id=7), "severity_id: 7 is not one of"),
    (lambda e: e.update(type_uid=200402), "type_uid 200402 is not class_uid * 100 + activity_id"),
    (lambda e: e.update(class_uid=2003), "class_name 'Vulnerability Finding' is not 'Compliance Finding'"),
    (lambda e: e.pop("finding_info"), "'finding_info' is a required property"),
    (lambda e: e.update(made_up=1), "Additional properties are not allowed ('made_up'"),
    (lambda e: e["vulnerabilities"][0].pop("cve"), "vulnerabilities/0"),
    (lambda e: e.update(status="Resolved"), "status 'Resolved' does not match status_id 1"),
])
def test_wrong_events_are_caught(validator, events, change, expected):
    event = copy.deepcopy(events[0])
    assert event["finding_info"]["analytic"]["uid"].startswith("CVE-")
    change(event)
    problems = validator.errors(event)
    assert any(expected in p for p in problems), problems
    with pytest.raises(InvalidEvent) as info:
        validator.check(event, "finding X")
    assert "\n" not in info.value.msg and "it was not sent" in info.value.msg and info.value.kind == "internal"


def test_compliance_status_must_match(validator, events):
    event = copy.deepcopy([e for e in events if e["class_uid"] == 2003][0])
    event["compliance"]["status"] = "Pass"
    assert any("compliance.status 'Pass' does not match" in p for p in validator.errors(event))


def test_syslog_frame_counts_octets(events):
    frame = destinations.syslog_frame(events[0], destinations.FACILITIES["authpriv"], "host1")
    length, message = frame.split(b" ", 1)
    assert int(length) == len(message)
    assert message.startswith(b"<83>1 2025-12-01T10:00:00.000Z host1 ainative.security - ocsf-2002 - {")
    assert json.loads(message.split(b" - ", 2)[2]) == events[0]


def test_slack_message_lists_the_most_severe_first(events):
    message = destinations.slack_message(events * 2)
    assert message["text"].startswith("ainative.security: %d finding(s) (6 critical" % (2 * len(events)))
    listed = message["blocks"][1]["text"]["text"].splitlines()
    assert listed[0].startswith("*Critical*") and listed[-1] == "... and %d more" % (2 * len(events) - 10)


class Flaky(destinations.Destination):
    """A receiver that refuses the first ``failures`` sends (this branch needs no real receiver)."""

    batch_size = 2

    def __init__(self, failures, permanent=False):
        super(Flaky, self).__init__({"name": "flaky", "type": "webhook"})
        self.failures = failures
        self.permanent = permanent
        self.got = []

    def send(self, events):
        if self.failures:
            self.failures -= 1
            raise destinations.DeliveryError("HTTP 503", permanent=self.permanent)
        self.got.extend(events)


def test_retry_backs_off_exponentially_then_delivers():
    slept = []
    target = Flaky(2)
    delivery = forward.Delivery(target, retries=3, delay=0.5, deadline=30, sleep=slept.append)
    assert delivery.run(list(range(5))) == 5
    assert slept == [0.5, 1.0] and delivery.attempts == 5 and target.got == list(range(5))
    assert delivery.error is None


def test_retries_are_bounded_and_the_rest_is_undelivered():
    slept = []
    delivery = forward.Delivery(Flaky(10), retries=2, delay=0.1, deadline=30, sleep=slept.append)
    assert delivery.run(list(range(5))) == 0
    assert delivery.attempts == 3 and slept == [0.1, 0.2] and delivery.error == "HTTP 503"


def test_a_permanent_refusal_is_not_retried():
    delivery = forward.Delivery(Flaky(1, permanent=True), retries=5, delay=0.1, deadline=30, sleep=None)
    assert delivery.run([1]) == 0 and delivery.attempts == 1


def test_the_deadline_stops_retries():
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    delivery = forward.Delivery(Flaky(10), retries=10, delay=1, deadline=5, sleep=sleep, clock=lambda: now[0])
    assert delivery.run([1]) == 0
    assert delivery.attempts == 3 and "deadline of 5s reached" in delivery.error


def test_spool_round_trip_is_private_and_removed_when_empty(tmp_path, events):
    directory = str(tmp_path / "spool")
    assert spool.save(directory, "siem/../x", events[:3]) is True
    path = spool.spool_path(directory, "siem/../x")
    assert os.path.dirname(path) == directory and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert spool.load(directory, "siem/../x") == events[:3]
    assert spool.save(directory, "siem/../x", events[:3]) is False
    assert spool.save(directory, "siem/../x", []) is True and not os.path.exists(path)
    assert spool.load(directory, "siem/../x") == []


def test_a_spool_that_is_not_events_is_refused(tmp_path):
    (tmp_path / "siem.jsonl").write_text('{"a": 1}\nnot json\n')
    with pytest.raises(InputError) as info:
        spool.load(str(tmp_path), "siem")
    assert "line 2 is not an OCSF event" in str(info.value)


@pytest.mark.parametrize("answer", [b"", b"{}", b"null", b"[]", b'"Success"', b'{"text": "Success"}',
                                    b'{"text": "Invalid data format", "code": 6}'])
def test_hec_counts_a_batch_only_when_it_says_code_0(answer):
    # A proxy or a wrong endpoint answering 200 is not Splunk acknowledging the events.
    hec = destinations.HecDestination({"name": "splunk", "type": "hec", "url": "https://127.0.0.1:1", "token": "t"})
    with pytest.raises(destinations.DeliveryError):
        hec.accept(answer)
    hec.accept(b'{"text": "Success", "code": 0}')
    hec.accept(b'{"text": "Success", "code": 0, "ackId": 7}')


def test_webhook_answering_200_with_ok_false_is_not_delivered():
    hook = destinations.WebhookDestination({"name": "hook", "type": "webhook", "url": "https://127.0.0.1:1"})
    with pytest.raises(destinations.DeliveryError, match="invalid_token"):
        hook.accept(b'{"ok": false, "error": "invalid_token"}')
    for answer in (b"ok", b"", b'{"ok": true}', b"[]", b"<html>accepted</html>"):
        hook.accept(answer)
