"""image_scan licence policy and CycloneDX BOMs of directory and rootfs targets, with the real Trivy 0.59.1.

Fixtures (written here, offline): a Debian-like root file system whose dpkg packages carry machine-readable
copyright files and whose Python packages declare licences in METADATA, and an npm project whose lock file
declares a licence in lower case (Trivy keeps that spelling).
"""

import json
import os

import pytest

from lab import harness, trivydb

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRIVY = os.path.join(ROOT, ".venv", "bin", "trivy")

pytestmark = pytest.mark.skipif(not os.path.exists(TRIVY), reason="the Trivy binary comes with ./setup/setup.sh")

DPKG_STATUS = """Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b13
Description: GNU Bourne Again SHell

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1
Description: compression library - runtime

"""
COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: %s

Files: *
Copyright: the authors
License: %s
"""
PY_PACKAGES = {"requests": "Apache-2.0", "gplthing": "GPL-3.0-only", "dual": "MIT OR GPL-3.0", "nolic": None}


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("licenses"))
    cache = os.path.join(work, "cache")
    trivydb.build(cache)
    rootfs = os.path.join(work, "rootfs")
    _write(os.path.join(rootfs, "etc", "os-release"), 'NAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n')
    _write(os.path.join(rootfs, "etc", "debian_version"), "12.8\n")
    _write(os.path.join(rootfs, "var", "lib", "dpkg", "status"), DPKG_STATUS)
    _write(os.path.join(rootfs, "usr", "share", "doc", "bash", "copyright"), COPYRIGHT % ("bash", "GPL-3+"))
    _write(os.path.join(rootfs, "usr", "share", "doc", "zlib1g", "copyright"), COPYRIGHT % ("zlib", "Zlib"))
    for name, licence in PY_PACKAGES.items():
        meta = "Metadata-Version: 2.1\nName: %s\nVersion: 1.0\n" % name
        _write(os.path.join(rootfs, "usr", "lib", "python3", "dist-packages", "%s-1.0.dist-info" % name, "METADATA"),
               meta + ("License: %s\n" % licence if licence else ""))
    npm = os.path.join(work, "npm")
    lock = {"name": "app", "version": "1.0.0", "lockfileVersion": 3, "requires": True, "packages": {
        "": {"name": "app", "version": "1.0.0", "license": "MIT", "dependencies": {"leftpad": "1.0.0"}},
        "node_modules/leftpad": {"version": "1.0.0", "license": "gpl-3.0-or-later"}}}
    _write(os.path.join(npm, "package-lock.json"), json.dumps(lock))
    _write(os.path.join(npm, "package.json"), json.dumps({"name": "app", "version": "1.0.0", "license": "MIT"}))
    _write(os.path.join(npm, "node_modules", "leftpad", "package.json"),
           json.dumps({"name": "leftpad", "version": "1.0.0", "license": "gpl-3.0-or-later"}))
    return {"cache": cache, "rootfs": rootfs, "npm": npm}


@pytest.fixture
def scan(fx, tmp_path):
    """The module in a subprocess, as Ansible runs it: (rc, parsed result)."""
    def run(args):
        data = {"scanner_path": TRIVY, "cache_dir": fx["cache"], "offline": True}
        data.update(args)
        return harness.run_module("image_scan", data, tmp_path, timeout=300)
    return run


def _licence_findings(result):
    return dict(((f["location"]["package"], f["id"]), f) for f in result["findings"] if f["kind"] == "license")


def test_attack_gpl3_package_fails_an_mit_apache_allow_list(scan, fx):
    rc, res = scan({"targets": [{"type": "rootfs", "ref": fx["rootfs"], "name": "rootfs", "scanners": ["secret"]}],
                    "licenses": {"allow": ["MIT", "Apache-2.0", "Zlib"]}})
    assert rc == 1 and res["verdict"] == "fail", res["msg"]
    found = _licence_findings(res)
    assert found[("gplthing", "GPL-3.0-only")]["details"]["decision"] == "not_allowed"
    assert found[("gplthing", "GPL-3.0-only")]["severity"] == "HIGH"
    # Trivy turns Debian's "GPL-3+" into GPL-3.0-or-later; the dual-licensed package passes through MIT.
    assert found[("bash", "GPL-3.0-or-later")]["details"]["decision"] == "not_allowed"
    assert ("nolic", "license-unknown") in found and found[("nolic", "license-unknown")]["severity"] == "MEDIUM"
    assert not [k for k in found if k[0] in ("dual", "requests", "zlib1g")]
    assert set(i.upper() for i in res["gate"]["failing_ids"]) == {"GPL-3.0-ONLY", "GPL-3.0-OR-LATER"}


def test_strict_twin_every_licence_allowed_passes(scan, fx):
    rc, res = scan({"targets": [{"type": "rootfs", "ref": fx["rootfs"], "name": "rootfs", "scanners": ["secret"]}],
                    "licenses": {"allow": ["MIT", "Apache-2.0", "Zlib", "GPL-3.0-only", "GPL-3.0-or-later"],
                                 "unknown": "none"}})
    assert rc == 0 and res["verdict"] == "pass", res["msg"]
    assert not _licence_findings(res)


def test_attack_lower_case_or_later_licence_does_not_slip_past_a_deny_glob(scan, fx):
    rc, res = scan({"targets": [{"type": "directory", "ref": fx["npm"], "name": "npm", "scanners": ["secret"]}],
                    "licenses": {"deny": ["GPL-3.0*"]}})
    assert rc == 1 and res["verdict"] == "fail", res["msg"]
    (finding,) = [f for f in res["findings"] if f["kind"] == "license"]
    assert (finding["id"], finding["location"]["package"]) == ("gpl-3.0-or-later", "leftpad")
    assert finding["details"]["decision"] == "denied" and finding["details"]["denied_by"] == ["GPL-3.0*"]


def test_strict_twin_deny_list_without_that_licence_passes(scan, fx):
    rc, res = scan({"targets": [{"type": "directory", "ref": fx["npm"], "name": "npm", "scanners": ["secret"]}],
                    "licenses": {"deny": ["AGPL-*", "SSPL-1.0"]}})
    assert rc == 0 and res["verdict"] == "pass", res["msg"]
    assert not _licence_findings(res)


def test_cyclonedx_bom_of_directory_and_rootfs_targets(scan, fx, tmp_path):
    bom_dir = str(tmp_path / "sbom")
    rc, res = scan({"targets": [{"type": "rootfs", "ref": fx["rootfs"], "name": "rootfs"},
                                {"type": "directory", "ref": fx["npm"], "name": "npm", "scanners": ["vuln"]}],
                    "reports": {"cyclonedx": bom_dir}, "fail_on": "none"})
    assert rc == 0 and res["coverage"]["complete"], res["msg"]
    assert sorted(os.listdir(bom_dir)) == ["npm.cdx.json", "rootfs.cdx.json"]
    purls = {}
    for name in ("rootfs", "npm"):
        with open(os.path.join(bom_dir, name + ".cdx.json")) as handle:
            bom = json.load(handle)
        assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] in ("1.5", "1.6"), bom.get("specVersion")
        libs = [c for c in bom["components"] if c.get("type") == "library"]
        assert libs and all(c.get("purl", "").startswith("pkg:") for c in libs), libs
        purls[name] = dict((c["name"], c) for c in libs)
    assert purls["rootfs"]["bash"]["purl"].startswith("pkg:deb/debian/bash@5.2.15-2")
    assert purls["rootfs"]["requests"]["purl"] == "pkg:pypi/requests@1.0"
    assert purls["rootfs"]["bash"]["licenses"] == [{"license": {"name": "GPL-3.0-or-later"}}]
    assert purls["npm"]["leftpad"]["purl"] == "pkg:npm/leftpad@1.0.0"
    # An unchanged BOM is not rewritten.
    rc, again = scan({"targets": [{"type": "rootfs", "ref": fx["rootfs"], "name": "rootfs"},
                                  {"type": "directory", "ref": fx["npm"], "name": "npm", "scanners": ["vuln"]}],
                      "reports": {"cyclonedx": bom_dir}, "fail_on": "none"})
    assert rc == 0 and again["reports"]["cyclonedx"]["changed"] is False


def test_licenses_with_grype_is_one_clear_error(scan, fx):
    rc, res = scan({"scanner": "grype", "targets": [{"type": "rootfs", "ref": fx["rootfs"]}],
                    "licenses": {"deny": ["GPL-3.0*"]}})
    assert rc == 1 and res["msg"] == "licenses needs scanner: trivy (the licence scan is Trivy's)"


def test_sbom_target_offline_is_scanned_and_its_licences_judged(scan, fx, tmp_path):
    bom_dir = str(tmp_path / "sbom")
    rc, res = scan({"targets": [{"type": "rootfs", "ref": fx["rootfs"], "name": "rootfs", "scanners": ["secret"]}],
                    "reports": {"cyclonedx": bom_dir}, "fail_on": "none"})
    assert rc == 0, res["msg"]
    rc, res = scan({"targets": [{"type": "sbom", "ref": os.path.join(bom_dir, "rootfs.cdx.json"), "name": "bom"}],
                    "licenses": {"deny": ["GPL-3.0*"], "unknown": "none"}})
    assert rc == 1 and res["coverage"]["complete"], res["msg"]
    assert sorted(k[0] for k in _licence_findings(res)) == ["bash", "gplthing"]
