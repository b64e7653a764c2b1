#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: api_jwt_probe
short_description: Probe an API gateway with a JWT attack matrix and report what it accepts
version_added: 0.1.0
description:
  - Sends one request per case to an endpoint behind a JWT-validating gateway and compares the HTTP
    status with what a correct gateway answers. Cases - C(no_token), C(malformed), C(valid), C(expired),
    C(nbf_future), C(no_exp), C(wrong_audience), C(wrong_issuer), C(bad_signature), C(tampered_payload),
    C(alg_none), C(hs256_public_key) (key confusion), C(unknown_kid), C(kid_injection),
    C(jku_injection), C(x5u_injection), C(jwk_injection) and C(token_in_query).
  - With O(signing_key) or O(signing_key_path) (a test client's key that the identity provider's JWKS
    publishes) the module mints every token itself. With only a valid O(token) it runs the cases that
    need no re-signing and reports the others as skipped.
  - A case passes when a valid token is accepted (2xx) and every attack is rejected (a status in
    O(reject_status)). The module fails when a case in O(required_cases) does not pass, unless
    O(fail_on_violation=false).
  - Tokens and keys never appear in the result, in findings or in logs, at any verbosity.
  - The module only sends requests, so it runs in check mode too and never reports C(changed).
author:
  - ainative.security contributors (@ainative-security)
extends_documentation_fragment:
  - ainative.security.attributes
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: Requests are sent in check mode as well; the probe changes nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
    details: The probe changes nothing, so there is no diff.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
requirements:
  - cryptography (for RSA, EC and EdDSA keys; HMAC keys need nothing)
