"""model_bom through its module: a CycloneDX ML-BOM of a real signed model (model_signing, offline keys) and
real dataset manifests, validated against the library's strict CycloneDX schema."""

import hashlib
import json
import os
import shutil

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from model_signing import signing

from ansible_collections.ainative.security.plugins.module_utils.integrity import manifest as manifests
from ansible_collections.ainative.security.plugins.module_utils.models import bom
from ansible_collections.ainative.security.plugins.modules import model_bom
from lab import models


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return models.keys(str(tmp_path_factory.mktemp("bom-keys")))


@pytest.fixture
def work(tmp_path, keys):
    model = models.model_tree(str(tmp_path / "model"), files=2, size=512)
    signing.Config().use_elliptic_key_signer(private_key=keys["private_key"]).sign(model, str(tmp_path / "model.sig"))
    text = models.model_tree(str(tmp_path / "tickets"), files=2, size=128)
    lines = "".join("%s  %s\n" % (_sha256(os.path.join(text, n)), n) for n in _files(text))
    (tmp_path / "tickets.sha256").write_text(lines)
    images = models.model_tree(str(tmp_path / "images"), files=1, size=64)
    entries = dict((n, (_sha256(os.path.join(images, n)), os.path.getsize(os.path.join(images, n)))) for n in _files(images))
    (tmp_path / "images.json").write_bytes(manifests.render_json_manifest("sha256", entries))
    os.makedirs(str(tmp_path / "out"))
    return {"dir": tmp_path, "model": model, "signature": str(tmp_path / "model.sig"), "keys": keys,
            "datasets": [{"path": text, "manifest": str(tmp_path / "tickets.sha256"), "name": "tickets"},
                         {"path": images, "manifest": str(tmp_path / "images.json")}],
            "dest": str(tmp_path / "out" / "model.cdx.json")}


def _files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _s, names in os.walk(root) for f in names)


def _sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _args(work, **extra):
    args = dict(path=work["model"], name="support-llm", version="2026.12", signature=work["signature"],
                datasets=work["datasets"], dest=work["dest"])
    args.update(extra)
    return args


def _load(path):
    with open(path) as handle:
        text = handle.read()
    return text, json.loads(text)


def _props(component):
    return dict((p["name"], p["value"]) for p in component.get("properties", []))


def test_bom_of_a_signed_model_and_its_datasets_is_valid_cyclonedx(run_module, work):
    result, failed = run_module(model_bom, _args(work, public_key=work["keys"]["public_key"]))
    assert not failed, result["msg"]
    assert result["changed"] and result["written"] and result["verdict"] == "pass"
    assert result["coverage"]["examined"] == 3 and result["coverage"]["complete"]
    text, doc = _load(work["dest"])
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    model = doc["metadata"]["component"]
    assert (model["type"], model["name"], model["version"]) == ("machine-learning-model", "support-llm", "2026.12")
    files = dict((c["name"], c["hashes"]) for c in model["components"])
    assert sorted(files) == _files(work["model"])
    for name, hashes in files.items():
        assert hashes == [{"alg": "SHA-256", "content": _sha256(os.path.join(work["model"], name))}]
    props = _props(model)
    assert props["ainative:digest-source"] == "signature" and props["ainative:signature:verified"] == "true"
    with open(work["keys"]["public_key"], "rb") as handle:
        assert props["ainative:signer:key-sha256"] == hashlib.sha256(handle.read()).hexdigest()
    assert result["signer"] == {"key_sha256": props["ainative:signer:key-sha256"]}
    tree = manifests.dataset_digest("sha256", dict((n, _sha256(os.path.join(work["model"], n))) for n in files))
    assert model["hashes"] == [{"alg": "SHA-256", "content": tree.split(":")[1]}] and result["tree_digest"] == tree
    data = dict((c["name"], c) for c in doc["components"])
    assert sorted(data) == ["images", "tickets"] and all(c["type"] == "data" for c in data.values())
    for name, component in data.items():
        pinned = _props(component)["ainative:manifest-digest"]
        assert component["hashes"] == [{"alg": "SHA-256", "content": pinned.split(":")[1]}]
        assert _props(component)["ainative:digest-source"] == "manifest"
    assert {"ref": "model", "dependsOn": ["dataset:images", "dataset:tickets"]} in doc["dependencies"]
    assert model["modelCard"]["modelParameters"]["datasets"] == [{"ref": "dataset:tickets"}, {"ref": "dataset:images"}]
    assert "timestamp" not in doc["metadata"]
    assert doc["serialNumber"] == result["serial_number"] and doc["serialNumber"].startswith("urn:uuid:")


