"""model_scan, model_sign and model_verify through their modules (run_module), on real files and keys."""

import base64
import json
import os
import shutil

import pytest

from ansible_collections.ainative.security.plugins.module_utils.models import signing
from ansible_collections.ainative.security.plugins.module_utils.models.tree import model_files as tree_files
from ansible_collections.ainative.security.plugins.modules import model_scan, model_sign, model_verify
from lab import models


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return models.keys(str(tmp_path_factory.mktemp("keys")))


@pytest.fixture
def tree(tmp_path):
    return models.model_tree(str(tmp_path / "model"), files=3, size=1024)


def _sign(run_module, tree, keys, sig, **extra):
    args = dict(path=tree, signature=sig, private_key=keys["private_key"])
    args.update(extra)
    return run_module(model_sign, args, check_mode=extra.pop("_check", False))


def _verify(run_module, tree, keys, sig, **extra):
    args = dict(path=tree, signature=sig, public_key=keys["public_key"])
    args.update(extra)
    return run_module(model_verify, args)


# -- model_scan ---------------------------------------------------------------------------------------------

def _scan_tree(root):
    os.makedirs(root)
    open(os.path.join(root, "evil.pkl"), "wb").write(models.evil_pickle())
    open(os.path.join(root, "clean.pkl"), "wb").write(models.clean_pickle())
    models.torch_zip(os.path.join(root, "evil.pt"), models.evil_pickle())
    models.torch_zip(os.path.join(root, "clean.pt"), models.clean_pickle())
    models.keras_file(os.path.join(root, "evil.keras"), True)
    models.keras_file(os.path.join(root, "clean.keras"), False)
    models.safetensors_file(os.path.join(root, "model.safetensors"))
    return root


def test_scan_finds_each_unsafe_file_and_not_the_twins(run_module, tmp_path):
    root = _scan_tree(str(tmp_path / "m"))
    result, failed = run_module(model_scan, {"path": root})
    assert failed and result["verdict"] == "fail"
    got = sorted((f["id"], f["severity"], f["location"]["path"], f["location"]["resource"]) for f in result["findings"])
    assert got == [("keras-lambda-layer", "HIGH", "evil.keras", "config.json"),
                   ("os.system", "CRITICAL", "evil.pkl", None),
                   ("os.system", "CRITICAL", "evil.pt", "archive/data.pkl")]
    assert result["coverage"]["examined"] == 7 and result["coverage"]["complete"]
    assert result["formats"] == {"pickle": 2, "pytorch": 2, "keras": 2, "safetensors": 1}
    assert "posix.system" in result["findings"][0]["details"]["aliases"]


def test_scan_clean_safetensors_passes_the_format_policy(run_module, tmp_path):
    root = str(tmp_path / "m")
    os.makedirs(root)
    models.safetensors_file(os.path.join(root, "model.safetensors"))
    open(os.path.join(root, "config.json"), "w").write("{}")
    result, failed = run_module(model_scan, {"path": root, "allowed_formats": ["safetensors", "gguf", "onnx"]})
    assert not failed and result["verdict"] == "pass", result["msg"]
    assert result["coverage"]["examined"] == 2


def test_scan_format_policy_flags_a_clean_pickle(run_module, tmp_path):
    root = str(tmp_path / "m")
    os.makedirs(root)
    open(os.path.join(root, "clean.pkl"), "wb").write(models.clean_pickle())
    result, failed = run_module(model_scan, {"path": root, "allowed_formats": ["safetensors"]})
    assert failed
    assert [(f["id"], f["location"]["path"]) for f in result["findings"]] == [("model-format-not-allowed", "clean.pkl")]


def test_scan_fails_closed_on_unparsable_file_and_symlink(run_module, tmp_path):
    root = str(tmp_path / "m")
    os.makedirs(root)
    open(os.path.join(root, "broken.pkl"), "wb").write(b"\x80\x04not a pickle")
    os.symlink("/etc/passwd", os.path.join(root, "weights.pkl"))
    result, failed = run_module(model_scan, {"path": root})
    assert failed and result["verdict"] == "incomplete"
    assert sorted(m["item"] for m in result["coverage"]["missed"]) == ["broken.pkl", "weights.pkl"]
    accepted, failed = run_module(model_scan, {"path": root, "accept_incomplete": "known broken file, ticket 7"})
    assert not failed and accepted["gate"]["accepted_incomplete"]


def test_scan_of_nothing_is_incomplete(run_module, tmp_path):
    result, failed = run_module(model_scan, {"path": str(tmp_path)})
    assert failed and result["verdict"] == "incomplete"


def test_scan_rejects_unknown_format_name(run_module, tmp_path):
    result, failed = run_module(model_scan, {"path": str(tmp_path), "allowed_formats": ["safetensor"]})
    assert failed and result["error_kind"] == "policy" and "unknown format" in result["msg"]


# -- model_sign / model_verify ------------------------------------------------------------------------------

