"""dataset_hash_verify and the dataset_integrity role on real trees, through ansible-playbook."""

import hashlib
import json
import multiprocessing
import os
import subprocess

import pytest

from lab import datasets

TARGETS = os.path.join(os.path.dirname(__file__), "playbooks", "dataset_integrity")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Good tree, tampered copy, hostile trees and manifests, all on disk."""
    work = tmp_path_factory.mktemp("datasets")
    good = work / "good"
    datasets.make_tree(str(good), files=120, min_size=10, max_size=300 * 1024, per_dir=40, seed="it")
    # awkward names coreutils escapes: backslash and newline, plus spaces and UTF-8
    (good / "odd").mkdir()
    (good / "odd" / "back\\slash.csv").write_bytes(b"a,b\n")
    (good / "odd" / "new\nline.txt").write_bytes(b"x\n")
    (good / "odd" / " lead space ünï.txt").write_bytes(b"y\n")
    changes = datasets.tamper(str(good), str(work / "tampered"))
    # coreutils' own output, in binary mode, with escaped names
    names = sorted(os.path.relpath(os.path.join(d, f), str(good)) for d, dirs, fs in os.walk(str(good)) for f in fs)
    out = subprocess.run(["sha256sum", "-b", "--"] + names, cwd=str(good), check=True, stdout=subprocess.PIPE).stdout
    (work / "coreutils.sha256").write_bytes(out)
    assert b"\\" in out and b" *" in out
    # allow_extra / ignore tree: the good tree plus an unlisted file and ignored ones
    subprocess.run(["cp", "-a", str(good), str(work / "extra-only")], check=True)
    (work / "extra-only" / "notes.txt").write_bytes(b"n\n")
    (work / "extra-only" / "part-0000" / "x.tmp").write_bytes(b"t\n")
    (work / "extra-only" / "cache").mkdir()
    (work / "extra-only" / "cache" / "c.bin").write_bytes(b"c\n")
    # hostile inputs
    passwd_sha = hashlib.sha256(open("/etc/passwd", "rb").read()).hexdigest()
    (work / "traversal.sha256").write_text("%s  ../../etc/passwd\n" % passwd_sha)
    hostile = work / "hostile"
    hostile.mkdir()
    (hostile / "ok.txt").write_bytes(b"ok\n")
    os.symlink("/etc/passwd", str(hostile / "passwd"))
    (work / "hostile.sha256").write_text("%s  ok.txt\n%s  passwd\n" % (hashlib.sha256(b"ok\n").hexdigest(), passwd_sha))
    inner = work / "inner-link"
    inner.mkdir()
    (inner / "data.bin").write_bytes(b"data\n")
    os.symlink("data.bin", str(inner / "alias.bin"))
    digest = hashlib.sha256(b"data\n").hexdigest()
    (work / "inner-link.sha256").write_text("%s  data.bin\n%s  alias.bin\n" % (digest, digest))
    fifo = work / "fifo"
    fifo.mkdir()
    (fifo / "a.txt").write_bytes(b"a\n")
    os.mkfifo(str(fifo / "pipe"))
    (work / "fifo.sha256").write_text("%s  a.txt\n" % hashlib.sha256(b"a\n").hexdigest())
    (work / "garbage.sha256").write_text("%s  a.txt\nthis is not a checksum line\n" % digest)
    (work / "empty").mkdir()
    return {"work": str(work), "changes": changes, "files": len(names),
            "flipped_sha256": hashlib.sha256((good / changes["flipped"]).read_bytes()).hexdigest()}


def test_verify_pin_tamper_and_hostile_input(playbook, work):
    result = playbook(os.path.join(TARGETS, "verify.yml"), extra_vars=_vars(work))
    assert result.rc == 0, result


def test_bad_arguments_give_one_clear_error(playbook, work):
    result = playbook(os.path.join(TARGETS, "errors.yml"), extra_vars={"work": work["work"]})
    assert result.rc == 0, result
    assert "Traceback" not in result.stdout


def test_role_pins_verifies_reports_and_is_idempotent(playbook, work, tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    datasets_var = [
        {"name": "good (pin)", "path": work["work"] + "/good", "manifest": str(tmp_path / "good.json"), "pin": True},
        {"name": "good", "path": work["work"] + "/good", "manifest": str(tmp_path / "good.json")},
        {"name": "tampered", "path": work["work"] + "/tampered", "manifest": str(tmp_path / "good.json"),
         "fail_on_mismatch": False},
    ]
    extra = {"dataset_integrity_datasets": datasets_var, "ainative_report_dir": str(reports)}
    pb = os.path.join(os.path.dirname(TARGETS), "..", "..", "..", "playbooks", "dataset_integrity.yml")
    first = playbook(pb, extra_vars=extra)
    assert first.rc == 0, first
    second = playbook(pb, extra_vars=extra)
    assert second.rc == 0, second
    assert "changed=0" in second.stdout, second
    report = json.loads((reports / "dataset_integrity-localhost.json").read_text())
    # The role reports the module's verdicts (the worst one for the host), computed by no Jinja gate.
    assert report["verdict"] == "findings"
    assert report["dataset_verdicts"] == {"good": "pass", "tampered": "findings"}
    assert report["dataset_coverage"]["tampered"]["complete"] and report["dataset_coverage"]["good"]["examined"] == work["files"]
    assert sorted(f["location"]["path"] for f in report["findings"]) == sorted(
        [work["changes"]["flipped"], work["changes"]["removed"], work["changes"]["added"]])
    # When the tampered copy must match, the play halts and names it.
    datasets_var[2]["fail_on_mismatch"] = True
    third = playbook(pb, extra_vars=extra)
    assert third.rc != 0
    assert "Dataset(s) tampered failed verification" in third.stdout, third
    assert "open finding(s) match fail_on MEDIUM" in third.stdout, third
    # An ignore list that covers every listed file examines nothing: the play halts even with the gate off.
    datasets_var[2].update(fail_on_mismatch=False, ignore=["**"])
    fourth = playbook(pb, extra_vars=extra)
    assert fourth.rc != 0
    assert "Dataset(s) tampered failed verification" in fourth.stdout and "examined no files" in fourth.stdout, fourth
    report = json.loads((reports / "dataset_integrity-localhost.json").read_text())
    assert report["verdict"] == "incomplete" and report["dataset_verdicts"]["tampered"] == "incomplete"


def _swap(inner, outside, stop):
    while not stop.is_set():
        os.symlink(outside, inner + ".lnk")
        os.rename(inner + ".lnk", inner)
        with open(inner + ".new", "wb") as handle:
            handle.write(b"inside\n")
        os.rename(inner + ".new", inner)


def test_follow_symlinks_under_a_swap_race_never_reads_outside(playbook, tmp_path):
    """Issue 13 item 10, through Ansible: 0.1.0 reported the outside digest in 4 of 8 runs."""
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "secret"
    outside.write_bytes(b"SECRET OUTSIDE THE ROOT\n")
    (root / "inner").write_bytes(b"inside\n")
    inside = hashlib.sha256(b"inside\n").hexdigest()
    names = ["link%02d" % index for index in range(40)]
    for name in names:
        os.symlink("inner", str(root / name))
    manifest = tmp_path / "m.sha256"
    manifest.write_text("".join("%s  %s\n" % (inside, name) for name in names))
    stop = multiprocessing.Event()
    swapper = multiprocessing.get_context("fork").Process(target=_swap, args=(str(root / "inner"), str(outside), stop))
    swapper.start()
    try:
        result = playbook(os.path.join(TARGETS, "race.yml"), extra_vars={
            "root": str(root), "manifest": str(manifest), "pinned": str(tmp_path / "pinned.sha256"),
            "result_file": str(tmp_path / "results.json")})
    finally:
        stop.set()
        swapper.join(10)
    assert result.rc == 0, result
    secret = hashlib.sha256(outside.read_bytes()).hexdigest()
    reported = (tmp_path / "results.json").read_text()
    assert secret not in reported and secret not in result.stdout
    assert not (tmp_path / "pinned.sha256").exists() or secret not in (tmp_path / "pinned.sha256").read_text()
    runs = json.loads(reported)["verified"]
    assert len(runs) == 8 and all("verdict" in run or run.get("error_kind") for run in runs)


def _vars(work):
    """Extra vars for verify.yml; also writes edited.manifest.json: the good tree's manifest with one digest
    forged and its own dataset_digest dropped, as an attacker who can write the manifest would leave it."""
    good_manifest = os.path.join(work["work"], "good.manifest.json")
    edited = os.path.join(work["work"], "edited.manifest.json")
    from ansible_collections.ainative.security.plugins.module_utils.integrity import engine, manifest, paths
    entries = engine.build_entries(work["work"] + "/good", paths.IgnoreRules([]), "sha256")[0]
    doc = json.loads(manifest.render_json_manifest("sha256", entries).decode())
    doc["files"][0]["digest"] = hashlib.sha256(b"forged").hexdigest()
    doc.pop("dataset_digest")
    with open(edited, "w") as handle:
        json.dump(doc, handle)
    if os.path.exists(good_manifest):
        os.unlink(good_manifest)
    return {"work": work["work"], "expected_files": work["files"], "flipped": work["changes"]["flipped"],
            "removed": work["changes"]["removed"], "added": work["changes"]["added"],
            "flipped_sha256": work["flipped_sha256"]}
