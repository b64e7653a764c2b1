"""`make lab`: bring up the local lab, run the collection's site playbook on it, print a summary.

Each control adds ``lab/parts/<NN>_<control>.py`` with ``prepare(lab, work) -> dict``: it starts the
services it needs through the harness, lays out its sample data under ``work`` and returns extra
variables for ``playbooks/site.yml``. Every control writes its findings (shared model) to
``<report_dir>/<control>.json``; the summary reads those files.
"""

import importlib
import json
import os
import pkgutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lab.harness import Lab  # noqa: E402
from lab import summary  # noqa: E402


def parts():
    import lab.parts
    return sorted(name for _, name, _ in pkgutil.iter_modules(lab.parts.__path__))


def run(argv):
    work = os.path.join(ROOT, ".build", "lab-work")
    report_dir = os.path.join(ROOT, "reports", "lab")
    os.makedirs(work, exist_ok=True)
    os.makedirs(report_dir, exist_ok=True)
    for stale in os.listdir(report_dir):
        os.unlink(os.path.join(report_dir, stale))
    harness = Lab()
    extra = {"ainative_report_dir": report_dir, "ainative_lab_work": work}
    for name in parts():
        started = time.time()
        module = importlib.import_module("lab.parts." + name)
        print("[lab] preparing %s" % name, flush=True)
        extra.update(module.prepare(harness, work) or {})
        print("[lab] %s ready in %.1fs" % (name, time.time() - started), flush=True)
    vars_file = os.path.join(harness.state_dir, "site-vars.json")
    with open(vars_file, "w") as handle:
        json.dump(extra, handle, indent=2, sort_keys=True)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    cmd = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", os.path.join(ROOT, "lab", "inventory", "hosts.yml"),
           os.path.join(ROOT, "playbooks", "site.yml"), "-e", "@" + vars_file] + argv
    print("[lab] " + " ".join(cmd), flush=True)
    rc = subprocess.call(cmd, cwd=ROOT, env=env)
    print(summary.render(report_dir))
    if rc:
        print("[lab] the site playbook failed (rc=%d); see its output above" % rc)
    return rc


def main():
    args = sys.argv[1:]
    if not args or args[0] != "run":
        print(__doc__)
        return 2
    return run(args[1:])


if __name__ == "__main__":
    sys.exit(main())
