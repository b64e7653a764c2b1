# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The JWT attack matrix of ``api_jwt_probe``: build each attack token, send it, classify the answer.

Every case says what a correct gateway does (``accept`` the valid token, ``reject`` everything else),
what the gateway did (the HTTP status), and whether that was right. Tokens exist only in memory while
a request is sent; nothing here returns, logs or puts a token or key into a finding.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import ssl
import time
import uuid

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import urlsplit, urlunsplit, urlencode
from ansible.module_utils.urls import Request, SSLValidationError

from ansible_collections.ainative.security.plugins.module_utils import jwt as jose
from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding, summarize, sort_findings

CONTROL = "api_jwt_probe"
RFC8725 = "https://www.rfc-editor.org/rfc/rfc8725"

# name: (expected, severity, needs, description)
#   needs: "any" (a token or a signing key), "mint" (a signing key), "public" (an asymmetric public key)
CASES = (
    ("no_token", "reject", "CRITICAL", "any", "request without any token"),
    ("malformed", "reject", "HIGH", "any", "a bearer value that is not a JWT"),
    ("valid", "accept", "HIGH", "any", "a valid token (right key, issuer, audience, times)"),
    ("expired", "reject", "HIGH", "mint", "exp one hour in the past"),
    ("nbf_future", "reject", "MEDIUM", "mint", "nbf one hour in the future (not yet valid)"),
    ("no_exp", "reject", "HIGH", "mint", "no exp claim (a token that never expires)"),
    ("wrong_audience", "reject", "HIGH", "mint", "aud for another service"),
    ("wrong_issuer", "reject", "HIGH", "mint", "iss of another identity provider"),
    ("bad_signature", "reject", "CRITICAL", "any", "signed with another key under the same kid"),
    ("tampered_payload", "reject", "CRITICAL", "any", "claims changed (sub: admin) after signing"),
    ("alg_none", "reject", "CRITICAL", "any", "alg none with an empty signature"),
    ("hs256_public_key", "reject", "CRITICAL", "public", "HS256 with the RSA/EC public key as HMAC secret (key confusion)"),
    ("unknown_kid", "reject", "MEDIUM", "mint", "right key, kid the gateway does not know"),
    ("kid_injection", "reject", "CRITICAL", "any", "kid ../../dev/null path traversal, HS256 with an empty secret"),
    ("jku_injection", "reject", "CRITICAL", "any", "jku header pointing at an attacker JWKS, signed with the attacker key"),
    ("x5u_injection", "reject", "CRITICAL", "any", "x5u header pointing at an attacker certificate, signed with its key"),
    ("jwk_injection", "reject", "CRITICAL", "any", "embedded jwk header with the attacker public key (CVE-2018-0114)"),
    ("token_in_query", "reject", "MEDIUM", "any", "valid token in the query string instead of the header (RFC 6750 5.3)"),
)
CASE_NAMES = tuple(c[0] for c in CASES)
CASE_INFO = dict((c[0], c[1:]) for c in CASES)
# Not required by default: no Apache JWT module available on Debian 12 enforces nbf (see the guide).
DEFAULT_NOT_REQUIRED = ("nbf_future",)
DEFAULT_REQUIRED = tuple(n for n in CASE_NAMES if n not in DEFAULT_NOT_REQUIRED)


class ProbeError(Exception):
    """A probe that cannot run (bad key, unreachable endpoint); the message says how to fix it."""


def _status_range(statuses):
    return "|".join(str(s) for s in statuses)


def classify(status, reject_status):
    if status is None:
        return "error"
    if 200 <= status < 300:
        return "accepted"
    if status in reject_status:
        return "rejected"
    return "unexpected"


