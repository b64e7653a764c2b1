# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic file writes shared by every plugin that writes a manifest, report or credentials file."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
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


@contextlib.contextmanager
def atomic_writer(path, mode=0o644, backup=False, uid=-1, gid=-1):
    """Context manager yielding a binary file object whose content replaces ``path`` atomically on exit.

    Readers see the old or the new file, never half of one: the temporary file lives in the same
    directory (same file system), is created private (mkstemp: 0600, O_EXCL, never through a symlink),
    gets its owner (``uid``/``gid``, -1 keeps) and ``mode`` through its descriptor before it becomes
    visible, is fsynced, and replaces ``path`` with one rename: a path-based chown after the rename could
    be raced onto a planted symlink. An exception inside the block (or a killed process) leaves ``path``
    as it was and removes the temporary file. With ``backup`` an existing file is first copied to
    ``<path>.<timestamp>~``; the writer's ``backup_path`` attribute holds that path (or None).
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
            handle.backup_path = backup_path
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write(path, data, mode=0o644, backup=False, uid=-1, gid=-1):
    """Write ``data`` (bytes) to ``path`` through :func:`atomic_writer`; the backup's path is returned (or None)."""
    with atomic_writer(path, mode=mode, backup=backup, uid=uid, gid=gid) as handle:
        handle.write(data)
    return handle.backup_path


class _Unchanged(Exception):
    """Raised inside the atomic writer to drop a temporary file whose content equals the target's."""


class _ComparingSink(object):
    """File-like sink: buffers writes, compares them with ``old`` (an open file or None) and passes them on."""

    CHUNK = 1 << 20

    def __init__(self, old, target=None):
        self.old = old
        self.target = target
        self.same = old is not None
        self.buffer = []
        self.size = 0

    def write(self, data):
        self.buffer.append(data)
        self.size += len(data)
        if self.size >= self.CHUNK:
            self.flush()
        return len(data)

    def flush(self):
        if not self.buffer:
            return
        block = b"".join(self.buffer)
        self.buffer, self.size = [], 0
        if self.same and self.old.read(len(block)) != block:
            self.same = False
        if self.target is not None:
            self.target.write(block)

    def finish(self):
        """Flush; True when everything written equals the old file, byte for byte and length."""
        self.flush()
        return self.same and self.old.read(1) == b""


def write_stream_if_changed(path, produce, mode=0o644, check_mode=False, make_dirs=False):
    """Streaming :func:`write_if_changed`: ``produce(handle)`` writes the content (bytes) in pieces.

    The content is compared with what ``path`` holds while it is written, so neither is held in memory
    whole. Changed, it replaces ``path`` through :func:`atomic_writer`; unchanged (or in check mode),
    ``path`` is left alone. Returns ``{"changed": bool}``.
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        old = open(path, "rb")
    except (IOError, OSError) as exc:
        if getattr(exc, "errno", None) != errno.ENOENT:
            raise
        old = None
    try:
        if check_mode:
            sink = _ComparingSink(old)
            produce(sink)
            return {"changed": not sink.finish()}
        if make_dirs and not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        try:
            with atomic_writer(path, mode=mode) as handle:
                sink = _ComparingSink(old, handle)
                produce(sink)
                if sink.finish():
                    raise _Unchanged()
        except _Unchanged:
            return {"changed": False}
    finally:
        if old is not None:
            old.close()
    return {"changed": True}


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
