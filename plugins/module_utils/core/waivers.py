# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waivers from the playbook's policy: ignore entries with a reason and an expiry, and baselines.

* An ignore entry has an ``id``, a required ``reason`` and an optional ``expires`` date (YYYY-MM-DD, the
  last day the entry applies). Optional ``paths`` (globs), ``packages`` and ``targets`` narrow it. An
  expired entry hides nothing: its finding stays ``open`` with ``details.expired_ignore`` and the entry
  is reported as expired.
* Entries match a finding's ``id`` or any of its ``details.aliases`` (AVD-AWS-0088 and AWS-0088 alike).
* A baseline is an earlier normalized JSON report; only findings whose fingerprint it lacks are new.

Nothing in the scanned artifact can add a waiver: scanners' own ignore files are read only when the
playbook names them (see ``scanners.policy``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import fnmatch
import json

from ansible_collections.ainative.security.plugins.module_utils.core.errors import PolicyError

IGNORE_SPEC = dict(
    id=dict(type="str", required=True),
    reason=dict(type="str", required=True),
    expires=dict(type="str"),
    paths=dict(type="list", elements="str"),
    packages=dict(type="list", elements="str"),
    targets=dict(type="list", elements="str"),
)


def parse_date(value, where):
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.datetime.strptime(str(value).strip(), "%Y-%m-%d").date()
    except ValueError:
        raise PolicyError("%s: expiry %r is not a date; write YYYY-MM-DD" % (where, value))


def today_utc():
    return datetime.datetime.utcnow().date()


class IgnoreEntry(object):
    __slots__ = ("id", "reason", "expires", "paths", "packages", "targets", "purls", "kind", "source", "matched",
                 "expires_exclusive")

    def __init__(self, id, reason, expires=None, paths=None, packages=None, targets=None, purls=None, kind=None,
                 source="task", expires_exclusive=False):
        if not id or not str(id).strip():
            raise PolicyError("%s: an ignore entry needs an 'id' (CVE, rule or check id)" % source)
        if not reason or not str(reason).strip():
            raise PolicyError("%s: ignore entry %s needs a 'reason' (why it is accepted, by whom)" % (source, id))
        self.id = str(id).strip()
        self.reason = str(reason).strip()
        self.expires = parse_date(expires, "%s: ignore entry %s" % (source, self.id))
        # Trivy's exp:DATE means 00:00 UTC of that day, so the entry no longer applies on that day.
        self.expires_exclusive = expires_exclusive
        self.paths = [str(p) for p in paths or []]
        self.packages = [str(p) for p in packages or []]
        self.targets = [str(t) for t in targets or []]
        self.purls = [str(p) for p in purls or []]
        self.kind = kind
        self.source = source
        self.matched = 0

    def expired(self, today):
        if self.expires is None:
            return False
        return self.expires <= today if self.expires_exclusive else self.expires < today

    def matches(self, finding):
        if self.kind and finding["kind"] != self.kind:
            return False
        loc = finding["location"]
        if self.paths:
            path = (loc.get("path") or "").lstrip("/")
            if not any(fnmatch.fnmatch(path, p.lstrip("/")) for p in self.paths):
                return False
        if self.packages and loc.get("package") not in self.packages:
            return False
        if self.targets and finding.get("target") not in self.targets:
            return False
        if self.purls and not any(purl_matches(p, finding["details"].get("purl")) for p in self.purls):
            return False
        return True

    def as_dict(self):
        return {"id": self.id, "reason": self.reason,
                "expires": self.expires.isoformat() if self.expires else None,
                "source": self.source, "matched": self.matched}


def _strip_purl(purl):
    """``pkg:type/ns/name@version?q#s`` -> (``pkg:type/ns/name``, version or None)."""
    base = purl.split("#", 1)[0].split("?", 1)[0]
    if "@" in base.rsplit("/", 1)[-1]:
        base, version = base.rsplit("@", 1)
        return base.lower(), version
    return base.lower(), None


def purl_matches(product, purl):
    if not product or not purl or not product.startswith("pkg:"):
        return False
    want, want_version = _strip_purl(product)
    have, have_version = _strip_purl(purl)
    return want == have and (want_version is None or want_version == have_version)


def entries_from_params(items):
    entries = []
    for index, item in enumerate(items or []):
        if not isinstance(item, dict):
            raise PolicyError("ignore[%d] must be a mapping with id, reason and expires" % index)
        entries.append(IgnoreEntry(item.get("id"), item.get("reason"), item.get("expires"), item.get("paths"),
                                   item.get("packages"), item.get("targets"), source="ignore[%d]" % index))
    return entries


def apply_ignores(findings, entries, today=None):
    """Set status ``ignored`` on findings an unexpired entry covers; return the expired entries that matched."""
    today = today or today_utc()
    by_id = {}
    for entry in entries:
        by_id.setdefault(entry.id.upper(), []).append(entry)
    if not by_id:
        return []
    expired = {}
    for finding in findings:
        if finding["status"] != "open":
            continue
        candidates = list(by_id.get(finding["id"].upper(), []))
        for alias in finding["details"].get("aliases") or ():
            candidates.extend(by_id.get(str(alias).upper(), []))
        stale = None
        for entry in candidates:
            if not entry.matches(finding):
                continue
            entry.matched += 1
            if entry.expired(today):
                stale = entry
                expired[id(entry)] = entry
                continue
            finding["status"] = "ignored"
            finding["details"]["ignored_by"] = {"source": entry.source, "reason": entry.reason,
                                                "expires": entry.expires.isoformat() if entry.expires else None}
            break
        else:
            if stale is not None:
                finding["details"]["expired_ignore"] = {"source": stale.source, "reason": stale.reason,
                                                        "expires": stale.expires.isoformat()}
    return [e.as_dict() for e in expired.values()]


def load_baseline(path):
    """Fingerprints of an earlier normalized JSON report (``{"findings": [...]}`` or a bare list)."""
    from ansible_collections.ainative.security.plugins.module_utils.core.fileio import read_regular_file
    data = read_regular_file(path, "baseline report", error=PolicyError)
    try:
        doc = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise PolicyError("baseline %s is not JSON (%s); use the 'json' report of an earlier run" % (path, exc))
    items = doc.get("findings") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise PolicyError("baseline %s has no 'findings' list; use the 'json' report of an earlier run" % path)
    prints = set()
    for item in items:
        if isinstance(item, dict) and item.get("fingerprint"):
            prints.add(item["fingerprint"])
    return prints


def mark_baseline(findings, known):
    """Findings whose fingerprint the baseline holds become ``unchanged``, the others ``new``; returns the new count."""
    new = 0
    for finding in findings:
        if finding["fingerprint"] in known:
            finding["details"]["baseline"] = "unchanged"
        else:
            finding["details"]["baseline"] = "new"
            new += 1
    return new
