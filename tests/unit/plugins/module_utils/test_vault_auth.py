"""Offline option validation of every Vault auth method, and their hvac login requests (canned answers)."""

import json

import pytest
import responses

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError, SourceError
from ansible_collections.ainative.security.plugins.module_utils.vault import auth as vault_auth
from ansible_collections.ainative.security.plugins.module_utils.vault.auth import AUTH_METHODS, auth_method
from ansible_collections.ainative.security.plugins.module_utils.vault.client import VaultConnection
from ansible_collections.ainative.security.plugins.module_utils.vault.errors import (
    VaultInvalidToken,
    VaultLoginFailed,
    VaultOptionError,
)

URL = "http://127.0.0.1:8200"

GOOD_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


def method(options, environ=None):
    return auth_method(dict(options), environ=environ or {})


def test_all_methods_registered():
    assert sorted(AUTH_METHODS) == ["approle", "jwt", "kubernetes", "token", "userpass"]
    for name, cls in AUTH_METHODS.items():
        assert cls.NAME == name and cls.OPTIONS


def test_unknown_method():
    with pytest.raises(VaultOptionError, match="unknown auth_method 'ldap'"):
        method({"auth_method": "ldap"})


# -- token ---------------------------------------------------------------------------------------

def test_token_from_option_wins_over_env(tmp_path):
    m = method({"auth_method": "token", "token": "s.opt", "token_path": str(tmp_path)}, {"VAULT_TOKEN": "s.env"})
    m.validate()
    assert m.options["token"] == "s.opt"


@pytest.mark.parametrize("env", [{"VAULT_TOKEN": "s.env"}, {"BAO_TOKEN": "s.env"}])
def test_token_from_env(env, tmp_path):
    m = method({"auth_method": "token", "token_path": str(tmp_path)}, env)
    m.validate()
    assert m.options["token"] == "s.env"


def test_token_from_file(tmp_path):
    (tmp_path / "tok").write_text("s.file\n")
    m = method({"auth_method": "token", "token_path": str(tmp_path), "token_file": "tok"})
    m.validate()
    assert m.options["token"] == "s.file"


def test_token_missing_names_all_sources(tmp_path):
    m = method({"auth_method": "token", "token_path": str(tmp_path)})
    with pytest.raises(VaultOptionError) as err:
        m.validate()
    assert "VAULT_TOKEN" in str(err.value) and str(tmp_path) in str(err.value)


def test_token_with_whitespace_is_refused_without_echo():
    m = method({"auth_method": "token", "token": "s.abc def"})
    with pytest.raises(VaultOptionError) as err:
        m.validate()
    assert "s.abc" not in str(err.value)


# -- approle -------------------------------------------------------------------------------------

def test_approle_needs_role_id():
    with pytest.raises(VaultOptionError, match="auth_method=approle needs role_id"):
        method({"auth_method": "approle", "secret_id": "x"}).validate()


def test_approle_secret_id_optional_and_bad_mount():
    method({"auth_method": "approle", "role_id": "r"}).validate()
    with pytest.raises(VaultOptionError, match="mount_point"):
        method({"auth_method": "approle", "role_id": "r", "mount_point": "bad mount"}).validate()


# -- jwt -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("options, message", [
    ({}, "needs role_id and jwt"),
    ({"role_id": "r"}, "needs jwt"),
    ({"jwt": GOOD_JWT}, "needs role_id"),
    ({"role_id": "r", "jwt": "not-a-jwt"}, "compact JWT"),
    ({"role_id": "r", "jwt": "a.b.c.d"}, "compact JWT"),
])
def test_jwt_validation(options, message):
    opts = {"auth_method": "jwt"}
    opts.update(options)
    with pytest.raises(VaultOptionError, match=message) as err:
        method(opts).validate()
    assert "not-a-jwt" not in str(err.value)


def test_jwt_ok():
    method({"auth_method": "jwt", "role_id": "r", "jwt": GOOD_JWT}).validate()


# -- kubernetes ----------------------------------------------------------------------------------

def test_kubernetes_reads_service_account_token(tmp_path):
    token = tmp_path / "token"
    token.write_text(GOOD_JWT + "\n")
    m = method({"auth_method": "kubernetes", "role_id": "trainer", "kubernetes_token_path": str(token)})
    m.validate()
    assert m.options["jwt"] == GOOD_JWT
    assert m.mount == "kubernetes"


def test_kubernetes_missing_file(tmp_path):
    m = method({"auth_method": "kubernetes", "role_id": "trainer",
                "kubernetes_token_path": str(tmp_path / "nope")})
    with pytest.raises(VaultOptionError, match="cannot read the service-account token"):
        m.validate()


def test_kubernetes_empty_file(tmp_path):
    token = tmp_path / "token"
    token.write_text("\n")
    with pytest.raises(VaultOptionError, match="is empty"):
        method({"auth_method": "kubernetes", "role_id": "t", "kubernetes_token_path": str(token)}).validate()


def test_kubernetes_needs_role_and_accepts_jwt_option(tmp_path):
    with pytest.raises(VaultOptionError, match="needs role_id"):
        method({"auth_method": "kubernetes"}).validate()
    method({"auth_method": "kubernetes", "role_id": "t", "jwt": GOOD_JWT,
            "kubernetes_token_path": str(tmp_path / "absent")}).validate()


# -- userpass ------------------------------------------------------------------------------------