class Probe(object):
    """One endpoint, one attack matrix. ``run()`` returns the module result (without ``changed``)."""

    def __init__(self, url, method="GET", headers=None, body=None, issuer=None, audience=None,
                 subject="ainative-probe", signing_key=None, algorithm="RS256", kid=None, token=None,
                 public_key=None, token_lifetime=300, extra_claims=None, cases=None, required_cases=None,
                 reject_status=(400, 401, 403), query_param="access_token", token_header="Authorization",
                 token_scheme="Bearer", validate_certs=True, ca_path=None, timeout=10,
                 injection_url="https://attacker.invalid/jwks.json", injection_x5u_url=None,
                 injection_key=None, injection_kid=None):
        self.url = url
        self.method = method.upper()
        self.headers = dict(headers or {})
        self.body = body
        self.issuer = issuer
        self.audience = audience
        self.subject = subject
        self.algorithm = algorithm
        self.token = token
        self.lifetime = token_lifetime
        self.extra_claims = dict(extra_claims or {})
        self.cases = list(cases or CASE_NAMES)
        self.required = set(DEFAULT_REQUIRED if required_cases is None else required_cases)
        self.reject_status = tuple(reject_status)
        self.query_param = query_param
        self.token_header = token_header
        self.token_scheme = token_scheme
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = timeout
        self.injection_url = injection_url
        self.injection_x5u_url = injection_x5u_url or _sibling(injection_url, "cert.pem")
        self.target = "%s %s" % (self.method, _without_query(url))
        self._setup_keys(signing_key, kid, public_key, injection_key, injection_kid)

    # -- keys and tokens ------------------------------------------------------------------------
    def _setup_keys(self, signing_key, kid, public_key, injection_key, injection_kid):
        try:
            self.key = None
            if signing_key is not None:
                self.key = jose.load_key(signing_key, kid=kid, secret=self.algorithm in jose.HMAC_ALGORITHMS)
                if self.key.kty != "oct" and not self.key.private:
                    raise ProbeError("signing_key is a public key or certificate; the probe mints tokens and needs "
                                     "the private key (or give a valid token instead)")
                if self.algorithm not in self.key.algorithms():
                    raise ProbeError("algorithm %s does not fit the %s signing key; use one of %s"
                                     % (self.algorithm, self.key.kty, ", ".join(self.key.algorithms())))
                if kid:
                    self.key.kid = kid
            elif self.token is not None:
                decoded = jose.decode(self.token)
                if decoded["header"].get("alg") in (None, "none"):
                    raise ProbeError("the given token is unsigned; give a token signed by the identity provider")
            self.public = None
            if public_key:
                self.public = jose.load_key(public_key).public()
            elif self.key is not None and self.key.kty != "oct":
                self.public = self.key.public()
            template = self.key if (self.key is not None and self.key.kty != "oct") else None
            if injection_key:
                self.attacker = jose.load_key(injection_key)
                if not self.attacker.private:
                    raise ProbeError("injection_key must be a private key (the probe signs with it)")
            else:
                self.attacker = jose.generate_key(template)
                self.attacker.kid = None
            self.attacker.kid = injection_kid or self.attacker.kid or "ainative-probe-attacker"
        except jose.JWTError as exc:
            raise ProbeError(str(exc))

    def _now(self):
        return int(time.time())

    def _claims(self, **changes):
        now = self._now()
        claims = {"iss": self.issuer, "aud": self.audience, "sub": self.subject, "iat": now,
                  "exp": now + self.lifetime, "jti": str(uuid.uuid4())}
        claims.update(self.extra_claims)
        for name, value in changes.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def _valid_token(self):
        if self.key is not None:
            return jose.encode(self._claims(), self.key, self.algorithm)
        return self.token

    def _base(self):
        """Header and claims of the valid token (for forgeries that keep them)."""
        parts = jose.decode(self._valid_token())
        return parts["header"], parts["claims"]

    def _attacker_alg(self):
        return {"RSA": "RS256", "EC": {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}.get(self.attacker.curve),
                "OKP": "EdDSA", "oct": "HS256"}[self.attacker.kty]

    def build(self, name):
        """(token or None, how to send it) for one case, or raise SkipCase."""
        needs = CASE_INFO[name][2]
        if needs == "mint" and self.key is None:
            raise SkipCase("needs signing_key to mint tokens with chosen claims")
        if name == "no_token":
            return None, "header"
        if name == "malformed":
            return "ainative-probe.not-a-jwt", "header"
        if name in ("valid", "token_in_query"):
            return self._valid_token(), ("query" if name == "token_in_query" else "header")
        now = self._now()
        if name == "expired":
            return jose.encode(self._claims(iat=now - 7200, exp=now - 3600), self.key, self.algorithm), "header"
        if name == "nbf_future":
            return jose.encode(self._claims(nbf=now + 3600, exp=now + 3600 + self.lifetime), self.key,
                               self.algorithm), "header"
        if name == "no_exp":
            return jose.encode(self._claims(exp=None), self.key, self.algorithm), "header"
        if name == "wrong_audience":
            return jose.encode(self._claims(aud="ainative-probe-wrong-audience"), self.key, self.algorithm), "header"
        if name == "wrong_issuer":
            return jose.encode(self._claims(iss="https://wrong-issuer.ainative-probe.invalid"), self.key,
                               self.algorithm), "header"
        if name == "unknown_kid":
            return jose.encode(self._claims(), self.key, self.algorithm,
                               headers={"kid": "ainative-probe-unknown-kid"}), "header"
        header, claims = self._base()
        alg = header.get("alg")
        if name == "bad_signature":
            if self.key is not None:
                other = jose.generate_key(self.key)
                return jose.encode(claims, other, self.algorithm, headers=header), "header"
            parts = jose.split_token(self.token)
            sig = bytearray(jose.b64url_decode(parts[2]))
            if not sig:
                raise SkipCase("the given token has no signature to corrupt")
            sig[len(sig) // 2] ^= 0x5A
            return "%s.%s.%s" % (parts[0], parts[1], jose.b64url_encode(bytes(sig))), "header"
        if name == "tampered_payload":
            parts = jose.split_token(self._valid_token())
            forged = dict(claims, sub="admin", role="admin")
            return "%s.%s.%s" % (parts[0], jose.b64url_encode(jose._json_compact(forged)), parts[2]), "header"
        if name == "alg_none":
            forged = dict(header, alg="none")
            return jose.encode_unsigned(forged, claims), "header"
        if name == "hs256_public_key":
            if self.public is None:
                raise SkipCase("needs the gateway's public key (public_key) or an asymmetric signing_key")
            secret = jose.Key("oct", self.public.public_pem(), True)
            return jose.encode(claims, secret, "HS256", headers=dict(header, alg="HS256")), "header"
        if name == "kid_injection":
            forged = dict(header, alg="HS256", kid="../../../../../../../../dev/null")
            return jose.encode(claims, jose.Key("oct", b"", True), "HS256", headers=forged), "header"
        attacker_alg = self._attacker_alg()
        if name == "jku_injection":
            return jose.encode(claims, self.attacker, attacker_alg,
                               headers={"kid": self.attacker.kid, "jku": self.injection_url}), "header"
        if name == "x5u_injection":
            return jose.encode(claims, self.attacker, attacker_alg,
                               headers={"kid": self.attacker.kid, "x5u": self.injection_x5u_url}), "header"
        if name == "jwk_injection":
            return jose.encode(claims, self.attacker, attacker_alg,
                               headers={"kid": self.attacker.kid, "jwk": self.attacker.public_jwk()}), "header"
        raise SkipCase("unknown case")  # pragma: no cover - CASE_NAMES limits the choices

    # -- HTTP -----------------------------------------------------------------------------------
    def send(self, token, where):
        url = self.url
        headers = dict(self.headers)
        if token is not None and where == "header":
            headers[self.token_header] = ("%s %s" % (self.token_scheme, token)) if self.token_scheme else token
        elif token is not None:
            scheme, netloc, path, query, fragment = urlsplit(url)
            extra = urlencode({self.query_param: token})
            url = urlunsplit((scheme, netloc, path, (query + "&" + extra) if query else extra, fragment))
        data = self.body
        if isinstance(data, (dict, list)):
            data = json.dumps(data)
            headers.setdefault("Content-Type", "application/json")
        request = Request(validate_certs=self.validate_certs, ca_path=self.ca_path, timeout=self.timeout,
                          follow_redirects="none", use_proxy=True)
        try:
            response = request.open(self.method, url, data=data, headers=headers)
            status = response.getcode()
            www = response.headers.get("WWW-Authenticate")
            response.read()
            response.close()
        except HTTPError as exc:
            status = exc.code
            www = exc.headers.get("WWW-Authenticate") if exc.headers else None
            try:
                exc.close()
            except Exception:
                pass
        except SSLValidationError as exc:
            raise ProbeError("TLS certificate of %s not trusted: %s; give ca_path with the CA that signed it "
                             "(validate_certs=false only for throw-away labs)" % (self.target, _first_line(exc)))
        except (URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, ssl.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(reason):
                raise ProbeError("TLS certificate of %s not trusted: %s; give ca_path with the CA that signed it "
                                 "(validate_certs=false only for throw-away labs)"
                                 % (self.target, getattr(reason, "verify_message", None) or _first_line(reason)))
            raise ProbeError("cannot reach %s: %s; check url, that the gateway runs and listens there, and "
                             "network or proxy settings" % (self.target, _first_line(reason)))
        return status, (www or "")[:200] or None

    # -- the matrix -----------------------------------------------------------------------------
    def run(self):
        results = []
        for name in CASE_NAMES:
            if name not in self.cases:
                continue
            expected, severity, _needs, description = CASE_INFO[name]
            case = {"name": name, "description": description, "expected": expected,
                    "expected_status": "2xx" if expected == "accept" else _status_range(self.reject_status),
                    "required": name in self.required, "status": None, "actual": None, "outcome": None,
                    "www_authenticate": None, "reason": None}
            try:
                token, where = self.build(name)
            except SkipCase as exc:
                case.update(outcome="skipped", reason=str(exc))
                results.append(case)
                continue
            except jose.JWTError as exc:
                raise ProbeError("cannot build the %s token: %s" % (name, exc))
            status, www = self.send(token, where)
            token = None
            actual = classify(status, self.reject_status)
            ok = (actual == "accepted") if expected == "accept" else (actual == "rejected")
            case.update(status=status, actual=actual, outcome="pass" if ok else "fail", www_authenticate=www)
            if not ok:
                case["reason"] = _why(name, expected, actual, status)
            results.append(case)
        return self._result(results)

    def _result(self, results):
        findings = []
        valid = [c for c in results if c["name"] == "valid"]
        inconclusive = bool(valid and valid[0]["outcome"] == "fail")
        for case in results:
            if case["outcome"] != "fail":
                continue
            severity = CASE_INFO[case["name"]][1]
            if case["actual"] == "unexpected":
                severity = "MEDIUM"
            findings.append(make_finding(
                CONTROL, "authentication", "jwt_%s" % case["name"], severity,
                "%s: %s -> %s (must be %sed)" % (self.target, case["description"], case["status"], case["expected"]),
                target=self.target,
                location={"resource": _without_query(self.url)}, url=RFC8725,
                details={"case": case["name"], "expected": case["expected"],
                         "expected_status": case["expected_status"], "actual_status": case["status"],
                         "required": case["required"]}))
        failed = [c["name"] for c in results if c["outcome"] == "fail"]
        failed_required = [c["name"] for c in results if c["outcome"] == "fail" and c["required"]]
        skipped = [c["name"] for c in results if c["outcome"] == "skipped"]
        accepted_bad = [c["name"] for c in results if c["expected"] == "reject" and c["actual"] == "accepted"]
        return {
            "url": _without_query(self.url), "target": self.target, "cases": results,
            "passed": not failed_required, "inconclusive": inconclusive,
            "failed_cases": failed, "failed_required": failed_required, "skipped_cases": skipped,
            "accepted_must_reject": accepted_bad,
            "findings": sort_findings(findings), "summary": summarize(findings),
        }


class SkipCase(Exception):
    pass


def _why(name, expected, actual, status):
    if expected == "accept":
        return "the valid token was answered %s; every other result is inconclusive (check issuer, audience, " \
               "key and kid)" % status
    if actual == "accepted":
        return "accepted with %s; it must be rejected" % status
    return "answered %s, neither accepted nor a rejection status" % status


def _first_line(value):
    return str(value).strip().split("\n", 1)[0][:300]


def _without_query(url):
    scheme, netloc, path, _query, _fragment = urlsplit(url)
    return urlunsplit((scheme, netloc, path, "", ""))


def _sibling(url, name):
    scheme, netloc, path, _query, _fragment = urlsplit(url)
    return urlunsplit((scheme, netloc, path.rsplit("/", 1)[0] + "/" + name, "", ""))


def probe(**options):
    """Build and run a Probe; ProbeError for anything that stops it."""
    return Probe(**options).run()
