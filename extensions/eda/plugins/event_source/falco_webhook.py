# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-rulebook event source: Falco alerts over HTTP(S), authenticated, deduplicated and rate-limited.

Each run_playbook action is one ansible-playbook run (seconds of CPU), so a storm of identical alerts must be cut
down here, before the queue, or the response to the next real alert waits behind it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import hmac
import logging
import math
import os
import re
import ssl
import time
from collections import OrderedDict

from aiohttp import web

DOCUMENTATION = r"""
---
short_description: Receive Falco alerts from Falco's http_output or falcosidekick's webhook
description:
  - Listens for POSTs of one Falco alert in JSON (C(output), C(priority), C(rule), C(time), C(output_fields),
    C(hostname)), as Falco's C(http_output) and falcosidekick's webhook output send them, on any path.
  - Every request must carry the header C(Authorization) with C(Bearer <token>) (compared in constant time;
    a wrong or missing token is answered 401), unless mTLS is on and I(token) is not set. With I(cafile) the server
    requires a client certificate signed by that CA. The plugin refuses to start with neither.
  - Falco's own C(http_output) cannot add headers, so it authenticates with mTLS (C(http_output.mtls));
    falcosidekick's webhook can send the token (C(webhook.customHeaders)).
  - Alerts whose priority is not in I(priorities) are answered 200 and dropped.
  - Duplicates are dropped - the same rule, container (C(container.id), or the host for host alerts) and host
    within I(dedupe_window) seconds of the alert that was forwarded. Then a token bucket (I(rate) per second,
    I(burst) at once) caps what reaches the rules; over the limit the answer is 429 and the alert is dropped.
  - Each event is C({payload, meta}) like C(eda.builtin.webhook), with C(meta.hosts) set to the alert's
    C(hostname) (so C(run_playbook) runs on that host) when I(limit_to_hostname) is true; an alert whose
    C(hostname) is missing or not one plain host name (an inventory pattern such as C(all) or C(web*)) is then invalid (400).
  - A GET (authenticated) returns the counters - received, forwarded, duplicate, rate_limited, ignored,
    unauthorized, invalid.
options:
  host:
    description: Address to listen on (V(0.0.0.0) for every interface).
    type: str
    default: 127.0.0.1
  port:
    description: TCP port to listen on.
    type: int
    required: true
  token:
    description: The bearer token senders must present. Falls back to the environment variable I(token_env).
    type: str
  token_env:
    description: Environment variable that holds the token when I(token) is empty.
    type: str
    default: FALCO_WEBHOOK_TOKEN
  certfile:
    description: Server certificate (PEM) - turns on TLS.
    type: str
  keyfile:
    description: Key of I(certfile), when not in the same file.
    type: str
  cafile:
    description: CA (PEM) that client certificates must chain to - turns on mTLS (needs I(certfile)).
    type: str
  priorities:
    description: Falco priorities that are forwarded (case-insensitive).
    type: list
    elements: str
    default: [Emergency, Alert, Critical]
  dedupe_window:
    description: Seconds during which a repeat of a forwarded alert (same rule, container and host) is dropped; 0 disables.
    type: float
    default: 60
  rate:
    description: Alerts forwarded per second, on average (token bucket refill).
    type: float
    default: 2
  burst:
    description: Alerts forwarded at once before I(rate) applies (token bucket size).
    type: int
    default: 20
  limit_to_hostname:
    description: Set C(meta.hosts) to the alert's C(hostname).
    type: bool
    default: true
"""

EXAMPLES = r"""
- ainative.security.falco_webhook:
    host: 0.0.0.0
    port: 5000
    token: "{{ falco_webhook_token }}"
    certfile: /etc/eda/tls/server.pem
    cafile: /etc/eda/tls/falco-ca.pem
    dedupe_window: 60
    rate: 2
    burst: 20
"""

logger = logging.getLogger(__name__)
PRIORITIES = ("emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug")
# One host name, not an inventory pattern; "all" and "ungrouped" are Ansible's implicit groups
_HOSTNAME = re.compile(r"^(?!(?:all|ungrouped)$)[A-Za-z0-9][A-Za-z0-9._-]{0,252}$", re.IGNORECASE)
COUNTERS = ("received", "forwarded", "duplicate", "rate_limited", "ignored", "unauthorized", "invalid")


class TokenBucket(object):
    """``burst`` alerts at once, then ``rate`` per second."""

    def __init__(self, rate, burst, clock=time.monotonic):
        self.rate = float(rate)
        self.capacity = float(burst)
        self.tokens = self.capacity
        self.clock = clock
        self.stamp = clock()

    def take(self):
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def retry_after(self):
        return max(1, int(math.ceil((1 - self.tokens) / self.rate))) if self.rate > 0 else 60


class Deduper(object):
    """Remembers when each key was last forwarded; entries older than the window are pruned in order."""

    def __init__(self, window, clock=time.monotonic):
        self.window = float(window)
        self.clock = clock
        self.forwarded = OrderedDict()

    def _prune(self, now):
        while self.forwarded:
            key, stamp = next(iter(self.forwarded.items()))
            if now - stamp < self.window:
                break
            del self.forwarded[key]

    def seen(self, key):
        if self.window <= 0:
            return False
        self._prune(self.clock())
        return key in self.forwarded

    def remember(self, key):
        if self.window > 0:
            self.forwarded.pop(key, None)
            self.forwarded[key] = self.clock()

    def forget(self, key):
        self.forwarded.pop(key, None)


