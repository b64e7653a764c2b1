# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sigma rules (the plain-data condition trees of sigma_rules / sigma_builtin) as Trino SQL (Athena).

Hand-written because no pySigma backend targets Athena or Trino. The SQL keeps the fast path's
semantics (sigma_engine) over the CloudTrail table AWS documents for Athena: top-level fields are string
columns, ``userIdentity`` and ``tlsDetails`` structs, ``resources`` an array of structs, and
``requestParameters``, ``responseElements``, ``additionalEventData`` and ``serviceEventDetails`` JSON
text, walked with json_parse / json_extract through lists and JSON-encoded strings as the fast path does.

- Every leaf is wrapped in COALESCE(..., FALSE): a missing field is false, never NULL, so ``not`` over
  it is true and a filter on an absent field never drops the event.
- Equality is lower() = lower(); ``*``/``?`` become LIKE ``%``/``_`` with ``%``, ``_`` and ``\\`` of the
  value escaped (``_`` stays literal); contains/startswith/endswith are LIKE too.
- Literals are single-quoted with quotes doubled (Trino and DuckDB take backslashes literally).

Refused (NotCompilable, a coverage miss, never a silently dropped rule): keyword rules (no field),
fields that are not columns of the documented table (names are case-sensitive, as in the fast path),
the map ``webIdFederationData.attributes``, IPv6 CIDRs, regular expressions with Python-only syntax or
flags, NUL characters. Lists nested more than three deep at a field's end are not flattened further.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import math
import re

# Top-level record fields stored as string columns (readOnly is the string 'true'/'false').
SCALAR_COLUMNS = dict((name, name.lower()) for name in (
    "eventVersion", "eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress", "userAgent",
    "errorCode", "errorMessage", "requestID", "eventID", "readOnly", "eventType", "apiVersion",
    "recipientAccountId", "sharedEventID", "vpcEndpointId", "eventCategory"))
JSON_COLUMNS = dict((name, name.lower()) for name in (
    "requestParameters", "responseElements", "additionalEventData", "serviceEventDetails"))
_ISSUER = dict((k, k.lower()) for k in ("type", "principalId", "arn", "accountId", "userName"))
STRUCTS = {
    "userIdentity": ("useridentity", {
        "type": "type", "principalId": "principalid", "arn": "arn", "accountId": "accountid",
        "invokedBy": "invokedby", "accessKeyId": "accesskeyid", "userName": "username",
        "onBehalfOf": ("onbehalfof", {"userId": "userid", "identityStoreArn": "identitystorearn"}),
        "sessionContext": ("sessioncontext", {
            "attributes": ("attributes", {"mfaAuthenticated": "mfaauthenticated", "creationDate": "creationdate"}),
            "sessionIssuer": ("sessionissuer", _ISSUER),
            "ec2RoleDelivery": "ec2roledelivery",
            "webIdFederationData": ("webidfederationdata", {"federatedProvider": "federatedprovider"})})}),
    "tlsDetails": ("tlsdetails", {"tlsVersion": "tlsversion", "cipherSuite": "ciphersuite",
                                  "clientProvidedHostHeader": "clientprovidedhostheader"}),
}
RESOURCE_FIELDS = {"ARN": "arn", "accountId": "accountid", "type": "type"}
LEAF_DEPTH = 3

_PY_FLAGS = {re.IGNORECASE: "i", re.MULTILINE: "m", re.DOTALL: "s"}
_IPV4 = r"^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$"
_BAD_KEY = re.compile(r"[\"'\\\[\]*\x00-\x1f]")


class NotCompilable(Exception):
    """A rule (or one of its leaves) that this compiler cannot express in SQL with the fast path's meaning."""


def literal(text):
    """A SQL string literal: quotes doubled; a NUL is refused (neither engine stores one)."""
    text = "%s" % (text,)
    if "\x00" in text:
        raise NotCompilable("a value holds a NUL character")
    return "'%s'" % text.replace("'", "''")


