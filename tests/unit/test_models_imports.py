"""model_sign and model_verify with keys or certificates never import model-signing's Sigstore signer.

Its sigstore, tuf and boto3 imports were most of a 1 GiB verify (issue 16). Each case runs the module
process as Ansible does (``python plugins/modules/NAME.py args.json``) in a fresh interpreter that records,
at exit, which of those packages were loaded; the strict twin shows the check can see them. The last cases
cover the engine's parallel path (forked workers) and a signature swapped between the read and the check.
"""

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.ainative.security.plugins.module_utils.models import signing as model_signing
from ansible_collections.ainative.security.plugins.modules import model_sign, model_verify
from lab import models

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
HEAVY = ("sigstore", "tuf", "boto3", "botocore", "securesystemslib")
# Runs a module file as __main__ and writes the heavy top-level packages still imported at exit.
LAUNCHER = """
import atexit, json, runpy, sys
heavy, out = %r, sys.argv[1]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(set(n.split(".")[0] for n in sys.modules) & set(heavy)))))
sys.argv = sys.argv[2:]
%s
"""


def _run(tmp_path, body, argv, heavy=HEAVY):
    out = tmp_path / "modules.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (COLLECTIONS, os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.run([sys.executable, "-c", LAUNCHER % (heavy, body), str(out)] + argv, env=env, cwd=str(tmp_path),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    return proc, json.loads(out.read_text())


def _module(tmp_path, name, args, heavy=HEAVY):
    path = tmp_path / ("%s-args.json" % name)
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    module = os.path.join(ROOT, "plugins", "modules", name + ".py")
    proc, heavy = _run(tmp_path, "runpy.run_path(sys.argv[0], run_name='__main__')", [module, str(path)], heavy)
    text = proc.stdout.decode("utf-8", "replace")
    return json.loads(text[text.index("{"):]), heavy


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return models.keys(str(tmp_path_factory.mktemp("keys")))


def test_key_and_certificate_sign_and_verify_import_no_sigstore(tmp_path, keys):
    tree = models.model_tree(str(tmp_path / "model"), files=2, size=256)
    signed, heavy = _module(tmp_path, "model_sign", {"path": tree, "signature": str(tmp_path / "key.sig"),
                                                     "private_key": keys["private_key"]})
    assert signed["changed"] and not signed.get("failed"), signed.get("msg")
    assert heavy == []
    verified, heavy = _module(tmp_path, "model_verify", {"path": tree, "signature": str(tmp_path / "key.sig"),
                                                         "public_key": keys["public_key"]})
    assert verified["verified"] and verified["verdict"] == "pass", verified.get("msg")
    assert heavy == []
    cert = {"path": tree, "signature": str(tmp_path / "cert.sig"), "private_key": keys["leaf_key"],
            "signing_certificate": keys["signing_certificate"], "certificate_chain": [keys["intermediate"]]}
    signed, heavy = _module(tmp_path, "model_sign", cert)
    assert signed["changed"] and heavy == []
    verified, heavy = _module(tmp_path, "model_verify", {"path": tree, "signature": str(tmp_path / "cert.sig"),
                                                         "certificate_chain": [keys["root"], keys["intermediate"]]})
    assert verified["verified"] and "model signer" in verified["signer"] and heavy == []
    # a tampered file still fails, named, without the heavy imports
    with open(os.path.join(tree, "shard-000.bin"), "r+b") as handle:
        handle.write(b"X")
    tampered, heavy = _module(tmp_path, "model_verify", {"path": tree, "signature": str(tmp_path / "key.sig"),
                                                         "public_key": keys["public_key"]})
    assert [(f["id"], f["location"]["path"]) for f in tampered["findings"]] == [("model-file-modified", "shard-000.bin")]
    assert heavy == []


