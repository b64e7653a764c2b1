"""Trivy and Grype normalization, argv and DB checks; scanners.base helpers."""

import io
import json
import os
import tarfile
import threading
import time

import pytest

from ansible_collections.ainative.security.plugins.module_utils.core.concurrency import run_bounded
from ansible_collections.ainative.security.plugins.module_utils.core.errors import (
    ControlError,
    DependencyError,
    InputError,
    SourceError,
)
from ansible_collections.ainative.security.plugins.module_utils.scanners import base as scanner_base
from ansible_collections.ainative.security.plugins.module_utils.scanners import grype as scanner_grype
from ansible_collections.ainative.security.plugins.module_utils.scanners import inline_waivers
from ansible_collections.ainative.security.plugins.module_utils.scanners import trivy as scanner_trivy
from ansible_collections.ainative.security.plugins.module_utils.scanners.base import ScanError, Target, TargetError

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
FAKE_SECRET = "AKIAFAKESECRETVALUE1"


def load(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return json.load(handle)


@pytest.fixture
def fake_bin(tmp_path):
    def make(name, body="#!/bin/sh\nexit 0\n"):
        path = tmp_path / name
        path.write_text(body)
        path.chmod(0o755)
        return str(path)
    return make


def test_trivy_normalize_all_kinds_and_never_copies_secret_text():
    report = load("trivy-probe.json")
    for result in report["Results"]:
        for secret in result.get("Secrets", []):
            secret["Match"] = "AWS_ACCESS_KEY_ID=" + FAKE_SECRET
            secret["Code"]["Lines"][0]["Content"] = FAKE_SECRET
    findings = scanner_trivy.normalize(report, "probe")
    assert FAKE_SECRET not in json.dumps(findings)
    kinds = sorted(set(f["kind"] for f in findings))
    assert kinds == ["misconfiguration", "secret", "vulnerability"]
    bash = [f for f in findings if f["location"]["package"] == "bash"][0]
    assert bash["id"] == "CVE-2099-0001" and bash["severity"] == "HIGH"
    assert bash["location"]["installed_version"] == "5.2.15-2+b13"
    assert bash["location"]["fixed_version"] == "5.2.15-3"
    assert bash["details"]["fixable"] is True and bash["details"]["purl"].startswith("pkg:deb/debian/bash@")
    assert bash["url"] == "https://avd.aquasec.com/nvd/cve-2099-0001"
    secret = [f for f in findings if f["id"] == "aws-access-key-id"][0]
    assert secret["location"]["path"] == "/app/.env" and secret["location"]["line"] == 1
    assert secret["details"] == {"scanner": "trivy", "fixable": True, "category": "AWS", "class": "secret"}
    logging = [f for f in findings if f["id"] == "AVD-AWS-0089"][0]
    assert logging["details"]["aliases"] == ["s3-bucket-logging", "AWS-0089"]
    assert logging["location"]["resource"] == "aws_s3_bucket.data"
    assert all(f["control"] == "image_scan" and f["target"] == "probe" for f in findings)


def _misconf_report(**ids):
    check = dict(ids, Status="FAIL", Severity="HIGH", Title="S3 bucket without encryption",
                 CauseMetadata={"Resource": "aws_s3_bucket.data", "StartLine": 3})
    return {"Results": [{"Target": "main.tf", "Class": "config", "Type": "terraform", "Misconfigurations": [check]}]}


@pytest.mark.parametrize("ids", [
    {"ID": "AVD-AWS-0088", "AVDID": "AVD-AWS-0088"},  # Trivy 0.5x with trivy-checks v1
    {"ID": "AWS-0088"},                              # Trivy 0.69+ with trivy-checks v2: no AVD- prefix, no AVDID
])
def test_misconfiguration_ids_are_canonical_across_trivy_versions(ids):
    finding = scanner_trivy.normalize(_misconf_report(**ids), "tf")[0]
    reference = scanner_trivy.normalize(_misconf_report(ID="AVD-AWS-0088", AVDID="AVD-AWS-0088"), "tf")[0]
    assert finding["id"] == "AVD-AWS-0088" and finding["details"]["aliases"] == ["AWS-0088"]
    assert finding["fingerprint"] == reference["fingerprint"]
    moved = _misconf_report(**ids)
    moved["Results"][0]["Misconfigurations"][0]["CauseMetadata"]["StartLine"] = 4
    assert scanner_trivy.normalize(moved, "tf")[0]["fingerprint"] == finding["fingerprint"]


def test_canonical_check_id_keeps_legacy_ids_as_aliases():
    assert scanner_trivy.canonical_check_id("s3-bucket-logging", "AVD-AWS-0089") == \
        ("AVD-AWS-0089", ["s3-bucket-logging", "AWS-0089"])
    assert scanner_trivy.canonical_check_id("KSV-0001") == ("AVD-KSV-0001", ["KSV-0001"])
    assert scanner_trivy.canonical_check_id("custom-rule") == ("custom-rule", [])


def test_vulnerability_fingerprint_ignores_fixed_version():
    report = load("trivy-probe.json")
    before = dict((f["id"], f["fingerprint"]) for f in scanner_trivy.normalize(report, "probe"))
    for result in report["Results"]:
        for vuln in result.get("Vulnerabilities", []):
            vuln["FixedVersion"] = "99.0"  # a DB update that adds a fix
    after = dict((f["id"], f["fingerprint"]) for f in scanner_trivy.normalize(report, "probe"))
    assert before == after


def test_errors_belong_to_the_core_hierarchy(fake_bin, tmp_path):
    assert issubclass(ScanError, SourceError) and issubclass(TargetError, InputError)
    assert all(issubclass(cls, ControlError) for cls in (ScanError, TargetError, DependencyError))
    killed = fake_bin("trivy", "#!/bin/sh\necho 'building the package list' >&2\nexit 137\n")
    with pytest.raises(SourceError, match="exited with code 137.*ran out of memory"):
        scanner_trivy.TrivyBackend(killed, cache_dir=str(tmp_path), timeout=10).scan(
            Target("directory", str(tmp_path)), ["vuln"], str(tmp_path))
    assert "ran out of memory" in scanner_base.exit_reason(-9)
    assert scanner_base.exit_reason(2) == "exited with code 2"


def test_trivy_normalize_skips_passes_and_handles_absent_lists():
    report = {"Results": [{"Target": "x", "Class": "config",
                           "Misconfigurations": [{"ID": "DS001", "Status": "PASS", "Severity": "LOW"}]},
                          {"Target": "y", "Class": "os-pkgs"}]}
    assert scanner_trivy.normalize(report, "t") == []
    assert scanner_trivy.normalize({}, "t") == []


def test_trivy_argv_per_target_type(fake_bin, tmp_path):
    backend = scanner_trivy.TrivyBackend(fake_bin("trivy"), cache_dir=str(tmp_path), offline=True, timeout=30)
    archive = Target("archive", "/x/img.tar")
    argv = backend.argv(archive, ["vuln", "secret", "misconfig"])
    assert argv[1] == "image" and argv[argv.index("--input") + 1] == "/x/img.tar"
    assert argv[argv.index("--image-config-scanners") + 1] == "secret,misconfig"
    assert "--skip-db-update" in argv and "--offline-scan" in argv and "--skip-check-update" in argv
    assert argv[-1] != "/x/img.tar"
    layout = Target("archive", "/x/oci.tar")
    layout.layout_dir = "/tmp/layout"
    assert backend.argv(layout, ["vuln"])[3] == "/tmp/layout"
    sbom = backend.argv(Target("sbom", "/x/bom.json"), ["secret", "misconfig"])
    assert sbom[1] == "sbom" and sbom[sbom.index("--scanners") + 1] == "vuln"
    iac = backend.argv(Target("iac", "/x/tf"), ["misconfig"])
    assert iac[1] == "fs" and iac[-1] == "/x/tf"
    assert backend.argv(Target("rootfs", "/r"), ["vuln"])[1] == "rootfs"
    online = scanner_trivy.TrivyBackend(fake_bin("trivy2"), cache_dir=str(tmp_path), db_repository="mirror.local/trivy-db:2")
    argv = online.argv(Target("directory", "/d"), ["vuln"], list_all_pkgs=True)
    assert "--skip-db-update" not in argv and argv[argv.index("--db-repository") + 1] == "mirror.local/trivy-db:2"
    assert "--list-all-pkgs" in argv


def test_trivy_offline_without_db_says_how_to_seed(fake_bin, tmp_path):
    backend = scanner_trivy.TrivyBackend(fake_bin("trivy"), cache_dir=str(tmp_path / "c"), offline=True)
    backend.check_db(False)  # no vulnerability scan, no DB needed
    with pytest.raises(DependencyError, match="download-db-only"):
        backend.check_db(True)
    (tmp_path / "c" / "db").mkdir(parents=True)
    (tmp_path / "c" / "db" / "trivy.db").write_bytes(b"x")
    (tmp_path / "c" / "db" / "metadata.json").write_text("{}")
    backend.check_db(True)


def test_trivy_scan_reports_crash_with_stderr_tail(fake_bin, tmp_path):
    crash = fake_bin("trivy", "#!/bin/sh\necho 'line one' >&2\necho 'FATAL cannot open image' >&2\nexit 1\n")
    backend = scanner_trivy.TrivyBackend(crash, cache_dir=str(tmp_path), timeout=10)
    with pytest.raises(ScanError) as err:
        backend.scan(Target("directory", str(tmp_path)), ["vuln"], str(tmp_path))
    assert "exited with code 1" in str(err.value) and "FATAL cannot open image" in str(err.value)
    garbage = fake_bin("trivy-garbage", "#!/bin/sh\necho not-json\n")
    backend = scanner_trivy.TrivyBackend(garbage, cache_dir=str(tmp_path), timeout=10)
    with pytest.raises(ScanError, match="printed no JSON"):
        backend.scan(Target("directory", str(tmp_path)), ["vuln"], str(tmp_path))


def test_grype_normalize_fixture():
    findings = scanner_grype.normalize(load("grype-pyproj.json"), "pyproj")
    by_id = dict((f["id"], f) for f in findings)
    crit = by_id["CVE-2099-1000"]
    assert crit["severity"] == "CRITICAL" and crit["status"] == "open"
    assert crit["location"] == {"package": "requests", "installed_version": "2.31.0", "fixed_version": "2.32.0",
                                "path": "/requirements.txt", "line": None, "resource": None}
    assert crit["details"]["cvss"] == 9.8 and crit["details"]["fixable"] is True
    assert crit["title"] == "requests: planted test vulnerability (fixture)"
    assert by_id["CVE-2099-1002"]["severity"] == "INFO"  # Negligible
    assert by_id["CVE-2099-1002"]["details"]["fixable"] is False
    assert by_id["GHSA-9wx4-h78v-vm56"]["details"]["related"] == ["CVE-2024-35195"]
    ignored = by_id["CVE-2099-1003"]
    assert ignored["status"] == "ignored" and "accepted in .grype.yaml" in ignored["details"]["ignored_by"]["reason"]


def test_grype_sources_env_and_exit_code(fake_bin, tmp_path):
    archive = Target("archive", "/x/a.tar")
    archive.archive_format = "docker"
    assert scanner_grype.source_for(archive) == "docker-archive:/x/a.tar"
    archive.archive_format = "oci"
    assert scanner_grype.source_for(archive) == "oci-archive:/x/a.tar"
    assert scanner_grype.source_for(Target("sbom", "/b.json")) == "sbom:/b.json"
    assert scanner_grype.source_for(Target("rootfs", "/r")) == "dir:/r"
    with pytest.raises(InputError, match="vulnerabilities only"):
        scanner_grype.source_for(Target("iac", "/tf"))
    doc = tmp_path / "doc.json"
    doc.write_text(json.dumps(load("grype-pyproj.json")))
    # exit code 2 = --fail-on hit: still a valid document
    grype = fake_bin("grype", "#!/bin/sh\ncat %s\nexit 2\n" % doc)
    backend = scanner_grype.GrypeBackend(grype, cache_dir=str(tmp_path / "db"), offline=True)
    assert backend.env()["GRYPE_DB_AUTO_UPDATE"] == "false"
    report = backend.scan(Target("directory", str(tmp_path)), ["vuln"], str(tmp_path))[0]
    assert len(report["matches"]) == 3
    with pytest.raises(DependencyError, match="grype db import"):
        backend.check_db(True)


def _tar(path, names):
    with tarfile.open(path, "w") as archive:
        for name in names:
            data = b"{}"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def test_archive_format_and_target_validation(tmp_path):
    _tar(str(tmp_path / "docker.tar"), ["abc/layer.tar", "manifest.json"])
    _tar(str(tmp_path / "oci.tar"), ["oci-layout", "index.json", "blobs/sha256/aa"])
    _tar(str(tmp_path / "other.tar"), ["hello.txt"])
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 100)
    assert scanner_base.archive_format(str(tmp_path / "docker.tar")) == "docker"
    assert scanner_base.archive_format(str(tmp_path / "oci.tar")) == "oci"
    with pytest.raises(InputError, match="neither manifest.json"):
        scanner_base.archive_format(str(tmp_path / "other.tar"))
    with pytest.raises(InputError, match="not a readable tar"):
        scanner_base.archive_format(str(tmp_path / "junk.tar"))
    with pytest.raises(InputError, match="unknown target type"):
        scanner_base.validate_target(Target("tarball", "/x"))
    with pytest.raises(InputError, match="does not exist"):
        scanner_base.validate_target(Target("directory", str(tmp_path / "nope")))
    with pytest.raises(InputError, match="is not a directory"):
        scanner_base.validate_target(Target("iac", str(tmp_path / "docker.tar")))
    with pytest.raises(InputError, match="unknown scanner"):
        scanner_base.validate_target(Target("directory", str(tmp_path), scanners=["license"]))
    # An empty tree (or one holding only .git) is nothing scanned, not a clean scan.
    (tmp_path / "empty" / ".git" / "objects").mkdir(parents=True)
    (tmp_path / "empty" / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / "empty" / "src").mkdir()
    with pytest.raises(InputError, match="holds no file to scan"):
        scanner_base.validate_target(Target("iac", str(tmp_path / "empty")))
    (tmp_path / "empty" / "src" / "main.tf").write_text("# strict twin: one file is something to scan\n")
    assert scanner_base.validate_target(Target("iac", str(tmp_path / "empty"))).ref == str(tmp_path / "empty")
    target = scanner_base.validate_target(Target("archive", str(tmp_path / "oci.tar")))
    layout = scanner_base.unpack_oci_archive(target, str(tmp_path))
    assert os.path.exists(os.path.join(layout, "index.json")) and target.layout_dir == layout
    _tar(str(tmp_path / "evil.tar"), ["index.json", "../escape.txt"])
    with pytest.raises(InputError, match="unsafe member"):
        scanner_base.unpack_oci_archive(Target("archive", str(tmp_path / "evil.tar")), str(tmp_path))