def test_sign_check_mode_writes_nothing_then_sign_is_idempotent(run_module, tree, keys, tmp_path):
    sig = str(tmp_path / "model.sig")
    result, failed = run_module(model_sign, dict(path=tree, signature=sig, private_key=keys["private_key"]),
                                check_mode=True, diff=True)
    assert not failed and result["changed"] and not os.path.exists(sig)
    assert "shard-000.bin" in result["diff"]["after"] and result["diff"]["before"] == ""
    result, failed = _sign(run_module, tree, keys, sig)
    assert not failed and result["changed"] and result["files"] == 5
    before = open(sig, "rb").read()
    again, failed = _sign(run_module, tree, keys, sig)
    assert not failed and not again["changed"]
    assert open(sig, "rb").read() == before
    ok, failed = _verify(run_module, tree, keys, sig)
    assert not failed and ok["verified"] and ok["verdict"] == "pass" and ok["coverage"]["examined"] == 5
    # the tree changed: a new signature, and the diff shows the changed digest
    open(os.path.join(tree, "shard-001.bin"), "ab").write(b"more")
    changed, failed = run_module(model_sign, dict(path=tree, signature=sig, private_key=keys["private_key"]), diff=True)
    assert not failed and changed["changed"]
    assert changed["diff"]["before"] != changed["diff"]["after"]
    assert keys["private_key"] not in json.dumps(changed)
    assert "PRIVATE KEY" not in json.dumps(changed)


@pytest.mark.parametrize("change, finding_id, path", [
    ("tamper", "model-file-modified", "shard-002.bin"),
    ("add", "model-file-unsigned", "extra.bin"),
    ("remove", "model-file-missing", "tokenizer/vocab.txt"),
])
def test_verify_names_the_changed_file(run_module, tree, keys, tmp_path, change, finding_id, path):
    sig = str(tmp_path / "model.sig")
    _sign(run_module, tree, keys, sig)
    target = os.path.join(tree, path)
    if change == "tamper":
        open(target, "r+b").write(b"X")
    elif change == "add":
        open(target, "wb").write(b"new")
    else:
        os.unlink(target)
    result, failed = _verify(run_module, tree, keys, sig)
    assert failed and not result["verified"]
    assert [(f["id"], f["location"]["path"]) for f in result["findings"]] == [(finding_id, path)]


def test_verify_with_the_wrong_key_is_critical_and_incomplete(run_module, tree, keys, tmp_path):
    sig = str(tmp_path / "model.sig")
    _sign(run_module, tree, keys, sig)
    other = models.keys(str(tmp_path / "other"))
    result, failed = _verify(run_module, tree, other, sig)
    assert failed and result["verdict"] == "fail" and not result["coverage"]["complete"]
    assert [f["id"] for f in result["findings"]] == ["model-signature-invalid"]


def test_verify_unsigned_model_is_incomplete(run_module, tree, keys, tmp_path):
    result, failed = _verify(run_module, tree, keys, str(tmp_path / "absent.sig"))
    assert failed and result["verdict"] == "fail" and result["coverage"]["examined"] == 0
    assert [f["id"] for f in result["findings"]] == ["model-signature-missing"]


def test_symlinks_are_refused_by_sign_and_verify(run_module, tree, keys, tmp_path):
    sig = str(tmp_path / "model.sig")
    _sign(run_module, tree, keys, sig)
    os.symlink("/etc/passwd", os.path.join(tree, "passwd"))
    result, failed = _sign(run_module, tree, keys, str(tmp_path / "new.sig"))
    assert failed and result["error_kind"] == "input" and "passwd" in result["msg"] and "symlink" in result["msg"]
    assert not os.path.exists(str(tmp_path / "new.sig"))
    result, failed = _verify(run_module, tree, keys, sig)
    assert failed and [(f["id"], f["location"]["path"]) for f in result["findings"]] == [("model-file-refused", "passwd")]


def test_traversal_in_ignore_paths_and_in_the_signature_is_refused(run_module, tree, keys, tmp_path):
    sig = str(tmp_path / "model.sig")
    result, failed = _sign(run_module, tree, keys, sig, ignore_paths=["../outside"])
    assert failed and "'..'" in result["msg"]
    _sign(run_module, tree, keys, sig)
    bundle = json.load(open(sig))
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["predicate"]["resources"][0]["name"] = "../../etc/passwd"
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    json.dump(bundle, open(sig, "w"))
    result, failed = _verify(run_module, tree, keys, sig)
    assert failed and [f["id"] for f in result["findings"]] == ["model-signature-hostile-path"]


def test_edited_statement_fails_the_signature(run_module, tree, keys, tmp_path):
    sig = str(tmp_path / "model.sig")
    _sign(run_module, tree, keys, sig)
    open(os.path.join(tree, "shard-000.bin"), "r+b").write(b"evil")
    bundle = json.load(open(sig))
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    import hashlib
    for resource in statement["predicate"]["resources"]:
        if resource["name"] == "shard-000.bin":
            resource["digest"] = hashlib.sha256(open(os.path.join(tree, "shard-000.bin"), "rb").read()).hexdigest()
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    json.dump(bundle, open(sig, "w"))
    result, failed = _verify(run_module, tree, keys, sig)
    assert failed and [f["id"] for f in result["findings"]] == ["model-signature-invalid"]