def test_rerun_is_unchanged_check_mode_writes_nothing_and_diff_shows_the_change(run_module, work):
    first, failed = run_module(model_bom, _args(work))
    assert not failed and first["changed"]
    before, doc = _load(work["dest"])
    assert _props(doc["metadata"]["component"])["ainative:digest-source"] == "computed"
    assert _props(doc["metadata"]["component"])["ainative:signature:verified"] == "false"
    again, failed = run_module(model_bom, _args(work))
    assert not failed and not again["changed"] and again["serial_number"] == first["serial_number"]
    assert _load(work["dest"])[0] == before
    checked, failed = run_module(model_bom, _args(work, version="2027.01"), check_mode=True, diff=True)
    assert not failed and checked["changed"] and not checked["written"]
    assert '"version": "2026.12"' in checked["diff"]["before"] and '"version": "2027.01"' in checked["diff"]["after"]
    assert _load(work["dest"])[0] == before
    other = str(work["dir"] / "out" / "other.json")
    run_module(model_bom, _args(work, dest=other), check_mode=True)
    assert not os.path.exists(other)
    changed, failed = run_module(model_bom, _args(work, version="2027.01"))
    assert not failed and changed["changed"] and changed["serial_number"] != first["serial_number"]


def test_a_tampered_model_gets_no_bom_and_no_signer(run_module, work):
    with open(os.path.join(work["model"], "shard-000.bin"), "r+b") as handle:
        handle.write(b"X")
    result, failed = run_module(model_bom, _args(work))
    assert failed and "do not match the signature" in result["msg"] and "1 modified (first: shard-000.bin)" in result["msg"]
    result, failed = run_module(model_bom, _args(work, public_key=work["keys"]["public_key"]))
    assert failed and "does not verify" in result["msg"] and "shard-000.bin differs" in result["msg"]
    assert not os.path.exists(work["dest"])


def test_an_unsigned_extra_file_or_a_missing_one_fails(run_module, work):
    with open(os.path.join(work["model"], "extra.bin"), "wb") as handle:
        handle.write(b"added")
    result, failed = run_module(model_bom, _args(work))
    assert failed and "1 unsigned (first: extra.bin)" in result["msg"]
    os.unlink(os.path.join(work["model"], "extra.bin"))
    os.unlink(os.path.join(work["model"], "config.json"))
    result, failed = run_module(model_bom, _args(work))
    assert failed and "1 missing (first: config.json)" in result["msg"]
    assert not os.path.exists(work["dest"])


def test_a_signature_by_another_key_does_not_verify(run_module, work, tmp_path):
    other = models.keys(str(tmp_path / "other-keys"))
    result, failed = run_module(model_bom, _args(work, public_key=other["public_key"]))
    assert failed and "does not verify" in result["msg"]
    assert not os.path.exists(work["dest"])


def test_certificate_signer_subject_and_issuer(run_module, work, keys):
    signing.Config().use_certificate_signer(
        private_key=keys["leaf_key"], signing_certificate=keys["signing_certificate"],
        certificate_chain=[keys["intermediate"]]).sign(work["model"], work["signature"])
    result, failed = run_module(model_bom, _args(work, certificate_chain=[keys["root"], keys["intermediate"]],
                                                 spec_version="1.5"))
    assert not failed, result["msg"]
    text, doc = _load(work["dest"])
    assert doc["specVersion"] == "1.5" and JsonStrictValidator(SchemaVersion.V1_5).validate_str(text) is None
    props = _props(doc["metadata"]["component"])
    assert props["ainative:signer:subject"].startswith("CN=") and props["ainative:signer:issuer"] == "CN=lab intermediate"
    assert result["signer"]["issuer"] == "CN=lab intermediate" and result["signature_verified"]


