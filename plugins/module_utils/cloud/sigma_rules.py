# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sigma rule files for ``cloudtrail_hunt``: parse and validate them with pySigma, turn each rule into
plain data (its metadata and its parsed condition tree, see sigma_engine) and say why a rule is refused.

The built-in rules (``rules/cloudtrail/*.yml`` in the collection) are converted once, at development
time, into sigma_builtin.py: a module_utils file travels inside the AnsiballZ payload, a folder of YAML
files does not, and the module then needs neither pySigma nor its 0.4 s import to run them. A unit test
keeps the generated file equal to the conversion of the rule files. pySigma is needed on the host only
for a user's own rules (option ``rules``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

try:
    import yaml
    from sigma import conditions as sc
    from sigma import types as st
    from sigma.collection import SigmaCollection
    from sigma.correlations import SigmaCorrelationRule, SigmaCorrelationType
    from sigma.exceptions import SigmaError, SigmaRuleLocation
    from sigma.validation import SigmaValidator
    from sigma.validators.base import SigmaValidationIssueSeverity
    from sigma.validators.core import validators as CORE_VALIDATORS
    HAS_PYSIGMA = True
except ImportError:
    HAS_PYSIGMA = False

from ansible_collections.ainative.security.plugins.module_utils.cloud.sigma_engine import pinned_values

# The first two download MITRE data (a hunt runs offline); the others check SigmaHQ's file-naming
# conventions, not what a rule means, and a team's folders may well reuse a file name or title.
SKIPPED_VALIDATORS = ("attacktag", "d3_fendtag", "filename_length", "duplicate_filename", "duplicate_title")

SEVERITY = {"informational": "INFO", "low": "LOW", "medium": "MEDIUM", "high": "HIGH", "critical": "CRITICAL"}

# A user's rule file larger than this is refused unread (SigmaHQ's largest rules are a few kB).
MAX_RULE_FILE_BYTES = 1024 * 1024

_TECHNIQUE = re.compile(r"^attack\.(t\d{4}(\.\d{3})?)$")


class RuleError(Exception):
    """A rule that cannot run here (an unsupported value type or correlation)."""


# --- pySigma's parsed condition tree -> plain data ----------------------------------------------

def _wildcard_segments(parts):
    """The value split at each ``*``: segments of literal strings and None (one ``?``), for the engine's linear
    glob (a regex of several ``.*`` backtracks polynomially: five of them take a minute on 100 characters)."""
    segments = [[]]
    for part in parts:
        if part == st.SpecialChars.WILDCARD_MULTI:
            segments.append([])
        elif part == st.SpecialChars.WILDCARD_SINGLE:
            segments[-1].append(None)
        else:
            segments[-1].append(part)
    return segments


def _string_leaf(field, value):
    cased = isinstance(value, st.SigmaCasedString)
    parts = list(value.s)
    if any(not isinstance(p, (str, st.SpecialChars)) for p in parts):
        raise RuleError("placeholders (%%name%%) are not supported: %s" % value.original)
    if not value.contains_special():
        return ["match", field, "cased" if cased else "eq", "".join(parts)]
    if not cased:
        inner = parts[1:-1]
        plain_inner = inner and all(isinstance(p, str) for p in inner)
        multi = st.SpecialChars.WILDCARD_MULTI
        if len(parts) == 3 and parts[0] == multi and parts[-1] == multi and plain_inner:
            return ["match", field, "contains", inner[0]]
        if len(parts) == 2 and parts[-1] == multi and isinstance(parts[0], str):
            return ["match", field, "startswith", parts[0]]
        if len(parts) == 2 and parts[0] == multi and isinstance(parts[1], str):
            return ["match", field, "endswith", parts[1]]
    return ["match", field, "wildcard", [_wildcard_segments(parts), cased]]


# re's own parser (re._parser from Python 3.11, re.sre_parse before) tells a pattern's structure
sre_parse = getattr(re, "_parser", None) or getattr(re, "sre_parse")
_REPEATS = (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT) + tuple(
    getattr(sre_parse, n) for n in ("POSSESSIVE_REPEAT",) if hasattr(sre_parse, n))


def _backtracking(items, repeated=False):
    """Why ``re`` may backtrack exponentially on this parsed pattern (it has no timeout), or None."""
    for op, arg in items:
        if op in (sre_parse.GROUPREF, sre_parse.GROUPREF_EXISTS):
            return "a backreference"
        if op == sre_parse.BRANCH and repeated:
            return "an alternation under a quantifier"
        if op in _REPEATS and arg[1] > 1 and repeated:
            return "a nested quantifier"
        if op in _REPEATS:
            subs = [(arg[2], arg[1] > 1 or repeated)]
        elif op == sre_parse.SUBPATTERN:
            subs = [(arg[-1], repeated)]
        elif op == sre_parse.BRANCH:
            subs = [(b, repeated) for b in arg[1]]
        elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            subs = [(arg[1], repeated)]
        elif op == getattr(sre_parse, "ATOMIC_GROUP", None):
            subs = [(arg, repeated)]
        else:
            subs = []
        for sub, rep in subs:
            why = _backtracking(sub, rep)
            if why:
                return why
    return None


def _unbounded(items):
    """How many unbounded quantifiers (``*``, ``+``, ``{n,}``) the parsed pattern has."""
    count = 0
    for op, arg in items:
        for sub in (arg if isinstance(arg, (list, tuple)) else [arg]):
            if isinstance(sub, sre_parse.SubPattern):
                count += _unbounded(sub)
            elif isinstance(sub, (list, tuple)):
                count += sum(_unbounded(x) for x in sub if isinstance(x, sre_parse.SubPattern))
        if op in _REPEATS and arg[1] == sre_parse.MAXREPEAT:
            count += 1
    return count


def _regex_leaf(field, value):
    flags = 0
    for flag in value.flags:
        flags |= int(st.SigmaRegularExpression.sigma_to_python_flags[flag])
    pattern = value.regexp.original
    parsed = sre_parse.parse(pattern, flags)
    why = _backtracking(parsed)
    if not why and _unbounded(parsed) > 1:
        # a search with two (.*a.*b) is cubic: 4,000 characters take 40 s; a wildcard value (*a*b*) is linear
        why = "more than one unbounded quantifier (use a wildcard value instead)"
    if why:
        raise RuleError("the regular expression %r has %s, so it can backtrack catastrophically" % (pattern, why))
    return ["match", field, "re", [pattern, flags]]


_COMPARE = {"LT": "lt", "LTE": "lte", "GT": "gt", "GTE": "gte"}


def _value_leaf(field, value):
    if isinstance(value, st.SigmaString):
        return _string_leaf(field, value)
    if isinstance(value, st.SigmaBool):
        return ["match", field, "eq", "true" if value.boolean else "false"]
    if isinstance(value, st.SigmaNumber):
        return ["match", field, "num", value.number]
    if isinstance(value, st.SigmaNull):
        return ["match", field, "null", None]
    if isinstance(value, st.SigmaExists):
        return ["match", field, "exists", bool(value.exists)]
    if isinstance(value, st.SigmaRegularExpression):
        return _regex_leaf(field, value)
    if isinstance(value, st.SigmaCIDRExpression):
        return ["match", field, "cidr", value.cidr]
    if isinstance(value, st.SigmaCompareExpression):
        return ["match", field, _COMPARE[value.op.name], value.number.number]
    if isinstance(value, st.SigmaFieldReference):
        mode = "startswith" if value.starts_with else "endswith" if value.ends_with else "eq"
        return ["match", field, "fieldref", [value.field, mode]]
    if isinstance(value, st.SigmaExpansion):
        return ["or", [_value_leaf(field, v) for v in value.values]]
    raise RuleError("the value type %s is not supported" % type(value).__name__)


def condition_ir(node):
    """Plain data for one node of ``SigmaCondition.parsed``."""
    if isinstance(node, sc.ConditionAND):
        return ["and", [condition_ir(a) for a in node.args]]
    if isinstance(node, sc.ConditionOR):
        return ["or", [condition_ir(a) for a in node.args]]
    if isinstance(node, sc.ConditionNOT):
        return ["not", condition_ir(node.args[0])]
    if isinstance(node, sc.ConditionFieldEqualsValueExpression):
        return _value_leaf(node.field, node.value)
    if isinstance(node, sc.ConditionValueExpression):
        return _value_leaf(None, node.value)
    raise RuleError("the condition element %s is not supported" % type(node).__name__)


def _technique(tags):
    tech = tactic = None
    for tag in tags:
        found = _TECHNIQUE.match(tag)
        if found and tech is None:
            tech = found.group(1).upper()
        elif tag.startswith("attack.") and not found and tactic is None and not re.match(r"^attack\.[gs]\d{4}$", tag):
            tactic = tag[len("attack."):]
    return tech, tactic


def rule_ir(rule, path=None):
    """A rule (or correlation rule) as plain data: what findings carry and what the engine runs."""
    if not rule.id:
        raise RuleError("the rule has no id: findings carry it, so it must be set (a UUID)")
    tags = [str(t) for t in rule.tags]
    tech, tactic = _technique(tags)
    level = rule.level.name.lower() if rule.level else "medium"
    out = {
        "id": rule.name or str(rule.id),
        "rule_id": str(rule.id),
        "name": rule.name,
        "title": rule.title,
        "description": rule.description or rule.title,
        "level": level,
        "severity": SEVERITY.get(level, "MEDIUM"),
        "status": rule.status.name.lower() if rule.status else None,
        "attack_tags": tags,
        "hunt_tags": list(rule.custom_attributes.get("hunt_tags") or []),
        "technique": tech,
        "tactic": tactic,
        "falsepositives": list(rule.falsepositives or []),
        "references": list(rule.references or []),
        "file": os.path.basename(path) if path else None,
    }
    if isinstance(rule, SigmaCorrelationRule):
        if rule.type != SigmaCorrelationType.EVENT_COUNT:
            raise RuleError("correlation type %s is not supported (only event_count)" % rule.type.name.lower())
        out["correlation"] = {"type": "event_count", "rules": [r.reference for r in rule.rules],
                              "group_by": list(rule.group_by or []), "timespan": rule.timespan.seconds,
                              "op": rule.condition.op.name.lower(), "count": rule.condition.count,
                              "generate": bool(rule.generate)}
        out["condition"] = None
        out["event_names"] = out["event_sources"] = None
        return out
    trees = [condition_ir(c.parsed) for c in rule.detection.parsed_condition]
    out["condition"] = trees[0] if len(trees) == 1 else ["or", trees]
    names = pinned_values(out["condition"], "eventName")
    out["event_names"] = sorted(names) if names else None
    sources = pinned_values(out["condition"], "eventSource")
    out["event_sources"] = sorted(sources) if sources else None
    out["correlation"] = None
    return out


# --- files ----------------------------------------------------------------------------------------

def rule_files(paths):
    """``.yml``/``.yaml`` files named or found under folders (sorted); a path that does not exist is named."""
    files, missing = [], []
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, names in os.walk(path):
                dirs.sort()
                files.extend(os.path.join(root, n) for n in sorted(names) if n.endswith((".yml", ".yaml")))
        elif os.path.isfile(path):
            files.append(path)
        else:
            missing.append(path)
    return files, missing


def _reason(exc):
    """The message alone: pySigma appends the file (we report it apart), YAML the marks (we report the line)."""
    if isinstance(exc, yaml.YAMLError) and getattr(exc, "problem", None):
        return " ".join(x for x in (getattr(exc, "context", None), exc.problem) if x)
    return str(exc.args[0]) if exc.args else type(exc).__name__


def _where(exc):
    source = getattr(exc, "source", None)
    line = getattr(source, "line", None)
    mark = getattr(exc, "problem_mark", None)
    if line is None and mark is not None:
        line = mark.line + 1
    return line


def _line_of(path, reason):
    """pySigma gives no line for most rule errors: the first line naming what the reason quotes."""
    quoted = re.search(r"'([^']+)'", reason)
    if not path or not quoted:
        return None
    try:
        with open(path, "rb") as handle:
            lines = handle.read().decode("utf-8", "replace").splitlines()
    except (IOError, OSError):
        return None
    for number, text in enumerate(lines, 1):
        if quoted.group(1) in text:
            return number
    return None


def _refusal(path, reason, line=None, rule=None):
    line = line or _line_of(path, reason)
    return {"file": path, "line": line, "id": (rule.name or (str(rule.id) if rule.id else None)) if rule else None,
            "title": rule.title if rule else None, "reason": reason}


def _validator():
    chosen = dict((k, v) for k, v in CORE_VALIDATORS.items() if k not in SKIPPED_VALIDATORS)
    return SigmaValidator(chosen.values())


def _logsource_ok(rule):
    ls = rule.logsource
    return (ls.product or "").lower() == "aws" and (ls.service or "cloudtrail").lower() == "cloudtrail"


def _first_alias(text):
    """The line of the first YAML alias: pySigma would expand every one (a few kB can become GBs)."""
    for token in yaml.scan(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        if isinstance(token, yaml.AliasToken):
            return token.start_mark.line + 1
    return None


def load_collection(paths):
    """Parse and validate rule files; returns (collection, refused) with pySigma's reasons."""
    refused = []
    parts = []
    files, missing = rule_files(paths)
    for path in missing:
        refused.append(_refusal(path, "no such file or folder"))
    for path in files:
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_RULE_FILE_BYTES + 1)
            if len(data) > MAX_RULE_FILE_BYTES:
                refused.append(_refusal(path, "the file is larger than %d bytes" % MAX_RULE_FILE_BYTES))
                continue
            text = data.decode("utf-8")
            alias = _first_alias(text)
            if alias:
                refused.append(_refusal(path, "YAML aliases (*name) are not allowed in rule files", alias))
                continue
            coll = SigmaCollection.from_yaml(text, collect_errors=True, source=SigmaRuleLocation(path),
                                             resolve_references=False)
        except (yaml.YAMLError, SigmaError, UnicodeDecodeError, OSError) as exc:
            refused.append(_refusal(path, _reason(exc), _where(exc)))
            continue
        rule_errors = set(_reason(e) for r in coll.rules for e in r.errors)
        for exc in coll.errors:
            if _reason(exc) not in rule_errors:  # the collection repeats each rule's errors
                refused.append(_refusal(path, _reason(exc), _where(exc)))
        good = []
        for rule in coll.rules:
            if rule.errors:
                exc = rule.errors[0]
                refused.append(_refusal(path, _reason(exc), _where(exc), rule))
            elif not isinstance(rule, SigmaCorrelationRule) and not _logsource_ok(rule):
                refused.append(_refusal(path, "logsource is not product aws, service cloudtrail", rule=rule))
            else:
                rule.source_path = path
                good.append(rule)
        parts.append(good)
    merged = SigmaCollection([r for part in parts for r in part], resolve_references=False)
    bad = set()
    for issue in _validator().validate_rules(iter(merged.rules)):
        if issue.severity == SigmaValidationIssueSeverity.HIGH:
            for rule in issue.rules:
                bad.add(id(rule))
                named = [(k, v) for k, v in sorted(vars(issue).items()) if k not in ("rules", "severity")]
                path = getattr(rule, "source_path", None)
                words = [v for _k, v in named if isinstance(v, str)]
                refused.append(_refusal(path, "%s (pySigma %s%s)" % (
                    issue.description, type(issue).__name__, ": " + ", ".join("%s %s" % kv for kv in named) if named else ""),
                    _line_of(path, "'%s'" % words[0]) if words else None, rule))
    # correlation references are resolved by the caller, by rule name or id
    keep = SigmaCollection([r for r in merged.rules if id(r) not in bad], resolve_references=False)
    return keep, refused


def load_rules(paths):
    """Rules as plain data from files or folders: (loaded, refused), each refusal with file, line and reason."""
    collection, refused = load_collection(paths)
    loaded = []
    for rule in collection.rules:
        path = getattr(rule, "source_path", None)
        try:
            entry = rule_ir(rule, path)
        except (RuleError, SigmaError) as exc:  # the condition is parsed only now
            refused.append(_refusal(path, _reason(exc), _where(exc), rule))
            continue
        entry["file"] = path
        loaded.append(entry)
    return loaded, refused


def builtin_source(rule_dir):
    """The text of sigma_builtin.py for the rule files in ``rule_dir`` (see the module docstring)."""
    import pprint
    loaded, refused = load_rules([rule_dir])
    if refused:
        raise RuleError("built-in rules refused: %s" % refused)
    for entry in loaded:
        entry["file"] = os.path.basename(entry["file"])
    body = "".join("    %s,\n" % pprint.pformat(entry, width=116, sort_dicts=True).replace("\n", "\n    ")
                   for entry in loaded)
    return ("# -*- coding: utf-8 -*-\n"
            "# Copyright: ainative.security contributors\n"
            "# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)\n"
            "# GENERATED from rules/cloudtrail/*.yml by tests/unit/plugins/module_utils/test_sigma_rules.py --write;"
            " do not edit.\n"
            "\"\"\"The built-in Sigma rules of cloudtrail_hunt, parsed by pySigma (see sigma_rules.py).\"\"\"\n\n"
            "from __future__ import absolute_import, division, print_function\n\n"
            "__metaclass__ = type\n\n"
            "RULES = [\n%s]\n" % body)
