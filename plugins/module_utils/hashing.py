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


def parse_text_manifest(data, algorithm=None, origin="manifest"):
    """Parse coreutils ``sha256sum``-style text (and ``--tag`` lines) into (algorithm, {path: hex})."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HashingError("%s is not valid UTF-8 (byte %d)" % (origin, exc.start))
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
class Entry:
    __slots__ = ("path", "size", "dev", "ino")

    def __init__(self, path, size, dev, ino):
        self.path = path
        self.size = size
        self.dev = dev
        self.ino = ino


def _inside(root_real, target_real):
    return target_real == root_real or target_real.startswith(root_real.rstrip("/") + "/")


def walk(root, ignore, follow_symlinks=False):
    """Regular files under ``root`` as {relpath: Entry}; raises HashingError for unsafe entries."""
    root_real = os.path.realpath(root)
    found = {}
    seen_dirs = set()
    stack = [("", root)]
    while stack:
        rel_dir, abs_dir = stack.pop()
        try:
            dir_stat = os.stat(abs_dir)
            with os.scandir(abs_dir) as iterator:
                entries = list(iterator)
        except OSError as exc:
            raise HashingError("cannot list directory %s: %s" % (abs_dir, exc.strerror))
        key = (dir_stat.st_dev, dir_stat.st_ino)
        if key in seen_dirs:
            raise HashingError("directory %s is reached twice through symlinks (a loop); refusing it" % abs_dir)
        seen_dirs.add(key)
        for item in entries:
            rel = rel_dir + "/" + item.name if rel_dir else item.name
            if ignore(rel):
                continue
            try:
                info = item.stat(follow_symlinks=False)
            except OSError as exc:
                raise HashingError("cannot stat %s: %s" % (rel, exc.strerror))
            mode = info.st_mode
            if stat.S_ISLNK(mode):
                if not follow_symlinks:
                    raise HashingError("%s is a symlink; symlinks are not followed (set follow_symlinks=true to hash "
                                       "targets inside the root, or add it to ignore)" % rel)
                target = os.path.realpath(item.path)
                if not _inside(root_real, target):
                    raise HashingError("%s is a symlink to %s, outside the dataset root; refusing it" % (rel, target))
                try:
                    info = os.stat(target)
                except OSError as exc:
                    raise HashingError("%s is a broken symlink: %s" % (rel, exc.strerror))
                mode = info.st_mode
                if stat.S_ISDIR(mode):
                    stack.append((rel, item.path))
                    continue
            elif stat.S_ISDIR(mode):
                stack.append((rel, item.path))
                continue
            if not stat.S_ISREG(mode):
                raise HashingError("%s is not a regular file (device, FIFO or socket); refusing it" % rel)
            found[rel] = Entry(rel, info.st_size, info.st_dev, info.st_ino)
    return found


_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_NONBLOCK", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class SafeOpener:
    """Opens files under a root without following symlinks anywhere on the way (unless allowed).

    Directory descriptors are cached for consecutive files in the same directory.
    """

    def __init__(self, root, follow_symlinks=False):
        self.root = root
        self.root_real = os.path.realpath(root)
        self.follow = follow_symlinks
        self.root_fd = os.open(root, _DIR_FLAGS)
        self._dir_key = None
        self._dir_fd = None

    def close(self):
        if self._dir_fd is not None and self._dir_fd != self.root_fd:
            os.close(self._dir_fd)
        os.close(self.root_fd)

    def _dir(self, parts):
        key = "/".join(parts)
        if key == self._dir_key:
            return self._dir_fd
        if self._dir_fd is not None and self._dir_fd != self.root_fd:
            os.close(self._dir_fd)
        self._dir_key, self._dir_fd = None, None
        fd = self.root_fd
        try:
            for part in parts:
                new = os.open(part, _DIR_FLAGS | _NOFOLLOW, dir_fd=fd)
                if fd != self.root_fd:
                    os.close(fd)
                fd = new
        except OSError:
            if fd != self.root_fd:
                os.close(fd)
            raise
        self._dir_key, self._dir_fd = key, fd
        return fd

    def open(self, relpath):
        """A read descriptor for ``relpath`` (already validated by check_relpath)."""
        if self.follow:
            target = os.path.realpath(os.path.join(self.root, relpath))
            if not _inside(self.root_real, target):
                raise OSError(errno.EXDEV, "resolves outside the dataset root")
            return os.open(target, _OPEN_FLAGS)
        parts = relpath.split("/")
        return os.open(parts[-1], _OPEN_FLAGS | _NOFOLLOW, dir_fd=self._dir(parts[:-1]))


def hash_fd(fd, algorithm, buf, view, size_hint):
    """Hex digest and byte count of everything readable from ``fd``."""
    digest = hasher(algorithm)
    total = 0
    if size_hint <= _SMALL_FILE:
        while True:
            chunk = os.read(fd, _SMALL_FILE)
            if not chunk:
                break
            digest.update(chunk)
            total += len(chunk)
            # A short read that reaches the size fstat reported is EOF: saves a syscall per small file.
            if len(chunk) < _SMALL_FILE and total >= size_hint:
                break
        return digest.hexdigest(), total
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


# Per-file outcomes besides a digest.
ERR_MISSING = "missing"
ERR_UNSAFE = "unsafe"
ERR_UNREADABLE = "unreadable"
ERR_CHANGED = "changed"


def _hash_one(opener, relpath, algorithm, buf, view, expect):
    """(hexdigest, size, None) or (None, None, (kind, message))."""
    try:
        fd = opener.open(relpath)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None, None, (ERR_MISSING, "%s does not exist" % relpath)
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EXDEV):
            return None, None, (ERR_UNSAFE, "%s is (or lies under) a symlink or resolves outside the root; "
                                            "refusing it" % relpath)
        return None, None, (ERR_UNREADABLE, "cannot open %s: %s" % (relpath, exc.strerror))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, None, (ERR_UNSAFE, "%s is not a regular file; refusing it" % relpath)
        if expect is not None and (info.st_dev, info.st_ino) != (expect.dev, expect.ino):
            return None, None, (ERR_CHANGED, "%s was replaced while it was being verified" % relpath)
        try:
            hexdigest, size = hash_fd(fd, algorithm, buf, view, info.st_size)
        except OSError as exc:
            return None, None, (ERR_UNREADABLE, "cannot read %s: %s" % (relpath, exc.strerror))
        return hexdigest, size, None
    finally:
        os.close(fd)


# Work handed to forked workers through the fork itself (no pickling of the job list).
_JOB = {}


def _worker(bounds):
    job = _JOB
    buf = bytearray(BUFFER_SIZE)
    view = memoryview(buf)
    opener = SafeOpener(job["root"], job["follow"])
    out = []
    try:
        for index in range(bounds[0], bounds[1]):
            relpath, expect = job["items"][index]
            out.append(_hash_one(opener, relpath, job["algorithm"], buf, view, expect))
    finally:
        opener.close()
    return bounds[0], out


def _chunks(items, workers):
    """Contiguous index ranges (keeps directory locality) of roughly equal bytes, several per worker."""
    total = sum((expect.size if expect else 0) + 4096 for _, expect in items)
    target = max(total // (workers * 8), 1)
    bounds, start, acc = [], 0, 0
    for index, (_, expect) in enumerate(items):
        acc += (expect.size if expect else 0) + 4096
        if acc >= target or index - start >= 4000:
            bounds.append((start, index + 1))
            start, acc = index + 1, 0
    if start < len(items):
        bounds.append((start, len(items)))
    return bounds


def hash_files(root, items, algorithm, follow_symlinks=False, workers=0):
    """Hash ``items`` [(relpath, Entry or None)] under ``root``; returns a list aligned with items of
    (hexdigest, size, error) tuples."""
    hasher(algorithm)  # fail early on an unavailable algorithm
    if not items:
        return []
    workers = workers or os.cpu_count() or 1
    total_bytes = sum(expect.size for _, expect in items if expect)
    if workers == 1 or (len(items) < 64 and total_bytes < 64 * BUFFER_SIZE) or algorithm == "blake3":
        _JOB.update(root=root, follow=follow_symlinks, algorithm=algorithm, items=items)
        try:
            return _worker((0, len(items)))[1]
        finally:
            _JOB.clear()
    import multiprocessing
    results = [None] * len(items)
    _JOB.update(root=root, follow=follow_symlinks, algorithm=algorithm, items=items)
    try:
        context = multiprocessing.get_context("fork")
        pool = context.Pool(min(workers, len(items)))
        try:
            for start, out in pool.imap_unordered(_worker, _chunks(items, workers)):
                results[start:start + len(out)] = out
        finally:
            pool.terminate()
            pool.join()
    finally:
        _JOB.clear()
    return results


def hash_single_file(path, algorithm, follow_symlinks=False):
    """(hexdigest, size) of one file, opened with O_NOFOLLOW unless following is allowed."""
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
            return hash_fd(fd, algorithm, buf, memoryview(buf), info.st_size)
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


def build_entries(root, ignore, algorithm, follow_symlinks=False, workers=0):
    """Hash every file of the tree: ({relpath: (hexdigest, size)}, stats)."""
    timer = Timer()
    tree = walk(root, ignore, follow_symlinks)
    if not tree:
        raise HashingError("%s holds no files to hash (after ignore patterns); an empty dataset cannot be pinned"
                           % root)
    items = sorted(tree.items(), key=lambda kv: _sort_key(kv[0]))
    results = hash_files(root, items, algorithm, follow_symlinks, workers)
    entries = {}
    for (relpath, _), (hexdigest, size, error) in zip(items, results):
        if error:
            raise HashingError(error[1])
        entries[relpath] = (hexdigest, size)
    return entries, timer.stats(len(entries), sum(size for _, size in entries.values()))


def verify_tree(root, digests, sizes, algorithm, ignore, follow_symlinks=False, workers=0):
    """Compare the tree with the manifest. Returns a dict of lists: ok (count), mismatched, missing, extra,
    unsafe, unreadable, plus stats."""
    timer = Timer()
    tree = walk(root, ignore, follow_symlinks)
    expected = dict((name, hexpart) for name, hexpart in digests.items() if not ignore(name))
    missing = sorted((name for name in expected if name not in tree), key=_sort_key)
    extra = sorted((name for name in tree if name not in expected), key=_sort_key)
    mismatched, to_hash = [], []
    for name in sorted((n for n in expected if n in tree), key=_sort_key):
        size = sizes.get(name)
        if size is not None and size != tree[name].size:
            mismatched.append({"path": name, "reason": "size", "expected_size": size, "actual_size": tree[name].size})
        else:
            to_hash.append((name, tree[name]))
    results = hash_files(root, to_hash, algorithm, follow_symlinks, workers)
    unsafe, unreadable = [], []
    ok = 0
    nbytes = 0
    for (name, _), (hexdigest, size, error) in zip(to_hash, results):
        if error:
            kind, message = error
            if kind == ERR_MISSING:
                missing.append(name)
            elif kind == ERR_UNREADABLE:
                unreadable.append({"path": name, "reason": message})
            else:
                unsafe.append({"path": name, "reason": message})
            continue
        nbytes += size
        if hexdigest == expected[name]:
            ok += 1
        else:
            mismatched.append({"path": name, "reason": "digest", "expected": expected[name], "actual": hexdigest})
    mismatched.sort(key=lambda item: _sort_key(item["path"]))
    result = {"ok": ok, "mismatched": mismatched, "missing": missing, "extra": extra,
              "unsafe": unsafe, "unreadable": unreadable}
    result.update(timer.stats(len(to_hash), nbytes))
    return result
