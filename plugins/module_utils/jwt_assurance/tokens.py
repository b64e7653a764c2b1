# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""JSON Web Tokens on PyJWT: load keys, decode without verification, verify, sign.

Shared by ``api_jwt_probe`` and the ``jwt_decode`` / ``jwt_verify`` filters. Every signature is made
and checked by PyJWT (RFC 7518: PSS salt = hash length, no PEM/DER key as an HMAC secret, strict
base64url); this file only chooses keys and algorithms and turns PyJWT's errors into one clear line.
Bad keys and parameters raise :class:`~..core.errors.InputError`; a bad token is a verdict, not an
error. Nothing here returns or logs key material or whole tokens.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.ainative.security.plugins.module_utils.core.errors import (
    DependencyError,
    InputError,
    bounded_text,
)

try:
    import jwt
    from jwt import algorithms as jwt_algorithms
    from jwt import exceptions as jwt_errors
    HAS_PYJWT = True
    PYJWT_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised on hosts without PyJWT
    HAS_PYJWT = False
    PYJWT_IMPORT_ERROR = exc

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = exc

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHMS = ("ES256", "ES384", "ES512")
OKP_ALGORITHMS = ("EdDSA",)
ALGORITHMS = HMAC_ALGORITHMS + RSA_ALGORITHMS + EC_ALGORITHMS + OKP_ALGORITHMS
EC_ALGORITHM_OF_CURVE = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
_CURVE_BY_NAME = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
MIN_RSA_BITS = 2048


def require_libraries(what, crypto=True):
    """DependencyError unless PyJWT (and, for asymmetric keys, cryptography) can be imported."""
    if not HAS_PYJWT:
        raise DependencyError("%s needs the Python library PyJWT where it runs (pip install 'PyJWT[crypto]', "
                              "or apt install python3-jwt): %s" % (what, PYJWT_IMPORT_ERROR))
    if crypto and not HAS_CRYPTOGRAPHY:
        raise DependencyError("%s needs the Python library cryptography where it runs (pip install cryptography, "
                              "or apt install python3-cryptography): %s" % (what, CRYPTOGRAPHY_IMPORT_ERROR))


def _to_bytes(value):
    return value if isinstance(value, bytes) else value.encode("utf-8")


def first_line(exc):
    """The first line of an error, bounded (library messages can span lines or be long)."""
    return bounded_text(str(exc).strip().split("\n", 1)[0], 300)


# -- decoding ---------------------------------------------------------------------------------------

def split_token(token):
    """The compact JWS without a ``Bearer`` prefix, or InputError saying why it is not one."""
    if not isinstance(token, (str, bytes)):
        raise InputError("a JWT must be a string, got %s" % type(token).__name__)
    if isinstance(token, bytes):
        token = token.decode("ascii", "replace")
    token = token.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    if not token:
        raise InputError("the JWT is empty")
    parts = token.split(".")
    if len(parts) == 5:
        raise InputError("this is an encrypted JWT (JWE, 5 segments); only signed JWTs (JWS, 3 segments) "
                         "can be decoded without the decryption key")
    if len(parts) != 3:
        raise InputError("a JWT has 3 dot-separated segments (header.payload.signature), this has %d" % len(parts))
    if not parts[0] or not parts[1]:
        raise InputError("the JWT header or payload segment is empty")
    return token


def decode(token):
    """``{"header", "claims", "signature"}`` without any verification (PyJWT's own parser)."""
    require_libraries("decoding a JWT", crypto=False)
    token = split_token(token)
    try:
        parts = jwt.api_jws.PyJWS().decode_complete(token, options={"verify_signature": False})
        claims = json.loads(parts["payload"])
    except jwt_errors.PyJWTError as exc:
        raise InputError("the JWT cannot be decoded: %s" % first_line(exc))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError("the JWT payload is not JSON after base64url decoding: %s" % first_line(exc))
    if not isinstance(claims, dict):
        raise InputError("the JWT payload must be a JSON object, got %s" % type(claims).__name__)
    return {"header": parts["header"], "claims": claims, "signature": parts["signature"]}


# -- keys -------------------------------------------------------------------------------------------

