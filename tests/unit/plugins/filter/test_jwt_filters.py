"""jwt_decode / jwt_verify against tokens made by PyJWT (the reference implementation), good and bad."""

import base64
import hashlib
import hmac
import json
import time

import jwt as pyjwt
import pytest
from ansible.errors import AnsibleFilterError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from ansible_collections.ainative.security.plugins.filter.jwt_decode import FilterModule as DecodeFilters
from ansible_collections.ainative.security.plugins.filter.jwt_verify import FilterModule as VerifyFilters

jwt_decode = DecodeFilters().filters()["jwt_decode"]
jwt_verify = VerifyFilters().filters()["jwt_verify"]

ISS = "https://idp.example.test"
AUD = "model-serving"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def pem(rsa_key):
    return rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def jwks(rsa_key):
    jwk = json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key()))
    jwk.update(kid="k1", use="sig", alg="RS256")
    return {"keys": [jwk]}


def claims(**changes):
    now = int(time.time())
    base = {"iss": ISS, "aud": AUD, "sub": "alice", "iat": now, "exp": now + 300}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def token(rsa_key, kid="k1", **changes):
    return pyjwt.encode(claims(**changes), rsa_key, algorithm="RS256", headers={"kid": kid})


# -- jwt_decode -------------------------------------------------------------------------------------

def test_decode_pyjwt_token(rsa_key):
    result = jwt_decode(token(rsa_key))
    assert result["header"] == {"alg": "RS256", "typ": "JWT", "kid": "k1"}
    assert result["claims"]["sub"] == "alice" and result["claims"]["aud"] == AUD
    assert result["signature_length"] == 256
    assert "signature" not in result


@pytest.mark.parametrize("sub", ["a", "ab", "abc", "abcd", "ü-unicode"])
def test_decode_every_padding_length(sub):
    tok = pyjwt.encode({"sub": sub}, "s" * 32, algorithm="HS256")
    assert jwt_decode(tok)["claims"]["sub"] == sub
    # The same token with explicit '=' padding on each segment decodes too.
    padded = ".".join(p + "=" * (-len(p) % 4) for p in tok.split("."))
    assert jwt_decode(padded)["claims"]["sub"] == sub


def test_decode_strips_bearer_and_whitespace(rsa_key):
    assert jwt_decode("Bearer  %s \n" % token(rsa_key))["claims"]["iss"] == ISS


def test_decode_unsigned_token():
    tok = pyjwt.encode({"sub": "x"}, None, algorithm="none")
    result = jwt_decode(tok)
    assert result["header"]["alg"] == "none" and result["signature_length"] == 0


@pytest.mark.parametrize("bad, message", [
    ("", "empty"),
    ("abc.def", "3 dot-separated segments"),
    ("a.b.c.d.e", "encrypted JWT"),
    ("!!!.e30.sig", "cannot be decoded"),
    ("eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln", "not JSON"),
    ("eyJhbGciOiJIUzI1NiJ9.WzEsMl0.c2ln", "must be a JSON object"),
    ("e.e30.c2ln", "cannot be decoded"),
    (".e30.c2ln", "empty"),
    (42, "must be a string"),
    (None, "must be a string"),
])
def test_decode_malformed(bad, message):
    with pytest.raises(AnsibleFilterError, match=message):
        jwt_decode(bad)


# -- jwt_verify -------------------------------------------------------------------------------------

def test_verify_valid_with_pem(rsa_key, pem):
    result = jwt_verify(token(rsa_key), key=pem, issuer=ISS, audience=AUD)
    assert result["valid"] is True and result["reason"] is None and result["kid"] == "k1"


def test_verify_valid_with_jwks_dict_and_json(rsa_key, jwks):
    tok = token(rsa_key)
    assert jwt_verify(tok, jwks=jwks, issuer=ISS, audience=AUD, algorithms=["RS256"])["valid"]
    assert jwt_verify(tok, jwks=json.dumps(jwks), issuer=ISS, audience=AUD)["valid"]


