# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Triage policy for findings of any control: ignore entries, OpenVEX, baselines and the gate.

* Ignore entries have an ``id``, a required ``reason`` and an optional ``expires`` date (YYYY-MM-DD, the
  last day the entry applies). Optional ``paths`` (globs), ``packages`` and ``targets`` narrow them. An
  expired entry no longer hides its finding (the finding stays ``open`` and carries
  ``details.expired_ignore``) and is itself reported in ``expired``.
* ``.trivyignore`` (``ID [exp:YYYY-MM-DD]``, ``#`` comments; a comment right above an entry is its reason)
  and ``.trivyignore.yaml`` (sections ``vulnerabilities``, ``misconfigurations``, ``secrets``,
  ``licenses``; ``id``, ``paths``, ``purls``, ``expired_at``, ``statement``) become the same entries.
* OpenVEX documents: statements with status ``not_affected`` or ``fixed`` hide matching findings, with
  the justification / impact statement as the reason.
* A baseline is an earlier normalized JSON report; only findings whose fingerprint it lacks are new.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import fnmatch
import json
import os

from ansible_collections.ainative.security.plugins.module_utils.core.findings import (
    SEVERITY_RANK,
    FindingError,
    normalize_severity,
)

try:
    import yaml
    HAS_YAML = True
    YAML_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - PyYAML ships with ansible-core
    HAS_YAML = False
    YAML_IMPORT_ERROR = exc

YAML_SECTIONS = {"vulnerabilities": "vulnerability", "misconfigurations": "misconfiguration",
                 "secrets": "secret", "licenses": "license"}
VEX_SUPPRESSING = ("not_affected", "fixed")
VEX_STATUSES = ("not_affected", "affected", "fixed", "under_investigation")


class PolicyError(ValueError):
    """A policy input (ignore entry, ignore file, VEX document, baseline) is malformed."""


def _date(value, where):
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


class IgnoreEntry(object):
    __slots__ = ("id", "reason", "expires", "paths", "packages", "targets", "purls", "kind", "source", "matched")

    def __init__(self, id, reason, expires=None, paths=None, packages=None, targets=None, purls=None, kind=None,
                 source="task"):
        if not id or not str(id).strip():
            raise PolicyError("%s: an ignore entry needs an 'id' (CVE, AVD or secret rule id)" % source)
        if not reason or not str(reason).strip():
            raise PolicyError("%s: ignore entry %s needs a 'reason' (why it is accepted, by whom)" % (source, id))
        self.id = str(id).strip()
        self.reason = str(reason).strip()
        self.expires = _date(expires, "%s: ignore entry %s" % (source, self.id))
        self.paths = [str(p) for p in paths or []]
        self.packages = [str(p) for p in packages or []]
        self.targets = [str(t) for t in targets or []]
        self.purls = [str(p) for p in purls or []]
        self.kind = kind
        self.source = source
        self.matched = 0

    def expired(self, today):
        return self.expires is not None and self.expires < today

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


def entries_from_params(items):
    entries = []
    for index, item in enumerate(items or []):
        if not isinstance(item, dict):
            raise PolicyError("ignore[%d] must be a mapping with id, reason and expires" % index)
        entries.append(IgnoreEntry(item.get("id"), item.get("reason"), item.get("expires"), item.get("paths"),
                                   item.get("packages"), item.get("targets"), source="ignore[%d]" % index))
    return entries


def parse_trivyignore(text, source=".trivyignore"):
    """Entries of a plain ``.trivyignore`` file; a comment block right above an entry is its reason."""
    entries = []
    comment = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            comment = []
            continue
        if line.startswith("#"):
            comment.append(line.lstrip("#").strip())
            continue
        fields = line.split("#", 1)[0].split()
        where = "%s line %d" % (source, number)
        expires = None
        for field in fields[1:]:
            if field.startswith("exp:"):
                expires = _date(field[4:], where)
            else:
                raise PolicyError("%s: unexpected %r after %s; the format is 'ID [exp:YYYY-MM-DD]'"
                                  % (where, field, fields[0]))
        reason = " ".join(c for c in comment if c) or "listed in %s" % os.path.basename(source)
        entries.append(IgnoreEntry(fields[0], reason, expires, source=where))
        comment = []
    return entries


def parse_trivyignore_yaml(text, source=".trivyignore.yaml"):
    if not HAS_YAML:
        raise PolicyError("%s: reading a YAML ignore file needs PyYAML on the managed host" % source)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError("%s is not valid YAML: %s" % (source, exc))
    if data is None:
        return []
    if not isinstance(data, dict):
        raise PolicyError("%s must be a mapping with sections %s" % (source, ", ".join(YAML_SECTIONS)))
    entries = []
    for section, items in data.items():
        if section not in YAML_SECTIONS:
            raise PolicyError("%s: unknown section %r; use %s" % (source, section, ", ".join(YAML_SECTIONS)))
        if not isinstance(items, list):
            raise PolicyError("%s: section %s must be a list of entries" % (source, section))
        for index, item in enumerate(items):
            where = "%s %s[%d]" % (source, section, index)
            if not isinstance(item, dict) or not item.get("id"):
                raise PolicyError("%s: each entry needs an 'id'" % where)
            for key in ("paths", "purls"):
                if item.get(key) is not None and not isinstance(item[key], list):
                    raise PolicyError("%s: '%s' must be a list" % (where, key))
            entries.append(IgnoreEntry(item["id"], item.get("statement") or "listed in %s" % os.path.basename(source),
                                       item.get("expired_at"), item.get("paths"), purls=item.get("purls"),
                                       kind=YAML_SECTIONS[section], source=where))
    return entries


def load_ignore_file(path):
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
    except (IOError, OSError) as exc:
        raise PolicyError("cannot read ignore file %s: %s" % (path, exc))
    except UnicodeDecodeError:
        raise PolicyError("ignore file %s is not UTF-8 text" % path)
    if path.endswith((".yaml", ".yml")):
        return parse_trivyignore_yaml(text, path)
    return parse_trivyignore(text, path)


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
    pbase, pversion = _strip_purl(product)
    fbase, fversion = _strip_purl(purl)
    return pbase == fbase and (pversion is None or pversion == fversion)


class VexStatement(IgnoreEntry):
    __slots__ = ("products",)

    def __init__(self, id, reason, products, source):
        super(VexStatement, self).__init__(id, reason, source=source)
        self.products = products

    def matches(self, finding):
        if not self.products:
            return True
        purl = finding["details"].get("purl")
        for product in self.products:
            if product == finding.get("target") or purl_matches(product, purl):
                return True
        return False


def parse_openvex(text, source="vex"):
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise PolicyError("OpenVEX document %s is not JSON: %s" % (source, exc))
    if not isinstance(doc, dict) or not isinstance(doc.get("statements"), list):
        raise PolicyError("OpenVEX document %s has no 'statements' list; see https://github.com/openvex/spec" % source)
    entries = []
    for index, stmt in enumerate(doc["statements"]):
        where = "%s statements[%d]" % (source, index)
        if not isinstance(stmt, dict):
            raise PolicyError("%s must be a mapping" % where)
        status = stmt.get("status")
        if status not in VEX_STATUSES:
            raise PolicyError("%s: status %r is not one of %s" % (where, status, ", ".join(VEX_STATUSES)))
        if status not in VEX_SUPPRESSING:
            continue
        vuln = stmt.get("vulnerability")
        names = []
        if isinstance(vuln, dict):
            names = [vuln.get("name") or vuln.get("@id")] + list(vuln.get("aliases") or [])
        elif isinstance(vuln, str):
            names = [vuln]
        names = [n for n in names if n]
        if not names:
            raise PolicyError("%s: 'vulnerability' needs a name" % where)
        products = []
        for product in stmt.get("products") or []:
            pid = product.get("@id") if isinstance(product, dict) else product
            if pid:
                products.append(pid)
            for sub in (product.get("subcomponents") or []) if isinstance(product, dict) else []:
                sid = sub.get("@id") if isinstance(sub, dict) else sub
                if sid:
                    products.append(sid)
        reason = "VEX %s: %s" % (status, stmt.get("justification") or stmt.get("impact_statement")
                                 or stmt.get("status_notes") or "no justification given")
        for name in names:
            entries.append(VexStatement(name, reason, products, where))
    return entries


def load_vex(path):
    try:
        with open(path, "rb") as handle:
            return parse_openvex(handle.read().decode("utf-8", "replace"), path)
    except (IOError, OSError) as exc:
        raise PolicyError("cannot read OpenVEX document %s: %s" % (path, exc))


def apply_ignores(findings, entries, today=None):
    """Set status ``ignored`` on findings an unexpired entry covers; return the expired entries that matched.

    An expired entry does not hide anything: its findings stay open (or whatever another entry says) and
    carry ``details.expired_ignore``.
    """
    today = today or datetime.date.today()
    by_id = {}
    for entry in entries:
        by_id.setdefault(entry.id, []).append(entry)
    if not by_id:
        return []
    expired = {}
    for finding in findings:
        if finding["status"] != "open":
            continue
        candidates = by_id.get(finding["id"], [])
        for alias in finding["details"].get("aliases") or ():
            candidates = candidates + by_id.get(alias, [])
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
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read().decode("utf-8"))
    except (IOError, OSError) as exc:
        raise PolicyError("cannot read baseline report %s: %s" % (path, exc))
    except ValueError as exc:
        raise PolicyError("baseline %s is not JSON (%s); use the 'json' report of an earlier run" % (path, exc))
    items = data.get("findings") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise PolicyError("baseline %s has no 'findings' list; use the 'json' report of an earlier run" % path)
    prints = set()
    for item in items:
        if isinstance(item, dict) and item.get("fingerprint"):
            prints.add(item["fingerprint"])
    return prints