def like_escape(text):
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(expr, pattern):
    return "%s LIKE %s ESCAPE '\\'" % (expr, literal(pattern))


class _Names:
    """Fresh lambda variable names, so nested lambdas never shadow each other."""

    def __init__(self):
        self.count = 0

    def __call__(self):
        self.count += 1
        return "v%d" % self.count


def _is_text_of(expr):
    """JSON -> its text as the fast path's _text: scalars as written, objects and arrays NULL."""
    return ("CASE WHEN json_format(%s) LIKE '{%%' OR json_format(%s) LIKE '[%%' THEN NULL "
            "ELSE json_extract_scalar(%s, '$') END" % (expr, expr, expr))


def _json_key(key):
    if not key or _BAD_KEY.search(key):
        raise NotCompilable("the field part %r cannot be a JSON path key" % key)
    return "'$[\"%s\"]'" % key


def _json_step(arr, key, names):
    """One dotted part: decode JSON-encoded strings, then the key of an object or of each object of a list."""
    a, b, c, d = names(), names(), names(), names()
    path = _json_key(key)
    decoded = ("transform(%s, %s -> CASE WHEN json_format(%s) LIKE '\"{%%' OR json_format(%s) LIKE '\"[%%' "
               "THEN try(json_parse(json_extract_scalar(%s, '$'))) ELSE %s END)" % (arr, a, a, a, a, a))
    stepped = ("flatten(transform(%s, %s -> CASE WHEN json_format(%s) LIKE '[%%' "
               "THEN transform(CAST(%s AS ARRAY(JSON)), %s -> json_extract(%s, %s)) "
               "ELSE ARRAY[json_extract(%s, %s)] END))" % (decoded, b, b, b, c, c, path, b, path))
    return "filter(%s, %s -> %s IS NOT NULL AND json_format(%s) <> 'null')" % (stepped, d, d, d)


def _json_leaves(arr, names):
    for _level in range(LEAF_DEPTH):
        e = names()
        arr = ("flatten(transform(%s, %s -> CASE WHEN json_format(%s) LIKE '[%%' THEN CAST(%s AS ARRAY(JSON)) "
               "ELSE ARRAY[%s] END))" % (arr, e, e, e, e))
    f = names()
    return "filter(%s, %s -> %s IS NOT NULL AND json_format(%s) <> 'null')" % (arr, f, f, f)


class Field:
    """Where a Sigma field lives: ``scalar`` (one string expression, NULL when absent) or a list of texts."""

    def __init__(self, scalar=None, texts=None, raw=None):
        self.scalar = scalar
        self.texts = texts  # array(varchar), no NULLs
        self.raw = raw      # array(json) of the values (objects too), for exists/null; None: same as texts

    def as_texts(self, names):
        if self.texts is not None:
            return self.texts
        v = names()
        return "filter(ARRAY[%s], %s -> %s IS NOT NULL)" % (self.scalar, v, v)


def _struct(path, column, fields):
    expr = column
    for part in path:
        if not isinstance(fields, dict) or part not in fields:
            raise NotCompilable("the field %s is not in the Athena CloudTrail table" % ".".join(path))
        entry = fields[part]
        if isinstance(entry, tuple):
            expr, fields = "%s.%s" % (expr, entry[0]), entry[1]
        else:
            expr, fields = "%s.%s" % (expr, entry), None
    if fields is not None:
        raise NotCompilable("the field %s is a struct, not a value" % ".".join(path))
    return expr


