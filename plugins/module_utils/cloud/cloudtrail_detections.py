# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CloudTrail detection catalogue of ``cloudtrail_hunt``: the built-in Sigma rules (rules/cloudtrail/,
embedded in sigma_builtin.py) plus a user's own, and selecting from it.

Each entry: ``id`` (the rule's ``name``, else its Sigma ``id``), ``rule_id`` (the Sigma id), ``title``,
``severity`` (from the rule's level), MITRE ATT&CK ``technique`` (id, name, tactic, from the attack tags),
``tags`` (the rule's ``hunt_tags`` and its Sigma tags), ``event_names`` (the ``eventName`` values the rule
pins; ``None`` = every event, so a LookupEvents hunt must read all management events), the ``condition``
in words (the rule's description), ``aggregate`` (``None`` for per-event rules, else how events are
grouped and counted), ``falsepositives``, ``references`` and ``rule`` (the engine's plain data).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ainative.security.plugins.module_utils.core.errors import DependencyError, InputError
from ansible_collections.ainative.security.plugins.module_utils.cloud.sigma_builtin import RULES

ATTACK_URL = "https://attack.mitre.org/techniques/%s/"

TECHNIQUE_NAMES = {
    "T1078.004": "Valid Accounts: Cloud Accounts",
    "T1098.001": "Account Manipulation: Additional Cloud Credentials",
    "T1110": "Brute Force",
    "T1110.001": "Brute Force: Password Guessing",
    "T1485": "Data Destruction",
    "T1496": "Resource Hijacking",
    "T1526": "Cloud Service Discovery",
    "T1530": "Data from Cloud Storage",
    "T1546": "Event Triggered Execution",
    "T1562": "Impair Defenses",
    "T1562.001": "Impair Defenses: Disable or Modify Tools",
    "T1562.007": "Impair Defenses: Disable or Modify Cloud Firewall",
    "T1562.008": "Impair Defenses: Disable or Modify Cloud Logs",
    "T1580": "Cloud Infrastructure Discovery",
}

# Threshold rules whose count and window are module options (they override the rule's own).
THRESHOLD_OPTIONS = {"console_login_brute_force": "brute_force_threshold",
                     "unauthorized_api_burst": "unauthorized_threshold"}
# Its allowed networks are a module option, so the engine compares the source IP and counts per
# (principal, IP); the rule says which events are candidates.
NETWORK_RULE = "api_call_from_untrusted_network"


def _counted_names(corr, known):
    """The eventName values a correlation's rules pin (None when one of them needs every event)."""
    names = set()
    for base in corr["rules"]:
        pinned = (known.get(base) or {}).get("event_names")
        if not pinned:
            return None
        names.update(pinned)
    return sorted(names)


def detection(rule, known=None):
    """A catalogue entry for one rule's plain data (see sigma_rules.rule_ir); ``known``: rules by id, for
    the rules a correlation counts."""
    corr = rule.get("correlation")
    event_names = _counted_names(corr, known or BUILTIN_RULES) if corr else rule["event_names"]
    if corr:
        aggregate = {"of": corr["rules"][0], "threshold": THRESHOLD_OPTIONS.get(rule["id"])}
    elif rule["id"] == NETWORK_RULE:
        aggregate = {"of": "untrusted_network", "threshold": None}
    else:
        aggregate = None
    return {
        "id": rule["id"],
        "rule_id": rule["rule_id"],
        "title": rule["title"],
        "severity": rule["severity"],
        "level": rule["level"],
        "technique": (rule["technique"], TECHNIQUE_NAMES.get(rule["technique"]), rule["tactic"]),
        "tags": rule["hunt_tags"] + rule["attack_tags"],
        "event_names": event_names,
        "condition": rule["description"],
        "aggregate": aggregate,
        "falsepositives": rule["falsepositives"],
        "references": rule["references"],
        "file": rule["file"],
        "rule": rule,
    }


def _base_only(rules):
    """Rules that only feed a correlation with ``generate: false`` (no findings of their own)."""
    feeding = set()
    for rule in rules:
        corr = rule.get("correlation")
        if corr and not corr["generate"]:
            feeding.update(corr["rules"])
    return feeding


BUILTIN_RULES = dict((r["id"], r) for r in RULES)
CATALOGUE = [detection(r) for r in RULES if r["id"] not in _base_only(RULES)]
BY_ID = dict((d["id"], d) for d in CATALOGUE)


def _excluded(catalogue, exclude_rules):
    """Ids of the entries that ``exclude_rules`` names by id, Sigma id or tag; an entry naming none is an error."""
    out = set()
    for item in exclude_rules or []:
        hits = [d["id"] for d in catalogue if item in (d["id"], d["rule_id"]) or item in d["tags"]]
        if not hits:
            raise InputError("exclude_rules: %r is no rule id, Sigma id or tag" % item)
        out.update(hits)
    return out


def select_detections(ids=None, tags=None, exclude=None, extra=None, exclude_rules=None):
    """Catalogue entries (the built-in ones, then ``extra``: a user's rules) by id (``all`` = every one) and/or
    tag, without ``exclude`` (ids) and ``exclude_rules`` (ids, Sigma ids or tags); unknown ids or tags are errors."""
    catalogue = CATALOGUE + list(extra or [])
    by_id = dict((d["id"], d) for d in catalogue)
    ids = list(ids or [])
    tags = list(tags or [])
    known_tags = set(t for d in catalogue for t in d["tags"])
    unknown = [i for i in ids + list(exclude or []) if i != "all" and i not in by_id]
    if unknown:
        raise InputError("unknown detection id(s): %s; known: %s" % (", ".join(unknown), ", ".join(sorted(by_id))))
    bad_tags = [t for t in tags if t not in known_tags]
    if bad_tags:
        raise InputError("unknown detection tag(s): %s; known: %s" % (", ".join(bad_tags), ", ".join(sorted(known_tags))))
    if not ids and not tags:
        ids = ["all"]
    skip = set(exclude or []) | _excluded(catalogue, exclude_rules)
    chosen = []
    for det in catalogue:
        if "all" in ids or det["id"] in ids or set(tags) & set(det["tags"]):
            if det["id"] not in skip:
                chosen.append(det)
    if not chosen:
        raise InputError("the selection of detections is empty")
    return chosen


def user_detections(paths):
    """A user's Sigma rule files or folders: (catalogue entries, entries that only feed a correlation rule,
    refused rules with file, line and reason).

    pySigma parses and validates them (sigma_rules); it is imported only here, so a hunt with the
    built-in rules alone neither needs it nor pays for its import.
    """
    if not paths:
        return [], [], []
    from ansible_collections.ainative.security.plugins.module_utils.cloud import sigma_rules
    if not sigma_rules.HAS_PYSIGMA:
        raise DependencyError("rules: parsing Sigma rules needs pySigma on the host (pip install 'pysigma>=1.5,<2')")
    loaded, refused = sigma_rules.load_rules(paths)
    taken = set(BUILTIN_RULES) | set(r["rule_id"] for r in RULES)
    accepted = []
    for rule in loaded:
        corr = rule["correlation"]
        reason = None
        if rule["id"] in taken or rule["rule_id"] in taken:
            reason = "rule id %s is already taken (a built-in rule or another file)" % rule["id"]
        elif corr and corr["op"] not in ("gte", "gt"):
            reason = "an event_count condition must be gte or gt (a burst), not %s" % corr["op"]
        if reason:
            refused.append({"file": rule["file"], "line": None, "id": rule["id"], "title": rule["title"],
                            "reason": reason})
            continue
        taken.update((rule["id"], rule["rule_id"]))
        accepted.append(rule)
    alias = dict((r["rule_id"], r["id"]) for r in accepted)
    alias.update((r["id"], r["id"]) for r in accepted)
    for rule in list(accepted):
        corr = rule["correlation"] or {"rules": []}
        missing = [b for b in corr["rules"] if b not in alias]
        corr["rules"] = [alias.get(b, b) for b in corr["rules"]]
        if missing:
            accepted.remove(rule)
            refused.append({"file": rule["file"], "line": None, "id": rule["id"], "title": rule["title"],
                            "reason": "the correlation counts rules that did not load: %s" % ", ".join(missing)})
    feeding = _base_only(accepted)
    known = dict((r["id"], r) for r in accepted)
    chosen = [detection(r, known) for r in accepted if r["id"] not in feeding]
    bases = [detection(r, known) for r in accepted if r["id"] in feeding]
    return chosen, bases, refused


def lookup_event_names(detections):
    """EventName values to query, or None when a selected detection needs every event."""
    names = set()
    for det in detections:
        if det["event_names"] is None:
            return None
        names.update(det["event_names"])
    return sorted(names)
