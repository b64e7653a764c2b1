# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: jwt_decode
short_description: Header and claims of a JWT, without verification
version_added: 0.1.0
author:
  - ainative.security contributors (@ainative-security)
description:
  - Splits a compact JWS (C(header.payload.signature)) with PyJWT, base64url-decodes header and payload
    with or without C(=) padding, and returns both as dicts - the C(cut -d. -f2 | base64 -d | jq) of a token.
  - Nothing is verified. Use P(ainative.security.jwt_verify#filter) before trusting any claim.
  - A leading C(Bearer ) is stripped. Encrypted tokens (JWE) and malformed input raise a clear error.
  - The signature is not returned, so the result can be shown without leaking a usable token.
  - Needs the Python library PyJWT on the controller.
positional: _input
options:
  _input:
    description: The token (compact JWS), optionally prefixed with C(Bearer ).
    type: string
    required: true
seealso:
  - plugin: ainative.security.jwt_verify
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Show who a token is for
  ansible.builtin.debug:
    msg: "{{ (token | ainative.security.jwt_decode).claims.aud }}"

- name: A token must say RS256 and carry a kid
  ansible.builtin.assert:
    that:
      - (token | ainative.security.jwt_decode).header.alg == 'RS256'
      - (token | ainative.security.jwt_decode).header.kid is defined
"""

RETURN = r"""
_value:
  description: Header, claims and the length of the signature in bytes.
  type: dict
  contains:
    header:
      description: The JOSE header (C(alg), C(kid), C(typ), ...).
      type: dict
    claims:
      description: The claims (C(iss), C(aud), C(exp), ...).
      type: dict
    signature_length:
      description: Bytes in the signature (0 for an unsigned token).
      type: int
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ainative.security.plugins.module_utils.core.errors import ControlError
from ansible_collections.ainative.security.plugins.module_utils.jwt_assurance.tokens import decode


def jwt_decode(token):
    try:
        parts = decode(token)
    except ControlError as exc:
        raise AnsibleFilterError("jwt_decode: %s" % exc.msg)
    return {"header": parts["header"], "claims": parts["claims"], "signature_length": len(parts["signature"])}


class FilterModule(object):
    def filters(self):
        return {"jwt_decode": jwt_decode}
