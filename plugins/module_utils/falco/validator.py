# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Schema and reference checks for Falco rules files, with line-level reasons.

Falco loads rules files in order (the packaged ``falco_rules.yaml`` first, then local files and
``rules.d``); a later file may override or append to what an earlier one defined, and a condition
may use macros and lists defined anywhere in the set. :func:`validate` checks a *set* of documents
the same way, so a custom file is judged together with the files it builds on:

* YAML syntax (with the line and column of the parse error);
* the top level is a list of objects, each exactly one of ``rule``, ``macro``, ``list``,
  ``required_engine_version``, ``required_plugin_versions``;
* required keys (``rule``: condition, desc, output, priority; ``macro``: condition; ``list``: items),
  key types, the priority enum (case-insensitive), ``exceptions`` (name, fields/comps/values shapes),
  ``override`` (allowed keys per object type, ``append``/``replace`` only, every key present and
  covered) and the deprecated ``append: true``;
* conditions are parsed (parentheses, operators, value lists) and every macro reference must
  resolve; macro cycles are refused; overrides, appends and ``enabled``-only entries must target
  an object defined earlier in the load order;
* names in ``in (...)`` lists that look like list names but are not defined get a warning (Falco
  silently treats them as literal strings).

Every problem is a dict ``{file, line, object, code, message}``. This module never raises on bad
input: malformed documents produce errors, not exceptions.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import re

from ansible_collections.ainative.security.plugins.module_utils.core.errors import DependencyError
from ansible_collections.ainative.security.plugins.module_utils.falco.condition import (
    EXCEPTION_COMPS,
    ConditionError,
    parse_condition,
)
from ansible_collections.ainative.security.plugins.module_utils.falco.rules_yaml import (
    HAS_YAML,
    YAML_IMPORT_ERROR,
    load_with_lines,
    make_problem,
)

