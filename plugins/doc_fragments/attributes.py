# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Descriptions of the common attributes; each module states its own support level and details.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
"""

    # Members of group/ainative.security.security share the control contract's gate options and max_findings.
    ACTION_GROUP_SECURITY = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/ainative.security.security) in C(module_defaults) to set the gate options and O(max_findings) of every control at once.
    support: full
    membership:
      - ainative.security.security
"""

    ACTION_GROUP_SECURITY_AWS = r"""
options: {}
attributes:
  action_group:
    description:
      - Use C(group/ainative.security.security) in C(module_defaults) to set the gate options and O(max_findings) of every control at once.
      - Use C(group/ainative.security.aws) (which extends C(group/amazon.aws.aws)) to set the AWS connection options.
    support: full
    membership:
      - ainative.security.security
      - ainative.security.aws
"""

    ACTION_GROUP_VAULT = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/ainative.security.vault) in C(module_defaults) to set the Vault connection and login options.
    support: full
    membership:
      - ainative.security.vault
"""
