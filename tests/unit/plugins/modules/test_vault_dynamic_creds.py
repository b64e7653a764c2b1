"""vault_dynamic_creds with a canned Vault (one branch each: AWS engine, file formats, check mode, errors).

The real proof runs against OpenBao in tests/integration/test_vault_dynamic_creds.py; OpenBao ships no
AWS engine, so the AWS request/response shapes are covered here with Vault's documented responses.
"""

import json
import os
import stat

import pytest

from ansible_collections.ainative.security.plugins.action import vault_dynamic_creds as action
from ansible_collections.ainative.security.plugins.module_utils import vault_creds
from ansible_collections.ainative.security.plugins.module_utils.vault_client import VaultError
from ansible_collections.ainative.security.plugins.modules import vault_dynamic_creds as module

DB_BODY = {"lease_id": "database/creds/ro/abc", "lease_duration": 3600, "renewable": True,
           "data": {"username": "v-token-ro-1", "password": "Pa55-secret-db"}, "warnings": None}
AWS_IAM = {"lease_id": "aws/creds/reader/k1", "lease_duration": 900, "renewable": True,
           "data": {"access_key": "AKIAEXAMPLE", "secret_key": "aws-secret-iam", "security_token": None,
                    "arn": "arn:aws:iam::123456789012:user/vault-x"}}
AWS_STS = {"lease_id": "aws/sts/fed/k2", "lease_duration": 900, "renewable": False,
           "data": {"access_key": "ASIAEXAMPLE", "secret_key": "aws-secret-sts", "security_token": "aws-session-tok",
                    "arn": "arn:aws:sts::123456789012:federated-user/vault-x"}}
LOOKUP = {"data": {"id": "database/creds/ro/abc", "issue_time": "2026-11-25T21:00:00.1Z",
                   "expire_time": "2026-11-25T22:00:00.123456789Z", "last_renewal": None, "renewable": True,
                   "ttl": 3500}}


class FakeConn(object):
    def __init__(self, routes, policies=None):
        self.routes = routes
        self.calls = []
        self.url = "http://127.0.0.1:8200"
        self.auth_info = {"method": "token", "policies": policies}
        self.retry_events = []
        self.options = {}

    def request(self, method, path, operation, json=None, idempotent=True):
        self.calls.append((method, path, json, idempotent))
        answer = self.routes.get((method, path.split("?")[0]))
        if isinstance(answer, Exception):
            raise answer
        if answer is None:
            raise VaultError("no route %s %s" % (method, path), kind="not_found")
        return answer


@pytest.fixture
def vault(monkeypatch):
    holder = {}

    def _install(routes, policies=None):
        conn = FakeConn(routes, policies)
        holder["conn"] = conn

        def fake_connect(options, login=True):
            conn.options = options
            return conn
        monkeypatch.setattr(vault_creds, "connect", fake_connect)
        return conn
    return _install


BASE = {"url": "http://127.0.0.1:8200", "token": "s.test"}


def test_database_issue(run_module, vault):
    conn = vault({("get", "database/creds/ro"): DB_BODY})
    result, failed = run_module(module, dict(BASE, name="ro"))
    assert not failed and result["changed"]
    assert result["credentials"] == {"username": "v-token-ro-1", "password": "Pa55-secret-db"}
    assert result["lease_id"] == "database/creds/ro/abc" and result["lease_duration"] == 3600
    assert result["expires_at"].endswith("Z") and result["summary"]["total"] == 0
    assert conn.calls == [("get", "database/creds/ro", None, False)]  # minting is never status-retried
    assert action.holds_secrets(result)


def test_aws_iam_user_creds(run_module, vault):
    conn = vault({("get", "cloud/aws/creds/reader"): AWS_IAM})
    result, failed = run_module(module, dict(BASE, engine="aws", engine_mount_point="cloud/aws", name="reader",
                                             aws_role_arn="arn:aws:iam::123456789012:role/r"))
    assert not failed, result
    assert result["credentials"]["access_key"] == "AKIAEXAMPLE"
    assert result["credentials"]["security_token"] is None
    method, path, payload, idempotent = conn.calls[0]
    assert method == "get" and path.startswith("cloud/aws/creds/reader?") and "role_arn=" in path
    assert not idempotent


def test_aws_sts_writes_env_file(run_module, vault, tmp_path):
    conn = vault({("post", "aws/sts/fed"): AWS_STS})
    path = tmp_path / "aws.env"
    result, failed = run_module(module, dict(BASE, engine="aws", aws_endpoint="sts", name="fed", ttl="15m",
                                             aws_role_session_name="train-42", credentials_file=str(path),
                                             return_credentials=False))
    assert not failed, result
    assert conn.calls[0] == ("post", "aws/sts/fed", {"ttl": "15m", "role_session_name": "train-42"}, False)
    assert "credentials" not in result and not action.holds_secrets(result)
    text = path.read_text()
    assert "AWS_ACCESS_KEY_ID='ASIAEXAMPLE'" in text and "AWS_SESSION_TOKEN='aws-session-tok'" in text
    assert "VAULT_LEASE_ID='aws/sts/fed/k2'" in text
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o600
    ids = [f["id"] for f in result["findings"]]
    assert "vault_lease_not_renewable" in ids


