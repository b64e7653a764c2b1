# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic file writes shared by every plugin that writes a manifest, report or credentials file."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import shutil
import stat
import tempfile
import time

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError

READ_LIMIT = 1 << 30


def read_bytes(path):
    """Whole content of ``path``, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        if getattr(exc, "errno", None) == 2:
            return None
        raise


def read_regular_file(path, what, limit=READ_LIMIT, error=InputError):
    """Bytes of ``path`` if it is a regular file of at most ``limit`` bytes, else ``error``.

    Opened non-blocking so a FIFO cannot hang the module, and checked after opening so a swap between
    the check and the read cannot change what is read; ``/dev/zero`` is refused as not regular.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except (IOError, OSError) as exc:
        hint = "; check the path" if exc.errno == errno.ENOENT else ""
        raise error("cannot read %s %s: %s%s" % (what, path, exc.strerror or exc, hint))
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise error("%s %s is not a regular file; give the path of a file" % (what, path))
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > limit:
            raise error("%s %s is %d bytes, more than the %d this control reads" % (what, path, info.st_size, limit))
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise error("%s %s grew past %d bytes while it was read" % (what, path, limit))
    return data


def atomic_write(path, data, mode=0o644, backup=False, uid=-1, gid=-1):
    """Write ``data`` (bytes) to ``path`` so readers see the old or the new file, never half of one.

    The temporary file lives in the same directory (same file system), is created private (mkstemp: 0600,
    O_EXCL, never through a symlink), gets its owner (``uid``/``gid``, -1 keeps) and ``mode`` through its
    descriptor before it becomes visible, is fsynced, and replaces ``path`` with one rename: a path-based
    chown after the rename could be raced onto a planted symlink. With ``backup`` an existing file is first
    copied to ``<path>.<timestamp>~``; the backup's path is returned (or None).
    """
    directory = os.path.dirname(os.path.abspath(path)) or "."
    backup_path = None
    if backup and os.path.exists(path):
        backup_path = "%s.%s~" % (path, time.strftime("%Y%m%d%H%M%S"))
        shutil.copy2(path, backup_path)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            if uid != -1 or gid != -1:
                os.fchown(handle.fileno(), uid, gid)
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return backup_path


DIFF_LIMIT = 256 * 1024


def write_if_changed(path, data, mode=0o644, backup=False, check_mode=False, diff=False, make_dirs=False):
    """Put ``data`` (bytes) at ``path`` only when the content differs; the one write path of every module.

    Returns a dict: ``changed``; ``diff`` (before/after text, when asked and changed); ``backup_file``
    (when a file was replaced with ``backup``). Check mode computes all of it and writes nothing.
    """
    old = read_bytes(path)
    result = {"changed": old != data}
    if not result["changed"]:
        return result
    if diff:
        # Large files (a manifest of a million entries) get a size line instead of their text.
        shown = [(text or b"").decode("utf-8", "replace") if len(text or b"") <= DIFF_LIMIT
                 else "(%d bytes, too large to show)\n" % len(text) for text in (old, data)]
        result["diff"] = {"before": shown[0], "after": shown[1], "before_header": path, "after_header": path}
    if not check_mode:
        directory = os.path.dirname(os.path.abspath(path))
        if make_dirs and not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        backup_file = atomic_write(path, data, mode=mode, backup=backup)
        if backup_file:
            result["backup_file"] = backup_file
    return result
