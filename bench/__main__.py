"""`make bench`: run every benchmark module in bench/ (or those named on the command line)."""

import importlib
import os
import pkgutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))


def main():
    import bench
    names = sys.argv[1:] or sorted(n for _, n, _ in pkgutil.iter_modules(bench.__path__) if not n.startswith("_"))
    failed = 0
    for name in names:
        print("\n#### bench.%s" % name, flush=True)
        module = importlib.import_module("bench." + name)
        try:
            failed += 1 if module.main() else 0
        except RuntimeError as exc:  # a missing tool or a module run that failed: the others still run
            print("bench.%s: %s" % (name, exc), flush=True)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
