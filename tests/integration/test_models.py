"""model_scan, model_sign and model_verify through ansible-playbook, with interop both ways against the
model_signing CLI (a signature the CLI made verifies with model_verify; one model_sign made verifies with
the CLI)."""

import os
import shutil
import subprocess

import pytest

from lab import models

PLAYBOOKS = os.path.join(os.path.dirname(__file__), "playbooks", "models")
CLI = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   ".venv", "bin", "model_signing")


def _cli(*argv):
    return subprocess.run([CLI] + list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("models"))
    keys = models.keys(os.path.join(work, "keys"))
    scan = os.path.join(work, "scan")
    os.makedirs(scan)
    with open(os.path.join(scan, "evil.pkl"), "wb") as handle:
        handle.write(models.evil_pickle())
    with open(os.path.join(scan, "clean.pkl"), "wb") as handle:
        handle.write(models.clean_pickle())
    models.torch_zip(os.path.join(scan, "evil.pt"), models.evil_pickle())
    models.torch_zip(os.path.join(scan, "clean.pt"), models.clean_pickle())
    models.keras_file(os.path.join(scan, "evil.keras"), True)
    models.keras_file(os.path.join(scan, "clean.keras"), False)
    clean = os.path.join(work, "clean")
    os.makedirs(clean)
    models.safetensors_file(os.path.join(clean, "model.safetensors"))
    models.model_tree(os.path.join(work, "model"), files=3, size=2048)
    cli_model = models.model_tree(os.path.join(work, "cli-model"), files=3, size=2048)
    signed = _cli("sign", "key", cli_model, "--private_key", keys["private_key"],
                  "--signature", os.path.join(work, "cli-key.sig"))
    assert signed.returncode == 0, signed.stdout
    signed = _cli("sign", "certificate", cli_model, "--private_key", keys["leaf_key"],
                  "--signing_certificate", keys["signing_certificate"], "--certificate_chain", keys["intermediate"],
                  "--signature", os.path.join(work, "cli-cert.sig"))
    assert signed.returncode == 0, signed.stdout
    tampered = os.path.join(work, "tampered")
    shutil.copytree(cli_model, tampered)
    with open(os.path.join(tampered, "shard-000.bin"), "r+b") as handle:
        handle.write(b"X")
    with open(os.path.join(tampered, "extra.bin"), "wb") as handle:
        handle.write(b"added")
    os.unlink(os.path.join(tampered, "tokenizer", "vocab.txt"))
    # what `model_signing sign key --allow_symlinks` does, in process (a CLI start costs seconds): it signs what
    # the link points to, outside the folder; model_verify refuses the tree
    from model_signing import hashing, signing
    linked = os.path.join(work, "linked")
    shutil.copytree(cli_model, linked)
    os.symlink("/etc/hostname", os.path.join(linked, "outside"))
    signing.Config().use_elliptic_key_signer(private_key=keys["private_key"]).set_hashing_config(
        hashing.Config().set_allow_symlinks(True)).sign(linked, os.path.join(work, "linked.sig"))
    return {"work": work, "keys": keys}


def test_scan_sign_verify_and_cli_interop(playbook, work):
    result = playbook(os.path.join(PLAYBOOKS, "models.yml"), extra_vars=work, verbosity=1)
    assert result.rc == 0, result
    assert "PRIVATE KEY" not in result.stdout
    assert "Traceback" not in result.stdout
    # the other way: what model_sign wrote verifies with the CLI (certificate mode: unit tests, to save a CLI start)
    keys, root = work["keys"], work["work"]
    verified = _cli("verify", "key", os.path.join(root, "model"), "--signature", os.path.join(root, "model.sig"),
                    "--public_key", keys["public_key"])
    assert verified.returncode == 0, verified.stdout


def test_dataset_manifest_signature_is_checked_before_the_digests(playbook, work, tmp_path):
    data = models.model_tree(str(tmp_path / "data"), files=3, size=1024)
    other = models.keys(str(tmp_path / "other-keys"))
    result = playbook(os.path.join(PLAYBOOKS, "signed_manifest.yml"),
                      extra_vars={"data": data, "keys": work["keys"], "other_keys": other})
    assert result.rc == 0, result
    assert "PRIVATE KEY" not in result.stdout
