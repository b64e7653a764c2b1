"""A fault-injecting HTTP proxy in front of the lab's moto server: S3 throttling and slow downloads.

It refuses a configurable share of S3 GetObject requests with S3's own ``503 SlowDown`` error, can delay
every GetObject answer, and passes everything else to moto unchanged. Tests point ``endpoint_url`` at
it and set the faults at run time::

    info = lab.up("fault_proxy")                         # starts moto too
    fault_proxy.configure(info, refuse=0.9, delay=0.0)  # 90% of GetObject calls answer 503 SlowDown
    fault_proxy.stats(info)  # GetObject calls received, refused, passed and answered; other requests

CLI: ``python -m lab.services.fault_proxy PORT UPSTREAM_URL``.
"""

import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lab.harness import Service, http_ready

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONTROL = "/fault-proxy/"
SLOW_DOWN = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
             b'<Message>Please reduce your request rate.</Message><RequestId>%s</RequestId>'
             b'<HostId>fault-proxy</HostId></Error>')
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


class Faults:
    """The current faults and what the proxy did, shared by the handler threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.set(refuse=0.0, delay=0.0, seed=1)

    def set(self, refuse=0.0, delay=0.0, seed=1):
        with self.lock:
            self.refuse = float(refuse)
            self.delay = float(delay)
            self.rng = random.Random(seed)
            self.counts = {"get_object": 0, "refused": 0, "passed": 0, "answered": 0, "other": 0}

    def decide(self, get_object):
        """(refuse?, delay) for one request; counted."""
        with self.lock:
            if not get_object:
                self.counts["other"] += 1
                return False, 0.0
            self.counts["get_object"] += 1
            refused = self.rng.random() < self.refuse
            self.counts["refused" if refused else "passed"] += 1
            return refused, self.delay

    def answered(self):
        with self.lock:
            self.counts["answered"] += 1


def is_get_object(method, target):
    """Path-style S3 GetObject: GET /bucket/key with no sub-resource query (listing, ACL, ...)."""
    parts = urllib.parse.urlsplit(target)
    bucket, _sep, key = parts.path.lstrip("/").partition("/")
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    return method == "GET" and bool(bucket) and bool(key) and not (set(query) - {"versionId", "partNumber"})


def make_handler(upstream, faults):
    target = urllib.parse.urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet: tests read stats, not logs
            return

        def _send(self, status, body, headers=()):
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _control(self):
            if self.command == "POST" and self.path == CONTROL + "config":
                length = int(self.headers.get("Content-Length") or 0)
                faults.set(**json.loads(self.rfile.read(length) or b"{}"))
            with faults.lock:
                body = json.dumps(dict(faults.counts, refuse=faults.refuse, delay=faults.delay)).encode()
            self._send(200, body, [("Content-Type", "application/json")])

        def _proxy(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            get_object = is_get_object(self.command, self.path)
            refused, delay = faults.decide(get_object)
            try:
                self._answer(body, refused, delay)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up on this request (an abandoned download)
            finally:
                if get_object:
                    faults.answered()

        def _answer(self, body, refused, delay):
            if delay:
                time.sleep(delay)
            if refused:
                request_id = uuid.uuid4().hex[:16].upper()
                self._send(503, SLOW_DOWN % request_id.encode(), [("Content-Type", "application/xml"),
                                                                  ("x-amz-request-id", request_id)])
                return
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            try:
                headers = dict((k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP)
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self._send(resp.status, data, [(k, v) for k, v in resp.getheaders()
                                               if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"])
            finally:
                conn.close()

        def _handle(self):
            if self.path.startswith(CONTROL):
                self._control()
            else:
                self._proxy()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    return Handler


def serve(port, upstream):
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(upstream, Faults()))
    server.daemon_threads = True
    server.serve_forever()


def _configure(svc):
    svc.info["endpoint_url"] = "http://127.0.0.1:%d" % svc.port


def service(lab):
    moto = lab.up("moto")
    info = dict((k, moto[k]) for k in ("access_key", "secret_key", "region", "account"))
    svc = Service(
        lab, "fault_proxy",
        [sys.executable, "-m", "lab.services.fault_proxy", "{port}", moto["endpoint_url"]],
        ready=lambda s: http_ready("http://127.0.0.1:%d%sstats" % (s.port, CONTROL)),
        cwd=ROOT, timeout=30, configure=_configure,
    )
    svc.info.update(info, upstream=moto["endpoint_url"])
    return svc


def _call(info, path, data=None):
    req = urllib.request.Request(info["endpoint_url"] + CONTROL + path, method="POST" if data is not None else "GET",
                                 data=None if data is None else json.dumps(data).encode())
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def configure(info, refuse=0.0, delay=0.0, seed=1):
    """Set the faults (share of GetObject calls refused, seconds of delay per GetObject); resets the counts."""
    return _call(info, "config", {"refuse": refuse, "delay": delay, "seed": seed})


def stats(info):
    return _call(info, "stats")


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    serve(int(sys.argv[1]), sys.argv[2])
