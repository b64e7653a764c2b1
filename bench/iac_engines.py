"""IaC engines: image_scan with scanner trivy against scanner checkov on the lab Terraform (issue 18).

No goal: this is the cost of the second engine. Both sides are the module process on the same ``iac``
target (lab/image_scan_fixtures.py ``iac-bad``), report_only, offline; the raw ``checkov`` run of the same
tree is the floor of the checkov side.
"""

import os
import shutil
import tempfile

from bench import _util
from lab import image_scan_fixtures
from ansible_collections.ainative.security.plugins.module_utils.scanners import checkov as checkov_backend

TRIVY = os.path.join(_util.ROOT, ".venv", "bin", "trivy")
CHECKOV = os.path.join(_util.ROOT, ".venv", "bin", "checkov")


def _module(work, scanner, tree, cache):
    args = {"targets": [{"type": "iac", "ref": tree, "name": "infra"}], "scanner": scanner, "offline": True,
            "scanner_path": TRIVY if scanner == "trivy" else CHECKOV, "cache_dir": cache, "report_only": True}
    return _util.module_command("image_scan", args, work, label="`image_scan` scanner %s" % scanner)


def run(rounds=None, data=None, warmup=True):
    for path in (TRIVY, CHECKOV):
        if not os.path.exists(path):
            raise RuntimeError("no %s; run ./setup/setup.sh" % path)
    rounds = _util.ROUNDS if rounds is None else rounds
    load_before = _util.load()
    work = tempfile.mkdtemp(prefix="bench-iac-engines-", dir=data)
    try:
        paths = image_scan_fixtures.prepare(os.path.join(work, "fx"), with_image=False)
        tree, cache = paths["iac_bad"], paths["cache_dir"]
        trivy, checkov = _module(work, "trivy", tree, cache), _module(work, "checkov", tree, cache)
        raw = _util.Command("raw `checkov -d DIR -o json --skip-download`", [
            "sh", "-c", "cd %s && BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE %s -d %s -o json "
            "--skip-download --framework %s >/dev/null; [ $? -le 1 ]"
            % (work, CHECKOV, tree, " ".join(checkov_backend.IAC_FRAMEWORKS))])
        trivy_s, checkov_s, raw_s = _util.interleave([trivy, checkov, raw], rounds, warmup)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    counts = []
    for stats in (trivy_s, checkov_s):
        result = stats.values[0]
        assert result["coverage"]["complete"], result["coverage"]
        assert result["summary"]["total"] > 0, result["summary"]
        counts.append(result["summary"]["total"])
    found = [set(f["details"].get("canonical_id") for f in stats.values[0]["findings"]) - set([None])
             for stats in (trivy_s, checkov_s)]
    canonical = sorted(found[0] & found[1])
    rows = [
        ("lab `iac-bad` (2 resources): %d Trivy vs %d Checkov findings" % tuple(counts), trivy_s, checkov_s, None),
        ("scanner checkov: module process vs raw `checkov`", checkov_s, raw_s, None),
    ]
    intro = ("The cost of the second IaC engine: `python plugins/modules/image_scan.py args.json` on one `iac` "
             "target with `scanner: trivy`, then `scanner: checkov` (Checkov 3.3.30 in its own venv), offline and "
             "report_only. The speed-up column of the first row is how many times faster Trivy is.")
    limits = ["the raw Checkov run is the floor of the checkov side: %s median, %s CPU (Python imports of every "
              "framework's checks; `checkov --version` alone takes most of it)"
              % (_util.seconds(raw_s.median), raw_s.cpu_cell())]
    notes = ["Controls both engines found on this tree (canonical ids): %s." % (", ".join(canonical) or "none")]
    return _util.table("iac_engines", intro, rows, limits, load_before, notes, warmup=warmup)


def main():
    ok, text = run()
    _util.write_section("iac_engines", text)
    return 0 if ok else 1