def test_certificate_mode_sign_verify_and_idempotence(run_module, tree, keys, tmp_path):
    sig = str(os.path.join(tree, "model.sig"))  # inside the tree: left out of the signed files
    args = dict(path=tree, signature=sig, private_key=keys["leaf_key"], signing_certificate=keys["signing_certificate"],
                certificate_chain=[keys["intermediate"]])
    result, failed = run_module(model_sign, args)
    assert not failed and result["changed"] and result["files"] == 5
    again, failed = run_module(model_sign, args)
    assert not failed and not again["changed"]
    ok, failed = run_module(model_verify, dict(path=tree, signature=sig, certificate_chain=[keys["root"], keys["intermediate"]]))
    assert not failed and ok["verified"] and "model signer" in ok["signer"]
    untrusted = models.keys(str(tmp_path / "other"))
    bad, failed = run_module(model_verify, dict(path=tree, signature=sig, certificate_chain=[untrusted["root"]]))
    assert failed and [f["id"] for f in bad["findings"]] == ["model-signature-invalid"]


def test_encrypted_key_and_wrong_password(run_module, tree, tmp_path):
    locked = models.keys(str(tmp_path / "locked"), password="s3cret-pass")
    sig = str(tmp_path / "model.sig")
    result, failed = run_module(model_sign, dict(path=tree, signature=sig, private_key=locked["private_key"],
                                                 password="s3cret-pass"))
    assert not failed and result["changed"]
    again, failed = run_module(model_sign, dict(path=tree, signature=sig, private_key=locked["private_key"],
                                                password="s3cret-pass"))
    assert not failed and not again["changed"]
    wrong, failed = run_module(model_sign, dict(path=tree, signature=str(tmp_path / "w.sig"),
                                                private_key=locked["private_key"], password="Qx7-not-it"))
    assert failed and wrong["error_kind"] == "input" and "Incorrect password" in wrong["msg"]
    assert "Qx7-not-it" not in json.dumps(wrong) and "s3cret-pass" not in json.dumps(again)
    shutil.rmtree(str(tmp_path / "locked"))


def test_single_file_sign_verify_and_tamper(run_module, tree, keys, tmp_path):
    target = os.path.join(tree, "config.json")
    sig = str(tmp_path / "config.sig")
    result, failed = _sign(run_module, target, keys, sig)
    assert not failed and result["changed"] and result["files"] == 1
    ok, failed = _verify(run_module, target, keys, sig)
    assert not failed and ok["verified"]
    open(target, "a").write(" ")
    bad, failed = _verify(run_module, target, keys, sig)
    assert failed and [f["id"] for f in bad["findings"]] == ["model-file-modified"]


def test_sign_of_nothing_is_refused_and_writes_nothing(run_module, keys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".git").mkdir()
    (empty / ".git" / "HEAD").write_text("ref: main\n")
    result, failed = _sign(run_module, str(empty), keys, str(tmp_path / "empty.sig"))
    assert failed and result["error_kind"] == "input" and "no files to sign" in result["msg"]
    assert not os.path.exists(str(tmp_path / "empty.sig"))


def test_garbage_signature_is_a_critical_finding(run_module, tree, keys, tmp_path):
    sig = tmp_path / "garbage.sig"
    sig.write_text('{"dsseEnvelope": {"payload": "bm90IGpzb24="}}')
    result, failed = _verify(run_module, tree, keys, str(sig))
    assert failed and [f["id"] for f in result["findings"]] == ["model-signature-invalid"]
    assert result["coverage"]["examined"] == 0


@pytest.mark.parametrize("signed_ignore", [["shard-000.bin"], ["tokenizer"]])
def test_verify_does_not_take_the_signatures_ignore_paths(run_module, tree, keys, tmp_path, signed_ignore):
    # A signature made with ignore_paths leaves those files unsigned; the library then skips them on verify.
    sig = str(tmp_path / "model.sig")
    _sign(run_module, tree, keys, sig, ignore_paths=signed_ignore)
    for name, full in models_files(tree):
        if name.startswith(signed_ignore[0]):
            open(full, "r+b").write(b"evil")
    result, failed = _verify(run_module, tree, keys, sig)
    assert failed and not result["verified"]
    assert {f["id"] for f in result["findings"]} == {"model-file-unsigned"}
    assert all(f["location"]["path"].startswith(signed_ignore[0]) for f in result["findings"])
    # the library joins the signature's ignore paths to the root: absolute and "." ones count too
    files = models_files(tree)
    assert [f["location"]["path"] for f in signing._unsigned_by_signature(tree, files, [os.path.join(tree, "config.json")])] == ["config.json"]
    assert len(signing._unsigned_by_signature(tree, files, ["."])) == len(files)
    assert signing._unsigned_by_signature(tree, files, ["/elsewhere", ".git"]) == []
    # the strict twin: the verifier ignores the same paths on purpose, and the rest verifies
    ok, failed = _verify(run_module, tree, keys, sig, ignore_paths=signed_ignore)
    assert not failed and ok["verified"], ok["msg"]


def models_files(root):
    return tree_files(root)[0]
