"""vault_dynamic_creds with a canned Vault (one branch each: AWS engine, file formats, check mode, errors).

The requests go through hvac's typed API to ``responses``' canned answers. The real proof runs against
OpenBao in tests/integration/test_vault_dynamic_creds.py; OpenBao ships no AWS engine, so the AWS
request/response shapes are covered here with Vault's documented responses.
"""

import json
import os
import re
import stat

import pytest
import responses

from ansible_collections.ainative.security.plugins.action import vault_dynamic_creds as action
from ansible_collections.ainative.security.plugins.module_utils.vault import creds as vault_creds
from ansible_collections.ainative.security.plugins.module_utils.vault.client import VaultConnection
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
SELF = {"data": {"policies": ["default", "job-db"], "ttl": 600, "renewable": True}}
ROOT_SELF = {"data": {"policies": ["root"], "ttl": 0, "renewable": False}}


@pytest.fixture
def vault(monkeypatch):
    """``vault({("get", "database/creds/ro"): body or (status, body)})`` -> the calls Vault got, each
    (method, path with query, JSON body, idempotent: whether the call could be retried on a status)."""
    mock = responses.RequestsMock(assert_all_requests_are_fired=False)
    mock.start()
    calls = []
    conns = []

    def _connect(options, login=True):
        conns.append(VaultConnection(options))
        if login:
            conns[-1].login()
        return conns[-1]
    monkeypatch.setattr(vault_creds, "connect", _connect)

    def _install(routes):
        routes = dict(routes)
        routes.setdefault(("get", "auth/token/lookup-self"), SELF)
        for (method, path), answer in routes.items():
            status, body = answer if isinstance(answer, tuple) else (200 if answer else 204, answer)

            def _callback(request, status=status, body=body):
                calls.append((request.method.lower(), request.path_url[len("/v1/"):],
                              json.loads(request.body) if request.body else None,
                              conns[-1].session.adapters["http://"].max_retries.status > 0))
                return status, {}, json.dumps(body) if body else ""
            pattern = r"^http://(127\.0\.0\.1|vault\.internal):8200/v1/%s(\?.*)?$" % re.escape(path)
            mock.add_callback(method.upper(), re.compile(pattern), callback=_callback)
        return calls
    yield _install
    mock.stop()
    mock.reset()


BASE = {"url": "http://127.0.0.1:8200", "token": "s.test"}


def test_database_issue(run_module, vault):
    calls = vault({("get", "database/creds/ro"): DB_BODY})
    result, failed = run_module(module, dict(BASE, name="ro"))
    assert not failed and result["changed"]
    assert result["credentials"] == {"username": "v-token-ro-1", "password": "Pa55-secret-db"}
    assert result["lease_id"] == "database/creds/ro/abc" and result["lease_duration"] == 3600
    assert result["expires_at"].endswith("Z") and result["summary"]["total"] == 0
    assert result["coverage"]["examined"] == 1 and result["coverage"]["complete"] and result["verdict"] == "pass"
    assert "database/creds/ro/abc" in result["msg"] and "Pa55" not in result["msg"]
    assert calls == [("get", "database/creds/ro", None, False)]  # minting is never status-retried
    assert action.holds_secrets(result)


def test_aws_iam_user_creds(run_module, vault):
    calls = vault({("get", "cloud/aws/creds/reader"): AWS_IAM})
    result, failed = run_module(module, dict(BASE, engine="aws", engine_mount_point="cloud/aws", name="reader",
                                             aws_role_arn="arn:aws:iam::123456789012:role/r"))
    assert not failed, result
    assert result["credentials"]["access_key"] == "AKIAEXAMPLE"
    assert result["credentials"]["security_token"] is None
    method, path, payload, idempotent = calls[0]
    assert method == "get" and path.startswith("cloud/aws/creds/reader?") and "role_arn=arn" in path
    assert not idempotent


