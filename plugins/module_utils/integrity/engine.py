# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parallel hashing engine: pin a tree or verify it against a manifest.

Hashing runs in ``workers`` forked processes (default: one per CPU). They inherit the job through the fork
and take task numbers from one pipe, so a worker that finishes a task takes the next one and nothing but
the results crosses a process boundary. Each worker has one reusable 1 MiB buffer; OpenSSL's SHA-256 uses
the CPU's SHA extensions where present. Small jobs stay in the calling process. Each file is ``fstat``-ed
through the descriptor it is hashed from: it must be a regular file, and the same inode the walk saw.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import gc
import marshal
import os
import signal
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


# The job is handed to forked workers through the fork itself: only results are serialized (marshal).
_JOB = {}
_WORKER = {}
# Task numbers are 4-byte records in one pipe: at most this many, so the whole queue is one write of less
# than PIPE_BUF (atomic, and it fits even a one-page pipe), and each 4-byte read takes exactly one task.
QUEUE_RECORDS = 1000
RECORD = 4


def _state():
    """This process's directory opener and buffer (a forked worker makes its own)."""
    state = _WORKER
    if state.get("pid") != os.getpid():
        state.clear()
        buf = bytearray(BUFFER_SIZE)
        state.update(pid=os.getpid(), opener=DirOpener(_JOB["root"]), buf=buf, view=memoryview(buf))
    return state


def _open_fallback(name, exc):
    """With follow_symlinks, a file under a link (ELOOP/ENOTDIR) is opened through open_beneath:
    (fd, None), or (None, problem)."""
    if _JOB["follow"] and exc.errno in (errno.ELOOP, errno.ENOTDIR):
        try:
            return open_beneath(_state()["opener"].root_fd, _JOB["root_real"], name), None
        except OSError as error:
            exc = error
    return None, open_problem(name, exc)


def _open_regular(base, name, dir_fd, dir_error, problems):
    """(fd, fstat) of ``base`` in the open directory, a regular file; (None, None) after recording why not."""
    try:
        if dir_error is not None:
            raise dir_error
        fd = os.open(base, OPEN_FLAGS | NOFOLLOW, dir_fd=dir_fd)
    except OSError as exc:
        fd, problem = _open_fallback(name, exc)
        if fd is None:
            problems.append(problem)
            return None, None
    try:
        info = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        problems.append((ERR_UNSAFE, name, "is not a regular file"))
        return None, None
    return fd, info


def _hash_open(fd, name, info, problems):
    """Digest and size of an open regular file, or None after recording why not."""
    sizes = _JOB["sizes"]
    if sizes:
        want_size = sizes.get(name)
        if want_size is not None and want_size != info.st_size:
            problems.append(("mismatched", name, {"reason": "size", "expected_size": want_size,
                                                  "actual_size": info.st_size}))
            return None
    state = _state()
    try:
        return hash_fd(fd, _JOB["algorithm"], state["buf"], state["view"], info.st_size, _JOB["new"])
    except OSError as exc:
        problems.append((ERR_UNREADABLE, name, "cannot read: %s" % exc.strerror))
        return None


def _verify_range(start, end):
    """Verify manifest entries ``start:end`` (inherited through the fork); returns (ok, bytes, problems, []).

    The hot loop of many small files: per file one open relative to the directory's descriptor, one
    fstat, one read of size + 1 bytes (a short read proves EOF) and one close; everything else (size
    checks, large files, links) takes the general path.
    """
    job = _JOB
    names, expected, sizes = job["names"], job["expected"], job["sizes"]
    opener = _state()["opener"]
    seed = job["new"]()
    copy = seed.copy
    read, close = os.read, os.close
    ok = nbytes = 0
    problems = []
    current = dir_fd = dir_error = None
    for name in names[start:end]:
        head, dummy, base = name.rpartition("/")
        if head != current:
            current = head
            try:
                dir_fd, dir_error = opener.open(head), None
            except OSError as exc:
                dir_fd, dir_error = None, exc
        fd, info = _open_regular(base, name, dir_fd, dir_error, problems)
        if fd is None:
            continue
        try:
            size = info.st_size
            data = None
            if size < SMALL_FILE and not sizes:
                try:
                    data = read(fd, size + 1)
                except OSError as exc:
                    problems.append((ERR_UNREADABLE, name, "cannot read: %s" % exc.strerror))
                    continue
            if data is not None and len(data) <= size:
                digest = copy()
                digest.update(data)
                hexdigest, size = digest.hexdigest(), len(data)
            else:  # a size to check, a large file, or one that grew since fstat: from the start
                if data is not None:
                    os.lseek(fd, 0, os.SEEK_SET)
                hashed = _hash_open(fd, name, info, problems)
                if hashed is None:
                    continue
                hexdigest, size = hashed
        finally:
            close(fd)
        nbytes += size
        if hexdigest == expected[name]:
            ok += 1
        else:
            problems.append(("mismatched", name, {"reason": "digest", "expected": expected[name], "actual": hexdigest}))
    return ok, nbytes, problems, []


