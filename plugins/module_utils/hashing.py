# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dataset hashing: manifests, a symlink-safe tree walk and a parallel hasher.

Safety model
  * Every path from a manifest is validated before use: relative, '/'-separated, no empty, '.' or '..'
    component, no NUL, valid UTF-8 (:func:`check_relpath`).
  * Files are opened component by component from the root's descriptor with ``O_NOFOLLOW``, so neither a
    symlinked parent nor a symlinked file is followed unless ``follow_symlinks`` is set, and then only when
    the link resolves inside the root. The file is ``fstat``-ed through the same descriptor it is hashed
    from: it must be a regular file, and the same inode the walk saw (no swap between walk and hash).
  * Special files (devices, FIFOs, sockets) are refused.

Speed
  Hashing runs in ``workers`` forked processes (default: one per CPU) over chunks balanced by size, each with
  one reusable 1 MiB buffer; OpenSSL's SHA-256 uses the CPU's SHA extensions where present. Small jobs stay in
  the calling process.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import json
import os
import re
import stat
import time

try:
    import blake3 as _blake3
    HAS_BLAKE3 = True
except ImportError:
    _blake3 = None
    HAS_BLAKE3 = False

ALGORITHMS = ("sha256", "sha384", "sha512", "blake2b", "blake3")
DIGEST_HEX_LENGTH = {"sha256": 64, "sha384": 96, "sha512": 128, "blake2b": 128, "blake3": 64}
JSON_FORMAT_NAME = "ainative.security/dataset-manifest"
JSON_FORMAT_VERSION = 1
BUFFER_SIZE = 1 << 20
_SMALL_FILE = 256 * 1024
_HEX = re.compile(r"^[0-9a-f]+$")


class HashingError(Exception):
    """Bad input or an unsafe tree: the message says what is wrong and how to fix it."""


# --------------------------------------------------------------------------------------------------
# algorithms and digests
# --------------------------------------------------------------------------------------------------
def hasher(algorithm):
    if algorithm == "blake3":
        if not HAS_BLAKE3:
            raise HashingError("algorithm blake3 needs the Python package 'blake3' on the managed host "
                               "(pip install blake3), or choose sha256")
        return _blake3.blake3()
    if algorithm not in ALGORITHMS:
        raise HashingError("unknown algorithm %r; use one of %s" % (algorithm, ", ".join(ALGORITHMS)))
    return hashlib.new(algorithm)


def parse_digest(value, algorithm=None):
    """Split ``sha256:<hex>`` or bare hex into (algorithm, hex); check the length for the algorithm."""
    text = str(value).strip()
    if ":" in text:
        prefix, hexpart = text.split(":", 1)
        prefix = prefix.lower()
        if prefix not in ALGORITHMS:
            raise HashingError("digest %r names unknown algorithm %r; use one of %s"
                               % (value, prefix, ", ".join(ALGORITHMS)))
        if algorithm and algorithm != prefix:
            raise HashingError("digest %r is %s but algorithm is %s; make them agree" % (value, prefix, algorithm))
        algorithm = prefix
    else:
        hexpart = text
    algorithm = algorithm or "sha256"
    hexpart = hexpart.lower()
    if not _HEX.match(hexpart) or len(hexpart) != DIGEST_HEX_LENGTH[algorithm]:
        raise HashingError("malformed %s digest %r: expected %d hex characters, as in '%s:<hex>'"
                           % (algorithm, value, DIGEST_HEX_LENGTH[algorithm], algorithm))
    return algorithm, hexpart


