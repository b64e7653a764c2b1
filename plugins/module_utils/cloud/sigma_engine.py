# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sigma rules as Python matchers over CloudTrail records (no pySigma needed here).

A rule arrives as plain data (the "IR" made by sigma_rules.rule_to_ir from pySigma's parsed condition
tree): ``["and", [nodes]]``, ``["or", [nodes]]``, ``["not", node]`` and leaves
``["match", field, op, value]`` (``field`` None = any value of the event, Sigma keywords).

Field semantics follow the Sigma spec: equality is case-insensitive; ``*`` and ``?`` are the only
wildcards (``_`` is literal); a dotted field walks nested objects and every element of a list on the
way (``...AccessControlList.Grant`` is a list or an object) and a JSON-encoded string on the way
(``requestParameters.bucketPolicy`` is an object or a string); a field that is absent matches nothing,
so ``not`` over it is true and a filter on an absent field never drops the event.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import re

_STRING_OPS = ("eq", "contains", "startswith", "endswith")


def _leaves(value, out):
    if isinstance(value, list):
        for item in value:
            _leaves(item, out)
    elif value is not None:
        out.append(value)


def field_values(event, path):
    """Every value at the dotted ``path`` of ``event``, through lists and JSON strings; [] if absent."""
    current = [event]
    for part in path.split("."):
        nxt = []
        for obj in current:
            if isinstance(obj, str) and obj[:1] in ("{", "["):
                try:
                    obj = json.loads(obj)
                except ValueError:
                    continue
            if isinstance(obj, list):
                nxt.extend(x.get(part) for x in obj if isinstance(x, dict))
            elif isinstance(obj, dict):
                nxt.append(obj.get(part))
        current = [x for x in nxt if x is not None]
        if not current:
            return []
    out = []
    for value in current:
        _leaves(value, out)
    return out


def _all_values(event, out):
    if isinstance(event, dict):
        for value in event.values():
            _all_values(value, out)
    elif isinstance(event, list):
        for value in event:
            _all_values(value, out)
    elif event is not None:
        out.append(event)
    return out