def _hash_items(open_dir, items):
    """Hash one directory chunk of a walk: (ok, bytes, problems, [(name, hexdigest, size), ...])."""
    opener = _state()["opener"]
    nbytes = 0
    problems, digests = [], []
    try:
        dir_fd, dir_error = opener.open(open_dir), None
    except OSError as exc:
        dir_fd, dir_error = None, exc
    for name, base, inode in items:
        fd, info = _open_regular(base, name, dir_fd, dir_error, problems)
        if fd is None:
            continue
        try:
            if inode and info.st_ino != inode:
                problems.append((ERR_UNSAFE, name, "was replaced during verification"))
                continue
            hashed = _hash_open(fd, name, info, problems)
        finally:
            os.close(fd)
        if hashed is not None:
            nbytes += hashed[1]
            digests.append((name, hashed[0], hashed[1]))
    return 0, nbytes, problems, digests


def _run_task(task):
    """Run one task: ``(None, start, end)``, a range of the manifest to verify, or ``(open_dir, items)``,
    a directory chunk of a walk to hash. Returns (ok, bytes, problems, digests)."""
    if task[0] is None:
        return _verify_range(task[1], task[2])
    return _hash_items(task[0], task[1])


def _run_side():
    """The side job of a verification (listing the tree), run beside the hashing workers."""
    return _JOB["side"]()


