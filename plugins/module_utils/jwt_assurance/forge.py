# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attack tokens that PyJWT rightly refuses to make, assembled by hand for ``api_jwt_probe``.

Why by hand: PyJWT will not sign with ``alg: none`` under another spelling, with a PEM or DER public
key or an empty string as the HMAC secret (key confusion), nor produce a token whose payload or
signature was changed after signing. A probe has to send exactly those. Every token that a correct
issuer could make is signed by :func:`..tokens.encode` (PyJWT), never here. Nothing here verifies.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import hmac
import json

_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def b64url(data):
    """base64url without padding (RFC 7515 section 2), as text."""
    if not isinstance(data, bytes):
        data = data.encode("utf-8")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segment(value):
    return b64url(json.dumps(value, separators=(",", ":")))


def unsigned(header, claims):
    """``header.claims.`` with an empty signature: the ``alg: none`` family."""
    return "%s.%s." % (_segment(header), _segment(claims))


def hmac_signed(header, claims, secret, alg="HS256"):
    """HMAC over the signing input with any bytes as the secret (a public key, or nothing at all)."""
    signing_input = "%s.%s" % (_segment(header), _segment(claims))
    signature = hmac.new(secret, signing_input.encode("ascii"), _HASHES[alg]).digest()
    return "%s.%s" % (signing_input, b64url(signature))


def corrupt_signature(token):
    """The token with one byte of its signature flipped, or None when it has no signature."""
    head, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    if not raw:
        return None
    raw[len(raw) // 2] ^= 0x5A
    return "%s.%s.%s" % (head, payload, b64url(bytes(raw)))


def swap_payload(token, claims):
    """The token's header and signature around other claims (a payload changed after signing)."""
    head, _payload, signature = token.split(".")
    return "%s.%s.%s" % (head, _segment(claims), signature)
