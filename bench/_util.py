"""The one benchmark method every module in bench/ uses.

* Both sides are whole processes, the way a user runs them. Ours is the module process as Ansible runs it
  on the managed host: ``python plugins/modules/NAME.py ARGS.json`` with the collection on PYTHONPATH, so
  Python start-up, imports, argument parsing and the JSON result are inside the timer. (Ansible wraps the
  same process in AnsiballZ, which adds a constant unzip of a few tens of milliseconds for every module;
  a playbook task minus a no-op task would add ansible-playbook's own scheduling noise on top.)
* Runs are interleaved (A B C, B C A, C A B, ...) after one untimed warm-up round, at least 5 per side;
  tables show the median and the spread (min-max), the CPU time (user + system of the whole process tree,
  from ``wait4``) and the peak RSS. Speed-ups are ratios of medians.
* Every table carries the machine (CPU model, SHA extensions, cores), the load average before and after,
  and the physical limits of the case (``openssl speed`` on one and two cores, walking or decompressing).

``AINATIVE_BENCH_SCALE`` scales the data (1 = the sizes of the issue), ``AINATIVE_BENCH_ROUNDS`` the runs.
"""

import json
import os
import re
import shlex
import statistics
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("AINATIVE_BENCH_DATA", os.path.join(ROOT, ".build", "bench-data"))
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
MODULES = os.path.join(ROOT, "plugins", "modules")
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
SCALE = float(os.environ.get("AINATIVE_BENCH_SCALE", "1"))
ROUNDS = max(int(os.environ.get("AINATIVE_BENCH_ROUNDS", "5")), 1)


