"""The lookup is a thin wrapper: options in, one dict per term out, Vault errors turned into AnsibleError."""

import pytest
import responses
import yaml
from ansible import constants as C
from ansible.errors import AnsibleError, AnsibleOptionsError

from ansible_collections.ainative.security.plugins.doc_fragments.vault_connection import ModuleDocFragment
from ansible_collections.ainative.security.plugins.lookup import vault_dynamic_creds as lookup_mod
from ansible_collections.ainative.security.plugins.module_utils.vault.client import connect


def option_definitions():
    """The lookup's options as the plugin loader would assemble them (its doc plus both fragments)."""
    options = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    for name, extra in yaml.safe_load(ModuleDocFragment.PLUGINS)["options"].items():
        options[name].update(extra)
    options.update(yaml.safe_load(lookup_mod.DOCUMENTATION)["options"])
    return options


DB_BODY = {"lease_id": "database/creds/ro/abc", "lease_duration": 60, "renewable": True,
           "data": {"username": "v-ro-1", "password": "pw-1"}}


@pytest.fixture
def lookup(monkeypatch):
    """(plugin, the paths Vault was asked for, the options the connection got)."""
    mock = responses.RequestsMock(assert_all_requests_are_fired=False)
    mock.start()
    for host in ("http://127.0.0.1:8200", "http://v:8200"):
        for path in ("db/creds/ro", "db/creds/rw", "database/creds/ro"):
            mock.add(responses.GET, "%s/v1/%s" % (host, path), json=DB_BODY)
        mock.add(responses.GET, host + "/v1/database/creds/missing", status=400,
                 json={"errors": ["unknown role: missing"]})
        mock.add(responses.POST, host + "/v1/auth/approle/login", json={"auth": {"client_token": "s.x"}})
    seen = {}

    def recording_connect(options, login=True):
        seen.update(options)
        return connect(options, login)
    monkeypatch.setattr(lookup_mod, "connect", recording_connect)
    plugin = lookup_mod.LookupModule()
    plugin._load_name = "ainative.security.vault_dynamic_creds"
    C.config.initialize_plugin_configuration_definitions("lookup", plugin._load_name, option_definitions())
    yield plugin, mock, seen
    mock.stop()
    mock.reset()


def test_one_dict_per_term(lookup):
    plugin, mock, seen = lookup
    out = plugin.run(["ro", "rw"], variables={}, url="http://127.0.0.1:8200", auth_method="approle", role_id="r",
                     secret_id="s", engine_mount_point="db")
    assert [item["credentials"]["username"] for item in out] == ["v-ro-1", "v-ro-1"]
    assert out[0]["lease_id"] == "database/creds/ro/abc" and out[0]["expires_at"]
    assert [c.request.path_url for c in mock.calls] == ["/v1/auth/approle/login", "/v1/db/creds/ro", "/v1/db/creds/rw"]
    assert seen["auth_method"] == "approle" and seen["validate_certs"] is True and seen["retries"] == 3


def test_variables_use_community_names(lookup):
    plugin, seen = lookup[0], lookup[2]
    plugin.run(["ro"], variables={"ansible_hashi_vault_url": "http://v:8200", "ansible_hashi_vault_token": "s.x"})
    assert seen["url"] == "http://v:8200" and seen["token"] == "s.x"


def test_errors(lookup):
    plugin = lookup[0]
    with pytest.raises(AnsibleError, match="unknown role: missing") as err:
        plugin.run(["missing"], variables={}, url="http://127.0.0.1:8200", token="s.x")
    assert not isinstance(err.value, AnsibleOptionsError)
    with pytest.raises(AnsibleOptionsError, match="may only hold"):
        plugin.run(["../x"], variables={}, url="http://127.0.0.1:8200", token="s.x")
