"""image_scan: the module's overhead over a raw Trivy run of the same target, and normalizing 100,000 findings.

Goals (issue 3): overhead < 5 % of the raw `trivy` run a user would type; normalizing 100,000 findings < 1 s.
The overhead is measured on the module's engine (``scanners/image_scan.run`` plus what ``ControlModule`` does
after it: version probe, scan, normalization, ignore policy, gate, JSON + SARIF + JUnit reports) against the same `trivy fs` command line
with ``--format json --output FILE``. Runs alternate (raw, ours, raw, ours, ...); the best of each is compared
(the least noisy estimate on a shared machine), and the medians are shown too.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

from bench._util import write_section  # noqa: E402
from lab import image_scan_fixtures, trivydb  # noqa: E402
from ansible_collections.ainative.security.plugins.module_utils.core import findings as findings_mod  # noqa: E402
from ansible_collections.ainative.security.plugins.module_utils.core.gate import Gate  # noqa: E402
from ansible_collections.ainative.security.plugins.module_utils.core.reports import write_reports  # noqa: E402
from ansible_collections.ainative.security.plugins.module_utils.core.waivers import (  # noqa: E402
    apply_ignores,
    entries_from_params,
)
from ansible_collections.ainative.security.plugins.module_utils.scanners import image_scan  # noqa: E402
from ansible_collections.ainative.security.plugins.module_utils.scanners import trivy as scanner_trivy  # noqa: E402

TRIVY = os.path.join(ROOT, ".venv", "bin", "trivy")
ROUNDS = int(os.environ.get("AINATIVE_BENCH_ROUNDS", "7"))
N_FINDINGS = 100000


def _target(work):
    """One directory a user would gate: Terraform, a requirements file and an env file with a key."""
    target = os.path.join(work, "project")
    paths = image_scan_fixtures.prepare(os.path.join(work, "fx"), with_image=False)
    shutil.copytree(paths["iac_bad"], os.path.join(target, "infra"))
    shutil.copytree(paths["pyproj"], os.path.join(target, "train"))
    with open(os.path.join(target, "train", "creds.env"), "w") as handle:
        handle.write("AWS_ACCESS_KEY_ID=%s\n" % image_scan_fixtures.PLANTED_KEY_ID)
    return target, paths["cache_dir"]


class _Control(object):
    """The part of a ControlModule that ``image_scan.run`` reads (no AnsibleModule in a benchmark)."""

    check_mode = False

    def __init__(self, params):
        self.params = params


def engine(params):
    """``image_scan.run`` and what ControlModule.conclude does with its Outcome: waivers, gate, reports."""
    outcome = image_scan.run(_Control(params))
    apply_ignores(outcome.findings, entries_from_params(params["ignore"]) + outcome.waivers)
    decision = Gate.from_params(params).decide(outcome.findings, outcome.coverage)
    write_reports(params["reports"], outcome.findings, control=image_scan.CONTROL,
                  failing=decision["failing_fingerprints"], fail_on=decision["fail_on"], notes=outcome.notes,
                  meta=outcome.report_meta, extensions=outcome.extensions, verdict_=decision["verdict"],
                  coverage=outcome.coverage.as_dict())
    return dict(outcome.extra, summary=findings_mod.summarize(outcome.findings))


def overhead(work):
    target, cache = _target(work)
    out = os.path.join(work, "out")
    os.makedirs(out)
    raw = [TRIVY, "fs", "--cache-dir", cache, "--skip-db-update", "--skip-java-db-update", "--skip-check-update",
           "--offline-scan", "--scanners", "vuln,secret,misconfig", "--format", "json", "--quiet", "--no-progress",
           "--output", os.path.join(out, "raw.json"), target]
    params = {"targets": [{"type": "directory", "ref": target, "name": "project"}], "scanner": "trivy",
              "scanner_path": TRIVY, "cache_dir": cache, "offline": True, "skip_db_update": True, "fail_on": "HIGH",
              "fail_on_ids": [], "timeout": 600, "concurrency": 2, "max_findings": 1000, "report_only": True,
              "ignore": [{"id": "AVD-AWS-0089", "reason": "bench", "expires": "2999-01-01"}],
              "reports": {"json": os.path.join(out, "r.json"), "sarif": os.path.join(out, "r.sarif"),
                          "junit": os.path.join(out, "r.xml")}}
    # warm-up (page cache, checks bundle)
    subprocess.run(raw, check=True)
    result = engine(params)
    assert result["summary"]["total"] > 10, result["summary"]
    raw_times, ours_times, added = [], [], []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        subprocess.run(raw, check=True)
        raw_times.append(time.perf_counter() - start)
        for name in ("r.json", "r.sarif", "r.xml"):  # make every run write its reports
            os.unlink(os.path.join(out, name))
        start = time.perf_counter()
        run = engine(params)
        ours_times.append(time.perf_counter() - start)
        # what the module adds around the scanner process (the process's own wall time is targets[].seconds)
        added.append(ours_times[-1] - sum(t["seconds"] for t in run["targets"]))
    return {"raw_best": min(raw_times), "ours_best": min(ours_times), "raw_med": statistics.median(raw_times),
            "ours_med": statistics.median(ours_times), "added_med": statistics.median(added),
            "total": result["summary"]["total"]}


def synthetic_report(count):
    """A Trivy JSON report with ``count`` vulnerabilities (1,000 packages x count/1,000 advisories)."""
    per = max(count // 1000, 1)
    vulns = []
    for pkg in range(1000):
        for adv in range(per):
            vulns.append({
                "VulnerabilityID": "CVE-2098-%05d%02d" % (pkg, adv), "PkgID": "pkg%04d@1.0" % pkg,
                "PkgName": "pkg%04d" % pkg, "PkgIdentifier": {"PURL": "pkg:pypi/pkg%04d@1.0" % pkg},
                "InstalledVersion": "1.0", "FixedVersion": "2.0" if adv % 3 else "", "Status": "fixed",
                "SeveritySource": "ghsa", "PrimaryURL": "https://avd.aquasec.com/nvd/cve-2098-%05d%02d" % (pkg, adv),
                "DataSource": {"ID": "ghsa", "Name": "GitHub Security Advisory pip"},
                "Title": "synthetic advisory %d/%d" % (pkg, adv), "Severity": ("LOW", "MEDIUM", "HIGH", "CRITICAL")[adv % 4],
                "VendorSeverity": {"ghsa": adv % 4 + 1}, "References": ["https://example.invalid"],
            })
    return {"SchemaVersion": 2, "ArtifactName": "big", "ArtifactType": "filesystem",
            "Results": [{"Target": "requirements.txt", "Class": "lang-pkgs", "Type": "pip",
                         "Vulnerabilities": vulns[:count]}]}


def normalization():
    report = synthetic_report(N_FINDINGS)
    text = json.dumps(report)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        found = scanner_trivy.normalize(report, "big")
        times.append(time.perf_counter() - start)
    assert len(found) == N_FINDINGS
    start = time.perf_counter()
    json.loads(text)
    parse = time.perf_counter() - start
    start = time.perf_counter()
    entries = entries_from_params([{"id": "CVE-2098-0000101", "reason": "bench"}])
    apply_ignores(found, entries)
    failing = Gate("HIGH").failing(found)
    findings_mod.summarize(found)
    findings_mod.sort_findings(found)
    policy = time.perf_counter() - start
    return min(times), parse, policy, len(failing), len(text)


def main():
    if not os.path.exists(TRIVY):
        print("no Trivy binary at %s; run ./setup/setup.sh" % TRIVY)
        return 1
    work = tempfile.mkdtemp(prefix="bench-image-scan-")
    try:
        o = overhead(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    norm, parse, policy, failing, size = normalization()
    pct = o["added_med"] / o["raw_med"] * 100
    over_ok = pct < 5.0
    norm_ok = norm < 1.0
    lines = [
        "### image_scan",
        "",
        "Module engine (`scanners/image_scan.run` + ControlModule's conclusion: version probe, scan, normalization, ignore policy, gate, "
        "JSON + SARIF + JUnit reports) against the raw `trivy fs ... --format json --output FILE` a user would run "
        "on the same directory (Terraform, requirements.txt, an env file with a key; %d findings), offline with the "
        "lab DB; %d alternating runs, %d CPUs, load average %.1f, Trivy 0.59.1. The overhead is the median time the "
        "module adds around its Trivy process (the same argv as the raw run) over the median raw run; end-to-end "
        "times (best / median) are shown because on a shared machine the scanner's own run varies far more than "
        "that." % (o["total"], ROUNDS, os.cpu_count(), os.getloadavg()[0]),
        "",
        "| case | ainative.security | alternative | alternative time | overhead | goal |",
        "|---|---|---|---|---|---|",
        "| scan + gate + 3 reports, one directory | %.3f s / %.3f s (adds %.3f s) | raw `trivy fs --format json` "
        "| %.3f s / %.3f s | %+.1f %% | < 5 %% %s |" % (o["ours_best"], o["ours_med"], o["added_med"], o["raw_best"],
                                                    o["raw_med"], pct, "met" if over_ok else "MISSED"),
        "| normalize %d Trivy findings (parsed report -> shared findings model) | %.3f s | - | - | - | < 1 s %s |"
        % (N_FINDINGS, norm, "met" if norm_ok else "MISSED"),
        "| `json.loads` of that report (%.0f MB), for scale | %.3f s | - | - | - | - |" % (size / 1e6, parse),
        "| ignore policy + gate + summary + sort on those findings | %.3f s | - | - | - | - |" % policy,
    ]
    text = "\n".join(lines)
    print(text, flush=True)
    if ROUNDS >= 5:
        write_section("image_scan", text)
    return 0 if (over_ok and norm_ok) else 1


if __name__ == "__main__":
    sys.exit(main())
