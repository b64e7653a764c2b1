# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reader of Falco filter conditions: structure checks, macro and list references."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError

COMPARISON_OPS = frozenset((
    "=", "==", "!=", "<", "<=", ">", ">=", "contains", "icontains", "bcontains", "startswith",
    "bstartswith", "endswith", "glob", "iglob", "regex",
))
LIST_OPS = frozenset(("in", "intersects", "pmatch"))
UNARY_OPS = frozenset(("exists",))
EXCEPTION_COMPS = COMPARISON_OPS | LIST_OPS
TRANSFORMERS = frozenset(("tolower", "toupper", "b64", "basename", "len", "val", "trim"))
KEYWORDS = frozenset(("and", "or", "not")) | LIST_OPS | UNARY_OPS | frozenset(
    op for op in COMPARISON_OPS if op.isalpha())

_IDENT_START = re.compile(r"[A-Za-z_]")
_FIELD_CHARS = re.compile(r"[A-Za-z0-9_.\-]")
_SYMBOL_OPS = ("==", "!=", "<=", ">=", "=", "<", ">")


class ConditionError(InputError):
    """A condition that does not parse; ``offset`` is the character position."""

    def __init__(self, message, offset):
        super(ConditionError, self).__init__(message)
        self.offset = offset

    def __str__(self):
        return self.msg