PRIORITIES = ("EMERGENCY", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFORMATIONAL", "INFO", "DEBUG")

RULE_KEYS = frozenset((
    "rule", "condition", "desc", "output", "priority", "enabled", "tags", "exceptions", "source",
    "warn_evttypes", "skip-if-unknown-filter", "append", "override", "capture", "capture_duration",
))
MACRO_KEYS = frozenset(("macro", "condition", "append", "override"))
LIST_KEYS = frozenset(("list", "items", "append", "override"))
TOP_KEYS = {"rule": RULE_KEYS, "macro": MACRO_KEYS, "list": LIST_KEYS}

OVERRIDE_APPEND = {
    "rule": frozenset(("condition", "output", "desc", "tags", "exceptions")),
    "macro": frozenset(("condition",)),
    "list": frozenset(("items",)),
}
OVERRIDE_REPLACE = {
    "rule": frozenset(("condition", "output", "desc", "priority", "tags", "exceptions", "enabled",
                       "warn_evttypes", "skip-if-unknown-filter", "capture", "capture_duration")),
    "macro": frozenset(("condition",)),
    "list": frozenset(("items",)),
}

# Endings of list names in Falco's own rules files (shell_binaries, known_drop_and_execute_containers, ...).
LIST_SUFFIXES = (
    "_binaries", "_bins", "_procs", "_processes", "_programs", "_commands", "_cmds", "_tools", "_utils",
    "_list", "_lists", "_images", "_containers", "_repositories", "_repos", "_files", "_dirs", "_directories",
    "_paths", "_users", "_names", "_ports", "_hosts", "_domains", "_ips", "_syscalls", "_evttypes",
    "_servers", "_daemons", "_prefixes", "_suffixes",
)
_MACRO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LISTISH = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")
_SEMVER = re.compile(r"^\d+(\.\d+){0,2}$")


def _is_str_list(value):
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


class _Validator(object):
    def __init__(self, engine_version=None):
        self.errors = []
        self.warnings = []
        self.engine_version = engine_version
        # name -> (file, line) of the definition, in load order
        self.rules = {}
        self.macros = {}
        self.lists = {}
        self.macro_refs = {}   # macro name -> set of macro names its condition uses
        self.pending_refs = []  # (file, line, object label, macro name, in_macro)
        self.list_candidates = []  # (file, line, object label, value)
        self.counts = {}  # file -> {"rules", "macros", "lists"}
        self.appending = False
        self.current_files = set()

    def error(self, doc, line, obj, code, message):
        self.errors.append(make_problem(doc, line, obj, code, message))

    def warn(self, doc, line, obj, code, message):
        self.warnings.append(make_problem(doc, line, obj, code, message))

    # -- per object ----------------------------------------------------------------------------
    def check_item(self, doc, line, item, key_lines, duplicates):
        self.appending = False

        def key_line(key):
            return key_lines.get(key, line)

        if not isinstance(item, dict):
            self.error(doc, line, None, "not_an_object",
                       "each entry of a rules file must be a mapping (rule, macro or list), got %s"
                       % type(item).__name__)
            return
        kinds = [k for k in ("rule", "macro", "list", "required_engine_version", "required_plugin_versions")
                 if k in item]
        if len(kinds) != 1:
            if not kinds:
                self.error(doc, line, None, "unknown_object",
                           "unknown top-level object with keys %s: expected one of rule, macro, list, "
                           "required_engine_version, required_plugin_versions"
                           % ", ".join(sorted(str(k) for k in item)))
            else:
                self.error(doc, line, None, "ambiguous_object",
                           "one entry defines several objects (%s); split it into separate list items"
                           % ", ".join(kinds))
            return
        kind = kinds[0]
        for key, dup_line in duplicates:
            self.warn(doc, dup_line, None, "duplicate_key",
                      "key %r appears twice in one object; only the last value is used" % key)
        if kind == "required_engine_version":
            self.check_engine_version(doc, line, item)
            return
        if kind == "required_plugin_versions":
            self.check_plugin_versions(doc, line, item)
            return
        name = item[kind]
        label = "%s %r" % (kind, name)
        if not isinstance(name, str) or not name.strip():
            self.error(doc, key_line(kind), None, "bad_name", "%s name must be a non-empty string" % kind)
            return
        if kind in ("macro", "list") and not _MACRO_NAME.match(name):
            self.warn(doc, key_line(kind), label, "invalid_name",
                      "%s name %r is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*); conditions cannot refer to it"
                      % (kind, name))
        unknown = sorted(str(k) for k in item if k not in TOP_KEYS[kind])
        for key in unknown:
            self.warn(doc, key_line(key), label, "unknown_key",
                      "unknown key %r in a %s (Falco ignores it); allowed keys: %s"
                      % (key, kind, ", ".join(sorted(TOP_KEYS[kind]))))
        registry = {"rule": self.rules, "macro": self.macros, "list": self.lists}[kind]
        existing = registry.get(name)
        if "override" in item:
            override = item["override"] if isinstance(item["override"], dict) else {}
            self.appending = override.get("condition") == "append"
            self.check_override(doc, line, kind, name, label, item, key_line, existing)
        elif item.get("append") is True:
            self.appending = True
            self.warn(doc, key_line("append"), label, "deprecated_append",
                      "'append: true' is deprecated (removed in Falco 1.0); use 'override: {<key>: append}'")
            if existing is None:
                self.error(doc, line, label, "undefined_target",
                           "%s %r has 'append: true' but no %s of that name is defined before it"
                           % (kind, name, kind))
            self.check_fields(doc, line, kind, label, item, key_line, partial=True)
        elif kind == "rule" and set(item) - {"rule", "append"} == {"enabled"}:
            # Falco accepts a bare 'enabled' on an existing rule without a warning (the documented way to
            # disable a packaged rule), so it is no warning here either.
            if existing is None:
                self.error(doc, line, label, "undefined_target",
                           "rule %r has only 'enabled' but no rule of that name is defined before it" % name)
            self.check_fields(doc, line, kind, label, item, key_line, partial=True)
        else:
            if "append" in item and item["append"] not in (True, False):
                self.error(doc, key_line("append"), label, "bad_type", "'append' must be true or false")
            self.check_fields(doc, line, kind, label, item, key_line, partial=False)
            if existing is not None and existing[0] in self.current_files:
                self.warn(doc, line, label, "redefinition",
                          "%s %r is defined again (first at %s line %s); the later definition replaces it"
                          % (kind, name, existing[0], existing[1]))
            registry[name] = (doc, line)
            per_file = self.counts.setdefault(doc, {"rules": 0, "macros": 0, "lists": 0})
            per_file[kind + "s"] += 1

    def check_engine_version(self, doc, line, item):
        value = item["required_engine_version"]
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not _SEMVER.match(str(value)):
            self.error(doc, line, None, "bad_engine_version",
                       "required_engine_version must be an integer or a version like 0.57.0, got %r" % (value,))
            return
        if self.engine_version is not None:
            wanted = _version_tuple(value)
            have = _version_tuple(self.engine_version)
            if wanted > have:
                self.error(doc, line, None, "engine_too_old",
                           "the file requires engine version %s but the target Falco has %s"
                           % (value, self.engine_version))

    def check_plugin_versions(self, doc, line, item):
        value = item["required_plugin_versions"]
        if not isinstance(value, list):
            self.error(doc, line, None, "bad_type", "required_plugin_versions must be a list of {name, version}")
            return
        for entry in value:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) \
                    or not isinstance(entry.get("version"), str):
                self.error(doc, line, None, "bad_plugin_requirement",
                           "each required_plugin_versions entry needs string 'name' and 'version', got %r" % (entry,))
                continue
            for alt in entry.get("alternatives") or []:
                if not isinstance(alt, dict) or not isinstance(alt.get("name"), str) \
                        or not isinstance(alt.get("version"), str):
                    self.error(doc, line, None, "bad_plugin_requirement",
                               "each alternative of plugin %r needs string 'name' and 'version'" % entry["name"])

    def check_override(self, doc, line, kind, name, label, item, key_line, existing):
        override = item["override"]
        oline = key_line("override")
        if "append" in item:
            self.error(doc, key_line("append"), label, "append_and_override",
                       "'append' and 'override' cannot be used together; keep only 'override'")
        if not isinstance(override, dict) or not override:
            self.error(doc, oline, label, "bad_override",
                       "'override' must be a non-empty mapping of key: append|replace")
            return
        if existing is None:
            self.error(doc, line, label, "undefined_target",
                       "%s %r overrides a %s that is not defined before it (load the file that defines it first)"
                       % (kind, name, kind))
        for key, how in override.items():
            if how not in ("append", "replace"):
                self.error(doc, oline, label, "bad_override",
                           "override of %r must be 'append' or 'replace', got %r" % (key, how))
                continue
            allowed = OVERRIDE_APPEND[kind] if how == "append" else OVERRIDE_REPLACE[kind]
            if key not in allowed:
                self.error(doc, oline, label, "bad_override",
                           "a %s cannot %s %r; %s is allowed for: %s"
                           % (kind, how, key, how, ", ".join(sorted(allowed))))
            if key not in item:
                self.error(doc, oline, label, "bad_override",
                           "override names %r but the object has no %r key with the new value" % (key, key))
        name_key = kind
        for key in item:
            if key in (name_key, "override", "append") or key in override:
                continue
            if key in TOP_KEYS[kind]:
                self.error(doc, key_line(key), label, "bad_override",
                           "key %r has no entry in 'override'; add '%s: append' or '%s: replace'"
                           % (key, key, key))
        self.check_fields(doc, line, kind, label, item, key_line, partial=True)

    def check_fields(self, doc, line, kind, label, item, key_line, partial):
        if kind == "rule":
            required = ("condition", "desc", "output", "priority")
        elif kind == "macro":
            required = ("condition",)
        else:
            required = ("items",)
        if not partial:
            missing = [k for k in required if k not in item]
            if missing:
                self.error(doc, line, label, "missing_key",
                           "%s is missing required key%s %s" % (label, "s" if len(missing) > 1 else "",
                                                                ", ".join(missing)))
        for key in ("condition", "desc", "output", "source"):
            if key in item and (not isinstance(item[key], str) or not item[key].strip()):
                self.error(doc, key_line(key), label, "bad_type", "%r must be a non-empty string" % key)
        if "priority" in item and kind == "rule":
            value = item["priority"]
            if not isinstance(value, str) or value.strip().upper() not in PRIORITIES:
                self.error(doc, key_line("priority"), label, "bad_priority",
                           "priority %r is not one of %s (case-insensitive)" % (value, ", ".join(PRIORITIES)))
        for key in ("enabled", "warn_evttypes", "skip-if-unknown-filter", "capture"):
            if key in item and not isinstance(item[key], bool):
                self.error(doc, key_line(key), label, "bad_type", "%r must be true or false" % key)
        if "capture_duration" in item and (isinstance(item["capture_duration"], bool)
                                           or not isinstance(item["capture_duration"], int)):
            self.error(doc, key_line("capture_duration"), label, "bad_type", "'capture_duration' must be an integer")
        if "tags" in item and not _is_str_list(item["tags"]):
            self.error(doc, key_line("tags"), label, "bad_type", "'tags' must be a list of strings")
        if "items" in item and kind == "list":
            items = item["items"]
            if not isinstance(items, list) or not all(
                    isinstance(v, (str, int)) and not isinstance(v, bool) for v in items):
                self.error(doc, key_line("items"), label, "bad_type",
                           "'items' must be a list of strings or numbers")
            else:
                for value in items:
                    if isinstance(value, str) and _LISTISH.match(value):
                        self.list_candidates.append((doc, key_line("items"), label, value))
        if "exceptions" in item and kind == "rule":
            self.check_exceptions(doc, key_line("exceptions"), label, item["exceptions"])
        if "condition" in item and isinstance(item["condition"], str) and item["condition"].strip():
            self.check_condition(doc, key_line("condition"), kind, item.get(kind), label, item["condition"])

    def check_exceptions(self, doc, line, label, exceptions):
        if not isinstance(exceptions, list):
            self.error(doc, line, label, "bad_exceptions", "'exceptions' must be a list")
            return
        seen = set()
        for exc in exceptions:
            if not isinstance(exc, dict):
                self.error(doc, line, label, "bad_exceptions", "each exception must be a mapping with a 'name'")
                continue
            name = exc.get("name")
            if not isinstance(name, str) or not name:
                self.error(doc, line, label, "bad_exceptions", "an exception has no 'name'")
                continue
            where = "exception %r" % name
            if name in seen:
                self.warn(doc, line, label, "duplicate_exception", "%s is listed twice" % where)
            seen.add(name)
            unknown = sorted(str(k) for k in exc if k not in ("name", "fields", "comps", "values"))
            if unknown:
                self.error(doc, line, label, "bad_exceptions",
                           "%s has unknown keys %s (allowed: name, fields, comps, values)" % (where, ", ".join(unknown)))
            fields = exc.get("fields")
            comps = exc.get("comps")
            values = exc.get("values")
            if fields is None:
                if "fields" in exc or values:
                    self.error(doc, line, label, "bad_exceptions", "%s needs 'fields'" % where)
                continue
            if isinstance(fields, str):
                if comps is not None and (not isinstance(comps, str) or comps not in EXCEPTION_COMPS):
                    self.error(doc, line, label, "bad_exceptions",
                               "%s: with a single field, 'comps' must be one operator such as in, pmatch, "
                               "intersects or =, got %r" % (where, comps))
                if values is not None and not isinstance(values, list):
                    self.error(doc, line, label, "bad_exceptions", "%s: 'values' must be a list" % where)
                continue
            if not _is_str_list(fields) or not fields:
                self.error(doc, line, label, "bad_exceptions", "%s: 'fields' must be a field name or a list of them"
                           % where)
                continue
            if comps is not None:
                if not _is_str_list(comps):
                    self.error(doc, line, label, "bad_exceptions", "%s: 'comps' must be a list of operators" % where)
                elif len(comps) != len(fields):
                    self.error(doc, line, label, "bad_exceptions",
                               "%s has %d fields but %d comps; they must have the same length"
                               % (where, len(fields), len(comps)))
                else:
                    bad = [c for c in comps if c not in EXCEPTION_COMPS]
                    if bad:
                        self.error(doc, line, label, "bad_exceptions", "%s: unknown comparison operator(s) %s"
                                   % (where, ", ".join(bad)))
            if values is None:
                continue
            if not isinstance(values, list):
                self.error(doc, line, label, "bad_exceptions", "%s: 'values' must be a list of tuples" % where)
                continue
            for index, value in enumerate(values):
                if not isinstance(value, list) or len(value) != len(fields):
                    self.error(doc, line, label, "bad_exceptions",
                               "%s: value #%d must be a list of %d item(s), one per field, got %r"
                               % (where, index + 1, len(fields), value))

    def check_condition(self, doc, line, kind, name, label, condition):
        prefix = ""
        if self.appending:
            # An appended condition is a fragment ("and not ...") that Falco adds to the existing one.
            prefix = "evt.num=0 " if re.match(r"^\s*(and|or)\b", condition) else "evt.num=0 and "
        try:
            macros, list_values = parse_condition(prefix + condition)
        except ConditionError as exc:
            exc.offset = max(0, exc.offset - len(prefix))
            offset_line = line + condition[:exc.offset].count("\n")
            self.error(doc, offset_line, label, "bad_condition",
                       "condition does not parse: %s (near %r)" % (exc, condition[exc.offset:exc.offset + 30].strip()))
            return
        if kind == "macro":
            self.macro_refs.setdefault(name, set()).update(ref[0] for ref in macros)
        for macro, _offset in macros:
            self.pending_refs.append((doc, line, label, macro))
        for value, _offset, field in list_values:
            if field in ("evt.type", "syscall.type"):
                continue
            if _LISTISH.match(value):
                self.list_candidates.append((doc, line, label, value))

    # -- whole set -----------------------------------------------------------------------------
    def finish(self):
        for doc, line, label, macro in self.pending_refs:
            if macro in self.macros:
                continue
            hint = ""
            if macro in self.lists:
                hint = " (%r is a list: use it inside 'in (...)')" % macro
            self.error(doc, line, label, "undefined_macro",
                       "condition uses macro %r, which is not defined in this file or the files loaded before it%s"
                       % (macro, hint))
        reported = set()
        for doc, line, label, value in self.list_candidates:
            if value in self.lists or value in self.macros or (doc, line, value) in reported:
                continue
            # Plain binary names (google_accounts_daemon, update_engine) are literals; only a name that is
            # named like a list, or is close to a defined one (a typo), is probably a missing list.
            close = difflib.get_close_matches(value, self.lists, n=1, cutoff=0.85)
            if not close and not value.endswith(LIST_SUFFIXES):
                continue
            reported.add((doc, line, value))
            self.warn(doc, line, label, "undefined_list",
                      "%r looks like a list name but no list of that name is defined%s; Falco will compare "
                      "against the literal string" % (value, " (did you mean %r?)" % close[0] if close else ""))
        self.check_cycles()

    def check_cycles(self):
        state = {}
        for start in sorted(self.macro_refs):
            if state.get(start):
                continue
            stack = [(start, iter(sorted(self.macro_refs.get(start, ()))))]
            path = [start]
            state[start] = 1
            while stack:
                node, children = stack[-1]
                child = next(children, None)
                if child is None:
                    state[node] = 2
                    stack.pop()
                    path.pop()
                    continue
                if child not in self.macro_refs:
                    continue
                if state.get(child) == 1:
                    cycle = path[path.index(child):] + [child]
                    doc, line = self.macros.get(child, (None, None))
                    self.error(doc, line, "macro %r" % child, "macro_cycle",
                               "macros refer to each other in a cycle: %s" % " -> ".join(cycle))
                    continue
                if not state.get(child):
                    state[child] = 1
                    stack.append((child, iter(sorted(self.macro_refs.get(child, ())))))
                    path.append(child)


