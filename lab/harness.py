"""One harness for the local lab and the tests: start services on loopback, stop only those.

A service is described by a module in ``lab/services/<name>.py`` that defines ``service(lab)``
returning a :class:`Service`. The harness picks a free loopback port, starts the process in its own
session, waits until it answers, and records ``{pid, start_time, port, ...}`` in
``<state>/<name>.json``. ``stop`` signals a process only when the recorded PID still belongs to the
process it started (same kernel start time), so a recycled PID is never killed.

CLI::

    python -m lab.harness up NAME [NAME ...]   # start (or reuse) services, print their endpoints
    python -m lab.harness down [NAME ...]      # stop what this harness started (all by default;
                                               # `python -m lab down` also removes the lab's containers)
    python -m lab.harness status
"""

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_STATE = os.path.join(ROOT, ".build", "lab")


class ServiceError(RuntimeError):
    pass


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tcp_ready(port, host="127.0.0.1"):
    def check():
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False
    return check


def http_ready(url, ok=(200,), context=None):
    def check():
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as resp:
                return resp.status in ok
        except urllib.error.HTTPError as exc:
            return exc.code in ok
        except (OSError, ValueError):
            return False
    return check


def _start_time(pid):
    """Kernel start time of ``pid`` (clock ticks since boot), or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: fields start after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


class Service:
    """How to run one service: argv (with ``{port}`` and ``{state}`` placeholders) and a readiness check.

    ``prepare(svc)`` runs before the start (initdb, config files); ``configure(svc)`` runs once it
    answers (mounts, roles, seed data) and may add entries to ``svc.info``, which is what tests and
    playbooks read (URLs, tokens for the lab's throw-away instances, paths).
    """

    def __init__(self, lab, name, argv, ready=None, env=None, cwd=None, timeout=60,
                 prepare=None, configure=None, port=None, stop_signal=signal.SIGTERM):
        self.lab = lab
        self.name = name
        self.port = port or free_port()
        self.dir = os.path.join(lab.state_dir, name)
        self.argv = [str(a).format(port=self.port, state=self.dir) for a in argv]
        self.ready = ready(self) if ready else tcp_ready(self.port)
        self.env = env or {}
        self.cwd = cwd
        self.timeout = timeout
        self.prepare = prepare
        self.configure = configure
        self.stop_signal = stop_signal
        self.info = {"port": self.port, "host": "127.0.0.1"}
        self.log = os.path.join(lab.state_dir, name + ".log")


class Lab:
    def __init__(self, state_dir=None):
        self.state_dir = os.path.abspath(state_dir or os.environ.get("AINATIVE_LAB_STATE", DEFAULT_STATE))
        os.makedirs(self.state_dir, exist_ok=True)

    # -- records -------------------------------------------------------------------------------
    def _record_path(self, name):
        return os.path.join(self.state_dir, name + ".json")

    def record(self, name):
        """The service record ``<state>/<name>.json``, or None (no file, or a file that is not a record)."""
        try:
            with open(self._record_path(name)) as handle:
                rec = json.load(handle)
        except (OSError, ValueError):
            return None
        return rec if isinstance(rec, dict) and {"pid", "start_time", "info"} <= set(rec) else None

    def running(self, name):
        """The record of ``name`` if the very process the harness started is still alive."""
        rec = self.record(name)
        if rec and _start_time(rec["pid"]) == rec["start_time"]:
            return rec
        return None

    def names(self):
        """Every service with a record here (other JSON files in the state folder are not ours)."""
        return sorted(f[:-5] for f in os.listdir(self.state_dir) if f.endswith(".json") and self.record(f[:-5]))

    # -- start/stop ----------------------------------------------------------------------------
    def definition(self, name):
        try:
            module = importlib.import_module("lab.services." + name)
        except ImportError as exc:
            raise ServiceError("no lab service %r (lab/services/%s.py): %s" % (name, name, exc))
        return module.service(self)

    def up(self, name):
        """Start ``name`` unless it already runs; return its info dict."""
        rec = self.running(name)
        if rec:
            return rec["info"]
        svc = self.definition(name)
        os.makedirs(svc.dir, exist_ok=True)
        if svc.prepare:
            svc.prepare(svc)
        env = dict(os.environ)
        env.update(svc.env)
        with open(svc.log, "wb") as log:  # a fresh log per start: readers never see an old instance's lines
            proc = subprocess.Popen(svc.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, cwd=svc.cwd or svc.dir, start_new_session=True)
        rec = {"name": name, "pid": proc.pid, "start_time": _start_time(proc.pid), "argv": svc.argv,
               "log": svc.log, "info": svc.info}
        self._write(name, rec)
        deadline = time.time() + svc.timeout
        while not svc.ready():
            if proc.poll() is not None or time.time() > deadline:
                why = "exited with %s" % proc.returncode if proc.poll() is not None else \
                    "did not answer within %ss" % svc.timeout
                self.down(name)
                raise ServiceError("lab service %s %s; last log lines:\n%s" % (name, why, tail(svc.log)))
            time.sleep(0.1)
        if svc.configure:
            try:
                svc.configure(svc)
            except Exception:
                self.down(name)
                raise
        rec["info"] = svc.info
        self._write(name, rec)
        return svc.info

    def _write(self, name, rec):
        tmp = self._record_path(name) + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(rec, handle, indent=2, sort_keys=True)
        os.replace(tmp, self._record_path(name))

    def down(self, name, grace=10):
        """Stop ``name`` if this harness started it and it still runs; forget its record."""
        rec = self.running(name)
        if rec:
            try:
                os.killpg(rec["pid"], signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.time() + grace
            while time.time() < deadline and _start_time(rec["pid"]) == rec["start_time"]:
                time.sleep(0.1)
            if _start_time(rec["pid"]) == rec["start_time"]:
                try:
                    os.killpg(rec["pid"], signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if rec or self.record(name):
            try:
                os.unlink(self._record_path(name))
            except FileNotFoundError:
                pass

    def down_all(self):
        for name in self.names():
            self.down(name)


def run_module(name, args, workdir, timeout=600):
    """One of our modules in its own process with its arguments file, as Ansible runs it on a host.

    Returns ``(rc, result)``: rc 1 is a failed gate or a fail_json, and the result is parsed either way.
    A traceback anywhere in the output fails the caller's test at once.
    """
    path = os.path.join(str(workdir), "%s-args.json" % name)
    with open(path, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, ".build", "collections"))
    proc = subprocess.run([sys.executable, "-m", "ansible_collections.ainative.security.plugins.modules." + name, path],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=timeout, check=False)
    assert b"Traceback" not in proc.stderr + proc.stdout, proc.stderr.decode(errors="replace")[-2000:]
    return proc.returncode, json.loads(proc.stdout)


def tail(path, lines=20):
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 8192))
            return b"\n".join(handle.read().splitlines()[-lines:]).decode("utf-8", "replace")
    except OSError:
        return "(no log)"


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("up", "down", "status"):
        print(__doc__)
        return 2
    lab = Lab()
    command, names = argv[0], argv[1:]
    if command == "up":
        print(json.dumps(dict((n, lab.up(n)) for n in names), indent=2, sort_keys=True))
    elif command == "down":
        for name in names or lab.names():
            lab.down(name)
    else:
        for name in lab.names():
            rec = lab.running(name)
            print("%-12s %s" % (name, "running pid %d port %s" % (rec["pid"], rec["info"]["port"]) if rec
                                else "stale record"))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    sys.exit(main())
