"""cloudtrail_hunt's Bedrock history (option ``history``): LLM-jacking by a new principal, from a new network or
at unusual volume, judged against earlier hunts; the state file read fail-closed, written atomically, bounded."""

import datetime
import json
import os
import stat
import sys

import pytest

from ansible_collections.ainative.security.plugins.module_utils.cloud import cloudtrail as ct
from ansible_collections.ainative.security.plugins.module_utils.cloud import cloudtrail_history as history
from ansible_collections.ainative.security.plugins.module_utils.cloud.cloudtrail_detections import select_detections
from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.modules import cloudtrail_hunt

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
from lab import bedrock_history as bh  # noqa: E402
from lab import cloudtrail_archive as ca  # noqa: E402

HISTORY = list(history.IDS)


def _hunt(tmp_path, events, day_offset, days=1, state=None, learn=True, min_days=7, max_age_days=90, check=False,
          diff=False, detections=None, folder=None, create=True):
    folder = folder or "logs-%d-%d-%d" % (day_offset, days, len(events))
    logs = bh.write_files(str(tmp_path / folder), events)
    start, end = bh.window(day_offset, days)
    params = {"source": "local", "paths": [logs], "start_time": start, "end_time": end, "max_findings": 0, "workers": 1,
              "detections": detections or HISTORY,
              "history": {"path": str(state or tmp_path / "history.json"), "learn": learn, "min_days": min_days,
                          "max_age_days": max_age_days, "create": create}}
    outcome = ct.hunt(params)
    history.commit(outcome, check_mode=check, diff=diff)
    return outcome


def _learned(tmp_path, **kwargs):
    """A history of eight days of normal use (no longer learning); the hunt's outcome."""
    return _hunt(tmp_path, bh.history_events(), -bh.HISTORY_DAYS, bh.HISTORY_DAYS, **kwargs)


def _by_id(outcome):
    out = {}
    for finding in outcome.findings:
        out.setdefault(finding["id"], []).append(finding)
    return out


def test_principals_and_networks():
    assert history.principal_of("arn:aws:sts::123456789012:assumed-role/MLPipelineRole/pipeline-1109") == \
        "arn:aws:iam::123456789012:role/MLPipelineRole"
    assert history.principal_of("arn:aws-us-gov:sts::123456789012:assumed-role/R/s@example.com") == \
        "arn:aws-us-gov:iam::123456789012:role/R"
    assert history.principal_of(bh.ALICE) == bh.ALICE
    assert history.network_of("203.0.113.50") == "203.0.113.0/24"
    assert history.network_of("2001:db8:1:2:3::9") == "2001:db8:1:2::/64"
    assert history.network_of("bedrock.amazonaws.com") is None and history.network_of("AWS Internal") is None
    assert history.scan_ids(HISTORY + ["cloudtrail_tampering"]) == ["cloudtrail_tampering", history.SELECTOR]
    assert history.scan_ids(["cloudtrail_tampering"]) == ["cloudtrail_tampering"]


def test_first_run_learns_and_says_so(tmp_path):
    out = _learned(tmp_path, min_days=30)
    # everything is new on a first run, and LOW while the history is learning
    assert sorted(f["details"]["principal"] for f in _by_id(out)[history.NEW_PRINCIPAL]) == sorted([bh.ALICE, bh.PIPELINE_ROLE])
    assert all(f["severity"] == "LOW" and f["details"]["learning"] for f in out.findings)
    assert out.extra["history"]["learning"] is True and out.extra["history"]["days_covered"] == 0
    assert any("history is learning (0 of 30 days covered)" in n for n in out.notes)
    assert out.changed and out.extra["history"]["changed"]
    state = json.loads((tmp_path / "history.json").read_text())
    assert len(state["days"]) == bh.HISTORY_DAYS
    principals = state["accounts"][ca.ACCOUNT]["principals"]
    assert sorted(principals) == sorted([bh.ALICE, bh.PIPELINE_ROLE])  # eight session names, one role
    assert principals[bh.PIPELINE_ROLE]["days"]["2026-11-09"] == 30
    assert sorted(state["accounts"][ca.ACCOUNT]["networks"]) == ["10.1.2.0/24", "10.1.3.0/24"]
    assert stat.S_IMODE(os.stat(str(tmp_path / "history.json")).st_mode) == 0o600