class Key(object):
    """A key as PyJWT takes it: ``obj`` is a cryptography key object, or the bytes of an HMAC secret."""

    def __init__(self, kty, obj, private=False, kid=None, alg=None, curve=None):
        self.kty = kty
        self.obj = obj
        self.private = private
        self.kid = kid
        self.alg = alg
        self.curve = curve

    def algorithms(self):
        if self.kty == "oct":
            return HMAC_ALGORITHMS
        if self.kty == "RSA":
            return RSA_ALGORITHMS
        if self.kty == "EC":
            return (EC_ALGORITHM_OF_CURVE[self.curve],)
        return OKP_ALGORITHMS

    def _public_obj(self):
        if self.kty == "oct":
            raise InputError("an HMAC secret has no public key")
        return self.obj.public_key() if self.private else self.obj

    def public(self):
        if self.kty == "oct" or not self.private:
            return self
        return Key(self.kty, self.obj.public_key(), False, self.kid, self.alg, self.curve)

    def public_pem(self):
        """SubjectPublicKeyInfo PEM (what a gateway keeps as its verification key)."""
        return self._public_obj().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)

    def public_der(self):
        return self._public_obj().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)

    def public_jwk(self):
        """The public JWK (PyJWT's export), with ``kid`` when the key has one."""
        family = {"RSA": jwt_algorithms.RSAAlgorithm, "EC": jwt_algorithms.ECAlgorithm,
                  "OKP": jwt_algorithms.OKPAlgorithm}[self.kty]
        jwk = json.loads(family.to_jwk(self._public_obj()))
        jwk.pop("key_ops", None)
        if self.kid:
            jwk["kid"] = self.kid
        return jwk


