# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where OCSF events go: syslog (RFC 5424 over TCP or TLS), a webhook (Slack or JSON), Splunk HEC, a file.

Each destination's ``send(events)`` delivers one batch or raises :class:`DeliveryError`; ``permanent``
marks a refusal that a retry cannot fix (a wrong token, a 4xx), so the caller stops retrying at once.
Secrets (the HEC token, a webhook URL and headers) live only in the request; no message here names them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import socket
import ssl

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.urls import open_url

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError, bounded_text
from ansible_collections.ainative.security.plugins.module_utils.core.fileio import write_if_changed

TYPES = ("syslog", "webhook", "hec", "file")
APP_NAME = "ainative.security"
# RFC 5424 section 6.2.1: facility codes by name.
FACILITIES = {"kern": 0, "user": 1, "daemon": 3, "auth": 4, "authpriv": 10, "local0": 16, "local1": 17,
              "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23}
# OCSF severity_id -> syslog severity (2 crit, 3 err, 4 warning, 5 notice, 6 info).
SYSLOG_SEVERITY = {0: 5, 1: 6, 2: 5, 3: 4, 4: 3, 5: 2, 6: 2, 99: 5}
SLACK_LISTED = 10
HEC_PATH = "/services/collector/event"


class DeliveryError(Exception):
    def __init__(self, reason, permanent=False):
        super(DeliveryError, self).__init__(reason)
        self.reason = bounded_text(reason, 512)
        self.permanent = permanent


def _dumps(event):
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def syslog_frame(event, facility, hostname):
    """One RFC 5424 message with RFC 6587 octet-counting framing (``LEN SP MSG``); bytes."""
    pri = facility * 8 + SYSLOG_SEVERITY.get(event.get("severity_id"), 5)
    stamp = datetime.datetime.fromtimestamp(event["time"] / 1000.0, datetime.timezone.utc)
    header = "<%d>1 %s %s %s - ocsf-%s -" % (pri, stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                                             hostname or "-", APP_NAME, event["class_uid"])
    message = ("%s %s" % (header, _dumps(event))).encode("utf-8")
    return b"%d %s" % (len(message), message)


class Destination(object):
    """Base: ``name`` labels results and spool files; ``batch_size`` events go in one ``send``."""

    batch_size = 1

    def __init__(self, spec):
        self.spec = spec
        self.name = spec["name"]
        self.type = spec["type"]
        self.changed = False

    def describe(self):
        return {"name": self.name, "type": self.type}

    def close(self):
        return None


class SyslogDestination(Destination):
    batch_size = 100

    def __init__(self, spec):
        super(SyslogDestination, self).__init__(spec)
        if not spec.get("host") or not spec.get("port"):
            raise InputError("destination %s: a syslog destination needs host and port" % self.name)
        self.facility = FACILITIES[spec.get("facility") or "authpriv"]
        self.hostname = socket.gethostname().split(".")[0] or "-"
        self.sock = None

    def describe(self):
        return dict(super(SyslogDestination, self).describe(), host=self.spec["host"], port=self.spec["port"],
                    transport=self.spec.get("transport") or "tcp")

    def _connect(self):
        spec = self.spec
        sock = socket.create_connection((spec["host"], spec["port"]), timeout=spec.get("timeout") or 10)
        if (spec.get("transport") or "tcp") != "tls":
            return sock
        context = ssl.create_default_context(cafile=spec.get("ca_path"))
        if not spec.get("validate_certs", True):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if spec.get("client_cert"):
            context.load_cert_chain(spec["client_cert"], spec.get("client_key"))
        try:
            return context.wrap_socket(sock, server_hostname=spec.get("server_name") or spec["host"])
        except Exception:
            sock.close()
            raise

    def send(self, events):
        # Plain TCP syslog has no acknowledgement: a message the kernel accepted counts as delivered.
        data = b"".join(syslog_frame(e, self.facility, self.hostname) for e in events)
        try:
            if self.sock is None:
                self.sock = self._connect()
            self.sock.sendall(data)
        except ssl.SSLError as exc:
            self.close()
            raise DeliveryError("TLS with %s:%s failed: %s" % (self.spec["host"], self.spec["port"], exc.reason or exc),
                                permanent="CERTIFICATE" in str(exc).upper())
        except (OSError, socket.error) as exc:
            self.close()
            raise DeliveryError("syslog %s:%s: %s" % (self.spec["host"], self.spec["port"], exc.strerror or exc))

    def close(self):
        if self.sock is not None:
            try:
                if isinstance(self.sock, ssl.SSLSocket):
                    self.sock.unwrap()  # close_notify: the receiver sees a clean end, not a truncation
                self.sock.close()
            except OSError:
                pass
            self.sock = None


class HttpDestination(Destination):
    """POSTs to ``url`` (a secret: Slack's URL is its credential) with Ansible's open_url."""

    content_type = "application/json"

    def __init__(self, spec):
        super(HttpDestination, self).__init__(spec)
        if not spec.get("url"):
            raise InputError("destination %s: a %s destination needs url" % (self.name, self.type))
        if not spec["url"].lower().startswith(("http://", "https://")):
            # Never echoed: the URL is the credential of a Slack webhook.
            raise InputError("destination %s: url must start with http:// or https://" % self.name)
        self.batch_size = spec.get("batch_size") or 100

    def url(self):
        return self.spec["url"]

    def headers(self):
        headers = dict(self.spec.get("headers") or {})
        headers["Content-Type"] = self.content_type
        return headers

    def body(self, events):
        raise NotImplementedError

    def accept(self, response_body):
        return None

    def send(self, events):
        spec = self.spec
        try:
            response = open_url(self.url(), data=self.body(events), headers=self.headers(), method="POST",
                                timeout=spec.get("timeout") or 10, validate_certs=spec.get("validate_certs", True),
                                ca_path=spec.get("ca_path"), client_cert=spec.get("client_cert"),
                                client_key=spec.get("client_key"), follow_redirects="none")
            body = response.read(65536)
        except HTTPError as exc:
            # 408, 429 and 5xx are the receiver's passing trouble; any other 4xx is a refusal.
            permanent = 400 <= exc.code < 500 and exc.code not in (408, 429)
            raise DeliveryError("%s %s answered HTTP %s" % (self.type, self.name, exc.code), permanent=permanent)
        except URLError as exc:
            raise DeliveryError("%s %s: %s" % (self.type, self.name, getattr(exc.reason, "strerror", None) or exc.reason))
        except (OSError, socket.error, ssl.SSLError) as exc:
            raise DeliveryError("%s %s: %s" % (self.type, self.name, getattr(exc, "strerror", None) or exc))
        self.accept(body)


class WebhookDestination(HttpDestination):
    """``format: json`` POSTs a JSON array of events; ``format: slack`` one summary message per batch."""

    def accept(self, response_body):
        # Slack-style receivers may answer 200 with {"ok": false, "error": ...}: the batch was refused.
        try:
            answer = json.loads(response_body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return
        if isinstance(answer, dict) and answer.get("ok") is False:
            raise DeliveryError("webhook %s refused the batch: %s" % (self.name, bounded_text(answer.get("error"), 200)),
                                permanent=True)

    def body(self, events):
        if (self.spec.get("format") or "json") == "json":
            return ("[%s]" % ",".join(_dumps(e) for e in events)).encode("utf-8")
        return json.dumps(slack_message(events), sort_keys=True).encode("utf-8")


def slack_message(events):
    """Slack-compatible ``text`` plus ``blocks``: counts by severity, then the most severe events."""
    ranked = sorted(events, key=lambda e: (-e.get("severity_id", 0), e.get("message", "")))
    counts = {}
    for event in events:
        counts[event["severity"]] = counts.get(event["severity"], 0) + 1
    order = ("Critical", "High", "Medium", "Low", "Informational", "Unknown")
    tally = ", ".join("%d %s" % (counts[s], s.lower()) for s in order if counts.get(s))
    text = "ainative.security: %d finding(s) (%s)" % (len(events), tally)
    lines = ["*%s* [%s] %s" % (e["severity"], e["class_name"], bounded_text(e.get("message", ""), 200))
             for e in ranked[:SLACK_LISTED]]
    if len(events) > SLACK_LISTED:
        lines.append("... and %d more" % (len(events) - SLACK_LISTED))
    return {"text": text, "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": bounded_text(text, 140)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": bounded_text("\n".join(lines), 2900)}},
    ]}


class HecDestination(HttpDestination):
    """Splunk HTTP Event Collector: ``Authorization: Splunk <token>``, events concatenated by newlines."""

    def __init__(self, spec):
        super(HecDestination, self).__init__(spec)
        if not spec.get("token"):
            raise InputError("destination %s: a hec destination needs token" % self.name)

    def url(self):
        url = self.spec["url"].rstrip("/")
        return url if url.endswith(HEC_PATH) else url + HEC_PATH

    def headers(self):
        headers = super(HecDestination, self).headers()
        headers["Authorization"] = "Splunk %s" % self.spec["token"]
        return headers

    def body(self, events):
        lines = []
        for event in events:
            wrapped = {"time": event["time"] / 1000.0, "source": APP_NAME,
                       "sourcetype": self.spec.get("sourcetype") or "ocsf:%s" % event["class_uid"], "event": event}
            if self.spec.get("index"):
                wrapped["index"] = self.spec["index"]
            lines.append(_dumps(wrapped))
        return "\n".join(lines).encode("utf-8")

    def accept(self, response_body):
        try:
            answer = json.loads(response_body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            answer = None
        # Only HEC's own "code": 0 acknowledges the batch; a proxy's 200 does not.
        if not isinstance(answer, dict) or "code" not in answer:
            raise DeliveryError("hec %s answered something that is not HEC JSON" % self.name)
        if answer["code"] != 0:
            raise DeliveryError("hec %s refused the batch: code %s %s" % (
                self.name, answer.get("code"), bounded_text(answer.get("text"), 200)), permanent=True)


class FileDestination(Destination):
    """JSON lines written atomically, all at once (the file holds this run's events, nothing else)."""

    def __init__(self, spec, check_mode=False):
        super(FileDestination, self).__init__(spec)
        if not spec.get("path"):
            raise InputError("destination %s: a file destination needs path" % self.name)
        self.check_mode = check_mode
        self.batch_size = 0  # one batch: the whole file

    def describe(self):
        return dict(super(FileDestination, self).describe(), path=self.spec["path"])

    def send(self, events):
        data = "".join(_dumps(e) + "\n" for e in events).encode("utf-8")
        try:
            self.changed = write_if_changed(self.spec["path"], data, check_mode=self.check_mode, make_dirs=True)["changed"] or self.changed
        except (IOError, OSError) as exc:
            raise DeliveryError("cannot write %s: %s" % (self.spec["path"], exc.strerror or exc), permanent=True)


def build(spec, check_mode=False):
    if spec["type"] == "syslog":
        return SyslogDestination(spec)
    if spec["type"] == "webhook":
        return WebhookDestination(spec)
    if spec["type"] == "hec":
        return HecDestination(spec)
    return FileDestination(spec, check_mode=check_mode)
