# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The image_scan control: scan each target with a backend and return the findings with their coverage.

:func:`run` is all the ``image_scan`` module calls (through ``ControlModule.run``). Each target stands on
its own: a target that cannot be scanned (missing path, scanner crash, timeout, OOM kill) is a coverage
miss with its reason, and the other targets' findings and reports are kept. The base then applies the
waivers (task ``ignore`` plus the ignore files and VEX documents read here), the baseline and the gate.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import shutil
import tempfile
import threading
import uuid

from ansible_collections.ainative.security.plugins.module_utils.core.concurrency import run_bounded
from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import ControlError, InputError, bounded_text
from ansible_collections.ainative.security.plugins.module_utils.core.gate import finding_ids, parse_threshold
from ansible_collections.ainative.security.plugins.module_utils.core.module import Outcome
from ansible_collections.ainative.security.plugins.module_utils.core.waivers import entries_from_params, load_baseline
from ansible_collections.ainative.security.plugins.module_utils.scanners import (
    canonical,
    checkov,
    grype,
    iac_policies,
    inline_waivers,
    licenses,
    policy,
    risk,
    trivy,
)
from ansible_collections.ainative.security.plugins.module_utils.scanners.base import (
    ScanError,
    Target,
    default_scanners,
    unpack_oci_archive,
    validate_target,
)

CONTROL = "image_scan"
BACKENDS = {"trivy": trivy.scanner, "grype": grype.scanner, "checkov": checkov.scanner}
# Target types whose files Trivy scans for misconfigurations in place (where inline ignores apply).
TREE_TYPES = ("directory", "iac")


def _targets(params):
    targets = []
    names = set()
    for item in params.get("targets") or []:
        target = Target(item.get("type"), item.get("ref"), item.get("name"),
                        item.get("scanners") or params.get("scanners") or None)
        if not target.scanners:
            target.scanners = default_scanners(target.type)
        if target.name in names:
            raise InputError("two targets are named %s; give them distinct 'name's (findings and baselines use it)"
                             % target.name)
        names.add(target.name)
        targets.append(target)
    if not targets:
        raise InputError("no targets to scan; list at least one under 'targets'")
    return targets


def _check_options(params):
    """Every option error before the first scanner starts (the base reads some of them only at the end)."""
    if params["timeout"] < 1 or params["concurrency"] < 1:
        raise InputError("timeout and concurrency must be at least 1")
    parse_threshold(params.get("fail_on"))
    if params.get("scanner") == "checkov":
        wrong = [t.get("name") or t.get("ref") for t in params.get("targets") or [] if t.get("type") not in checkov.TARGET_TYPES]
        if wrong:
            raise InputError("scanner checkov checks IaC only (target types %s); %s is not one: scan images and "
                             "packages with scanner trivy or grype" % (", ".join(checkov.TARGET_TYPES), wrong[0]))
    if params.get("reports", {}).get("cyclonedx") and params.get("scanner") != "trivy":
        raise InputError("reports.cyclonedx needs scanner: trivy (Grype's BOM is not written by this module)")
    if params.get("licenses") and params.get("scanner") != "trivy":
        raise InputError("licenses needs scanner: trivy (the licence scan is Trivy's)")
    if params.get("iac_policies") and params.get("scanner") != "trivy":
        raise InputError("iac_policies needs scanner: trivy (the Rego checks run in Trivy's embedded OPA)")


def _policy_files(params):
    entries = []
    for path in params.get("ignore_files") or []:
        entries += policy.load_ignore_file(path)
    for path in params.get("vex") or []:
        entries += policy.load_vex(path)
    return entries


def _unused(entries, findings):
    """Entries that match no finding (by id or alias, then their own narrowing), candidates for removal."""
    by_id = {}
    for entry in entries:
        by_id.setdefault(entry.id.upper(), []).append(entry)
    used = set()
    for finding in findings:
        for name in finding_ids(finding):
            for entry in by_id.get(name, ()):
                if id(entry) not in used and entry.matches(finding):
                    used.add(id(entry))
    return [e.as_dict() for e in entries if id(e) not in used]


def _safe_name(name):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "target"


class TargetScan(object):
    """What one target's scan gave: findings and facts, or the reason it could not be scanned."""

    __slots__ = ("target", "findings", "seconds", "error", "cdx", "cdx_error", "inline_waivers", "notes", "misses")

    def __init__(self, target, findings=None, seconds=0.0, error=None):
        self.target = target
        self.findings = findings or []
        self.seconds = seconds
        self.error = error
        self.cdx = None
        self.cdx_error = None
        self.inline_waivers = 0
        self.notes = []
        self.misses = []  # (item, reason): parts of a scanned target the scanner could not examine

    def info(self):
        info = self.target.as_dict()
        info.update({"seconds": round(self.seconds, 3), "findings": len(self.findings),
                     "inline_waivers": self.inline_waivers})
        if self.error:
            info["error"] = self.error
        return info