def test_userpass_validation():
    with pytest.raises(VaultOptionError, match="needs username and password"):
        method({"auth_method": "userpass"}).validate()
    with pytest.raises(VaultOptionError, match="needs password"):
        method({"auth_method": "userpass", "username": "u"}).validate()
    with pytest.raises(VaultOptionError, match="must not contain"):
        method({"auth_method": "userpass", "username": "a/b", "password": "p"}).validate()
    method({"auth_method": "userpass", "username": "u", "password": "p"}).validate()


# -- login requests (hvac's typed auth API against canned answers) --------------------------------------

def test_errors_are_kinds_of_the_core_errors():
    assert issubclass(VaultOptionError, InputError) and VaultOptionError.kind == "invalid_option"
    assert issubclass(VaultLoginFailed, SourceError) and VaultInvalidToken.kind == "invalid_token"


AUTH_BODY = {"auth": {"client_token": "s.new", "policies": ["job-db", "default"], "lease_duration": 600,
                      "renewable": True}}


def recording(conn, seen, body):
    """A responses callback that records the request and the connection's status-retry budget at that moment."""
    def _callback(request):
        seen.append((request.method, request.path_url, json.loads(request.body or "null"),
                     conn.session.adapters["http://"].max_retries.status))
        return 200, {}, json.dumps(body)
    return _callback


@pytest.mark.parametrize("options, path, payload", [
    ({"auth_method": "approle", "role_id": "r", "secret_id": "s"}, "/v1/auth/approle/login",
     {"role_id": "r", "secret_id": "s"}),
    ({"auth_method": "approle", "role_id": "r", "mount_point": "ci/approle"}, "/v1/auth/ci/approle/login",
     {"role_id": "r", "secret_id": None}),
    ({"auth_method": "jwt", "role_id": "r", "jwt": GOOD_JWT}, "/v1/auth/jwt/login", {"role": "r", "jwt": GOOD_JWT}),
    ({"auth_method": "kubernetes", "role_id": "r", "jwt": GOOD_JWT, "mount_point": "k8s-prod"},
     "/v1/auth/k8s-prod/login", {"role": "r", "jwt": GOOD_JWT}),
    ({"auth_method": "userpass", "username": "u", "password": "p"}, "/v1/auth/userpass/login/u", {"password": "p"}),
])
@responses.activate
def test_login_requests(options, path, payload):
    conn = VaultConnection({"url": URL, "retries": 3})
    seen = []
    responses.add_callback(responses.POST, URL + path, callback=recording(conn, seen, AUTH_BODY))
    m = method(options)
    m.validate()
    facts = m.authenticate(conn)
    method_, url, body, status_retries = seen[0]
    assert (method_, url) == ("POST", path) and len(seen) == 1
    assert dict((k, v) for k, v in body.items() if v is not None) == \
        dict((k, v) for k, v in payload.items() if v is not None)
    assert status_retries == 0  # a login is never retried on a status code
    assert conn.client.token == "s.new"
    assert facts["policies"] == ["default", "job-db"] and facts["token_ttl"] == 600
    assert "s.new" not in repr(facts)


@responses.activate
def test_login_without_token_is_an_error():
    conn = VaultConnection({"url": URL})
    responses.add(responses.POST, URL + "/v1/auth/approle/login", json={"auth": None})
    m = method({"auth_method": "approle", "role_id": "r"})
    with pytest.raises(VaultLoginFailed) as err:
        m.authenticate(conn)
    assert err.value.kind == "login_failed" and "auth mount approle" in err.value.msg


@responses.activate
def test_token_validate_looks_up_self():
    conn = VaultConnection({"url": URL})
    responses.add(responses.GET, URL + "/v1/auth/token/lookup-self",
                  json={"data": {"policies": ["root"], "ttl": 0, "renewable": False}})
    m = method({"auth_method": "token", "token": "s.t", "token_validate": True})
    m.validate()
    facts = m.authenticate(conn)
    assert responses.calls[0].request.headers["X-Vault-Token"] == "s.t"
    assert facts["policies"] == ["root"] and conn.client.token == "s.t"


@responses.activate
def test_token_validate_with_an_unknown_token():
    conn = VaultConnection({"url": URL})
    responses.add(responses.GET, URL + "/v1/auth/token/lookup-self", status=403,
                  json={"errors": ["permission denied"]})
    m = method({"auth_method": "token", "token": "s.bogus", "token_validate": True})
    m.validate()
    with pytest.raises(VaultInvalidToken) as err:
        m.authenticate(conn)
    assert "does not accept the token" in err.value.msg and "s.bogus" not in err.value.msg


def test_jwt_shape_regex():
    assert vault_auth.JWT_SHAPE.match(GOOD_JWT)
    assert not vault_auth.JWT_SHAPE.match("a.b")


@responses.activate
def test_login_sends_no_ambient_token(monkeypatch, tmp_path):
    """hvac would pick up VAULT_TOKEN or ~/.vault-token; a login must not carry a stale token along."""
    monkeypatch.setenv("VAULT_TOKEN", "s.ambient")
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".vault-token").write_text("s.file")
    conn = VaultConnection({"url": URL})
    responses.add(responses.POST, URL + "/v1/auth/approle/login", json=AUTH_BODY)
    method({"auth_method": "approle", "role_id": "r", "secret_id": "s"}).authenticate(conn)
    assert "X-Vault-Token" not in responses.calls[0].request.headers