def test_model_scan_imports_h5py_only_for_an_h5_file(tmp_path):
    h5py = pytest.importorskip("h5py")
    tree = models.model_tree(str(tmp_path / "model"), files=2, size=256)
    result, heavy = _module(tmp_path, "model_scan", {"path": tree}, heavy=("h5py", "numpy"))
    assert result["coverage"]["complete"] and heavy == [], result.get("msg")
    # the twin: an .h5 file is examined (and its Lambda layer found), so h5py is imported for it
    layer = {"class_name": "Lambda", "config": {"name": "lambda", "function": ["4wEA", None, None],
                                                "function_type": "lambda", "module": "__main__"}}
    with h5py.File(os.path.join(tree, "model.h5"), "w") as handle:
        handle.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": [layer]}})
    result, heavy = _module(tmp_path, "model_scan", {"path": tree}, heavy=("h5py", "numpy"))
    assert heavy == ["h5py", "numpy"] and result["coverage"]["complete"]
    assert [f["location"]["path"] for f in result["findings"]] == ["model.h5"]


def test_the_full_package_still_imports_after_the_light_path(tmp_path):
    # the strict twin: the same check sees sigstore and tuf once the whole package is imported
    body = ("from ansible_collections.ainative.security.plugins.module_utils.models import signing as ours\n"
            "ours._library()\n"
            "from model_signing import signing, verifying\n"
            "assert callable(signing.Config().use_sigstore_signer) and verifying.Config")
    proc, heavy = _run(tmp_path, body, [])
    assert proc.returncode == 0, proc.stdout
    assert "sigstore" in heavy and "tuf" in heavy


def test_a_tree_on_the_parallel_path_verifies_and_names_the_tampered_file(tmp_path, keys):
    tree = models.model_tree(str(tmp_path / "model"), files=70, size=512)  # >= 64 files: forked workers
    signature = str(tmp_path / "model.sig")
    signed, heavy = _module(tmp_path, "model_sign", {"path": tree, "signature": signature,
                                                     "private_key": keys["private_key"]})
    assert signed["files"] == 72 and heavy == []
    args = {"path": tree, "signature": signature, "public_key": keys["public_key"]}
    ok, heavy = _module(tmp_path, "model_verify", args)
    assert ok["verified"] and ok["coverage"]["examined"] == 72 and heavy == []
    with open(os.path.join(tree, "shard-069.bin"), "r+b") as handle:
        handle.write(b"X")
    os.unlink(os.path.join(tree, "shard-001.bin"))
    bad, heavy = _module(tmp_path, "model_verify", args)
    assert sorted((f["id"], f["location"]["path"]) for f in bad["findings"]) == [
        ("model-file-missing", "shard-001.bin"), ("model-file-modified", "shard-069.bin")]
    other = models.keys(str(tmp_path / "other"))
    wrong, heavy = _module(tmp_path, "model_verify", dict(args, public_key=other["public_key"]))
    assert [f["id"] for f in wrong["findings"]] == ["model-signature-invalid"] and not wrong["verified"]


def test_the_digests_compared_are_the_verified_ones(run_module, tmp_path, keys, monkeypatch):
    tree = models.model_tree(str(tmp_path / "model"), files=3, size=256)
    read, checked = str(tmp_path / "read.sig"), str(tmp_path / "checked.sig")
    args = {"path": tree, "private_key": keys["private_key"]}
    assert run_module(model_sign, dict(args, signature=checked))[0]["changed"]
    with open(os.path.join(tree, "shard-000.bin"), "r+b") as handle:
        handle.write(b"X")
    assert run_module(model_sign, dict(args, signature=read))[0]["changed"]
    # the strict twin: the signature read is the one checked, and it verifies the tree as it is now
    ok, failed = run_module(model_verify, {"path": tree, "signature": read, "public_key": keys["public_key"]})
    assert not failed and ok["verified"]
    # the attacker's: the file is swapped after the read for another valid signature (of the tree before the
    # change); the tree is compared with what verified, so the change is named
    verified_manifest = model_signing._verified_manifest
    monkeypatch.setattr(model_signing, "_verified_manifest", lambda signature, public_key, chain:
                        verified_manifest(checked, public_key, chain))
    result, failed = run_module(model_verify, {"path": tree, "signature": read, "public_key": keys["public_key"]})
    assert failed and not result["verified"]
    assert [(f["id"], f["location"]["path"]) for f in result["findings"]] == [("model-file-modified", "shard-000.bin")]
