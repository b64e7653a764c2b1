# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic file writes shared by every plugin that writes a manifest, report or credentials file.

One file: :func:`atomic_writer` (temporary file in the same directory, one rename). A set of files that
readers must see whole, such as a control's reports (JSON, SARIF, JUnit, HTML, SBOMs): :func:`publish_set`.

Why a journal. One rename is atomic, several are not: a job killed between the JSON's rename and the
page's leaves a new JSON beside an old page, and a killed writer leaves its temporary files behind. So:

1. Lock every directory of the set (flock on the directory itself, so no lock file is left behind), then
   recover what an earlier, killed run left there. Every later step runs under these locks, so a journal
   found by a lock holder is never a live run's: only a dead run leaves one.
2. Write the intent journal ``.ainative-<token>.journal`` (created exclusively, fsynced) naming every
   temporary file this run may create, before it creates any. Whatever a kill leaves is then provably
   ours; a name pattern alone cannot tell our temporary file from a user's file named like one.
3. Stream each file to ``.ainative-<token>.<n>.tmp`` in its final file's directory (same file system, so
   the rename is atomic; O_EXCL, never through a symlink, private, owner and mode set through the
   descriptor, fsynced), comparing it with the current file while it is written. An unchanged file's
   temporary file is dropped at once: only a content change is a change, and it is not renamed.
4. Commit: write ``.ainative-<token>.commit`` (exclusive, fsynced, directory fsynced) listing the
   temporary -> final pairs. A separate record, not a rewrite of the journal: it is either absent, or
   whole (it ends with ``complete``) and then the point of no return; a torn one does not parse.
5. Rename each pair, fsync the directories, remove the commit record, then the journal.

Recovery of a journal: with a whole commit record it rolls forward (renames the temporary files still
there; a missing one was already renamed, since only we remove them, under the lock), else it rolls back
(removes the temporary files; no final file was touched). Either way the set is then entirely old or
entirely new and none of our files is left. An error inside a run before the commit rolls back at once;
after it, the journal stays for the next run to finish. What recovery may touch is strict: a journal and
commit record owned by this user, not group/other-writable, that parse whole with our schema and token,
and of their pairs only those whose temporary name is ``.ainative-<that token>.<n>.tmp`` in the same
directory as its final file. Anything else - a user's file named like ours, an unparseable journal, a
journal of another user, 0.1.0's ``.<name>.<random>.tmp`` files - is left alone.

Limits: recovery looks in the directories the current set writes to, and the journal lives in the first
file's directory; on a file system without flock (some network mounts) sets are not serialized.
Check mode locks nothing, recovers nothing and writes nothing: it only compares.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import contextlib
import errno
import fcntl
import json
import os
import re
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


def open_regular_file(path, what, error=InputError):
    """A binary handle on ``path`` if it is a regular file, else ``error``, for reading it as a stream.

    Opened non-blocking so a FIFO cannot hang the module, and checked after opening so a swap between
    the check and the read cannot change what is read; ``/dev/zero`` is refused as not regular.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except (IOError, OSError) as exc:
        hint = "; check the path" if exc.errno == errno.ENOENT else ""
        raise error("cannot read %s %s: %s%s" % (what, path, exc.strerror or exc, hint))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise error("%s %s is not a regular file; give the path of a file" % (what, path))
    return os.fdopen(fd, "rb")


def read_regular_file(path, what, limit=READ_LIMIT, error=InputError):
    """Bytes of ``path`` if it is a regular file (:func:`open_regular_file`) of at most ``limit`` bytes."""
    with open_regular_file(path, what, error) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise error("%s %s is %d bytes, more than the %d this control reads" % (what, path, size, limit))
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
    whole. Changed, it replaces ``path`` through :func:`publish_set` (a set of one file); unchanged (or in
    check mode), ``path`` is left alone. Returns ``{"changed": bool}``.
    """
    changed = publish_set([(path, produce)], mode=mode, check_mode=check_mode, make_dirs=make_dirs)
    return {"changed": changed[os.path.abspath(path)]}


