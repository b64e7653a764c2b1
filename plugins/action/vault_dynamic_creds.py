# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the vault_dynamic_creds module and hides its result from output and logs when it holds secrets.

A module cannot mark its own result ``no_log`` (Ansible strips ``_ansible_*`` keys from module results),
so this action plugin does: callbacks (at any verbosity) and the log file then see only
"the output has been hidden", while a registered variable keeps the credentials for later tasks.
Results without secrets (lookup, renew, revoke, check mode) stay visible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase

SECRET_KEYS = ("password", "secret_key", "security_token", "session_token")


def holds_secrets(result):
    creds = result.get("credentials")
    return isinstance(creds, dict) and any(creds.get(key) for key in SECRET_KEYS)


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        result.update(self._execute_module(module_name="ainative.security.vault_dynamic_creds",
                                           module_args=self._task.args, task_vars=task_vars))
        if holds_secrets(result):
            result["_ansible_no_log"] = True
        return result