# --------------------------------------------------------------------------------------------------
# paths and ignore globs
# --------------------------------------------------------------------------------------------------
def check_relpath(name, origin="manifest"):
    """Return ``name`` if it is a safe relative POSIX path inside the root, else raise HashingError."""
    if (name and isinstance(name, str) and "\x00" not in name and name[0] != "/" and name[-1] != "/"
            and "//" not in name and "/." not in name and name[0] != "."):
        return name  # fast path: nothing that could be '', '.', '..' or absolute
    if isinstance(name, bytes):
        try:
            name = name.decode("utf-8")
        except UnicodeDecodeError:
            raise HashingError("%s entry %r is not valid UTF-8" % (origin, name))
    if not name:
        raise HashingError("%s has an empty file name" % origin)
    if "\x00" in name:
        raise HashingError("%s entry %r contains a NUL byte" % (origin, name))
    if name.startswith("/"):
        raise HashingError("%s entry %r is an absolute path; entries must be relative to the dataset root"
                           % (origin, name))
    for part in name.split("/"):
        if part == "..":
            raise HashingError("%s entry %r climbs out of the dataset root with '..'; refusing it" % (origin, name))
        if part in ("", "."):
            raise HashingError("%s entry %r is not a normalized relative path (empty or '.' component)"
                               % (origin, name))
    return name


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
        self.regex = re.compile("^(?:%s)$" % "|".join(regexes)) if regexes else None

    def __call__(self, relpath):
        return relpath in self.exact or bool(self.regex and self.regex.match(relpath))

    def __bool__(self):
        """False when there is nothing to ignore, so hot loops can skip the call."""
        return bool(self.exact or self.regex)

    __nonzero__ = __bool__


# --------------------------------------------------------------------------------------------------
# manifests
# --------------------------------------------------------------------------------------------------
def _unescape_coreutils(name):
    out = []
    i = 0
    while i < len(name):
        if name[i] == "\\" and i + 1 < len(name):
            nxt = name[i + 1]
            out.append({"\\": "\\", "n": "\n", "r": "\r"}.get(nxt))
            if out[-1] is None:
                raise HashingError("bad escape '\\%s' in file name %r" % (nxt, name))
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


_PLAIN_LINE = re.compile(r"^([0-9a-fA-F]{64,128}) [ *]([^\n]*)$", re.M)


