# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWS Organizations fan-out of the cloud controls: one run over the member accounts of an organization.

The caller (the management account or a delegated administrator) lists the organization's accounts
(``organizations:ListAccounts``, every page), assumes ``role_name`` in each chosen account
(``sts:AssumeRole``, with ``ExternalId`` when given) and runs the control's own work there with
:class:`~.aws.Clients` built for the temporary credentials (same region, endpoint, TLS and retries), at
most ``max_concurrency`` accounts at a time. The caller's own account uses the caller's credentials.

The results are merged into one Outcome: findings carry ``details.account``, coverage items are
prefixed with the account, and an account that could not be examined (AssumeRole refused, the role's
permissions missing, an account id that is not in the organization or not ACTIVE) is a coverage miss
with the reason, so the run is incomplete and fails the gate (fail closed). ``accounts`` summarises
each account.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.ainative.security.plugins.module_utils.core.concurrency import run_bounded
from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import ControlError, InputError
from ansible_collections.ainative.security.plugins.module_utils.core.module import Outcome
from ansible_collections.ainative.security.plugins.module_utils.cloud.aws import (
    AWSAuditError, BotoCoreError, ClientError, describe_error)

DEFAULT_ROLE = "OrganizationAccountAccessRole"
DEFAULT_SESSION = "ainative-security"
MAX_CONCURRENCY = 32

# The one spec of the ``organization`` option; every module that fans out merges argument_spec().
ORGANIZATION_OPTIONS = dict(
    accounts=dict(type="list", elements="str", default=["all"]),
    exclude_accounts=dict(type="list", elements="str", default=[]),
    role_name=dict(type="str", default=DEFAULT_ROLE),
    external_id=dict(type="str", no_log=True),
    session_name=dict(type="str", default=DEFAULT_SESSION),
    max_concurrency=dict(type="int", default=4),
    include_management_account=dict(type="bool", default=True),
)

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ROLE_NAME = re.compile(r"^[\w+=,.@/-]{1,512}$")
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")


def argument_spec():
    return dict(organization=dict(type="dict", options=dict(ORGANIZATION_OPTIONS)))


def validate(org):
    """Refuse bad options before any AWS call; returns the account ids asked for (None for all)."""
    accounts = [str(a).strip() for a in org.get("accounts") or []]
    if not accounts:
        raise InputError("organization.accounts is empty; give account ids or all")
    if "all" in accounts and len(accounts) > 1:
        raise InputError("organization.accounts: all cannot be combined with account ids")
    named = [("accounts", a) for a in accounts if a != "all"]
    named += [("exclude_accounts", str(a)) for a in org.get("exclude_accounts") or []]
    for name, account in named:
        if not _ACCOUNT_ID.match(account):
            raise InputError("organization.%s: %r is not a 12-digit AWS account id" % (name, account))
    if not 1 <= org["max_concurrency"] <= MAX_CONCURRENCY:
        raise InputError("organization.max_concurrency must be between 1 and %d, got %d"
                         % (MAX_CONCURRENCY, org["max_concurrency"]))
    if not _ROLE_NAME.match(org["role_name"] or "") or org["role_name"].startswith("/"):
        raise InputError("organization.role_name %r is not an IAM role name (optionally with a path, no leading /)"
                         % org["role_name"])
    if not _SESSION_NAME.match(org["session_name"] or ""):
        raise InputError("organization.session_name must be 2 to 64 characters of letters, digits and +=,.@_-")
    if org.get("external_id") is not None and not _EXTERNAL_ID.match(org["external_id"]):
        raise InputError("organization.external_id must be 2 to 1224 characters of letters, digits and +=,.@:/_-")
    return None if accounts == ["all"] else list(dict.fromkeys(accounts))


