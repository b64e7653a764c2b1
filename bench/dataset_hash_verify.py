"""dataset_hash_verify as a module process against `sha256sum` and `openssl dgst`, warm page cache.

Goals (issue 14): 100,000 files of 1 KiB >= 2x `sha256sum -c`; one 1 GiB file >= 3x `sha256sum` and the
engine >= 90 % of single-core `openssl speed`; 10,000 files of 1 GiB in total >= 5x `sha256sum -c` and at
least as fast as `find | xargs -P2 openssl dgst -sha256`. The manifests are written by `sha256sum`, as a
user would pin a tree. Every module run must verify the whole tree.
"""

import os
import statistics
import subprocess

from bench import _util
from lab import datasets

ENGINE_RATE = ("import sys, time\n"
               "from ansible_collections.ainative.security.plugins.module_utils.integrity.tree import hash_single_file\n"
               "start = time.process_time()\nhash_single_file(sys.argv[1], 'sha256')\nprint(time.process_time() - start)")
# The kernel's share of a small file, without hashing: open relative to its directory's descriptor,
# fstat, one read, close, for every name of the manifest, in one process (the CPU is the floor per file).
OPEN_READ_CLOSE = ("import os, sys\n"
                   "names = [line[66:] for line in open(sys.argv[1], 'rb').read().decode().split('\\n') if line]\n"
                   "current = dir_fd = None\n"
                   "for name in names:\n"
                   "    head, sep, base = name.rpartition('/')\n"
                   "    if head != current:\n"
                   "        current, dir_fd = head, os.open(head or '.', os.O_RDONLY | os.O_DIRECTORY)\n"
                   "    fd = os.open(base, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)\n"
                   "    os.read(fd, os.fstat(fd).st_size + 1)\n"
                   "    os.close(fd)\n")
GOALS = {"small": 2.0, "mixed": 5.0, "mixed_openssl": 1.0, "big": 3.0, "engine_share": 0.9}


def _pin(root, manifest):
    """A manifest the way a user writes one: `sha256sum` over the sorted file list."""
    manifest = os.path.abspath(manifest)
    if not os.path.exists(manifest) or os.path.getmtime(manifest) < os.path.getmtime(root + ".spec"):
        subprocess.run("find . -type f -printf '%P\\0' | LC_ALL=C sort -z | xargs -0 sha256sum > " + manifest + ".tmp",
                       shell=True, cwd=root, check=True)
        os.replace(manifest + ".tmp", manifest)


def _tree(data, name, files, **kwargs):
    root = os.path.join(data, name)
    nbytes = datasets.make_tree(root, files=files, per_dir=1000, **kwargs)
    manifest = root + ".sha256"
    _pin(root, manifest)
    subprocess.run("find . -type f -print0 | xargs -0 cat > /dev/null", shell=True, cwd=root, check=True)
    return root, manifest, nbytes


def _verified(count):
    def check(result):
        assert result["verified"] and result["counts"]["ok"] == count, result.get("msg")
    return check


def _walk(root):
    return _util.Command("`find -type f` (walk only)", "find . -type f > /dev/null", cwd=root, shell=True)


def _size(nbytes):
    return "%.1f GiB" % (nbytes / float(1 << 30)) if nbytes >= 1 << 29 else "%.0f MiB" % (nbytes / float(1 << 20))


