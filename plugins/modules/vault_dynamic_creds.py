#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vault_dynamic_creds
short_description: Short-lived credentials from Vault or OpenBao, with the whole lease lifecycle
version_added: 0.1.0
description:
  - Issues dynamic credentials from the database secrets engine (C(<mount>/creds/<role>)) or the AWS secrets
    engine (C(<mount>/creds/<role>) or C(<mount>/sts/<role>)) at any mount point, and returns them with the
    lease's C(lease_id), C(lease_duration), C(renewable) and absolute C(expires_at).
  - Renews a lease (optionally with an increment), looks it up, revokes it, or revokes every lease under a
    prefix (for example all credentials of one role after a compromise; the token needs C(sudo) there).
  - Optionally writes the credentials on the managed host to a file for a job, as shell/systemd environment
    lines or JSON, atomically, mode 0600 (or 0400/0640/0440), with the job's owner and group, so training
    code never holds a static secret. With O(reuse_valid_lease) the file is kept while its lease lives long
    enough, which makes a role built on this module idempotent.
  - Every secret it returns is hidden from Ansible's output and logs, at every verbosity, by the module's
    action plugin (a registered result still holds them); lease facts stay visible for lease-only operations.
  - Check mode mints nothing, renews nothing and revokes nothing; it reports what would happen. It still
    contacts the server (a token is looked up, the other auth methods log in, a lease is looked up), and when
    the server cannot be reached the run examined nothing, so RV(coverage) is incomplete and the task fails
    with a message that says so.
  - Errors say what is wrong and how to fix it, naming the lease, the mount or the role - for permission
    denied, a token Vault does not know, an auth mount or role that does not exist, bad login credentials,
    lease not found or not renewable, sealed or standby server, TLS failures and an unreachable address.
  - A O(credentials_file) that cannot be written (missing or read-only directory, symbolic link, not a
    regular file) is refused before any credentials are minted.
  - Returns the collection's result envelope - RV(findings), RV(summary), RV(verdict), RV(coverage) (one
    unit, C(credentials)) - but has no gate options; findings never fail the task.
  - Returns findings in the collection's one findings model (root token used, plain HTTP, TLS validation
    off, lease longer than O(max_lease_duration), non-renewable lease, Vault warnings, lax previous file mode).
author:
  - ainative.security contributors (@ainative-security)
extends_documentation_fragment:
  - ainative.security.attributes
  - ainative.security.attributes.action_group_vault
  - ainative.security.vault_connection
attributes:
  check_mode:
    support: full
    details:
      - Logs in (with O(auth_method=token), looks the token up) and looks leases up, but mints, renews,
        revokes and writes nothing.
      - A server that cannot be reached makes the run incomplete (examined nothing), and the task fails.
  diff_mode:
    support: partial
    details: Shows the lease id or expiry before and after; never a secret.
  platform:
    platforms: posix
options:
  operation:
    description:
      - V(issue) mints credentials; V(renew), V(lookup) and V(revoke) act on O(lease_id); V(revoke_prefix)
        revokes every lease whose id starts with O(prefix).
    type: str
    choices: [issue, renew, lookup, revoke, revoke_prefix]
    default: issue
  engine:
    description: The secrets engine type for O(operation=issue).
    type: str
    choices: [database, aws]
    default: database
  engine_mount_point:
    description: Where the secrets engine is mounted (default V(database) or V(aws), after O(engine)).
    type: str
  name:
    description: The engine's role to issue credentials for.
    type: str
    aliases: [role_name]
  aws_endpoint:
    description:
      - For O(engine=aws), V(creds) (IAM user, or assumed role / federation token over GET) or V(sts)
        (assumed role / federation token over POST).
    type: str
    choices: [creds, sts]
    default: creds
  aws_role_arn:
    description: For O(engine=aws), the role ARN to assume when the Vault role allows several.
    type: str
  aws_role_session_name:
    description: For O(aws_endpoint=sts), the session name (at most 64 characters).
    type: str
  ttl:
    description: For O(engine=aws) STS credentials, the requested TTL (V(900), V(15m), V(1h)).
    type: str
  lease_id:
    description:
      - The lease for O(operation=renew), O(operation=lookup) and O(operation=revoke) (for a revoke, or
        O(credentials_file)).
    type: str
  prefix:
    description: For O(operation=revoke_prefix), the lease prefix, for example V(database/creds/readonly).
    type: str
  increment:
    description:
      - For O(operation=renew), the requested new TTL counted from now (V(3600) or V(1h)). Vault may cap it
        at the role's C(max_ttl); the returned C(lease_duration) is what was granted.
    type: str
  sync:
    description: Wait until the backend has removed the credentials before returning from a revoke.
    type: bool
    default: true
  credentials_file:
    description:
      - Write the issued credentials to this file on the managed host (atomically, no backup copy).
      - Its directory must exist and be writable; symbolic links are refused. Both are checked before minting.
      - When writing fails, the just-issued lease is revoked again.
      - With O(operation=revoke), the lease id is read from this file when O(lease_id) is not given, and the
        file is removed, so the job's host keeps no dead credentials.
    type: path
  credentials_file_format:
    description:
      - V(env) writes C(KEY='value') lines that C(source) and systemd C(EnvironmentFile=) read
        (C(<prefix>USERNAME), C(<prefix>PASSWORD), C(<prefix>LEASE_ID), C(<prefix>LEASE_EXPIRES_AT) for
        databases; C(AWS_ACCESS_KEY_ID), C(AWS_SECRET_ACCESS_KEY), C(AWS_SESSION_TOKEN),
        C(VAULT_LEASE_ID), C(VAULT_LEASE_EXPIRES_AT) for AWS). V(json) writes one JSON object.
    type: str
    choices: [env, json]
    default: env
  credentials_file_mode:
    description: Octal mode of the file; anything that grants access to other users is refused.
    type: str
    default: "0600"
  credentials_env_prefix:
    description: Prefix of the variable names in a database credentials file of format V(env).
    type: str
    default: DB_
  owner:
    description: Owner (name or uid) of the credentials file, usually the job's user.
    type: str
  group:
    description: Group (name or gid) of the credentials file.
    type: str
  reuse_valid_lease:
    description:
      - When O(credentials_file) exists and its lease is still valid for at least O(min_ttl) seconds,
        keep it and mint nothing (C(changed=false) unless mode or owner had to be fixed).
    type: bool
    default: false
  min_ttl:
    description: Seconds a reused lease must still be valid for (see O(reuse_valid_lease)).
    type: int
    default: 300
  return_credentials:
    description:
      - Return the secrets in RV(credentials). Turn off when the job reads only the file, so the secrets never
        reach the controller.
    type: bool
    default: true
  max_lease_duration:
    description: Report a finding when a lease is granted for longer than this many seconds (0 disables).
    type: int
    default: 86400