def test_unreadable_manifest_is_a_miss_and_nothing_is_written(run_module, work):
    os.unlink(work["datasets"][1]["manifest"])
    result, failed = run_module(model_bom, _args(work))
    assert failed and result["verdict"] == "incomplete" and not result["written"]
    assert result["coverage"]["missed"][0]["item"] == "images"
    assert not os.path.exists(work["dest"])
    accepted, failed = run_module(model_bom, _args(work, accept_incomplete="images manifest is being rebuilt"))
    assert not failed and accepted["written"] and accepted["gate"]["accepted_incomplete"]
    doc = _load(work["dest"])[1]
    assert "images" in _props(doc["metadata"])["ainative:incomplete"]
    assert [c["name"] for c in doc["components"]] == ["tickets"]


def test_a_manifest_that_is_not_one_is_a_miss(run_module, work):
    with open(work["datasets"][0]["manifest"], "w") as handle:
        handle.write("this is not a manifest\n")
    result, failed = run_module(model_bom, _args(work))
    assert failed and result["coverage"]["missed"][0]["item"] == "tickets"


def test_single_file_model_timestamp_and_no_signature(run_module, work):
    single = os.path.join(work["model"], "config.json")
    result, failed = run_module(model_bom, dict(path=single, dest=work["dest"], timestamp="2026-12-01T10:00:00Z"))
    assert not failed, result["msg"]
    text, doc = _load(work["dest"])
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    assert doc["metadata"]["timestamp"].startswith("2026-12-01T10:00:00")
    model = doc["metadata"]["component"]
    assert model["name"] == "config.json" and model["hashes"][0]["content"] == _sha256(single)
    assert result["signer"] is None and "modelParameters" not in model["modelCard"]
    bad, failed = run_module(model_bom, dict(path=single, dest=work["dest"], timestamp="yesterday"))
    assert failed and "ISO 8601" in bad["msg"]


def test_single_file_signature(run_module, work, keys):
    single = os.path.join(work["model"], "config.json")
    sig = str(work["dir"] / "config.sig")
    signing.Config().use_elliptic_key_signer(private_key=keys["private_key"]).sign(single, sig)
    result, failed = run_module(model_bom, dict(path=single, signature=sig, dest=work["dest"],
                                                public_key=keys["public_key"]))
    assert not failed and result["digest_source"] == "signature", result["msg"]


def test_refusals(run_module, work):
    inside, failed = run_module(model_bom, _args(work, dest=os.path.join(work["model"], "bom.json")))
    assert failed and "inside the model path" in inside["msg"]
    twins = [dict(work["datasets"][0]), dict(work["datasets"][0])]
    dup, failed = run_module(model_bom, _args(work, datasets=twins))
    assert failed and "two datasets are named tickets" in dup["msg"]
    os.symlink("/etc/hostname", os.path.join(work["model"], "outside"))
    linked, failed = run_module(model_bom, _args(work))
    assert failed and "symlink" in linked["msg"]
    empty = str(work["dir"] / "empty")
    os.makedirs(empty)
    nothing, failed = run_module(model_bom, dict(path=empty, dest=work["dest"]))
    assert failed and "no model files" in nothing["msg"]
    assert not os.path.exists(work["dest"])


def test_an_invalid_bom_is_never_written(run_module, work, monkeypatch):
    class Rejecting(object):
        def __init__(self, version):
            self.version = version

        def validate_str(self, text):
            return "'modelCard' was unexpected"

    monkeypatch.setattr(bom, "JsonStrictValidator", Rejecting)
    result, failed = run_module(model_bom, _args(work))
    assert failed and "does not validate" in result["msg"] and result["error_kind"] == "input"
    assert not os.path.exists(work["dest"])


def test_file_options_apply_to_the_bom(run_module, work):
    result, failed = run_module(model_bom, _args(work, mode="0600"))
    assert result["written"]
    assert not failed and os.stat(work["dest"]).st_mode & 0o777 == 0o600
    again, failed = run_module(model_bom, _args(work, mode="0640"))
    assert not failed and again["changed"] and os.stat(work["dest"]).st_mode & 0o777 == 0o640
    shutil.rmtree(os.path.dirname(work["dest"]))
    missing, failed = run_module(model_bom, _args(work))
    assert failed and "does not exist" in missing["msg"]
