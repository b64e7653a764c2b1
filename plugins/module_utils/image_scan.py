# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The image_scan control: scan targets with a backend, apply the triage policy, gate, write reports.

:func:`run` is all the ``image_scan`` module calls. It raises :class:`ScanError` (scanner or target
problems) or ``PolicyError`` / ``ReportError`` (bad inputs); everything else is returned as a result dict.
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

from ansible_collections.ainative.security.plugins.module_utils.core import reports as reports_mod
from ansible_collections.ainative.security.plugins.module_utils import scan_policy
from ansible_collections.ainative.security.plugins.module_utils import scanner_grype, scanner_trivy
from ansible_collections.ainative.security.plugins.module_utils.core.findings import bounded, sort_findings, summarize
from ansible_collections.ainative.security.plugins.module_utils.scanner_base import (
    ScanError,
    Target,
    default_scanners,
    run_bounded,
    unpack_oci_archive,
    validate_target,
)

CONTROL = "image_scan"
BACKENDS = {"trivy": scanner_trivy.scanner, "grype": scanner_grype.scanner}


class InputError(ScanError):
    """Bad module input (wraps policy and report errors so the module has one exception type)."""


def _targets(params):
    targets = []
    names = set()
    for index, item in enumerate(params.get("targets") or []):
        target = Target(item.get("type"), item.get("ref"), item.get("name"),
                        item.get("scanners") or params.get("scanners") or None)
        validate_target(target)
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


def _policy(params):
    try:
        entries = scan_policy.entries_from_params(params.get("ignore"))
        for path in params.get("ignore_files") or []:
            entries += scan_policy.load_ignore_file(path)
        for path in params.get("vex") or []:
            entries += scan_policy.load_vex(path)
        known = scan_policy.load_baseline(params["baseline"]) if params.get("baseline") else None
        threshold = scan_policy.parse_threshold(params.get("fail_on", "HIGH"))
    except scan_policy.PolicyError as exc:
        raise InputError(str(exc))
    return entries, known, threshold


def _safe_name(name):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "target"


def run(params, check_mode=False):
    targets = _targets(params)
    entries, known, threshold = _policy(params)
    outputs = dict((k, v) for k, v in (params.get("reports") or {}).items() if v)
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
            version.update(backend.version(write_cache=not check_mode))
        except ScanError as exc:
            version["error"] = str(exc)

    version_thread = threading.Thread(target=get_version)
    version_thread.daemon = True
    version_thread.start()

    workdir = tempfile.mkdtemp(prefix="ainative-image-scan-")
    want_cdx = outputs.get("cyclonedx")
    try:
        for target in targets:
            if target.type == "archive" and target.archive_format == "oci" and backend.name == "trivy":
                unpack_oci_archive(target, workdir)

        def scan_one(target):
            report, raw, seconds = backend.scan(target, target.scanners, workdir, list_all_pkgs=bool(want_cdx))
            found = backend.normalize(report, target.name)
            cdx = None
            if want_cdx:
                raw_path = os.path.join(workdir, _safe_name(target.name) + ".json")
                with open(raw_path, "wb") as handle:
                    handle.write(raw)
                cdx = os.path.join(workdir, _safe_name(target.name) + ".cdx.json")
                backend.cyclonedx(raw_path, cdx, workdir)
            info = target.as_dict()
            info.update({"seconds": round(seconds, 3), "findings": len(found)})
            return found, info, cdx

        results = run_bounded(scan_one, targets, params.get("concurrency") or 2)
        version_thread.join(60)
        findings = []
        target_info = []
        for found, info, dummy in results:
            findings.extend(found)
            target_info.append(info)

        expired = scan_policy.apply_ignores(findings, entries)
        for entry in expired:
            notes.append("ignore entry %s (%s) expired on %s and no longer hides its finding; renew or remove it"
                         % (entry["id"], entry["source"], entry["expires"]))
        baseline = None
        if known is not None:
            findings, existing = scan_policy.split_baseline(findings, known)
            baseline = {"path": params["baseline"], "known": existing, "new": len(findings)}
            notes.append("baseline %s: %d finding(s) already known, %d new"
                         % (params["baseline"], existing, len(findings)))
        findings = sort_findings(findings)
        failing = scan_policy.gate(findings, threshold, params.get("only_fixed"), params.get("fail_on_ids"))
        gate = {
            "failed": bool(failing),
            "fail_on": threshold,
            "fail_on_ids": list(params.get("fail_on_ids") or []),
            "only_fixed": bool(params.get("only_fixed")),
            "new_only": known is not None,
            "mode": "report" if params.get("report_only") else "gate",
            "count": len(failing),
            "ids": sorted(set(f["id"] for f in failing))[:50],
        }
        scanner_info = {"name": backend.name, "version": version.get("version"), "path": backend.binary,
                        "db": version.get("db"), "cache_dir": backend.cache_dir}
        verdict = reports_mod.verdict(findings, failing)
        meta = {"scanner": {"name": backend.name, "version": version.get("version")}, "gate": gate,
                "targets": [dict((k, v) for k, v in t.items() if k != "seconds") for t in target_info]}

        written = {}
        if outputs:
            try:
                written = reports_mod.write_reports(
                    outputs, findings, check_mode=check_mode, control=CONTROL,
                    failing=[f["fingerprint"] for f in failing], fail_on=threshold, notes=notes, meta=meta,
                    extensions=[{"name": backend.name, "version": version.get("version")}])
                if want_cdx:
                    written["cyclonedx"] = _copy_cdx(results, want_cdx, check_mode)
            except reports_mod.ReportError as exc:
                raise InputError(str(exc))
        changed = any(w["changed"] for w in written.values())
        shown, truncated = bounded(findings, params.get("max_findings"))
        result = {
            "changed": changed,
            "findings": shown,
            "findings_truncated": truncated,
            "summary": summarize(findings),
            "gate": gate,
            "verdict": verdict,
            "scanner": scanner_info,
            "targets": target_info,
            "expired_ignores": expired,
            "unused_ignores": [e.as_dict() for e in entries if not e.matched],
            "baseline": baseline,
            "reports": written,
            "notes": notes,
        }
        if version.get("error"):
            notes.append("scanner version unknown: %s" % version["error"].splitlines()[0])
        if check_mode:
            result["check_mode"] = "the scan ran (it changes nothing); reports were not written"
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _copy_cdx(results, directory, check_mode):
    paths = []
    changed = False
    for dummy, info, cdx in results:
        if not cdx or not os.path.exists(cdx):
            continue
        dest = os.path.join(directory, _safe_name(info["name"]) + ".cdx.json")
        with open(cdx, "rb") as handle:
            data = handle.read()
        changed = reports_mod.write_report(dest, _stable_cdx(data), check_mode) or changed
        paths.append(dest)
    return {"path": directory, "files": paths, "changed": changed}


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


def gate_message(result):
    gate = result["gate"]
    what = []
    if gate["fail_on"]:
        what.append("at or above %s" % gate["fail_on"])
    if gate["fail_on_ids"]:
        what.append("in fail_on_ids")
    return "image_scan gate failed: %d open finding(s) %s%s%s: %s" % (
        gate["count"], " or ".join(what) or "",
        " (fixable only)" if gate["only_fixed"] else "",
        " (new against the baseline)" if gate["new_only"] else "",
        ", ".join(gate["ids"]))