def _wrap(obj, private, kid=None, alg=None):
    if isinstance(obj, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        if obj.key_size < MIN_RSA_BITS:
            raise InputError("RSA keys shorter than %d bits are refused (RFC 7518 section 3.3); this one has %d"
                             % (MIN_RSA_BITS, obj.key_size))
        return Key("RSA", obj, private, kid, alg)
    if isinstance(obj, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        curve = _CURVE_BY_NAME.get(obj.curve.name)
        if not curve:
            raise InputError("EC curve %s is not usable with JWS; use P-256, P-384 or P-521" % obj.curve.name)
        return Key("EC", obj, private, kid, alg, curve)
    if isinstance(obj, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return Key("OKP", obj, private, kid, alg, "Ed25519")
    raise InputError("unsupported key type %s; use RSA, EC (P-256/384/521) or Ed25519" % type(obj).__name__)


def load_pem(material, kid=None):
    """A Key from a PEM private key, public key or X.509 certificate (bytes or text)."""
    require_libraries("loading a PEM key")
    data = _to_bytes(material).strip() + b"\n"
    if b"ENCRYPTED" in data.split(b"\n", 1)[0]:
        raise InputError("the PEM private key is encrypted; give an unencrypted key (keep it in Ansible Vault)")
    private = b"PRIVATE KEY" in data
    try:
        if private:
            obj = serialization.load_pem_private_key(data, password=None)
        elif b"CERTIFICATE" in data:
            obj = x509.load_pem_x509_certificate(data).public_key()
        else:
            obj = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise InputError("cannot read the PEM key (%s); give an unencrypted PEM private key, public key or "
                         "certificate" % first_line(exc).split(".", 1)[0])
    except Exception as exc:  # pylint: disable=broad-except  # cryptography's UnsupportedAlgorithm
        raise InputError("cannot read the PEM key: %s" % type(exc).__name__)
    return _wrap(obj, private, kid)


def load_secret(material, kid=None):
    """An HMAC secret; PyJWT refuses a PEM, DER or SSH key or a JWK as one (no key confusion)."""
    require_libraries("an HMAC secret", crypto=False)
    if not material:
        raise InputError("the HMAC secret is empty")
    try:
        secret = jwt_algorithms.HMACAlgorithm(jwt_algorithms.HMACAlgorithm.SHA256).prepare_key(_to_bytes(material))
    except jwt_errors.InvalidKeyError as exc:
        raise InputError("the HMAC secret is refused: %s" % first_line(exc))
    return Key("oct", secret, True, kid)


def load_jwk(jwk):
    """A Key from a JWK (dict or JSON text), public or private, parsed by PyJWT."""
    require_libraries("a JWK", crypto=False)
    if isinstance(jwk, (str, bytes)):
        try:
            jwk = json.loads(_to_bytes(jwk).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InputError("the JWK is not valid JSON: %s" % first_line(exc))
    if not isinstance(jwk, dict) or "kty" not in jwk:
        raise InputError("a JWK is a JSON object with a 'kty' member")
    kty = jwk["kty"]
    if kty not in ("RSA", "EC", "OKP", "oct"):
        raise InputError("JWK key type %r is not supported; use RSA, EC, OKP or oct" % kty)
    if kty != "oct":
        require_libraries("a %s JWK" % kty)
    alg = jwk.get("alg") if jwk.get("alg") in ALGORITHMS else None
    try:
        parsed = jwt.PyJWK(jwk, algorithm=alg)
    except jwt_errors.PyJWTError as exc:
        raise InputError("the %s JWK is not a usable key: %s" % (kty, first_line(exc)))
    except KeyError as exc:
        raise InputError("the %s JWK lacks the member %s" % (kty, exc))
    if kty == "oct":
        return load_secret(parsed.key, jwk.get("kid"))
    return _wrap(parsed.key, hasattr(parsed.key, "private_bytes"), jwk.get("kid"), jwk.get("alg"))


def load_key(material, kid=None, secret=False):
    """A Key from PEM, a JWK (dict or JSON) or, with ``secret=True``, an HMAC secret (text or bytes)."""
    if isinstance(material, Key):
        return material
    if isinstance(material, dict):
        key = load_jwk(material)
    elif secret:
        key = load_secret(material, kid)
    elif isinstance(material, (str, bytes)) and _to_bytes(material).lstrip().startswith(b"{"):
        key = load_jwk(material)
    elif isinstance(material, (str, bytes)) and b"-----BEGIN" in _to_bytes(material):
        key = load_pem(material, kid)
    else:
        raise InputError("the key is neither a PEM block nor a JWK; for an HMAC secret choose an HS* algorithm")
    if kid and not key.kid:
        key.kid = kid
    return key


def load_jwks(jwks):
    """Keys of a JWKS (dict or JSON text); encryption keys and keys PyJWT cannot use are skipped."""
    if isinstance(jwks, (str, bytes)):
        try:
            jwks = json.loads(_to_bytes(jwks).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InputError("the JWKS is not valid JSON: %s" % first_line(exc))
    if isinstance(jwks, list):
        jwks = {"keys": jwks}
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise InputError("a JWKS is a JSON object with a 'keys' list")
    keys = []
    for jwk in jwks["keys"]:
        if isinstance(jwk, dict) and jwk.get("use") == "enc":
            continue
        try:
            keys.append(load_jwk(jwk))
        except (InputError, DependencyError):
            continue
    if not keys:
        raise InputError("the JWKS holds no usable signature key")
    return keys


def generate_key(like=None):
    """A fresh random key of the type (and curve) of ``like`` (RSA-2048 without): the probe's 'other' key."""
    if like is not None and like.kty == "oct":
        return Key("oct", os.urandom(max(32, len(like.obj))), True, like.kid)
    require_libraries("generating a key")
    if like is None:
        return _wrap(rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS), True)
    if like.kty == "RSA":
        obj = rsa.generate_private_key(public_exponent=65537, key_size=max(MIN_RSA_BITS, like.obj.key_size))
    elif like.kty == "EC":
        obj = ec.generate_private_key({"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}[like.curve]())
    else:
        obj = ed25519.Ed25519PrivateKey.generate()
    return _wrap(obj, True, like.kid)


# -- signing and verification -----------------------------------------------------------------------

def _check_key_fits(key, alg):
    if alg not in ALGORITHMS:
        raise InputError("unknown JWS algorithm %r; use one of %s" % (alg, ", ".join(ALGORITHMS)))
    if alg not in key.algorithms():
        raise InputError("algorithm %s does not fit a%s %s key (it fits %s)"
                         % (alg, "n" if key.kty in ("RSA", "EC", "OKP") else "", key.kty, ", ".join(key.algorithms())))


def encode(claims, key, alg, headers=None):
    """A compact JWS signed by PyJWT: header ``alg``, ``typ: JWT``, the key's ``kid``, plus ``headers``."""
    _check_key_fits(key, alg)
    if key.kty != "oct" and not key.private:
        raise InputError("signing needs a private key; a public key or certificate was given")
    header = {"kid": key.kid} if key.kid else {}
    header.update(headers or {})
    header["alg"] = alg
    try:
        return jwt.encode(claims, key.obj, algorithm=alg, headers=header)
    except jwt_errors.PyJWTError as exc:
        raise InputError("cannot sign the JWT with %s: %s" % (alg, first_line(exc)))


def _reason(exc):
    """PyJWT's error as the short reason the result gives."""
    if isinstance(exc, jwt_errors.InvalidSignatureError):
        return "bad signature"
    if isinstance(exc, jwt_errors.ExpiredSignatureError):
        return "expired"
    if isinstance(exc, jwt_errors.MissingRequiredClaimError):
        return "required claim %r is missing" % exc.claim
    if isinstance(exc, jwt_errors.ImmatureSignatureError):
        return "issued in the future (iat)" if "(iat)" in str(exc) else "not valid before nbf"
    if isinstance(exc, jwt_errors.InvalidIssuerError):
        return "issuer: %s" % first_line(exc)
    if isinstance(exc, jwt_errors.InvalidAudienceError):
        return "audience: %s" % first_line(exc)
    return first_line(exc)


def _check_times(claims, now, leeway):
    """The time claims against a fixed ``now`` (PyJWT always uses the clock; ``now`` is for tests)."""
    for name in ("exp", "nbf", "iat"):
        if name in claims and (isinstance(claims[name], bool) or not isinstance(claims[name], (int, float))):
            return "claim %r must be a number (seconds since the epoch)" % name
    if "exp" in claims and now >= claims["exp"] + leeway:
        return "expired"
    if "nbf" in claims and now < claims["nbf"] - leeway:
        return "not valid before nbf"
    if "iat" in claims and now < claims["iat"] - leeway:
        return "issued in the future (iat)"
    return None


def allowed_algorithms(algorithms):
    """The allow-list as a list (None for "what fits the keys"); InputError for a name that is no JWS algorithm."""
    if isinstance(algorithms, str):
        algorithms = [algorithms]
    unknown = [a for a in algorithms or () if a not in ALGORITHMS]
    if unknown:
        raise InputError("unknown JWS algorithm(s) %s; use one of %s (never 'none')"
                         % (", ".join(map(str, unknown)), ", ".join(ALGORITHMS)))
    return list(algorithms) if algorithms else None


def verify(token, keys, algorithms=None, issuer=None, audience=None, leeway=0, require=("exp",), now=None):
    """Verify a token with PyJWT against ``keys``; never raises for a bad token.

    ``algorithms``: the allow-list; by default every algorithm that fits the keys' types (HMAC only
    with oct keys). Returns ``{"valid", "reason", "header", "claims", "kid"}``. Bad parameters raise
    InputError.
    """
    require_libraries("verifying a JWT", crypto=False)
    if isinstance(keys, Key):
        keys = [keys]
    if not keys:
        raise InputError("verifying a JWT needs a key or a JWKS with at least one key")
    algorithms = allowed_algorithms(algorithms)
    require = [require] if isinstance(require, str) else list(require or ())
    audience = audience or None
    result = {"valid": False, "reason": None, "header": None, "claims": None, "kid": None}

    def fail(reason):
        result["reason"] = reason
        return result

    try:
        parts = decode(token)
    except InputError as exc:
        return fail("malformed: %s" % exc.msg)
    header = parts["header"]
    result.update(header=header, claims=parts["claims"], kid=header.get("kid"))
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        return fail("the header has no 'alg'")
    if alg.lower() == "none":
        return fail("unsigned token (alg %s) refused" % alg)
    allowed = list(algorithms or sorted(set(a for k in keys for a in k.algorithms())))
    if alg not in allowed:
        return fail("algorithm %s is not allowed (allowed: %s)" % (alg, ", ".join(allowed)))
    candidates = [k for k in keys if alg in k.algorithms() and (not k.alg or k.alg == alg)]
    if not candidates:
        return fail("no key fits algorithm %s (key confusion refused)" % alg)
    kid = header.get("kid")
    if kid is not None:
        with_kid = [k for k in candidates if k.kid == kid]
        if with_kid:
            candidates = with_kid
        elif any(k.kid for k in candidates):
            return fail("no key with kid %r" % kid)
    fixed_now = now is not None
    options = {"require": require, "verify_aud": audience is not None, "verify_iss": issuer is not None,
               "verify_exp": not fixed_now, "verify_nbf": not fixed_now, "verify_iat": not fixed_now}
    reason = "bad signature"
    for key in candidates:
        try:
            jwt.decode(split_token(token), key.public().obj, algorithms=[alg], options=options,
                       audience=audience, issuer=issuer, leeway=leeway)
        except jwt_errors.InvalidSignatureError:
            continue
        except jwt_errors.PyJWTError as exc:
            return fail(_reason(exc))
        reason = _check_times(parts["claims"], now, leeway) if fixed_now else None
        break
    if reason:
        return fail(reason)
    result["valid"] = True
    return result