def test_json_file_and_lax_previous_mode(run_module, vault, tmp_path):
    vault({("get", "database/creds/ro"): DB_BODY})
    path = tmp_path / "db.json"
    path.write_text("{}")
    os.chmod(str(path), 0o644)
    result, failed = run_module(module, dict(BASE, name="ro", credentials_file=str(path),
                                             credentials_file_format="json", credentials_file_mode="0640"))
    assert not failed, result
    doc = json.loads(path.read_text())
    assert doc["password"] == "Pa55-secret-db" and doc["lease_id"] == "database/creds/ro/abc"
    assert result["credentials_file"]["mode"] == "0640"
    fixed = [f for f in result["findings"] if f["id"] == "credentials_file_lax_mode"]
    assert fixed and fixed[0]["status"] == "fixed"
    assert "Pa55" not in json.dumps(result["findings"])


def test_quote_survives_env_file(tmp_path):
    creds = {"username": "u", "password": "it's $HOME `x`"}
    data = vault_creds.render_file(creds, {"lease_id": "l", "expires_at": None}, {"credentials_env_prefix": "PG"})
    values, lease = vault_creds.parse_file(data, "env")
    assert values["PGPASSWORD"] == "it's $HOME `x`" and lease == "l"


def test_write_failure_revokes_the_new_lease(run_module, vault, tmp_path):
    conn = vault({("get", "database/creds/ro"): DB_BODY, ("put", "sys/leases/revoke"): {}})
    result, failed = run_module(module, dict(BASE, name="ro", credentials_file=str(tmp_path / "no" / "dir.env")))
    assert failed and result["error_kind"] == "invalid_option" and "does not exist" in result["msg"]
    assert conn.calls[-1][:3] == ("put", "sys/leases/revoke", {"lease_id": "database/creds/ro/abc", "sync": True})


def test_symlink_refused(run_module, vault, tmp_path):
    vault({("get", "database/creds/ro"): DB_BODY, ("put", "sys/leases/revoke"): {}})
    target = tmp_path / "elsewhere"
    target.write_text("")
    os.symlink(str(target), str(tmp_path / "link.env"))
    result, failed = run_module(module, dict(BASE, name="ro", credentials_file=str(tmp_path / "link.env")))
    assert failed and "symbolic link" in result["msg"]


def test_check_mode_mints_nothing(run_module, vault, tmp_path):
    conn = vault({})
    result, failed = run_module(module, dict(BASE, name="ro", credentials_file=str(tmp_path / "x.env")),
                                check_mode=True)
    assert not failed and result["changed"] and "credentials" not in result
    assert conn.calls == [] and not (tmp_path / "x.env").exists()


def test_reuse_valid_lease(run_module, vault, tmp_path):
    path = tmp_path / "db.env"
    path.write_bytes(vault_creds.render_file(DB_BODY["data"], {"lease_id": "database/creds/ro/abc",
                                                               "expires_at": "x"}, {"credentials_env_prefix": "DB_"}))
    os.chmod(str(path), 0o600)
    conn = vault({("put", "sys/leases/lookup"): LOOKUP})
    result, failed = run_module(module, dict(BASE, name="ro", credentials_file=str(path), reuse_valid_lease=True,
                                             min_ttl=60))
    assert not failed and not result["changed"] and result["reused"]
    assert result["credentials"]["password"] == "Pa55-secret-db"
    assert result["expires_at"] == "2026-11-25T22:00:00Z"
    assert [c[1] for c in conn.calls] == ["sys/leases/lookup"]


def test_reuse_mints_when_lease_too_short(run_module, vault, tmp_path):
    path = tmp_path / "db.env"
    path.write_bytes(vault_creds.render_file(DB_BODY["data"], {"lease_id": "database/creds/ro/abc"},
                                             {"credentials_env_prefix": "DB_"}))
    short = {"data": dict(LOOKUP["data"], ttl=10)}
    vault({("put", "sys/leases/lookup"): short, ("get", "database/creds/ro"): DB_BODY})
    result, failed = run_module(module, dict(BASE, name="ro", credentials_file=str(path), reuse_valid_lease=True))
    assert not failed and result["changed"] and "reused" not in result


def test_renew_not_renewable(run_module, vault):
    vault({("put", "sys/leases/lookup"): {"data": dict(LOOKUP["data"], renewable=False)}})
    result, failed = run_module(module, dict(BASE, operation="renew", lease_id="database/creds/ro/abc"))
    assert failed and result["error_kind"] == "lease_not_renewable"