def _version_tuple(value):
    parts = [int(p) for p in str(value).split(".")]
    if len(parts) == 1:
        # Integer engine versions (<= 0.26) predate semver; they map onto 0.<n>.0.
        return (0, parts[0], 0)
    while len(parts) < 3:
        parts.append(0)
    return tuple(parts)


def validate(documents, engine_version=None, checked=None):
    """Validate rules documents in load order.

    ``documents`` is a list of ``(name, text)``; ``checked`` (names) limits which documents' errors
    and warnings are reported (the others are context, such as the packaged rules). Returns
    ``{"valid", "errors", "warnings", "counts"}``.
    """
    if not HAS_YAML:
        raise DependencyError("PyYAML is required to validate Falco rules: %s" % YAML_IMPORT_ERROR)
    validator = _Validator(engine_version=engine_version)
    parse_problems = []
    for name, text in documents:
        validator.current_files.add(name)
        doc = load_with_lines(name, text, parse_problems)
        if doc is None:
            continue
        for line, item, key_lines, duplicates in doc.items:
            validator.check_item(name, line, item, key_lines, duplicates)
    validator.finish()
    errors = parse_problems + validator.errors
    warnings = validator.warnings
    if checked is not None:
        wanted = set(checked)
        for problem in errors:
            if problem["file"] not in wanted and problem["code"] in ("yaml_parse", "not_a_list"):
                context = dict(problem, code="base_unreadable", message="a rules file loaded before this one does "
                               "not parse, so its macros and lists are not in scope: %s" % problem["message"])
                warnings.append(context)
        errors = [e for e in errors if e["file"] in wanted]
        warnings = [w for w in warnings if w["file"] in wanted or w["code"] == "base_unreadable"]
    errors.sort(key=lambda p: (str(p["file"]), p["line"] or 0))
    warnings.sort(key=lambda p: (str(p["file"]), p["line"] or 0))
    counts = {"rules": 0, "macros": 0, "lists": 0}
    for name, per_file in validator.counts.items():
        if checked is None or name in checked:
            for key in counts:
                counts[key] += per_file[key]
    return {"valid": not errors, "errors": errors, "warnings": warnings, "counts": counts}


def format_problem(problem):
    """``file:line: object: message`` for humans."""
    where = str(problem.get("file") or "<rules>")
    if problem.get("line"):
        where += ":%s" % problem["line"]
    obj = problem.get("object")
    return "%s: %s%s" % (where, "%s: " % obj if obj else "", problem["message"])