seealso:
  - name: Database secrets engine
    description: Dynamic database credentials in Vault / OpenBao.
    link: https://openbao.org/docs/secrets/databases/
  - name: Lease API
    description: Renew, look up and revoke leases.
    link: https://openbao.org/api-docs/system/leases/
"""

EXAMPLES = r"""
- name: Mint PostgreSQL credentials for a training job and place them for its user
  ainative.security.vault_dynamic_creds:
    url: https://vault.example.com:8200
    auth_method: kubernetes
    role_id: trainer
    name: readonly
    credentials_file: /run/trainer/db.env
    owner: trainer
    group: trainer
    reuse_valid_lease: true
    return_credentials: false
  register: db_creds

- name: Mint credentials with AppRole and use them in this play
  ainative.security.vault_dynamic_creds:
    auth_method: approle
    role_id: "{{ approle_role_id }}"
    secret_id: "{{ approle_secret_id }}"
    name: readonly
  register: creds

- name: Federated AWS credentials over STS for 15 minutes
  ainative.security.vault_dynamic_creds:
    engine: aws
    aws_endpoint: sts
    name: dataset-reader
    ttl: 15m
    credentials_file: /run/trainer/aws.env

- name: Keep the lease alive for one more hour
  ainative.security.vault_dynamic_creds:
    operation: renew
    lease_id: "{{ creds.lease_id }}"
    increment: 1h

- name: Revoke the lease now (the job ended, or the credentials leaked)
  ainative.security.vault_dynamic_creds:
    operation: revoke
    lease_id: "{{ creds.lease_id }}"

- name: End of the job - revoke the lease recorded in the job's file and remove the file
  ainative.security.vault_dynamic_creds:
    operation: revoke
    credentials_file: /run/trainer/db.env

- name: Revoke every credential of the role (needs sudo on sys/leases/revoke-prefix)
  ainative.security.vault_dynamic_creds:
    operation: revoke_prefix
    prefix: database/creds/readonly
"""

RETURN = r"""
credentials:
  description:
    - The issued secrets (hidden in output and logs; available in a registered variable).
    - Database engine C(username), C(password); AWS engine C(access_key), C(secret_key), C(security_token)
      (null for IAM users) and C(arn).
  returned: when O(operation=issue) issued or reused credentials and O(return_credentials) is true, not in check mode
  type: dict
  sample: {"username": "v-approle-readonly-x1y2", "password": "(hidden)"}
lease_id:
  description: The lease's id.
  returned: success, except for O(operation=revoke_prefix) and check mode of O(operation=issue)
  type: str
  sample: database/creds/readonly/3xJq8vYp1Yf6bKQm9eJcW2aZ
lease_duration:
  description: Seconds the lease is valid for (from now).
  returned: when a lease was issued, renewed or looked up
  type: int
  sample: 3600
renewable:
  description: Whether the lease can be renewed.
  returned: when a lease was issued, renewed or looked up
  type: bool
  sample: true
