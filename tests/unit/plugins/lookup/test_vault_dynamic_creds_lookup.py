"""The lookup is a thin wrapper: options in, one dict per term out, VaultError turned into AnsibleError."""

import pytest
import yaml
from ansible import constants as C
from ansible.errors import AnsibleError, AnsibleOptionsError

from ansible_collections.ainative.security.plugins.doc_fragments.vault_connection import ModuleDocFragment
from ansible_collections.ainative.security.plugins.lookup import vault_dynamic_creds as lookup_mod
from ansible_collections.ainative.security.plugins.module_utils.vault_client import VaultError


def option_definitions():
    """The lookup's options as the plugin loader would assemble them (its doc plus both fragments)."""
    options = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    for name, extra in yaml.safe_load(ModuleDocFragment.PLUGINS)["options"].items():
        options[name].update(extra)
    options.update(yaml.safe_load(lookup_mod.DOCUMENTATION)["options"])
    return options


DB_BODY = {"lease_id": "database/creds/ro/abc", "lease_duration": 60, "renewable": True,
           "data": {"username": "v-ro-1", "password": "pw-1"}}


class FakeConn(object):
    def __init__(self):
        self.calls = []

    def request(self, method, path, operation, json=None, idempotent=True):
        self.calls.append((method, path, idempotent))
        if "missing" in path:
            raise VaultError("unknown role: missing", kind="unknown_role")
        return DB_BODY


@pytest.fixture
def lookup(monkeypatch):
    conn = FakeConn()
    seen = {}

    def fake_connect(options, login=True):
        seen.update(options)
        return conn
    monkeypatch.setattr(lookup_mod, "connect", fake_connect)
    plugin = lookup_mod.LookupModule()
    plugin._load_name = "ainative.security.vault_dynamic_creds"
    C.config.initialize_plugin_configuration_definitions("lookup", plugin._load_name, option_definitions())
    return plugin, conn, seen


def test_one_dict_per_term(lookup):
    plugin, conn, seen = lookup
    out = plugin.run(["ro", "rw"], variables={}, url="http://127.0.0.1:8200", auth_method="approle", role_id="r",
                     secret_id="s", engine_mount_point="db")
    assert [item["credentials"]["username"] for item in out] == ["v-ro-1", "v-ro-1"]
    assert out[0]["lease_id"] == "database/creds/ro/abc" and out[0]["expires_at"]
    assert [c[1] for c in conn.calls] == ["db/creds/ro", "db/creds/rw"]
    assert seen["auth_method"] == "approle" and seen["validate_certs"] is True and seen["retries"] == 3


def test_variables_use_community_names(lookup):
    plugin, seen = lookup[0], lookup[2]
    plugin.run(["ro"], variables={"ansible_hashi_vault_url": "http://v:8200", "ansible_hashi_vault_token": "s.x"})
    assert seen["url"] == "http://v:8200" and seen["token"] == "s.x"


def test_errors(lookup):
    plugin = lookup[0]
    with pytest.raises(AnsibleError, match="unknown role: missing"):
        plugin.run(["missing"], variables={}, url="http://127.0.0.1:8200", token="s.x")
    with pytest.raises(AnsibleOptionsError, match="may only hold"):
        plugin.run(["../x"], variables={}, url="http://127.0.0.1:8200", token="s.x")
