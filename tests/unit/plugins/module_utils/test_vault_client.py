"""Error mapping, late-binding environment, retry policies and connection checks (no network)."""

import hvac.exceptions as hx
import pytest
import requests
import responses

from ansible_collections.ainative.security.plugins.module_utils.core.errors import DependencyError
from ansible_collections.ainative.security.plugins.module_utils.vault import client as vault_client
from ansible_collections.ainative.security.plugins.module_utils.vault.client import (
    apply_late_binding_env,
    map_error,
    retry_policy,
    validate_connection,
)
from ansible_collections.ainative.security.plugins.module_utils.vault.errors import (
    VaultError,
    VaultInvalidToken,
    VaultOptionError,
    VaultPermissionDenied,
)


def hv(cls, *errors):
    return cls(message=", ".join(errors) + ", on get http://x/v1/p", errors=list(errors))


@pytest.mark.parametrize("exc, operation, kind, words", [
    (hv(hx.Forbidden, "1 error occurred:\n\t* permission denied\n\n"), "issue database credentials",
     "permission_denied", ["permission denied for issue database credentials", "policy"]),
    (hv(hx.InvalidRequest, "unknown role: nope"), "issue database credentials", "unknown_role", ["nope", "role name"]),
    (hv(hx.InvalidPath, 'no handler for route "dbx/creds/r". route entry not found.'), "issue database credentials",
     "not_found", ["engine_mount_point"]),
    (hv(hx.InvalidRequest, "invalid lease"), "lease lookup", "lease_not_found", ["revoked, it expired"]),
    (hv(hx.InvalidRequest, "lease not found or lease is not renewable"), "lease renew", "lease_not_renewable",
     ["issue new credentials"]),
    (hv(hx.InvalidRequest, "lease is not renewable"), "lease renew", "lease_not_renewable", ["cannot renew"]),
    (hv(hx.VaultDown, "Vault is sealed"), "issue database credentials", "sealed", ["sealed", "unseal"]),
    (hv(hx.VaultDown, "error performing token check: Vault is sealed"), "login (approle)", "sealed", ["unseal"]),
    (hv(hx.RateLimitExceeded, "node is in standby mode"), "lease renew", "standby", ["active node"]),
    (hv(hx.RateLimitExceeded, "request path \"x\": rate limit quota exceeded"), "lease renew", "rate_limited",
     ["rate"]),
    (hv(hx.VaultNotInitialized, "Vault is not initialized"), "lease renew", "not_initialized", ["operator init"]),
    (hv(hx.InvalidRequest, "invalid role or secret ID"), "login (approle)", "login_failed", ["credentials"]),
    (hv(hx.InvalidRequest, "invalid username or password"), "login (userpass)", "login_failed", ["credentials"]),
    (hv(hx.InvalidRequest, 'role "nope" could not be found'), "login (jwt)", "unknown_role", ["role_id"]),
    (hv(hx.InvalidPath, "no handler for route"), "login (kubernetes)", "not_found", ["mount_point"]),
    (hv(hx.InvalidPath, 'no handler for route "auth/nope/login". route entry not found.'), "login (approle)",
     "not_found", ["no auth method answers at auth mount nope", "mount_point"]),
    (hv(hx.Forbidden, "permission denied"), "token lookup", "invalid_token", ["does not accept the token"]),
    (hv(hx.Forbidden, "permission denied"), "login (approle)", "not_found", ["auth mount nope", "mount_point"]),
    (hv(hx.Forbidden, "permission denied"), "login (kubernetes)", "login_failed", ["mount_point", "service acc"]),
    (hv(hx.BadGateway, "connection refused by database"), "issue database credentials", "upstream_error",
     ["backend"]),
    (hv(hx.InternalServerError, "boom"), "lease renew", "server_error", ["boom"]),
    (hv(hx.InvalidRequest, "missing lease_id"), "lease renew", "invalid_request", ["missing lease_id"]),
])
def test_hvac_errors_map_to_kinds(exc, operation, kind, words):
    subject = "auth mount nope" if operation.startswith("login") else "database/creds/readonly"
    err = map_error(exc, operation, "database/creds/readonly", "http://vault:8200", subject)
    assert isinstance(err, VaultError)
    assert err.kind == kind, err.msg
    for word in words:
        assert word in err.msg, err.msg
    assert "Traceback" not in err.msg and "\n" not in err.msg
    if kind == "not_found" and operation.startswith("login"):
        assert "credentials" not in err.msg  # a wrong mount is not a bad secret


def test_lease_messages_name_the_lease():
    err = map_error(hv(hx.InvalidRequest, "invalid lease"), "lease lookup", "sys/leases/lookup", None,
                    "lease database/creds/ro/abc")
    assert err.kind == "lease_not_found" and "lease database/creds/ro/abc not found" in err.msg
    assert "sys/leases/lookup not found" not in err.msg


TLS_TEXT = ("HTTPSConnectionPool(host='127.0.0.1', port=8200): Max retries exceeded with url: "
            "/v1/auth/token/lookup-self (Caused by SSLError(SSLCertVerificationError(1, '[SSL: "
            "CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain "
            "(_ssl.c:1006)')))")


def test_tls_reason_is_whole():
    err = map_error(requests.exceptions.SSLError(TLS_TEXT), "token lookup", "auth/token/lookup-self", "https://v")
    assert err.kind == "tls"
    assert "certificate verify failed: self-signed certificate in certificate chain;" in err.msg
    err = map_error(requests.exceptions.SSLError("x" * 150 + " wordthatmustnotbecut" * 10), "x", "p", "https://v")
    assert all(word in ("x" * 150, "wordthatmustnotbecut", "...") for word in err.msg.split(": ", 1)[1]
               .split(";")[0].split())