def test_the_attack_is_found_and_its_strict_twin_is_not(tmp_path):
    _learned(tmp_path)
    twin = _hunt(tmp_path, bh.twin_events(), 0)
    assert twin.findings == [] and twin.extra["history"]["learning"] is False
    attack = _hunt(tmp_path, bh.attack_events(), 0, folder="attack")
    found = _by_id(attack)
    # the stolen key: a known principal from a network never seen
    stolen, = found[history.NEW_SOURCE_IP]
    assert stolen["severity"] == "HIGH" and stolen["details"]["source_ip"] == bh.STOLEN_KEY_IP
    assert stolen["details"]["principal"] == bh.ALICE and stolen["details"]["network_known"] is False
    assert stolen["target"] == ca.ACCOUNT and stolen["location"]["resource"] == "%s@%s" % (bh.ALICE, bh.STOLEN_KEY_IP)
    # a principal never seen, invoking Converse
    newcomer, = found[history.NEW_PRINCIPAL]
    assert newcomer["severity"] == "HIGH" and newcomer["details"]["principal"] == bh.NEWCOMER
    assert newcomer["details"]["event_names"] == ["Converse"] and newcomer["details"]["count"] == 3
    # the role at twenty times its volume
    volume, = found[history.UNUSUAL_VOLUME]
    assert volume["details"]["principal"] == bh.PIPELINE_ROLE and volume["details"]["day_count"] == 600
    assert volume["details"]["p95"] == 30 and volume["details"]["threshold"] == 100
    assert all(f["details"]["rule_id"] and f["details"]["technique"] == "T1496" for f in attack.findings)
    assert attack.extra["counts"] == {history.NEW_PRINCIPAL: 1, history.NEW_SOURCE_IP: 1, history.UNUSUAL_VOLUME: 1}


def test_findings_keep_their_fingerprint_when_counts_and_events_change(tmp_path):
    _learned(tmp_path, learn=True)
    first = _hunt(tmp_path, bh.attack_events(), 0, learn=False, folder="a")
    again = _hunt(tmp_path, bh.attack_events()[:-1], 0, learn=False, folder="b")  # one event fewer, other ids
    assert sorted(f["fingerprint"] for f in first.findings) == sorted(f["fingerprint"] for f in again.findings)
    assert len(set(f["fingerprint"] for f in first.findings)) == 3


def test_judge_first_then_learn(tmp_path):
    """The attack's own events are not normal in the run that sees them; once judged, they are learned."""
    _learned(tmp_path)
    attack = _hunt(tmp_path, bh.attack_events(), 0)
    assert len(attack.findings) == 3
    state = json.loads((tmp_path / "history.json").read_text())
    assert bh.NEWCOMER in state["accounts"][ca.ACCOUNT]["principals"]
    assert bh.STOLEN_KEY_IP in state["accounts"][ca.ACCOUNT]["ips"]
    # the next day the same principal and address are known: reported once
    later = [dict(e, eventTime=e["eventTime"].replace("2026-11-10", "2026-11-11")) for e in bh.attack_events()[-8:]]
    assert _hunt(tmp_path, later, 1).findings == []


def test_a_new_address_in_a_known_network_is_low(tmp_path):
    _learned(tmp_path)
    events = bh.twin_events()
    events[0]["sourceIPAddress"] = "10.1.2.99"
    found, = _hunt(tmp_path, events, 0).findings
    assert found["id"] == history.NEW_SOURCE_IP and found["severity"] == "LOW" and found["details"]["network_known"]