def run(scale=_util.SCALE, rounds=None, data=_util.DATA, warmup=False):
    """``warmup`` is off by default: every file is read into the page cache before its case is timed."""
    os.makedirs(data, exist_ok=True)
    tmp = os.path.join(data, "dataset-tmp")
    os.makedirs(tmp, exist_ok=True)
    load_before = _util.load()
    rows, limits = [], []
    limit_text, one_core, two_cores = _util.openssl_limits()
    limits.append(limit_text)
    startup = _util.interleave([_util.startup_command("dataset_hash_verify")], rounds, True)[0]
    limits.append("Python start-up and the module's imports (no work): %s median, %s CPU"
                  % (_util.seconds(startup.median), startup.cpu_cell()))

    small_count = max(int(100000 * scale), 50)
    small, small_manifest, small_bytes = _tree(data, "small-%d" % small_count, small_count, min_size=1024, max_size=1024,
                                               seed="bench-small")
    ours = _util.module_command("dataset_hash_verify", {"path": small, "manifest": small_manifest}, tmp)
    sha_c = _util.Command("`sha256sum -c`", ["sha256sum", "--quiet", "-c", small_manifest], cwd=small)
    floor = _util.Command("open, fstat, read, close", [_util.PYTHON, "-c", OPEN_READ_CLOSE, small_manifest], cwd=small)
    cat = _util.Command("`xargs cat`", "find . -type f -print0 | xargs -0 cat > /dev/null", cwd=small, shell=True)
    ours_s, sha_s, walk_s, floor_s, cat_s = _util.interleave([ours, sha_c, _walk(small), floor, cat], rounds, warmup)
    for result in ours_s.values:
        _verified(small_count)(result)
    rows.append(("%d files of 1 KiB, verify against the manifest" % small_count, ours_s, sha_s, GOALS["small"]))

    def per_file(stats, less=0.0):
        return (statistics.median(stats.cpu) - less) / small_count * 1e6

    limits.append("walking the %d-file tree (`find -type f`): %s; hashing its %s on two cores: %s; CPU per file: "
                  "%.1f us for the module process past its start-up (four system calls per file: open, fstat, read, "
                  "close), %.1f us for `sha256sum -c`"
                  % (small_count, _util.seconds(walk_s.median), _size(small_bytes),
                     _util.seconds(small_bytes / two_cores if two_cores else 0),
                     per_file(ours_s, statistics.median(startup.cpu)), per_file(sha_s)))
    bound = statistics.median(startup.cpu) + statistics.median(floor_s.cpu) / 2
    limits.append("the kernel's part of each file, no hashing: %.1f us of CPU for open (relative to the directory), "
                  "fstat, read and close in one Python process, %.1f us for `xargs cat` (C; it also writes each "
                  "file out); so the module process cannot take less than its start-up plus half of that loop on "
                  "two cores, %s of CPU time, %.2fx the CPU of `sha256sum -c`, before any hashing or manifest parsing"
                  % (per_file(floor_s), per_file(cat_s), _util.seconds(bound),
                     statistics.median(sha_s.cpu) / bound if bound else 0))

    mixed_count = max(int(10000 * scale), 50)
    mixed, mixed_manifest, mixed_bytes = _tree(data, "mixed-%d" % mixed_count, mixed_count, min_size=4096, max_size=1 << 20,
                                               seed="bench-mixed", skew=2.0)
    ours = _util.module_command("dataset_hash_verify", {"path": mixed, "manifest": mixed_manifest}, tmp)
    sha_c = _util.Command("`sha256sum -c`", ["sha256sum", "--quiet", "-c", mixed_manifest], cwd=mixed)
    openssl = _util.Command("`find \\| xargs -0 -P2 -n 256 openssl dgst -sha256`",
                            "find . -type f -print0 | xargs -0 -P2 -n 256 openssl dgst -sha256 > /dev/null",
                            cwd=mixed, shell=True)
    ours_m, sha_m, openssl_m, walk_m = _util.interleave([ours, sha_c, openssl, _walk(mixed)], rounds, warmup)
    for result in ours_m.values:
        _verified(mixed_count)(result)
    label = "%d files (4 KiB-1 MiB), %s" % (mixed_count, _size(mixed_bytes))
    rows.append((label, ours_m, sha_m, GOALS["mixed"]))
    rows.append((label, ours_m, openssl_m, GOALS["mixed_openssl"]))
    limits.append("walking the %d-file tree: %s; hashing its %s on two cores: %s"
                  % (mixed_count, _util.seconds(walk_m.median), _size(mixed_bytes),
                     _util.seconds(mixed_bytes / two_cores if two_cores else 0)))

    big_bytes = max(int((1 << 30) * scale), 1 << 20)
    big = os.path.join(data, "big-%d.bin" % big_bytes)
    datasets.make_big_file(big, big_bytes)
    subprocess.run(["cat", big], stdout=subprocess.DEVNULL, check=True)
    digest = subprocess.run(["sha256sum", big], stdout=subprocess.PIPE, check=True).stdout.split()[0].decode()
    ours = _util.module_command("dataset_hash_verify", {"path": big, "digest": "sha256:" + digest}, tmp)
    sha = _util.Command("`sha256sum FILE`", ["sha256sum", big])
    openssl = _util.Command("`openssl dgst -sha256 FILE`", ["openssl", "dgst", "-sha256", big])
    ours_b, sha_b, openssl_b = _util.interleave([ours, sha, openssl], rounds, warmup)
    for result in ours_b.values:
        assert result["verified"], result.get("msg")
    label = "one %s file" % _size(big_bytes)
    rows.append((label, ours_b, sha_b, GOALS["big"]))
    rows.append((label, ours_b, openssl_b, None))
    # `openssl speed` divides by CPU time (its default), so the engine's rate is taken the same way, in a
    # process of its own that times only the engine's hashing of the file (the read from the page cache included).
    engine = _util.Command("engine", [_util.PYTHON, "-c", ENGINE_RATE, big], env=_util.process_env(),
                           check=lambda out: float(out))
    engine_cpu = statistics.median(_util.interleave([engine], rounds, warmup=False)[0].values)
    engine_rate = big_bytes / engine_cpu if engine_cpu > 0 else 0.0
    share = engine_rate / one_core if one_core else 0.0
    met = share >= GOALS["engine_share"]
    rows.append(("the engine on that file: %.0f MB/s per CPU second, %.0f %% of one core's `openssl speed`"
                 % (engine_rate / 1e6, share * 100), ours_b, None, (met, ">= 90 %% %s" % ("met" if met else "MISSED"))))
    dgst_cpu = statistics.median(openssl_b.cpu)
    dgst_rate = big_bytes / dgst_cpu if dgst_cpu else 0.0
    limits.append("hashing %s on one core at `openssl speed`: %s; `openssl dgst` on the file, reading it from the "
                  "page cache: %.0f MB/s per CPU second, %.0f %% of `openssl speed`"
                  % (_size(big_bytes), _util.seconds(big_bytes / one_core if one_core else 0), dgst_rate / 1e6,
                     dgst_rate / one_core * 100 if one_core else 0))

    intro = ("Verifying with the module process (`python plugins/modules/dataset_hash_verify.py args.json`, "
             "parsing the manifest and computing its dataset digest included) against the commands a user "
             "would run, warm page cache. Scale %s." % scale)
    return _util.table("dataset_hash_verify", intro, rows, limits, load_before, warmup=warmup)


def main():
    ok, text = run()
    _util.write_section("dataset_hash_verify", text)
    return 0 if ok else 1
