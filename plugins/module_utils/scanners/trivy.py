# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Trivy backend: argv for each target type, offline DB handling, JSON report -> shared findings.

Trivy's JSON report (SchemaVersion 2): ``Results[]`` with ``Target``, ``Class``, ``Type`` and the
optional lists ``Vulnerabilities``, ``Misconfigurations``, ``Secrets`` (absent when empty). Secrets carry
a ``Match`` and ``Code`` excerpt; neither is ever copied into a finding, so a secret's value cannot reach
results, reports or logs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

from ansible_collections.ainative.security.plugins.module_utils.core.errors import DependencyError
from ansible_collections.ainative.security.plugins.module_utils.core.fileio import atomic_write
from ansible_collections.ainative.security.plugins.module_utils.core.findings import gc_paused, make_finding, make_risk
from ansible_collections.ainative.security.plugins.module_utils.scanners import iac_policies
from ansible_collections.ainative.security.plugins.module_utils.scanners.base import (
    ScanError,
    Target,
    default_cache_dir,
    find_binary,
    run_scanner,
)

CONTROL = "image_scan"
VERSION_CACHE = "ainative-scanner-version.json"
# trivy-db's Severity enum, as VendorSeverity holds it.
VENDOR_SEVERITY = dict(enumerate(("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")))
# (score key, vector key, version when the vector does not name one) of trivy-db's CVSS struct.
_CVSS_FIELDS = (("V40Score", "V40Vector", "4.0"), ("V3Score", "V3Vector", "3.0"), ("V2Score", "V2Vector", "2.0"))
# A trivy-checks id without the AVD- prefix (AWS-0088, KSV-0001, DS-0002), as trivy-checks v2 writes it.
_SHORT_CHECK_ID = re.compile(r"^[A-Z][A-Z0-9]*-[0-9]+$")


def canonical_check_id(rule_id, avd_id=None):
    """(canonical id, aliases) of a misconfiguration check, the same for every Trivy version.

    Trivy before 0.69 writes ``ID: AVD-AWS-0088`` (or a legacy id) with ``AVDID: AVD-AWS-0088``; trivy-checks
    v2 writes ``ID: AWS-0088`` and no AVDID. The AVD form is canonical (it is what 0.1.0 reported); the other
    forms become aliases, so ignore entries, baselines and fail_on_ids written either way keep matching.
    """
    names = [n for n in (avd_id, rule_id) if n]
    if not names:
        return None, []
    canonical = names[0]
    if _SHORT_CHECK_ID.match(canonical.upper()):
        canonical = "AVD-" + canonical
    aliases = []
    for name in names + [canonical[4:] if canonical.upper().startswith("AVD-") else None]:
        if name and name != canonical and name not in aliases:
            aliases.append(name)
    return canonical, aliases