def _text(value):
    """A leaf as Sigma compares it: booleans as true/false, numbers as written, objects not at all."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def _string_test(op, want):
    want = want.lower()
    if op == "eq":
        return lambda text: text.lower() == want
    if op == "contains":
        return lambda text: want in text.lower()
    if op == "startswith":
        return lambda text: text.lower().startswith(want)
    return lambda text: text.lower().endswith(want)


def _glob(segments, cased):
    """A Sigma wildcard test in O(text x pattern): ``segments`` are the value split at each ``*``, each a list
    of literal strings and None (one ``?``). The first segment is anchored at the start, the last at the end,
    and each one between placed leftmost - never worse than any other placement - so nothing backtracks."""
    fold = (lambda text: text) if cased else (lambda text: text.lower())
    segments = [[None if item is None else fold(item) for item in seg] for seg in segments]
    sizes = [sum(1 if item is None else len(item) for item in seg) for seg in segments]

    def fits(text, pos, seg):
        for item in seg:
            if item is None:
                pos += 1
            elif not text.startswith(item, pos):
                return False
            else:
                pos += len(item)
        return pos <= len(text)

    def test(text):
        text = fold(text)
        if len(segments) == 1:
            return len(text) == sizes[0] and fits(text, 0, segments[0])
        end = len(text) - sizes[-1]
        if end < sizes[0] or not fits(text, 0, segments[0]) or not fits(text, end, segments[-1]):
            return False
        pos = sizes[0]
        for seg, size in zip(segments[1:-1], sizes[1:-1]):
            while pos + size <= end and not fits(text, pos, seg):
                pos += 1
            if pos + size > end:
                return False
            pos += size
        return True
    return test


def _value_test(op, value):
    """A test of one leaf value (already turned into text where ``op`` compares text)."""
    if op in _STRING_OPS:
        return _string_test(op, value)
    if op == "cased":
        return lambda text: text == value
    if op == "wildcard":
        return _glob(value[0], value[1])
    if op == "re":
        pattern = re.compile(value[0], value[1])
        return lambda text: pattern.search(text) is not None
    if op == "cidr":
        net = ipaddress.ip_network(value, strict=False)

        def in_net(text):
            try:
                return ipaddress.ip_address(text) in net
            except ValueError:
                return False
        return in_net
    raise ValueError("unsupported Sigma operation %r" % op)


def _compare(op, number):
    def test(value):
        if isinstance(value, bool):
            return False
        try:
            value = float(value)
        except (TypeError, ValueError):
            return False
        return {"lt": value < number, "lte": value <= number, "gt": value > number,
                "gte": value >= number, "num": value == number}[op]
    return test


def _leaf(field, op, value):
    get = (lambda e: field_values(e, field)) if field else (lambda e: _all_values(e, []))
    if op == "exists":
        return (lambda e: bool(get(e))) if value else (lambda e: not get(e))
    if op == "null":
        return lambda e: not [v for v in get(e) if _text(v) != ""]
    if op == "fieldref":
        other, mode = value

        def ref(e):
            mine = [t.lower() for t in (_text(v) for v in get(e)) if t is not None]
            theirs = [t.lower() for t in (_text(v) for v in field_values(e, other)) if t is not None]
            if mode == "endswith":
                return any(m.endswith(t) for m in mine for t in theirs)
            if mode == "startswith":
                return any(m.startswith(t) for m in mine for t in theirs)
            return bool(set(mine) & set(theirs))
        return ref
    if op in ("num", "lt", "lte", "gt", "gte"):
        test = _compare(op, value)
        return lambda e: any(test(v) for v in get(e))
    if op == "in":  # case-insensitive set membership (an OR of plain values, merged by _compile)
        wanted = frozenset(v.lower() for v in value)

        def member(e):
            for v in get(e):
                text = _text(v)
                if text is not None and text.lower() in wanted:
                    return True
            return False
        return member
    test = _value_test(op, value)

    def match(e):
        for v in get(e):
            text = _text(v)
            if text is not None and test(text):
                return True
        return False
    return match


def _merge_or(children):
    """An OR of plain equalities on one field becomes one set lookup."""
    by_field, rest = {}, []
    for child in children:
        if child[0] == "match" and child[2] == "eq":
            by_field.setdefault(child[1], []).append(child[3])
        else:
            rest.append(child)
    merged = [["match", f, "in", sorted(set(v))] if len(v) > 1 else ["match", f, "eq", v[0]]
              for f, v in sorted(by_field.items(), key=lambda kv: str(kv[0]))]
    return merged + rest


def compile_node(node):
    """A function ``event -> bool`` for one IR node."""
    kind = node[0]
    if kind == "match":
        return _leaf(node[1], node[2], node[3])
    if kind == "not":
        inner = compile_node(node[1])
        return lambda e: not inner(e)
    if kind == "and":
        parts = [compile_node(c) for c in node[1]]
        return lambda e: all(p(e) for p in parts)
    if kind == "or":
        parts = [compile_node(c) for c in _merge_or(node[1])]
        return lambda e: any(p(e) for p in parts)
    raise ValueError("unsupported Sigma condition node %r" % kind)


def pinned_values(node, field):
    """The set of values ``field`` must equal for ``node`` to match, or None when it is not pinned.

    Used to index rules by eventName (and to pre-filter by eventSource): an AND is pinned when one of
    its parts is, an OR when all of its parts are; a NOT never is.
    """
    kind = node[0]
    if kind == "match":
        if node[1] == field and node[2] == "eq":
            return set([node[3]])
        return None
    if kind == "and":
        found = None
        for child in node[1]:
            values = pinned_values(child, field)
            if values is not None:
                found = values if found is None else found & values
        return found
    if kind == "or":
        out = set()
        for child in node[1]:
            values = pinned_values(child, field)
            if values is None:
                return None
            out |= values
        return out
    return None
