# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parallel hashing engine: pin a tree or verify it against a manifest.

Hashing runs in ``workers`` forked processes (default: one per CPU) over chunks balanced by size, each with
one reusable 1 MiB buffer; OpenSSL's SHA-256 uses the CPU's SHA extensions where present. Small jobs stay in
the calling process. Each file is ``fstat``-ed through the descriptor it is hashed from: it must be a regular
file, and the same inode the walk saw.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import stat
import time

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError, SourceError
from ansible_collections.ainative.security.plugins.module_utils.integrity.digests import (
    BUFFER_SIZE,
    SMALL_FILE,
    constructor,
    hash_fd,
)
from ansible_collections.ainative.security.plugins.module_utils.integrity.paths import sort_key
from ansible_collections.ainative.security.plugins.module_utils.integrity.tree import (
    ERR_MISSING,
    ERR_UNREADABLE,
    ERR_UNSAFE,
    NOFOLLOW,
    OPEN_FLAGS,
    DirOpener,
    Tree,
    list_unlisted,
    open_beneath,
    open_problem,
)


# The job is handed to forked workers through the fork itself: nothing but task lists is pickled.
_JOB = {}
_WORKER = {}


def _run_task(task):
    """Hash one directory chunk. Returns (ok, bytes, problems, digests).

    Verify mode (``expected`` set) compares in the worker and returns only problems; create mode returns
    ``(name, hexdigest, size)`` for every file.
    """
    if task[0] is None:
        return _run_range(task[1], task[2])
    open_dir, items = task
    job = _JOB
    state = _WORKER
    if state.get("pid") != os.getpid():
        state.clear()
        state.update(pid=os.getpid(), opener=DirOpener(job["root"]), buf=bytearray(BUFFER_SIZE))
        state["view"] = memoryview(state["buf"])
    opener, buf, view = state["opener"], state["buf"], state["view"]
    expected, sizes, new, algorithm = job["expected"], job["sizes"], job["new"], job["algorithm"]
    read, open_, fstat, close, is_regular = os.read, os.open, os.fstat, os.close, stat.S_ISREG
    flags = OPEN_FLAGS | NOFOLLOW
    ok = nbytes = 0
    problems, digests = [], []
    follow = job["follow"]
    dir_error = None
    try:
        dir_fd = opener.open(open_dir)
    except OSError as exc:
        dir_fd, dir_error = None, exc
    for name, base, inode in items:
        try:
            if dir_fd is None:
                raise dir_error
            fd = open_(base, flags, dir_fd=dir_fd)
        except OSError as exc:
            fd = None
            if follow and exc.errno in (errno.ELOOP, errno.ENOTDIR):
                try:
                    fd = open_beneath(opener.root_fd, job["root_real"], name)
                except OSError as error:
                    exc = error
            if fd is None:
                problems.append(open_problem(name, exc))
                continue
        try:
            info = fstat(fd)
            if not is_regular(info.st_mode):
                problems.append((ERR_UNSAFE, name, "is not a regular file"))
                continue
            if inode and info.st_ino != inode:
                problems.append((ERR_UNSAFE, name, "was replaced during verification"))
                continue
            if sizes:
                want_size = sizes.get(name)
                if want_size is not None and want_size != info.st_size:
                    problems.append(("mismatched", name, {"reason": "size", "expected_size": want_size,
                                                          "actual_size": info.st_size}))
                    continue
            try:
                if info.st_size < SMALL_FILE:
                    # Ask for one byte more than fstat's size: a short read then proves EOF, and the
                    # buffer stays small (a 256 KiB request would cost an mmap/munmap pair per file).
                    want = info.st_size + 1
                    data = read(fd, want)
                    size = len(data)
                    if size < want:
                        hexdigest = new(data).hexdigest()
                    else:  # the file grew: take the general path from the start
                        os.lseek(fd, 0, os.SEEK_SET)
                        hexdigest, size = hash_fd(fd, algorithm, buf, view, info.st_size, new)
                else:
                    hexdigest, size = hash_fd(fd, algorithm, buf, view, info.st_size, new)
            except OSError as exc:
                problems.append((ERR_UNREADABLE, name, "cannot read: %s" % exc.strerror))
                continue
        finally:
            close(fd)
        nbytes += size
        if expected is None:
            digests.append((name, hexdigest, size))
        elif hexdigest == expected[name]:
            ok += 1
        else:
            problems.append(("mismatched", name, {"reason": "digest", "expected": expected[name], "actual": hexdigest}))
    return ok, nbytes, problems, digests


