"""Offline option validation of every Vault auth method, and their login requests (no network)."""

import pytest

from ansible_collections.ainative.security.plugins.module_utils import vault_auth
from ansible_collections.ainative.security.plugins.module_utils.vault_auth import (
    AUTH_METHODS,
    VaultOptionError,
    auth_method,
)

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


# -- login requests (fake connection: paths and payloads) ------------------------------------------

class FakeClient(object):
    token = None


class FakeConn(object):
    def __init__(self, body):
        self.body = body
        self.calls = []
        self.client = FakeClient()

    def request(self, method, path, operation, json=None, idempotent=True):
        self.calls.append((method, path, json, idempotent))
        return self.body


AUTH_BODY = {"auth": {"client_token": "s.new", "policies": ["job-db", "default"], "lease_duration": 600,
                      "renewable": True}}


@pytest.mark.parametrize("options, path, payload", [
    ({"auth_method": "approle", "role_id": "r", "secret_id": "s"}, "auth/approle/login",
     {"role_id": "r", "secret_id": "s"}),
    ({"auth_method": "approle", "role_id": "r", "mount_point": "ci/approle"}, "auth/ci/approle/login",
     {"role_id": "r"}),
    ({"auth_method": "jwt", "role_id": "r", "jwt": GOOD_JWT}, "auth/jwt/login", {"role": "r", "jwt": GOOD_JWT}),
    ({"auth_method": "kubernetes", "role_id": "r", "jwt": GOOD_JWT, "mount_point": "k8s-prod"},
     "auth/k8s-prod/login", {"role": "r", "jwt": GOOD_JWT}),
    ({"auth_method": "userpass", "username": "u", "password": "p"}, "auth/userpass/login/u", {"password": "p"}),
])
def test_login_requests(options, path, payload):
    conn = FakeConn(AUTH_BODY)
    m = method(options)
    m.validate()
    facts = m.authenticate(conn)
    assert conn.calls == [("post", path, payload, False)]  # a login is never retried on a status code
    assert conn.client.token == "s.new"
    assert facts["policies"] == ["default", "job-db"] and facts["token_ttl"] == 600
    assert "s.new" not in repr(facts)


def test_login_without_token_is_an_error():
    from ansible_collections.ainative.security.plugins.module_utils.vault_client import VaultError
    conn = FakeConn({"auth": None})
    m = method({"auth_method": "approle", "role_id": "r"})
    with pytest.raises(VaultError) as err:
        m.authenticate(conn)
    assert err.value.kind == "login_failed"


def test_token_validate_looks_up_self():
    conn = FakeConn({"data": {"policies": ["root"], "ttl": 0, "renewable": False}})
    m = method({"auth_method": "token", "token": "s.t", "token_validate": True})
    m.validate()
    facts = m.authenticate(conn)
    assert conn.calls[0][:2] == ("get", "auth/token/lookup-self")
    assert facts["policies"] == ["root"] and conn.client.token == "s.t"


def test_jwt_shape_regex():
    assert vault_auth.JWT_SHAPE.match(GOOD_JWT)
    assert not vault_auth.JWT_SHAPE.match("a.b")
