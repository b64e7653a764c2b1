"""module_utils/jwt.py: tokens it mints verify with PyJWT, keys load from every format, b64url edge cases."""

import json

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from ansible_collections.ainative.security.plugins.module_utils import jwt as jose

PEM = serialization.Encoding.PEM


def private_pem(key):
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


@pytest.mark.parametrize("data", [b"", b"f", b"fo", b"foo", b"foob", b"\xff\xfe\xfd"])
def test_b64url_round_trip(data):
    encoded = jose.b64url_encode(data)
    assert "=" not in encoded
    assert jose.b64url_decode(encoded) == data
    assert jose.b64url_decode(encoded + "=" * (-len(encoded) % 4)) == data


def test_b64url_rejects_standard_alphabet():
    with pytest.raises(jose.JWTError):
        jose.b64url_decode("ab+/")


@pytest.mark.parametrize("alg, make", [
    ("RS256", lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    ("PS384", lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    ("ES256", lambda: ec.generate_private_key(ec.SECP256R1())),
    ("ES512", lambda: ec.generate_private_key(ec.SECP521R1())),
    ("EdDSA", ed25519.Ed25519PrivateKey.generate),
])
def test_minted_tokens_verify_with_pyjwt(alg, make):
    key = make()
    tok = jose.encode({"sub": "probe", "aud": "a"}, jose.load_key(private_pem(key), kid="k9"), alg)
    assert pyjwt.get_unverified_header(tok) == {"alg": alg, "typ": "JWT", "kid": "k9"}
    assert pyjwt.decode(tok, key.public_key(), algorithms=[alg], audience="a")["sub"] == "probe"
    # ... and PyJWT's tokens verify with ours.
    theirs = pyjwt.encode({"sub": "x", "exp": 4102444800}, key, algorithm=alg)
    assert jose.verify(theirs, jose.load_key(private_pem(key)).public())["valid"]


def test_hmac_round_trip():
    secret = jose.load_key("s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t", secret=True)
    tok = jose.encode({"sub": "x"}, secret, "HS384")
    assert pyjwt.decode(tok, "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t", algorithms=["HS384"])["sub"] == "x"


def test_private_jwk_and_certificate_loading():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key))
    loaded = jose.load_key(json.dumps(jwk), kid="j1")
    assert loaded.private and loaded.kty == "RSA" and loaded.kid == "j1"
    tok = jose.encode({"sub": "x"}, loaded, "RS256")
    assert pyjwt.decode(tok, key.public_key(), algorithms=["RS256"])["sub"] == "x"
    assert loaded.public_jwk()["n"] == jwk["n"]
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_jwk = json.loads(ECAlgorithm.to_jwk(ec_key))
    assert jose.load_key(ec_jwk).private
    assert jose.load_key(ec_key.public_key().public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo)).curve == "P-256"


def test_key_errors():
    with pytest.raises(jose.JWTError, match="does not fit"):
        jose.encode({}, jose.load_key(private_pem(ec.generate_private_key(ec.SECP256R1()))), "RS256")
    with pytest.raises(jose.JWTError, match="needs a private key"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jose.encode({}, jose.load_key(key.public_key().public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo)), "RS256")
    with pytest.raises(jose.JWTError, match="unknown JWS algorithm"):
        jose.sign_bytes(b"x", jose.load_key("secret", secret=True), "HS1")
    with pytest.raises(jose.JWTError, match="encrypted"):
        jose.load_key("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
    with pytest.raises(jose.JWTError, match="lacks the member"):
        jose.load_jwk({"kty": "RSA", "n": "AQAB"})
    with pytest.raises(jose.JWTError, match="not supported"):
        jose.load_jwk({"kty": "XYZ"})


def test_jwks_skips_encryption_and_unknown_keys():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    good = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    good["kid"] = "sig"
    keys = jose.load_jwks({"keys": [dict(good, use="enc", kid="enc"), {"kty": "weird"}, good]})
    assert [k.kid for k in keys] == ["sig"]