def _run_range(start, end):
    """Hash manifest entries ``start:end`` (inherited through the fork), one directory group at a time."""
    names = _JOB["names"]
    ok = nbytes = 0
    problems, digests = [], []
    current, items = None, []
    for name in names[start:end]:
        head, sep, base = name.rpartition("/")
        if head != current:
            if items:
                outcome = _run_task((current, items))
                ok, nbytes = ok + outcome[0], nbytes + outcome[1]
                problems.extend(outcome[2])
            current, items = head, []
        items.append((name, base, 0))
    if items:
        outcome = _run_task((current, items))
        ok, nbytes = ok + outcome[0], nbytes + outcome[1]
        problems.extend(outcome[2])
    return ok, nbytes, problems, digests


def _run_side():
    """The side job of a verification (listing the tree), run by a pool worker."""
    return _JOB["side"]()


def _shutdown(pool):
    """Stop the pool without waiting for queued tasks (cancel_futures needs Python 3.9)."""
    try:
        pool.shutdown(wait=False, cancel_futures=True)
    except TypeError:
        pool.shutdown(wait=False)


def _hash_tree(tree, algorithm, expected, sizes, workers, parallel, side=None):
    """Run every task of ``tree``; returns (ok, bytes, problems, digests, side's result).

    ``side()`` (the listing pass of a verification) runs in a worker beside the hashing, so this process
    only feeds tasks and never competes with it for the interpreter lock.
    """
    _JOB.clear()
    if sizes and not any(size is not None for size in sizes.values()):
        sizes = None
    _JOB.update(root=tree.root, root_real=os.path.realpath(tree.root), follow=tree.follow, expected=expected,
                sizes=sizes, new=constructor(algorithm), algorithm=algorithm, side=side,
                names=getattr(tree, "names", None))
    ok = nbytes = 0
    problems, digests = [], []
    side_result = None
    try:
        if parallel and workers > 1:
            # Imported here: a single file or a small tree never pays for them at module start-up.
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor
            from concurrent.futures.process import BrokenProcessPool

            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
            try:
                pending = pool.submit(_run_side) if side else None
                for outcome in pool.map(_run_task, tree.tasks(), chunksize=4):
                    ok += outcome[0]
                    nbytes += outcome[1]
                    problems.extend(outcome[2])
                    digests.extend(outcome[3])
                side_result = pending.result() if pending else None
            except BrokenProcessPool as exc:
                # multiprocessing.Pool waited forever for the task of a dead worker; this pool reports it.
                raise SourceError("a hashing worker process died (%s); it may have been killed for memory, "
                                  "retry with fewer workers" % exc)
            finally:
                _shutdown(pool)
        else:
            side_result = side() if side else None
            for task in tree.tasks():
                outcome = _run_task(task)
                ok += outcome[0]
                nbytes += outcome[1]
                problems.extend(outcome[2])
                digests.extend(outcome[3])
    finally:
        _JOB.clear()
        state = _WORKER.pop("opener", None)
        if state:
            state.close()
        _WORKER.clear()
    return ok, nbytes, problems, digests, side_result


