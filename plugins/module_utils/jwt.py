# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""JSON Web Tokens (RFC 7519, JWS compact serialization RFC 7515): decode, verify, mint.

Shared by the ``api_jwt_probe`` module and the ``jwt_decode`` / ``jwt_verify`` filters. Needs the
``cryptography`` library for RSA, ECDSA and EdDSA (HMAC works without it). Everything that goes wrong
raises :class:`JWTError` with a message a user can act on; callers turn it into ``fail_json`` or a
filter error. Functions here never log or return key material or whole tokens.

Verification follows RFC 8725: the algorithm must be on an explicit allow-list, ``none`` is never
accepted, the key type must fit the algorithm (no HMAC with an RSA/EC key: no key confusion), ``crit``
headers are refused, and ``exp`` is required unless the caller says otherwise.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import hashlib
import hmac
import json
import os
import time

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
    from cryptography import x509
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised on hosts without cryptography
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = exc

try:
    from cryptography.hazmat.primitives.asymmetric import ed25519
    HAS_ED25519 = True
except ImportError:  # pragma: no cover
    HAS_ED25519 = False

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHMS = ("ES256", "ES384", "ES512")
OKP_ALGORITHMS = ("EdDSA",)
ALGORITHMS = HMAC_ALGORITHMS + RSA_ALGORITHMS + EC_ALGORITHMS + OKP_ALGORITHMS

_HASHLIB = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}
_EC_CURVES = {"ES256": ("P-256", 32), "ES384": ("P-384", 48), "ES512": ("P-521", 66)}
_CURVE_BY_NAME = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
TIME_CLAIMS = ("exp", "nbf", "iat")


class JWTError(ValueError):
    """Anything wrong with a token, a key or a parameter; the message says what and how to fix it."""


def _require_cryptography(what):
    if not HAS_CRYPTOGRAPHY:
        raise JWTError("%s needs the Python library 'cryptography' on the host that runs this "
                       "(pip install cryptography, or apt install python3-cryptography): %s"
                       % (what, CRYPTOGRAPHY_IMPORT_ERROR))


def _to_bytes(value):
    if isinstance(value, bytes):
        return value
    return value.encode("utf-8")


# -- base64url (RFC 7515 section 2: no padding on the wire) -----------------------------------------

def b64url_encode(data):
    """base64url without padding, as text."""
    return base64.urlsafe_b64encode(_to_bytes(data)).rstrip(b"=").decode("ascii")


def b64url_decode(segment):
    """Decode base64url with or without ``=`` padding; refuse anything outside the alphabet."""
    if isinstance(segment, bytes):
        segment = segment.decode("ascii", "replace")
    text = segment.strip().rstrip("=")
    if len(text) % 4 == 1:
        raise JWTError("invalid base64url segment: a length of %d characters is impossible" % len(text))
    if text.strip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"):
        raise JWTError("invalid base64url segment: it contains characters outside A-Z a-z 0-9 - _")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise JWTError("invalid base64url segment: %s" % exc)


def _b64_int(segment, what):
    try:
        return int(binascii.hexlify(b64url_decode(segment)), 16)
    except ValueError:
        raise JWTError("JWK member %s is not a base64url-encoded integer" % what)


