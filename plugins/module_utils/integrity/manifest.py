# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manifests: coreutils ``sha256sum`` text (with ``--tag`` lines and escaped names) and the JSON format.

Both formats pin the same value, :func:`dataset_digest`, over the algorithm and the sorted (path, digest) pairs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.integrity.digests import (
    ALGORITHMS,
    DIGEST_HEX_LENGTH,
    HEX,
)
from ansible_collections.ainative.security.plugins.module_utils.integrity.paths import (
    all_plain_relpaths,
    manifest_name,
    sort_key,
)

JSON_FORMAT_NAME = "ainative.security/dataset-manifest"
JSON_FORMAT_VERSION = 1
_SURROGATE = re.compile("[\udc80-\udcff]")
# What json.dumps(ensure_ascii=False) escapes in a string.
_JSON_ESCAPED = re.compile('[\\x00-\\x1f"\\\\]')


def _unescape_coreutils(name):
    out = []
    i = 0
    while i < len(name):
        if name[i] == "\\" and i + 1 < len(name):
            nxt = name[i + 1]
            out.append({"\\": "\\", "n": "\n", "r": "\r"}.get(nxt))
            if out[-1] is None:
                raise InputError("bad escape '\\%s' in file name %r" % (nxt, name))
            i += 2
        else:
            out.append(name[i])
            i += 1
    return "".join(out)


def _escape_coreutils(name):
    if "\\" in name or "\n" in name or "\r" in name:
        return True, name.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return False, name


_BSD_LINE = re.compile(r"^(?P<algo>[A-Z0-9-]+) \((?P<name>.*)\) = (?P<hex>[0-9a-fA-F]+)$")
_BSD_ALGOS = {"SHA256": "sha256", "SHA384": "sha384", "SHA512": "sha512", "BLAKE2B": "blake2b",
              "BLAKE2B-512": "blake2b", "BLAKE3": "blake3"}


_PLAIN_LINES = dict((length, re.compile(r"(?:[0-9a-f]{%d} [ *][^\n]*\n)+" % length)) for length in (64, 96, 128))


def parse_text_manifest(data, algorithm=None, origin="manifest"):
    """Parse coreutils ``sha256sum``-style text (and ``--tag`` lines) into (algorithm, {path: hex})."""
    # Names are bytes on disk: a byte that is not UTF-8 is kept (surrogateescape), as coreutils keeps it.
    text = data.decode("utf-8", "surrogateescape")
    fast = _parse_plain(text, algorithm)
    if fast is not None:
        return fast
    return _parse_text_lines(text, algorithm, origin)


def _parse_plain(text, algorithm):
    """The common case in C speed: only plain '<hex>  <name>' lines in lower case, one digest length,
    nothing escaped, every name already safe. A few whole-text passes instead of work per line.

    Returns None whenever anything is unusual, and the line-by-line parser then gives exact errors.
    """
    if "\r" in text or "\\" in text:
        return None
    if not text.endswith("\n"):
        text += "\n"
    length = text.find(" ")
    algo = algorithm or {64: "sha256", 96: "sha384", 128: "sha512"}.get(length)
    if algo is None or DIGEST_HEX_LENGTH[algo] != length or not _PLAIN_LINES[length].fullmatch(text):
        return None
    lines = text.split("\n")
    lines.pop()  # after the last newline
    start = length + 2
    names = [line[start:] for line in lines]
    if "  ./" in text or " *./" in text:
        names = [name[2:] if name.startswith("./") else name for name in names]
    if not all_plain_relpaths(names):
        return None
    entries = dict(zip(names, [line[:length] for line in lines]))
    if len(entries) != len(names):
        return None
    return algo, entries


def _parse_text_lines(text, algorithm, origin):
    entries = {}
    for lineno, line in enumerate(text.split("\n"), 1):
        if line.endswith("\r"):
            line = line[:-1]
        if not line or line.startswith("#"):
            continue
        escaped = line.startswith("\\")
        if escaped:
            line = line[1:]
        bsd = _BSD_LINE.match(line)
        if bsd:
            line_algo = _BSD_ALGOS.get(bsd.group("algo").upper())
            if line_algo is None:
                raise InputError("%s line %d: unsupported algorithm tag %r" % (origin, lineno, bsd.group("algo")))
            name, hexpart = bsd.group("name"), bsd.group("hex").lower()
        else:
            hexpart, sep, rest = line.partition(" ")
            if not sep or not rest or rest[0] not in " *":
                raise InputError("%s line %d is not '<hex>  <file>' or '<hex> *<file>': %r"
                                 % (origin, lineno, line[:120]))
            name = rest[1:]
            hexpart = hexpart.lower()
            line_algo = None
        if escaped:
            name = _unescape_coreutils(name)
        if line_algo is None:
            line_algo = algorithm or _algorithm_for_length(len(hexpart), origin, lineno)
        if algorithm is None:
            algorithm = line_algo
        elif line_algo != algorithm:
            raise InputError("%s line %d uses %s but the manifest is %s; one algorithm per manifest"
                             % (origin, lineno, line_algo, algorithm))
        if not HEX.match(hexpart) or len(hexpart) != DIGEST_HEX_LENGTH[algorithm]:
            raise InputError("%s line %d: malformed %s digest %r" % (origin, lineno, algorithm, hexpart[:140]))
        name = manifest_name(name, "%s line %d" % (origin, lineno))
        if name in entries:
            raise InputError("%s line %d lists %r twice" % (origin, lineno, name))
        entries[name] = hexpart
    if not entries:
        raise InputError("%s has no checksum lines" % origin)
    return algorithm, entries


