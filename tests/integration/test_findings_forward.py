"""findings_forward against real receivers on loopback: rsyslogd (RFC 5424, octet counting, over TCP and TLS
and mutual TLS with a throw-away CA), a Slack-compatible and a JSON webhook, a Splunk HEC endpoint that checks the token
and the format, and a file. Every event the receivers got is validated again against the OCSF schema."""

import json
import os
import socket
import ssl
import time
import urllib.request

import pytest

from ansible_collections.ainative.security.plugins.module_utils.ocsf.validate import Validator
from lab import findings_samples
from lab.harness import free_port

TARGETS = os.path.join(os.path.dirname(__file__), "playbooks", "findings_forward")


@pytest.fixture(scope="module")
def channel(lab):
    return {"syslog": lab.up("rsyslog"), "sink": lab.up("webhook_sink")}


@pytest.fixture(scope="module")
def validator():
    return Validator()


def _report(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("ocsf") / "findings-report.json")
    return path, findings_samples.write_report(path)


def _syslog_lines(info):
    with open(info["messages"]) as handle:
        return [line.rstrip("\n").split("|", 3) for line in handle if line.strip()]


def _received(info):
    with open(info["received"]) as handle:
        return [json.loads(line) for line in handle]


def _wait_for(check, seconds=5):
    end = time.time() + seconds
    while not check() and time.time() < end:
        time.sleep(0.1)


def test_every_destination_gets_valid_ocsf_and_no_secret_leaks(playbook, channel, validator, tmp_path_factory):
    report, items = _report(tmp_path_factory)
    out_file = os.path.join(os.path.dirname(report), "findings.ocsf.jsonl")
    syslog, sink = channel["syslog"], channel["sink"]
    before = len(_syslog_lines(syslog))
    result = playbook(os.path.join(TARGETS, "forward.yml"), verbosity=3, extra_vars={
        "report": report, "expected_events": len(items), "out_file": out_file,
        "syslog_port": syslog["port"], "syslog_tls_port": syslog["tls_port"], "syslog_ca": syslog["ca_path"],
        "syslog_mtls_port": syslog["mtls_port"], "syslog_client_cert": syslog["client_cert"],
        "syslog_client_key": syslog["client_key"],
        "slack_url": sink["slack_url"], "json_url": sink["json_url"], "hec_url": sink["hec_url"],
        "hec_token": sink["hec_token"], "wrong_token": "not-the-hec-token"})
    assert result.rc == 0, result
    # The secrets are in the task's arguments but never in the output, not even at -vvv.
    hook = sink["slack_url"].split("/hooks/", 1)[1].split("/", 1)[0]
    for secret in (sink["hec_token"], hook, "not-the-hec-token"):
        assert secret not in result.stdout

    # rsyslog parsed 3 x N RFC 5424 messages (TCP, TLS, mutual TLS): one per event, none split or merged.
    _wait_for(lambda: len(_syslog_lines(syslog)) >= before + 3 * len(items))
    lines = _syslog_lines(syslog)[before:]
    assert len(lines) == 3 * len(items)
    syslog_severity = {5: "2", 4: "3", 3: "4", 2: "5", 1: "6", 0: "5"}
    for severity, app, msgid, msg in lines:
        event = json.loads(msg)
        assert validator.errors(event) == []
        assert (app, msgid, severity) == ("ainative.security", "ocsf-%d" % event["class_uid"],
                                          syslog_severity[event["severity_id"]])
    assert sorted(json.loads(line[3])["finding_info"]["uid"] for line in lines) == \
        sorted([f["fingerprint"] for f in items] * 3)

    received = _received(sink)
    slack = [r for r in received if r["kind"] == "slack"]
    as_json = [r for r in received if r["kind"] == "json"]
    hec = [r for r in received if r["kind"] == "hec"]
    assert len(slack) == 2 and all(r["body"]["text"].startswith("ainative.security: ") for r in slack)
    assert "Critical" in slack[0]["body"]["blocks"][1]["text"]["text"]
    events = [e for r in as_json for e in r["body"]]
    assert len(as_json) == 4 and len(events) == len(items)
    hec_events = [e for r in hec if "body" in r for e in r["body"]]
    assert len(hec_events) == len(items)
    assert all(e["sourcetype"] == "ocsf:%d" % e["event"]["class_uid"] for e in hec_events)
    assert [r["refused"] for r in hec if "refused" in r] == [403]  # the wrong token, sent once
    with open(out_file) as handle:
        written = [json.loads(line) for line in handle]
    for event in events + [e["event"] for e in hec_events] + written:
        assert validator.errors(event) == []
    assert [e["metadata"]["uid"] for e in written] == [e["metadata"]["uid"] for e in events]
    classes = dict((f["fingerprint"], f["kind"]) for f in items)
    assert set((classes[e["finding_info"]["uid"]], e["class_uid"]) for e in written) == {
        ("detection", 2004), ("runtime", 2004), ("vulnerability", 2002), ("misconfiguration", 2003),
        ("encryption", 2003), ("integrity", 2003), ("secret", 2003), ("license", 2003), ("authentication", 2003)}


def test_the_mutual_tls_port_refuses_a_client_without_certificate(channel):
    """The strict twin of the mutual TLS delivery above: without the client certificate rsyslog takes nothing."""
    syslog = channel["syslog"]
    message = b"<86>1 2026-12-01T10:00:00.000Z h ainative.security - no-client-cert - {}"
    context = ssl.create_default_context(cafile=syslog["ca_path"])
    try:
        with context.wrap_socket(socket.create_connection(("127.0.0.1", syslog["mtls_port"]), timeout=5),
                                 server_hostname="127.0.0.1") as conn:
            conn.sendall(b"%d %s" % (len(message), message))
            conn.recv(1)  # rsyslog ends the session
    except (ssl.SSLError, OSError):
        pass
    time.sleep(0.5)
    assert [line for line in _syslog_lines(syslog) if line[2] == "no-client-cert"] == []


def test_receiver_down_spools_and_the_next_run_delivers_each_event_once(playbook, channel, tmp_path_factory):
    report, items = _report(tmp_path_factory)
    spool_dir = os.path.join(os.path.dirname(report), "spool")
    syslog, sink = channel["syslog"], channel["sink"]
    sent = len([e for e in items if e["status"] in ("open", "expired_ignore")])
    before = len(_syslog_lines(syslog))
    request = urllib.request.Request(sink["url"] + "/_fail?count=2", data=b"", method="POST")
    urllib.request.urlopen(request, timeout=5).close()
    result = playbook(os.path.join(TARGETS, "spool.yml"), extra_vars={
        "report": report, "spool_dir": spool_dir, "dead_port": free_port(), "syslog_port": syslog["port"],
        "hec_url": sink["hec_url"], "hec_token": sink["hec_token"]})
    assert result.rc == 0, result
    assert not os.path.exists(os.path.join(spool_dir, "siem.jsonl"))
    _wait_for(lambda: len(_syslog_lines(syslog)) >= before + sent)
    time.sleep(0.3)  # a duplicate would arrive right behind
    uids = [json.loads(line[3])["metadata"]["uid"] for line in _syslog_lines(syslog)[before:]]
    assert len(uids) == sent and len(set(uids)) == sent