# -- publishing a set of files as one unit (the protocol is in the module docstring) ---------------------

_TOKEN = r"[0-9a-f]{32}"
JOURNAL_NAME = re.compile(r"^\.ainative-(%s)\.journal$" % _TOKEN)
_JOURNAL_SCHEMA = "ainative.security/publish/1"
_JOURNAL_LIMIT = 1 << 20
LOCK_WAIT = 600  # seconds another run of ours may hold a report directory
_PAUSE_ENV = "AINATIVE_TEST_PAUSE_AFTER"


def _temp_name(token, index):
    return ".ainative-%s.%d.tmp" % (token, index)


def _temp_pattern(token):
    return re.compile(r"^\.ainative-%s\.\d{1,4}\.tmp$" % re.escape(token))


def _test_pause(step):
    """Test hook: with AINATIVE_TEST_PAUSE_AFTER=<step>, stop after that step (tests kill the process there)."""
    wanted = os.environ.get(_PAUSE_ENV)
    if wanted and wanted == step:
        marker = os.environ.get("AINATIVE_TEST_PAUSE_FILE")
        if marker:
            with open(marker, "w") as handle:
                handle.write(step)
        time.sleep(3600)


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory; the renames still happened
    finally:
        os.close(fd)


class _DirectoryLocks(object):
    """Exclusive flock on each directory (sorted, so two sets never wait on each other in a cycle)."""

    def __init__(self, directories, wait=LOCK_WAIT):
        self.fds = {}
        try:
            for directory in sorted(set(directories)):
                if not self.take(directory, wait):
                    raise OSError(errno.EWOULDBLOCK, "another run holds %s for more than %d s" % (directory, wait))
        except BaseException:
            self.release()
            raise

    def take(self, directory, wait):
        """Lock ``directory``; False when it stayed busy ``wait`` seconds. A file system without flock is not locked."""
        if directory in self.fds:
            return True
        try:
            fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            return True  # a write-only directory cannot be opened for a lock; publish without one
        deadline = time.time() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.fds[directory] = fd
                return True
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    return True  # no flock here (some network file systems)
            if time.time() >= deadline:
                os.close(fd)
                return False
            time.sleep(0.05)

    def release(self):
        for fd in self.fds.values():
            os.close(fd)
        self.fds = {}


