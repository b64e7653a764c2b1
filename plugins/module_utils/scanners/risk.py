# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline risk enrichment: the CISA KEV catalogue and FIRST EPSS scores from files the playbook gives.

Nothing is fetched. The files:

* KEV: CISA's ``known_exploited_vulnerabilities.json``, ``{"title", "catalogVersion", "dateReleased",
  "count", "vulnerabilities": [{"cveID": "CVE-2021-44228", "dateAdded", "dueDate", ...}]}``.
* EPSS: FIRST's ``epss_scores-YYYY-MM-DD.csv`` (plain or gzip), one comment line
  ``#model_version:v2025.03.14,score_date:2025-06-01T00:00:00+0000``, the header ``cve,epss,percentile``,
  then one row per CVE. The file (about 300,000 rows) is streamed: only the findings' CVEs are kept.

:class:`RiskFiles` reads and checks both before the scan, and applies them to the findings after it.
A vulnerability matches by its id, its aliases and Grype's related ids. The result goes into each finding's
``details["risk"]`` (``kev``, ``epss``), which the gate's ``fail_on_kev`` and ``fail_on_epss`` read.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import json
import re
import zlib

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.core.fileio import open_regular_file, read_regular_file
from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_risk

# The real catalogue is about 1.5 MB; a JSON document is parsed whole, so refuse anything far larger.
KEV_LIMIT = 32 << 20
# The real CSV is about 10 MB uncompressed; stop a hostile (or gzip-bomb) file well before it costs minutes.
EPSS_LIMIT = 256 << 20
LINE_LIMIT = 4096
EPSS_HEADER = "cve,epss,percentile"
CVE_ID = re.compile(r"^CVE-[0-9]{4}-[0-9]{4,}$")
KEV_HINT = "give CISA's known_exploited_vulnerabilities.json (https://www.cisa.gov/known-exploited-vulnerabilities-catalog)"
EPSS_HINT = "give FIRST's epss_scores-YYYY-MM-DD.csv.gz (https://www.first.org/epss/data_stats) as it was downloaded"


class KevCatalog(object):
    __slots__ = ("path", "version", "released", "ids")

    def __init__(self, path, version, released, ids):
        self.path = path
        self.version = version
        self.released = released
        self.ids = ids

    def meta(self):
        return {"path": self.path, "version": self.version, "released": self.released, "count": len(self.ids)}


def load_kev(path):
    """The catalogue's CVE ids and version, or InputError naming what is wrong."""
    data = read_regular_file(path, "KEV catalogue", limit=KEV_LIMIT)
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise InputError("kev_catalog %s is not JSON (%s); %s" % (path, exc, KEV_HINT))
    entries = doc.get("vulnerabilities") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise InputError("kev_catalog %s is not a KEV catalogue: it has no 'vulnerabilities' list; %s"
                         % (path, KEV_HINT))
    ids = set()
    for index, entry in enumerate(entries):
        cve = entry.get("cveID") if isinstance(entry, dict) else None
        if not isinstance(cve, str) or not CVE_ID.match(cve.strip().upper()):
            raise InputError("kev_catalog %s: vulnerabilities[%d] has no valid cveID (%r); the file is damaged or "
                             "not CISA's catalogue; %s" % (path, index, str(cve)[:40], KEV_HINT))
        ids.add(cve.strip().upper())
    count = doc.get("count")
    if isinstance(count, int) and count != len(entries):
        raise InputError("kev_catalog %s says it lists %d vulnerabilities but holds %d; the file is truncated or "
                         "edited; %s" % (path, count, len(entries), KEV_HINT))
    return KevCatalog(path, doc.get("catalogVersion"), doc.get("dateReleased"), frozenset(ids))


def _epss_meta(comment):
    """``#model_version:v2025.03.14,score_date:2025-06-01T00:00:00+0000`` -> dict."""
    meta = {}
    for part in comment.lstrip("#").split(","):
        key, dummy, value = part.partition(":")
        if key.strip() in ("model_version", "score_date") and value.strip():
            meta[key.strip()] = value.strip()
    return meta


