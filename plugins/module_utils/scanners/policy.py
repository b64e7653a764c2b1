# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scanner policy files the playbook names, read into ``core.waivers.IgnoreEntry`` objects.

* ``.trivyignore`` (``ID [exp:YYYY-MM-DD]``, ``#`` comments; a comment right above an entry is its reason)
  and ``.trivyignore.yaml`` (sections ``vulnerabilities``, ``misconfigurations``, ``secrets``,
  ``licenses``; ``id``, ``paths``, ``purls``, ``expired_at``, ``statement``). Trivy reads both dates as
  00:00 UTC of that day, so an entry no longer applies on its expiry day (``expires_exclusive``).
* OpenVEX documents: statements with status ``not_affected`` or ``fixed`` hide matching findings, with
  the justification / impact statement as the reason.

The control applies them (with the task's ``ignore`` entries) through ``ControlModule``; gating, expiry
reporting and baselines live in ``core``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.ainative.security.plugins.module_utils.core.errors import PolicyError
from ansible_collections.ainative.security.plugins.module_utils.core.fileio import read_regular_file
from ansible_collections.ainative.security.plugins.module_utils.core.waivers import (
    IgnoreEntry,
    parse_date,
    purl_matches,
)

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML ships with ansible-core
    HAS_YAML = False

YAML_SECTIONS = {"vulnerabilities": "vulnerability", "misconfigurations": "misconfiguration",
                 "secrets": "secret", "licenses": "license"}
VEX_SUPPRESSING = ("not_affected", "fixed")
VEX_STATUSES = ("not_affected", "affected", "fixed", "under_investigation")
POLICY_FILE_LIMIT = 16 << 20


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
                expires = parse_date(field[4:], where)
            else:
                raise PolicyError("%s: unexpected %r after %s; the format is 'ID [exp:YYYY-MM-DD]'"
                                  % (where, field, fields[0]))
        reason = " ".join(c for c in comment if c) or "listed in %s" % os.path.basename(source)
        entries.append(IgnoreEntry(fields[0], reason, expires, source=where, expires_exclusive=True))
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
                                       kind=YAML_SECTIONS[section], source=where, expires_exclusive=True))
    return entries


def _read_text(path, what):
    data = read_regular_file(path, what, limit=POLICY_FILE_LIMIT, error=PolicyError)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError("%s %s is not UTF-8 text" % (what, path))


def load_ignore_file(path):
    text = _read_text(path, "ignore file")
    if path.endswith((".yaml", ".yml")):
        return parse_trivyignore_yaml(text, path)
    return parse_trivyignore(text, path)


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
    return parse_openvex(_read_text(path, "OpenVEX document"), path)