def list_accounts(clients):
    """Every account of the organization, ``{id: (name, state)}``, following every page."""
    org = clients.client("organizations")
    accounts, token = {}, None
    while True:
        kwargs = {"NextToken": token} if token else {}
        try:
            page = org.list_accounts(aws_retry=True, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise AWSAuditError(describe_error(exc, "organizations:ListAccounts (run from the management account "
                                                    "or a delegated administrator)"))
        for account in page.get("Accounts", []):
            # State replaces the deprecated Status; emulators may return only Status.
            accounts[account["Id"]] = (account.get("Name"), account.get("State") or account.get("Status"))
        token = page.get("NextToken")
        if not token:
            return accounts


def management_account(clients):
    try:
        return clients.client("organizations").describe_organization(aws_retry=True)["Organization"]["MasterAccountId"]
    except (BotoCoreError, ClientError) as exc:
        raise AWSAuditError(describe_error(exc, "organizations:DescribeOrganization"))


def plan(org, wanted, listed, management):
    """(accounts to examine, summary entries of accounts not examined, coverage misses)."""
    excluded = set(org.get("exclude_accounts") or [])
    if wanted is None:
        chosen = sorted(listed)
    else:
        chosen = wanted
    targets, skipped, misses = [], [], []
    for account in chosen:
        name, state = listed.get(account, (None, None))
        entry = {"account": account, "name": name, "credentials": None, "examined": 0, "missed": 0, "reason": None}
        if account in excluded:
            skipped.append(dict(entry, status="excluded", reason="in organization.exclude_accounts"))
        elif account == management and not org["include_management_account"]:
            skipped.append(dict(entry, status="excluded", reason="management account, include_management_account is false"))
        elif account not in listed:
            misses.append((account, "not an account of the organization (organizations:ListAccounts)"))
            skipped.append(dict(entry, status="missed", missed=1, reason=misses[-1][1]))
        elif state != "ACTIVE":
            reason = "account is %s, not ACTIVE" % state
            if wanted is None:  # all: only ACTIVE accounts are asked for
                skipped.append(dict(entry, status="skipped", reason=reason))
            else:
                misses.append((account, reason))
                skipped.append(dict(entry, status="missed", missed=1, reason=reason))
        else:
            targets.append((account, name))
    return targets, skipped, misses


def assume(clients, account, partition, org):
    """Clients for ``account`` through sts:AssumeRole of ``role_name``; AWSAuditError when refused."""
    role_arn = "arn:%s:iam::%s:role/%s" % (partition, account, org["role_name"])
    kwargs = {"RoleArn": role_arn, "RoleSessionName": org["session_name"]}
    if org.get("external_id"):
        kwargs["ExternalId"] = org["external_id"]
    try:
        creds = clients.client("sts").assume_role(aws_retry=True, **kwargs)["Credentials"]
    except (BotoCoreError, ClientError) as exc:
        raise AWSAuditError(describe_error(exc, "sts:AssumeRole of %s" % role_arn))
    return clients.assumed(creds)


def fan_out(org, clients, work, unit, per_account=(), empty=None):
    """Run ``work(account_clients)`` -> Outcome in every chosen account and merge the outcomes.

    ``per_account``: list keys of the outcomes whose dict entries belong to one account (they get an
    ``account`` key and are concatenated); ``empty``: the control's own keys when no account answered.
    """
    wanted = validate(org)
    identity = caller_identity(clients)
    partition = identity["Arn"].split(":")[1]
    listed = list_accounts(clients)
    management = management_account(clients)
    targets, skipped, misses = plan(org, wanted, listed, management)

    def one(target):
        account, name = target
        own = account == identity["Account"]
        entry = {"account": account, "name": name, "credentials": "caller" if own else "role"}
        try:
            outcome = work(clients if own else assume(clients, account, partition, org))
        except ControlError as exc:
            if isinstance(exc, InputError):  # a wrong option is wrong in every account: one clear error
                raise
            return entry, None, exc.msg
        return entry, outcome, None

    results = run_bounded(one, targets, org["max_concurrency"])
    return merge(unit, results, skipped, misses, per_account, empty)


def caller_identity(clients):
    try:
        return clients.client("sts").get_caller_identity(aws_retry=True)
    except (BotoCoreError, ClientError) as exc:
        raise AWSAuditError(describe_error(exc, "sts:GetCallerIdentity"))


def _prefixed(account, item):
    return "%s/%s" % (account, item)


def _merge_extra(merged, key, value, account, per_account):
    if key in per_account and isinstance(value, list):
        merged.setdefault(key, []).extend(dict(e, account=e.get("account") or account) if isinstance(e, dict) else e
                                          for e in value)
    elif key not in merged:
        merged[key] = value
    elif isinstance(value, bool):
        merged[key] = merged[key] and value
    elif isinstance(value, int):
        merged[key] = merged.get(key, 0) + value
    elif isinstance(value, dict) and all(isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
        total = dict(merged.get(key) or {})
        for name, count in value.items():
            total[name] = total.get(name, 0) + count
        merged[key] = total
    # anything else (the window, the detections that ran, the parser) is the same in every account


def merge(unit, results, skipped, misses, per_account=(), empty=None):
    """One Outcome from ``[(entry, outcome or None, reason)]`` plus the accounts not examined."""
    answered = [(e, o) for e, o, _r in results if o is not None]
    asked = [o.coverage.asked for _e, o in answered]
    cov = Coverage(unit, asked=None if None in asked else sum(asked))
    findings, extra, notes_by_text, messages = [], {}, {}, []
    diff = {"before": {}, "after": {}}
    summary = []
    changed = False
    for entry, outcome in answered:
        account = entry["account"]
        part = outcome.coverage
        cov.add(part.examined)
        for missed in part.missed:
            cov.miss(_prefixed(account, missed["item"]), missed["reason"])
        cov.missed_count += part.missed_count - len(part.missed)  # misses beyond the bounded list still count
        for finding in outcome.findings:
            finding["details"].setdefault("account", account)
            findings.append(finding)
        for key, value in outcome.extra.items():
            _merge_extra(extra, key, value, account, per_account)
        for note in outcome.notes:
            notes_by_text.setdefault(note, []).append(account)
        if outcome.msg:
            messages.append("%s: %s" % (account, outcome.msg))
        for side in ("before", "after"):
            diff[side].update((outcome.diff or {}).get(side) or {})
        changed = changed or outcome.changed
        # an account with nothing to examine (no bucket) was examined completely; the merged coverage
        # still fails when no account had anything
        short = part.missed_count or (part.asked is not None and part.examined < part.asked)
        summary.append(dict(entry, status="incomplete" if short else "complete", examined=part.examined,
                            missed=part.missed_count, reason="; ".join(part.gaps()) if short else None))
    notes = []
    for entry, outcome, reason in results:
        if outcome is None:
            cov.miss(entry["account"], reason)
            summary.append(dict(entry, status="missed", examined=0, missed=1, reason=reason))
            notes.append("coverage is incomplete: account %s not examined: %s" % (entry["account"], reason))
    for account, reason in misses:
        cov.miss(account, reason)
        notes.append("coverage is incomplete: account %s not examined: %s" % (account, reason))
    summary.extend(skipped)
    summary.sort(key=lambda e: e["account"])
    everyone = len(answered)
    for note, accounts in notes_by_text.items():
        notes.append(note if len(accounts) == everyone and everyone > 1 else
                     "%s (account%s %s)" % (note, "s" if len(accounts) > 1 else "", ", ".join(accounts)))
    if not answered:
        extra = dict(empty or {})
    extra["accounts"] = summary
    outcome = Outcome(cov, findings, notes=notes, changed=changed, **extra)
    outcome.msg = "; ".join(messages) or None
    outcome.diff = diff if diff["before"] or diff["after"] else None
    first = answered[0][1] if answered else None
    outcome.report_meta = dict(first.report_meta if first else {}, accounts=summary)
    outcome.tool_version = first.tool_version if first else None
    return outcome