expires_at:
  description: Absolute expiry of the lease, UTC, ISO 8601.
  returned: when a lease was issued, renewed or looked up
  type: str
  sample: "2026-11-25T22:14:03Z"
lease:
  description:
    - All lease facts, with C(path) for an issue, C(issue_time), C(last_renewal) and C(ttl) for a lookup,
      and C(previous_expires_at) for a renewal.
  returned: when a lease was issued, renewed or looked up
  type: dict
  sample: {"lease_id": "database/creds/readonly/3xJq", "lease_duration": 3600, "renewable": true,
           "expires_at": "2026-11-25T22:14:03Z", "path": "database/creds/readonly"}
revoked:
  description: Whether a lease (or prefix) was revoked by this task.
  returned: O(operation=revoke) or O(operation=revoke_prefix)
  type: bool
  sample: true
reused:
  description: The credentials file's lease was still valid and was kept.
  returned: when O(reuse_valid_lease) kept the file
  type: bool
  sample: true
credentials_file:
  description:
    - Facts of the written (or kept) credentials file; never its content.
    - For O(operation=revoke), C(path) and C(removed).
  returned: when O(credentials_file) is set
  type: dict
  sample: {"path": "/run/trainer/db.env", "format": "env", "mode": "0600", "owner": "trainer", "group": "trainer",
           "uid": 1001, "gid": 1001, "changed": true}
auth:
  description: Non-secret facts of the login (method, policies, token TTL).
  returned: success
  type: dict
  sample: {"method": "approle", "policies": ["default", "job-db"], "token_ttl": 600, "renewable": true}
operation:
  description: The operation that ran.
  returned: always
  type: str
  sample: issue
prefix:
  description: The revoked prefix.
  returned: O(operation=revoke_prefix)
  type: str
  sample: database/creds/readonly
findings:
  description: Findings in the collection's shared model, most severe first (no secret values).
  returned: always
  type: list
  elements: dict
  sample: []
findings_truncated:
  description: Always false (this module does not bound its few findings).
  returned: always
  type: bool
summary:
  description: Counts of every finding by severity, kind and status.
  returned: always
  type: dict
  sample: {"total": 0, "open": 0}
verdict:
  description:
    - V(pass), V(findings) (open findings; they never fail this module) or V(incomplete) (nothing was
      examined, for example a check-mode run that could not reach the server).
  returned: always
  type: str
  sample: pass
gate:
  description:
    - The decision - C(fail_on) (always V(none)), C(failing), C(incomplete), C(failed), C(verdict) and C(reason).
  returned: always
  type: dict
coverage:
  description:
    - What the task examined, in unit C(credentials) (C(asked) is 1) - C(examined), C(missed) (each with
      C(item) and C(reason)), C(missed_count), C(complete) and C(gaps).
    - Counts one when credentials were issued or kept, or a lease was looked up, renewed or revoked, or
      in check mode when the server answered; nothing when the server could not be reached.
  returned: always
  type: dict
  sample: {"unit": "credentials", "asked": 1, "examined": 1, "missed": [], "missed_count": 0, "complete": true}
notes:
  description: Remarks about the run, such as what check mode did not try.
  returned: always
  type: list
  elements: str
reports:
  description: Always empty (this module writes no report).
  returned: always
  type: dict
msg:
  description: One line - what was done (naming the lease), what was examined, and the verdict.
  returned: always
  type: str
  sample: >-
    vault_dynamic_creds: issued credentials from database/creds/readonly, lease database/creds/readonly/3xJq;
    examined 1 credentials; gate passed
error_kind:
  description:
    - On an error, what went wrong - one of C(missing_library), C(invalid_option), C(unreachable), C(tls),
      C(timeout), C(sealed), C(standby), C(not_initialized), C(rate_limited), C(permission_denied),
      C(invalid_token) (Vault does not know the token - unknown, expired or revoked), C(login_failed),
      C(unknown_role), C(not_found), C(lease_not_found), C(lease_not_renewable), C(invalid_request),
      C(server_error), C(upstream_error), C(unexpected).
  returned: failure
  type: str
  sample: permission_denied
"""

from ansible_collections.ainative.security.plugins.module_utils.core.module import NO_GATE, ControlModule
from ansible_collections.ainative.security.plugins.module_utils.vault import creds
from ansible_collections.ainative.security.plugins.module_utils.vault.client import (
    CONNECTION_ARGSPEC,
    CONNECTION_REQUIRED_IF,
)


def main():
    argument_spec = dict(CONNECTION_ARGSPEC)
    argument_spec.update(creds.CREDS_ARGSPEC)
    module = ControlModule(
        creds.CONTROL,
        argument_spec=argument_spec,
        gate=NO_GATE,
        max_findings=None,
        reports=False,
        required_if=CONNECTION_REQUIRED_IF + creds.CREDS_REQUIRED_IF,
        mutually_exclusive=[("lease_id", "prefix"), ("lease_id", "name")],
    )
    module.run(creds.run)


if __name__ == "__main__":
    main()