def test_verify_audience_list(rsa_key, pem):
    tok = token(rsa_key, aud=["other", AUD])
    assert jwt_verify(tok, key=pem, audience=AUD)["valid"]
    assert jwt_verify(tok, key=pem, audience=["x", "other"])["valid"]
    assert not jwt_verify(tok, key=pem, audience="nope")["valid"]


@pytest.mark.parametrize("changes, reason", [
    ({"exp": int(time.time()) - 10}, "expired"),
    ({"nbf": int(time.time()) + 3600}, "not valid before"),
    ({"iat": int(time.time()) + 3600}, "issued in the future"),
    ({"exp": None}, "required claim 'exp' is missing"),
    ({"aud": "other-service"}, "audience"),
    ({"iss": "https://evil.test"}, "issuer"),
    ({"exp": "tomorrow"}, "must be an integer"),
])
def test_verify_claim_failures(rsa_key, pem, changes, reason):
    tok = pyjwt.encode(claims(**changes), rsa_key, algorithm="RS256", headers={"kid": "k1"})
    result = jwt_verify(tok, key=pem, issuer=ISS, audience=AUD)
    assert result["valid"] is False and reason in result["reason"]
    assert result["claims"]["sub"] == "alice"


def test_verify_leeway_and_require(rsa_key, pem):
    tok = token(rsa_key, exp=int(time.time()) - 5)
    assert not jwt_verify(tok, key=pem)["valid"]
    assert jwt_verify(tok, key=pem, leeway=60)["valid"]
    no_exp = token(rsa_key, exp=None)
    assert jwt_verify(no_exp, key=pem, require=[])["valid"]
    assert not jwt_verify(token(rsa_key, sub=None), key=pem, require=["exp", "sub"])["valid"]


def test_verify_fixed_now(rsa_key, pem):
    tok = token(rsa_key)
    exp = pyjwt.decode(tok, options={"verify_signature": False})["exp"]
    assert jwt_verify(tok, key=pem, now=exp - 1)["valid"]
    assert not jwt_verify(tok, key=pem, now=exp)["valid"]


def test_verify_other_key_and_tampering(rsa_key, pem):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert jwt_verify(token(other), key=pem)["reason"] == "bad signature"
    head, _payload, sig = token(rsa_key).split(".")
    forged = b64(json.dumps(claims(sub="admin")).encode())
    assert jwt_verify("%s.%s.%s" % (head, forged, sig), key=pem)["reason"] == "bad signature"


def test_verify_alg_none_refused(pem, jwks):
    tok = pyjwt.encode(claims(), None, algorithm="none")
    assert "unsigned" in jwt_verify(tok, key=pem)["reason"]
    assert "unsigned" in jwt_verify(tok, jwks=jwks)["reason"]
    none_upper = b64(b'{"alg":"NoNe"}') + "." + tok.split(".")[1] + "."
    assert not jwt_verify(none_upper, key=pem)["valid"]


def test_verify_key_confusion_refused(pem):
    """HS256 signed with the RSA public key PEM as secret must not verify against that RSA key."""
    head = b64(b'{"alg":"HS256","typ":"JWT"}')
    body = b64(json.dumps(claims()).encode())
    sig = hmac.new(pem.encode(), ("%s.%s" % (head, body)).encode(), hashlib.sha256).digest()
    result = jwt_verify("%s.%s.%s" % (head, body, b64(sig)), key=pem)
    assert result["valid"] is False and "not allowed" in result["reason"]
    result = jwt_verify("%s.%s.%s" % (head, body, b64(sig)), key=pem, algorithms=["RS256", "HS256"])
    assert result["valid"] is False and "no key fits" in result["reason"]


@pytest.mark.parametrize("secret_of", [
    lambda pem, der: pem.encode(),
    lambda pem, der: pem.rstrip("\n").encode(),
    lambda pem, der: der,
], ids=["pem", "pem-without-newline", "der"])
def test_verify_refuses_the_public_key_as_hmac_secret(rsa_key, pem, secret_of):
    """Allowing only HS256 with the RSA public key as key= must not verify a token HMAC'd with that key."""
    der = rsa_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    secret = secret_of(pem, der)
    head = b64(b'{"alg":"HS256","typ":"JWT"}')
    body = b64(json.dumps(claims()).encode())
    forged = "%s.%s.%s" % (head, body, b64(hmac.new(secret, ("%s.%s" % (head, body)).encode(), hashlib.sha256).digest()))
    with pytest.raises(AnsibleFilterError, match="asymmetric key"):
        jwt_verify(forged, key=secret if secret == der else secret.decode(), algorithms=["HS256"])


