"""Vault dynamic credentials in the lab: OpenBao (dev server) with the PostgreSQL database engine.

The site playbook mints a credential with an AppRole limited to one creds path, logs in to PostgreSQL with
it, renews the lease, places a job's credentials file, revokes the lease, and shows the login refused
afterwards. OpenBao 2.7.2 has no AWS secrets engine in its plugin catalog, so the AWS half is not shown here.
"""

import os

from lab.services import openbao

# Checked by lab/prereq.py before prepare(); when this part fails, its plays in site.yml get no hosts.
REQUIRES = ("bao", "postgres")
PLAY_HOSTS = ("vault_dynamic_creds_hosts",)


def prepare(lab, work):
    bao = lab.up("openbao")
    pg = lab.up("postgres")
    seeded = openbao.seed(bao, pg, os.path.join(work, "vault"))
    job_dir = os.path.join(work, "vault", "jobs")
    os.makedirs(job_dir, exist_ok=True)
    os.chmod(job_dir, 0o750)
    return {
        "vault_dynamic_creds_url": seeded["url"],
        "vault_dynamic_creds_auth_method": "approle",
        "vault_dynamic_creds_role_id": seeded["approle_role_id"],
        "vault_dynamic_creds_secret_id": seeded["approle_secret_id"],
        "vault_dynamic_creds_role": seeded["db_role"],
        "vault_dynamic_creds_pg_host": seeded["pg_host"],
        "vault_dynamic_creds_pg_port": seeded["pg_port"],
        "vault_dynamic_creds_job_file": os.path.join(job_dir, "training.env"),
    }
