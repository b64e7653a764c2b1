"""image_scan: the module process against the raw Trivy run a user would type, and normalizing 100,000 findings.

Goals (issue 3, re-measured for issue 14): the module process (Python start-up, imports, version probe,
scan, normalization, ignore policy, gate, JSON + SARIF + JUnit reports) adds < 5 % to the raw
`trivy fs ... --format json --output FILE` run of the same target; normalizing 100,000 findings < 1 s.
"""

import json
import os
import shutil
import statistics
import tempfile
import time

from bench import _util
from lab import image_scan_fixtures
from ansible_collections.ainative.security.plugins.module_utils.core import findings as findings_mod
from ansible_collections.ainative.security.plugins.module_utils.core.gate import Gate
from ansible_collections.ainative.security.plugins.module_utils.core.waivers import apply_ignores, entries_from_params
from ansible_collections.ainative.security.plugins.module_utils.scanners import trivy as scanner_trivy

TRIVY = os.path.join(_util.ROOT, ".venv", "bin", "trivy")
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


def overhead(work, rounds, warmup):
    """(module process Stats, raw Trivy Stats, start-up Stats, findings) on the same target."""
    target, cache = _target(work)
    out = os.path.join(work, "out")
    os.makedirs(out)
    raw = _util.Command("raw `trivy fs --format json --output FILE`", [
        TRIVY, "fs", "--cache-dir", cache, "--skip-db-update", "--skip-java-db-update", "--skip-check-update",
        "--offline-scan", "--scanners", "vuln,secret,misconfig", "--format", "json", "--quiet", "--no-progress",
        "--output", os.path.join(out, "raw.json"), target])
    args = {"targets": [{"type": "directory", "ref": target, "name": "project"}], "scanner": "trivy",
            "scanner_path": TRIVY, "cache_dir": cache, "offline": True, "skip_db_update": True, "fail_on": "HIGH",
            "concurrency": 2, "report_only": True,
            "ignore": [{"id": "AVD-AWS-0089", "reason": "bench", "expires": "2999-01-01"}],
            "reports": {"json": os.path.join(out, "r.json"), "sarif": os.path.join(out, "r.sarif"),
                        "junit": os.path.join(out, "r.xml")}}
    ours = _util.module_command("image_scan", args, work)
    ours_s, raw_s, startup = _util.interleave([ours, raw, _util.startup_command("image_scan")], rounds, warmup)
    total = ours_s.values[0]["summary"]["total"]
    assert total > 10, ours_s.values[0]["summary"]
    return ours_s, raw_s, startup, total


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


def normalization(count, rounds):
    """In-process component timings (no process to compare with): median of ``rounds`` runs."""
    report = synthetic_report(count)
    text = json.dumps(report)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        found = scanner_trivy.normalize(report, "big")
        times.append(time.perf_counter() - start)
    assert len(found) == count
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
    return statistics.median(times), parse, policy, len(failing), len(text)


def run(scale=_util.SCALE, rounds=None, data=None, warmup=True):
    if not os.path.exists(TRIVY):
        raise RuntimeError("no Trivy binary at %s; run ./setup/setup.sh" % TRIVY)
    rounds = _util.ROUNDS if rounds is None else rounds
    load_before = _util.load()
    work = tempfile.mkdtemp(prefix="bench-image-scan-", dir=data)
    try:
        ours, raw, startup, total = overhead(work, rounds, warmup)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    count = max(int(N_FINDINGS * min(scale, 1.0)), 1000)
    norm, parse, policy, failing, size = normalization(count, rounds)
    added = ours.median - raw.median
    pct = added / raw.median * 100
    over_ok = pct < 5.0
    norm_ok = norm < 1.0 or count < N_FINDINGS
    cpu_pct = (statistics.median(ours.cpu) / statistics.median(raw.cpu) - 1) * 100
    rows = [
        ("scan + gate + 3 reports, one directory (%d findings)" % total, ours, raw,
         (over_ok, "overhead %+.1f %% (adds %.3f s; CPU %+.1f %%): < 5 %% %s"
          % (pct, added, cpu_pct, "met" if over_ok else "MISSED"))),
    ]
    intro = ("The module process (`python plugins/modules/image_scan.py args.json`) against the raw `trivy fs "
             "--format json --output FILE` a user would run on the same directory (Terraform, requirements.txt, "
             "an env file with a key), offline with the lab DB. The overhead is the difference of the medians "
             "over the raw median.")
    limits = [
        "the raw Trivy run is the floor of the module process: %s median" % _util.seconds(raw.median),
        "Python start-up and the module's imports (no work): %s median, %.1f %% of the raw run"
        % (_util.seconds(startup.median), startup.median / raw.median * 100),
    ]
    notes = [
        "Components, in-process (median of %d runs; nothing to compare with):" % rounds, "",
        "| component | time | goal |", "|---|---|---|",
        "| normalize %d Trivy findings (parsed report -> shared findings model) | %.3f s | < 1 s %s |"
        % (count, norm, "met" if norm_ok else "MISSED"),
        "| `json.loads` of that report (%.0f MB), for scale | %.3f s | - |" % (size / 1e6, parse),
        "| ignore policy + gate + summary + sort on those findings (%d failing) | %.3f s | - |" % (failing, policy),
    ]
    ok, text = _util.table("image_scan", intro, rows, limits, load_before, notes)
    return ok and norm_ok, text


def main():
    ok, text = run()
    _util.write_section("image_scan", text)
    return 0 if ok else 1
