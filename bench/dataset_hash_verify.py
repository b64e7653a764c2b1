"""dataset_hash_verify's hashing engine against coreutils sha256sum and openssl, warm page cache, one run.

Goals (issue 2): one 2 GiB file >= 3x `sha256sum`; 20,000 mixed files (4 KiB-1 MiB, 2 GiB) >= 5x
`sha256sum -c` and >= `find | xargs -P2 openssl dgst -sha256`; 200,000 files of 1 KiB >= 1.5x `sha256sum -c`.
Set AINATIVE_BENCH_SCALE=0.1 for a quick smoke run.
"""

import os
import subprocess
import time

from bench._util import DATA, best_of, command, table, write_section
from lab import datasets

from ansible_collections.ainative.security.plugins.module_utils.integrity import engine
from ansible_collections.ainative.security.plugins.module_utils.integrity.manifest import read_manifest, render_text_manifest
from ansible_collections.ainative.security.plugins.module_utils.integrity.paths import IgnoreRules
from ansible_collections.ainative.security.plugins.module_utils.integrity.tree import hash_single_file

SCALE = float(os.environ.get("AINATIVE_BENCH_SCALE", "1"))


def _ours_verify(root, manifest):
    with open(manifest, "rb") as handle:
        algorithm, digests, sizes = read_manifest(handle.read(), "auto")
    ignore = IgnoreRules([])

    def run():
        result = engine.verify_tree(root, digests, sizes, algorithm, ignore)
        assert result["ok"] == len(digests), "benchmark tree does not verify"
    return run


def _pin(root, manifest):
    entries, _ = engine.build_entries(root, IgnoreRules([]), "sha256")
    with open(manifest, "wb") as handle:
        handle.write(render_text_manifest("sha256", entries))


def _warm(root):
    subprocess.run("find . -type f -print0 | xargs -0 cat > /dev/null", shell=True, cwd=root, check=True)


def main():
    os.makedirs(DATA, exist_ok=True)
    rows = []
    gib = int(2 * (1 << 30) * SCALE)

    big = os.path.join(DATA, "one-big.bin")
    datasets.make_big_file(big, gib)
    subprocess.run(["cat", big], stdout=subprocess.DEVNULL, check=True)
    ours = best_of(lambda: hash_single_file(big, "sha256"))
    theirs = best_of(command(["sha256sum", big]))
    rows.append(("one %.1f GiB file" % (gib / (1 << 30)), ours, "`sha256sum FILE`", theirs, 3.0))

    mixed = os.path.join(DATA, "mixed")
    count = max(int(20000 * SCALE), 100)
    datasets.make_tree(mixed, files=count, min_size=4096, max_size=1 << 20, per_dir=1000, seed="bench-mixed",
                       skew=2.0)
    manifest = os.path.join(DATA, "mixed.sha256")
    if not os.path.exists(manifest):
        _pin(mixed, manifest)
    _warm(mixed)
    ours = best_of(_ours_verify(mixed, manifest))
    sha_c = best_of(command(["sha256sum", "--quiet", "-c", manifest], cwd=mixed))
    openssl = best_of(command("find . -type f -print0 | xargs -0 -P2 -n 256 "
                              "openssl dgst -sha256 > /dev/null", cwd=mixed, shell=True))
    label = "%d mixed files, %.1f GiB" % (count, gib / (1 << 30))
    rows.append((label, ours, "`sha256sum -c`", sha_c, 5.0))
    rows.append((label, ours, "`find | xargs -P2 openssl dgst -sha256`", openssl, 1.0))

    small = os.path.join(DATA, "small")
    count = max(int(200000 * SCALE), 100)
    datasets.make_tree(small, files=count, min_size=1024, max_size=1024, per_dir=1000, seed="bench-small")
    manifest = os.path.join(DATA, "small.sha256")
    if not os.path.exists(manifest):
        _pin(small, manifest)
    _warm(small)
    ours = best_of(_ours_verify(small, manifest))
    sha_c = best_of(command(["sha256sum", "--quiet", "-c", manifest], cwd=small))
    rows.append(("%d files of 1 KiB" % count, ours, "`sha256sum -c`", sha_c, 1.5))

    ok, text = table("### dataset_hash_verify\n\nVerifying a tree against its manifest (the module's engine, "
                     "`plugins/module_utils/integrity/`); best of 3, warm cache, %d CPUs, %s." % (
                         os.cpu_count(), time.strftime("%Y-%m-%d")), rows)
    if SCALE == 1:
        write_section("dataset_hash_verify", text)
    return 0 if ok else 1
