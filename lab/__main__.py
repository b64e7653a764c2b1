"""`make lab`: bring up the local lab, run the collection's site playbook on it, print a summary.

Each control adds ``lab/parts/<NN>_<control>.py`` with ``prepare(lab, work) -> dict``: it starts the
services it needs through the harness, lays out its sample data under ``work`` and returns extra
variables for ``playbooks/site.yml``. ``REQUIRES`` names its checks in lab/prereq.py and ``PLAY_HOSTS``
the variables that pick the hosts of its plays. Every control writes its findings (shared model) to
``<report_dir>/<control>.json``; the summary reads those files.

A part whose prerequisites are missing or whose prepare fails is reported in one line (the traceback goes
to .build/lab-work/errors.log), its plays get no hosts, the others run, and the exit code is non-zero.

    python -m lab run [ansible-playbook options]   # AINATIVE_LAB_PARTS=10,30: only those parts
    python -m lab down      # stop every lab service and remove every container labelled ainative.security/lab
"""

import importlib
import json
import os
import pkgutil
import subprocess
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lab import prereq, summary  # noqa: E402
from lab.harness import Lab  # noqa: E402

WORK = os.path.join(ROOT, ".build", "lab-work")
ERRORS_LOG = os.path.join(WORK, "errors.log")
NO_HOSTS = "!all"  # a host pattern that matches nothing: the play is skipped


def parts():
    import lab.parts
    return sorted(name for _, name, _ in pkgutil.iter_modules(lab.parts.__path__))


def selected(name):
    """AINATIVE_LAB_PARTS (comma-separated name prefixes such as ``10,30``) runs only those parts."""
    wanted = [p.strip() for p in os.environ.get("AINATIVE_LAB_PARTS", "").split(",") if p.strip()]
    return not wanted or any(name.startswith(prefix) for prefix in wanted)


def _first_line(exc):
    """One line for an exception: a failed command says which one and its last error line."""
    if isinstance(exc, subprocess.CalledProcessError):
        cmd = exc.cmd if isinstance(exc.cmd, str) else " ".join(str(arg) for arg in exc.cmd[:2])
        err = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        last = [line.strip() for line in err.splitlines() if line.strip()][-1:]
        return "`%s` exited %s%s" % (cmd, exc.returncode, ": " + last[0] if last else "")
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def prepare_part(name, harness, extra):
    """Run one part's checks and prepare; on failure return its one-line reason, else None."""
    started = time.time()
    print("[lab] preparing %s" % name, flush=True)
    try:
        module = importlib.import_module("lab.parts." + name)
        problems = prereq.missing(getattr(module, "REQUIRES", ()))
        if problems:
            fixes = []
            for _, fix in problems:
                if fix not in fixes:
                    fixes.append(fix)
            return "%s: %s; fix: %s" % (name, "; ".join(what for what, _ in problems), " && ".join(fixes))
        extra.update(module.prepare(harness, WORK) or {})
    except Exception as exc:  # one line here, the traceback in the log: a lab part never ends the run
        with open(ERRORS_LOG, "a") as log:
            log.write("==== %s\n%s\n" % (name, traceback.format_exc()))
        return "%s: %s; fix: see %s" % (name, _first_line(exc), os.path.relpath(ERRORS_LOG, ROOT))
    print("[lab] %s ready in %.1fs" % (name, time.time() - started), flush=True)
    return None


def run(argv):
    report_dir = os.path.join(ROOT, "reports", "lab")
    os.makedirs(WORK, exist_ok=True)
    os.makedirs(report_dir, exist_ok=True)
    for stale in os.listdir(report_dir):
        os.unlink(os.path.join(report_dir, stale))
    if os.path.exists(ERRORS_LOG):
        os.unlink(ERRORS_LOG)
    harness = Lab()
    extra = {"ainative_report_dir": report_dir, "ainative_lab_work": WORK}
    failed = []
    for name in parts():
        if not selected(name):
            for var in getattr(importlib.import_module("lab.parts." + name), "PLAY_HOSTS", ()):
                extra[var] = NO_HOSTS
            continue
        reason = prepare_part(name, harness, extra)
        if reason:
            print("[lab] " + reason, flush=True)
            failed.append(reason)
            module = sys.modules.get("lab.parts." + name)
            for var in getattr(module, "PLAY_HOSTS", ()):
                extra[var] = NO_HOSTS
    # The lab's throw-away credentials are in here: readable by this user only.
    vars_file = os.path.join(WORK, "site-vars.json")
    fd = os.open(vars_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(extra, handle, indent=2, sort_keys=True)
    env = dict(prereq.podman_env(), ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    cmd = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", os.path.join(ROOT, "lab", "inventory", "hosts.yml"),
           os.path.join(ROOT, "playbooks", "site.yml"), "-e", "@" + vars_file] + argv
    print("[lab] " + " ".join(cmd), flush=True)
    rc = subprocess.call(cmd, cwd=ROOT, env=env)
    print(summary.render(report_dir, not_run=failed))
    if rc:
        print("[lab] the site playbook failed (rc=%d); see its output above" % rc)
    return rc or (1 if failed else 0)


def down():
    """Stop every service the lab harness recorded and remove every container the lab labelled."""
    harness = Lab()
    names = harness.names()
    harness.down_all()
    removed = []
    if not prereq.podman():
        env = prereq.podman_env()
        listed = subprocess.run(["podman", "ps", "-a", "-q", "--filter", "label=" + prereq.LABEL], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        removed = listed.stdout.decode().split()
        if removed:
            subprocess.run(["podman", "rm", "-f", "-t", "0"] + removed, env=env, stdout=subprocess.DEVNULL,
                           check=False)
    print("[lab] down: %d service(s) stopped%s, %d container(s) removed"
          % (len(names), " (%s)" % ", ".join(names) if names else "", len(removed)))
    return 0


def main():
    args = sys.argv[1:]
    if args[:1] == ["run"]:
        return run(args[1:])
    if args == ["down"]:
        return down()
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
