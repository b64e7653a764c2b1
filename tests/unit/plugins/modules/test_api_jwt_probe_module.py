"""api_jwt_probe: argument errors, coverage, and the classification logic against in-process gateways.

The real gateways (Apache with mod_auth_openidc and mod_oauth2) are probed in
tests/integration/test_api_jwt_probe.py; here ``Probe.send`` is replaced by a function that judges each
token with lab/services/jwt_pyjwt_gw.py's judge (PyJWT), the strict gateway or the same gateway with
exactly one hole, or with jwt_assurance.tokens.verify, the way a JWKS gateway that selects by kid would.
"""

import base64
import hashlib
import hmac
import json
import socket
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ansible_collections.ainative.security.plugins.module_utils.core.errors import SourceError
from ansible_collections.ainative.security.plugins.module_utils.jwt_assurance import probe as jwt_probe
from ansible_collections.ainative.security.plugins.module_utils.jwt_assurance import tokens
from ansible_collections.ainative.security.plugins.modules import api_jwt_probe
from lab.services import jwt_pyjwt_gw

ISS = "https://idp.example.test"
AUD = "model-serving"
TOKEN_MODE_SKIPPED = {"expired", "nbf_future", "iat_future", "no_exp", "lifetime_too_long", "wrong_audience",
                      "audience_substring", "wrong_issuer", "issuer_prefix", "unknown_kid"}
PUBLIC_CASES = {"hs256_public_key", "hs256_public_key_no_newline", "hs256_public_key_der"}


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def key_pem(rsa_key):
    return rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def public_pem(rsa_key):
    return rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def args(key_pem, **extra):
    base = {"url": "http://127.0.0.1:9/v1/predict", "issuer": ISS, "audience": AUD, "signing_key": key_pem,
            "kid": "k1"}
    base.update(extra)
    return base


def gateway(key_pem, require_exp=True, check_nbf=True, open_=False):
    """A JWKS gateway that selects the key by kid (tokens.verify), optionally sloppy."""
    public = tokens.load_key(key_pem, kid="k1").public()

    def send(self, token, where):
        if open_:
            return 200, None
        if token is None or where == "query":
            return 401, 'Bearer realm="gw"'
        result = tokens.verify(token, [public], algorithms=["RS256"], issuer=ISS, audience=AUD,
                               require=("exp",) if require_exp else ())
        claims = result["claims"] or {}
        if result["valid"] and "iat" in claims and claims.get("exp", 0) - claims["iat"] > 86400 and require_exp:
            return 401, 'Bearer error="invalid_token"'
        if not check_nbf and result["reason"] and result["reason"].startswith("not valid before"):
            return 200, None
        return (200, None) if result["valid"] else (401, 'Bearer error="invalid_token"')
    return send


def pyjwt_gateway(public_pem, hole=None):
    """lab/services/jwt_pyjwt_gw.py in process: the strict PyJWT gateway (one pinned key) or one hole."""
    keys = jwt_pyjwt_gw.Keys(public_pem.encode())

    def send(self, token, where):
        return jwt_pyjwt_gw.judge("Bearer %s" % token if token and where == "header" else None,
                                  token if where == "query" else None, keys, ISS, AUD, 86400, hole)
    return send


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims():
    now = int(time.time())
    return {"iss": ISS, "aud": AUD, "sub": "a", "iat": now, "exp": now + 300}


def test_strict_gateway_passes_every_case(run_module, monkeypatch, key_pem):
    monkeypatch.setattr(jwt_probe.Probe, "send", gateway(key_pem))
    result, failed = run_module(api_jwt_probe, args(key_pem))
    assert not failed and result["passed"] and not result["changed"]
    assert [c["outcome"] for c in result["cases"]] == ["pass"] * len(jwt_probe.CASE_NAMES)
    assert result["findings"] == [] and result["summary"]["total"] == 0
    assert result["verdict"] == "pass" and result["gate"]["fail_on"] == "LOW"
    cases = len(jwt_probe.CASE_NAMES)
    assert result["coverage"]["unit"] == "cases"
    assert (result["coverage"]["asked"], result["coverage"]["examined"], result["coverage"]["complete"]) == (cases, cases, True)


