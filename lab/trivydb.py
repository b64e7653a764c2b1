"""Build a tiny, self-made Trivy vulnerability DB (schema v2) for offline tests and the lab.

Trivy reads ``<cache-dir>/db/trivy.db`` (a bbolt file) and ``<cache-dir>/db/metadata.json``. The
layout below follows trivy-db 8c398f13db0e (the version Trivy 0.59.1 links):

* ``data-source``: root-bucket name -> ``{"ID", "Name", "URL"}``
* ``debian 12`` -> source package -> advisory id -> ``{"FixedVersion": ...}``
* ``pip::GitHub Security Advisory pip`` -> package -> advisory id ->
  ``{"PatchedVersions": [...], "VulnerableVersions": [...]}``
* ``vulnerability``: advisory id -> ``{"Title", "Description", "Severity", "CweIDs", "VendorSeverity", "CVSS",
  "References", "PublishedDate", "LastModifiedDate"}`` (trivy-db ``types.Vulnerability``): ``VendorSeverity``
  maps a source id to 0-4 (UNKNOWN..CRITICAL), ``CVSS`` maps a source id to ``{"V2Vector", "V2Score",
  "V3Vector", "V3Score", "V40Vector", "V40Score"}`` (each omitted when empty); Trivy copies all of them
  into each detected vulnerability of its JSON report.

The pure-Python ``boltdb`` writer leaves the meta-page checksums at 0, which bbolt (and so Trivy)
rejects with ``checksum error``; :func:`fix_meta_checksums` writes bbolt's FNV-64a checksum into both
meta pages after the file is closed.

Usage::

    python -m lab.trivydb CACHE_DIR [--advisories FILE.json] [--extra-pip N]
"""

import argparse
import datetime
import json
import os
import struct
import sys
import time

PAGE_HEADER = 16          # pgid u64, flags u16, count u16, overflow u32
META_CHECKSUMMED = 56     # magic..txid: 4*4 + 16 (root bucket) + 8 (freelist) + 8 (pgid) + 8 (txid)

DEBIAN_SOURCE = {"ID": "debian", "Name": "Debian Security Tracker",
                 "URL": "https://salsa.debian.org/security-tracker-team/security-tracker"}
GHSA_PIP_SOURCE = {"ID": "ghsa", "Name": "GitHub Security Advisory pip",
                   "URL": "https://github.com/advisories?query=type%3Areviewed+ecosystem%3Apip"}
PIP_BUCKET = "pip::GitHub Security Advisory pip"
SEVERITY_NUMBER = {"UNKNOWN": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}

