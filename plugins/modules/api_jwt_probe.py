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
    C(nbf_future), C(iat_future), C(no_exp), C(lifetime_too_long) (over O(max_token_lifetime)),
    C(wrong_audience), C(audience_substring) (an audience checked as a prefix or substring),
    C(wrong_issuer), C(issuer_prefix) (an issuer checked as a prefix), C(bad_signature),
    C(tampered_payload), C(alg_none) and its spellings C(alg_none_title) (None), C(alg_none_upper) (NONE)
    and C(alg_none_mixed) (nOnE), C(hs256_public_key) (key confusion with the public key PEM) with
    C(hs256_public_key_no_newline) (the PEM without its trailing newline) and C(hs256_public_key_der)
    (the DER), C(unknown_kid), C(kid_injection), C(jku_injection), C(x5u_injection), C(jwk_injection)
    and C(token_in_query).
  - C(token_in_query) puts a throwaway token that has already expired into the query string, never the
    valid one, so nothing usable reaches access logs. It passes when the gateway answers it exactly as
    a request without a token (status and RFC 6750 C(error) code); an answer like the one for an
    invalid token shows the gateway read the query string.
  - With O(signing_key) or O(signing_key_path) (a test client's key that the identity provider's JWKS
    publishes) the module mints every token itself. With only a valid O(token) it runs the cases that
    need no re-signing; a required case it cannot build is a coverage miss (the run is incomplete), any
    other is skipped and named in RV(notes).
  - A case passes when a valid token is accepted (2xx) and every attack is rejected (a status in
    O(reject_status)). Each failed case is a finding. A failed case in O(required_cases) has the case's
    severity and fails the gate (O(fail_on), default V(LOW)); a failed case that is not required is
    reported with severity V(INFO).
  - Coverage counts cases. A required case that cannot be built (no signing key to mint with, no public
    key) and a request that got no answer (connection or TLS error) are missed, with the reason, and make
    the run incomplete, which fails the gate unless O(accept_incomplete) says why that is fine.
  - Every signature the module makes or checks is made by PyJWT; only the attack tokens that PyJWT
    refuses to make (C(alg none), an HMAC over the public key, changed payloads and signatures) are
    assembled by hand.
  - Tokens and keys never appear in the result, in findings or in logs, at any verbosity.
  - The module only sends requests, so it runs in check mode too; it reports C(changed) only when it
    writes a report (O(reports)).
author:
  - ainative.security contributors (@ainative-security)
extends_documentation_fragment:
  - ainative.security.attributes
  - ainative.security.attributes.action_group_security
  - ainative.security.control
  - ainative.security.control.gate
  - ainative.security.control.risk_gate
  - ainative.security.control.reports
  - ansible.builtin.files
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: Requests are sent in check mode as well; the probe changes nothing. Reports are not written.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
    details: The probe changes nothing, so there is no diff.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
requirements:
  - PyJWT 2.6 or later (C(python3-jwt) on Debian 12)
  - cryptography (for RSA, EC and EdDSA keys and for O(token); HMAC keys need only PyJWT)
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
      - Cases that need tokens with other claims cannot be built. A required one is a coverage miss, so the run
        is incomplete; the others are skipped.
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
    choices: [no_token, malformed, valid, expired, nbf_future, iat_future, no_exp, lifetime_too_long, wrong_audience,
              audience_substring, wrong_issuer, issuer_prefix, bad_signature, tampered_payload, alg_none,
              alg_none_title, alg_none_upper, alg_none_mixed, hs256_public_key, hs256_public_key_no_newline,
              hs256_public_key_der, unknown_kid, kid_injection, jku_injection, x5u_injection, jwk_injection,
              token_in_query]
  required_cases:
    description:
      - Cases that must pass; a failed one fails the module. Failed cases not listed here are still
        reported as findings.
      - Default is every case, except C(unknown_kid) with O(pinned_key=true).
    type: list
    elements: str
    choices: [no_token, malformed, valid, expired, nbf_future, iat_future, no_exp, lifetime_too_long, wrong_audience,
              audience_substring, wrong_issuer, issuer_prefix, bad_signature, tampered_payload, alg_none,
              alg_none_title, alg_none_upper, alg_none_mixed, hs256_public_key, hs256_public_key_no_newline,
              hs256_public_key_der, unknown_kid, kid_injection, jku_injection, x5u_injection, jwk_injection,
              token_in_query]
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
  pinned_key:
    description:
      - The gateway verifies every token with one pinned key and ignores C(kid). That is not a hole, so
        C(unknown_kid) is then not required by default (it is still sent and reported).
    type: bool
    default: false
    version_added: 0.2.0
  max_token_lifetime:
    description:
      - Longest lifetime (C(exp) - C(iat), seconds) the gateway must accept; the C(lifetime_too_long) case
        sends a token one hour longer.
    type: int
    default: 86400
    version_added: 0.2.0
  fail_on:
    description:
      - Fail when an open finding has this severity or a higher one. Failed required cases have their
        case's severity (V(MEDIUM) or more), failed cases that are not required V(INFO).
      - One of V(none), V(INFO), V(LOW), V(MEDIUM), V(HIGH), V(CRITICAL), in any case.
    type: str
    default: LOW
  fail_on_violation:
    description:
      - Deprecated, use O(fail_on). V(true) is O(fail_on=LOW), V(false) is O(fail_on=none).
      - An incomplete run still fails unless O(accept_incomplete) is given.
    type: bool
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

