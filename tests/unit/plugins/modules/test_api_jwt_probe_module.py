"""api_jwt_probe: argument errors, and the classification logic against in-process model gateways.

The real gateways (Apache with mod_auth_openidc and mod_oauth2) are probed in
tests/integration/test_api_jwt_probe.py; here ``Probe.send`` is replaced by a function that judges each
token with module_utils.jwt.verify, the way a strict or a sloppy gateway would.
"""

import socket

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ansible_collections.ainative.security.plugins.module_utils import jwt as jose
from ansible_collections.ainative.security.plugins.module_utils import jwt_probe
from ansible_collections.ainative.security.plugins.modules import api_jwt_probe

ISS = "https://idp.example.test"
AUD = "model-serving"


@pytest.fixture(scope="module")
def key_pem():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def args(key_pem, **extra):
    base = {"url": "http://127.0.0.1:9/v1/predict", "issuer": ISS, "audience": AUD, "signing_key": key_pem,
            "kid": "k1"}
    base.update(extra)
    return base


def gateway(key_pem, require_exp=True, check_nbf=True, accept_query=False, open_=False):
    public = jose.load_key(key_pem, kid="k1").public()

    def send(self, token, where):
        if open_:
            return 200, None
        if token is None or (where == "query" and not accept_query):
            return 401, 'Bearer error="invalid_request"'
        result = jose.verify(token, [public], algorithms=["RS256"], issuer=ISS, audience=AUD,
                             require=("exp",) if require_exp else ())
        if not check_nbf and result["reason"] and result["reason"].startswith("not valid before"):
            return 200, None
        return (200, None) if result["valid"] else (401, 'Bearer error="invalid_token"')
    return send


def test_strict_gateway_passes_every_case(run_module, monkeypatch, key_pem):
    monkeypatch.setattr(jwt_probe.Probe, "send", gateway(key_pem))
    result, failed = run_module(api_jwt_probe, args(key_pem))
    assert not failed and result["passed"] and not result["changed"]
    assert [c["outcome"] for c in result["cases"]] == ["pass"] * len(jwt_probe.CASE_NAMES)
    assert result["findings"] == [] and result["summary"]["total"] == 0


def test_sloppy_gateway_is_flagged(run_module, monkeypatch, key_pem):
    monkeypatch.setattr(jwt_probe.Probe, "send", gateway(key_pem, require_exp=False, check_nbf=False))
    result, failed = run_module(api_jwt_probe, args(key_pem))
    assert failed and "no_exp" in result["msg"] and "nbf_future" not in result["msg"]
    assert result["accepted_must_reject"] == ["nbf_future", "no_exp"]
    assert result["failed_required"] == ["no_exp"]
    assert {f["id"]: f["severity"] for f in result["findings"]} == {"jwt_no_exp": "HIGH", "jwt_nbf_future": "MEDIUM"}
    assert all(f["kind"] == "authentication" and f["control"] == "api_jwt_probe" for f in result["findings"])


def test_open_endpoint_fails_and_report_only_mode(run_module, monkeypatch, key_pem):
    monkeypatch.setattr(jwt_probe.Probe, "send", gateway(key_pem, open_=True))
    result, failed = run_module(api_jwt_probe, args(key_pem, fail_on_violation=False))
    assert not failed and not result["passed"]
    assert len(result["accepted_must_reject"]) == len(jwt_probe.CASE_NAMES) - 1
    assert result["findings"][0]["severity"] == "CRITICAL"


def test_token_mode_skips_claim_cases(run_module, monkeypatch, key_pem):
    monkeypatch.setattr(jwt_probe.Probe, "send", gateway(key_pem))
    token = jose.encode({"iss": ISS, "aud": AUD, "sub": "a", "exp": 4102444800}, jose.load_key(key_pem, kid="k1"), "RS256")
    result, failed = run_module(api_jwt_probe, {"url": "https://gw.test/v1/x", "token": token})
    assert not failed and result["passed"]
    assert set(result["skipped_cases"]) == {"expired", "nbf_future", "no_exp", "wrong_audience", "wrong_issuer",
                                            "unknown_kid", "hs256_public_key"}
    assert token not in str(result)


def test_check_mode_runs_the_probe(run_module, monkeypatch, key_pem):
    monkeypatch.setattr(jwt_probe.Probe, "send", gateway(key_pem))
    result, failed = run_module(api_jwt_probe, args(key_pem), check_mode=True)
    assert not failed and result["passed"] and result["cases"][0]["status"] == 401


def test_unreachable_endpoint(run_module, key_pem):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result, failed = run_module(api_jwt_probe, args(key_pem, url="http://127.0.0.1:%d/v1/predict" % port, timeout=2))
    assert failed and result["msg"].startswith("cannot reach GET http://127.0.0.1:%d/v1/predict" % port)


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
    assert "PRIVATE KEY" not in str(result)


def test_public_key_as_signing_key(run_module, key_pem):
    public = jose.load_key(key_pem).public_pem().decode()
    result, failed = run_module(api_jwt_probe, args(key_pem, signing_key=public))
    assert failed and "needs the private key" in result["msg"]