# The advisories the tests and the lab rely on. CVE-2099-* ids cannot collide with real ones.
DEFAULT_ADVISORIES = {
    "debian": [
        {"release": "12", "package": "bash", "id": "CVE-2099-0001", "fixed": "5.2.15-3", "severity": "HIGH",
         "title": "bash: planted test vulnerability (lab DB)", "nvd_severity": "CRITICAL", "cwe": ["CWE-78"],
         "cvss": {"nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "V3Score": 9.8,
                          "V40Vector": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                          "V40Score": 9.3,
                          "V2Vector": "AV:N/AC:L/Au:N/C:C/I:C/A:C", "V2Score": 10.0},
                  "debian": {"V3Vector": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", "V3Score": 7.8}}},
        {"release": "12", "package": "zlib", "id": "CVE-2099-0002", "fixed": "1:1.2.13.dfsg-0", "severity": "MEDIUM",
         "title": "zlib: advisory that must not match 1:1.2.13.dfsg-1"},
        {"release": "12", "package": "tar", "id": "CVE-2099-0003", "fixed": "", "severity": "LOW",
         "title": "tar: unfixed low-severity test vulnerability"},
    ],
    "pip": [
        {"package": "requests", "id": "CVE-2099-1000", "vulnerable": ["<2.32.0"], "patched": ["2.32.0"],
         "severity": "CRITICAL", "title": "requests: planted test vulnerability (lab DB)", "nvd_severity": "HIGH",
         "cwe": ["CWE-20", "CWE-200"],
         "cvss": {"nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:N", "V3Score": 7.4}},
         "published": "2099-02-03T04:05:06Z"},
        {"package": "flask", "id": "CVE-2099-1001", "vulnerable": ["<2.0.0"], "patched": ["2.0.0"],
         "severity": "HIGH", "title": "flask: advisory that must not match 3.0.0"},
    ],
}


def fnv64a(data):
    value = 0xcbf29ce484222325
    for byte in data:
        value ^= byte
        value = (value * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return value


def fix_meta_checksums(path):
    """Write bbolt's FNV-64a checksum into meta pages 0 and 1 (the boltdb package leaves 0 there)."""
    with open(path, "r+b") as handle:
        head = handle.read(PAGE_HEADER + 12)
        page_size = struct.unpack_from("<I", head, PAGE_HEADER + 8)[0]
        for page in (0, 1):
            start = page * page_size + PAGE_HEADER
            handle.seek(start)
            meta = handle.read(META_CHECKSUMMED)
            handle.seek(start + META_CHECKSUMMED)
            handle.write(struct.pack("<Q", fnv64a(meta)))


def _vulnerability(adv, source_id):
    """The ``vulnerability`` bucket's value; optional ``cvss``, ``cwe``, ``nvd_severity``, ``published``."""
    severity = adv.get("severity", "UNKNOWN").upper()
    vendor = {source_id: SEVERITY_NUMBER[severity]}
    if adv.get("nvd_severity"):
        vendor["nvd"] = SEVERITY_NUMBER[adv["nvd_severity"].upper()]
    value = {
        "Title": adv.get("title", adv["id"]),
        "Description": adv.get("description", "Test advisory written by lab/trivydb.py; not a real vulnerability."),
        "Severity": severity,
        "VendorSeverity": vendor,
        "References": ["https://example.invalid/advisories/%s" % adv["id"]],
        "PublishedDate": adv.get("published", "2099-01-01T00:00:00Z"),
        "LastModifiedDate": adv.get("modified", "2099-01-02T00:00:00Z"),
    }
    if adv.get("cwe"):
        value["CweIDs"] = list(adv["cwe"])
    if adv.get("cvss"):
        value["CVSS"] = adv["cvss"]
    return value


def _put_json(bucket, key, value):
    bucket.put(key.encode(), json.dumps(value, separators=(",", ":")).encode())


def build(cache_dir, advisories=None, extra_pip=0):
    """Write ``cache_dir/db/trivy.db`` and ``metadata.json``; return the DB path."""
    import boltdb  # the lab's venv has it (setup/requirements.in)

    advisories = advisories or DEFAULT_ADVISORIES
    db_dir = os.path.join(cache_dir, "db")
    os.makedirs(db_dir, exist_ok=True)
    path = os.path.join(db_dir, "trivy.db")
    tmp = path + ".tmp"
    if os.path.exists(tmp):
        os.unlink(tmp)
    pip = list(advisories.get("pip", []))
    for n in range(extra_pip):
        for k in range(3):
            pip.append({"package": "pkg%05d" % n, "id": "CVE-2098-%05d%d" % (n, k), "vulnerable": ["<2.0"],
                        "patched": ["2.0"], "severity": "MEDIUM"})
    debian = advisories.get("debian", [])

    db = boltdb.BoltDB(tmp)
    with db.update() as tx:
        sources = tx.create_bucket(b"data-source")
        vulns = tx.create_bucket(b"vulnerability")
        releases = {}
        for adv in debian:
            name = "debian %s" % adv.get("release", "12")
            if name not in releases:
                releases[name] = tx.create_bucket(name.encode())
                _put_json(sources, name, DEBIAN_SOURCE)
            pkg = releases[name].bucket(adv["package"].encode()) or \
                releases[name].create_bucket(adv["package"].encode())
            detail = {"FixedVersion": adv["fixed"]} if adv.get("fixed") else {"Status": 2}
            _put_json(pkg, adv["id"], detail)
            _put_json(vulns, adv["id"], _vulnerability(adv, "debian"))
        if pip:
            root = tx.create_bucket(PIP_BUCKET.encode())
            _put_json(sources, PIP_BUCKET, GHSA_PIP_SOURCE)
            for adv in pip:
                pkg = root.bucket(adv["package"].encode()) or root.create_bucket(adv["package"].encode())
                _put_json(pkg, adv["id"], {"PatchedVersions": adv.get("patched", []),
                                           "VulnerableVersions": adv["vulnerable"]})
                _put_json(vulns, adv["id"], _vulnerability(adv, "ghsa"))
    db.close()
    db.close = lambda: None  # boltdb's __del__ closes again and prints EBADF otherwise
    fix_meta_checksums(tmp)
    os.replace(tmp, path)

    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    meta = {"Version": 2, "NextUpdate": (now + datetime.timedelta(days=3650)).strftime(fmt),
            "UpdatedAt": now.strftime(fmt), "DownloadedAt": now.strftime(fmt)}
    with open(os.path.join(db_dir, "metadata.json"), "w") as handle:
        json.dump(meta, handle)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache_dir")
    parser.add_argument("--advisories", help="JSON file shaped like DEFAULT_ADVISORIES")
    parser.add_argument("--extra-pip", type=int, default=0, help="add N synthetic pip packages (3 advisories each)")
    args = parser.parse_args(argv)
    advisories = None
    if args.advisories:
        with open(args.advisories) as handle:
            advisories = json.load(handle)
    started = time.time()
    path = build(args.cache_dir, advisories, args.extra_pip)
    print("%s (%d bytes) in %.2fs" % (path, os.path.getsize(path), time.time() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
