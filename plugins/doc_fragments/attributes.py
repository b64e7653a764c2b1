# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Common attributes; each module states its own support level in its `attributes:`.
    DOCUMENTATION = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/ainative.security.security) in C(module_defaults) to set options of this module.
    support: full
    membership:
      - ainative.security.security
"""
