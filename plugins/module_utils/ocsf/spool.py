# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The spool: events a destination did not take, kept for the next run.

One file per destination, ``<spool_dir>/<name>.jsonl`` (one OCSF event per line, mode 0600), replaced
atomically after each run with what is still undelivered and removed when nothing is left. The next run
sends the spooled events first, once each: an event of the new run with the same ``metadata.uid`` (the
same finding, state and report time) is the spooled one and is not sent twice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.core.fileio import (
    atomic_write,
    read_bytes,
    read_regular_file,
)

SPOOL_LIMIT = 256 * 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def spool_path(spool_dir, name):
    return os.path.join(spool_dir, _UNSAFE.sub("_", name) + ".jsonl")


def load(spool_dir, name):
    """The spooled events of destination ``name`` (a list of dicts; empty when there is no spool file)."""
    path = spool_path(spool_dir, name)
    if not os.path.lexists(path):
        return []
    data = read_regular_file(path, "spool file", limit=SPOOL_LIMIT)
    events = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            raise InputError("spool file %s line %d is not an OCSF event; move the file away to drop what it holds"
                             % (path, number))
        events.append(event)
    return events


def save(spool_dir, name, events, check_mode=False):
    """Replace the spool of ``name`` with ``events`` (remove it when empty); True if that changed it."""
    path = spool_path(spool_dir, name)
    data = "".join(json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
                   for e in events).encode("utf-8")
    before = read_bytes(path)
    if (before or b"") == data:
        return False
    if not check_mode:
        if not data:
            os.unlink(path)
        else:
            if not os.path.isdir(spool_dir):
                os.makedirs(spool_dir, 0o700)
            atomic_write(path, data, mode=0o600)
    return True