def _folded(value):
    """Case and runs of whitespace folded, so a resend that only changes them is still a duplicate."""
    return " ".join(str(value).split()).lower()


def dedupe_key(alert):
    fields = alert.get("output_fields") if isinstance(alert.get("output_fields"), dict) else {}
    return (_folded(alert.get("hostname") or ""), _folded(alert.get("rule")), _folded(fields.get("container.id") or "host"))


class Receiver(object):
    def __init__(self, queue, args):
        self.queue = queue
        self.token = str(args.get("token") or os.environ.get(args.get("token_env") or "FALCO_WEBHOOK_TOKEN") or "")
        self.mtls = bool(args.get("cafile"))
        if not self.token and not self.mtls:
            raise ValueError("falco_webhook: set token (or the %s environment variable) or cafile for mTLS; "
                             "refusing to accept unauthenticated alerts" % (args.get("token_env") or "FALCO_WEBHOOK_TOKEN"))
        self.priorities = set(p.lower() for p in args.get("priorities") or ("emergency", "alert", "critical"))
        unknown = self.priorities - set(PRIORITIES)
        if unknown:
            raise ValueError("falco_webhook: unknown priorities %s; use %s" % (sorted(unknown), ", ".join(PRIORITIES)))
        window = args.get("dedupe_window")
        self.deduper = Deduper(60 if window is None else window)
        self.bucket = TokenBucket(args.get("rate") or 2, args.get("burst") or 20)
        self.limit_to_hostname = args.get("limit_to_hostname", True) not in (False, "false", "False", "no")
        self.counters = dict((name, 0) for name in COUNTERS)

    def authorized(self, request):
        if not self.token:
            return True  # mTLS only: the TLS handshake already checked the client certificate
        scheme, _sep, presented = request.headers.get("Authorization", "").partition(" ")
        # surrogateescape: a header that is not UTF-8 is a wrong token (401), not a server error
        presented = presented.strip().encode("utf-8", "surrogateescape")
        return scheme.lower() == "bearer" and hmac.compare_digest(presented, self.token.encode("utf-8", "surrogateescape"))

    async def handle(self, request):
        if not self.authorized(request):
            self.counters["unauthorized"] += 1
            return web.json_response({"status": "unauthorized"}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="falco_webhook"'})
        if request.method == "GET":
            return web.json_response(self.counters)
        self.counters["received"] += 1
        try:
            alert = await request.json()
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep for the decoder
            alert = None
        if not isinstance(alert, dict) or not alert.get("rule") or not isinstance(alert.get("priority"), str):
            self.counters["invalid"] += 1
            return web.json_response({"status": "invalid", "reason": "expected one Falco alert (JSON object with rule and priority)"},
                                     status=400)
        if self.limit_to_hostname and not _HOSTNAME.match(str(alert.get("hostname") or "")):
            # meta.hosts becomes ansible-playbook's --limit: a pattern (all, *, a,b) would respond on many hosts
            self.counters["invalid"] += 1
            return web.json_response({"status": "invalid", "reason": "hostname must be one host name"}, status=400)
        if alert["priority"].lower() not in self.priorities:
            self.counters["ignored"] += 1
            return web.json_response({"status": "ignored"})
        key = dedupe_key(alert)
        if self.deduper.seen(key):
            self.counters["duplicate"] += 1
            return web.json_response({"status": "duplicate"})
        if not self.bucket.take():
            self.counters["rate_limited"] += 1
            logger.warning("falco_webhook: rate limit reached, dropped alert %r for %s", alert["rule"], key[2])
            return web.json_response({"status": "rate_limited"}, status=429,
                                     headers={"Retry-After": str(self.bucket.retry_after())})
        meta = {"endpoint": request.match_info.get("endpoint", "")}
        if self.limit_to_hostname:
            meta["hosts"] = alert["hostname"]
        self.deduper.remember(key)  # before the await, so a concurrent repeat is already a duplicate
        try:
            await self.queue.put({"payload": alert, "meta": meta})
        except Exception:
            self.deduper.forget(key)  # not queued: a resend must get through
            raise
        self.counters["forwarded"] += 1
        return web.json_response({"status": "queued"})


def ssl_context(args):
    if not args.get("certfile"):
        if args.get("cafile"):
            raise ValueError("falco_webhook: cafile (mTLS) needs certfile and keyfile for the server")
        return None
    # Not create_default_context(CLIENT_AUTH): that trusts the system CAs for client certificates too.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args["certfile"], args.get("keyfile"))
    if args.get("cafile"):
        context.load_verify_locations(cafile=args["cafile"])
        context.verify_mode = ssl.CERT_REQUIRED
    return context


async def main(queue, args):
    if not args.get("port"):
        raise ValueError("falco_webhook: port is required")
    receiver = Receiver(queue, args)
    app = web.Application()
    app.router.add_route("POST", r"/{endpoint:.*}", receiver.handle)
    app.router.add_route("GET", r"/{endpoint:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.get("host") or "127.0.0.1", int(args["port"]), ssl_context=ssl_context(args))
    await site.start()
    logger.info("falco_webhook: listening on %s:%s (%s)", args.get("host") or "127.0.0.1", args["port"],
                "mTLS" if receiver.mtls else "TLS" if args.get("certfile") else "plain HTTP")
    try:
        await asyncio.Future()
    finally:
        logger.info("falco_webhook: counters %s", receiver.counters)
        await runner.cleanup()
