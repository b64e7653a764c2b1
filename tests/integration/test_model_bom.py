"""model_bom through ansible-playbook: a model signed by the real model_sign module and a dataset pinned by
dataset_hash_verify; the BOM is checked against the strict CycloneDX 1.6 schema shipped with
cyclonedx-python-lib."""

import hashlib
import json
import os

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from lab import models

PLAYBOOK = os.path.join(os.path.dirname(__file__), "playbooks", "models", "model_bom.yml")


def test_bom_of_a_signed_model_is_valid_idempotent_and_refused_when_tampered(playbook, tmp_path):
    work = str(tmp_path)
    keys = models.keys(os.path.join(work, "keys"))
    models.model_tree(os.path.join(work, "model"), files=3, size=2048)
    models.model_tree(os.path.join(work, "data"), files=2, size=256)
    os.makedirs(os.path.join(work, "bom"))
    result = playbook(PLAYBOOK, extra_vars={"work": work, "keys": keys})
    assert result.rc == 0, result
    assert "PRIVATE KEY" not in result.stdout and "Traceback" not in result.stdout
    path = os.path.join(work, "bom", "support-llm.cdx.json")
    with open(path) as handle:
        text = handle.read()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    doc = json.loads(text)
    with open(keys["public_key"], "rb") as handle:
        fingerprint = hashlib.sha256(handle.read()).hexdigest()
    model = doc["metadata"]["component"]
    props = dict((p["name"], p["value"]) for p in model["properties"])
    assert model["type"] == "machine-learning-model" and props["ainative:signer:key-sha256"] == fingerprint
    assert [(c["type"], c["name"]) for c in doc["components"]] == [("data", "tickets")]
    assert {"ref": "model", "dependsOn": ["dataset:tickets"]} in doc["dependencies"]
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert not os.path.exists(os.path.join(work, "bom", "tampered.cdx.json"))
