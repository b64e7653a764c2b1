# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection and authentication options shared by every Vault/OpenBao plugin of the collection.
    # Names follow community.hashi_vault so existing module_defaults and variables carry over.
    DOCUMENTATION = r"""
options:
  url:
    description:
      - URL of the Vault or OpenBao server, for example V(https://vault.example.com:8200).
      - When unset, the E(VAULT_ADDR) environment variable, then E(BAO_ADDR), is used.
    type: str
    aliases: [vault_addr]
  namespace:
    description:
      - Vault Enterprise / OpenBao namespace, sent as the C(X-Vault-Namespace) header.
      - When unset, E(VAULT_NAMESPACE) (then E(BAO_NAMESPACE)) is used.
    type: str
  ca_cert:
    description:
      - CA bundle that signs the server certificate. When unset, E(VAULT_CACERT) (then E(BAO_CACERT)) is used.
    type: path
    aliases: [cacert]
  validate_certs:
    description:
      - Verify the server's TLS certificate. Turn off only for a throw-away lab; a finding is reported when off.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each answer from the server.
    type: int
    default: 30
  retries:
    description:
      - How many times an idempotent call (lease lookup, renew, revoke, token lookup) is retried, with
        exponential backoff, on HTTP 412, 429, 500, 502 or 503 and on connection failures.
      - Calls that create something (minting credentials, logging in) are retried only when the connection
        could not be opened, so a retry never mints a second set of credentials.
    type: int
    default: 3
  retry_action:
    description: Whether to warn when a call was retried.
    type: str
    choices: [ignore, warn]
    default: warn
  auth_method:
    description:
      - How to log in. V(token) uses O(token), E(VAULT_TOKEN) or the token file; V(approle) O(role_id) and
        O(secret_id); V(jwt) O(role_id) and O(jwt); V(kubernetes) O(role_id) and the pod's service-account
        token from O(kubernetes_token_path) (or O(jwt)); V(userpass) O(username) and O(password).
      - Options are checked before any network call, and no secret is ever put in a message.
    type: str
    choices: [approle, jwt, kubernetes, token, userpass]
    default: token
  mount_point:
    description:
      - Path where the auth method is mounted, when not its default (V(approle), V(jwt), V(kubernetes), V(userpass)).
    type: str
  token:
    description:
      - Vault token for O(auth_method=token). When unset, E(VAULT_TOKEN) (then E(BAO_TOKEN)), then the token file.
    type: str
  token_path:
    description: Directory of the token file (default the home directory of the user running the plugin).
    type: path
  token_file:
    description: Name of the token file in O(token_path).
    type: str
    default: .vault-token
  token_validate:
    description: Look the token up before use, so a bad token fails early with a clear message.
    type: bool
    default: false
  role_id:
    description:
      - AppRole role ID for O(auth_method=approle); the role name for O(auth_method=jwt) and
        O(auth_method=kubernetes) (as in community.hashi_vault).
    type: str
  secret_id:
    description: AppRole secret ID (omit for roles with C(bind_secret_id=false)).
    type: str
  jwt:
    description:
      - The JWT for O(auth_method=jwt), for example a CI job's or workload's ID token.
      - For O(auth_method=kubernetes), a service-account token that replaces the file.
    type: str
  kubernetes_token_path:
    description: Service-account token file read by O(auth_method=kubernetes).
    type: path
    default: /var/run/secrets/kubernetes.io/serviceaccount/token
  username:
    description: User name for O(auth_method=userpass).
    type: str
  password:
    description: Password for O(auth_method=userpass).
    type: str
notes:
  - Requires the C(hvac) Python library (and C(requests)) where the plugin runs.
  - Vault ties every lease to the token that created it; when a login token (AppRole, JWT, Kubernetes,
    userpass) expires or is revoked, Vault revokes the credentials minted with it, so the login token's
    TTL bounds how long the credentials live.
"""

    # The same options for lookup plugins, with variables and environment variables.
    PLUGINS = r"""
options:
  url:
    env:
      - name: ANSIBLE_HASHI_VAULT_ADDR
    vars:
      - name: ansible_hashi_vault_url
      - name: ansible_hashi_vault_addr
  namespace:
    env:
      - name: ANSIBLE_HASHI_VAULT_NAMESPACE
    vars:
      - name: ansible_hashi_vault_namespace
  ca_cert:
    env:
      - name: ANSIBLE_HASHI_VAULT_CA_CERT
    vars:
      - name: ansible_hashi_vault_ca_cert
  validate_certs:
    vars:
      - name: ansible_hashi_vault_validate_certs
  timeout:
    env:
      - name: ANSIBLE_HASHI_VAULT_TIMEOUT
    vars:
      - name: ansible_hashi_vault_timeout
  retries:
    env:
      - name: ANSIBLE_HASHI_VAULT_RETRIES
    vars:
      - name: ansible_hashi_vault_retries
  auth_method:
    env:
      - name: ANSIBLE_HASHI_VAULT_AUTH_METHOD
    vars:
      - name: ansible_hashi_vault_auth_method
  mount_point:
    vars:
      - name: ansible_hashi_vault_mount_point
  token:
    env:
      - name: ANSIBLE_HASHI_VAULT_TOKEN
    vars:
      - name: ansible_hashi_vault_token
  token_path:
    env:
      - name: ANSIBLE_HASHI_VAULT_TOKEN_PATH
    vars:
      - name: ansible_hashi_vault_token_path
  token_file:
    env:
      - name: ANSIBLE_HASHI_VAULT_TOKEN_FILE
    vars:
      - name: ansible_hashi_vault_token_file
  role_id:
    env:
      - name: ANSIBLE_HASHI_VAULT_ROLE_ID
    vars:
      - name: ansible_hashi_vault_role_id
  secret_id:
    env:
      - name: ANSIBLE_HASHI_VAULT_SECRET_ID
    vars:
      - name: ansible_hashi_vault_secret_id
  username:
    vars:
      - name: ansible_hashi_vault_username
  password:
    vars:
      - name: ansible_hashi_vault_password
"""
