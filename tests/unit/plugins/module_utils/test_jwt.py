"""module_utils/jwt_assurance: tokens (PyJWT) load keys from every format and refuse what RFC 7518 and
PyJWT refuse; forge makes the attack tokens PyJWT will not, and PyJWT parses them."""

import base64
import json

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.jwt_assurance import forge, tokens

PEM = serialization.Encoding.PEM
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


def private_pem(key):
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize("data", [b"", b"f", b"fo", b"foo", b"foob", b"\xff\xfe\xfd"])
def test_forge_b64url_has_no_padding(data):
    encoded = forge.b64url(data)
    assert "=" not in encoded
    assert pyjwt.utils.base64url_decode(encoded) == data


def test_decode_rejects_standard_alphabet():
    with pytest.raises(InputError, match="cannot be decoded"):
        tokens.decode("ab+/.e30.c2ln")


@pytest.mark.parametrize("alg, make", [
    ("RS256", lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    ("PS384", lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    ("ES256", lambda: ec.generate_private_key(ec.SECP256R1())),
    ("ES512", lambda: ec.generate_private_key(ec.SECP521R1())),
    ("EdDSA", ed25519.Ed25519PrivateKey.generate),
])
def test_minted_tokens_verify_with_pyjwt(alg, make):
    key = make()
    tok = tokens.encode({"sub": "probe", "aud": "a"}, tokens.load_key(private_pem(key), kid="k9"), alg)
    assert pyjwt.get_unverified_header(tok) == {"alg": alg, "typ": "JWT", "kid": "k9"}
    assert pyjwt.decode(tok, key.public_key(), algorithms=[alg], audience="a")["sub"] == "probe"
    theirs = pyjwt.encode({"sub": "x", "exp": 4102444800}, key, algorithm=alg)
    assert tokens.verify(theirs, tokens.load_key(private_pem(key)).public())["valid"]


def test_hmac_round_trip():
    secret = tokens.load_key("s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t", secret=True)
    tok = tokens.encode({"sub": "x"}, secret, "HS384")
    assert pyjwt.decode(tok, "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t", algorithms=["HS384"])["sub"] == "x"


def test_private_jwk_and_certificate_loading():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key))
    loaded = tokens.load_key(json.dumps(jwk), kid="j1")
    assert loaded.private and loaded.kty == "RSA" and loaded.kid == "j1"
    tok = tokens.encode({"sub": "x"}, loaded, "RS256")
    assert pyjwt.decode(tok, key.public_key(), algorithms=["RS256"])["sub"] == "x"
    assert loaded.public_jwk()["n"] == jwk["n"] and "d" not in loaded.public_jwk()
    ec_key = ec.generate_private_key(ec.SECP256R1())
    assert tokens.load_key(json.loads(ECAlgorithm.to_jwk(ec_key))).private
    assert tokens.load_key(ec_key.public_key().public_bytes(PEM, SPKI)).curve == "P-256"


def test_key_errors():
    with pytest.raises(InputError, match="does not fit"):
        tokens.encode({}, tokens.load_key(private_pem(ec.generate_private_key(ec.SECP256R1()))), "RS256")
    with pytest.raises(InputError, match="needs a private key"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        tokens.encode({}, tokens.load_key(key.public_key().public_bytes(PEM, SPKI)), "RS256")
    with pytest.raises(InputError, match="unknown JWS algorithm"):
        tokens.encode({}, tokens.load_key("secret", secret=True), "HS1")
    with pytest.raises(InputError, match="encrypted"):
        tokens.load_key("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
    with pytest.raises(InputError, match="not a usable key"):
        tokens.load_jwk({"kty": "RSA", "n": "AQAB"})
    with pytest.raises(InputError, match="not supported"):
        tokens.load_jwk({"kty": "XYZ"})


def test_jwks_skips_encryption_and_unknown_keys():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    good = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    good["kid"] = "sig"
    keys = tokens.load_jwks({"keys": [dict(good, use="enc", kid="enc"), {"kty": "weird"}, good]})
    assert [k.kid for k in keys] == ["sig"]


# -- what the hand-written verifier got wrong (issue 12) ---------------------------------------------

def pss_token(key, salt_length, alg="PS256"):
    """A PS256 token signed by hand with the given PSS salt length (PyJWT always uses the hash length)."""
    signing_input = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode()) + "." + b64(
        json.dumps({"sub": "x", "exp": 4102444800}).encode())
    signature = key.sign(signing_input.encode(), padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt_length),
                         hashes.SHA256())
    return signing_input + "." + b64(signature)


def test_ps256_with_salt_length_zero_is_refused(rsa_key):
    public = tokens.load_key(rsa_key.public_key().public_bytes(PEM, SPKI))
    assert tokens.verify(pss_token(rsa_key, 32), public)["valid"]  # the RFC 7518 3.5 salt: hash length
    result = tokens.verify(pss_token(rsa_key, 0), public)
    assert result["valid"] is False and result["reason"] == "bad signature"


@pytest.mark.parametrize("encoding", ["pem", "pem_without_newline", "der"])
def test_public_key_is_never_an_hmac_secret(rsa_key, encoding):
    pem = rsa_key.public_key().public_bytes(PEM, SPKI)
    material = {"pem": pem, "pem_without_newline": pem.rstrip(b"\n"),
                "der": rsa_key.public_key().public_bytes(serialization.Encoding.DER, SPKI)}[encoding]
    with pytest.raises(InputError, match="asymmetric key"):
        tokens.load_key(material, secret=True)
    forged = forge.hmac_signed({"alg": "HS256", "typ": "JWT"}, {"sub": "x", "exp": 4102444800}, material)
    result = tokens.verify(forged, [tokens.load_key(pem)], algorithms=["RS256", "HS256"])
    assert result["valid"] is False and "no key fits" in result["reason"]


def test_forged_tokens_parse_with_pyjwt(rsa_key):
    valid = tokens.encode({"sub": "alice"}, tokens.load_key(private_pem(rsa_key)), "RS256")
    assert pyjwt.get_unverified_header(forge.unsigned({"alg": "nOnE"}, {"sub": "a"}))["alg"] == "nOnE"
    swapped = forge.swap_payload(valid, {"sub": "admin"})
    assert pyjwt.decode(swapped, options={"verify_signature": False})["sub"] == "admin"
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(forge.corrupt_signature(valid), rsa_key.public_key(), algorithms=["RS256"])
    empty = forge.hmac_signed({"alg": "HS256"}, {"sub": "a"}, b"")
    assert pyjwt.decode(empty, options={"verify_signature": False})["sub"] == "a"