def test_volume_below_the_floor_or_the_factor_is_not_unusual(tmp_path):
    _learned(tmp_path)
    assert _hunt(tmp_path, bh.normal_day(bh.BASE, pipeline_calls=99), 0).findings == []  # 3 x p95 = 90, floor 100
    assert [f["id"] for f in _hunt(tmp_path, bh.normal_day(bh.BASE, pipeline_calls=101), 0, folder="v2").findings] == \
        [history.UNUSUAL_VOLUME]


def test_old_entries_are_forgotten(tmp_path):
    _learned(tmp_path)
    later = [dict(e, eventTime=e["eventTime"].replace("2026-11-10", "2026-11-13")) for e in bh.twin_events()]
    # two days after the history's last: with max_age_days 1 all of it is forgotten, and relearned
    out = _hunt(tmp_path, later, 3, min_days=0, max_age_days=1)
    assert sorted(f["details"]["principal"] for f in _by_id(out)[history.NEW_PRINCIPAL]) == sorted([bh.ALICE, bh.PIPELINE_ROLE])
    assert out.extra["history"]["days_covered"] == 0
    state = json.loads((tmp_path / "history.json").read_text())
    assert state["days"] == ["2026-11-13"] and list(state["accounts"][ca.ACCOUNT]["principals"][bh.ALICE]["days"]) == \
        ["2026-11-13"]


@pytest.mark.parametrize("content, message", [
    (b"{not json", "it is not JSON"),
    (b"\xff\xfe", "it is not JSON"),
    (b"[]", "it is not a cloudtrail_hunt history"),
    (json.dumps({"schema": history.SCHEMA, "version": 2, "days": [], "accounts": {}}).encode(), "its version 2 is not 1"),
    (json.dumps({"schema": history.SCHEMA, "version": 1, "days": ["yesterday"], "accounts": {}}).encode(), "days must be"),
    (json.dumps({"schema": history.SCHEMA, "version": 1, "days": [], "accounts": {"1": {"principals": {}}}}).encode(),
     "account 1 must have exactly principals, ips and networks"),
    (json.dumps({"schema": history.SCHEMA, "version": 1, "days": [], "accounts": {"1": {
        "principals": {"p": {"first": "a", "last": "b", "days": {"2026-11-01": "9"}}}, "ips": {}, "networks": {}}}}).encode(),
     "principal p must have first, last and days"),
])
def test_a_damaged_state_fails_closed_and_is_left_alone(tmp_path, content, message):
    path = tmp_path / "history.json"
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        _hunt(tmp_path, bh.twin_events(), 0)
    assert message in err.value.msg and "restore %s.bak" % path in err.value.msg and "\n" not in err.value.msg
    assert path.read_bytes() == content


def test_what_cannot_be_a_state_file(tmp_path):
    os.mkfifo(str(tmp_path / "fifo"))
    for path, message in ((tmp_path / "fifo", "is not a regular file"), (tmp_path / "no" / "h.json", "does not exist"),
                          (tmp_path, "is not a regular file")):
        with pytest.raises(InputError, match=message):
            _hunt(tmp_path, bh.twin_events(), 0, state=path)
    with pytest.raises(InputError, match="max_age_days must be"):
        _hunt(tmp_path, bh.twin_events(), 0, max_age_days=0)
    with pytest.raises(InputError, match="min_days must be"):
        _hunt(tmp_path, bh.twin_events(), 0, min_days=91)
    with pytest.raises(InputError, match="does not work with organization"):
        history.load({"path": str(tmp_path / "h.json"), "learn": True, "min_days": 7, "max_age_days": 90, "create": True},
                     organization={"accounts": ["111122223333"]})