def test_strict_pyjwt_gateway_with_a_pinned_key(run_module, monkeypatch, key_pem, public_pem):
    """Issue 13 item 21: a gateway with one static key that ignores kid is correct; pinned_key says so."""
    monkeypatch.setattr(jwt_probe.Probe, "send", pyjwt_gateway(public_pem))
    result, failed = run_module(api_jwt_probe, args(key_pem, pinned_key=True))
    assert not failed and result["passed"] and result["failed_required"] == []
    assert result["failed_cases"] == ["unknown_kid"] and result["findings"][0]["severity"] == "INFO"
    result, failed = run_module(api_jwt_probe, args(key_pem))
    assert failed and result["failed_required"] == ["unknown_kid"]


@pytest.mark.parametrize("hole", sorted(jwt_pyjwt_gw.HOLES))
def test_each_hole_fails_exactly_its_case(run_module, monkeypatch, key_pem, public_pem, hole):
    monkeypatch.setattr(jwt_probe.Probe, "send", pyjwt_gateway(public_pem, hole))
    result, failed = run_module(api_jwt_probe, args(key_pem, pinned_key=True))
    assert failed and result["failed_required"] == jwt_pyjwt_gw.CASE_OF_HOLE[hole], result["msg"]
    assert result["coverage"]["complete"]


def test_token_in_query_never_sends_the_valid_token(run_module, monkeypatch, key_pem, public_pem):
    sent = []
    strict = pyjwt_gateway(public_pem, "query_token")

    def recording(self, token, where):
        sent.append((token, where))
        return strict(self, token, where)

    monkeypatch.setattr(jwt_probe.Probe, "send", recording)
    result, failed = run_module(api_jwt_probe, args(key_pem, cases=["token_in_query"], required_cases=["token_in_query"]))
    assert failed and "reads tokens from the query string" in result["cases"][0]["reason"]
    (query_token, _where), = [s for s in sent if s[1] == "query"]
    claims = tokens.decode(query_token)["claims"]
    assert claims["exp"] < time.time() and claims["sub"] == "ainative-probe-query"
    assert [s for s in sent if s[1] == "header"] == [(None, "header")]  # the no-token reference


def test_sloppy_gateway_is_flagged(run_module, monkeypatch, key_pem):
    monkeypatch.setattr(jwt_probe.Probe, "send", gateway(key_pem, require_exp=False, check_nbf=False))
    result, failed = run_module(api_jwt_probe, args(key_pem))
    assert failed and "no_exp (expected reject, got 200)" in result["msg"] and "nbf_future (expected" in result["msg"]
    assert result["accepted_must_reject"] == ["nbf_future", "no_exp", "lifetime_too_long"]
    assert result["failed_required"] == ["nbf_future", "no_exp", "lifetime_too_long"] and result["verdict"] == "fail"
    assert {f["id"]: f["severity"] for f in result["findings"]} == {
        "jwt_no_exp": "HIGH", "jwt_nbf_future": "MEDIUM", "jwt_lifetime_too_long": "MEDIUM"}
    # A failed case that is not required is reported, below the gate.
    required = [n for n in jwt_probe.CASE_NAMES if n != "nbf_future"]
    result, failed = run_module(api_jwt_probe, args(key_pem, required_cases=required))
    assert {f["id"]: f["severity"] for f in result["findings"]}["jwt_nbf_future"] == "INFO"
    assert [f["details"]["case_severity"] for f in result["findings"]] == ["HIGH", "MEDIUM", "MEDIUM"]
    assert result["gate"]["failing_ids"] == ["jwt_lifetime_too_long", "jwt_no_exp"]
    assert all(f["kind"] == "authentication" and f["control"] == "api_jwt_probe" for f in result["findings"])


def test_requiring_nbf_fails_on_it(run_module, monkeypatch, key_pem):
    monkeypatch.setattr(jwt_probe.Probe, "send", gateway(key_pem, check_nbf=False))
    result, failed = run_module(api_jwt_probe, args(key_pem, required_cases=["valid", "nbf_future"]))
    assert failed and result["failed_required"] == ["nbf_future"]
    assert result["findings"][0]["severity"] == "MEDIUM"