def _epss_fraction(text, path, number, column):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise InputError("epss_scores %s line %d: %s %r is not a number from 0 to 1; %s"
                         % (path, number, column, text[:40], EPSS_HINT))
    return value


def read_epss(path, wanted, limit=EPSS_LIMIT, header_only=False):
    """Stream the EPSS CSV; (meta, {cve: (epss, percentile)} for the ``wanted`` CVEs, rows read).

    ``header_only``: stop after the header (the check before a scan; the rows are read after it)."""
    handle = open_regular_file(path, "EPSS scores file")
    with handle:
        magic = handle.read(2)
        handle.seek(0)
        stream = gzip.GzipFile(fileobj=handle, mode="rb") if magic == b"\x1f\x8b" else handle
        try:
            return _read_epss_lines(stream, path, wanted, limit, header_only)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError("epss_scores %s is not a readable gzip file (%s); %s" % (path, exc, EPSS_HINT))


def _read_epss_lines(stream, path, wanted, limit, header_only):
    meta = {}
    scores = {}
    rows = 0
    size = 0
    header = False
    number = 0
    while True:
        raw = stream.readline(LINE_LIMIT + 1)
        if not raw:
            break
        number += 1
        size += len(raw)
        if size > limit:
            raise InputError("epss_scores %s is over %d MiB uncompressed, far more than an EPSS file; %s"
                             % (path, limit >> 20, EPSS_HINT))
        if len(raw) > LINE_LIMIT:
            raise InputError("epss_scores %s line %d is longer than %d bytes; this is not an EPSS CSV; %s"
                             % (path, number, LINE_LIMIT, EPSS_HINT))
        try:
            line = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            raise InputError("epss_scores %s line %d is not plain ASCII text; this is not an EPSS CSV "
                             "(a gzip file is read as it is, do not rename or re-encode it); %s"
                             % (path, number, EPSS_HINT))
        if not header:
            if line.startswith("#") and number == 1:
                meta = _epss_meta(line)
                continue
            if line.replace(" ", "").lower() != EPSS_HEADER:
                raise InputError("epss_scores %s is not an EPSS CSV: line %d is %r where the header %r belongs; %s"
                                 % (path, number, line[:60], EPSS_HEADER, EPSS_HINT))
            header = True
            if header_only:
                break
            continue
        if not line:
            continue
        fields = line.split(",")
        if len(fields) != 3 or not fields[0].upper().startswith("CVE-"):
            raise InputError("epss_scores %s line %d is %r, not 'CVE-id,epss,percentile'; %s"
                             % (path, number, line[:60], EPSS_HINT))
        rows += 1
        cve = fields[0].upper()
        if cve in wanted:
            scores[cve] = (_epss_fraction(fields[1], path, number, "epss"),
                           _epss_fraction(fields[2], path, number, "percentile"))
    if not header:
        raise InputError("epss_scores %s has no %r header (it is empty or cut short); %s"
                         % (path, EPSS_HEADER, EPSS_HINT))
    return meta, scores, rows


def _ids(finding):
    details = finding["details"]
    names = [finding["id"]] + list(details.get("aliases") or ()) + list(details.get("related") or ())
    return [str(name).strip().upper() for name in names if name]


def _risk(finding):
    """The finding's risk dict (a vulnerability without one gets an empty one, so enrichment has a place)."""
    risk = finding["details"].get("risk")
    if risk is None:
        risk = finding["details"]["risk"] = make_risk()
    return risk


def _known(finding, key):
    return (finding["details"].get("risk") or {}).get(key)