class Compiler:
    """Compiles conditions; each JSON or list field is computed once, as a column of an inner SELECT
    (``derived``: alias -> expression), so a field many rules test costs one walk and the SQL stays small."""

    def __init__(self):
        self.names = _Names()
        self.derived = []
        self._fields = {}

    def _derive(self, expr):
        alias = "f%d" % (len(self.derived) + 1)
        self.derived.append((alias, expr))
        return alias

    def resolve(self, field):
        """The Field of a dotted Sigma field name."""
        if field not in self._fields:
            self._fields[field] = self._resolve(field)
        return self._fields[field]

    def _resolve(self, field):
        names = self.names
        if not field:
            raise NotCompilable("keyword rules (values without a field) cannot be compiled to SQL")
        parts = field.split(".")
        head, rest = parts[0], parts[1:]
        if head in SCALAR_COLUMNS and not rest:
            return Field(scalar=SCALAR_COLUMNS[head])
        if head in STRUCTS:
            column, fields = STRUCTS[head]
            return Field(scalar=_struct(rest, column, fields))
        if head == "resources" and len(rest) == 1 and rest[0] in RESOURCE_FIELDS:
            r, v = names(), names()
            return Field(texts=self._derive("filter(transform(resources, %s -> %s.%s), %s -> %s IS NOT NULL)"
                                            % (r, r, RESOURCE_FIELDS[rest[0]], v, v)))
        if head in JSON_COLUMNS:
            first = names()
            arr = "filter(ARRAY[try(json_parse(%s))], %s -> %s IS NOT NULL)" % (JSON_COLUMNS[head], first, first)
            for key in rest:
                arr = _json_step(arr, key, names)
            raw = self._derive(_json_leaves(arr, names))
            t, u = names(), names()
            texts = self._derive("filter(transform(%s, %s -> %s), %s -> %s IS NOT NULL)" % (raw, t, _is_text_of(t), u, u))
            return Field(texts=texts, raw=raw)
        raise NotCompilable("the field %s is not in the Athena CloudTrail table" % field)

    def condition(self, node):
        """The SQL boolean (never NULL) of one condition tree, over the inner SELECT's columns."""
        kind = node[0]
        if kind == "match":
            return leaf(self, node[1], node[2], node[3])
        if kind == "not":
            return "(NOT %s)" % self.condition(node[1])
        if kind in ("and", "or"):
            if not node[1]:
                return "TRUE" if kind == "and" else "FALSE"
            return "(%s)" % (" %s " % kind.upper()).join(self.condition(c) for c in node[1])
        raise NotCompilable("the condition node %r cannot be compiled to SQL" % kind)

    def first_value(self, field):
        """The first value of ``field`` as a group key: the string column, or the JSON text of its first JSON value."""
        where = self.resolve(field)
        if where.scalar is not None:
            return where.scalar
        if where.raw is None:
            return "element_at(%s, 1)" % where.texts
        return "json_format(element_at(%s, 1))" % where.raw


def _regex(pattern, flags):
    prefix = ""
    for bit, letter in sorted(_PY_FLAGS.items()):
        if flags & bit:
            prefix += letter
            flags &= ~bit
    if flags:
        raise NotCompilable("regular expression flags %d have no Trino equivalent" % flags)
    if "(?P" in pattern or "\\Z" in pattern:
        raise NotCompilable("the regular expression %r uses Python-only syntax" % pattern)
    return ("(?%s)" % prefix if prefix else "") + pattern


def _ipv4_number(expr):
    return "(%s)" % " + ".join("TRY_CAST(split_part(%s, '.', %d) AS BIGINT) * %d" % (expr, n + 1, 256 ** (3 - n))
                               for n in range(4))


def ipv4_in(expr, cidr):
    """``expr`` (text) is an IPv4 address in the IPv4 network ``cidr`` (numeric range, no IP type needed)."""
    net = ipaddress.ip_network(cidr, strict=False)
    if net.version != 4:
        raise NotCompilable("IPv6 CIDR %s cannot be compiled to SQL" % cidr)
    # CASE, not AND: neither engine promises to test the shape before it casts the parts
    return ("(CASE WHEN regexp_like(%s, %s) THEN %s BETWEEN %d AND %d ELSE FALSE END)"
            % (expr, literal(_IPV4), _ipv4_number(expr), int(net.network_address), int(net.broadcast_address)))


