"""Shared helpers: timing commands and callables the same way, and printing a ratio table."""

import os
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("AINATIVE_BENCH_DATA", os.path.join(ROOT, ".build", "bench-data"))


def best_of(func, repeat=3):
    """Fastest of ``repeat`` runs (warm cache): the least noisy estimate on a shared machine."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def command(argv, cwd=None, shell=False):
    def run():
        subprocess.run(argv, cwd=cwd, shell=shell, check=True, stdout=subprocess.DEVNULL)
    return run


def write_section(name, text):
    """Replace the section between ``<!-- bench:NAME:start -->`` and ``:end -->`` in docs/performance.md."""
    path = os.path.join(ROOT, "docs", "performance.md")
    start, end = "<!-- bench:%s:start -->" % name, "<!-- bench:%s:end -->" % name
    with open(path) as handle:
        doc = handle.read()
    if start in doc and end in doc:
        doc = doc[:doc.index(start) + len(start)] + "\n" + text.strip() + "\n" + doc[doc.index(end):]
    else:
        doc = doc.rstrip() + "\n\n%s\n%s\n%s\n" % (start, text.strip(), end)
    with open(path + ".tmp", "w") as handle:
        handle.write(doc)
    os.replace(path + ".tmp", path)


def table(title, rows):
    """Print the ratio table; returns (all goals met, markdown text).

    rows: (label, ours_seconds, theirs_label, theirs_seconds, goal_ratio or None)."""
    lines = ["", title, "",
             "| case | ainative.security | alternative | alternative time | speed-up | goal |",
             "|---|---|---|---|---|---|"]
    ok = True
    for label, ours, other, theirs, goal in rows:
        ratio = theirs / ours if ours else float("inf")
        met = goal is None or ratio >= goal
        ok = ok and met
        lines.append("| %s | %.2f s | %s | %.2f s | %.1fx | %s |" % (
            label, ours, other, theirs, ratio, "-" if goal is None else ("%.1fx %s" % (goal, "met" if met else "MISSED"))))
    text = "\n".join(lines)
    print(text, flush=True)
    return ok, text
