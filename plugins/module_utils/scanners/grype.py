# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Grype backend (vulnerabilities only): source schemes, offline DB settings, JSON document -> findings.

Grype's JSON document (``grype/presenter/models``): ``matches[]`` of ``{vulnerability, relatedVulnerabilities,
matchDetails, artifact}``, ``ignoredMatches[]``, ``source``, ``distro``, ``descriptor``. Severities are Title
case (``Negligible`` .. ``Critical``); ``vulnerability.fix.state`` is ``fixed``, ``not-fixed``, ``wont-fix``
or ``unknown``. Exit code 2 means ``--fail-on`` was hit (this backend never passes it, but accepts it).

Risk data (``grype/presenter/models/vulnerability_metadata.go``, Grype 0.87+ with DB schema v6): each
vulnerability and related vulnerability has ``cvss[]`` (``source``, ``version``, ``vector``,
``metrics.baseScore``), ``epss[]`` (``cve``, ``epss``, ``percentile``, ``date``), ``knownExploited[]``
(CISA KEV entries: ``cve``, ``dateAdded``, ``dueDate``, ...; omitted when empty), ``cwes[]`` (``cve``,
``cwe``) in later releases, and ``vulnerability.risk`` (Grype's 0-100 priority score). ``descriptor.db.status
.schemaVersion`` (``v6.0.2``; ``descriptor.db.schemaVersion`` 5 before) tells whether the DB carries KEV.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os
import re

from ansible_collections.ainative.security.plugins.module_utils.core.errors import DependencyError
from ansible_collections.ainative.security.plugins.module_utils.core.findings import gc_paused, make_finding, make_risk
from ansible_collections.ainative.security.plugins.module_utils.scanners.base import (
    ScanError,
    TargetError,
    default_cache_dir,
    find_binary,
    run_scanner,
)

CONTROL = "image_scan"
FAIL_ON_EXIT_CODE = 2
# The first Grype DB schema that carries the CISA KEV catalogue (and EPSS).
KEV_SCHEMA = 6
_SCHEMA_MAJOR = re.compile(r"^v?([0-9]+)")


def source_for(target):
    """Grype's source string for a target (scheme prefix so Grype never guesses)."""
    if target.type == "image":
        return target.ref
    if target.type == "archive":
        if target.archive_format == "docker":
            return "docker-archive:" + target.ref
        if target.archive_format == "oci-layout":
            return "oci-dir:" + target.ref
        return "oci-archive:" + target.ref
    if target.type in ("directory", "rootfs"):
        return "dir:" + target.ref
    if target.type == "sbom":
        return "sbom:" + target.ref
    raise TargetError("grype scans vulnerabilities only and cannot scan %s target %s; use scanner: trivy for "
                      "IaC, secrets and misconfigurations" % (target.type, target.name))


class GrypeBackend(object):
    name = "grype"
    kinds = ("vuln",)

    def __init__(self, binary=None, cache_dir=None, offline=False, skip_db_update=False, db_repository=None,
                 timeout=600):
        self.binary = find_binary("grype", binary)
        self.cache_dir = cache_dir or default_cache_dir("GRYPE_DB_CACHE_DIR", "grype", "db")
        self.offline = offline
        self.skip_db_update = skip_db_update or offline
        self.db_repository = db_repository
        self.timeout = timeout

    def env(self):
        env = {"GRYPE_DB_CACHE_DIR": self.cache_dir, "GRYPE_CHECK_FOR_APP_UPDATE": "false"}
        if self.skip_db_update:
            env.update({"GRYPE_DB_AUTO_UPDATE": "false", "GRYPE_DB_VALIDATE_AGE": "false"})
        if self.db_repository:
            env["GRYPE_DB_UPDATE_URL"] = self.db_repository
        return env

    def version(self, write_cache=True):
        res = run_scanner([self.binary, "version", "-o", "json"], timeout=min(self.timeout, 60), env=self.env(),
                          what="grype version")
        try:
            data = json.loads(res.stdout.decode("utf-8", "replace"))
        except ValueError:
            raise ScanError("'grype version -o json' did not print JSON; is %s really Grype?" % self.binary)
        return {"name": "grype", "version": data.get("version"), "path": self.binary, "db": None}

    def check_db(self, needs_vulnerability_db):
        if not needs_vulnerability_db or not self.skip_db_update:
            return
        if not glob.glob(os.path.join(self.cache_dir, "*", "vulnerability.db")):
            raise DependencyError(
                "no Grype vulnerability DB under %s and DB updates are off (offline/skip_db_update). Seed it: "
                "download a DB archive on a connected machine ('grype db list', then fetch it) and run "
                "'GRYPE_DB_CACHE_DIR=%s grype db import FILE', or set db_repository to an internal listing URL"
                % (self.cache_dir, self.cache_dir))

    def argv(self, target, scanners, list_all_pkgs=False):
        return [self.binary, source_for(target), "-o", "json", "-q"]

    def scan(self, target, scanners, workdir, list_all_pkgs=False):
        res = run_scanner(self.argv(target, scanners), timeout=self.timeout, env=self.env(),
                          what="grype (%s %s)" % (target.type, target.name), ok_codes=(0, FAIL_ON_EXIT_CODE),
                          cwd=workdir)
        try:
            doc = json.loads(res.stdout)
        except ValueError:
            raise ScanError("grype printed no JSON document for %s; last stderr lines:\n%s"
                            % (target.name, res.stderr.decode("utf-8", "replace")[-2000:]))
        return doc, res.stdout, res.seconds

    @staticmethod
    def normalize(doc, target_name):
        return normalize(doc, target_name)


def db_has_kev(doc):
    """True when the document's DB (schema v6+) carries KEV, so an absent ``knownExploited`` means "not in KEV"."""
    db = ((doc.get("descriptor") or {}).get("db")) or {}
    version = (db.get("status") or {}).get("schemaVersion") or db.get("schemaVersion")
    found = _SCHEMA_MAJOR.match(str(version or ""))
    return bool(found) and int(found.group(1)) >= KEV_SCHEMA


def _cwe_names(entries):
    for entry in entries or ():
        name = entry.get("cwe") if isinstance(entry, dict) else entry
        if name:
            yield name


def risk_of(match, kev_known):
    """details["risk"] of one match; the related (NVD) records add their CVSS, EPSS, KEV and CWE."""
    records = [match.get("vulnerability") or {}] + list(match.get("relatedVulnerabilities") or ())
    cvss = []
    cwe = []
    epss = None
    exploited = False
    for record in records:
        for item in record.get("cvss") or ():
            cvss.append({"version": item.get("version"), "score": (item.get("metrics") or {}).get("baseScore"),
                         "vector": item.get("vector"), "source": item.get("source") or None})
        cwe.extend(_cwe_names(record.get("cwes")))
        for kev in record.get("knownExploited") or ():
            exploited = True
            cwe.extend(_cwe_names(kev.get("cwes")))
        for item in record.get("epss") or ():
            if epss is None or (item.get("epss") or 0) > (epss.get("epss") or 0):
                epss = item
    return make_risk(cvss=cvss, cwe=cwe, epss=epss.get("epss") if epss else None,
                     epss_percentile=epss.get("percentile") if epss else None,
                     kev=True if exploited else (False if kev_known else None))


def _match_finding(match, target_name, status, ignore_rules=None, kev_known=False):
    vuln = match.get("vulnerability") or {}
    art = match.get("artifact") or {}
    fix = vuln.get("fix") or {}
    versions = fix.get("versions") or []
    state = fix.get("state") or "unknown"
    locations = art.get("locations") or []
    urls = vuln.get("urls") or []
    vid = vuln.get("id")
    scores = [c.get("metrics", {}).get("baseScore") for c in vuln.get("cvss") or () if c.get("metrics")]
    scores = [s for s in scores if isinstance(s, (int, float))]
    description = (vuln.get("description") or "").strip().splitlines()
    title = description[0][:200] if description else "%s in %s %s" % (vid, art.get("name"), art.get("version"))
    details = {"scanner": "grype", "fixable": state == "fixed" and bool(versions), "fix_state": state,
               "purl": art.get("purl") or None, "type": art.get("type"), "language": art.get("language") or None,
               "namespace": vuln.get("namespace"),
               "related": sorted(set(r.get("id") for r in match.get("relatedVulnerabilities") or () if r.get("id"))),
               "cvss": max(scores) if scores else None, "risk": risk_of(match, kev_known),
               "risk_score": vuln.get("risk")}
    if ignore_rules:
        details["ignored_by"] = {"source": "grype config", "reason": "; ".join(
            sorted(set(r.get("reason") or "grype ignore rule" for r in ignore_rules)))}
    return make_finding(
        CONTROL, "vulnerability", vid, vuln.get("severity"), title, target=target_name,
        location={"package": art.get("name"), "installed_version": art.get("version"),
                  "fixed_version": ", ".join(versions) or None,
                  "path": locations[0].get("path") if locations else None},
        url=vuln.get("dataSource") or (urls[0] if urls else None), status=status, details=details)


def normalize(doc, target_name):
    """Grype JSON document (dict) -> findings; its own ignoredMatches come back with status ``ignored``."""
    kev_known = db_has_kev(doc)
    with gc_paused():
        out = [_match_finding(m, target_name, "open", kev_known=kev_known) for m in doc.get("matches") or ()]
        for ignored in doc.get("ignoredMatches") or ():
            out.append(_match_finding(ignored, target_name, "ignored", ignored.get("appliedIgnoreRules") or [{}],
                                      kev_known))
    return out


def scanner(params):
    return GrypeBackend(params.get("scanner_path"), params.get("cache_dir"), params.get("offline"),
                        params.get("skip_db_update"), params.get("db_repository"), params.get("timeout") or 600)