def test_renew_reports_vault_warning(run_module, vault):
    renewed = {"lease_id": "database/creds/ro/abc", "lease_duration": 7200, "renewable": True,
               "warnings": ["TTL of \"10h\" exceeded the effective max_ttl of \"2h\"; TTL value is capped accordingly"]}
    conn = vault({("put", "sys/leases/lookup"): LOOKUP, ("put", "sys/leases/renew"): renewed})
    result, failed = run_module(module, dict(BASE, operation="renew", lease_id="database/creds/ro/abc",
                                             increment="10h", max_lease_duration=3600))
    assert not failed and result["changed"] and result["lease_duration"] == 7200
    assert conn.calls[-1] == ("put", "sys/leases/renew", {"lease_id": "database/creds/ro/abc", "increment": "10h"},
                              True)
    assert {f["id"] for f in result["findings"]} == {"vault_lease_too_long", "vault_warning"}


def test_revoke_from_file_removes_it(run_module, vault, tmp_path):
    path = tmp_path / "db.env"
    path.write_bytes(vault_creds.render_file(DB_BODY["data"], {"lease_id": "database/creds/ro/abc"},
                                             {"credentials_env_prefix": "DB_"}))
    conn = vault({("put", "sys/leases/lookup"): LOOKUP, ("put", "sys/leases/revoke"): {}})
    result, failed = run_module(module, dict(BASE, operation="revoke", credentials_file=str(path)))
    assert not failed and result["changed"] and result["revoked"]
    assert result["lease_id"] == "database/creds/ro/abc" and not path.exists()
    assert conn.calls[-1][1] == "sys/leases/revoke"


def test_revoke_missing_lease_is_unchanged(run_module, vault):
    vault({("put", "sys/leases/lookup"): VaultError("lease x not found", kind="lease_not_found")})
    result, failed = run_module(module, dict(BASE, operation="revoke", lease_id="database/creds/ro/gone"))
    assert not failed and not result["changed"] and not result["revoked"]


def test_revoke_prefix_check_mode(run_module, vault):
    conn = vault({})
    result, failed = run_module(module, dict(BASE, operation="revoke_prefix", prefix="database/creds/ro"),
                                check_mode=True)
    assert not failed and result["changed"] and conn.calls == []


@pytest.mark.parametrize("args, message", [
    ({"name": "ro", "credentials_file": "/tmp/x", "credentials_file_mode": "0644"}, "gives other users access"),
    ({"name": "ro", "credentials_file": "/tmp/x", "credentials_file_mode": "rw"}, "not an octal mode"),
    ({"name": "ro", "aws_role_arn": "arn:x"}, "only applies to engine=aws"),
    ({"name": "../etc"}, "may only hold"),
    ({"operation": "renew", "lease_id": "l", "increment": "soon"}, "not a duration"),
    ({"name": "ro", "credentials_file": "/tmp/x", "owner": "no-such-user-xyz"}, "does not exist on this host"),
    ({"operation": "revoke_prefix", "prefix": "database/../sys"}, "not a lease prefix"),
])
def test_invalid_options(run_module, vault, args, message):
    vault({})
    result, failed = run_module(module, dict(BASE, **args))
    assert failed and message in result["msg"], result
    assert result["error_kind"] == "invalid_option"


def test_root_token_finding(run_module, vault):
    vault({("get", "database/creds/ro"): DB_BODY}, policies=["root"])
    result, failed = run_module(module, dict(BASE, name="ro", url="http://vault.internal:8200"))
    ids = {f["id"]: f["severity"] for f in result["findings"]}
    assert ids == {"vault_root_token_used": "HIGH", "vault_plaintext_http": "HIGH"}


def test_argspec_requires(run_module, vault):
    vault({})
    result, failed = run_module(module, dict(BASE, operation="renew"))
    assert failed and "lease_id" in result["msg"]
    result, failed = run_module(module, dict(BASE, auth_method="approle", name="ro"))
    assert failed and "role_id" in result["msg"]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_owner_is_set_before_the_file_appears(run_module, vault, tmp_path):
    import pwd
    vault({("get", "database/creds/ro"): DB_BODY})
    path = tmp_path / "db.env"
    result, failed = run_module(module, dict(BASE, name="ro", credentials_file=str(path), owner="nobody"))
    assert not failed, result
    st = os.lstat(str(path))
    assert st.st_uid == pwd.getpwnam("nobody").pw_uid and stat.S_IMODE(st.st_mode) == 0o600
    assert sorted(os.listdir(str(tmp_path))) == ["db.env"]


def test_revoke_refuses_to_read_through_symlink(run_module, vault, tmp_path):
    vault({("put", "sys/leases/lookup"): LOOKUP, ("put", "sys/leases/revoke"): {}})
    target = tmp_path / "elsewhere.env"
    target.write_text("DB_LEASE_ID='database/creds/ro/abc'\n")
    os.symlink(str(target), str(tmp_path / "link.env"))
    result, failed = run_module(module, dict(BASE, operation="revoke", credentials_file=str(tmp_path / "link.env")))
    assert failed and "symbolic link" in result["msg"]
    assert target.exists()