def split_baseline(findings, known):
    """(new findings, number already in the baseline); new ones get ``details.baseline = 'new'``."""
    new = []
    for finding in findings:
        if finding["fingerprint"] in known:
            continue
        finding["details"]["baseline"] = "new"
        new.append(finding)
    return new, len(findings) - len(new)


def parse_threshold(value):
    """``fail_on`` -> canonical severity, or None for ``none``; PolicyError for anything else."""
    if value is None or str(value).strip().lower() in ("none", "never", "off", ""):
        return None
    try:
        return normalize_severity(value)
    except FindingError:
        raise PolicyError("fail_on %r is not a severity; use one of UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL "
                          "(or none to gate on fail_on_ids only)" % (value,))


def gate(findings, fail_on=None, only_fixed=False, fail_on_ids=None):
    """Open findings that fail the gate: at or above ``fail_on`` or listed in ``fail_on_ids``.

    With ``only_fixed`` a vulnerability counts only when a fixed version exists (misconfigurations and
    secrets are always fixable by the owner).
    """
    threshold = SEVERITY_RANK[fail_on] if fail_on else None
    ids = set(fail_on_ids or ())
    failing = []
    for finding in findings:
        if finding["status"] != "open":
            continue
        hit = (threshold is not None and SEVERITY_RANK[finding["severity"]] >= threshold) or finding["id"] in ids
        if not hit and ids:
            hit = any(alias in ids for alias in finding["details"].get("aliases") or ())
        if not hit:
            continue
        if only_fixed and finding["kind"] == "vulnerability" and not finding["details"].get(
                "fixable", bool(finding["location"].get("fixed_version"))):
            continue
        failing.append(finding)
    return failing