def _algorithm_for_length(length, origin, lineno):
    for algo in ("sha256", "sha384", "sha512"):
        if DIGEST_HEX_LENGTH[algo] == length:
            return algo
    raise InputError("%s line %d: a %d-character digest matches no supported algorithm; set algorithm"
                     % (origin, lineno, length))


def render_text_manifest(algorithm, entries):
    lines = []
    for name in sorted(entries, key=sort_key):
        escaped, shown = _escape_coreutils(name)
        lines.append("%s%s  %s\n" % ("\\" if escaped else "", entries[name][0], shown))
    return "".join(lines).encode("utf-8", "surrogateescape")


def dataset_digest(algorithm, digests):
    """The one value that pins a dataset: SHA-256 over the algorithm and the sorted (path, digest) pairs.

    The same dataset gives the same value whether it was pinned as JSON or as sha256sum text. The value is
    that of ``json.dumps([algorithm, [[name, digest], ...]], ensure_ascii=False, separators=(",", ":"))``,
    joined here from each string's JSON form (the encoder json.dumps uses) with no Python code per entry.
    """
    listed = list(digests)
    joined = "".join(listed)
    if joined.isascii():
        names = sorted(listed)  # code point order is byte order for ASCII
    else:
        names = sorted(listed, key=sort_key)
    # A manifest read from disk is sorted already: its values are then in order as they are.
    values = list(digests.values()) if names == listed else list(map(digests.__getitem__, names))
    quote = json.encoder.encode_basestring
    hexes = "".join(values)
    # printable and without '"' or '\\' is nothing json.dumps escapes (the regex decides the rest)
    plain = joined.isprintable() and '"' not in joined and "\\" not in joined and hexes.isalnum()
    if not plain and (_JSON_ESCAPED.search(joined) or _JSON_ESCAPED.search(hexes)):
        names = [quote(name)[1:-1] for name in names]
        values = [quote(value)[1:-1] for value in values]
    body = '"],["'.join(map('","'.join, zip(names, values)))
    canonical = '[%s,[%s]]' % (quote(algorithm), '["%s"]' % body if names else "")
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()


def parse_json_manifest(data, algorithm=None, origin="manifest"):
    """Parse the JSON manifest into (algorithm, {path: hex}, {path: size})."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError("%s is not valid JSON: %s" % (origin, exc))
    if not isinstance(doc, dict) or doc.get("format") != JSON_FORMAT_NAME:
        raise InputError("%s is not an %s document (missing or wrong 'format')" % (origin, JSON_FORMAT_NAME))
    if doc.get("version") != JSON_FORMAT_VERSION:
        raise InputError("%s has version %r; this module reads version %d"
                         % (origin, doc.get("version"), JSON_FORMAT_VERSION))
    doc_algo = doc.get("algorithm")
    if doc_algo not in ALGORITHMS:
        raise InputError("%s names unknown algorithm %r" % (origin, doc_algo))
    if algorithm and algorithm != doc_algo:
        raise InputError("%s is %s but algorithm=%s was requested; drop the option or make them agree"
                         % (origin, doc_algo, algorithm))
    files = doc.get("files")
    if not isinstance(files, list) or not files:
        raise InputError("%s has no 'files' entries" % origin)
    digests, sizes = {}, {}
    for index, item in enumerate(files):
        where = "%s files[%d]" % (origin, index)
        if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not isinstance(item.get("digest"), str):
            raise InputError("%s needs string 'path' and 'digest'" % where)
        name = manifest_name(item["path"], where)
        hexpart = item["digest"].lower()
        if not HEX.match(hexpart) or len(hexpart) != DIGEST_HEX_LENGTH[doc_algo]:
            raise InputError("%s: malformed %s digest" % (where, doc_algo))
        size = item.get("size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise InputError("%s: size must be a non-negative integer" % where)
        if name in digests:
            raise InputError("%s lists %r twice" % (origin, name))
        digests[name] = hexpart
        sizes[name] = size
    recorded = doc.get("dataset_digest")
    if recorded is not None and recorded != dataset_digest(doc_algo, digests):
        raise InputError("%s: its own dataset_digest does not match its entries; the manifest was edited"
                         % origin)
    return doc_algo, digests, sizes


def render_json_manifest(algorithm, entries):
    """Deterministic JSON (no timestamps), so re-creating an unchanged tree gives identical bytes."""
    names = sorted(entries, key=sort_key)
    digests = dict((name, entries[name][0]) for name in names)
    doc = {
        "format": JSON_FORMAT_NAME,
        "version": JSON_FORMAT_VERSION,
        "algorithm": algorithm,
        "dataset_digest": dataset_digest(algorithm, digests),
        "total_files": len(names),
        "total_bytes": sum(entries[name][1] for name in names),
        "files": [{"path": name, "size": entries[name][1], "digest": entries[name][0]} for name in names],
    }
    text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    # A name byte that is not UTF-8 (a lone surrogate here) is written as its \\udcXX escape: the file stays
    # UTF-8 and json.loads gives the same name back.
    return _SURROGATE.sub(lambda match: "\\u%04x" % ord(match.group()), text).encode("utf-8")


def read_manifest(data, fmt, algorithm=None, origin="manifest"):
    """(algorithm, digests, sizes) from manifest bytes; ``fmt`` is json, sha256sum or auto."""
    if fmt == "auto":
        fmt = "json" if data.lstrip()[:1] == b"{" else "sha256sum"
    if fmt == "json":
        return parse_json_manifest(data, algorithm, origin)
    algo, digests = parse_text_manifest(data, algorithm, origin)
    return algo, digests, dict.fromkeys(digests)
