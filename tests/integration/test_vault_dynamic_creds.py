"""vault_dynamic_creds against a real OpenBao (dev server) with the PostgreSQL database engine.

One OpenBao and one private PostgreSQL for the module (started through the lab harness and seeded by
``lab.services.openbao.seed``); every proof runs a real playbook from
``tests/integration/playbooks/vault_dynamic_creds``.
"""

import grp
import json
import os
import pwd
import shutil
import socket
import stat
import time

import pytest

from lab.services import openbao

TARGETS = os.path.join(os.path.dirname(__file__), "playbooks", "vault_dynamic_creds")


def _dead_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _jwt(seed, **claims):
    import jwt
    now = int(time.time())
    body = {"iss": seed["jwt_issuer"], "aud": seed["jwt_audience"], "sub": seed["jwt_subject"],
            "iat": now, "nbf": now - 5, "exp": now + 600}
    body.update(claims)
    body = dict((k, v) for k, v in body.items() if v is not None)
    with open(seed["jwt_private_key"], "rb") as handle:
        return jwt.encode(body, handle.read(), algorithm="RS256")


@pytest.fixture(scope="module")
def vault(lab, tmp_path_factory):
    work = tmp_path_factory.mktemp("vault")
    bao = lab.up("openbao")
    pg = lab.up("postgres")
    seed = openbao.seed(bao, pg, str(work / "keys"))
    seed.update(openbao.seed_kubernetes(bao, lab.up("k8s_tokenreview")))
    seed["unseal_key"] = bao["unseal_key"]
    seed["jwt"] = _jwt(seed)
    seed["dead_url"] = "http://127.0.0.1:%d" % _dead_port()
    yield seed, work, pg
    lab.down("openbao")  # first: it holds pooled connections that would delay PostgreSQL's shutdown
    lab.down("postgres")
    # The harness leaves a private data dir under /tmp when the state dir is not reachable by postgres.
    if pg["socket_dir"].startswith("/tmp/ainative-lab-postgres-"):
        shutil.rmtree(pg["socket_dir"], ignore_errors=True)


def _vars(seed, work, **extra):
    vdc = dict(seed)
    vdc["tmp"] = str(work)
    vdc.update(extra)
    return {"vdc": vdc}


def _client(seed):
    import hvac
    return hvac.Client(url=seed["url"], token=seed["root_token"])


def _leases(seed, prefix="database/creds/readonly/"):
    try:
        return set(_client(seed).sys.list_leases(prefix)["data"]["keys"])
    except Exception:  # hvac raises InvalidPath when there are none
        return set()


def test_lifecycle_login_unique_renew_revoke(vault, playbook):
    seed, work = vault[0], vault[1]
    job_file = work / "lifecycle-job.json"
    result = playbook(os.path.join(TARGETS, "lifecycle.yml"), extra_vars=_vars(seed, work, job_file=str(job_file)))
    assert result.rc == 0, result
    assert "failed=0" in result.stdout
    st = os.stat(str(job_file))
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == pwd.getpwnam("nobody").pw_uid


def test_job_file_mode_owner_and_content(vault, playbook):
    import psycopg2
    seed, work, pg = vault
    job_dir = work / "jobs"
    job_dir.mkdir()
    job_file = job_dir / "train.env"
    owner, group = "nobody", grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
    # A previous, world-readable file is replaced by a private one.
    job_file.write_text("STALE=1\n")
    os.chmod(str(job_file), 0o644)
    result = playbook(os.path.join(TARGETS, "jobfile.yml"),
                      extra_vars=_vars(seed, work, job_file=str(job_file), job_owner=owner, job_group=group))
    assert result.rc == 0, result
    st = os.stat(str(job_file))
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert (st.st_uid, st.st_gid) == (pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid)
    assert not [n for n in os.listdir(str(job_dir)) if n != "train.env"], "no temp or backup files left"
    values = dict(line.split("=", 1) for line in job_file.read_text().splitlines() if not line.startswith("#"))
    values = dict((k, v.strip("'")) for k, v in values.items())
    assert set(values) == {"DB_USERNAME", "DB_PASSWORD", "DB_LEASE_ID", "DB_LEASE_EXPIRES_AT"}
    assert values["DB_LEASE_ID"].startswith("database/creds/readonly/")
    assert values["DB_PASSWORD"] not in result.stdout
    # The content is the real thing: it logs in.
    conn = psycopg2.connect(host="127.0.0.1", port=pg["port"], user=values["DB_USERNAME"],
                            password=values["DB_PASSWORD"], dbname="postgres")
    with conn, conn.cursor() as cur:
        cur.execute("SELECT current_user")
        assert cur.fetchone()[0] == values["DB_USERNAME"]
    conn.close()


def test_check_mode_mints_nothing(vault, playbook):
    seed, work = vault[0], vault[1]
    live = _client(seed).read("database/creds/readonly")["lease_id"]
    before = _leases(seed)
    lookup_before = _client(seed).sys.read_lease(live)["data"]["expire_time"]
    job_file = work / "check.env"
    result = playbook(os.path.join(TARGETS, "checkmode.yml"), check=True,
                      extra_vars=_vars(seed, work, job_file=str(job_file), live_lease=live))
    assert result.rc == 0, result
    assert _leases(seed) == before, "check mode minted or revoked a lease"
    assert _client(seed).sys.read_lease(live)["data"]["expire_time"] == lookup_before, "check mode renewed"
    assert not job_file.exists()