def test_verify_refuses_ps256_with_salt_length_zero(rsa_key, pem):
    """RFC 7518 3.5: the PSS salt is as long as the hash; a salt-0 signature is not a PS256 signature."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    def pss(salt_length):
        signing_input = b64(b'{"alg":"PS256","typ":"JWT","kid":"k1"}') + "." + b64(json.dumps(claims()).encode())
        signature = rsa_key.sign(signing_input.encode(), padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                                     salt_length=salt_length), hashes.SHA256())
        return signing_input + "." + b64(signature)

    assert jwt_verify(pss(32), key=pem, algorithms=["PS256"], issuer=ISS, audience=AUD)["valid"]
    result = jwt_verify(pss(0), key=pem, algorithms=["PS256"], issuer=ISS, audience=AUD)
    assert result["valid"] is False and result["reason"] == "bad signature"


def test_verify_unknown_kid_and_crit(rsa_key, jwks):
    assert "no key with kid" in jwt_verify(token(rsa_key, kid="nope"), jwks=jwks)["reason"]
    tok = pyjwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "k1", "crit": ["exp"]})
    assert "critical" in jwt_verify(tok, jwks=jwks)["reason"]


def test_verify_algorithm_allow_list(rsa_key, pem):
    tok = pyjwt.encode(claims(), rsa_key, algorithm="RS512")
    assert jwt_verify(tok, key=pem)["valid"]
    assert "not allowed" in jwt_verify(tok, key=pem, algorithms=["RS256"])["reason"]


def test_verify_ec_and_eddsa():
    ec_key = ec.generate_private_key(ec.SECP384R1())
    tok = pyjwt.encode(claims(), ec_key, algorithm="ES384")
    assert jwt_verify(tok, key=json.loads(ECAlgorithm.to_jwk(ec_key.public_key())))["valid"]
    ed_key = ed25519.Ed25519PrivateKey.generate()
    tok = pyjwt.encode(claims(), ed_key, algorithm="EdDSA")
    ed_pem = ed_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert jwt_verify(tok, key=ed_pem.decode())["valid"]


def test_verify_hmac_secret():
    tok = pyjwt.encode(claims(), "a-shared-secret-of-32-bytes-long", algorithm="HS256")
    assert jwt_verify(tok, key="a-shared-secret-of-32-bytes-long", algorithms=["HS256"])["valid"]
    assert jwt_verify(tok, key="wrong-secret", algorithms=["HS256"])["reason"] == "bad signature"


def test_verify_malformed_token_is_invalid_not_error(pem):
    for bad in ("", "abc", "a.b.c", "a.b.c.d.e", None):
        result = jwt_verify(bad, key=pem)
        assert result["valid"] is False and result["reason"].startswith("malformed")


@pytest.mark.parametrize("kwargs, message", [
    ({}, "give key="),
    ({"key": "x", "jwks": {"keys": []}}, "not both"),
    ({"key": "not a key"}, "neither a PEM block nor a JWK"),
    ({"key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}, "cannot read the PEM key"),
    ({"jwks": {"keys": []}}, "no usable signature key"),
    ({"jwks": "{not json"}, "not valid JSON"),
    ({"jwks": {"nokeys": 1}}, "'keys' list"),
    ({"key": "secret", "algorithms": ["HS999"]}, "unknown JWS algorithm"),
    ({"key": "secret", "algorithms": ["none"]}, "unknown JWS algorithm"),
])
def test_verify_bad_parameters(rsa_key, kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        jwt_verify(token(rsa_key), **kwargs)


def test_verify_rejects_small_rsa_keys(rsa_key):
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = small.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(AnsibleFilterError, match="shorter than 2048"):
        jwt_verify(token(rsa_key), key=pem.decode())
