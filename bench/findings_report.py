"""findings_report: 100,000 findings to JSON, SARIF, JUnit and HTML, as the module process (bench/_util's method).

Goal (issue 14 item 4, issue 19): under 5 s and under 512 MiB peak memory for 100,000 findings in four
control reports (the JSON the controls write), every format asked. The SARIF must stay within GitHub's
upload limits (10 MB gzipped, 5,000 results per run). What a user would run instead is `jq` merging the
reports' findings into one JSON file: one format of the four, and no gate, trend or page.
"""

import gzip
import json
import os
import random
import shutil
import sys
import tempfile

from bench import _util

sys.path.insert(0, _util.COLLECTIONS)

from ansible_collections.ainative.security.plugins.module_utils.core import reports  # noqa: E402
from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding  # noqa: E402

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


def _floor_command(src):
    """Python reading the inputs and writing their findings once as JSON: the floor of any report in Python."""
    code = ("import glob, json, sys\n"
            "found = [f for p in sorted(glob.glob(sys.argv[1] + '/*.json')) for f in json.load(open(p))['findings']]\n"
            "json.dump(found, open(sys.argv[2], 'w'))\n")
    return _util.Command("`json.load` of the inputs + `json.dump` of their findings", [
        _util.PYTHON, "-c", code, src, os.path.join(os.path.dirname(src), "floor.json")])


def run(scale=_util.SCALE, rounds=None, data=None, warmup=True):
    rounds = _util.ROUNDS if rounds is None else rounds
    load_before = _util.load()
    total = max(int(100000 * scale), 60)
    work = tempfile.mkdtemp(prefix="bench-findings-report-", dir=data)
    try:
        src = os.path.join(work, "in")
        make_inputs(src, total)
        module = _util.module_command("findings_report", {
            "src_dir": src, "dest": os.path.join(work, "out"), "fail_on": "CRITICAL", "report_only": True}, work)
        # Into an empty directory each run (an unchanged set is only compared, never rewritten).
        ours = _util.Command(module.label, ["sh", "-c", 'rm -rf "$1" && shift && exec "$@"', "sh", os.path.join(work, "out")]
                             + module.argv, cwd=work, env=module.env, check=module.check)
        jq = _util.Command("`jq` merging the reports' findings into one JSON file", [
            "sh", "-c", 'jq -c -s "[.[].findings[]]" "$1"/*.json > "$2"', "jq", src, os.path.join(work, "jq.json")])
        commands = [ours, jq, _floor_command(src), _util.startup_command("findings_report")]
        stats = _util.interleave(commands, rounds, warmup)
        result = stats[0].values[-1]
        assert result["summary"]["total"] == total, result["msg"]
        sizes = dict((fmt, os.path.getsize(info["path"])) for fmt, info in result["reports"].items())
        with open(result["reports"]["sarif"]["path"], "rb") as handle:
            sarif = handle.read()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sarif_gzip = len(gzip.compress(sarif))
    per_run = max(len(run_["results"]) for run_ in json.loads(sarif.decode("utf-8"))["runs"])
    ours_s, jq_s, floor_s, startup_s = stats
    peak_mib = max(ours_s.rss) / 1024.0
    met = ours_s.median < GOAL_SECONDS and peak_mib < GOAL_MIB
    sarif_ok = sarif_gzip <= SARIF_GZIP_LIMIT and per_run <= reports.SARIF_MAX_RESULTS
    rows = [("%d findings in 4 reports to JSON, SARIF, JUnit and HTML" % total, ours_s, jq_s,
             (met or scale < 1, "under %.0f s and %d MiB: %s (%.2f s, %.0f MiB)" % (
                 GOAL_SECONDS, GOAL_MIB, "met" if met else "MISSED", ours_s.median, peak_mib)))]
    intro = ("The module process (`python plugins/modules/findings_report.py args.json`, every format, the gate, "
             "the page) over four control reports holding %d findings, against `jq` merging their findings into "
             "one JSON file. With 20,000 findings or more and two cores, the module writes the four files in two "
             "processes (JUnit and JSON in one, the page and SARIF in the other); the CPU column is the whole "
             "process tree and the peak RSS its largest process (the forked writer shares the parent's pages "
             "copy-on-write, so both together stay under twice that)." % total)
    limits = [
        "Python reading the inputs and writing their findings once as JSON (no checks, no other format): %s "
        "median, %s CPU" % (floor_s.cell(), floor_s.cpu_cell()),
        "Python start-up and the module's imports (no work): %s median" % _util.seconds(startup_s.median),
    ]
    notes = ["Outputs: %s; SARIF %.1f MB gzipped, at most %d results in a run (GitHub: 10 MB, %d): %s." % (
        ", ".join("%s %.1f MB" % (fmt, size / 1e6) for fmt, size in sorted(sizes.items())), sarif_gzip / 1e6,
        per_run, reports.SARIF_MAX_RESULTS, "within" if sarif_ok else "OVER")]
    ok, text = _util.table("findings_report", intro, rows, limits, load_before, notes, warmup)
    return ok and sarif_ok, text


def main():
    ok, text = run()
    _util.write_section("findings_report", text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