def _overrule_inline_waivers(backend, scan, workdir):
    """Inline ignore comments become findings, and what they hid is scanned again and reported."""
    target = scan.target
    waivers, too_large = inline_waivers.find(target.ref)
    if too_large:
        scan.notes.append("%s: %d configuration file(s) over %d MiB not checked for inline ignores (first: %s)"
                          % (target.name, len(too_large), inline_waivers.FILE_LIMIT >> 20, too_large[0]))
    if not waivers:
        return
    scan.inline_waivers = len(waivers)
    scan.findings.extend(inline_waivers.findings(waivers, CONTROL, target.name))
    try:
        defused = inline_waivers.defused_copy(target.ref, tempfile.mkdtemp(prefix="defused-", dir=workdir))
    except (IOError, OSError) as exc:
        raise ScanError("cannot copy %s to scan it without its inline ignore comments: %s" % (target.ref, exc))
    report, dummy, seconds = backend.scan(Target(target.type, defused, target.name, ["misconfig"]), ["misconfig"],
                                          workdir)
    scan.seconds += seconds
    revealed = inline_waivers.reveal(backend.normalize(report, target.name), scan.findings)
    scan.notes.append("%s: %d inline ignore comment(s) reported as %s findings; %d finding(s) they hid are "
                      "reported anyway" % (target.name, len(waivers), inline_waivers.RULE_ID, revealed))


def _scan_target(backend, target, workdir, want_cdx, license_policy=None):
    """Scan one target; any error becomes the TargetScan's error, so the other targets go on."""
    try:
        validate_target(target)
        if target.type == "archive" and target.archive_format == "oci" and backend.name == "trivy":
            unpack_oci_archive(target, workdir)
        scanners = target.scanners + (["license"] if license_policy else [])
        # Every package is listed for the BOM and for licence findings (a package declaring no licence).
        report, raw, seconds = backend.scan(target, scanners, workdir, list_all_pkgs=bool(want_cdx or license_policy))
        scan = TargetScan(target, backend.normalize(report, target.name), seconds)
        if license_policy:
            scan.findings.extend(licenses.findings(report, target.name, license_policy))
        if backend.name == "trivy" and target.type in TREE_TYPES and "misconfig" in target.scanners:
            _overrule_inline_waivers(backend, scan, workdir)
        if backend.name == "checkov":
            scan.misses, checkov_notes = checkov.coverage_facts(report, target.name)
            scan.notes.extend(checkov_notes)
    except iac_policies.CheckError:
        raise  # a check that does not load fails the task: skipping it would pass what it should refuse
    except ControlError as exc:
        return TargetScan(target, error=exc.msg)
    except Exception as exc:  # pylint: disable=broad-except  # a bug on one target must not drop the others
        return TargetScan(target, error="unexpected %s: %s; this is a bug, please report it"
                          % (type(exc).__name__, bounded_text(exc)))
    if want_cdx:
        base = os.path.join(tempfile.mkdtemp(prefix="cdx-", dir=workdir), _safe_name(target.name))
        try:
            with open(base + ".json", "wb") as handle:
                handle.write(raw)
            backend.cyclonedx(base + ".json", base + ".cdx.json", workdir)
            scan.cdx = base + ".cdx.json"
        except ControlError as exc:
            scan.cdx_error = exc.msg
        except (IOError, OSError) as exc:
            scan.cdx_error = "cannot write the raw report for the BOM: %s" % exc
    return scan


