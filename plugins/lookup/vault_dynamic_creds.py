# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: vault_dynamic_creds
short_description: Issue short-lived credentials from Vault or OpenBao in a template
version_added: 0.1.0
description:
  - Issues dynamic credentials from the database or AWS secrets engine for each role named in the terms, on the
    controller, with the same connection and auth options as the M(ainative.security.vault_dynamic_creds)
    module (and the community.hashi_vault variable and environment names).
  - Each term mints new credentials every time the lookup is evaluated (a lookup is lazy); store the result
    with C(ansible.builtin.set_fact) once, and mark tasks that show it C(no_log).
  - Returns one dict per term with C(credentials) and the lease facts (C(lease_id), C(lease_duration),
    C(renewable), C(expires_at)); renew and revoke the lease with the module.
author:
  - ainative.security contributors (@ainative-security)
extends_documentation_fragment:
  - ainative.security.vault_connection
  - ainative.security.vault_connection.plugins
options:
  _terms:
    description: Names of the engine's roles to issue credentials for.
    type: list
    elements: str
    required: true
  engine:
    description: The secrets engine type.
    type: str
    choices: [database, aws]
    default: database
  engine_mount_point:
    description: Where the secrets engine is mounted (default V(database) or V(aws), after O(engine)).
    type: str
  aws_endpoint:
    description: For O(engine=aws), V(creds) or V(sts).
    type: str
    choices: [creds, sts]
    default: creds
  aws_role_arn:
    description: For O(engine=aws), the role ARN to assume.
    type: str
  aws_role_session_name:
    description: For O(aws_endpoint=sts), the session name.
    type: str
  ttl:
    description: For AWS STS credentials, the requested TTL.
    type: str
"""

EXAMPLES = r"""
- name: Mint database credentials once for this play
  ansible.builtin.set_fact:
    job_db: "{{ lookup('ainative.security.vault_dynamic_creds', 'readonly', auth_method='approle',
                role_id=approle_role_id, secret_id=approle_secret_id) }}"
  no_log: true

- name: Federated AWS credentials
  ansible.builtin.set_fact:
    job_aws: "{{ lookup('ainative.security.vault_dynamic_creds', 'dataset-reader', engine='aws', aws_endpoint='sts') }}"
  no_log: true
"""

RETURN = r"""
_raw:
  description: One dict per term with C(credentials), C(lease_id), C(lease_duration), C(renewable), C(expires_at).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleError, AnsibleOptionsError
from ansible.plugins.lookup import LookupBase

from ansible_collections.ainative.security.plugins.module_utils.core.errors import ControlError
from ansible_collections.ainative.security.plugins.module_utils.vault.client import CONNECTION_ARGSPEC, connect
from ansible_collections.ainative.security.plugins.module_utils.vault.creds import issue, validate_params
from ansible_collections.ainative.security.plugins.module_utils.vault.errors import VaultOptionError

LOOKUP_OPTIONS = ("engine", "engine_mount_point", "aws_endpoint", "aws_role_arn", "aws_role_session_name", "ttl")


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        params = dict((name, self.get_option(name)) for name in list(CONNECTION_ARGSPEC) + list(LOOKUP_OPTIONS))
        params["operation"] = "issue"
        results = []
        try:
            validate_params(params)
            conn = connect(params)
            for term in terms:
                params["name"] = term
                validate_params(params)
                creds, lease, dummy = issue(conn, params)
                item = {"credentials": creds}
                item.update(lease)
                results.append(item)
        except VaultOptionError as exc:
            raise AnsibleOptionsError(exc.msg)
        except ControlError as exc:
            raise AnsibleError("vault_dynamic_creds lookup: %s" % exc.msg)
        return results