def test_find_binary(tmp_path, monkeypatch, fake_bin):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(DependencyError, match="no trivy binary on PATH"):
        scanner_base.find_binary("trivy")
    path = fake_bin("trivy")
    assert scanner_base.find_binary("trivy", path) == path
    assert scanner_base.find_binary("trivy", str(tmp_path)) == path
    monkeypatch.setenv("PATH", str(tmp_path))
    assert scanner_base.find_binary("trivy") == path


def test_run_scanner_timeout_kills_and_keeps_stderr(tmp_path):
    started = time.time()
    with pytest.raises(ScanError) as err:
        scanner_base.run_scanner(["sh", "-c", "echo warming up >&2; sleep 20"], timeout=1, what="slow")
    assert time.time() - started < 10
    assert "slow timed out after 1s" in str(err.value) and "warming up" in str(err.value)


def test_core_run_bounded_limits_concurrency_and_keeps_order():
    running = []
    peak = []
    lock = threading.Lock()

    def work(item):
        with lock:
            running.append(item)
            peak.append(len(running))
        time.sleep(0.05)
        with lock:
            running.remove(item)
        return item * 2

    assert run_bounded(work, range(7), 3) == [0, 2, 4, 6, 8, 10, 12]
    assert max(peak) <= 3

    def boom(item):
        if item == 2:
            raise ScanError("target 2 failed")
        return item

    with pytest.raises(ScanError, match="target 2 failed"):
        run_bounded(boom, range(4), 2)


