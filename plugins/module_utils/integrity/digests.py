# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hash algorithms, digest strings and hashing one descriptor with a reusable buffer."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re

from ansible_collections.ainative.security.plugins.module_utils.core.errors import DependencyError, InputError

try:
    import blake3 as _blake3
    HAS_BLAKE3 = True
except ImportError:
    _blake3 = None
    HAS_BLAKE3 = False

ALGORITHMS = ("sha256", "sha384", "sha512", "blake2b", "blake3")
DIGEST_HEX_LENGTH = {"sha256": 64, "sha384": 96, "sha512": 128, "blake2b": 128, "blake3": 64}
BUFFER_SIZE = 1 << 20
SMALL_FILE = 256 * 1024
HEX = re.compile(r"^[0-9a-f]+$")


def hasher(algorithm):
    if algorithm == "blake3":
        if not HAS_BLAKE3:
            raise DependencyError("algorithm blake3 needs the Python package 'blake3' on the managed host "
                                  "(pip install blake3), or choose sha256")
        return _blake3.blake3()
    if algorithm not in ALGORITHMS:
        raise InputError("unknown algorithm %r; use one of %s" % (algorithm, ", ".join(ALGORITHMS)))
    return hashlib.new(algorithm)


def constructor(algorithm):
    """The hash constructor of ``algorithm`` (raises for an unknown or unavailable one)."""
    hasher(algorithm)
    if algorithm == "blake3":
        return _blake3.blake3
    return getattr(hashlib, algorithm)


def parse_digest(value, algorithm=None):
    """Split ``sha256:<hex>`` or bare hex into (algorithm, hex); check the length for the algorithm."""
    text = str(value).strip()
    if ":" in text:
        prefix, hexpart = text.split(":", 1)
        prefix = prefix.lower()
        if prefix not in ALGORITHMS:
            raise InputError("digest %r names unknown algorithm %r; use one of %s"
                             % (value, prefix, ", ".join(ALGORITHMS)))
        if algorithm and algorithm != prefix:
            raise InputError("digest %r is %s but algorithm is %s; make them agree" % (value, prefix, algorithm))
        algorithm = prefix
    else:
        hexpart = text
    algorithm = algorithm or "sha256"
    hexpart = hexpart.lower()
    if not HEX.match(hexpart) or len(hexpart) != DIGEST_HEX_LENGTH[algorithm]:
        raise InputError("malformed %s digest %r: expected %d hex characters, as in '%s:<hex>'"
                         % (algorithm, value, DIGEST_HEX_LENGTH[algorithm], algorithm))
    return algorithm, hexpart


def hash_fd(fd, algorithm, buf, view, size_hint, new=None):
    """Hex digest and byte count of everything readable from ``fd``."""
    new = new or constructor(algorithm)
    if size_hint < SMALL_FILE:
        # One read covers the file: a read shorter than asked (size + 1) is EOF (saves a syscall).
        data = os.read(fd, size_hint + 1)
        if len(data) <= size_hint:
            return new(data).hexdigest(), len(data)
        digest = new(data)
        total = len(data)
    else:
        digest = new()
        total = 0
    with os.fdopen(os.dup(fd), "rb", buffering=0) as handle:
        readinto = handle.readinto
        update = digest.update
        while True:
            count = readinto(buf)
            if not count:
                break
            update(view[:count])
            total += count
    return digest.hexdigest(), total
