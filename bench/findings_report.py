"""findings_report: 100,000 findings to JSON, SARIF, JUnit and HTML, as the module process.

Goal (issue 14 item 4): under 5 s and under 512 MiB peak memory for 100,000 findings in four control
reports (the JSON the controls write), every format asked, into an empty directory. The module runs the
way Ansible runs it (``python findings_report.py args.json``) under ``/usr/bin/time``, which gives its
wall time, CPU time and peak RSS; at least 5 runs, median and spread (min-max). The SARIF must stay within
GitHub's upload limits (10 MB gzipped, 5,000 results per run). Standalone (no bench._util yet):
AINATIVE_BENCH_SCALE=0.01 for a smoke run, AINATIVE_BENCH_ROUNDS for the number of runs.
"""

import gzip
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
sys.path.insert(0, COLLECTIONS)

from ansible_collections.ainative.security.plugins.module_utils.core import reports  # noqa: E402
from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding  # noqa: E402

SCALE = float(os.environ.get("AINATIVE_BENCH_SCALE", "1"))
ROUNDS = max(int(os.environ.get("AINATIVE_BENCH_ROUNDS", "5")), 1)
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
MODULE = os.path.join(ROOT, "plugins", "modules", "findings_report.py")
GOAL_SECONDS, GOAL_MIB = 5.0, 512
SARIF_GZIP_LIMIT = 10 * 1000 * 1000
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO", "UNKNOWN")
# (report, share of the findings, builder of the i-th finding)
CONTROLS = (
    ("image_scan", 0.6, lambda i, sev: make_finding(
        "image_scan", "vulnerability", "CVE-2024-%05d" % (i * 7919 % 99991), sev,
        "libfoo%d: buffer overflow in the parser allows remote code execution" % (i % 500),
        target="registry.example/app-%d:1.%d" % (i % 40, i % 7),
        location={"package": "libfoo%d" % (i % 500), "installed_version": "1.2.%d" % (i % 9), "fixed_version": "1.3.0"},
        url="https://avd.aquasec.com/nvd/cve-2024-%05d" % i, details={"host": "node-%02d" % (i % 20)})),
    ("dataset_integrity", 0.2, lambda i, sev: make_finding(
        "dataset_hash_verify", "integrity", "dataset_file_mismatch", sev, "file content differs from the manifest",
        target="train", location={"path": "data/train/shard-%06d.parquet" % i})),
    ("s3_encryption", 0.1, lambda i, sev: make_finding(
        "s3_encryption_assert", "misconfiguration", "s3_no_default_encryption", sev, "bucket has no default encryption",
        target="arn:aws:s3:::bucket-%06d" % i, location={"resource": "arn:aws:s3:::bucket-%06d" % i},
        details={"account_id": "1234567890%02d" % (i % 5)})),
    ("cloudtrail_hunt", 0.1, lambda i, sev: make_finding(
        "cloudtrail_hunt", "detection", "console_login_without_mfa", sev, "console login without MFA",
        target="arn:aws:iam::123456789012:user/u%d" % i, location={"resource": "event-%08d" % i})),
)


def make_inputs(directory, total):
    """The control reports (JSON, as the controls write them) holding ``total`` findings in all."""
    rnd = random.Random(14)
    os.makedirs(directory)
    coverage = {"unit": "targets", "asked": 1, "examined": 1, "complete": True, "missed": [], "missed_count": 0,
                "gaps": [], "accepted_incomplete": None}
    for control, share, build in CONTROLS:
        findings = [build(i, rnd.choice(SEVERITIES)) for i in range(int(total * share))]
        for finding in findings[::17]:
            finding["status"] = "ignored"
            finding["details"]["ignored_by"] = {"reason": "accepted"}
        with open(os.path.join(directory, control + ".json"), "wb") as handle:
            reports.stream_json(handle, findings, control, coverage=coverage)


def run_once(work, src):
    """(wall s, CPU s, peak RSS MiB, result) of one module process writing into an empty directory."""
    dest = os.path.join(work, "out")
    shutil.rmtree(dest, ignore_errors=True)
    args = os.path.join(work, "args.json")
    with open(args, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": {"src_dir": src, "dest": dest, "fail_on": "CRITICAL",
                                           "report_only": True}}, handle)
    stats = os.path.join(work, "time.txt")
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    proc = subprocess.run(["/usr/bin/time", "-o", stats, "-f", "%e %U %S %M", PYTHON, MODULE, args], env=env,
                          cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    out = proc.stdout.decode("utf-8", "replace")
    result = json.loads(out[out.index("{"):])
    if result.get("failed") and not result.get("gate"):
        raise RuntimeError("findings_report failed: %s" % result.get("msg"))
    with open(stats) as handle:
        wall, user, system, rss_kib = handle.read().split()[-4:]
    return float(wall), float(user) + float(system), int(rss_kib) / 1024.0, result


def _spread(values):
    return "%.2f (%.2f-%.2f)" % (statistics.median(values), min(values), max(values))


def main():
    total = max(int(100000 * SCALE), 60)
    work = tempfile.mkdtemp(prefix="bench-findings-report-")
    try:
        src = os.path.join(work, "in")
        make_inputs(src, total)
        runs = [run_once(work, src) for dummy in range(ROUNDS)]
        result = runs[-1][3]
        assert result["summary"]["total"] == total, result["msg"]
        sizes = dict((fmt, os.path.getsize(info["path"])) for fmt, info in result["reports"].items())
        with open(result["reports"]["sarif"]["path"], "rb") as handle:
            sarif = handle.read()
        sarif_gzip = len(gzip.compress(sarif))
        per_run = max(len(run["results"]) for run in json.loads(sarif.decode("utf-8"))["runs"])
        wall = [r[0] for r in runs]
        cpu = [r[1] for r in runs]
        rss = [r[2] for r in runs]
        ok = statistics.median(wall) < GOAL_SECONDS and max(rss) < GOAL_MIB and sarif_gzip <= SARIF_GZIP_LIMIT \
            and per_run <= reports.SARIF_MAX_RESULTS
        with open("/proc/loadavg") as handle:
            load = " ".join(handle.read().split()[:3])
        lines = [
            "", "findings_report: %d findings, %d runs, load average %s" % (total, ROUNDS, load), "",
            "| measure | median (min-max) | goal |", "|---|---|---|",
            "| wall time | %s s | < %.0f s |" % (_spread(wall), GOAL_SECONDS),
            "| CPU time (user + sys) | %s s | - |" % _spread(cpu),
            "| peak RSS | %s MiB | < %d MiB |" % (_spread(rss), GOAL_MIB),
            "| SARIF gzipped | %.1f MB (most results in a run: %d) | <= 10 MB, <= %d |" % (
                sarif_gzip / 1e6, per_run, reports.SARIF_MAX_RESULTS),
            "| sizes | %s | - |" % ", ".join("%s %.1f MB" % (fmt, size / 1e6) for fmt, size in sorted(sizes.items())),
        ]
        print("\n".join(lines), flush=True)
        return not ok and SCALE >= 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(1 if main() else 0)