class ConditionParser(object):
    """Recursive-descent reader of Falco filter conditions; collects macro and list references.

    It checks structure (balanced parentheses, an operator after every field, a value after every
    comparison, ``(...)`` after ``in``/``intersects``/``pmatch``) without knowing every field of
    every plugin: a dotted name (``proc.name``, ``k8s.ns.name``) is a field, a bare name in the
    place of an expression is a macro reference.
    """

    def __init__(self, text):
        self.text = text or ""
        self.pos = 0
        self.macros = []       # (name, offset)
        self.list_values = []  # (value, offset, field)

    # -- low level ---------------------------------------------------------------------------
    def _ws(self):
        text = self.text
        while self.pos < len(text) and text[self.pos] in " \t\r\n\f\v":
            self.pos += 1

    def _peek(self):
        self._ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _word(self):
        """An identifier-like word ([A-Za-z_][A-Za-z0-9_.-]*) or '' (does not consume on '')."""
        self._ws()
        start = self.pos
        text = self.text
        if self.pos < len(text) and _IDENT_START.match(text[self.pos]):
            self.pos += 1
            while self.pos < len(text) and _FIELD_CHARS.match(text[self.pos]):
                self.pos += 1
        return text[start:self.pos]

    def _keyword_ahead(self, word):
        self._ws()
        end = self.pos + len(word)
        if self.text[self.pos:end] != word:
            return False
        return end >= len(self.text) or not _FIELD_CHARS.match(self.text[end])

    def _quoted(self):
        quote = self.text[self.pos]
        start = self.pos
        self.pos += 1
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\":
                self.pos += 2
                continue
            if char == quote:
                self.pos += 1
                return self.text[start + 1:self.pos - 1]
            self.pos += 1
        raise ConditionError("unterminated %s-quoted string" % ("double" if quote == '"' else "single"), start)

    def _balanced(self, open_char, close_char):
        """Consume from an opening bracket to its matching closing one (quotes respected)."""
        start = self.pos
        depth = 0
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in "\"'":
                self._quoted()
                continue
            if char == open_char:
                depth += 1
            elif char == close_char:
                depth -= 1
                if depth == 0:
                    self.pos += 1
                    return self.text[start:self.pos]
            self.pos += 1
        raise ConditionError("unbalanced '%s'" % open_char, start)

    # -- grammar -----------------------------------------------------------------------------
    def parse(self):
        if not self.text.strip():
            raise ConditionError("empty condition", 0)
        self._or()
        self._ws()
        if self.pos < len(self.text):
            if self.text[self.pos] == ")":
                raise ConditionError("unbalanced ')'", self.pos)
            raise ConditionError("unexpected %r; expected 'and', 'or' or the end of the condition"
                                 % self.text[self.pos:self.pos + 20], self.pos)
        return self

    def _or(self):
        self._and()
        while self._keyword_ahead("or"):
            self.pos += 2
            self._and()

    def _and(self):
        self._not()
        while self._keyword_ahead("and"):
            self.pos += 3
            self._not()

    def _not(self):
        if self._keyword_ahead("not"):
            self.pos += 3
            self._not()
            return
        self._primary()

    def _primary(self):
        char = self._peek()
        if char == "":
            raise ConditionError("the condition ends where an expression is expected", self.pos)
        if char == "(":
            start = self.pos
            self.pos += 1
            self._or()
            if self._peek() != ")":
                raise ConditionError("unbalanced '(': missing ')'", start)
            self.pos += 1
            return
        start = self.pos
        word = self._word()
        if not word:
            raise ConditionError("unexpected %r where a field, macro or '(' is expected"
                                 % self.text[start:start + 20], start)
        if word in KEYWORDS:
            raise ConditionError("operator %r where a field, macro or '(' is expected" % word, start)
        nxt = self.text[self.pos] if self.pos < len(self.text) else ""
        if nxt == "(" and word in TRANSFORMERS:
            self._balanced("(", ")")
            self._operator(word, start)
            return
        if "." in word or nxt == "[":
            if nxt == "[":
                self._balanced("[", "]")
            self._operator(word, start)
            return
        self.macros.append((word, start))

    def _operator(self, field, field_offset):
        self._ws()
        start = self.pos
        for symbol in _SYMBOL_OPS:
            if self.text.startswith(symbol, self.pos):
                self.pos += len(symbol)
                self._value(symbol)
                return
        word = self._word()
        if not word:
            raise ConditionError("field %r is not followed by an operator" % field, field_offset)
        if word in UNARY_OPS:
            return
        if word in LIST_OPS:
            self._value_list(field, word)
            return
        if word in COMPARISON_OPS:
            self._value(word)
            return
        raise ConditionError("unknown operator %r after field %r" % (word, field), start)

    def _value(self, operator):
        self._ws()
        start = self.pos
        if self.pos >= len(self.text):
            raise ConditionError("operator %r is not followed by a value" % operator, start)
        char = self.text[self.pos]
        if char in "\"'":
            self._quoted()
            return
        if char == "(":
            if operator in ("=", "==", "!="):
                # Falco also accepts a parenthesized value list after equality in old rules.
                self._value_list(None, operator)
                return
            raise ConditionError("operator %r takes one value, not a list" % operator, start)
        match = re.match(r"([a-z0-9_]+)\(", self.text[self.pos:])
        if match and match.group(1) in TRANSFORMERS:
            self.pos += len(match.group(1))
            self._balanced("(", ")")
            return
        while self.pos < len(self.text) and self.text[self.pos] not in " \t\r\n)":
            self.pos += 1
        if self.pos == start:
            raise ConditionError("operator %r is not followed by a value" % operator, start)

    def _value_list(self, field, operator):
        if self._peek() != "(":
            raise ConditionError("operator %r must be followed by a parenthesized list" % operator, self.pos)
        open_at = self.pos
        self.pos += 1
        while True:
            char = self._peek()
            if char == "":
                raise ConditionError("unbalanced '(' in the value list of %r" % operator, open_at)
            if char == ")":
                self.pos += 1
                return
            if char == ",":
                self.pos += 1
                continue
            start = self.pos
            if char in "\"'":
                self._quoted()
                continue
            depth = 0
            while self.pos < len(self.text):
                cur = self.text[self.pos]
                if cur == "[":
                    depth += 1
                elif cur == "]":
                    depth -= 1
                elif depth <= 0 and (cur in " \t\r\n," or cur == ")"):
                    break
                self.pos += 1
            self.list_values.append((self.text[start:self.pos], start, field))


def parse_condition(text):
    """Parse ``text``; return (macro names, list-like values) or raise ConditionError."""
    parser = ConditionParser(text).parse()
    return parser.macros, parser.list_values
