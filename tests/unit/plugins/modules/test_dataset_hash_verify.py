import hashlib
import json

from ansible_collections.ainative.security.plugins.modules import dataset_hash_verify


def test_create_check_mode_writes_nothing_then_create_and_verify(run_module, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_bytes(b"a\n")
    manifest = tmp_path / "m.json"
    result, failed = run_module(dataset_hash_verify, {"path": str(data), "manifest": str(manifest), "mode": "create"},
                                check_mode=True)
    assert not failed and result["changed"] and not manifest.exists()
    result, failed = run_module(dataset_hash_verify, {"path": str(data), "manifest": str(manifest), "mode": "create",
                                                      "backup": True})
    assert result["changed"] and json.loads(manifest.read_text())["total_files"] == 1
    assert "backup_file" not in result
    (data / "b.txt").write_bytes(b"b\n")
    result, failed = run_module(dataset_hash_verify, {"path": str(data), "manifest": str(manifest), "mode": "create",
                                                      "backup": True}, diff=True)
    assert result["changed"] and result["backup_file"].startswith(str(manifest))
    assert '"b.txt"' in result["diff"]["after"] and '"b.txt"' not in result["diff"]["before"]


def test_report_only_and_failure_message(run_module, tmp_path):
    (tmp_path / "a.txt").write_bytes(b"changed\n")
    manifest = tmp_path / "SHA256SUMS"
    manifest.write_text("%s  a.txt\n" % hashlib.sha256(b"a\n").hexdigest())
    args = {"path": str(tmp_path), "manifest": str(manifest)}
    result, failed = run_module(dataset_hash_verify, dict(args, fail_on_mismatch=False))
    assert not failed and result["verified"] is False and result["findings"][0]["id"] == "dataset_file_mismatch"
    result, failed = run_module(dataset_hash_verify, args)
    assert failed and result["msg"].endswith("failed verification: 1 mismatched (a.txt)")


def test_negative_numbers_are_refused(run_module, tmp_path):
    result, failed = run_module(dataset_hash_verify, {"path": str(tmp_path), "manifest": "m", "workers": -1})
    assert failed and "0 or more" in result["msg"]
