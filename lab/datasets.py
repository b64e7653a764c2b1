"""Sample datasets for the lab, the tests and the benchmarks: deterministic content, fast to make."""

import hashlib
import os
import shutil


def _block(seed, size):
    """Deterministic pseudo-random bytes (SHAKE-256 stream) of ``size`` for file ``seed``."""
    return hashlib.shake_256(("ainative-%s" % seed).encode()).digest(size)


def make_tree(root, files, min_size=4096, max_size=1 << 20, per_dir=500, seed="lab", skew=None):
    """``files`` files of sizes spread between min_size and max_size in sub-folders of ``per_dir``.

    Sizes are spread evenly, or log-uniformly with exponent ``skew`` (2.0 gives 20,000 files of 4 KiB-1 MiB
    totalling 2 GiB, the benchmark's mixed tree).

    Content repeats a 64 KiB pseudo-random block per file so large trees are quick to write.
    Returns the total number of bytes. An existing tree with the same marker is kept as is.
    """
    marker = root.rstrip("/") + ".spec"  # beside the tree, not in it
    spec = "%s %d %d %d %d %s\n" % (seed, files, min_size, max_size, per_dir, skew)
    if os.path.exists(marker) and open(marker).read() == spec:
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(root)
    total = 0
    span = max_size - min_size
    for index in range(files):
        folder = os.path.join(root, "part-%04d" % (index // per_dir))
        if index % per_dir == 0:
            os.makedirs(folder, exist_ok=True)
        # sizes spread evenly (golden-ratio stride) between min and max
        spread = (index * 0.6180339887) % 1.0
        if skew:
            size = int(min_size * (float(max_size) / min_size) ** (spread ** skew))
        else:
            size = min_size + int(spread * span) if span else min_size
        block = _block("%s-%d" % (seed, index % 97), min(size, 65536))
        with open(os.path.join(folder, "shard-%06d.bin" % index), "wb") as handle:
            written = 0
            while written < size:
                piece = block[: size - written]
                handle.write(piece)
                written += len(piece)
        total += size
    with open(marker, "w") as handle:
        handle.write(spec)
    return total


def make_big_file(path, size):
    if os.path.exists(path) and os.path.getsize(path) == size:
        return
    block = _block("big", 1 << 20)
    with open(path + ".tmp", "wb") as handle:
        for _ in range(size // len(block)):
            handle.write(block)
        handle.write(block[: size % len(block)])
    os.replace(path + ".tmp", path)


def tamper(src, dst):
    """Copy ``src`` to ``dst`` and then: flip one byte, delete one file, add one file. Returns the names."""
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    files = sorted(os.path.relpath(os.path.join(d, f), dst) for d, _, fs in os.walk(dst) for f in fs)
    flipped, removed = files[1], files[2]
    with open(os.path.join(dst, flipped), "r+b") as handle:
        first = handle.read(1)
        handle.seek(0)
        handle.write(bytes([first[0] ^ 0x01]))
    os.unlink(os.path.join(dst, removed))
    added = os.path.join(os.path.dirname(files[0]), "injected.bin")
    with open(os.path.join(dst, added), "wb") as handle:
        handle.write(b"poisoned sample\n")
    return {"flipped": flipped, "removed": removed, "added": added}