def test_trivy_version_is_cached_per_binary_and_db_facts_read(fake_bin, tmp_path):
    count = tmp_path / "count"
    trivy = fake_bin("trivy", '#!/bin/sh\necho x >> %s\necho \'{"Version":"0.59.1"}\'\n' % count)
    cache = tmp_path / "cache"
    (cache / "db").mkdir(parents=True)
    (cache / "db" / "metadata.json").write_text('{"Version": 2, "UpdatedAt": "2026-11-25T00:00:00Z"}')
    backend = scanner_trivy.TrivyBackend(trivy, cache_dir=str(cache))
    assert backend.version(write_cache=False)["version"] == "0.59.1"
    assert not (cache / scanner_trivy.VERSION_CACHE).exists()
    first = backend.version()
    second = backend.version()
    assert first == second and first["db"] == {"version": 2, "updated_at": "2026-11-25T00:00:00Z", "next_update": None}
    assert count.read_text().count("x") == 2  # the cached call did not run the binary
    os.utime(trivy, (time.time() + 10, time.time() + 10))  # a replaced binary is asked again
    backend.version()
    assert count.read_text().count("x") == 3


def test_cyclonedx_made_deterministic():
    from ansible_collections.ainative.security.plugins.module_utils.scanners import image_scan

    def bom(ids, order):
        comps = [{"bom-ref": ids[i], "type": "library", "name": n, "purl": "pkg:pypi/%s@1" % n}
                 for i, n in enumerate(["a", "b"])]
        deps = [{"ref": ids[2], "dependsOn": [ids[i] for i in order]}]
        return json.dumps({"bomFormat": "CycloneDX", "serialNumber": "urn:uuid:%s" % ids[3],
                           "metadata": {"timestamp": "now", "component": {"bom-ref": ids[2], "type": "application",
                                                                          "name": "dir"}},
                           "components": [comps[i] for i in order], "dependencies": deps}).encode()
    one = ["11111111-1111-4111-8111-11111111111%d" % i for i in range(4)]
    two = ["22222222-2222-4222-8222-22222222222%d" % i for i in range(4)]
    a = image_scan._stable_cdx(bom(one, [0, 1]))
    b = image_scan._stable_cdx(bom(two, [1, 0]))
    assert a == b
    assert b"serialNumber" not in a and b"timestamp" not in a and b"1111" not in a


