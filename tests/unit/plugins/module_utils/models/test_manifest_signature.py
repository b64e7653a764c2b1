"""verify_file_content: the signed-manifest check dataset_hash_verify runs before it trusts any digest."""

import os

import pytest

from lab import models
from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.models.signing import verify_file_content

signing = pytest.importorskip("model_signing.signing")


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return models.keys(str(tmp_path_factory.mktemp("keys")))


def _sign(path, signature, keys):
    signing.Config().use_elliptic_key_signer(private_key=keys["private_key"]).sign(path, signature)


def test_the_bytes_read_are_what_is_verified(tmp_path, keys):
    manifest = tmp_path / "manifest.json"
    manifest.write_bytes(b'{"files": []}')
    _sign(str(manifest), str(tmp_path / "m.sig"), keys)
    data = manifest.read_bytes()
    assert verify_file_content(data, str(manifest), str(tmp_path / "m.sig"), public_key=keys["public_key"])
    # The file on disk may change after the read: only the bytes the caller parses count.
    manifest.write_bytes(b'{"files": [{"path": "x"}]}')
    assert verify_file_content(data, str(manifest), str(tmp_path / "m.sig"), public_key=keys["public_key"])
    with pytest.raises(InputError, match="does not verify"):
        verify_file_content(manifest.read_bytes(), str(manifest), str(tmp_path / "m.sig"), public_key=keys["public_key"])


def test_a_signature_over_a_folder_is_not_a_manifest_signature(tmp_path, keys):
    folder = models.model_tree(str(tmp_path / "model"), files=2, size=64)
    _sign(folder, str(tmp_path / "folder.sig"), keys)
    with pytest.raises(InputError, match="signs 4 files, not one manifest"):
        verify_file_content(b"{}", os.path.join(folder, "config.json"), str(tmp_path / "folder.sig"),
                            public_key=keys["public_key"])