class RiskFiles(object):
    """The playbook's KEV catalogue and EPSS file, checked before any scanner runs (a bad file fails fast)."""

    def __init__(self, params):
        self.params = params
        self.kev = load_kev(params["kev_catalog"]) if params.get("kev_catalog") else None
        self.epss_path = params.get("epss_scores")
        if self.epss_path:
            read_epss(self.epss_path, (), header_only=True)

    def enrich(self, findings, coverage, notes):
        """Apply the files to the open vulnerabilities; record where the gate lacks data.

        Returns the facts for the JSON report's meta (catalogue version, EPSS score date), ``{}`` when unused.
        """
        vulns = [f for f in findings if f["kind"] == "vulnerability" and f["status"] == "open"]
        meta = {}
        if self.kev:
            meta["kev_catalog"] = self.kev.meta()
            notes.append(self._apply_kev(vulns))
        if self.epss_path:
            wanted = set(name for finding in vulns for name in _ids(finding) if name.startswith("CVE-"))
            epss_meta, scores, rows = read_epss(self.epss_path, wanted)
            meta["epss_scores"] = dict(epss_meta, path=self.epss_path, rows=rows)
            scored = 0
            for finding in vulns:
                found = [scores[name] for name in _ids(finding) if name in scores]
                if found:
                    # The playbook's file wins over the scanner's DB: it was chosen for this run.
                    score, percentile = max(found)
                    _risk(finding)["epss"] = {"score": score, "percentile": percentile}
                    scored += 1
            notes.append("EPSS scores of %s (model %s, %d CVEs): %d of %d open vulnerability finding(s) scored"
                         % (epss_meta.get("score_date", "an unknown date"), epss_meta.get("model_version", "unknown"),
                            rows, scored, len(vulns)))
        _check_gate_data(self.params, vulns, coverage, notes)
        return meta

    def _apply_kev(self, vulns):
        listed = 0
        for finding in vulns:
            risk = _risk(finding)
            in_catalog = any(name in self.kev.ids for name in _ids(finding))
            listed += in_catalog
            # The scanner's own True stands (its data may be newer than the file); else the catalogue decides.
            risk["kev"] = bool(risk.get("kev")) or in_catalog
        return ("KEV catalogue %s (released %s, %d CVEs): %d of %d open vulnerability finding(s) are in it"
                % (self.kev.version or "of unknown version", self.kev.released or "on an unknown date",
                   len(self.kev.ids), listed, len(vulns)))


def _check_gate_data(params, vulns, coverage, notes):
    """Fail closed: a risk rule the gate cannot judge makes the run incomplete, never a silent pass.

    With no vulnerability findings there is nothing either rule could fail on, whatever a catalogue or
    score file would say (both only rank CVEs a scanner found), so no data is needed and no gap is recorded.
    KEV: every finding needs a known flag (a catalogue gives it to all; Trivy gives none; Grype's DB v6
    gives it to all). EPSS: FIRST scores every published CVE, so a CVE missing from a given source is newer
    than the data (or not a CVE): that is a note; only a run with no EPSS source at all is a gap.
    """
    if not vulns:
        return
    if params.get("fail_on_kev"):
        unknown = [f["id"] for f in vulns if _known(f, "kev") is None]
        if unknown:
            coverage.miss("kev data", "fail_on_kev is set but %d vulnerability finding(s) have no KEV data (first: %s): "
                          "the scanner reports no KEV and no kev_catalog was given; give kev_catalog"
                          % (len(unknown), unknown[0]))
    if params.get("fail_on_epss") is not None:
        unscored = [f["id"] for f in vulns if not _known(f, "epss")]
        if len(unscored) == len(vulns) and not params.get("epss_scores"):
            coverage.miss("epss data", "fail_on_epss is set but no finding has an EPSS score: the scanner reports "
                          "none and no epss_scores file was given; give epss_scores")
        elif unscored:
            notes.append("fail_on_epss cannot judge %d finding(s) without an EPSS score (first: %s): newer than "
                         "the EPSS data or not a CVE" % (len(unscored), unscored[0]))