def test_errors_are_clear(vault, playbook):
    """Each message names the lease, the mount or the real cause; no failed task leaves a lease behind
    (a credentials file in a missing directory is refused before minting)."""
    seed, work = vault[0], vault[1]
    before = _leases(seed)
    result = playbook(os.path.join(TARGETS, "errors.yml"), extra_vars=_vars(seed, work))
    assert result.rc == 0, result
    assert "Traceback" not in result.stdout
    assert not _leases(seed) - before, "a failed task minted credentials"  # (earlier leases may expire meanwhile)
    assert not (work / "no-such-dir").exists()


def test_sealed_server(vault, playbook):
    seed, work = vault[0], vault[1]
    client = _client(seed)
    client.sys.seal()
    try:
        assert client.sys.is_sealed()
        result = playbook(os.path.join(TARGETS, "sealed.yml"), extra_vars=_vars(seed, work))
        assert result.rc == 0, result
        assert "Vault" in result.stdout and "is sealed" in result.stdout
    finally:
        client.sys.submit_unseal_key(seed["unseal_key"])
        deadline = time.time() + 20
        while client.sys.is_sealed() and time.time() < deadline:
            time.sleep(0.2)
    assert not client.sys.is_sealed()


def test_jwt_approle_kubernetes_logins_leak_nothing_at_vvv(vault, playbook, tmp_path):
    seed, work = vault[0], vault[1]
    log = tmp_path / "ansible.log"
    # A pod's projected service-account token (the TokenReview stand-in vouches for it).
    k8s_claim = {"namespace": "ml", "serviceaccount": {"name": "trainer", "uid": seed["k8s_uid"]}}
    sa_token = _jwt(seed, iss="kubernetes/serviceaccount", aud=None, sub="system:serviceaccount:ml:trainer",
                    **{"kubernetes.io": k8s_claim})
    sa_path = tmp_path / "serviceaccount-token"
    sa_path.write_text(sa_token)
    os.chmod(str(sa_path), 0o600)
    seed = dict(seed, jwt=_jwt(seed), sa_token_path=str(sa_path))
    result = playbook(os.path.join(TARGETS, "logins.yml"), extra_vars=_vars(seed, work), verbosity=3,
                      log_path=str(log))
    assert result.rc == 0, result
    logged = log.read_text()
    secrets = {
        "root token": seed["root_token"], "approle secret_id": seed["approle_secret_id"], "jwt": seed["jwt"],
        "userpass password": seed["userpass_operator_password"], "service-account token": sa_token,
    }
    for name in ("jwt", "approle", "kubernetes", "root", "lookup"):
        with open(str(work / ("%s.json" % name))) as handle:
            creds = json.load(handle)
        secrets["%s password" % name] = creds["password"]
        assert len(creds["password"]) >= 16
    # The run did happen at -vvv and shows non-secret facts (renewal's lease id, auth method).
    assert "<127.0.0.1>" in result.stdout or "ESTABLISH LOCAL CONNECTION" in result.stdout
    assert "the output has been hidden" in result.stdout
    assert "lease_id: database/creds/readonly/" in result.stdout
    assert len(logged) > 1000
    for name, value in secrets.items():
        assert value not in result.stdout, "%s leaked into the -vvv output" % name
        assert value not in logged, "%s leaked into the log file" % name


def test_aws_engine_against_moto(vault, lab):
    seed = vault[0]
    names = set(_client(seed).adapter.list("/v1/sys/plugins/catalog/secret")["data"]["keys"])
    assert "kv" in names  # the listing itself works
    if "aws" not in names:
        version = _client(seed).sys.read_health_status(method="GET")["version"]
        pytest.skip("OpenBao %s ships no AWS secrets engine in its plugin catalog (have: %s); the AWS path is "
                    "covered by unit tests only" % (version, ", ".join(sorted(names))))
    moto = lab.up("moto")
    out = openbao.seed_aws(_client(seed), moto)
    client = _client(seed)
    creds = client.read("%s/creds/%s" % (out["aws_mount"], out["aws_iam_role"]))
    assert creds["data"]["access_key"]


def test_vault_group_sets_connection_and_login_options(vault, playbook, tmp_path):
    """group/ainative.security.vault carries the connection and AppRole login to every member."""
    seed = vault[0]
    login = {"url": seed["url"], "auth_method": "approle", "role_id": seed["approle_role_id"],
             "secret_id": seed["approle_secret_id"]}
    play = [{"name": "Vault action group", "hosts": "localhost", "gather_facts": False,
             "module_defaults": {"group/ainative.security.vault": login},
             "tasks": [
                 {"name": "Mint through the group", "ainative.security.vault_dynamic_creds": {"name": "readonly"},
                  "register": "minted", "no_log": True},
                 {"name": "Revoke through the group", "ainative.security.vault_dynamic_creds": {
                     "operation": "revoke", "lease_id": "{{ minted.lease_id }}"}, "register": "revoked"},
                 {"name": "Both used the group's login", "ansible.builtin.assert": {"that": [
                     "minted is changed", "minted.coverage.examined == 1", "revoked is changed"]}}]}]
    path = tmp_path / "group.yml"
    path.write_text(json.dumps(play))
    result = playbook(str(path))
    assert result.rc == 0, result
