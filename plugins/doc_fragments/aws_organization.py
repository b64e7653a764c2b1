# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The organization option of the cloud controls that fan out over AWS Organizations member accounts
    # (spec in plugins/module_utils/cloud/organizations.py).
    DOCUMENTATION = r"""
options:
  organization:
    description:
      - Run the control in member accounts of the caller's AWS Organization and merge the results into one.
      - The caller (the management account or a delegated administrator) lists the accounts with
        C(organizations:ListAccounts), assumes O(organization.role_name) in each chosen account with C(sts:AssumeRole)
        and runs the control there with the temporary credentials (same region, endpoint and retries). The caller's
        own account is examined with the caller's credentials.
      - Each finding carries C(details.account); coverage items are prefixed with the account id.
      - An account that cannot be examined (C(AssumeRole) refused, the role lacks permissions, an account id that is
        not in the organization or not ACTIVE) is a coverage gap with the reason, so the run is incomplete and fails
        the gate unless O(accept_incomplete) gives a reason. A member account that blocks the audit role cannot pass.
      - RV(accounts) lists every account with its status and counts.
    type: dict
    version_added: 0.3.0
    suboptions:
      accounts:
        description:
          - Account ids (12 digits) to examine, or V(all) for every ACTIVE account of the organization.
        type: list
        elements: str
        default: [all]
      exclude_accounts:
        description:
          - Account ids to leave out.
        type: list
        elements: str
        default: []
      role_name:
        description:
          - The role to assume in each member account (a name, optionally with a path).
        type: str
        default: OrganizationAccountAccessRole
      external_id:
        description:
          - The C(ExternalId) the role's trust policy requires, if any.
        type: str
      session_name:
        description:
          - The C(RoleSessionName), visible in the member accounts' CloudTrail.
        type: str
        default: ainative-security
      max_concurrency:
        description:
          - Accounts examined at the same time, from 1 to 32. Each account still uses the control's own concurrency.
        type: int
        default: 4
      include_management_account:
        description:
          - Also examine the organization's management account (with the caller's credentials when the caller runs
            there). V(false) leaves it out, as if it were in O(organization.exclude_accounts).
        type: bool
        default: true
notes:
  - With O(organization), the caller also needs C(sts:GetCallerIdentity), C(organizations:ListAccounts),
    C(organizations:DescribeOrganization) and C(sts:AssumeRole) on the member accounts' role.
"""
