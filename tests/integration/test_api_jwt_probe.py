"""api_jwt_probe against real Apache httpd gateways (mod_auth_openidc and mod_oauth2) on loopback.

The lab starts a JWKS server over TLS with a local CA (``jwt_idp``), a backend and two private Apache
instances that fetch and verify that JWKS. Every matrix case is checked twice: the playbook asserts the
module's statuses against what each gateway is known to answer, and this file re-sends the same kinds of
tokens, minted independently with PyJWT, and asserts the gateway answers them exactly as the module
reported.
"""

import base64
import hashlib
import hmac
import json
import os
import socket
import time
import urllib.error
import urllib.request

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

TARGETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "targets", "api_jwt_probe")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

REJECTED = dict.fromkeys(
    ["no_token", "malformed", "expired", "nbf_future", "no_exp", "wrong_audience", "wrong_issuer", "bad_signature",
     "tampered_payload", "alg_none", "hs256_public_key", "unknown_kid", "kid_injection", "jku_injection",
     "x5u_injection", "jwk_injection", "token_in_query"], 401)
# What each live gateway answers (docs/api_jwt_probe.md): both check neither nbf; only mod_oauth2
# (verify.exp=required) refuses a token without exp.
EXPECTED = {
    "openidc": dict(REJECTED, valid=200, nbf_future=200, no_exp=200),
    "oauth2": dict(REJECTED, valid=200, nbf_future=200),
}


