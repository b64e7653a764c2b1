# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dataset tree: a symlink-safe walk, directory descriptors opened without following links, and the
listing of files a manifest does not know.

Files are opened component by component from the root's descriptor with ``O_NOFOLLOW``, so neither a
symlinked parent nor a symlinked file is followed unless ``follow_symlinks`` is set, and then only when the
link resolves inside the root. Special files (devices, FIFOs, sockets) are refused.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import stat

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.integrity.digests import BUFFER_SIZE, constructor, hash_fd
from ansible_collections.ainative.security.plugins.module_utils.integrity.paths import inside


OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_NONBLOCK", 0)
DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

# Per-file problems besides a digest mismatch.
ERR_MISSING = "missing"
ERR_UNSAFE = "unsafe"
ERR_UNREADABLE = "unreadable"


def _chunks(open_dir, items, workers):
    """Split one directory's files into tasks: about four per worker, at most 512 files each."""
    size = max(1, min(512, -(-len(items) // (workers * 4))))
    for start in range(0, len(items), size):
        yield open_dir, items[start:start + size]


class Tree:
    """Walks a tree (to pin it) and yields hashing tasks ``(open_dir, [(name, basename, inode), ...])``.

    ``open_dir`` is the directory's real path relative to the root (the one to open component by
    component); ``name`` is the path written to the manifest. The walk reads only directory entries
    (names, types and inode numbers); each file is stat-ed once, through the descriptor it is hashed from,
    and must still be the inode the walk saw.
    """

    def __init__(self, root, ignore, follow_symlinks, workers):
        self.root = root
        self.root_real = os.path.realpath(root)
        self.ignore = ignore
        self.follow = follow_symlinks
        self.workers = max(workers, 1)

    def tasks(self):
        ignore = self.ignore if self.ignore else None
        stack = [("", "", self.root, ())]
        while stack:
            logical, real, path, ancestors = stack.pop()
            if self.follow:
                # A directory that is its own ancestor is a loop; two links to one directory are not.
                try:
                    info = os.stat(path)
                except OSError as exc:
                    raise InputError("cannot stat directory %s: %s" % (logical or path, exc.strerror))
                if (info.st_dev, info.st_ino) in ancestors:
                    raise InputError("directory %s leads back to one of its parents through a symlink (a loop); "
                                     "refusing it" % (logical or "."))
                ancestors = ancestors + ((info.st_dev, info.st_ino),)
            try:
                with os.scandir(path) as iterator:
                    entries = list(iterator)
            except OSError as exc:
                raise InputError("cannot list directory %s: %s" % (path, exc.strerror))
            items = []
            prefix = logical + "/" if logical else ""
            for entry in entries:
                name = prefix + entry.name
                if ignore and ignore(name):
                    continue
                if entry.is_file(follow_symlinks=False):
                    items.append((name, entry.name, entry.inode()))
                elif entry.is_dir(follow_symlinks=False):
                    stack.append((name, real + "/" + entry.name if real else entry.name, entry.path, ancestors))
                elif entry.is_symlink():
                    task = self._link(name, entry.path, stack, ancestors)
                    if task is not None:
                        yield task
                else:
                    raise InputError("%s is not a regular file (device, FIFO or socket); refusing it" % name)
            yield from _chunks(real, items, self.workers)

    def _link(self, name, path, stack, ancestors):
        """Follow a symlink that resolves inside the root: push a directory or return a file task."""
        if not self.follow:
            raise InputError("%s is a symlink; symlinks are not followed (set follow_symlinks=true to hash "
                             "targets inside the root, or add it to ignore)" % name)
        target = os.path.realpath(path)
        if not inside(self.root_real, target):
            raise InputError("%s is a symlink to %s, outside the dataset root; refusing it" % (name, target))
        try:
            info = os.stat(target)
        except OSError as exc:
            raise InputError("%s is a broken symlink: %s" % (name, exc.strerror))
        real = os.path.relpath(target, self.root_real)
        real = "" if real == "." else real
        if stat.S_ISDIR(info.st_mode):
            stack.append((name, real, target, ancestors))
            return None
        if not stat.S_ISREG(info.st_mode):
            raise InputError("%s points to something that is not a regular file; refusing it" % name)
        return os.path.dirname(real), [(name, os.path.basename(real), info.st_ino)]


class DirOpener:
    """Opens directories below the root one component at a time with O_NOFOLLOW; caches the last one."""

    def __init__(self, root):
        self.root_fd = os.open(root, DIR_FLAGS)
        self.key = None
        self.fd = None

    def open(self, relpath):
        if relpath == self.key:
            return self.fd
        self._drop()
        fd = self.root_fd
        try:
            for part in relpath.split("/") if relpath else ():
                new = os.open(part, DIR_FLAGS | NOFOLLOW, dir_fd=fd)
                if fd != self.root_fd:
                    os.close(fd)
                fd = new
        except OSError:
            if fd != self.root_fd:
                os.close(fd)
            raise
        self.key, self.fd = relpath, fd
        return fd

    def _drop(self):
        if self.fd is not None and self.fd != self.root_fd:
            os.close(self.fd)
        self.key = self.fd = None

    def close(self):
        self._drop()
        os.close(self.root_fd)


MAX_LINKS = 40


def _link_parts(target, root_real):
    """Components of a symlink's target, and whether they start again from the root; EXDEV when absolute
    and outside the root."""
    if not target.startswith("/"):
        return target.split("/"), False
    if not inside(root_real, os.path.normpath(target)):
        raise OSError(errno.EXDEV, "resolves outside the dataset root")
    return os.path.relpath(os.path.normpath(target), root_real).split("/"), True


def open_beneath(root_fd, root_real, name):
    """Descriptor of ``name`` below the root, following symlinks only while they stay inside it.

    Each component is opened with O_NOFOLLOW relative to a directory descriptor already held, and each link
    is read with readlink and resolved here, '..' included, one component at a time: a component swapped for
    a link out of the root between any check and the open is refused (EXDEV), never read.
    """
    parts = name.split("/")
    held = []  # descriptors of the directories below the root on the way, innermost last
    links = 0
    try:
        while parts:
            part = parts.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if not held:
                    raise OSError(errno.EXDEV, "resolves outside the dataset root")
                os.close(held.pop())
                continue
            where = held[-1] if held else root_fd
            last = not parts
            try:
                fd = os.open(part, (OPEN_FLAGS if last else DIR_FLAGS) | NOFOLLOW, dir_fd=where)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                try:
                    target = os.readlink(part, dir_fd=where)
                except OSError:
                    raise exc  # not a link: a file where a directory should be
                links += 1
                if links > MAX_LINKS:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links")
                more, from_root = _link_parts(target, root_real)
                if from_root:
                    while held:
                        os.close(held.pop())
                parts = more + parts
                continue
            if last:
                return fd
            held.append(fd)
        raise OSError(errno.EISDIR, "is the dataset root")
    finally:
        for fd in held:
            os.close(fd)


def open_problem(name, exc):
    if exc.errno == errno.ENOENT:
        return ERR_MISSING, name, "does not exist"
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return ERR_UNSAFE, name, "is a symlink or lies under one (set follow_symlinks=true to allow links inside the root)"
    if exc.errno == errno.EXDEV:
        return ERR_UNSAFE, name, "is a symlink that resolves outside the dataset root"
    return ERR_UNREADABLE, name, "cannot open: %s" % exc.strerror


def hash_single_file(path, algorithm, follow_symlinks=False):
    """(hexdigest, size) of one file, opened with O_NOFOLLOW unless following is allowed."""
    new = constructor(algorithm)
    flags = OPEN_FLAGS | (0 if follow_symlinks else NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError("%s is a symlink; set follow_symlinks=true to hash its target" % path)
        raise InputError("cannot open %s: %s" % (path, exc.strerror))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError("%s is not a regular file" % path)
        buf = bytearray(BUFFER_SIZE)
        try:
            return hash_fd(fd, algorithm, buf, memoryview(buf), info.st_size, new)
        except OSError as exc:
            raise InputError("cannot read %s: %s" % (path, exc.strerror))
    finally:
        os.close(fd)


def list_unlisted(root, expected, ignore, follow_symlinks):
    """Entries of the tree the manifest does not list: (extra names, error or None).

    Lists each directory the manifest names with one ``listdir`` and set arithmetic; only unknown names are
    stat-ed. Symlinks and special files that are not ignored are refused (InputError).
    """
    root_real = os.path.realpath(root)
    files, subdirs = {}, {"": set()}
    for name in expected:
        head, sep, base = name.rpartition("/")
        bucket = files.get(head)
        if bucket is None:
            bucket = files[head] = set()
            while head:  # register the directory chain up to a parent already known
                parent, sep, leaf = head.rpartition("/")
                known = parent in subdirs
                subdirs.setdefault(parent, set()).add(leaf)
                if known:
                    break
                head = parent
        bucket.add(base)
    extra = []
    stack = [""]
    while stack:
        rel = stack.pop()
        path = os.path.join(root, rel) if rel else root
        if rel:
            try:
                info = os.lstat(path)
            except OSError:
                continue  # its files show up as missing
            if stat.S_ISLNK(info.st_mode):
                if not follow_symlinks:
                    raise InputError("%s is a symlink; symlinks are not followed (set follow_symlinks=true to hash "
                                     "targets inside the root, or add it to ignore)" % rel)
                if not inside(root_real, os.path.realpath(path)):
                    raise InputError("%s is a symlink to %s, outside the dataset root; refusing it"
                                     % (rel, os.path.realpath(path)))
            elif not stat.S_ISDIR(info.st_mode):
                continue  # a file where the manifest expects a directory: its files show up as missing
        try:
            names = set(os.listdir(path))
        except OSError as exc:
            raise InputError("cannot list directory %s: %s" % (path, exc.strerror))
        dirs_here = subdirs.get(rel, set())
        prefix = rel + "/" if rel else ""
        stack.extend(prefix + leaf for leaf in dirs_here & names)
        for base in names - files.get(rel, set()) - dirs_here:
            name = prefix + base
            if ignore and ignore(name):
                continue
            extra.extend(_classify_unknown(root, root_real, name, ignore, follow_symlinks))
    return extra


def _classify_unknown(root, root_real, name, ignore, follow_symlinks):
    """Names of regular files at or below ``name`` (not in the manifest); refuses unsafe entries."""
    path = os.path.join(root, name)
    try:
        info = os.lstat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return []  # removed since the directory was listed
        raise InputError("cannot stat %s: %s" % (name, exc.strerror))
    if stat.S_ISLNK(info.st_mode):
        target = os.path.realpath(path)
        if not follow_symlinks:
            raise InputError("%s is a symlink; symlinks are not followed (set follow_symlinks=true to hash "
                             "targets inside the root, or add it to ignore)" % name)
        if not inside(root_real, target):
            raise InputError("%s is a symlink to %s, outside the dataset root; refusing it" % (name, target))
        return [name]
    if stat.S_ISREG(info.st_mode):
        return [name]
    if stat.S_ISDIR(info.st_mode):
        tree = Tree(path, _sub_ignore(ignore, name), follow_symlinks, 1)
        return [name + "/" + item[0] for task in tree.tasks() for item in task[1]]
    raise InputError("%s is not a regular file (device, FIFO or socket); refusing it" % name)


def _sub_ignore(ignore, prefix):
    """The ignore rules seen from a sub-directory ``prefix`` of the root."""
    if not ignore:
        return ignore
    return lambda relpath: ignore(prefix + "/" + relpath)