def _owned_regular(path):
    """True when ``path`` is a regular file (not a symlink) owned by this process's user."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid()


def _read_record(path):
    """The dict a journal or commit record holds, or None (missing, not ours, not whole, not parseable)."""
    if not _owned_regular(path) or os.lstat(path).st_mode & 0o022:
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read(_JOURNAL_LIMIT + 1)
        record = json.loads(data.decode("utf-8"))
    except (IOError, OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict) or record.get("schema") != _JOURNAL_SCHEMA or record.get("complete") is not True:
        return None
    return record


def _write_record(path, record):
    """Create ``path`` exclusively with ``record`` (JSON, ``complete`` last), fsync it and its directory."""
    record = dict(record, schema=_JOURNAL_SCHEMA, complete=True)
    data = json.dumps(record, sort_keys=True).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    _fsync_dir(os.path.dirname(path))


def _remove(path):
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise


def _valid_pairs(token, pairs):
    """The (temporary, final) pairs of a record that are ours: strict temporary name, same directory as the final."""
    pattern = _temp_pattern(token)
    valid = []
    for pair in pairs if isinstance(pairs, list) else []:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) and os.path.isabs(p) for p in pair)):
            continue
        tmp, final = pair
        if pattern.match(os.path.basename(tmp)) and os.path.dirname(tmp) == os.path.dirname(final):
            valid.append((tmp, final))
    return valid


def _recover(journal_path, token, locks):
    """Roll the set of a killed run forward (whole commit record) or back; True when done."""
    journal = _read_record(journal_path)
    if journal is None or journal.get("token") != token:
        return False
    planned = _valid_pairs(token, journal.get("files"))
    if not all(locks.take(os.path.dirname(tmp), 0) for tmp, dummy in planned):
        return False  # a live run of ours holds one of its directories: later
    commit_path = journal_path[:-len(".journal")] + ".commit"
    commit = _read_record(commit_path)
    if commit is not None and commit.get("token") == token:
        for tmp, final in _valid_pairs(token, commit.get("files")):
            if _owned_regular(tmp):
                os.rename(tmp, final)
        for directory in sorted(set(os.path.dirname(final) for dummy, final in planned)):
            _fsync_dir(directory)
    for tmp, dummy in planned:
        if _owned_regular(tmp):
            _remove(tmp)
    if _owned_regular(commit_path):
        _remove(commit_path)
    _remove(journal_path)
    _fsync_dir(os.path.dirname(journal_path))
    return True


def recover_sets(directories, locks):
    """Finish or undo every set a killed run of ours left in ``directories`` (which ``locks`` holds)."""
    for directory in sorted(set(directories)):
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in sorted(names):
            match = JOURNAL_NAME.match(name)
            if match:
                _recover(os.path.join(directory, name), match.group(1), locks)


def _open_old(path):
    try:
        return open(path, "rb")
    except (IOError, OSError) as exc:
        if getattr(exc, "errno", None) != errno.ENOENT:
            raise
        return None


def _compare_only(path, produce):
    old = _open_old(path)
    try:
        sink = _ComparingSink(old)
        produce(sink)
        return not sink.finish()
    finally:
        if old is not None:
            old.close()


def _write_temp(tmp, path, produce, mode, uid, gid):
    """Stream ``produce`` to the new file ``tmp`` (fsynced); True when it differs from ``path``."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0),
                 0o600)
    old = None
    try:
        with os.fdopen(fd, "wb") as handle:
            if uid != -1 or gid != -1:
                os.fchown(handle.fileno(), uid, gid)
            os.fchmod(handle.fileno(), mode)
            old = _open_old(path)
            sink = _ComparingSink(old, handle)
            produce(sink)
            same = sink.finish()
            handle.flush()
            if not same:
                os.fsync(handle.fileno())
    finally:
        if old is not None:
            old.close()
    return not same


def publish_set(files, mode=0o644, check_mode=False, make_dirs=False, uid=-1, gid=-1, workers=1):
    """Replace each ``(path, produce)`` of ``files`` with what ``produce(handle)`` writes, as one unit.

    Readers (and the next run, after a kill at any point) see the whole old set or the whole new set; a
    file whose content is unchanged is not touched. See the module docstring for the protocol. Returns
    ``{path: changed}``; check mode only compares. An error rolls the set back and is raised.
    ``workers`` > 1 writes the files in that many processes (forked; for large CPU-bound sets).
    """
    files = [(os.path.abspath(path), produce) for path, produce in files]
    if not files:
        return {}
    if check_mode:
        return dict((path, _compare_only(path, produce)) for path, produce in files)
    directories = sorted(set(os.path.dirname(path) for path, dummy in files))
    if make_dirs:
        for directory in directories:
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o755)
    locks = _DirectoryLocks(directories)
    try:
        recover_sets(directories, locks)
        _test_pause("recovered")
        return _publish(files, mode, uid, gid, workers, list(locks.fds.values()))
    finally:
        locks.release()


def _write_group(jobs, mode, uid, gid):
    changed = {}
    for tmp, path, produce in jobs:
        changed[path] = _write_temp(tmp, path, produce, mode, uid, gid)
        if not changed[path]:
            _remove(tmp)
        _test_pause("temp:%s" % os.path.basename(path))
    return changed