class TrivyBackend(object):
    name = "trivy"
    kinds = ("vuln", "secret", "misconfig")

    def __init__(self, binary=None, cache_dir=None, offline=False, skip_db_update=False, db_repository=None,
                 timeout=600, policies=None):
        self.binary = find_binary("trivy", binary)
        self.cache_dir = cache_dir or default_cache_dir("TRIVY_CACHE_DIR", "trivy")
        self.offline = offline
        self.skip_db_update = skip_db_update or offline
        self.db_repository = db_repository
        self.timeout = timeout
        self.policies = policies

    # -- facts ---------------------------------------------------------------------------------------
    def version(self, write_cache=True):
        """Scanner version and DB facts. The version of an unchanged binary is cached in the cache folder
        (keyed by path, size and mtime), so a scan does not pay for a second Go process start each time."""
        try:
            st = os.stat(self.binary)
            ident = [os.path.realpath(self.binary), st.st_size, st.st_mtime_ns]
        except OSError:
            ident = None
        memo = os.path.join(self.cache_dir, VERSION_CACHE)
        version = None
        try:
            with open(memo) as handle:
                cached = json.load(handle)
            if ident and cached.get("binary") == ident:
                version = cached.get("version")
        except (IOError, OSError, ValueError, AttributeError):
            pass
        if not version:
            res = run_scanner([self.binary, "version", "--format", "json"], timeout=min(self.timeout, 60),
                              what="trivy version")
            try:
                version = json.loads(res.stdout.decode("utf-8", "replace")).get("Version")
            except (ValueError, AttributeError):
                raise ScanError("'trivy version --format json' did not print JSON; is %s really Trivy?" % self.binary)
            if write_cache and ident and os.path.isdir(self.cache_dir):
                try:
                    atomic_write(memo, json.dumps({"binary": ident, "version": version}).encode("utf-8"))
                except (IOError, OSError):
                    pass
        db = None
        try:
            with open(os.path.join(self.cache_dir, "db", "metadata.json")) as handle:
                meta = json.load(handle)
            db = {"version": meta.get("Version"), "updated_at": meta.get("UpdatedAt"),
                  "next_update": meta.get("NextUpdate")}
        except (IOError, OSError, ValueError, AttributeError):
            pass
        return {"name": "trivy", "version": version, "path": self.binary, "db": db}

    def db_path(self):
        return os.path.join(self.cache_dir, "db", "trivy.db")

    def check_db(self, needs_vulnerability_db):
        """Offline or skip-update without a DB: say how to seed one instead of Trivy's bare FATAL."""
        if not needs_vulnerability_db or not self.skip_db_update:
            return
        missing = [p for p in (self.db_path(), os.path.join(self.cache_dir, "db", "metadata.json"))
                   if not os.path.isfile(p)]
        if missing:
            raise DependencyError(
                "no Trivy vulnerability DB in %s (missing %s) and DB updates are off (offline/skip_db_update). "
                "Seed it: on a connected machine run 'trivy image --download-db-only --cache-dir DIR' and copy "
                "DIR/db/ to %s/db/, or set db_repository to an internal mirror and turn offline off "
                "(role ainative.security.scan_gate does either)"
                % (self.cache_dir, ", ".join(missing), self.cache_dir))

    # -- commands ------------------------------------------------------------------------------------
    def argv(self, target, scanners, list_all_pkgs=False):
        # "license" is asked for by the licenses option only (scanners.licenses judges it).
        scanners = [s for s in scanners if s in self.kinds or s == "license"]
        if target.type == "sbom":
            scanners = [s for s in scanners if s in ("vuln", "license")] or ["vuln"]
        cmd = [self.binary]
        if target.type in ("image", "archive"):
            cmd += ["image"]
            if target.type == "archive":
                cmd += ["--input", target.layout_dir or target.ref]
            config_scanners = [s for s in scanners if s in ("misconfig", "secret")]
            if config_scanners:
                cmd += ["--image-config-scanners", ",".join(config_scanners)]
        elif target.type in iac_policies.TARGET_TYPES:
            cmd += ["fs"]
        elif target.type == "rootfs":
            cmd += ["rootfs"]
        elif target.type == "sbom":
            cmd += ["sbom"]
        cmd += ["--format", "json", "--quiet", "--no-progress", "--cache-dir", self.cache_dir,
                "--timeout", "%ds" % self.timeout, "--scanners", ",".join(scanners)]
        if self.skip_db_update:
            cmd += ["--skip-db-update", "--skip-java-db-update"]
        if self.offline:
            # trivy sbom has no checks bundle and refuses --skip-check-update.
            cmd += ["--offline-scan"] if target.type == "sbom" else ["--skip-check-update", "--offline-scan"]
        if self.db_repository:
            cmd += ["--db-repository", self.db_repository]
        if list_all_pkgs:
            cmd += ["--list-all-pkgs"]
        if self._policies_apply(target, scanners):
            cmd += self.policies.argv()
        if target.type != "archive":
            cmd.append(target.ref)
        return cmd

    def _policies_apply(self, target, scanners):
        return bool(self.policies) and target.type in iac_policies.TARGET_TYPES and "misconfig" in scanners

    def scan(self, target, scanners, workdir, list_all_pkgs=False):
        """Run Trivy on one target; return (parsed report, raw JSON bytes, seconds)."""
        plan_file = os.path.basename(target.ref) if target.type == "tfplan" else None
        if plan_file:
            target = Target(target.type, iac_policies.plan_path(target.ref, workdir), target.name, target.scanners)
        argv = self.argv(target, scanners, list_all_pkgs)
        # cwd = a private folder, so a stray .trivyignore in the caller's cwd never applies silently.
        try:
            res = run_scanner(argv, timeout=self.timeout, grace=5, what="trivy (%s %s)" % (target.type, target.name),
                              cwd=workdir)
        except ScanError as exc:
            broken = self.policies.load_failure(exc.msg) if self._policies_apply(target, scanners) else None
            raise broken or exc
        try:
            report = json.loads(res.stdout)
        except ValueError:
            raise ScanError("trivy printed no JSON report for %s; last stderr lines:\n%s"
                            % (target.name, res.stderr.decode("utf-8", "replace")[-2000:]))
        if self._policies_apply(target, scanners):
            report = self.policies.select(report)
        if plan_file:
            for result in report.get("Results") or ():
                result["Target"] = plan_file  # not Trivy's virtual main.tf, which exists nowhere
        return report, res.stdout, res.seconds

    def cyclonedx(self, report_path, out_path, workdir):
        run_scanner([self.binary, "convert", "--format", "cyclonedx", "--output", out_path, report_path],
                    timeout=min(self.timeout, 300), what="trivy convert (CycloneDX)", cwd=workdir)

    # -- normalization ---------------------------------------------------------------------------------
    @staticmethod
    def normalize(report, target_name):
        return normalize(report, target_name)


