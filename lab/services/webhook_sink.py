"""An HTTP receiver on loopback for the security channel: Slack-style webhook, JSON webhook, Splunk HEC.

* ``POST /hooks/<secret>/slack`` and ``/hooks/<secret>/json``: the secret path is the credential, as in a
  Slack webhook URL; a wrong one answers 404. Slack bodies must have ``text`` and ``blocks``, JSON bodies
  must be an array of objects; anything else answers 400.
* ``POST /services/collector/event``: Splunk HEC. ``Authorization: Splunk <token>`` or 401/403 with HEC's
  error codes; the body must be JSON objects separated by newlines, each with an ``event`` object
  (else 400, code 6), answered ``{"text": "Success", "code": 0}``.
* ``POST /_fail?count=N``: the next N deliveries answer 503 (a receiver in trouble, for retry tests).

Every accepted delivery is appended to ``received.jsonl`` as ``{"kind", "body"}`` (never a token), every
refused one as ``{"kind", "refused": status}``. ``/healthz`` answers 200.
Run directly: ``python webhook_sink.py PORT STATE``.
"""

import json
import os
import secrets
import sys
import threading


def service(lab):
    from lab.harness import Service, http_ready

    def prepare(svc):
        hook, token = secrets.token_hex(16), secrets.token_hex(16)
        with open(os.path.join(svc.dir, "secrets.json"), "w") as handle:
            json.dump({"hook": hook, "token": token}, handle)
        base = "http://127.0.0.1:%d" % svc.port
        svc.info.update(url=base, slack_url="%s/hooks/%s/slack" % (base, hook),
                        json_url="%s/hooks/%s/json" % (base, hook), hec_url=base, hec_token=token,
                        received=os.path.join(svc.dir, "received.jsonl"))

    return Service(lab, "webhook_sink", [sys.executable, os.path.abspath(__file__), "{port}", "{state}"],
                   ready=lambda svc: http_ready("http://127.0.0.1:%d/healthz" % svc.port), prepare=prepare,
                   timeout=20)


def _slack_ok(body):
    return isinstance(body, dict) and isinstance(body.get("text"), str) and isinstance(body.get("blocks"), list)


def _hec_events(data):
    events = []
    for line in data.decode("utf-8").split("\n"):
        if not line.strip():
            continue
        item = json.loads(line)
        if not isinstance(item, dict) or not isinstance(item.get("event"), dict):
            raise ValueError("no event object")
        events.append(item)
    if not events:
        raise ValueError("no events")
    return events


def serve(port, state):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    with open(os.path.join(state, "secrets.json")) as handle:
        keys = json.load(handle)
    lock = threading.Lock()
    failing = {"count": 0}
    log = os.path.join(state, "received.jsonl")

    def record(entry):
        with lock, open(log, "a") as handle:
            handle.write(json.dumps(entry) + "\n")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._answer(200 if self.path == "/healthz" else 404, {"status": "ok"})

        def do_POST(self):
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path.split("?", 1)[0]
            if path == "/_fail":
                with lock:
                    failing["count"] = int(self.path.split("count=", 1)[1])
                return self._answer(200, {"failing": failing["count"]})
            kind = {"/hooks/%s/slack" % keys["hook"]: "slack", "/hooks/%s/json" % keys["hook"]: "json",
                    "/services/collector/event": "hec"}.get(path)
            if kind is None:
                record({"kind": "unknown", "refused": 404})
                return self._answer(404, {"text": "not found"})
            if kind == "hec":
                auth = self.headers.get("Authorization") or ""
                if not auth.startswith("Splunk "):
                    record({"kind": kind, "refused": 401})
                    return self._answer(401, {"text": "Token is required", "code": 2})
                if not secrets.compare_digest(auth[7:], keys["token"]):
                    record({"kind": kind, "refused": 403})
                    return self._answer(403, {"text": "Invalid token", "code": 4})
            with lock:
                down = failing["count"] > 0
                failing["count"] -= 1 if down else 0
            if down:
                record({"kind": kind, "refused": 503})
                return self._answer(503, {"text": "Server is busy", "code": 9})
            try:
                if kind == "hec":
                    body = _hec_events(data)
                else:
                    body = json.loads(data.decode("utf-8"))
                    if kind == "slack" and not _slack_ok(body):
                        raise ValueError("not a Slack message")
                    if kind == "json" and not (isinstance(body, list) and all(isinstance(e, dict) for e in body)):
                        raise ValueError("not a JSON array of events")
            except (ValueError, UnicodeDecodeError):
                record({"kind": kind, "refused": 400})
                return self._answer(400, {"text": "Invalid data format", "code": 6})
            record({"kind": kind, "body": body})
            self._answer(200, {"text": "Success", "code": 0} if kind == "hec" else {"ok": True})

        def log_message(self, fmt, *args):
            # The path of a webhook holds its secret: log the method only.
            sys.stderr.write("webhook_sink %s\n" % self.command)

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
