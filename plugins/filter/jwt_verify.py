# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: jwt_verify
short_description: Verify a JWT's signature, issuer, audience and times
version_added: 0.1.0
author:
  - ainative.security contributors (@ainative-security)
description:
  - Checks the signature of a compact JWS against a key or a JWKS with PyJWT, then C(exp), C(nbf), C(iat),
    C(iss) and C(aud), following RFC 8725 - C(alg none) is never accepted, the algorithm must be on
    the allow-list and fit the key type (no HMAC with an RSA or EC key), C(crit) headers PyJWT does
    not understand are refused, PS256/384/512 signatures must use a salt as long as the hash (RFC 7518 3.5).
  - A PEM or DER public key, certificate or SSH key is never taken as an HMAC secret, even when
    O(algorithms) allows only HMAC algorithms (PyJWT refuses it), so a token signed with the public key
    as the secret cannot pass.
  - Returns a dict whose C(valid) says whether the token passed and C(reason) why not, so it fits
    C(ansible.builtin.assert). A bad token is not an error; bad parameters (no key, unknown
    algorithm, unreadable key) are.
  - Needs the Python library PyJWT on the controller, and C(cryptography) for RSA, EC and EdDSA.
positional: _input
options:
  _input:
    description: The token (compact JWS), optionally prefixed with C(Bearer ).
    type: string
    required: true
  key:
    description:
      - Verification key - PEM public key, certificate or private key, or a JWK (dict or JSON).
      - With O(algorithms) set to HMAC algorithms only, the shared secret.
    type: raw
  jwks:
    description: A JWKS (dict with C(keys), or its JSON text), for example fetched with C(ansible.builtin.uri).
    type: raw
  algorithms:
    description: Allowed algorithms. By default every algorithm that fits the given keys.
    type: list
    elements: string
  issuer:
    description: Required C(iss).
    type: string
  audience:
    description: Required C(aud) (one of these when a list).
    type: raw
  leeway:
    description: Seconds of clock skew allowed for C(exp), C(nbf) and C(iat).
    type: int
    default: 0
  require:
    description: Claims that must be present.
    type: list
    elements: string
    default: [exp]
  now:
    description: Verification time in seconds since the epoch (for tests); the current time by default.
    type: int
seealso:
  - plugin: ainative.security.jwt_decode
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Fetch the identity provider's JWKS
  ansible.builtin.uri:
    url: https://idp.example.com/realms/ml/protocol/openid-connect/certs
    return_content: true
  register: idp_jwks

- name: The token the pipeline uses must be valid for the model API
  ansible.builtin.assert:
    that: checked.valid
    fail_msg: "token refused: {{ checked.reason }}"
  vars:
    checked: "{{ token | ainative.security.jwt_verify(jwks=idp_jwks.json, issuer='https://idp.example.com/realms/ml',
                 audience='model-serving', algorithms=['RS256']) }}"

- name: Verify against a PEM public key
  ansible.builtin.assert:
    that: (token | ainative.security.jwt_verify(key=lookup('ansible.builtin.file', 'idp.pem'))).valid
"""

RETURN = r"""
_value:
  description: The verdict.
  type: dict
  contains:
    valid:
      description: True when signature and every claim check passed.
      type: bool
    reason:
      description: Why the token is not valid (null when it is).
      type: str
    header:
      description: The JOSE header (null for malformed input).
      type: dict
    claims:
      description: The claims (null for malformed input). Only trust them when RV(_value.valid) is true.
      type: dict
    kid:
      description: The C(kid) of the header.
      type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ainative.security.plugins.module_utils.core.errors import ControlError
from ansible_collections.ainative.security.plugins.module_utils.jwt_assurance import tokens


def jwt_verify(token, key=None, jwks=None, algorithms=None, issuer=None, audience=None, leeway=0,
               require=("exp",), now=None):
    if key is None and jwks is None:
        raise AnsibleFilterError("jwt_verify: give key= (PEM, JWK or HMAC secret) or jwks= (a JWKS)")
    if key is not None and jwks is not None:
        raise AnsibleFilterError("jwt_verify: give key= or jwks=, not both")
    try:
        algorithms = tokens.allowed_algorithms(algorithms)
        # An HMAC secret only when the caller allows HMAC alone; PyJWT refuses a PEM or DER key as one.
        secret = bool(algorithms) and all(a in tokens.HMAC_ALGORITHMS for a in algorithms)
        keys = tokens.load_jwks(jwks) if jwks is not None else [tokens.load_key(key, secret=secret)]
        return tokens.verify(token, keys, algorithms=algorithms, issuer=issuer, audience=audience,
                             leeway=int(leeway), require=require, now=now)
    except ControlError as exc:
        raise AnsibleFilterError("jwt_verify: %s" % exc.msg)


class FilterModule(object):
    def filters(self):
        return {"jwt_verify": jwt_verify}