def _int_b64(value, length=None):
    length = length or max(1, (value.bit_length() + 7) // 8)
    return b64url_encode(binascii.unhexlify(("%0" + str(length * 2) + "x") % value))


def _json_segment(segment, what):
    raw = b64url_decode(segment)
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise JWTError("the JWT %s is not JSON after base64url decoding: %s" % (what, exc))
    if not isinstance(value, dict):
        raise JWTError("the JWT %s must be a JSON object, got %s" % (what, type(value).__name__))
    return value


def _json_compact(value):
    return json.dumps(value, separators=(",", ":"), sort_keys=False)


# -- decoding ---------------------------------------------------------------------------------------

def split_token(token):
    """The three segments of a compact JWS, or JWTError saying why it is not one."""
    if not isinstance(token, (str, bytes)):
        raise JWTError("a JWT must be a string, got %s" % type(token).__name__)
    if isinstance(token, bytes):
        token = token.decode("ascii", "replace")
    token = token.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    if not token:
        raise JWTError("the JWT is empty")
    parts = token.split(".")
    if len(parts) == 5:
        raise JWTError("this is an encrypted JWT (JWE, 5 segments); only signed JWTs (JWS, 3 segments) "
                       "can be decoded without the decryption key")
    if len(parts) != 3:
        raise JWTError("a JWT has 3 dot-separated segments (header.payload.signature), this has %d" % len(parts))
    if not parts[0] or not parts[1]:
        raise JWTError("the JWT header or payload segment is empty")
    return parts


def decode(token):
    """Header and claims without any verification (like ``cut -d. -f2 | base64 -d | jq``).

    Returns ``{"header", "claims", "signature", "signing_input"}``; signature and signing input are
    bytes (for :func:`verify`), callers that output the result drop them.
    """
    parts = split_token(token)
    header = _json_segment(parts[0], "header")
    claims = _json_segment(parts[1], "payload")
    signature = b64url_decode(parts[2]) if parts[2] else b""
    return {"header": header, "claims": claims, "signature": signature,
            "signing_input": _to_bytes(parts[0] + "." + parts[1])}


# -- keys -------------------------------------------------------------------------------------------

class Key(object):
    """A signing or verification key: ``kty`` is RSA, EC, OKP or oct; ``kid`` and ``alg`` from a JWK."""

    def __init__(self, kty, obj, private=False, kid=None, alg=None, use=None, curve=None):
        self.kty = kty
        self.obj = obj
        self.private = private
        self.kid = kid
        self.alg = alg
        self.use = use
        self.curve = curve

    def algorithms(self):
        if self.kty == "oct":
            return HMAC_ALGORITHMS
        if self.kty == "RSA":
            return RSA_ALGORITHMS
        if self.kty == "EC":
            return tuple(a for a, (crv, _size) in _EC_CURVES.items() if crv == self.curve)
        return OKP_ALGORITHMS

    def public(self):
        if self.kty == "oct" or not self.private:
            return self
        return Key(self.kty, self.obj.public_key(), False, self.kid, self.alg, self.use, self.curve)

    def public_pem(self):
        """SubjectPublicKeyInfo PEM of an asymmetric key (what a gateway keeps as its verification key)."""
        if self.kty == "oct":
            raise JWTError("an HMAC secret has no public key")
        key = self.obj.public_key() if self.private else self.obj
        return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def public_jwk(self):
        """The public JWK of an asymmetric key (for JWKS documents and ``jwk`` headers)."""
        if self.kty == "oct":
            raise JWTError("an HMAC secret has no public JWK")
        key = self.obj.public_key() if self.private else self.obj
        jwk = {"kty": self.kty}
        if self.kty == "RSA":
            numbers = key.public_numbers()
            jwk.update(n=_int_b64(numbers.n), e=_int_b64(numbers.e))
        elif self.kty == "EC":
            numbers = key.public_numbers()
            size = dict(_EC_CURVES.values())[self.curve]
            jwk.update(crv=self.curve, x=_int_b64(numbers.x, size), y=_int_b64(numbers.y, size))
        else:
            jwk.update(crv="Ed25519", x=b64url_encode(key.public_bytes(serialization.Encoding.Raw,
                                                                       serialization.PublicFormat.Raw)))
        if self.kid:
            jwk["kid"] = self.kid
        return jwk


def _wrap_crypto_key(obj, private, kid=None, alg=None, use=None):
    if isinstance(obj, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        if obj.key_size < 2048:
            raise JWTError("RSA keys shorter than 2048 bits are refused (RFC 7518 section 3.3); this one has %d"
                           % obj.key_size)
        return Key("RSA", obj, private, kid, alg, use)
    if isinstance(obj, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        curve = _CURVE_BY_NAME.get(obj.curve.name)
        if not curve:
            raise JWTError("EC curve %s is not usable with JWS; use P-256, P-384 or P-521" % obj.curve.name)
        return Key("EC", obj, private, kid, alg, use, curve)
    if HAS_ED25519 and isinstance(obj, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return Key("OKP", obj, private, kid, alg, use, "Ed25519")
    raise JWTError("unsupported key type %s; use RSA, EC (P-256/384/521) or Ed25519" % type(obj).__name__)


def load_pem(material, kid=None):
    """A Key from a PEM private key, public key or X.509 certificate (bytes or text)."""
    _require_cryptography("loading a PEM key")
    data = _to_bytes(material).strip() + b"\n"
    if b"ENCRYPTED" in data.split(b"\n", 1)[0]:
        raise JWTError("the PEM private key is encrypted; give an unencrypted key (keep it in Ansible Vault)")
    try:
        if b"PRIVATE KEY" in data:
            return _wrap_crypto_key(serialization.load_pem_private_key(data, password=None), True, kid)
        if b"CERTIFICATE" in data:
            return _wrap_crypto_key(x509.load_pem_x509_certificate(data).public_key(), False, kid)
        return _wrap_crypto_key(serialization.load_pem_public_key(data), False, kid)
    except (ValueError, TypeError) as exc:
        raise JWTError("cannot read the PEM key (%s); give an unencrypted PEM private key, public key or "
                       "certificate" % str(exc).split(".", 1)[0].split("\n", 1)[0])
    except Exception as exc:  # cryptography raises its own UnsupportedAlgorithm
        raise JWTError("cannot read the PEM key: %s" % type(exc).__name__)


def load_jwk(jwk):
    """A Key from a JWK (dict or JSON text), public or private."""
    if isinstance(jwk, (str, bytes)):
        try:
            jwk = json.loads(_to_bytes(jwk).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise JWTError("the JWK is not valid JSON: %s" % exc)
    if not isinstance(jwk, dict) or "kty" not in jwk:
        raise JWTError("a JWK is a JSON object with a 'kty' member")
    kty, kid, alg, use = jwk["kty"], jwk.get("kid"), jwk.get("alg"), jwk.get("use")
    if kty == "oct":
        if not jwk.get("k"):
            raise JWTError("an oct JWK needs a 'k' member")
        return Key("oct", b64url_decode(jwk["k"]), True, kid, alg, use)
    _require_cryptography("a %s JWK" % kty)
    try:
        if kty == "RSA":
            public = rsa.RSAPublicNumbers(_b64_int(jwk["e"], "e"), _b64_int(jwk["n"], "n"))
            if "d" in jwk:
                if not all(m in jwk for m in ("p", "q", "dp", "dq", "qi")):
                    raise JWTError("a private RSA JWK needs p, q, dp, dq and qi besides d")
                numbers = rsa.RSAPrivateNumbers(
                    _b64_int(jwk["p"], "p"), _b64_int(jwk["q"], "q"), _b64_int(jwk["d"], "d"),
                    _b64_int(jwk["dp"], "dp"), _b64_int(jwk["dq"], "dq"), _b64_int(jwk["qi"], "qi"), public)
                return _wrap_crypto_key(numbers.private_key(), True, kid, alg, use)
            return _wrap_crypto_key(public.public_key(), False, kid, alg, use)
        if kty == "EC":
            curves = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}
            if jwk.get("crv") not in curves:
                raise JWTError("EC JWK curve %r is not supported; use P-256, P-384 or P-521" % jwk.get("crv"))
            public = ec.EllipticCurvePublicNumbers(_b64_int(jwk["x"], "x"), _b64_int(jwk["y"], "y"),
                                                   curves[jwk["crv"]]())
            if "d" in jwk:
                private = ec.EllipticCurvePrivateNumbers(_b64_int(jwk["d"], "d"), public).private_key()
                return _wrap_crypto_key(private, True, kid, alg, use)
            return _wrap_crypto_key(public.public_key(), False, kid, alg, use)
        if kty == "OKP":
            if jwk.get("crv") != "Ed25519" or not HAS_ED25519:
                raise JWTError("OKP JWK curve %r is not supported; use Ed25519" % jwk.get("crv"))
            if "d" in jwk:
                return _wrap_crypto_key(ed25519.Ed25519PrivateKey.from_private_bytes(b64url_decode(jwk["d"])),
                                        True, kid, alg, use)
            return _wrap_crypto_key(ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"])),
                                    False, kid, alg, use)
    except KeyError as exc:
        raise JWTError("the %s JWK lacks the member %s" % (kty, exc))
    except JWTError:
        raise
    except (ValueError, TypeError) as exc:
        raise JWTError("the %s JWK is not a valid key: %s" % (kty, exc))
    raise JWTError("JWK key type %r is not supported; use RSA, EC, OKP or oct" % kty)


def load_key(material, kid=None, secret=False):
    """A Key from PEM, a JWK (dict or JSON) or, with ``secret=True``, an HMAC secret (text or bytes)."""
    if isinstance(material, Key):
        return material
    if isinstance(material, dict):
        key = load_jwk(material)
    elif secret:
        if not material:
            raise JWTError("the HMAC secret is empty")
        key = Key("oct", _to_bytes(material), True, kid)
    elif isinstance(material, (str, bytes)) and _to_bytes(material).lstrip().startswith(b"{"):
        key = load_jwk(material)
    elif isinstance(material, (str, bytes)) and b"-----BEGIN" in _to_bytes(material):
        key = load_pem(material, kid)
    else:
        raise JWTError("the key is neither a PEM block nor a JWK; for an HMAC secret choose an HS* algorithm")
    if kid and not key.kid:
        key.kid = kid
    return key


def load_jwks(jwks):
    """Keys of a JWKS (dict or JSON text); keys of unsupported types and encryption keys are skipped."""
    if isinstance(jwks, (str, bytes)):
        try:
            jwks = json.loads(_to_bytes(jwks).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise JWTError("the JWKS is not valid JSON: %s" % exc)
    if isinstance(jwks, list):
        jwks = {"keys": jwks}
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise JWTError("a JWKS is a JSON object with a 'keys' list")
    keys = []
    for jwk in jwks["keys"]:
        if isinstance(jwk, dict) and jwk.get("use") == "enc":
            continue
        try:
            keys.append(load_jwk(jwk))
        except JWTError:
            continue
    if not keys:
        raise JWTError("the JWKS holds no usable signature key")
    return keys


def generate_key(like=None):
    """A fresh random key of the same type (and curve) as ``like`` (RSA-2048 without): the probe's 'other' key."""
    if like is None:
        _require_cryptography("generating a key")
        return _wrap_crypto_key(rsa.generate_private_key(public_exponent=65537, key_size=2048), True)
    if like.kty == "oct":
        return Key("oct", os.urandom(max(32, len(like.obj))), True, like.kid)
    _require_cryptography("generating a key")
    if like.kty == "RSA":
        obj = rsa.generate_private_key(public_exponent=65537, key_size=max(2048, like.obj.key_size))
    elif like.kty == "EC":
        obj = ec.generate_private_key({"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}[like.curve]())
    else:
        obj = ed25519.Ed25519PrivateKey.generate()
    return _wrap_crypto_key(obj, True, like.kid)


# -- signatures -------------------------------------------------------------------------------------

def _hash(alg):
    return {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}[alg[-3:]]()


def _check_key_fits(key, alg):
    if alg not in ALGORITHMS:
        raise JWTError("unknown JWS algorithm %r; use one of %s" % (alg, ", ".join(ALGORITHMS)))
    if alg not in key.algorithms():
        raise JWTError("algorithm %s does not fit a%s %s key (it fits %s)"
                       % (alg, "n" if key.kty in ("RSA", "EC", "OKP") else "", key.kty, ", ".join(key.algorithms())))


def sign_bytes(signing_input, key, alg):
    """The raw JWS signature of ``signing_input`` (bytes) with ``key`` (a private Key or secret)."""
    _check_key_fits(key, alg)
    if key.kty == "oct":
        return hmac.new(key.obj, signing_input, _HASHLIB[alg[-3:]]).digest()
    if not key.private:
        raise JWTError("signing needs a private key; a public key or certificate was given")
    if alg.startswith("RS"):
        return key.obj.sign(signing_input, padding.PKCS1v15(), _hash(alg))
    if alg.startswith("PS"):
        return key.obj.sign(signing_input, padding.PSS(mgf=padding.MGF1(_hash(alg)), salt_length=_hash(alg).digest_size),
                            _hash(alg))
    if alg.startswith("ES"):
        r, s = decode_dss_signature(key.obj.sign(signing_input, ec.ECDSA(_hash(alg))))
        size = _EC_CURVES[alg][1]
        return binascii.unhexlify(("%0" + str(size * 4) + "x") % ((r << (size * 8)) | s))
    return key.obj.sign(signing_input)


def signature_valid(signing_input, signature, key, alg):
    """True when ``signature`` is ``key``'s signature of ``signing_input`` with ``alg``."""
    _check_key_fits(key, alg)
    if key.kty == "oct":
        return hmac.compare_digest(hmac.new(key.obj, signing_input, _HASHLIB[alg[-3:]]).digest(), signature)
    public = key.obj.public_key() if key.private else key.obj
    try:
        if alg.startswith("RS"):
            public.verify(signature, signing_input, padding.PKCS1v15(), _hash(alg))
        elif alg.startswith("PS"):
            pss = padding.PSS(mgf=padding.MGF1(_hash(alg)), salt_length=padding.PSS.AUTO)
            public.verify(signature, signing_input, pss, _hash(alg))
        elif alg.startswith("ES"):
            size = _EC_CURVES[alg][1]
            if len(signature) != 2 * size:
                return False
            r = int(binascii.hexlify(signature[:size]), 16)
            s = int(binascii.hexlify(signature[size:]), 16)
            public.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(_hash(alg)))
        else:
            public.verify(signature, signing_input)
    except InvalidSignature:
        return False
    return True


def encode(claims, key, alg, headers=None):
    """A compact JWS: header ``{"alg", "typ": "JWT", "kid"?}`` plus ``headers``, ``claims``, signed."""
    header = {"alg": alg, "typ": "JWT"}
    if key is not None and key.kid:
        header["kid"] = key.kid
    header.update(headers or {})
    signing_input = b64url_encode(_json_compact(header)) + "." + b64url_encode(_json_compact(claims))
    if alg == "none":
        return signing_input + "."
    return signing_input + "." + b64url_encode(sign_bytes(_to_bytes(signing_input), key, alg))


def encode_unsigned(header, claims, signature=b""):
    """A token assembled from parts as given (for malformed and forged probe tokens)."""
    return (b64url_encode(_json_compact(header)) + "." + b64url_encode(_json_compact(claims)) + "."
            + b64url_encode(signature))


# -- verification -----------------------------------------------------------------------------------

def verify(token, keys, algorithms=None, issuer=None, audience=None, leeway=0, require=("exp",), now=None):
    """Verify a token's signature and claims; never raises for a bad token.

    ``keys``: a Key or a list of Keys (from :func:`load_key` / :func:`load_jwks`). ``algorithms``: the
    allow-list; by default every algorithm that fits the keys' types (HMAC only with oct keys).
    Returns ``{"valid": bool, "reason": str|None, "header": {...}|None, "claims": {...}|None, "kid": ...}``.
    Bad parameters (unknown algorithm names, no keys) raise JWTError.
    """
    if isinstance(keys, Key):
        keys = [keys]
    if not keys:
        raise JWTError("jwt_verify needs a key or a JWKS with at least one key")
    if algorithms:
        if isinstance(algorithms, str):
            algorithms = [algorithms]
        unknown = [a for a in algorithms if a not in ALGORITHMS]
        if unknown:
            raise JWTError("unknown JWS algorithm(s) %s; use one of %s (never 'none')"
                           % (", ".join(map(str, unknown)), ", ".join(ALGORITHMS)))
    if isinstance(audience, str):
        audience = [audience]
    if isinstance(require, str):
        require = [require]
    now = time.time() if now is None else now
    result = {"valid": False, "reason": None, "header": None, "claims": None, "kid": None}

    def fail(reason):
        result["reason"] = reason
        return result

    try:
        parts = decode(token)
    except JWTError as exc:
        return fail("malformed: %s" % exc)
    header, claims = parts["header"], parts["claims"]
    result.update(header=header, claims=claims, kid=header.get("kid"))
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        return fail("the header has no 'alg'")
    if alg.lower() == "none":
        return fail("unsigned token (alg %s) refused" % alg)
    if header.get("crit"):
        return fail("critical header parameters %s are not understood" % header.get("crit"))
    candidates = [k for k in keys if alg in k.algorithms() and (not k.alg or k.alg == alg)]
    allowed = algorithms or sorted(set(a for k in keys for a in k.algorithms()))
    if alg not in allowed:
        return fail("algorithm %s is not allowed (allowed: %s)" % (alg, ", ".join(allowed)))
    if not candidates:
        return fail("no key fits algorithm %s (key confusion refused)" % alg)
    kid = header.get("kid")
    if kid is not None:
        with_kid = [k for k in candidates if k.kid == kid]
        if with_kid:
            candidates = with_kid
        elif any(k.kid for k in candidates):
            return fail("no key with kid %r" % kid)
    if not any(signature_valid(parts["signing_input"], parts["signature"], k, alg) for k in candidates):
        return fail("bad signature")
    for name in require or ():
        if name not in claims:
            return fail("required claim %r is missing" % name)
    for name in TIME_CLAIMS:
        if name in claims and (isinstance(claims[name], bool) or not isinstance(claims[name], (int, float))):
            return fail("claim %r must be a number (seconds since the epoch)" % name)
    if "exp" in claims and now >= claims["exp"] + leeway:
        return fail("expired %d seconds ago" % int(now - claims["exp"]))
    if "nbf" in claims and now < claims["nbf"] - leeway:
        return fail("not valid before %d (in %d seconds)" % (claims["nbf"], int(claims["nbf"] - now)))
    if "iat" in claims and now < claims["iat"] - leeway:
        return fail("issued in the future (iat %d)" % claims["iat"])
    if issuer is not None and claims.get("iss") != issuer:
        return fail("issuer %r is not %r" % (claims.get("iss"), issuer))
    if audience:
        token_aud = claims.get("aud")
        token_aud = [token_aud] if isinstance(token_aud, str) else (token_aud or [])
        if not isinstance(token_aud, list) or not set(audience) & set(a for a in token_aud if isinstance(a, str)):
            return fail("audience %r does not include %s" % (claims.get("aud"), " or ".join(map(repr, audience))))
    result["valid"] = True
    return result