def test_a_deleted_history_is_refused_not_restarted(tmp_path):
    # the attack: after a week of history, delete the file so the next hunt starts learning again - every
    # principal LOW, and the attacker's invocations learned as normal
    state = tmp_path / "history.json"
    _learned(tmp_path, create=True)
    assert state.exists() and not (tmp_path / "history.json.bak").exists()
    state.unlink()
    with pytest.raises(InputError) as err:
        _hunt(tmp_path, bh.attack_events(), 0, folder="attack", create=False)
    assert err.value.msg == ("history.path %s does not exist; set history.create: true on the first hunt to start a new "
                             "history (a history that is deleted later is refused, not restarted)" % state)
    # once a second hunt has written a .bak, even create cannot restart a history whose file is gone
    _learned(tmp_path, create=True)
    _hunt(tmp_path, bh.twin_events(), 0, create=False)
    backup = (tmp_path / "history.json.bak").read_bytes()
    state.unlink()
    for create in (False, True):
        with pytest.raises(InputError, match=r"is missing but .*history.json.bak exists, so the history was deleted"):
            _hunt(tmp_path, bh.attack_events(), 0, folder="attack", create=create)
    assert not state.exists() and (tmp_path / "history.json.bak").read_bytes() == backup
    # the strict twin: the file restored from its backup, the attack is judged against the full history
    state.write_bytes(backup)
    out = _hunt(tmp_path, bh.attack_events(), 0, folder="attack", create=False)
    assert _by_id(out)[history.NEW_PRINCIPAL] and not out.extra["history"]["learning"]
    assert all(f["severity"] != "LOW" for f in _by_id(out)[history.NEW_PRINCIPAL])


def test_check_mode_diff_backup_and_changed(tmp_path):
    path = tmp_path / "history.json"
    _learned(tmp_path)
    before = path.read_bytes()
    checked = _hunt(tmp_path, bh.attack_events(), 0, check=True, diff=True, folder="attack")
    assert path.read_bytes() == before and not (tmp_path / "history.json.bak").exists()
    assert checked.changed and checked.extra["history"]["changed"]
    assert checked.diff["after"].splitlines() == [
        "+ network %s 198.51.100.0/24" % ca.ACCOUNT, "+ network %s 203.0.113.0/24" % ca.ACCOUNT,
        "+ principal %s %s" % (ca.ACCOUNT, bh.NEWCOMER),
        "+ source_ip %s %s" % (ca.ACCOUNT, bh.NEW_PRINCIPAL_IP), "+ source_ip %s %s" % (ca.ACCOUNT, bh.STOLEN_KEY_IP)]
    done = _hunt(tmp_path, bh.attack_events(), 0, folder="attack")
    assert done.changed and (tmp_path / "history.json.bak").read_bytes() == before
    assert stat.S_IMODE(os.stat(str(tmp_path / "history.json.bak")).st_mode) == 0o600
    after = path.read_bytes()
    again = _hunt(tmp_path, bh.attack_events(), 0, folder="attack")  # the same window again: nothing new
    assert not again.changed and not again.extra["history"]["changed"] and path.read_bytes() == after
    assert not _hunt(tmp_path, bh.attack_events(), 0, learn=False, folder="attack").changed
    assert [n for n in os.listdir(str(tmp_path)) if n.startswith(".")] == []  # no temporary file left


def test_without_history_the_detections_are_inactive(tmp_path):
    logs = bh.write_files(str(tmp_path / "logs"), bh.attack_events())
    start, end = bh.window(0)
    out = ct.hunt({"source": "local", "paths": [logs], "start_time": start, "end_time": end, "workers": 1})
    assert not [f for f in out.findings if f["id"] in history.IDS] and "history" not in out.extra
    assert any(n.startswith(", ".join(sorted(HISTORY)) + " inactive: set history.path") for n in out.notes)
    assert history.SELECTOR not in [d["id"] for d in select_detections(tags=["history"])]
    assert [d["id"] for d in select_detections(tags=["history"])] == sorted(HISTORY)