options:
  url:
    description: The protected endpoint, for example C(https://gw.example.com/v1/models/m/infer).
    type: str
    required: true
  method:
    description: HTTP method of every probe request.
    type: str
    default: GET
    choices: [GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS]
  headers:
    description: Extra request headers (not the token header).
    type: dict
    default: {}
  body:
    description:
      - Request body. A dict or list is sent as JSON with C(Content-Type application/json).
    type: raw
  issuer:
    description: Expected C(iss) the gateway requires; put into every minted token.
    type: str
  audience:
    description: Expected C(aud) the gateway requires; put into every minted token.
    type: str
  subject:
    description: C(sub) of minted tokens.
    type: str
    default: ainative-probe
  signing_key:
    description:
      - Private key that mints the test tokens - PEM (PKCS#8 or traditional) or a private JWK (JSON).
      - For HS256/384/512, the shared secret.
      - Mutually exclusive with O(signing_key_path) and O(token).
    type: str
  signing_key_path:
    description: File on the managed host holding O(signing_key).
    type: path
  algorithm:
    description: Algorithm of the minted tokens; must fit the key type.
    type: str
    default: RS256
    choices: [RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, HS256, HS384, HS512]
  kid:
    description: C(kid) header of minted tokens (the key id in the identity provider's JWKS).
    type: str
  token:
    description:
      - A valid token issued by the identity provider, used instead of a signing key.
      - Cases that need tokens with other claims are skipped.
    type: str
  public_key:
    description:
      - The gateway's verification key (PEM public key, certificate or public JWK) for the
        C(hs256_public_key) key-confusion case when O(token) is used. Derived from O(signing_key)
        otherwise.
    type: str
  token_lifetime:
    description: Seconds until C(exp) of minted valid tokens.
    type: int
    default: 300
  extra_claims:
    description: Claims added to every minted token (scopes, roles the gateway requires).
    type: dict
    default: {}
  cases:
    description: Cases to run; all by default.
    type: list
    elements: str
    choices: [no_token, malformed, valid, expired, nbf_future, no_exp, wrong_audience, wrong_issuer,
              bad_signature, tampered_payload, alg_none, hs256_public_key, unknown_kid, kid_injection,
              jku_injection, x5u_injection, jwk_injection, token_in_query]
  required_cases:
    description:
      - Cases that must pass; a failed one fails the module. Failed cases not listed here are still
        reported as findings.
      - Default is every case except C(nbf_future), which none of the Apache JWT modules shipped with
        Debian 12 enforces (see the guide).
    type: list
    elements: str
    choices: [no_token, malformed, valid, expired, nbf_future, no_exp, wrong_audience, wrong_issuer,
              bad_signature, tampered_payload, alg_none, hs256_public_key, unknown_kid, kid_injection,
              jku_injection, x5u_injection, jwk_injection, token_in_query]
  reject_status:
    description: HTTP statuses that count as a rejection.
    type: list
    elements: int
    default: [400, 401, 403]
  query_param:
    description: Query parameter the C(token_in_query) case puts the token in.
    type: str
    default: access_token
  token_header:
    description: Request header that carries the token.
    type: str
    default: Authorization
  token_scheme:
    description: Scheme before the token in O(token_header); empty for the bare token.
    type: str
    default: Bearer
  validate_certs:
    description: Verify the endpoint's TLS certificate. Turn off only for throw-away labs.
    type: bool
    default: true
  ca_path:
    description: PEM bundle of the CA that signed the endpoint's certificate.
    type: path
  timeout:
    description: Seconds to wait for each answer.
    type: int
    default: 10
  injection_url:
    description:
      - C(jku) of the C(jku_injection) case. Point it at a JWKS you serve for O(injection_key) to prove
        the gateway does not follow C(jku); the default does not resolve.
    type: str
    default: https://attacker.invalid/jwks.json
  injection_x5u_url:
    description: C(x5u) of the C(x5u_injection) case; by default C(cert.pem) next to O(injection_url).
    type: str
  injection_key:
    description: Private key (PEM or JWK) that signs the injection cases; a fresh key by default.
    type: str
  injection_key_path:
    description: File on the managed host holding O(injection_key).
    type: path
  injection_kid:
    description: C(kid) of the injection cases' tokens.
    type: str
  fail_on_violation:
    description: Fail when a required case does not pass. With C(false) the result still says so.
    type: bool
    default: true
notes:
  - Findings use the collection's shared model (kind C(authentication)), one per failed case.
seealso:
  - name: RFC 8725 JSON Web Token Best Current Practices
    description: The attacks the matrix covers.
    link: https://www.rfc-editor.org/rfc/rfc8725
  - ref: ainative.security.jwt_decode
    description: Decode a token's header and claims.
  - ref: ainative.security.jwt_verify
    description: Verify a token in an assertion.
"""

EXAMPLES = r"""
- name: Probe the inference endpoint with tokens minted from the test client's key
  ainative.security.api_jwt_probe:
    url: https://gw.example.com/v1/models/fraud/infer
    method: POST
    body: {inputs: [[0.1, 0.2]]}
    issuer: https://idp.example.com/realms/ml
    audience: model-serving
    signing_key_path: /etc/ainative/probe-client.key
    kid: probe-2025
    ca_path: /etc/ssl/certs/internal-ca.pem
  register: probe

- name: Probe with a token from the identity provider (claim cases are skipped)
  ainative.security.api_jwt_probe:
    url: https://gw.example.com/v1/models
    token: "{{ lookup('ansible.builtin.env', 'PROBE_TOKEN') }}"
    public_key: "{{ lookup('ansible.builtin.file', 'idp-signing.pem') }}"

- name: Report only, require the signature cases
  ainative.security.api_jwt_probe:
    url: https://gw.example.com/v1/models
    issuer: https://idp.example.com
    audience: model-serving
    signing_key: "{{ vault_probe_key }}"
    required_cases: [no_token, valid, bad_signature, tampered_payload, alg_none, hs256_public_key]
    fail_on_violation: false
"""

RETURN = r"""
passed:
  description: True when every required case passed.
  returned: always
  type: bool
inconclusive:
  description: True when the valid token was not accepted, so rejections prove nothing.
  returned: always
  type: bool
url:
  description: The probed URL without query string.
  returned: always
  type: str
target:
  description: Method and URL, as the findings name it.
  returned: always
  type: str
  sample: POST https://gw.example.com/v1/models/fraud/infer
cases:
  description: One entry per case, in matrix order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Case name.
      type: str
    description:
      description: What the case sends.
      type: str
    expected:
      description: C(accept) or C(reject).
      type: str
    expected_status:
      description: Statuses that count as expected (C(2xx) or the rejection list).
      type: str
    status:
      description: HTTP status the gateway answered (null when skipped).
      type: int
    actual:
      description: C(accepted), C(rejected) or C(unexpected) (null when skipped).
      type: str
    outcome:
      description: C(pass), C(fail) or C(skipped).
      type: str
    required:
      description: Whether a failure fails the module.
      type: bool
    www_authenticate:
      description: The gateway's WWW-Authenticate header (first 200 characters).
      type: str
    reason:
      description: Why the case failed or was skipped.
      type: str
  sample:
    - {name: no_exp, expected: reject, expected_status: "400|401|403", status: 200, actual: accepted,
       outcome: fail, required: true, reason: "accepted with 200; it must be rejected"}
failed_cases:
  description: Names of failed cases.
  returned: always
  type: list
  elements: str
failed_required:
  description: Names of failed required cases.
  returned: always
  type: list
  elements: str
skipped_cases:
  description: Names of skipped cases (they need a signing key or a public key).
  returned: always
  type: list
  elements: str
accepted_must_reject:
  description: Attack cases the gateway accepted.
  returned: always
  type: list
  elements: str
findings:
  description: One finding (shared model, kind C(authentication), id C(jwt_<case>)) per failed case.
  returned: always
  type: list
  elements: dict
summary:
  description: Counts of the findings by severity, kind and status.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ainative.security.plugins.module_utils import jwt as jose
from ansible_collections.ainative.security.plugins.module_utils.jwt_probe import CASE_NAMES, ProbeError, probe

ALGORITHMS = list(jose.ALGORITHMS)


def _read(module, path, what):
    try:
        with open(path, "r") as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot read %s %s: %s" % (what, path, exc.strerror or exc))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            method=dict(type="str", default="GET", choices=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
            headers=dict(type="dict", default={}),
            body=dict(type="raw"),
            issuer=dict(type="str"),
            audience=dict(type="str"),
            subject=dict(type="str", default="ainative-probe"),
            signing_key=dict(type="str", no_log=True),
            signing_key_path=dict(type="path"),
            algorithm=dict(type="str", default="RS256", choices=ALGORITHMS),
            kid=dict(type="str"),
            token=dict(type="str", no_log=True),
            public_key=dict(type="str"),
            token_lifetime=dict(type="int", default=300, no_log=False),
            extra_claims=dict(type="dict", default={}),
            cases=dict(type="list", elements="str", choices=list(CASE_NAMES)),
            required_cases=dict(type="list", elements="str", choices=list(CASE_NAMES)),
            reject_status=dict(type="list", elements="int", default=[400, 401, 403]),
            query_param=dict(type="str", default="access_token"),
            token_header=dict(type="str", default="Authorization", no_log=False),
            token_scheme=dict(type="str", default="Bearer", no_log=False),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
            timeout=dict(type="int", default=10),
            injection_url=dict(type="str", default="https://attacker.invalid/jwks.json"),
            injection_x5u_url=dict(type="str"),
            injection_key=dict(type="str", no_log=True),
            injection_key_path=dict(type="path"),
            injection_kid=dict(type="str"),
            fail_on_violation=dict(type="bool", default=True),
        ),
        required_one_of=[["signing_key", "signing_key_path", "token"]],
        mutually_exclusive=[["signing_key", "signing_key_path", "token"], ["injection_key", "injection_key_path"]],
        required_by={"signing_key": ["issuer", "audience"], "signing_key_path": ["issuer", "audience"]},
        supports_check_mode=True,
    )
    params = module.params
    if not params["url"].lower().startswith(("http://", "https://")):
        module.fail_json(msg="url must start with http:// or https://, got %r" % params["url"])
    if params["token_lifetime"] < 30:
        module.fail_json(msg="token_lifetime must be at least 30 seconds")
    signing_key = params["signing_key"]
    if params["signing_key_path"]:
        signing_key = _read(module, params["signing_key_path"], "signing_key_path")
    injection_key = params["injection_key"]
    if params["injection_key_path"]:
        injection_key = _read(module, params["injection_key_path"], "injection_key_path")
    needs_crypto = params["algorithm"] not in jose.HMAC_ALGORITHMS or params["token"] is not None
    if needs_crypto and not jose.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=str(jose.CRYPTOGRAPHY_IMPORT_ERROR))
    try:
        result = probe(
            url=params["url"], method=params["method"], headers=params["headers"], body=params["body"],
            issuer=params["issuer"], audience=params["audience"], subject=params["subject"],
            signing_key=signing_key, algorithm=params["algorithm"], kid=params["kid"], token=params["token"],
            public_key=params["public_key"], token_lifetime=params["token_lifetime"],
            extra_claims=params["extra_claims"], cases=params["cases"], required_cases=params["required_cases"],
            reject_status=params["reject_status"], query_param=params["query_param"],
            token_header=params["token_header"], token_scheme=params["token_scheme"],
            validate_certs=params["validate_certs"], ca_path=params["ca_path"], timeout=params["timeout"],
            injection_url=params["injection_url"], injection_x5u_url=params["injection_x5u_url"],
            injection_key=injection_key, injection_kid=params["injection_kid"])
    except ProbeError as exc:
        module.fail_json(msg=str(exc))
    result["changed"] = False
    if not result["passed"] and params["fail_on_violation"]:
        accepted = [c for c in result["cases"] if c["name"] in result["failed_required"]]
        module.fail_json(msg="%s failed %d required JWT case(s): %s" % (
            result["target"], len(accepted),
            "; ".join("%s (expected %s, got %s)" % (c["name"], c["expected"], c["status"]) for c in accepted)),
            **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