@pytest.mark.parametrize("word, waived", [
    ("#trivy:ignore:AVD-AWS-0088", "AVD-AWS-0088"),
    ("//tfsec:ignore:aws-s3-enable-bucket-encryption", "aws-s3-enable-bucket-encryption"),
    ("#trivy:ignore:*", "*"),
    ("/*trivy:ignore:AWS-0088:exp:2099-01-01", "AWS-0088"),
    ("#trivy:exp:2099-01-01:ignore:AWS-0089", "AWS-0089"),
    ("#trivy:ignore:aws-s3-x[bucket=a]", "aws-s3-x"),
    ("#trivy:ignore:", None),
    ("#trivy:something", None),
    ("#TRIVY:ignore:X", None),
    ("trivy", None),
])
def test_inline_rule_parsing_follows_trivy(word, waived):
    assert inline_waivers._waived_id(word) == waived


def test_inline_waivers_found_defused_and_reported(tmp_path):
    (tmp_path / "mod").mkdir()
    text = 'resource "a" "b" {} #trivy:ignore:AVD-AWS-0088\n\n  # tfsec:ignore:*\nname = "trivy:ignore:x"\n'
    (tmp_path / "mod" / "main.tf").write_text(text)
    (tmp_path / "model.bin").write_bytes(b"#trivy:ignore:X")  # not a configuration file
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.yaml").write_text("#trivy:ignore:X\n")
    waivers, too_large = inline_waivers.find(str(tmp_path))
    assert too_large == []
    assert [(w.path, w.line, w.waived) for w in waivers] == [
        ("mod/main.tf", 1, "AVD-AWS-0088"), ("mod/main.tf", 3, "*")]
    copy = inline_waivers.defused_copy(str(tmp_path), str(tmp_path / "copy"))
    defused = (tmp_path / "copy" / "mod" / "main.tf").read_text()
    assert len(defused) == len(text) and defused.count("\n") == text.count("\n")
    assert inline_waivers.find(copy)[0] == [] and "trivy-ignore:AVD-AWS-0088" in defused
    assert 'name = "trivy:ignore:x"' in defused  # not a rule for Trivy, left as it is
    assert sorted(os.listdir(copy)) == ["mod"]
    found = inline_waivers.findings(waivers, "image_scan", "tf")
    assert [(f["id"], f["kind"], f["severity"], f["location"]["resource"]) for f in found] == [
        ("inline-waiver", "misconfiguration", "HIGH", "AVD-AWS-0088"), ("inline-waiver", "misconfiguration", "HIGH", "*")]
    moved = inline_waivers.findings([inline_waivers.InlineWaiver("mod/main.tf", 9, "*", "x")], "image_scan", "tf")
    assert moved[0]["fingerprint"] == found[1]["fingerprint"]  # a line shift keeps the identity


def test_reveal_adds_only_what_the_inline_rules_hid():
    shown = scanner_trivy.normalize(_misconf_report(ID="AVD-AWS-0086", AVDID="AVD-AWS-0086"), "tf")
    full = scanner_trivy.normalize(_misconf_report(ID="AVD-AWS-0086", AVDID="AVD-AWS-0086"), "tf") + \
        scanner_trivy.normalize(_misconf_report(ID="AWS-0088"), "tf")
    assert inline_waivers.reveal(full, shown) == 1
    assert [f["id"] for f in shown] == ["AVD-AWS-0086", "AVD-AWS-0088"]
    assert "inline_waiver" in shown[1]["details"] and "inline_waiver" not in shown[0]["details"]