def test_transport_errors():
    err = map_error(requests.exceptions.ConnectionError("[Errno 111] Connection refused"), "login (approle)",
                    "auth/approle/login", "http://127.0.0.1:1")
    assert err.kind == "unreachable" and "VAULT_ADDR" in err.msg and "127.0.0.1:1" in err.msg
    err = map_error(requests.exceptions.SSLError("certificate verify failed"), "x", "p", "https://v")
    assert err.kind == "tls" and "ca_cert" in err.msg
    err = map_error(requests.exceptions.ReadTimeout("read timed out"), "x", "p")
    assert err.kind == "timeout"
    err = map_error(KeyError("weird"), "x", "p")
    assert err.kind == "unexpected"


def test_late_binding_env_fills_only_unset():
    env = {"VAULT_ADDR": "https://env:8200", "BAO_ADDR": "https://bao:8200", "VAULT_NAMESPACE": "ns1",
           "BAO_CACERT": "/ca.pem"}
    opts = apply_late_binding_env({"url": None, "namespace": "given", "ca_cert": None}, env)
    assert opts == {"url": "https://env:8200", "namespace": "given", "ca_cert": "/ca.pem"}
    opts = apply_late_binding_env({"url": "https://task:8200"}, env)
    assert opts["url"] == "https://task:8200"
    assert apply_late_binding_env({}, {"BAO_ADDR": "https://bao"})["url"] == "https://bao"


@pytest.mark.parametrize("options, message", [
    ({}, "VAULT_ADDR"),
    ({"url": "vault:8200"}, "not an http(s) URL"),
    ({"url": "https://v", "ca_cert": "/nonexistent/ca.pem"}, "does not exist"),
    ({"url": "https://v", "timeout": 0}, "positive"),
    ({"url": "https://v", "retries": -1}, "0 or more"),
])
def test_validate_connection(options, message):
    with pytest.raises(VaultOptionError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        validate_connection(options)
    assert err.value.kind == "invalid_option"


def test_retry_policies():
    safe = retry_policy(3, idempotent=True)
    assert safe.total == 3 and safe.status == 3
    assert set(safe.status_forcelist) == {412, 429, 500, 502, 503}
    assert safe.allowed_methods is None  # PUT/POST lease calls are idempotent too
    minting = retry_policy(3, idempotent=False)
    assert minting.connect == 3 and minting.read == 0 and minting.status == 0
    assert not minting.status_forcelist
    assert not minting.is_retry("GET", 503)


def test_connection_switches_modes_and_records_nothing_secret():
    conn = vault_client.VaultConnection({"url": "http://127.0.0.1:8200", "retries": 2})
    assert conn.session.adapters["http://"].max_retries.status == 2
    with conn.mode(False):
        assert conn.session.adapters["http://"].max_retries.status == 0
    assert conn.session.adapters["http://"].max_retries.status == 2
    assert conn.session.verify is True


def test_validate_certs_false_and_ca(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    conn = vault_client.VaultConnection({"url": "https://v", "ca_cert": str(ca)})
    assert conn.session.verify == str(ca)
    conn = vault_client.VaultConnection({"url": "https://v", "validate_certs": False})
    assert conn.session.verify is False


def test_call_maps_errors():
    conn = vault_client.VaultConnection({"url": "http://127.0.0.1:8200"})

    def boom():
        raise hx.Forbidden(message="permission denied", errors=["permission denied"])
    with pytest.raises(VaultPermissionDenied) as err:
        conn.call(boom, "lease revoke", "sys/leases/revoke")
    assert err.value.kind == "permission_denied"


@responses.activate
def test_denied_token_is_checked_before_blaming_the_policy():
    url = "http://127.0.0.1:8200"
    responses.add(responses.GET, url + "/v1/database/creds/ro", status=403, json={"errors": ["permission denied"]})
    responses.add(responses.GET, url + "/v1/auth/token/lookup-self", status=403,
                  json={"errors": ["permission denied"]})
    conn = vault_client.connect({"url": url, "token": "s.bogus"})
    with pytest.raises(VaultInvalidToken) as err:
        conn.call(lambda: conn.client.secrets.database.generate_credentials("ro"), "issue database credentials",
                  "database/creds/ro", idempotent=False)
    assert "does not accept the token" in err.value.msg and "policy" not in err.value.msg.split("(")[0]
    # A valid token that lacks the capability is a policy problem.
    responses.replace(responses.GET, url + "/v1/auth/token/lookup-self", json={"data": {"policies": ["default"]}})
    with pytest.raises(VaultPermissionDenied) as err:
        conn.call(lambda: conn.client.secrets.database.generate_credentials("ro"), "issue database credentials",
                  "database/creds/ro", idempotent=False)
    assert err.value.kind == "permission_denied" and "policies do not allow" in err.value.msg


def test_missing_hvac(monkeypatch):
    monkeypatch.setattr(vault_client, "hvac", None)
    with pytest.raises(DependencyError) as err:
        vault_client.connect({"url": "https://v"})
    assert err.value.kind == "missing_library" and "pip install hvac" in err.value.msg


def test_doc_fragment_lists_every_connection_option():
    """The vault action group shares exactly these options: the fragment must document each, as specified."""
    import yaml
    from ansible_collections.ainative.security.plugins.doc_fragments.vault_connection import ModuleDocFragment
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert sorted(documented) == sorted(vault_client.CONNECTION_ARGSPEC)
    for name, spec in vault_client.CONNECTION_ARGSPEC.items():
        for key in ("type", "default", "aliases", "choices"):
            assert documented[name].get(key) == spec.get(key), (name, key)