def _cvss_version(vector, default):
    """``CVSS:3.1/AV:N/...`` -> ``3.1``; v2 vectors carry no prefix."""
    if vector and vector.startswith("CVSS:"):
        return vector[5:].split("/", 1)[0]
    return default


def risk_of(vuln):
    """details["risk"] of one Trivy vulnerability: CVSS per source and version, CWE, vendor severities,
    published date and layer. Trivy knows neither EPSS nor KEV (kev stays None: unknown, not "no")."""
    cvss = []
    by_source = vuln.get("CVSS")
    if by_source:
        for source in sorted(by_source):
            metrics = by_source[source]
            if not isinstance(metrics, dict):
                continue
            for score_key, vector_key, default in _CVSS_FIELDS:
                score = metrics.get(score_key)
                vector = metrics.get(vector_key)
                if score or vector:
                    cvss.append({"version": _cvss_version(vector, default), "score": score, "vector": vector,
                                 "source": source})
    vendor = vuln.get("VendorSeverity")
    if vendor:
        vendor = dict((source, VENDOR_SEVERITY[level]) for source, level in vendor.items()
                      if isinstance(level, int) and level in VENDOR_SEVERITY)
    layer = vuln.get("Layer")
    return make_risk(cvss=cvss, cwe=vuln.get("CweIDs"), published=vuln.get("PublishedDate"),
                     layer=(layer.get("Digest") or layer.get("DiffID")) if layer else None, vendor_severity=vendor)


def normalize(report, target_name):
    """Trivy JSON report (dict) -> list of findings for ``target_name``. Never copies secret values."""
    with gc_paused():
        return _normalize(report, target_name)


def _normalize(report, target_name):
    out = []
    append = out.append
    mk = make_finding
    for result in report.get("Results") or ():
        rtarget = result.get("Target")
        rclass = result.get("Class")
        rtype = result.get("Type")
        lang_path = rtarget if rclass == "lang-pkgs" else None
        for v in result.get("Vulnerabilities") or ():
            get = v.get
            fixed = get("FixedVersion") or None
            vid = get("VulnerabilityID")
            url = get("PrimaryURL")
            if not url:
                refs = get("References")
                url = refs[0] if refs else None
            ident = get("PkgIdentifier")
            source = get("DataSource")
            append(mk(
                CONTROL, "vulnerability", vid, get("Severity"), get("Title") or vid, target_name,
                {"package": get("PkgName"), "installed_version": get("InstalledVersion"), "fixed_version": fixed,
                 "path": get("PkgPath") or lang_path},
                url, "open",
                {"scanner": "trivy", "fixable": fixed is not None, "vuln_status": get("Status"),
                 "purl": ident.get("PURL") if ident else None, "data_source": source.get("ID") if source else None,
                 "class": rclass, "type": rtype, "result": rtarget, "risk": risk_of(v),
                 "last_modified": get("LastModifiedDate")},
            ))
        for m in result.get("Misconfigurations") or ():
            if m.get("Status", "FAIL") != "FAIL":
                continue
            cause = m.get("CauseMetadata") or {}
            mid, aliases = iac_policies.custom_check_id(m) or canonical_check_id(m.get("ID"), m.get("AVDID"))
            append(mk(
                CONTROL, "misconfiguration", mid, m.get("Severity"), m.get("Title") or mid, target=target_name,
                location={"path": rtarget, "line": cause.get("StartLine") or None,
                          "resource": cause.get("Resource") or None},
                url=m.get("PrimaryURL"),
                details={"scanner": "trivy", "fixable": True, "message": m.get("Message"),
                         "resolution": m.get("Resolution"), "aliases": aliases,
                         "provider": cause.get("Provider"), "service": cause.get("Service"),
                         "type": rtype, "class": rclass, "namespace": m.get("Namespace")},
            ))
        for s in result.get("Secrets") or ():
            # Only the rule, the place and the category: Match and Code hold (masked) secret text.
            rid = s.get("RuleID")
            append(mk(
                CONTROL, "secret", rid, s.get("Severity"), s.get("Title") or rid, target=target_name,
                location={"path": rtarget, "line": s.get("StartLine") or None},
                url=None,
                details={"scanner": "trivy", "fixable": True, "category": s.get("Category"), "class": rclass},
            ))
    return out


def scanner(params):
    return TrivyBackend(params.get("scanner_path"), params.get("cache_dir"), params.get("offline"),
                        params.get("skip_db_update"), params.get("db_repository"), params.get("timeout") or 600,
                        iac_policies.from_params(params))