- name: Probe with a token from the identity provider (claim cases cannot be built, so require the others)
  ainative.security.api_jwt_probe:
    url: https://gw.example.com/v1/models
    token: "{{ lookup('ansible.builtin.env', 'PROBE_TOKEN') }}"
    public_key: "{{ lookup('ansible.builtin.file', 'idp-signing.pem') }}"
    required_cases: [no_token, malformed, valid, bad_signature, tampered_payload, alg_none, hs256_public_key,
                     kid_injection, jku_injection, x5u_injection, jwk_injection, token_in_query]

- name: Report only, require the signature cases
  ainative.security.api_jwt_probe:
    url: https://gw.example.com/v1/models
    issuer: https://idp.example.com
    audience: model-serving
    signing_key: "{{ vault_probe_key }}"
    required_cases: [no_token, valid, bad_signature, tampered_payload, alg_none, hs256_public_key]
    report_only: true
    reports:
      sarif: /var/lib/ainative/api_jwt_probe.sarif
    mode: "0644"
"""

RETURN = r"""
passed:
  description: True when every required case was sent and passed.
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
      description: HTTP status the gateway answered (null when skipped or not answered).
      type: int
    actual:
      description: C(accepted), C(rejected) or C(unexpected) (null when skipped or not answered).
      type: str
    outcome:
      description: C(pass), C(fail), C(skipped) (could not be built) or C(error) (no answer).
      type: str
    required:
      description: Whether a failure fails the module.
      type: bool
    www_authenticate:
      description: The gateway's WWW-Authenticate header (first 200 characters).
      type: str
    reason:
      description: Why the case failed, was skipped or got no answer.
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
  description:
    - One finding per failed case (shared model, kind C(authentication), id C(jwt_<case>)), most severe
      first, at most O(max_findings).
  returned: always
  type: list
  elements: dict
findings_truncated:
  description: True when RV(findings) was cut at O(max_findings); reports and RV(summary) hold every finding.
  returned: always
  type: bool
summary:
  description: Counts of every finding by severity, kind and status.
  returned: always
  type: dict
verdict:
  description:
    - V(pass), V(findings) (open findings below the gate), V(fail) (findings fail the gate) or
      V(incomplete) (coverage incomplete and not accepted).
  returned: always
  type: str
gate:
  description:
    - The gate's decision - C(fail_on), C(fail_on_ids), C(fail_on_kev), C(fail_on_epss), C(fail_on_cvss), C(rules)
      (the rules findings matched), C(failing), C(failing_ids), C(incomplete), C(accepted_incomplete), C(report_only),
      C(failed), C(verdict) and C(reason).
  returned: always
  type: dict
coverage:
  description:
    - What the control examined - C(unit) (V(cases)), C(asked), C(examined), C(missed) (each with C(item) and
      C(reason), at most 50), C(missed_count), C(complete), C(gaps) and C(accepted_incomplete).
  returned: always
  type: dict
notes:
  description: Remarks about the run (expired waivers, baseline counts, skipped inputs).
  returned: always
  type: list
  elements: str
reports:
  description: Reports written, by format, each with C(path) and C(changed).
  returned: always
  type: dict
expired_ignores:
  description: Ignore entries past their expiry that matched a finding.
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.ainative.security.plugins.module_utils.core.module import ControlModule
from ansible_collections.ainative.security.plugins.module_utils.jwt_assurance import probe
from ansible_collections.ainative.security.plugins.module_utils.jwt_assurance.tokens import ALGORITHMS


def main():
    module = ControlModule(
        "api_jwt_probe",
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
            algorithm=dict(type="str", default="RS256", choices=list(ALGORITHMS)),
            kid=dict(type="str"),
            token=dict(type="str", no_log=True),
            public_key=dict(type="str"),
            token_lifetime=dict(type="int", default=300, no_log=False),
            extra_claims=dict(type="dict", default={}),
            cases=dict(type="list", elements="str", choices=list(probe.CASE_NAMES)),
            required_cases=dict(type="list", elements="str", choices=list(probe.CASE_NAMES)),
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
            pinned_key=dict(type="bool", default=False),
            max_token_lifetime=dict(type="int", default=probe.DEFAULT_MAX_LIFETIME, no_log=False),
            fail_on_violation=dict(type="bool"),
        ),
        gate="LOW",
        legacy_gate={"fail_on_violation": "LOW"},
        required_one_of=[["signing_key", "signing_key_path", "token"]],
        mutually_exclusive=[["signing_key", "signing_key_path", "token"], ["injection_key", "injection_key_path"]],
        required_by={"signing_key": ["issuer", "audience"], "signing_key_path": ["issuer", "audience"]},
    )
    module.run(probe.run)


if __name__ == "__main__":
    main()