class Timer:
    def __init__(self):
        self.start = time.time()

    def stats(self, files, nbytes):
        seconds = max(time.time() - self.start, 1e-6)
        return {"files": files, "bytes": nbytes, "seconds": round(seconds, 3),
                "throughput_mib_s": round(nbytes / seconds / (1 << 20), 1)}


def _workers(workers):
    return workers or os.cpu_count() or 1


def build_entries(root, ignore, algorithm, follow_symlinks=False, workers=0):
    """Hash every file of the tree: ({relpath: (hexdigest, size)}, stats)."""
    timer = Timer()
    workers = _workers(workers)
    tree = Tree(root, ignore, follow_symlinks, workers)
    nbytes, problems, digests = _hash_tree(tree, algorithm, None, None, workers, parallel=True)[1:4]
    if problems:
        kind, name, why = problems[0]
        raise InputError("%s %s; %d file(s) could not be hashed" % (name, why, len(problems)))
    if not digests:
        raise InputError("%s holds no files to hash (after ignore patterns); an empty dataset cannot be pinned"
                         % root)
    entries = dict((name, (hexdigest, size)) for name, hexdigest, size in digests)
    return entries, timer.stats(len(entries), nbytes)


class _ManifestTasks:
    """Hashing tasks straight from the manifest (no walk needed to start hashing).

    The workers inherit the list of names through the fork, so a task is only a range of it: this process
    does no per-file work and the workers start at once. Manifests are sorted, so a range covers one or a few
    directories; ranges hold at most 256 names (fewer for small manifests, so every worker gets several).
    """

    def __init__(self, root, names, follow_symlinks, workers):
        self.root = root
        self.follow = follow_symlinks
        self.names = names
        self.limit = max(1, min(256, -(-len(names) // (max(workers, 1) * 8))))

    def tasks(self):
        for start in range(0, len(self.names), self.limit):
            yield None, start, min(start + self.limit, len(self.names))


def verify_tree(root, digests, sizes, algorithm, ignore, follow_symlinks=False, workers=0):
    """Compare the tree with the manifest. Returns ok (count), mismatched, missing, extra, unsafe,
    unreadable and ignored (listed but left out by ``ignore``) as sorted lists, plus stats.

    The workers hash every listed file straight from the manifest while this process lists the tree for
    files the manifest does not know; each file is still opened without following symlinks and checked
    to be a regular file through the descriptor it is hashed from.
    """
    timer = Timer()
    workers = _workers(workers)
    if ignore:
        expected = dict((name, hexpart) for name, hexpart in digests.items() if not ignore(name))
        ignored = [name for name in digests if name not in expected]
    else:
        expected, ignored = digests, []
    plan = _ManifestTasks(root, list(expected), follow_symlinks, workers)
    ok, nbytes, problems, dummy, extra = _hash_tree(
        plan, algorithm, expected, sizes, workers, parallel=len(expected) >= 64,
        side=lambda: list_unlisted(root, expected, ignore, follow_symlinks))
    found = {"mismatched": [], ERR_MISSING: [], ERR_UNSAFE: [], ERR_UNREADABLE: []}
    for kind, name, detail in problems:
        if kind == "mismatched":
            item = {"path": name}
            item.update(detail)
            found[kind].append(item)
        elif kind == ERR_MISSING:
            found[kind].append(name)
        else:
            found[kind].append({"path": name, "reason": "%s %s" % (name, detail)})
    result = {
        "ok": ok,
        "mismatched": sorted(found["mismatched"], key=lambda item: sort_key(item["path"])),
        "missing": sorted(found[ERR_MISSING], key=sort_key),
        "extra": sorted(extra, key=sort_key),
        "unsafe": sorted(found[ERR_UNSAFE], key=lambda item: sort_key(item["path"])),
        "unreadable": sorted(found[ERR_UNREADABLE], key=lambda item: sort_key(item["path"])),
        "ignored": sorted(ignored, key=sort_key),
    }
    result.update(timer.stats(ok + len(found["mismatched"]), nbytes))
    return result