def test_aws_sts_writes_env_file(run_module, vault, tmp_path):
    calls = vault({("post", "aws/sts/fed"): AWS_STS})
    path = tmp_path / "aws.env"
    result, failed = run_module(module, dict(BASE, engine="aws", aws_endpoint="sts", name="fed", ttl="15m",
                                             aws_role_session_name="train-42", credentials_file=str(path),
                                             return_credentials=False))
    assert not failed, result
    assert calls[0] == ("post", "aws/sts/fed", {"ttl": "15m", "role_session_name": "train-42"}, False)
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


def test_missing_directory_is_refused_before_minting(run_module, vault, tmp_path):
    calls = vault({("get", "database/creds/ro"): DB_BODY})
    result, failed = run_module(module, dict(BASE, name="ro", credentials_file=str(tmp_path / "no" / "dir.env")))
    assert failed and result["error_kind"] == "invalid_option" and "does not exist" in result["msg"]
    assert "nothing was minted" in result["msg"] and calls == []


def test_write_failure_revokes_the_new_lease(run_module, vault, tmp_path, monkeypatch):
    calls = vault({("get", "database/creds/ro"): DB_BODY, ("put", "sys/leases/revoke"): {}})

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(vault_creds, "atomic_write", disk_full)
    result, failed = run_module(module, dict(BASE, name="ro", credentials_file=str(tmp_path / "db.env")))
    assert failed and result["error_kind"] == "invalid_option" and "No space left" in result["msg"]
    assert calls[-1][:3] == ("put", "sys/leases/revoke", {"lease_id": "database/creds/ro/abc"})


def test_symlink_refused(run_module, vault, tmp_path):
    vault({("get", "database/creds/ro"): DB_BODY, ("put", "sys/leases/revoke"): {}})
    target = tmp_path / "elsewhere"
    target.write_text("")
    os.symlink(str(target), str(tmp_path / "link.env"))
    result, failed = run_module(module, dict(BASE, name="ro", credentials_file=str(tmp_path / "link.env")))
    assert failed and "symbolic link" in result["msg"]


def test_check_mode_mints_nothing(run_module, vault, tmp_path):
    calls = vault({})
    result, failed = run_module(module, dict(BASE, name="ro", credentials_file=str(tmp_path / "x.env")),
                                check_mode=True)
    assert not failed and result["changed"] and "credentials" not in result, result
    assert not (tmp_path / "x.env").exists()
    # It did reach the server (the token was looked up), and says what it did not try.
    assert [c[:2] for c in calls] == [("get", "auth/token/lookup-self")]
    assert result["coverage"]["examined"] == 1 and result["verdict"] == "pass"
    assert any("no credentials were minted" in note for note in result["notes"])


def test_check_mode_unreachable_examined_nothing(run_module, vault):
    vault({})
    result, failed = run_module(module, dict(BASE, url="http://127.0.0.1:1", name="ro"), check_mode=True)
    assert failed and result["verdict"] == "incomplete", result
    assert result["coverage"]["examined"] == 0 and not result["coverage"]["complete"]
    assert "could not reach Vault" in result["msg"] and "examined 0 credentials" in result["msg"]
    assert "would be issued" not in result["msg"]


def test_check_mode_bogus_token_is_a_bad_token(run_module, vault):
    vault({("get", "auth/token/lookup-self"): (403, {"errors": ["permission denied"]})})
    result, failed = run_module(module, dict(BASE, name="ro"), check_mode=True)
    assert failed and result["error_kind"] == "invalid_token"


def test_bogus_token_is_not_a_policy_problem(run_module, vault):
    denied = (403, {"errors": ["permission denied"]})
    vault({("get", "database/creds/ro"): denied, ("get", "auth/token/lookup-self"): denied})
    result, failed = run_module(module, dict(BASE, name="ro"))
    assert failed and result["error_kind"] == "invalid_token" and "does not accept the token" in result["msg"]