def process_env(extra=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (COLLECTIONS, env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


class Command(object):
    """One side of a comparison: a process (argv, or a shell line when ``shell``)."""

    def __init__(self, label, argv, cwd=None, shell=False, env=None, check=None):
        self.label, self.argv, self.cwd, self.shell = label, argv, cwd, shell
        self.env = env
        self.check = check  # check(stdout bytes) -> a value kept per run (e.g. the module's result)

    def run(self):
        """(wall seconds, CPU seconds of the process tree, peak RSS in KiB, check's value)."""
        start = time.perf_counter()
        proc = subprocess.Popen(self.argv, cwd=self.cwd, shell=self.shell, env=self.env,
                                stdout=subprocess.PIPE if self.check else subprocess.DEVNULL)
        out = proc.stdout.read() if self.check else None
        pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.stdout:
            proc.stdout.close()
        if proc.returncode:
            raise RuntimeError("%s exited with %d: %s" % (self.label, proc.returncode, self.argv))
        return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, self.check(out) if self.check else None


def module_command(name, args, tmp, label=None, env=None):
    """The module process as Ansible runs it: ``python module.py args.json``; each run's result is kept."""
    path = os.path.join(tmp, "%s-%d-args.json" % (name, abs(hash(json.dumps(args, sort_keys=True)))))
    with open(path, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    return Command(label or "`%s` module process" % name, [PYTHON, os.path.join(MODULES, name + ".py"), path],
                   cwd=tmp, env=process_env(env), check=module_result)


def module_result(out):
    text = out.decode("utf-8", "replace")
    result = json.loads(text[text.index("{"):])
    if result.get("failed"):
        raise RuntimeError("module failed: %s" % result.get("msg"))
    return result


def startup_command(name):
    """Python start-up plus the module's imports, no work: the floor of every module process."""
    module = "ansible_collections.ainative.security.plugins.modules." + name
    return Command("start-up of `%s`" % name, [PYTHON, "-c", "import " + module], env=process_env())


class Stats(object):
    def __init__(self, label):
        self.label = label
        self.wall, self.cpu, self.rss, self.values = [], [], [], []

    @property
    def median(self):
        return statistics.median(self.wall)

    def cell(self):
        return "%s (%s-%s)" % (seconds(self.median), seconds(min(self.wall)), seconds(max(self.wall)))

    def cpu_cell(self):
        return seconds(statistics.median(self.cpu))

    def rss_cell(self):
        return "%.0f MiB" % (max(self.rss) / 1024.0)


def seconds(value):
    return "%.3f s" % value if value < 10 else "%.1f s" % value


def interleave(commands, rounds=None, warmup=True):
    """Run every command ``rounds`` times, rotating the order each round; returns one Stats per command."""
    rounds = ROUNDS if rounds is None else rounds
    stats = [Stats(command.label) for command in commands]
    if warmup:
        for command in commands:  # page cache, Trivy's checks bundle, ...
            command.run()
    for index in range(rounds):
        order = list(range(len(commands)))
        order = order[index % len(order):] + order[:index % len(order)]
        for which in order:
            wall, cpu, rss, value = commands[which].run()
            stats[which].wall.append(wall)
            stats[which].cpu.append(cpu)
            stats[which].rss.append(rss)
            stats[which].values.append(value)
    return stats


def _cpu_model():
    with open("/proc/cpuinfo") as handle:
        text = handle.read()
    model = re.search(r"^model name\s*:\s*(.*)$", text, re.M)
    return (model.group(1).strip() if model else "unknown CPU"), bool(re.search(r"\bsha_ni\b", text))


def machine():
    model, sha = _cpu_model()
    return "%s, %d cores, SHA extensions (sha_ni): %s" % (model, os.cpu_count() or 1, "yes" if sha else "no")


def load():
    return "%.2f" % os.getloadavg()[0]


def openssl_speed(cores=1):
    """SHA-256 bytes per second of ``openssl speed -evp sha256`` on 1 MiB blocks, on ``cores`` processes."""
    argv = ["openssl", "speed", "-seconds", "1", "-bytes", "1048576", "-evp", "sha256"]
    if cores > 1:
        argv[2:2] = ["-multi", str(cores)]
    out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout.decode()
    rates = re.findall(r"^sha256\s+([0-9.]+)k\s*$", out, re.M)
    return float(rates[-1]) * 1000 if rates else 0.0


def openssl_limits():
    """The hashing limit of this CPU right now: (text, bytes/s on one core, bytes/s on two)."""
    one, two = openssl_speed(1), openssl_speed(2)
    return ("`openssl speed -evp sha256` (1 MiB blocks): %.0f MB/s on one core, %.0f MB/s with `-multi 2`"
            % (one / 1e6, two / 1e6)), one, two


def shell_line(argv):
    return " ".join(shlex.quote(a) for a in argv)


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


def table(title, intro, rows, limits, load_before, notes=(), warmup=True):
    """The markdown of one benchmark: returns (every goal met, text).

    rows: (case, ours Stats, theirs Stats or None, goal); the speed-up is theirs' median over ours'. The
    goal is a minimum speed-up, None, or the row's own verdict as (met, text).
    """
    lines = ["### %s" % title, "", intro, "",
             "Measured %s UTC on %s; load average %s before, %s after; %d runs per side, interleaved%s." % (
                 time.strftime("%Y-%m-%d %H:%M", time.gmtime()), machine(), load_before, load(), len(rows[0][1].wall),
                 ", after one warm-up round" if warmup else " (the data read into the page cache first)"),
             "",
             "| case | ainative.security: median (min-max) | CPU | peak RSS | alternative | median (min-max) | CPU "
             "| speed-up | goal |",
             "|---|---|---|---|---|---|---|---|---|"]
    ok = True
    for case, ours, theirs, goal in rows:
        if theirs is None:
            ratio_text, other = "-", ("-", "-", "-")
        else:
            ratio = theirs.median / ours.median if ours.median else float("inf")
            ratio_text = "%.2fx" % ratio
            other = (theirs.label, theirs.cell(), theirs.cpu_cell())
        if isinstance(goal, tuple):
            met, goal_text = goal
        elif goal is None or theirs is None:
            met, goal_text = True, "-"
        else:
            met = ratio >= goal
            goal_text = ">= %.1fx %s" % (goal, "met" if met else "MISSED")
        ok = ok and met
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            case, ours.cell(), ours.cpu_cell(), ours.rss_cell(), other[0], other[1], other[2], ratio_text, goal_text))
    lines += ["", "Limits on this machine, measured in the same run:", ""]
    lines += ["- %s" % item for item in limits]
    if notes:
        lines += [""] + list(notes)
    text = "\n".join(lines)
    print(text, flush=True)
    return ok, text
