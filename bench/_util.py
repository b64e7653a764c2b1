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


def table(title, rows):
    """rows: (label, ours_seconds, theirs_label, theirs_seconds, goal_ratio or None)."""
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
    print("\n".join(lines), flush=True)
    return ok
