# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Grype backend (vulnerabilities only): source schemes, offline DB settings, JSON document -> findings.

Grype's JSON document (``grype/presenter/models``): ``matches[]`` of ``{vulnerability, relatedVulnerabilities,
matchDetails, artifact}``, ``ignoredMatches[]``, ``source``, ``distro``, ``descriptor``. Severities are Title
case (``Negligible`` .. ``Critical``); ``vulnerability.fix.state`` is ``fixed``, ``not-fixed``, ``wont-fix``
or ``unknown``. Exit code 2 means ``--fail-on`` was hit (this backend never passes it, but accepts it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os

from ansible_collections.ainative.security.plugins.module_utils.core.errors import DependencyError
from ansible_collections.ainative.security.plugins.module_utils.core.findings import gc_paused, make_finding
from ansible_collections.ainative.security.plugins.module_utils.scanners.base import (
    ScanError,
    TargetError,
    default_cache_dir,
    find_binary,
    run_scanner,
)

CONTROL = "image_scan"
FAIL_ON_EXIT_CODE = 2


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


def _match_finding(match, target_name, status, ignore_rules=None):
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
               "cvss": max(scores) if scores else None}
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
    with gc_paused():
        out = [_match_finding(m, target_name, "open") for m in doc.get("matches") or ()]
        for ignored in doc.get("ignoredMatches") or ():
            out.append(_match_finding(ignored, target_name, "ignored", ignored.get("appliedIgnoreRules") or [{}]))
    return out


def scanner(params):
    return GrypeBackend(params.get("scanner_path"), params.get("cache_dir"), params.get("offline"),
                        params.get("skip_db_update"), params.get("db_repository"), params.get("timeout") or 600)