def _groups(tasks, files):
    """Join consecutive tasks into at most QUEUE_RECORDS groups of about equal file counts."""
    target = max(1, -(-files // QUEUE_RECORDS))
    groups, group, count = [], [], 0
    for task in tasks:
        group.append(task)
        count += task[2] - task[1] if task[0] is None else len(task[1])
        if count >= target:
            groups.append(group)
            group, count = [], 0
    if group:
        groups.append(group)
    return groups


def _worker(queue_fd, result_fd):
    """A forked worker: run the groups whose numbers it reads from the queue, write the sum of their
    outcomes to ``result_fd`` (marshal), and exit without returning into the caller's code."""
    code = 1
    try:
        gc.disable()  # short-lived and makes no cycles: a collection would only touch the parent's pages
        groups = _JOB["groups"]
        ok = nbytes = 0
        problems, digests = [], []
        while True:
            record = os.read(queue_fd, RECORD)
            if not record:
                break
            for task in groups[int.from_bytes(record, "little")]:
                outcome = _run_task(task)
                ok += outcome[0]
                nbytes += outcome[1]
                problems.extend(outcome[2])
                digests.extend(outcome[3])
        payload = marshal.dumps((True, ok, nbytes, problems, digests))
        code = 0
    except BaseException as exc:  # pylint: disable=broad-except  # reported to the parent as one line
        payload = marshal.dumps((False, "%s: %s" % (type(exc).__name__, exc)))
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(result_fd, view):]
    finally:
        os._exit(code)


def _collect(pid, result_fd):
    """The outcome a worker wrote; SourceError when it died (killed, out of memory) or failed."""
    chunks = []
    while True:
        chunk = os.read(result_fd, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    status = os.waitpid(pid, 0)[1]
    try:
        result = marshal.loads(b"".join(chunks))
    except (EOFError, ValueError, TypeError):
        raise SourceError("a hashing worker process died (%s); it may have been killed for memory, retry with "
                          "fewer workers" % _exit_text(status))
    if not result[0]:
        raise SourceError("a hashing worker process failed: %s" % result[1])
    return result[1:]


def _exit_text(status):
    if os.WIFSIGNALED(status):
        return "killed by signal %d" % os.WTERMSIG(status)
    return "exit status %d" % os.WEXITSTATUS(status)


def _forked(groups, workers, side):
    """Run every group in ``workers`` forked processes while this one runs ``side()``; returns
    (outcomes, side's result). Workers left behind by an error here are killed and reaped."""
    _JOB["groups"] = groups
    queue_r, queue_w = os.pipe()
    children = {}
    try:
        os.write(queue_w, b"".join(index.to_bytes(RECORD, "little") for index in range(len(groups))))
        os.close(queue_w)
        queue_w = None
        for dummy in range(min(workers, len(groups))):
            result_r, result_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(result_r)
                _worker(queue_r, result_w)
            os.close(result_w)
            children[pid] = result_r
        side_result = _run_side() if side else None
        outcomes = []
        while children:
            pid, result_fd = children.popitem()
            try:
                outcomes.append(_collect(pid, result_fd))
            finally:
                os.close(result_fd)
        return outcomes, side_result
    finally:
        for fd in (queue_r, queue_w):
            if fd is not None:
                os.close(fd)
        for pid, result_fd in children.items():
            os.close(result_fd)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            os.waitpid(pid, 0)


def _hash_tree(tree, algorithm, expected, sizes, workers, parallel, side=None):
    """Run every task of ``tree``; returns (ok, bytes, problems, digests, side's result).

    ``side()`` (the listing pass of a verification) runs in this process while forked workers hash, so it
    never competes with them for one interpreter lock.
    """
    _JOB.clear()
    if sizes and not any(size is not None for size in sizes.values()):
        sizes = None
    _JOB.update(root=tree.root, root_real=os.path.realpath(tree.root), follow=tree.follow, expected=expected,
                sizes=sizes, new=constructor(algorithm), algorithm=algorithm, side=side,
                names=getattr(tree, "names", None))
    try:
        if parallel and workers > 1:
            tasks = list(tree.tasks())
            files = sum(task[2] - task[1] if task[0] is None else len(task[1]) for task in tasks)
            outcomes, side_result = _forked(_groups(tasks, files), workers, side)
        else:
            side_result = _run_side() if side else None
            outcomes = [_run_task(task) for task in tree.tasks()]
    finally:
        _JOB.clear()
        state = _WORKER.pop("opener", None)
        if state:
            state.close()
        _WORKER.clear()
    ok = nbytes = 0
    problems, digests = [], []
    for outcome in outcomes:
        ok += outcome[0]
        nbytes += outcome[1]
        problems.extend(outcome[2])
        digests.extend(outcome[3])
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
        name, why = problems[0][1:]
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


def verify_tree(root, digests, sizes, algorithm, ignore, follow_symlinks=False, workers=0, beside=None):
    """Compare the tree with the manifest. Returns ok (count), mismatched, missing, extra, unsafe,
    unreadable and ignored (listed but left out by ``ignore``) as sorted lists, plus stats.

    The workers hash every listed file straight from the manifest while this process lists the tree for
    files the manifest does not know; each file is still opened without following symlinks and checked
    to be a regular file through the descriptor it is hashed from. ``beside()``, the caller's own work on
    the manifest, runs in this process during the hashing too (first); its result is ``result["beside"]``,
    and an exception it raises stops the workers and propagates.
    """
    timer = Timer()
    workers = _workers(workers)
    if ignore:
        expected = dict((name, hexpart) for name, hexpart in digests.items() if not ignore(name))
        ignored = [name for name in digests if name not in expected]
    else:
        expected, ignored = digests, []
    plan = _ManifestTasks(root, list(expected), follow_symlinks, workers)
    ok, nbytes, problems, dummy, (beside_result, extra) = _hash_tree(
        plan, algorithm, expected, sizes, workers, parallel=len(expected) >= 64,
        side=lambda: (beside() if beside else None, list_unlisted(root, expected, ignore, follow_symlinks)))
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
        "beside": beside_result,
    }
    result.update(timer.stats(ok + len(found["mismatched"]), nbytes))
    return result