@pytest.fixture(scope="module")
def gateways(lab):
    started = time.time()
    info = {"openidc": lab.up("jwt_gw_openidc"), "oauth2": lab.up("jwt_gw_oauth2"), "idp": lab.up("jwt_idp")}
    info["startup_seconds"] = time.time() - started
    return info


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def status_of(url, token=None, query=False):
    headers = {}
    if token and not query:
        headers["Authorization"] = "Bearer " + token
    if token and query:
        url += "?access_token=" + token
    request = urllib.request.Request(url, data=b'{"inputs": [[0.1, 0.2]]}', headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def pyjwt_tokens(idp):
    """The matrix again, built with PyJWT and hand-made segments instead of module_utils.jwt."""
    with open(idp["signing_key_path"], "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), password=None)
    with open(idp["attacker_key_path"], "rb") as handle:
        attacker = serialization.load_pem_private_key(handle.read(), password=None)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    base = {"iss": idp["issuer"], "aud": idp["audience"], "sub": "pytest", "iat": now, "exp": now + 300}

    def mint(signer=key, kid=idp["kid"], headers=None, **changes):
        claims = dict(base, **changes)
        claims = {k: v for k, v in claims.items() if v is not None}
        return pyjwt.encode(claims, signer, algorithm="RS256", headers=dict({"kid": kid}, **(headers or {})))

    def forged(header, claims, secret):
        signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
        if secret is None:
            return signing_input + "."
        return signing_input + "." + b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())

    valid = mint()
    head, _body, sig = valid.split(".")
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    attacker_jwk = json.loads(RSAAlgorithm.to_jwk(attacker.public_key()))
    return {
        "no_token": (None, False),
        "malformed": ("abc.def", False),
        "valid": (valid, False),
        "expired": (mint(iat=now - 7200, exp=now - 3600), False),
        "nbf_future": (mint(nbf=now + 3600, exp=now + 3900), False),
        "no_exp": (mint(exp=None), False),
        "wrong_audience": (mint(aud="someone-else"), False),
        "wrong_issuer": (mint(iss="https://evil.test"), False),
        "bad_signature": (mint(signer=other), False),
        "tampered_payload": ("%s.%s.%s" % (head, b64(json.dumps(dict(base, sub="admin")).encode()), sig), False),
        "alg_none": (forged({"alg": "none", "kid": idp["kid"]}, base, None), False),
        "hs256_public_key": (forged({"alg": "HS256", "kid": idp["kid"]}, base, public_pem), False),
        "unknown_kid": (mint(kid="pytest-unknown"), False),
        "kid_injection": (forged({"alg": "HS256", "kid": "../../../../dev/null"}, base, b""), False),
        "jku_injection": (mint(signer=attacker, kid=idp["attacker_kid"], headers={"jku": idp["attacker_jwks_url"]}), False),
        "x5u_injection": (mint(signer=attacker, kid=idp["attacker_kid"], headers={"x5u": idp["attacker_x5u_url"]}), False),
        "jwk_injection": (mint(signer=attacker, kid=idp["attacker_kid"], headers={"jwk": attacker_jwk}), False),
        "token_in_query": (valid, True),
    }


@pytest.mark.parametrize("variant", ["openidc", "oauth2"])
def test_every_case_classified_as_the_live_gateway_answers(variant, gateways, playbook, tmp_path):
    gw, idp = gateways[variant], gateways["idp"]
    result_file = tmp_path / "probe.json"
    res = playbook(os.path.join(TARGETS, "probe.yml"),
                   extra_vars={"url": gw["url"], "idp": idp, "expected_status": EXPECTED[variant],
                               "result_file": str(result_file)})
    assert res.rc == 0, res
    probe = json.loads(result_file.read_text())
    reported = {case["name"]: case for case in probe["cases"]}

    # Independent ground truth: the gateway answers PyJWT's versions of the cases the same way.
    for name, (token, in_query) in pyjwt_tokens(idp).items():
        assert status_of(gw["url"], token, in_query) == reported[name]["status"], name

    must_reject = [n for n in reported if n != "valid"]
    accepted = sorted(n for n in must_reject if reported[n]["status"] == 200)
    assert accepted == sorted(probe["accepted_must_reject"])
    assert reported["valid"]["outcome"] == "pass"
    if variant == "openidc":
        # mod_auth_openidc 2.4.12 accepts a token without exp and one whose nbf lies in the future.
        assert accepted == ["nbf_future", "no_exp"]
        assert probe["failed_required"] == ["no_exp"] and not probe["passed"]
    else:
        # mod_oauth2 with verify.exp=required refuses the first; nbf is not checked either.
        assert accepted == ["nbf_future"]
        assert probe["failed_required"] == [] and probe["passed"]
    assert {f["id"] for f in probe["findings"]} == {"jwt_" + n for n in accepted}
    assert all(f["target"] == "POST " + gw["url"] for f in probe["findings"])


def test_failure_modes_each_give_one_clear_error(gateways, playbook):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    res = playbook(os.path.join(TARGETS, "errors.yml"),
                   extra_vars={"gw": gateways["openidc"], "idp": gateways["idp"], "closed_port": closed_port})
    assert res.rc == 0, res
    assert "Traceback" not in res.stdout


def test_check_mode_and_no_secret_at_vvv(gateways, playbook, tmp_path):
    idp = gateways["idp"]
    result_file = tmp_path / "probe.json"
    res = playbook(os.path.join(TARGETS, "probe.yml"), check=True, verbosity=3,
                   extra_vars={"url": gateways["oauth2"]["url"], "idp": idp,
                               "expected_status": EXPECTED["oauth2"], "result_file": str(result_file)})
    assert res.rc == 0, res
    with open(idp["signing_key_path"]) as handle:
        key_lines = [line for line in handle.read().splitlines() if line and "-----" not in line]
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in res.stdout  # the key was passed inline, and masked
    leaked = [line for line in key_lines if line in res.stdout]
    assert not leaked, "signing key lines in -vvv output"
    # Every minted token starts with base64url('{"alg":'); none may appear in output or gateway logs.
    assert "eyJhbGci" not in res.stdout
    for gateway in ("jwt_gw_oauth2", "jwt_gw_openidc"):
        log = os.path.join(os.path.dirname(idp["ca_cert"]), "..", gateway, "access.log")
        with open(log) as handle:
            assert "eyJhbGci" not in handle.read()


def test_site_playbook_report(gateways, playbook, tmp_path):
    idp = gateways["idp"]
    common = {"issuer": idp["issuer"], "audience": idp["audience"], "signing_key_path": idp["signing_key_path"],
              "kid": idp["kid"], "method": "POST", "body": {"inputs": [[1]]}}
    endpoints = [dict(common, name="mod_oauth2", url=gateways["oauth2"]["url"]),
                 dict(common, name="mod_auth_openidc", url=gateways["openidc"]["url"])]
    res = playbook(os.path.join(ROOT, "playbooks", "api_jwt_probe.yml"),
                   extra_vars={"api_jwt_probe_endpoints": endpoints, "ainative_report_dir": str(tmp_path)})
    assert res.rc != 0 and "FAIL mod_auth_openidc" in res.stdout, res
    report = json.loads((tmp_path / "api_jwt_probe.json").read_text())
    assert report["control"] == "api_jwt_probe" and report["verdict"] == "fail"
    assert report["notes"][0].startswith("WARN mod_oauth2: 17/18 cases as expected")
    assert report["notes"][1].startswith("FAIL mod_auth_openidc: 16/18 cases as expected")
    assert sorted(f["id"] for f in report["findings"]) == ["jwt_nbf_future", "jwt_nbf_future", "jwt_no_exp"]

    # A key inside an endpoint entry is refused before anything runs (loop items are printed).
    res = playbook(os.path.join(ROOT, "playbooks", "api_jwt_probe.yml"),
                   extra_vars={"api_jwt_probe_endpoints": [dict(endpoints[0], signing_key="x")]})
    assert res.rc != 0 and "not in api_jwt_probe_endpoints" in res.stdout


def test_oauth2_gateway_really_verifies_the_jwks_tls_certificate(gateways, tmp_path):
    """The same mod_oauth2 configuration without the lab CA in libcurl's trust store refuses a valid token."""
    import shutil
    import subprocess
    import tempfile

    from lab.harness import free_port, http_ready

    gw, idp = gateways["oauth2"], gateways["idp"]
    with open(idp["signing_key_path"]) as handle:
        key = handle.read()
    now = int(time.time())
    valid = pyjwt.encode({"iss": idp["issuer"], "aud": idp["audience"], "sub": "pytest", "iat": now, "exp": now + 300},
                         key, algorithm="RS256", headers={"kid": idp["kid"]})
    runtime = tempfile.mkdtemp(prefix="ainative-tlscheck-")
    os.chmod(runtime, 0o755)
    port = free_port()
    with open(gw["config"]) as handle:
        conf = handle.read()
    conf = conf.replace(gw["runtime_dir"], runtime).replace("127.0.0.1:%d" % gw["port"], "127.0.0.1:%d" % port)
    conf = conf.replace("ErrorLog ", "ErrorLog %s/error.log\n# " % tmp_path).replace("CustomLog ", "# CustomLog ")
    with open(os.path.join(runtime, "httpd.conf"), "w") as handle:
        handle.write(conf)
    os.chmod(os.path.join(runtime, "httpd.conf"), 0o644)
    proc = subprocess.Popen(["apache2", "-D", "FOREGROUND", "-f", os.path.join(runtime, "httpd.conf")])
    try:
        ready = http_ready("http://127.0.0.1:%d/v1/predict" % port, ok=(401,))
        deadline = time.time() + 20
        while not ready() and time.time() < deadline:
            time.sleep(0.1)
        assert status_of(gw["url"], valid) == 200
        assert status_of("http://127.0.0.1:%d/v1/predict" % port, valid) == 401
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        shutil.rmtree(runtime, ignore_errors=True)