def _wildcard_like(segments):
    out = []
    for n, seg in enumerate(segments):
        if n:
            out.append("%")
        out.extend("_" if item is None else like_escape(item) for item in seg)
    return "".join(out)


def value_test(op, value, expr):
    """SQL boolean of one text ``expr`` (may be NULL: the caller coalesces)."""
    if op == "eq":
        return "lower(%s) = %s" % (expr, literal(value.lower()))
    if op == "cased":
        return "%s = %s" % (expr, literal(value))
    if op == "contains":
        return _like("lower(%s)" % expr, "%" + like_escape(value.lower()) + "%")
    if op == "startswith":
        return _like("lower(%s)" % expr, like_escape(value.lower()) + "%")
    if op == "endswith":
        return _like("lower(%s)" % expr, "%" + like_escape(value.lower()))
    if op == "wildcard":
        segments, cased = value
        if cased:
            return _like(expr, _wildcard_like(segments))
        lowered = [[None if item is None else item.lower() for item in seg] for seg in segments]
        return _like("lower(%s)" % expr, _wildcard_like(lowered))
    if op == "re":
        return "regexp_like(%s, %s)" % (expr, literal(_regex(value[0], value[1])))
    if op == "cidr":
        return ipv4_in(expr, value)
    if op in ("num", "lt", "lte", "gt", "gte"):
        sign = {"num": "=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}[op]
        number = float(value)
        if math.isnan(number) or math.isinf(number):
            raise NotCompilable("the number %r cannot be compared in SQL" % value)
        return "TRY_CAST(%s AS DOUBLE) %s %r" % (expr, sign, number)
    raise NotCompilable("the Sigma operation %r cannot be compiled to SQL" % op)


def _any(texts, names, test):
    v = names()
    return "cardinality(filter(%s, %s -> %s)) > 0" % (texts, v, test(v))


def _fieldref(comp, field, other, mode):
    names = comp.names
    mine = comp.resolve(field).as_texts(names)
    theirs = comp.resolve(other).as_texts(names)

    def inner(m):
        def pair(t):
            if mode == "eq":
                return "lower(%s) = lower(%s)" % (m, t)
            if mode == "startswith":
                return "substr(lower(%s), 1, length(%s)) = lower(%s)" % (m, t, t)
            return ("length(lower(%s)) >= length(lower(%s)) AND substr(lower(%s), length(lower(%s)) - length(lower(%s)) + 1)"
                    " = lower(%s)" % (m, t, m, m, t, t))
        return _any(theirs, names, pair)
    return _any(mine, names, inner)


def leaf(comp, field, op, value):
    """One ``["match", field, op, value]`` as a SQL boolean that is never NULL."""
    names = comp.names
    if op == "fieldref":
        return "COALESCE(%s, FALSE)" % _fieldref(comp, field, value[0], value[1])
    where = comp.resolve(field)
    if where.scalar is not None:
        col = where.scalar
        if op == "exists":
            return "(%s IS %sNULL)" % (col, "NOT " if value else "")
        if op == "null":
            return "COALESCE(%s = '', TRUE)" % col
        return "COALESCE(%s, FALSE)" % value_test(op, value, col)
    if op in ("exists", "null"):
        raw = where.raw or where.texts
        if op == "exists":
            return "COALESCE(cardinality(%s) %s 0, FALSE)" % (raw, ">" if value else "=")
        v = names()
        test = ("COALESCE(%s <> '', TRUE)" % _is_text_of(v)) if where.raw else "%s <> ''" % v
        return "COALESCE(cardinality(filter(%s, %s -> %s)) = 0, TRUE)" % (raw, v, test)
    return "COALESCE(%s, FALSE)" % _any(where.texts, names, lambda v: value_test(op, value, v))
