# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dataset paths: validation of manifest names, ignore globs, sort order and the root boundary."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError, bounded_text


# Longer than any path the kernel opens (PATH_MAX): a hostile manifest's giant name is refused, not echoed.
MAX_NAME = 4096
NAME_IN_MESSAGE = 256


def display_name(name, limit=MAX_NAME):
    """``name`` as text for results and messages: bounded, and a byte that is not UTF-8 shown as ``\\xNN``."""
    if not isinstance(name, bytes):
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:  # a surrogate-escaped byte from the file system or a text manifest
            name = name.encode("utf-8", "surrogateescape")
    return bounded_text(name, limit)


def check_relpath(name, origin="manifest"):
    """Return ``name`` if it is a safe relative POSIX path inside the root, else raise InputError."""
    if (name and isinstance(name, str) and "\x00" not in name and name[0] != "/" and name[-1] != "/"
            and "//" not in name and "/." not in name and name[0] != "." and len(name) <= MAX_NAME):
        return name  # fast path: nothing that could be '', '.', '..', absolute or too long
    if isinstance(name, bytes):
        try:
            name = name.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError("%s entry %s is not valid UTF-8" % (origin, display_name(name, NAME_IN_MESSAGE)))
    shown = display_name(name, NAME_IN_MESSAGE) if name else ""
    if not name:
        raise InputError("%s has an empty file name" % origin)
    if len(name) > MAX_NAME:
        raise InputError("%s entry %s is %d characters long, longer than any path (%d); refusing it"
                         % (origin, shown, len(name), MAX_NAME))
    if "\x00" in name:
        raise InputError("%s entry %r contains a NUL byte" % (origin, shown))
    if name.startswith("/"):
        raise InputError("%s entry %r is an absolute path; entries must be relative to the dataset root"
                         % (origin, shown))
    for part in name.split("/"):
        if part == "..":
            raise InputError("%s entry %r climbs out of the dataset root with '..'; refusing it" % (origin, shown))
        if part in ("", "."):
            raise InputError("%s entry %r is not a normalized relative path (empty or '.' component)"
                             % (origin, shown))
    return name


def all_plain_relpaths(names):
    """True when every name (none holding a newline) passes :func:`check_relpath`'s fast path; checked on
    the names joined by newlines, a few C-speed searches instead of a call per name."""
    if not names or not names[0] or not names[-1]:
        return False
    joined = "\n".join(names)
    return not (len(max(names, key=len)) > MAX_NAME or "\n\n" in joined or "\x00" in joined or "//" in joined
                or "/." in joined or "\n/" in joined or "\n." in joined or "/\n" in joined
                or joined[0] in "/." or joined[-1] == "/")


def manifest_name(name, origin="manifest"):
    """A manifest entry as a path below the root: the ``./`` that ``find . | xargs sha256sum`` writes (and
    ``sha256sum -c`` accepts) is dropped, then the name must be safe (:func:`check_relpath`)."""
    if name.startswith("./"):
        name = name[2:]
    return check_relpath(name, origin)


def _glob_to_regex(pattern):
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1:end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


class IgnoreRules:
    """Glob patterns on relative paths: ``*`` stays in one component, ``**`` crosses '/', a pattern
    without '/' matches a name at any depth, and ``dir/**`` also prunes the directory itself."""

    def __init__(self, patterns, extra_paths=()):
        self.exact = set(extra_paths)
        regexes = []
        for pattern in patterns or ():
            pattern = pattern.strip().lstrip("/")
            if not pattern:
                continue
            if "/" not in pattern.rstrip("/"):
                pattern = "**/" + pattern
            if pattern.endswith("/"):
                pattern += "**"
            regexes.append(_glob_to_regex(pattern))
            if pattern.endswith("/**"):
                regexes.append(_glob_to_regex(pattern[:-3]))
        # DOTALL: a name may hold a newline, and "**" must still cover it.
        self.regex = re.compile("^(?:%s)$" % "|".join(regexes), re.S) if regexes else None

    def __call__(self, relpath):
        return relpath in self.exact or bool(self.regex and self.regex.match(relpath))

    def __bool__(self):
        """False when there is nothing to ignore, so hot loops can skip the call."""
        return bool(self.exact or self.regex)

    __nonzero__ = __bool__


def sort_key(name):
    return name.encode("utf-8", "surrogateescape")


def inside(root_real, target_real):
    return target_real == root_real or target_real.startswith(root_real.rstrip("/") + "/")
