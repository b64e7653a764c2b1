# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-event matchers of the ``cloudtrail_hunt`` catalogue (``MATCHERS``) and their helpers.

Each matcher is a built-in Sigma rule compiled by sigma_engine: it takes one full CloudTrail record (a
dict) and says whether the rule's condition holds. The scan calls it only for events its pre-filter
chose (the rule's ``eventName`` values, or the light-decoded fields of the rules that need every event).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.ainative.security.plugins.module_utils.cloud.sigma_builtin import RULES
from ansible_collections.ainative.security.plugins.module_utils.cloud.sigma_engine import compile_node

MATCHERS = dict((r["id"], compile_node(r["condition"])) for r in RULES if r["condition"] is not None)

console_login_failure = MATCHERS["console_login_failure"]


def networks(cidrs):
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def principal_key(ident):
    if not isinstance(ident, dict):
        ident = {}
    if ident.get("type") == "Root":
        return "root@%s" % (ident.get("accountId") or "?")
    return ident.get("userName") or ident.get("arn") or ident.get("principalId") or "unknown"


class NetCheck:
    """Whether a source IP is outside ``allowed_cidrs`` (cached; service names are never untrusted)."""

    def __init__(self, cidrs):
        self.nets = networks(cidrs)
        self.cache = {}

    def untrusted(self, ip):
        hit = self.cache.get(ip)
        if hit is None:
            try:
                addr = ipaddress.ip_address(ip)
                hit = not any(addr in net for net in self.nets if net.version == addr.version)
            except (TypeError, ValueError):
                hit = False  # a service name (ec2.amazonaws.com), "AWS Internal", none ...
            self.cache[ip] = hit
        return hit