def parse_text_manifest(data, algorithm=None, origin="manifest"):
    """Parse coreutils ``sha256sum``-style text (and ``--tag`` lines) into (algorithm, {path: hex})."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HashingError("%s is not valid UTF-8 (byte %d)" % (origin, exc.start))
    fast = _parse_plain(text, algorithm)
    if fast is not None:
        return fast
    return _parse_text_lines(text, algorithm, origin)


def _parse_plain(text, algorithm):
    """The common case in C speed: only plain '<hex>  <name>' lines, one digest length, nothing escaped.

    Returns None whenever anything is unusual, and the line-by-line parser then gives exact errors.
    """
    if "\r" in text or "\\" in text:
        return None
    matches = _PLAIN_LINE.findall(text)
    if not matches or len(matches) != text.count("\n") + (0 if text.endswith("\n") else 1):
        return None
    length = len(matches[0][0])
    algo = algorithm or {64: "sha256", 96: "sha384", 128: "sha512"}.get(length)
    if algo is None or DIGEST_HEX_LENGTH[algo] != length:
        return None
    entries = dict((name, hexpart.lower()) for hexpart, name in matches)
    if len(entries) != len(matches) or any(len(match[0]) != length for match in matches):
        return None
    for name in entries:
        if check_relpath(name) is not name:
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
                raise HashingError("%s line %d: unsupported algorithm tag %r" % (origin, lineno, bsd.group("algo")))
            name, hexpart = bsd.group("name"), bsd.group("hex").lower()
        else:
            hexpart, sep, rest = line.partition(" ")
            if not sep or not rest or rest[0] not in " *":
                raise HashingError("%s line %d is not '<hex>  <file>' or '<hex> *<file>': %r"
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
            raise HashingError("%s line %d uses %s but the manifest is %s; one algorithm per manifest"
                               % (origin, lineno, line_algo, algorithm))
        if not _HEX.match(hexpart) or len(hexpart) != DIGEST_HEX_LENGTH[algorithm]:
            raise HashingError("%s line %d: malformed %s digest %r" % (origin, lineno, algorithm, hexpart[:140]))
        check_relpath(name, "%s line %d" % (origin, lineno))
        if name in entries:
            raise HashingError("%s line %d lists %r twice" % (origin, lineno, name))
        entries[name] = hexpart
    if not entries:
        raise HashingError("%s has no checksum lines" % origin)
    return algorithm, entries


def _algorithm_for_length(length, origin, lineno):
    for algo in ("sha256", "sha384", "sha512"):
        if DIGEST_HEX_LENGTH[algo] == length:
            return algo
    raise HashingError("%s line %d: a %d-character digest matches no supported algorithm; set algorithm"
                       % (origin, lineno, length))


def render_text_manifest(algorithm, entries):
    lines = []
    for name in sorted(entries, key=_sort_key):
        escaped, shown = _escape_coreutils(name)
        lines.append("%s%s  %s\n" % ("\\" if escaped else "", entries[name][0], shown))
    return "".join(lines).encode("utf-8")


def dataset_digest(algorithm, digests):
    """The one value that pins a dataset: SHA-256 over the algorithm and the sorted (path, digest) pairs.

    The same dataset gives the same value whether it was pinned as JSON or as sha256sum text.
    """
    canonical = json.dumps([algorithm, [[name, digests[name]] for name in sorted(digests, key=_sort_key)]],
                           ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_json_manifest(data, algorithm=None, origin="manifest"):
    """Parse the JSON manifest into (algorithm, {path: hex}, {path: size})."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise HashingError("%s is not valid JSON: %s" % (origin, exc))
    if not isinstance(doc, dict) or doc.get("format") != JSON_FORMAT_NAME:
        raise HashingError("%s is not an %s document (missing or wrong 'format')" % (origin, JSON_FORMAT_NAME))
    if doc.get("version") != JSON_FORMAT_VERSION:
        raise HashingError("%s has version %r; this module reads version %d"
                           % (origin, doc.get("version"), JSON_FORMAT_VERSION))
    doc_algo = doc.get("algorithm")
    if doc_algo not in ALGORITHMS:
        raise HashingError("%s names unknown algorithm %r" % (origin, doc_algo))
    if algorithm and algorithm != doc_algo:
        raise HashingError("%s is %s but algorithm=%s was requested; drop the option or make them agree"
                           % (origin, doc_algo, algorithm))
    files = doc.get("files")
    if not isinstance(files, list) or not files:
        raise HashingError("%s has no 'files' entries" % origin)
    digests, sizes = {}, {}
    for index, item in enumerate(files):
        where = "%s files[%d]" % (origin, index)
        if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not isinstance(item.get("digest"), str):
            raise HashingError("%s needs string 'path' and 'digest'" % where)
        name = check_relpath(item["path"], where)
        hexpart = item["digest"].lower()
        if not _HEX.match(hexpart) or len(hexpart) != DIGEST_HEX_LENGTH[doc_algo]:
            raise HashingError("%s: malformed %s digest" % (where, doc_algo))
        size = item.get("size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise HashingError("%s: size must be a non-negative integer" % where)
        if name in digests:
            raise HashingError("%s lists %r twice" % (origin, name))
        digests[name] = hexpart
        sizes[name] = size
    recorded = doc.get("dataset_digest")
    if recorded is not None and recorded != dataset_digest(doc_algo, digests):
        raise HashingError("%s: its own dataset_digest does not match its entries; the manifest was edited"
                           % origin)
    return doc_algo, digests, sizes


def render_json_manifest(algorithm, entries):
    """Deterministic JSON (no timestamps), so re-creating an unchanged tree gives identical bytes."""
    names = sorted(entries, key=_sort_key)
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
    return (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def read_manifest(data, fmt, algorithm=None, origin="manifest"):
    """(algorithm, digests, sizes) from manifest bytes; ``fmt`` is json, sha256sum or auto."""
    if fmt == "auto":
        fmt = "json" if data.lstrip()[:1] == b"{" else "sha256sum"
    if fmt == "json":
        return parse_json_manifest(data, algorithm, origin)
    algo, digests = parse_text_manifest(data, algorithm, origin)
    return algo, digests, dict((name, None) for name in digests)


def _sort_key(name):
    return name.encode("utf-8", "surrogateescape")


# --------------------------------------------------------------------------------------------------
# the tree: walk and safe open
# --------------------------------------------------------------------------------------------------
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_NONBLOCK", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

# Per-file problems besides a digest mismatch.
ERR_MISSING = "missing"
ERR_UNSAFE = "unsafe"
ERR_UNREADABLE = "unreadable"


def _inside(root_real, target_real):
    return target_real == root_real or target_real.startswith(root_real.rstrip("/") + "/")


def _constructor(algorithm):
    hasher(algorithm)  # raises for an unknown or unavailable algorithm
    if algorithm == "blake3":
        return _blake3.blake3
    return getattr(hashlib, algorithm)


def _chunks(open_dir, items, workers):
    """Split one directory's files into tasks: about four per worker, at most 512 files each."""
    size = max(1, min(512, -(-len(items) // (workers * 4))))
    for start in range(0, len(items), size):
        yield open_dir, items[start:start + size]


class _Tree:
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
                    raise HashingError("cannot stat directory %s: %s" % (logical or path, exc.strerror))
                if (info.st_dev, info.st_ino) in ancestors:
                    raise HashingError("directory %s leads back to one of its parents through a symlink (a loop); "
                                       "refusing it" % (logical or "."))
                ancestors = ancestors + ((info.st_dev, info.st_ino),)
            try:
                with os.scandir(path) as iterator:
                    entries = list(iterator)
            except OSError as exc:
                raise HashingError("cannot list directory %s: %s" % (path, exc.strerror))
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
                    raise HashingError("%s is not a regular file (device, FIFO or socket); refusing it" % name)
            yield from _chunks(real, items, self.workers)

    def _link(self, name, path, stack, ancestors):
        """Follow a symlink that resolves inside the root: push a directory or return a file task."""
        if not self.follow:
            raise HashingError("%s is a symlink; symlinks are not followed (set follow_symlinks=true to hash "
                               "targets inside the root, or add it to ignore)" % name)
        target = os.path.realpath(path)
        if not _inside(self.root_real, target):
            raise HashingError("%s is a symlink to %s, outside the dataset root; refusing it" % (name, target))
        try:
            info = os.stat(target)
        except OSError as exc:
            raise HashingError("%s is a broken symlink: %s" % (name, exc.strerror))
        real = os.path.relpath(target, self.root_real)
        real = "" if real == "." else real
        if stat.S_ISDIR(info.st_mode):
            stack.append((name, real, target, ancestors))
            return None
        if not stat.S_ISREG(info.st_mode):
            raise HashingError("%s points to something that is not a regular file; refusing it" % name)
        return os.path.dirname(real), [(name, os.path.basename(real), info.st_ino)]


class _DirOpener:
    """Opens directories below the root one component at a time with O_NOFOLLOW; caches the last one."""

    def __init__(self, root):
        self.root_fd = os.open(root, _DIR_FLAGS)
        self.key = None
        self.fd = None

    def open(self, relpath):
        if relpath == self.key:
            return self.fd
        self._drop()
        fd = self.root_fd
        try:
            for part in relpath.split("/") if relpath else ():
                new = os.open(part, _DIR_FLAGS | _NOFOLLOW, dir_fd=fd)
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


def hash_fd(fd, algorithm, buf, view, size_hint, new=None):
    """Hex digest and byte count of everything readable from ``fd``."""
    new = new or _constructor(algorithm)
    if size_hint < _SMALL_FILE:
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


# The job is handed to forked workers through the fork itself: nothing but task lists is pickled.
_JOB = {}
_WORKER = {}


def _open_followed(root_real, name):
    """(fd, None) for a symlinked path whose target lies inside the root, else (None, error)."""
    target = os.path.realpath(os.path.join(root_real, name))
    if not _inside(root_real, target):
        return None, OSError(errno.EXDEV, "resolves outside the dataset root")
    try:
        return os.open(target, _OPEN_FLAGS), None
    except OSError as exc:
        return None, exc


def _open_problem(name, exc):
    if exc.errno == errno.ENOENT:
        return ERR_MISSING, name, "does not exist"
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return ERR_UNSAFE, name, "is a symlink or lies under one (set follow_symlinks=true to allow links inside the root)"
    if exc.errno == errno.EXDEV:
        return ERR_UNSAFE, name, "is a symlink that resolves outside the dataset root"
    return ERR_UNREADABLE, name, "cannot open: %s" % exc.strerror


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
        state.update(pid=os.getpid(), opener=_DirOpener(job["root"]), buf=bytearray(BUFFER_SIZE))
        state["view"] = memoryview(state["buf"])
    opener, buf, view = state["opener"], state["buf"], state["view"]
    expected, sizes, new, algorithm = job["expected"], job["sizes"], job["new"], job["algorithm"]
    read, open_, fstat, close, is_regular = os.read, os.open, os.fstat, os.close, stat.S_ISREG
    flags = _OPEN_FLAGS | _NOFOLLOW
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
                fd, exc = _open_followed(job["root_real"], name)
            if fd is None:
                problems.append(_open_problem(name, exc))
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
                if info.st_size < _SMALL_FILE:
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


def _hash_tree(tree, algorithm, expected, sizes, workers, parallel, side=None):
    """Run every task of ``tree``; returns (ok, bytes, problems, digests, side's result).

    ``side()`` (the listing pass of a verification) runs in a worker beside the hashing, so this process
    only feeds tasks and never competes with it for the interpreter lock.
    """
    _JOB.clear()
    if sizes and not any(size is not None for size in sizes.values()):
        sizes = None
    _JOB.update(root=tree.root, root_real=os.path.realpath(tree.root), follow=tree.follow, expected=expected,
                sizes=sizes, new=_constructor(algorithm), algorithm=algorithm, side=side,
                names=getattr(tree, "names", None))
    ok = nbytes = 0
    problems, digests = [], []
    side_result = None
    try:
        if parallel and workers > 1:
            import multiprocessing
            pool = multiprocessing.get_context("fork").Pool(workers)
            try:
                pending = pool.apply_async(_run_side) if side else None
                for outcome in pool.imap_unordered(_run_task, tree.tasks(), chunksize=4):
                    ok += outcome[0]
                    nbytes += outcome[1]
                    problems.extend(outcome[2])
                    digests.extend(outcome[3])
                side_result = pending.get() if pending else None
            finally:
                pool.terminate()
                pool.join()
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


def hash_single_file(path, algorithm, follow_symlinks=False):
    """(hexdigest, size) of one file, opened with O_NOFOLLOW unless following is allowed."""
    new = _constructor(algorithm)
    flags = _OPEN_FLAGS | (0 if follow_symlinks else _NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise HashingError("%s is a symlink; set follow_symlinks=true to hash its target" % path)
        raise HashingError("cannot open %s: %s" % (path, exc.strerror))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise HashingError("%s is not a regular file" % path)
        buf = bytearray(BUFFER_SIZE)
        try:
            return hash_fd(fd, algorithm, buf, memoryview(buf), info.st_size, new)
        except OSError as exc:
            raise HashingError("cannot read %s: %s" % (path, exc.strerror))
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------------
# the two operations
# --------------------------------------------------------------------------------------------------
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
    tree = _Tree(root, ignore, follow_symlinks, workers)
    nbytes, problems, digests = _hash_tree(tree, algorithm, None, None, workers, parallel=True)[1:4]
    if problems:
        kind, name, why = problems[0]
        raise HashingError("%s %s; %d file(s) could not be hashed" % (name, why, len(problems)))
    if not digests:
        raise HashingError("%s holds no files to hash (after ignore patterns); an empty dataset cannot be pinned"
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


def _list_unlisted(root, expected, ignore, follow_symlinks):
    """Entries of the tree the manifest does not list: (extra names, error or None).

    Lists each directory the manifest names with one ``listdir`` and set arithmetic; only unknown names are
    stat-ed. Symlinks and special files that are not ignored are refused (HashingError).
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
                    raise HashingError("%s is a symlink; symlinks are not followed (set follow_symlinks=true to hash "
                                       "targets inside the root, or add it to ignore)" % rel)
                if not _inside(root_real, os.path.realpath(path)):
                    raise HashingError("%s is a symlink to %s, outside the dataset root; refusing it"
                                       % (rel, os.path.realpath(path)))
            elif not stat.S_ISDIR(info.st_mode):
                continue  # a file where the manifest expects a directory: its files show up as missing
        try:
            names = set(os.listdir(path))
        except OSError as exc:
            raise HashingError("cannot list directory %s: %s" % (path, exc.strerror))
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
        raise HashingError("cannot stat %s: %s" % (name, exc.strerror))
    if stat.S_ISLNK(info.st_mode):
        target = os.path.realpath(path)
        if not follow_symlinks:
            raise HashingError("%s is a symlink; symlinks are not followed (set follow_symlinks=true to hash "
                               "targets inside the root, or add it to ignore)" % name)
        if not _inside(root_real, target):
            raise HashingError("%s is a symlink to %s, outside the dataset root; refusing it" % (name, target))
        return [name]
    if stat.S_ISREG(info.st_mode):
        return [name]
    if stat.S_ISDIR(info.st_mode):
        tree = _Tree(path, _sub_ignore(ignore, name), follow_symlinks, 1)
        return [name + "/" + item[0] for task in tree.tasks() for item in task[1]]
    raise HashingError("%s is not a regular file (device, FIFO or socket); refusing it" % name)


def _sub_ignore(ignore, prefix):
    """The ignore rules seen from a sub-directory ``prefix`` of the root."""
    if not ignore:
        return ignore
    return lambda relpath: ignore(prefix + "/" + relpath)


def verify_tree(root, digests, sizes, algorithm, ignore, follow_symlinks=False, workers=0):
    """Compare the tree with the manifest. Returns ok (count), mismatched, missing, extra, unsafe and
    unreadable (sorted lists), plus stats.

    The workers hash every listed file straight from the manifest while this process lists the tree for
    files the manifest does not know; each file is still opened without following symlinks and checked
    to be a regular file through the descriptor it is hashed from.
    """
    timer = Timer()
    workers = _workers(workers)
    expected = dict((name, hexpart) for name, hexpart in digests.items() if not (ignore and ignore(name)))
    plan = _ManifestTasks(root, list(expected), follow_symlinks, workers)
    ok, nbytes, problems, dummy, extra = _hash_tree(
        plan, algorithm, expected, sizes, workers, parallel=len(expected) >= 64,
        side=lambda: _list_unlisted(root, expected, ignore, follow_symlinks))
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
        "mismatched": sorted(found["mismatched"], key=lambda item: _sort_key(item["path"])),
        "missing": sorted(found[ERR_MISSING], key=_sort_key),
        "extra": sorted(extra, key=_sort_key),
        "unsafe": sorted(found[ERR_UNSAFE], key=lambda item: _sort_key(item["path"])),
        "unreadable": sorted(found[ERR_UNREADABLE], key=lambda item: _sort_key(item["path"])),
    }
    result.update(timer.stats(ok + len(found["mismatched"]), nbytes))
    return result