def test_a_million_principals_make_a_bounded_state(tmp_path):
    """A hostile log cannot grow the state without bound: the entries seen longest ago are dropped."""
    path = tmp_path / "history.json"
    options = {"path": str(path), "learn": True, "min_days": 7, "max_age_days": 90, "create": True}
    end = datetime.datetime(2026, 11, 10, 23, 59, tzinfo=datetime.timezone.utc)
    matches = ((history.SELECTOR, {
        "event_id": None, "event_time": "2026-11-10T%02d:%02d:%02dZ" % (n // 3600 % 24, n // 60 % 60, n % 60),
        "event_name": "InvokeModel", "principal": "arn:aws:iam::%s:user/u%d" % (ca.ACCOUNT, n),
        "source_ip": "10.%d.%d.%d" % (n >> 16 & 255, n >> 8 & 255, n & 255), "account": ca.ACCOUNT,
        "region": "us-east-1"}) for n in range(1000000))
    # one call each: no volume finding, so the test measures the state, not a million findings
    detections = select_detections([history.UNUSUAL_VOLUME])
    cov = Coverage("files", asked=1)
    cov.add()
    judged = history.judge(options, history.load(options), detections, matches, end - datetime.timedelta(days=1), end, cov)
    assert judged.findings == []
    # the principals past what one hunt follows are not judged: a gap, so the run is incomplete
    assert not cov.complete and "980000 Bedrock invocations not judged" in cov.gaps()[0]
    outcome = type("Outcome", (), {"history": judged, "changed": False, "diff": None})
    history.commit(outcome)
    assert outcome.changed
    assert path.stat().st_size < 8 << 20
    state = json.loads(path.read_text())
    entry = state["accounts"][ca.ACCOUNT]
    assert len(entry["principals"]) == history.MAX_PRINCIPALS
    assert len(entry["ips"]) == history.MAX_RUN_PRINCIPALS and len(entry["networks"]) == 79
    assert judged.result["dropped"] == history.MAX_RUN_PRINCIPALS - history.MAX_PRINCIPALS
    assert any("history is full" in n for n in judged.notes)


def test_module_check_mode_writes_nothing(run_module, tmp_path):
    logs = bh.write_files(str(tmp_path / "logs"), bh.history_events())
    start, end = bh.window(-bh.HISTORY_DAYS, bh.HISTORY_DAYS)
    args = {"source": "local", "paths": [logs], "start_time": start, "end_time": end, "tags": ["history"],
            "history": {"path": str(tmp_path / "h.json"), "create": True}}
    result, failed = run_module(cloudtrail_hunt, args, check_mode=True, diff=True)
    assert not failed and result["changed"] and not (tmp_path / "h.json").exists()
    assert "+ principal %s %s" % (ca.ACCOUNT, bh.ALICE) in result["diff"]["after"]
    assert result["history"]["learning"] and result["history"]["min_days"] == 7 and result["history"]["created"]
    result, failed = run_module(cloudtrail_hunt, args)
    assert not failed and result["changed"] and (tmp_path / "h.json").exists()
    result, failed = run_module(cloudtrail_hunt, args)
    assert not failed and not result["changed"] and result["findings"] == [] and not result["history"]["created"]
    (tmp_path / "h.json").write_text("{}")
    result, failed = run_module(cloudtrail_hunt, args)
    assert failed and result["error_kind"] == "input" and "it is not a cloudtrail_hunt history" in result["msg"]


def test_one_principal_from_many_addresses_is_bounded_too(tmp_path):
    options = {"path": str(tmp_path / "h.json"), "learn": True, "min_days": 7, "max_age_days": 90, "create": True}
    end = datetime.datetime(2026, 11, 10, 23, 59, tzinfo=datetime.timezone.utc)
    matches = ((history.SELECTOR, {"event_id": "e%d" % n, "event_time": "2026-11-10T10:00:00Z", "event_name": "Converse",
                                   "principal": bh.ALICE, "source_ip": "10.%d.%d.%d" % (n >> 16 & 255, n >> 8 & 255, n & 255),
                                   "account": ca.ACCOUNT}) for n in range(30000))
    cov = Coverage("files", asked=1)
    cov.add()
    judged = history.judge(options, history.load(options), select_detections([history.NEW_PRINCIPAL]), matches,
                           end - datetime.timedelta(days=1), end, cov)
    finding, = judged.findings
    assert finding["details"]["count"] == 30000 and len(finding["details"]["source_ips"]) == history.EVIDENCE
    assert "10000 Bedrock invocations not judged" in cov.gaps()[0]
    assert judged.result["source_ips"] == history.MAX_RUN_ADDRESSES