def test_open_endpoint_fails_and_report_only_mode(run_module, monkeypatch, key_pem):
    monkeypatch.setattr(jwt_probe.Probe, "send", gateway(key_pem, open_=True))
    result, failed = run_module(api_jwt_probe, args(key_pem, report_only=True))
    assert not failed and not result["passed"] and result["verdict"] == "fail" and result["gate"]["failed"]
    assert len(result["accepted_must_reject"]) == len(jwt_probe.CASE_NAMES) - 1
    assert result["findings"][0]["severity"] == "CRITICAL"


def test_legacy_fail_on_violation_false(run_module, monkeypatch, key_pem):
    monkeypatch.setattr(jwt_probe.Probe, "send", gateway(key_pem, open_=True))
    result, failed = run_module(api_jwt_probe, args(key_pem, fail_on_violation=False))
    assert not failed and not result["passed"] and result["gate"]["fail_on"] == "none"
    assert result["verdict"] == "findings"
    result, failed = run_module(api_jwt_probe, args(key_pem, fail_on_violation=True))
    assert failed and result["gate"]["fail_on"] == "LOW"


def test_token_mode_misses_the_claim_cases(run_module, monkeypatch, key_pem, public_pem):
    monkeypatch.setattr(jwt_probe.Probe, "send", gateway(key_pem))
    token = tokens.encode({"iss": ISS, "aud": AUD, "sub": "a", "exp": 4102444800}, tokens.load_key(key_pem, kid="k1"), "RS256")
    params = {"url": "https://gw.test/v1/x", "token": token}
    result, failed = run_module(api_jwt_probe, params)
    # hs256_public_key needs public_key; the claim cases need a signing key: required, so missed.
    assert failed and result["verdict"] == "incomplete" and not result["passed"]
    assert set(result["skipped_cases"]) == TOKEN_MODE_SKIPPED | PUBLIC_CASES
    missed = dict((m["item"], m["reason"]) for m in result["coverage"]["missed"])
    assert set(missed) == TOKEN_MODE_SKIPPED | PUBLIC_CASES
    assert "needs signing_key" in missed["expired"]
    assert token not in str(result)

    result, failed = run_module(api_jwt_probe, dict(params, public_key=public_pem,
                                                    accept_incomplete="token mode: claim cases in the IdP test"))
    assert not failed and result["verdict"] == "pass" and result["gate"]["accepted_incomplete"]
    assert set(result["skipped_cases"]) == TOKEN_MODE_SKIPPED
    assert token not in str(result)

    not_required = [n for n in jwt_probe.CASE_NAMES if n not in TOKEN_MODE_SKIPPED]
    result, failed = run_module(api_jwt_probe, dict(params, public_key=public_pem, required_cases=not_required))
    assert not failed and result["passed"] and result["coverage"]["complete"]
    assert result["coverage"]["asked"] == len(not_required) and len(result["notes"]) == len(TOKEN_MODE_SKIPPED)


def test_a_probe_that_sent_no_case_is_incomplete(run_module, monkeypatch, key_pem):
    """Only hs256_public_key asked, in token mode without public_key: nothing can be sent."""
    monkeypatch.setattr(jwt_probe.Probe, "send", gateway(key_pem))
    token = tokens.encode({"iss": ISS, "aud": AUD, "exp": 4102444800}, tokens.load_key(key_pem), "RS256")
    result, failed = run_module(api_jwt_probe, {"url": "https://gw.test/v1/x", "token": token,
                                                "cases": ["hs256_public_key"]})
    assert failed and result["verdict"] == "incomplete" and result["findings"] == []
    assert result["coverage"]["examined"] == 0 and result["coverage"]["asked"] == 1
    assert "examined no cases" in result["msg"]


def test_check_mode_runs_the_probe(run_module, monkeypatch, key_pem):
    monkeypatch.setattr(jwt_probe.Probe, "send", gateway(key_pem))
    result, failed = run_module(api_jwt_probe, args(key_pem), check_mode=True)
    assert not failed and result["passed"] and result["cases"][0]["status"] == 401


def test_unreachable_endpoint_is_missed_not_passed(run_module, key_pem):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result, failed = run_module(api_jwt_probe, args(key_pem, url="http://127.0.0.1:%d/v1/predict" % port, timeout=2))
    assert failed and result["verdict"] == "incomplete" and result["coverage"]["examined"] == 0
    assert result["msg"].startswith("api_jwt_probe: cannot reach GET http://127.0.0.1:%d/v1/predict" % port)
    assert result["coverage"]["missed_count"] == len(jwt_probe.CASE_NAMES)
    assert all(c["outcome"] == "error" for c in result["cases"])