def _die_with_parent():
    """Linux: a forked writer is killed when the module process is, so it never writes after a kill."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except (ImportError, OSError, AttributeError):
        pass


def _fork_group(jobs, mode, uid, gid, inherited):
    """(pid, read end) of a child writing ``jobs``; it sends back a pickled ``{path: changed}`` or exception."""
    import pickle
    parent = os.getpid()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid:
        os.close(writer)
        return pid, reader
    status = 1
    try:  # the child: never returns into the caller's stack, never runs the parent's exit handlers
        os.close(reader)
        for fd in inherited:  # the parent's directory locks stay the parent's alone
            os.close(fd)
        _die_with_parent()
        if os.getppid() != parent:
            os._exit(1)
        try:
            answer = _write_group(jobs, mode, uid, gid)
            status = 0
        except BaseException as exc:  # any failure goes back to the parent, which rolls the set back
            answer = exc
        try:
            payload = pickle.dumps(answer, 2)
        except Exception:  # an unpicklable exception still reaches the parent as its text
            payload = pickle.dumps(OSError(errno.EIO, str(answer)), 2)
        with os.fdopen(writer, "wb") as handle:
            handle.write(payload)
    finally:
        os._exit(status)


def _join_group(pid, reader):
    import pickle
    with os.fdopen(reader, "rb") as handle:
        payload = handle.read()
    dummy, status = os.waitpid(pid, 0)
    try:
        answer = pickle.loads(payload)
    except Exception:
        answer = None
    if isinstance(answer, BaseException):
        raise answer
    if not isinstance(answer, dict) or status != 0:
        how = ("was killed by signal %d" % os.WTERMSIG(status) if os.WIFSIGNALED(status)
               else "ended with status %d" % os.WEXITSTATUS(status))
        raise OSError(errno.EIO, "a report writer process %s before finishing" % how)
    return answer


def _write_temps(jobs, mode, uid, gid, workers, inherited):
    """``{path: changed}`` of every job; with ``workers`` > 1, jobs ``i::workers`` go to forked children
    (writing large reports is CPU-bound: each format on its own core). Every child is joined before this
    returns or raises, so no writer outlives the set's error handling."""
    groups = [jobs[index::workers] for index in range(max(workers, 1))] if len(jobs) > 1 else [jobs]
    groups = [group for group in groups if group]
    children = [_fork_group(group, mode, uid, gid, inherited) for group in groups[1:]]
    changed, error = {}, None
    try:
        changed.update(_write_group(groups[0], mode, uid, gid))
    except BaseException as exc:
        error = exc
    for pid, reader in children:
        try:
            changed.update(_join_group(pid, reader))
        except BaseException as exc:
            error = error or exc
    if error is not None:
        raise error
    return dict((job[1], changed[job[1]]) for job in jobs)


def _publish(files, mode, uid, gid, workers=1, inherited=()):
    token = binascii.hexlify(os.urandom(16)).decode("ascii")
    home = os.path.dirname(files[0][0])
    journal_path = os.path.join(home, ".ainative-%s.journal" % token)
    commit_path = os.path.join(home, ".ainative-%s.commit" % token)
    planned = [(os.path.join(os.path.dirname(path), _temp_name(token, index)), path)
               for index, (path, dummy) in enumerate(files)]
    _write_record(journal_path, {"token": token, "files": [list(pair) for pair in planned]})
    _test_pause("journal")
    committed = False
    try:
        jobs = [(tmp, path, produce) for (tmp, path), (dummy, produce) in zip(planned, files)]
        changed = _write_temps(jobs, mode, uid, gid, workers, inherited)
        pairs = [[tmp, path] for tmp, path in planned if changed[path]]
        if pairs:
            _write_record(commit_path, {"token": token, "files": pairs})
            committed = True
            _test_pause("commit")
            for tmp, path in pairs:
                os.rename(tmp, path)
                _test_pause("rename:%s" % os.path.basename(path))
            for directory in sorted(set(os.path.dirname(path) for dummy, path in pairs)):
                _fsync_dir(directory)
            _remove(commit_path)
        _remove(journal_path)
        _fsync_dir(home)
        _test_pause("done")
    except BaseException:
        if not committed:  # undo: the old set was never touched
            for tmp, dummy in planned:
                if _owned_regular(tmp):
                    _remove(tmp)
            _remove(journal_path)
        # after the commit the journal stays: the next run rolls forward what could not be renamed now
        raise
    return changed


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