def test_lease_not_found_names_the_lease(run_module, vault):
    vault({("put", "sys/leases/lookup"): (400, {"errors": ["invalid lease"]})})
    result, failed = run_module(module, dict(BASE, operation="lookup", lease_id="database/creds/ro/gone"))
    assert failed and result["error_kind"] == "lease_not_found"
    assert "lease database/creds/ro/gone not found" in result["msg"]
    assert "sys/leases/lookup not found" not in result["msg"]


def test_unreachable_outside_check_mode_is_an_error(run_module, vault):
    vault({})
    result, failed = run_module(module, dict(BASE, url="http://127.0.0.1:1", name="ro"))
    assert failed and result["error_kind"] == "unreachable"


def test_reuse_valid_lease(run_module, vault, tmp_path):
    path = tmp_path / "db.env"
    path.write_bytes(vault_creds.render_file(DB_BODY["data"], {"lease_id": "database/creds/ro/abc",
                                                               "expires_at": "x"}, {"credentials_env_prefix": "DB_"}))
    os.chmod(str(path), 0o600)
    calls = vault({("put", "sys/leases/lookup"): LOOKUP})
    result, failed = run_module(module, dict(BASE, name="ro", credentials_file=str(path), reuse_valid_lease=True,
                                             min_ttl=60))
    assert not failed and not result["changed"] and result["reused"]
    assert result["credentials"]["password"] == "Pa55-secret-db"
    assert result["expires_at"] == "2026-11-25T22:00:00Z"
    assert [c[1] for c in calls] == ["sys/leases/lookup"]


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
    calls = vault({("put", "sys/leases/lookup"): LOOKUP, ("put", "sys/leases/renew"): renewed})
    result, failed = run_module(module, dict(BASE, operation="renew", lease_id="database/creds/ro/abc",
                                             increment="10h", max_lease_duration=3600))
    assert not failed and result["changed"] and result["lease_duration"] == 7200
    assert calls[-1] == ("put", "sys/leases/renew", {"lease_id": "database/creds/ro/abc", "increment": "10h"}, True)
    assert {f["id"] for f in result["findings"]} == {"vault_lease_too_long", "vault_warning"}


def test_revoke_from_file_removes_it(run_module, vault, tmp_path):
    path = tmp_path / "db.env"
    path.write_bytes(vault_creds.render_file(DB_BODY["data"], {"lease_id": "database/creds/ro/abc"},
                                             {"credentials_env_prefix": "DB_"}))
    calls = vault({("put", "sys/leases/lookup"): LOOKUP, ("put", "sys/leases/revoke"): {}})
    result, failed = run_module(module, dict(BASE, operation="revoke", credentials_file=str(path)))
    assert not failed and result["changed"] and result["revoked"]
    assert result["lease_id"] == "database/creds/ro/abc" and not path.exists()
    assert calls[-1][1] == "sys/leases/revoke"


def test_revoke_missing_lease_is_unchanged(run_module, vault):
    vault({("put", "sys/leases/lookup"): (400, {"errors": ["invalid lease"]})})
    result, failed = run_module(module, dict(BASE, operation="revoke", lease_id="database/creds/ro/gone"))
    assert not failed and not result["changed"] and not result["revoked"]


def test_revoke_prefix_check_mode(run_module, vault):
    calls = vault({})
    result, failed = run_module(module, dict(BASE, operation="revoke_prefix", prefix="database/creds/ro"),
                                check_mode=True)
    assert not failed and result["changed"] and [c[1] for c in calls] == ["auth/token/lookup-self"]


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
    vault({("get", "database/creds/ro"): DB_BODY, ("get", "auth/token/lookup-self"): ROOT_SELF})
    result, failed = run_module(module, dict(BASE, name="ro", url="http://vault.internal:8200", token_validate=True))
    assert not failed and result["verdict"] == "findings"  # findings never fail this module
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