def test_a_request_without_answer_is_a_miss(run_module, monkeypatch, key_pem):
    strict = gateway(key_pem)

    def flaky(self, token, where):
        if token is not None and token.count(".") == 2 and where == "header" and "eyJ" in token:
            if tokens.decode(token)["header"].get("jku"):
                raise SourceError("cannot reach GET http://gw/v1: connection reset")
        return strict(self, token, where)

    monkeypatch.setattr(jwt_probe.Probe, "send", flaky)
    result, failed = run_module(api_jwt_probe, args(key_pem))
    assert failed and result["verdict"] == "incomplete" and not result["passed"]
    assert result["coverage"]["missed"] == [{"item": "jku_injection", "reason": "cannot reach GET http://gw/v1: connection reset"}]
    assert result["coverage"]["examined"] == len(jwt_probe.CASE_NAMES) - 1


def forged_hs256_with_public_pem(public_pem):
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    body = b64(json.dumps(claims()).encode())
    sig = hmac.new(public_pem.encode(), ("%s.%s" % (head, body)).encode(), hashlib.sha256).digest()
    return "%s.%s.%s" % (head, body, b64(sig))


def forged_ps256_salt_zero(rsa_key):
    signing_input = b64(json.dumps({"alg": "PS256", "typ": "JWT", "kid": "k1"}).encode()) + "." + b64(
        json.dumps(claims()).encode())
    signature = rsa_key.sign(signing_input.encode(), padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=0),
                             hashes.SHA256())
    return signing_input + "." + b64(signature)


@pytest.mark.parametrize("forge", ["hs256_public_pem", "ps256_salt_zero"])
def test_the_probe_refuses_a_given_token_that_does_not_verify(run_module, monkeypatch, key_pem, rsa_key, public_pem, forge):
    """The probe's own check of its baseline token (PyJWT) refuses both forgeries issue 12 names."""
    monkeypatch.setattr(jwt_probe.Probe, "send", gateway(key_pem))
    token = forged_hs256_with_public_pem(public_pem) if forge == "hs256_public_pem" else forged_ps256_salt_zero(rsa_key)
    result, failed = run_module(api_jwt_probe, {"url": "https://gw.test/v1/x", "token": token, "public_key": public_pem,
                                                "issuer": ISS, "audience": AUD})
    assert failed and result["error_kind"] == "input"
    assert "does not verify against public_key" in result["msg"]
    assert ("not allowed" if forge == "hs256_public_pem" else "bad signature") in result["msg"]
    assert token not in str(result)


def test_a_public_key_is_not_an_hmac_signing_key(run_module, key_pem, public_pem):
    result, failed = run_module(api_jwt_probe, args(key_pem, signing_key=public_pem, algorithm="HS256"))
    assert failed and "asymmetric key" in result["msg"] and result["error_kind"] == "input"


@pytest.mark.parametrize("extra, message", [
    ({"signing_key": "not a key"}, "neither a PEM block nor a JWK"),
    ({"issuer": None}, "missing parameter(s) required by 'signing_key': issuer"),
    ({"algorithm": "RS1024"}, "value of algorithm must be one of"),
    ({"algorithm": "ES256"}, "does not fit the RSA signing key"),
    ({"url": "ftp://x/y"}, "must start with http:// or https://"),
    ({"signing_key_path": "/nonexistent/key.pem", "signing_key": None}, "cannot read signing_key_path"),
    ({"cases": ["valid", "sql_injection"]}, "value of cases must be one or more of"),
])
def test_bad_input_gives_one_clear_error(run_module, key_pem, extra, message):
    params = args(key_pem, **extra)
    params = {k: v for k, v in params.items() if v is not None}
    result, failed = run_module(api_jwt_probe, params)
    assert failed and message in result["msg"]
    assert "PRIVATE KEY" not in str(result) and "Traceback" not in str(result)


def test_public_key_as_signing_key(run_module, key_pem, public_pem):
    result, failed = run_module(api_jwt_probe, args(key_pem, signing_key=public_pem))
    assert failed and "needs the private key" in result["msg"]
