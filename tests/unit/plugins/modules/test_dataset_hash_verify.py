import hashlib
import json
import multiprocessing
import os
import stat
import subprocess
import time

from ansible_collections.ainative.security.plugins.modules import dataset_hash_verify


def _tampered(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"changed\n")
    (tmp_path / "b.txt").write_bytes(b"b\n")
    manifest = tmp_path / "SHA256SUMS"
    manifest.write_text("%s  a.txt\n%s  b.txt\n" % (hashlib.sha256(b"a\n").hexdigest(), hashlib.sha256(b"b\n").hexdigest()))
    return {"path": str(tmp_path), "manifest": str(manifest)}


def test_create_check_mode_writes_nothing_then_create_and_verify(run_module, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_bytes(b"a\n")
    manifest = tmp_path / "m.json"
    result, failed = run_module(dataset_hash_verify, {"path": str(data), "manifest": str(manifest), "mode": "create"},
                                check_mode=True)
    assert not failed and result["changed"] and not manifest.exists()
    assert result["coverage"]["examined"] == result["coverage"]["asked"] == 1 and result["verdict"] == "pass"
    result, failed = run_module(dataset_hash_verify, {"path": str(data), "manifest": str(manifest), "mode": "create",
                                                      "backup": True})
    assert result["changed"] and json.loads(manifest.read_text())["total_files"] == 1
    assert "backup_file" not in result
    (data / "b.txt").write_bytes(b"b\n")
    result, failed = run_module(dataset_hash_verify, {"path": str(data), "manifest": str(manifest), "mode": "create",
                                                      "backup": True}, diff=True)
    assert result["changed"] and result["backup_file"].startswith(str(manifest))
    assert '"b.txt"' in result["diff"]["after"] and '"b.txt"' not in result["diff"]["before"]
    result, failed = run_module(dataset_hash_verify, {"path": str(data), "manifest": str(manifest)})
    assert not failed and result["verified"] and result["verdict"] == "pass"
    assert result["coverage"]["asked"] == result["coverage"]["examined"] == 2 and result["coverage"]["complete"]


def test_report_only_and_failure_message(run_module, tmp_path):
    args = _tampered(tmp_path)
    result, failed = run_module(dataset_hash_verify, dict(args, fail_on_mismatch=False))
    assert not failed and result["verified"] is False and result["findings"][0]["id"] == "dataset_file_mismatch"
    assert result["verdict"] == "findings" and result["gate"]["fail_on"] == "none"
    assert result["findings"][0]["details"]["message"].startswith("digest ")
    result, failed = run_module(dataset_hash_verify, args)
    assert failed and "failed verification: 1 mismatched (a.txt)" in result["msg"]
    assert result["verdict"] == "fail" and result["gate"]["fail_on"] == "MEDIUM"


def test_default_gate_fails_on_an_extra_file_as_0_1_0_did(run_module, tmp_path):
    args = _tampered(tmp_path)
    (tmp_path / "a.txt").write_bytes(b"a\n")
    (tmp_path / "new.txt").write_bytes(b"n\n")
    result, failed = run_module(dataset_hash_verify, args)
    assert failed and result["verdict"] == "fail" and result["extra"] == ["new.txt"]
    result, failed = run_module(dataset_hash_verify, dict(args, allow_extra=True))
    assert not failed and result["verdict"] == "pass" and result["extra_allowed"] == ["new.txt"]


def test_ignore_covering_every_listed_file_is_incomplete_not_a_pass(run_module, tmp_path):
    """Issue 13 item 9: ignore ["**"] on a tampered dataset examined nothing, so it must not pass."""
    args = _tampered(tmp_path)
    for patterns in (["**"], ["*.txt"], ["a.txt", "b.txt"]):
        result, failed = run_module(dataset_hash_verify, dict(args, ignore=patterns))
        assert failed, patterns
        assert result["verdict"] == "incomplete" and result["verified"] is False
        assert result["coverage"]["examined"] == 0 and result["coverage"]["asked"] == 2
        assert "examined no files" in result["msg"]
        assert {m["item"] for m in result["coverage"]["missed"]} == {"a.txt", "b.txt"}
    # Even with the gate off, an incomplete run fails unless the playbook accepts it with a reason.
    result, failed = run_module(dataset_hash_verify, dict(args, ignore=["**"], fail_on="none"))
    assert failed and result["verdict"] == "incomplete"
    result, failed = run_module(dataset_hash_verify, dict(args, ignore=["**"], accept_incomplete="ticket DS-1"))
    assert not failed and result["gate"]["accepted_incomplete"] == "ticket DS-1"


def test_ignoring_some_listed_files_is_incomplete(run_module, tmp_path):
    args = _tampered(tmp_path)
    (tmp_path / "a.txt").write_bytes(b"a\n")
    result, failed = run_module(dataset_hash_verify, dict(args, ignore=["b.txt"]))
    assert failed and result["verdict"] == "incomplete"
    assert result["coverage"]["examined"] == 1 and result["counts"]["ignored"] == 1


def test_unreadable_file_is_a_coverage_miss(run_module, tmp_path):
    if os.geteuid() == 0:
        return  # root reads anything
    args = _tampered(tmp_path)
    (tmp_path / "a.txt").write_bytes(b"a\n")
    os.chmod(str(tmp_path / "b.txt"), 0)
    try:
        result, failed = run_module(dataset_hash_verify, dict(args, fail_on="none"))
    finally:
        os.chmod(str(tmp_path / "b.txt"), 0o644)
    assert failed and result["verdict"] == "incomplete" and result["counts"]["unreadable"] == 1
    assert result["coverage"]["missed"][0]["item"] == "b.txt"


def test_deprecated_options_keep_working(run_module, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for index in range(3):
        (data / ("f%d" % index)).write_bytes(b"x%d" % index)
    manifest = tmp_path / "m.sha256"
    result, failed = run_module(dataset_hash_verify, {"path": str(data), "manifest": str(manifest), "mode": "create",
                                                      "manifest_mode": "0600"})
    assert not failed and stat.S_IMODE(os.stat(str(manifest)).st_mode) == 0o600
    result, failed = run_module(dataset_hash_verify, {"path": str(data), "manifest": str(manifest), "mode": "create",
                                                      "manifest_mode": "u=rw,g=r"})
    assert result["changed"] and stat.S_IMODE(os.stat(str(manifest)).st_mode) == 0o640
    for index in range(3):
        (data / ("f%d" % index)).write_bytes(b"tampered")
    result, failed = run_module(dataset_hash_verify, {"path": str(data), "manifest": str(manifest), "max_reported": 1})
    assert failed and "mismatched" in result, result
    assert len(result["mismatched"]) == 1 and result["counts"]["mismatched"] == 3
    assert len(result["findings"]) == 1 and result["findings_truncated"] and result["summary"]["total"] == 3


def test_negative_numbers_are_refused(run_module, tmp_path):
    result, failed = run_module(dataset_hash_verify, {"path": str(tmp_path), "manifest": "m", "workers": -1})
    assert failed and "0 (one per CPU) or more" in result["msg"] and result["error_kind"] == "input"


def _swap_forever(link, inner, outside, stop):
    """Turn ``inner`` into a link out of the root and back, atomically (rename), until ``stop`` is set."""
    spare_link, spare_file = inner + ".lnk", inner + ".new"
    while not stop.is_set():
        os.symlink(outside, spare_link)
        os.rename(spare_link, inner)
        with open(spare_file, "wb") as handle:
            handle.write(b"inside\n")
        os.rename(spare_file, inner)


def test_follow_symlinks_never_reads_a_file_swapped_for_a_link_out_of_the_root(run_module, tmp_path):
    """Issue 13 item 10: the swap races the check and the open; the outside content is never hashed.

    The swapper is a process, not a thread: a thread holds the interpreter lock and almost never runs
    between the module's check and its open, so it would not race at all.
    """
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "secret"
    outside.write_bytes(b"SECRET OUTSIDE THE ROOT\n")
    secret = hashlib.sha256(outside.read_bytes()).hexdigest()
    inside = hashlib.sha256(b"inside\n").hexdigest()
    (root / "inner").write_bytes(b"inside\n")
    names = ["link%02d" % index for index in range(40)]
    for name in names:
        os.symlink("inner", str(root / name))  # each link's target is the file that turns into a link out
    manifest = tmp_path / "m.sha256"
    manifest.write_text("".join("%s  %s\n" % (inside, name) for name in names))
    args = {"path": str(root), "manifest": str(manifest), "follow_symlinks": True, "fail_on": "none",
            "ignore": ["inner", "inner.*"], "accept_incomplete": "race test"}
    stop = multiprocessing.Event()
    swapper = multiprocessing.get_context("fork").Process(
        target=_swap_forever, args=(str(root / "link00"), str(root / "inner"), str(outside), stop))
    swapper.start()
    runs = 0
    deadline = time.time() + 4
    try:
        while time.time() < deadline:
            runs += 1
            result, failed = run_module(dataset_hash_verify, args)
            assert secret not in json.dumps(result), "verify hashed the file outside the root"
            pinned, failed = run_module(dataset_hash_verify, dict(args, mode="create", manifest=str(tmp_path / "p.sha256"),
                                                                  ignore=["inner.*"]))
            assert not (tmp_path / "p.sha256").exists() or secret not in (tmp_path / "p.sha256").read_text(), \
                "create pinned the file outside the root"
    finally:
        stop.set()
        swapper.join(10)
    assert runs > 5


def test_manifest_from_find_and_sha256sum_with_dot_slash_paths(run_module, tmp_path):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_bytes(b"a\n")
    (data / "sub" / "b.txt").write_bytes(b"b\n")
    out = subprocess.run("find . -type f | sort | xargs sha256sum", shell=True, cwd=str(data), check=True,
                         stdout=subprocess.PIPE).stdout
    assert out.count(b"  ./") == 2
    (tmp_path / "SHA256SUMS").write_bytes(out)
    result, failed = run_module(dataset_hash_verify, {"path": str(data), "manifest": str(tmp_path / "SHA256SUMS")})
    assert not failed and result["verified"] and result["counts"]["ok"] == 2 and result["verdict"] == "pass"


def test_names_that_are_not_utf8_pin_and_verify_in_both_formats(run_module, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    raw = os.path.join(os.fsencode(str(data)), b"caf\xe9-latin1.csv")
    with open(raw, "wb") as handle:
        handle.write(b"x\n")
    (data / "back\\slash").write_bytes(b"y\n")
    for manifest in ("m.sha256", "m.json"):
        path = str(tmp_path / manifest)
        result, failed = run_module(dataset_hash_verify, {"path": str(data), "manifest": path, "mode": "create"})
        assert not failed and result["files"] == 2, result
        result, failed = run_module(dataset_hash_verify, {"path": str(data), "manifest": path})
        assert not failed and result["verified"] and result["counts"]["ok"] == 2, result
    # The text manifest is what coreutils writes and reads (raw bytes, backslash escapes).
    check = subprocess.run(["sha256sum", "-c", str(tmp_path / "m.sha256")], cwd=str(data), stdout=subprocess.PIPE,
                           check=False)
    assert check.returncode == 0, check.stdout
    with open(raw, "wb") as handle:
        handle.write(b"changed\n")
    result, failed = run_module(dataset_hash_verify, {"path": str(data), "manifest": str(tmp_path / "m.json")})
    assert failed and result["mismatched"][0]["path"] == "caf\\xe9-latin1.csv"
    assert "caf\\xe9-latin1.csv" in result["msg"]
    json.dumps(result).encode("utf-8")  # the result is valid UTF-8 JSON


def test_manifest_must_be_a_bounded_regular_file(run_module, tmp_path):
    os.mkfifo(str(tmp_path / "fifo"))
    started = time.time()
    for manifest in (str(tmp_path / "fifo"), "/dev/zero", str(tmp_path)):
        result, failed = run_module(dataset_hash_verify, {"path": str(tmp_path), "manifest": manifest})
        assert failed and "not a regular file" in result["msg"] and result["error_kind"] == "input", result
    assert time.time() - started < 10


def test_giant_names_are_bounded_in_messages_and_results(run_module, tmp_path):
    giant = "n" * (1 << 20)
    digest = hashlib.sha256(b"x").hexdigest()
    (tmp_path / "m.sha256").write_text("%s  %s\n" % (digest, giant))
    result, failed = run_module(dataset_hash_verify, {"path": str(tmp_path), "manifest": str(tmp_path / "m.sha256")})
    assert failed and "longer than any path" in result["msg"] and len(json.dumps(result)) < 8192


def test_single_file_mismatch_says_why(run_module, tmp_path):
    (tmp_path / "model.bin").write_bytes(b"weights")
    want = hashlib.sha256(b"approved").hexdigest()
    result, failed = run_module(dataset_hash_verify, {"path": str(tmp_path / "model.bin"), "digest": "sha256:" + want})
    assert failed and result["verdict"] == "fail"
    assert "failed verification: digest %s, expected %s" % (hashlib.sha256(b"weights").hexdigest(), want) in result["msg"]
    assert result["findings"][0]["details"]["message"] and result["gate"]["reason"]


def test_reports_are_written_although_mode_is_the_module_own_option(run_module, tmp_path):
    args = _tampered(tmp_path)
    report = tmp_path / "report.json"
    result, failed = run_module(dataset_hash_verify, dict(args, fail_on="none", reports={"json": str(report)}))
    assert not failed and result["reports"]["json"]["changed"]
    doc = json.loads(report.read_text())
    assert doc["verdict"] == "findings" and doc["coverage"]["unit"] == "files"
    assert [f["id"] for f in doc["findings"]] == ["dataset_file_mismatch"]