def run(ctl):
    params = ctl.params
    _check_options(params)
    targets = _targets(params)
    waivers = _policy_files(params)
    task_entries = entries_from_params(params.get("ignore"))
    known = load_baseline(params["baseline"]) if params.get("baseline") else None
    risk_files = risk.RiskFiles(params)
    want_cdx = (params.get("reports") or {}).get("cyclonedx")
    license_policy = licenses.from_params(params)
    backend = BACKENDS[params.get("scanner") or "trivy"](params)
    notes = []
    skipped_kinds = sorted(set(s for t in targets for s in t.scanners if s not in backend.kinds))
    if skipped_kinds:
        notes.append("%s does not scan for %s; only %s ran"
                     % (backend.name, ", ".join(skipped_kinds), ", ".join(backend.kinds)))
    backend.check_db(any("vuln" in t.scanners for t in targets))

    version = {}

    def get_version():
        try:
            version.update(backend.version(write_cache=not ctl.check_mode))
        except ControlError as exc:
            version["error"] = exc.msg

    version_thread = threading.Thread(target=get_version)
    version_thread.daemon = True
    version_thread.start()

    workdir = tempfile.mkdtemp(prefix="ainative-image-scan-")
    try:
        scans = run_bounded(lambda target: _scan_target(backend, target, workdir, want_cdx, license_policy), targets,
                            params["concurrency"])
        version_thread.join(60)
        coverage = Coverage("targets", asked=len(targets))
        findings = []
        for scan in scans:
            if scan.error:
                coverage.miss(scan.target.name, scan.error)
                continue
            coverage.add()
            for item, reason in scan.misses:
                coverage.miss(item, reason)
            findings.extend(canonical.annotate(scan.findings))
            notes.extend(scan.notes)
            if scan.cdx_error:
                coverage.miss(scan.target.name, "scanned, but its CycloneDX BOM failed: %s" % scan.cdx_error)
        boms = {"cyclonedx": _boms(scans, want_cdx)} if want_cdx else {}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    risk_meta = risk_files.enrich(findings, coverage, notes)
    if version.get("error"):
        notes.append("scanner version unknown: %s" % version["error"].splitlines()[0])
    target_info = [scan.info() for scan in scans]
    extra = {
        "scanner": {"name": backend.name, "version": version.get("version"), "path": backend.binary,
                    "db": version.get("db"), "cache_dir": backend.cache_dir},
        "targets": target_info,
        "unused_ignores": _unused(task_entries + waivers, findings),
        "baseline": None,
    }
    if known is not None:
        new = sum(1 for f in findings if f["fingerprint"] not in known)
        extra["baseline"] = {"path": params["baseline"], "known": len(findings) - new, "new": new}
    if ctl.check_mode:
        extra["check_mode"] = "the scan ran (it changes nothing); reports were not written"
    outcome = Outcome(coverage, findings, notes, **extra)
    outcome.waivers = waivers
    outcome.extra_documents = boms
    outcome.report_meta = {"scanner": {"name": backend.name, "version": version.get("version"), "db": version.get("db")},
                           "targets": [dict((k, v) for k, v in t.items() if k != "seconds") for t in target_info]}
    outcome.extensions = [{"name": backend.name, "version": version.get("version")}]
    if risk_meta:
        outcome.report_meta["risk_data"] = risk_meta
    return outcome


def _boms(scans, directory):
    """Each scanned target's BOM as ``<directory>/<name>.cdx.json``, published in one set with the reports."""
    files = []
    for scan in scans:
        if not scan.cdx or not os.path.exists(scan.cdx):
            continue
        with open(scan.cdx, "rb") as handle:
            data = handle.read()
        files.append((os.path.join(directory, _safe_name(scan.target.name) + ".cdx.json"), _stable_cdx(data)))
    return {"path": directory, "files": files}


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _stable_cdx(data):
    """Trivy stamps a serialNumber, a timestamp and random bom-refs into each BOM, and lists dependencies in
    no fixed order; make all of it deterministic so an unchanged BOM is not rewritten. A random bom-ref becomes
    a name-based UUID of the component's purl (or type/name/version)."""
    try:
        bom = json.loads(data)
    except ValueError:
        return data
    bom.pop("serialNumber", None)
    meta = bom.get("metadata") if isinstance(bom.get("metadata"), dict) else {}
    meta.pop("timestamp", None)
    mapping = {}
    for comp in [meta.get("component") or {}] + list(bom.get("components") or []):
        ref = comp.get("bom-ref")
        if ref and _UUID.match(ref):
            key = comp.get("purl") or "%s:%s@%s" % (comp.get("type"), comp.get("name"), comp.get("version"))
            mapping[ref] = str(uuid.uuid5(uuid.NAMESPACE_URL, "bom-ref:" + key))
    text = _UUID.sub(lambda m: mapping.get(m.group(0), m.group(0)), json.dumps(bom, sort_keys=True))
    bom = json.loads(text)
    for dep in bom.get("dependencies") or []:
        dep["dependsOn"] = sorted(dep.get("dependsOn") or [])
    for key, field in (("dependencies", "ref"), ("components", "bom-ref")):
        if isinstance(bom.get(key), list):
            bom[key] = sorted(bom[key], key=lambda item: str(item.get(field)))
    for vuln in bom.get("vulnerabilities") or []:
        if isinstance(vuln.get("affects"), list):
            vuln["affects"] = sorted(vuln["affects"], key=lambda item: str(item.get("ref")))
    return (json.dumps(bom, indent=2, sort_keys=True) + "\n").encode("utf-8")
