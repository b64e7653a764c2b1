"""playbooks/ai_pipeline_gate.yml end to end on the lab: Trivy with the offline test DB, a pinned dataset,
OpenBao with the PostgreSQL database engine, and a stand-in job that logs in with the minted credentials.

Every proof is the real playbook; pytest checks what happened outside Ansible: the lease in OpenBao, the
login to PostgreSQL, the credentials file, the report.
"""

import datetime
import grp
import json
import os
import pwd
import shutil
import sys

import pytest

from lab import datasets, image_scan_fixtures
from lab.services import openbao

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(ROOT, "playbooks", "ai_pipeline_gate.yml")
DATASET_PLAYBOOK = os.path.join(ROOT, "playbooks", "dataset_integrity.yml")
JOB = os.path.join(os.path.dirname(__file__), "playbooks", "ai_pipeline_gate", "job.py")
PREFIX = "database/creds/readonly/"


@pytest.fixture(scope="module")
def gate(lab, tmp_path_factory, playbook):
    work = tmp_path_factory.mktemp("ai_pipeline_gate")
    bao = lab.up("openbao")
    pg = lab.up("postgres")
    seed = openbao.seed(bao, pg, str(work / "vault"))
    scan = image_scan_fixtures.prepare(str(work / "scan"))
    train = str(work / "data" / "train")
    datasets.make_tree(train, files=40, min_size=512, max_size=8192, per_dir=20, seed="gate")
    manifest = str(work / "data" / "train.json")
    pinned = playbook(DATASET_PLAYBOOK, extra_vars={"dataset_integrity_datasets": [
        {"name": "train", "path": train, "manifest": manifest, "pin": True}]})
    assert pinned.rc == 0, pinned
    tampered = str(work / "data" / "train-tampered")
    datasets.tamper(train, tampered)
    yield {"seed": seed, "pg": pg, "scan": scan, "train": train, "tampered": tampered, "manifest": manifest,
           "work": work}
    lab.down("openbao")
    lab.down("postgres")
    if pg["socket_dir"].startswith("/tmp/ainative-lab-postgres-"):
        shutil.rmtree(pg["socket_dir"], ignore_errors=True)


def _client(seed):
    import hvac
    return hvac.Client(url=seed["url"], token=seed["root_token"])


def _leases(seed):
    try:
        return set(_client(seed).sys.list_leases(PREFIX)["data"]["keys"])
    except Exception:  # hvac raises InvalidPath when there are none
        return set()


def _login_refused(pg, user, password):
    import psycopg2
    try:
        psycopg2.connect(host="127.0.0.1", port=pg["port"], user=user, password=password, dbname="postgres",
                         connect_timeout=5).close()
    except psycopg2.OperationalError:
        return True
    return False


def _vars(gate, name, dataset=None, exit_code=0, job=True):
    seed, scan, work = gate["seed"], gate["scan"], gate["work"]
    expires = (datetime.date.today() + datetime.timedelta(days=30)).isoformat()
    out = work / ("%s.out.json" % name)
    report_dir = work / ("reports-%s" % name)
    report_dir.mkdir()
    extra = {
        "ainative_report_dir": str(report_dir),
        "ai_pipeline_gate_hosts": "localhost",
        "ai_pipeline_gate_scan_targets": [
            {"type": "archive", "ref": scan["archive"], "name": "ml/model-server", "scanners": ["vuln", "secret"]},
            {"type": "iac", "ref": scan["iac_good"], "name": "ml/terraform"},
        ],
        "scan_gate_scanner_path": os.path.join(ROOT, ".venv", "bin", "trivy"),
        "scan_gate_cache_dir": scan["cache_dir"],
        "scan_gate_report_dir": str(work / ("scan-reports-%s" % name)),
        "scan_gate_ignore": [
            {"id": i, "reason": "planted lab fixture", "expires": expires}
            for i in ("aws-access-key-id", "aws-secret-access-key", "CVE-2099-0001", "CVE-2099-1000")],
        "ai_pipeline_gate_datasets": [{"name": "train", "path": dataset or gate["train"], "manifest": gate["manifest"]}],
        "vault_job_credentials_url": seed["url"],
        "vault_job_credentials_auth_method": "approle",
        "vault_job_credentials_auth_role": seed["approle_role_id"],
        "vault_job_credentials_secret_id": seed["approle_secret_id"],
        "vault_job_credentials_role": seed["db_role"],
        "vault_job_credentials_install_hvac": False,
        "ai_pipeline_gate_job_user": "nobody",
        "ai_pipeline_gate_job_group": grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name,
        "ai_pipeline_gate_credentials_file": str(work / "jobs" / ("%s.env" % name)),
    }
    if job:
        extra["ai_pipeline_gate_job_command"] = [sys.executable, JOB, str(gate["pg"]["port"]), str(out), str(exit_code)]
    return extra, out, report_dir / "ai_pipeline_gate.json"


def _report(path):
    with open(str(path)) as handle:
        report = json.load(handle)
    assert report["control"] == "ai_pipeline_gate"
    return report


def test_gate_passes_job_runs_then_credentials_are_revoked(gate, playbook):
    before = _leases(gate["seed"])
    extra, out, report_path = _vars(gate, "pass")
    result = playbook(PLAYBOOK, extra_vars=extra)
    assert result.rc == 0, result
    job = json.loads(out.read_text())
    assert job["user"].startswith("v-"), job  # the job logged in as the dynamic user
    assert job["password"] not in result.stdout
    assert not os.path.exists(extra["ai_pipeline_gate_credentials_file"]), "credentials file left behind"
    assert job["lease_id"] not in _leases(gate["seed"]) and _leases(gate["seed"]) == before, "lease not revoked"
    assert _login_refused(gate["pg"], job["user"], job["password"]), "revoked credentials still log in"
    report = _report(report_path)
    assert report["verdict"] in ("pass", "findings"), report
    assert any(f["control"] == "image_scan" for f in report["findings"]), "scan findings missing from the report"
    notes = " | ".join(report["notes"])
    assert "gate passed" in notes and "train: verified=True" in notes and "job: rc=0" in notes, notes
    assert "revoked after the job: True" in notes and "minted lease %s" % job["lease_id"] in notes, notes


def test_failed_job_still_revokes(gate, playbook):
    extra, out, report_path = _vars(gate, "jobfail", exit_code=3)
    result = playbook(PLAYBOOK, extra_vars=extra)
    assert result.rc != 0, result
    assert "The AI pipeline gate failed at \"Run the job\"" in result.stdout, result
    job = json.loads(out.read_text())
    assert not os.path.exists(extra["ai_pipeline_gate_credentials_file"])
    assert job["lease_id"] not in _leases(gate["seed"])
    assert _login_refused(gate["pg"], job["user"], job["password"])
    report = _report(report_path)
    assert report["verdict"] == "fail"
    assert "revoked after the job: True" in " ".join(report["notes"]), report["notes"]


def test_tampered_dataset_stops_the_job_before_any_credential(gate, playbook):
    before = _leases(gate["seed"])
    extra, out, report_path = _vars(gate, "tampered", dataset=gate["tampered"])
    result = playbook(PLAYBOOK, extra_vars=extra)
    assert result.rc != 0, result
    assert "failed verification" in result.stdout, result
    assert not out.exists(), "the job ran on a tampered dataset"
    assert _leases(gate["seed"]) == before, "credentials were minted for a job that must not run"
    report = _report(report_path)
    assert report["verdict"] == "fail"
    assert any(f["control"] == "dataset_hash_verify" and f["status"] == "open" for f in report["findings"])
    notes = " | ".join(report["notes"])
    assert "train: verified=False" in notes and "nothing to revoke" in notes, notes


def test_check_mode_reports_without_changing(gate, playbook):
    before = _leases(gate["seed"])
    extra, out, report_path = _vars(gate, "check")
    result = playbook(PLAYBOOK, extra_vars=extra, check=True)
    assert result.rc == 0, result
    assert not out.exists(), "the job ran in check mode"
    assert _leases(gate["seed"]) == before, "check mode minted a lease"
    assert not os.path.exists(extra["ai_pipeline_gate_credentials_file"])
    assert not os.path.exists(extra["scan_gate_report_dir"]), "check mode wrote scan reports"
    notes = " | ".join(_report(report_path)["notes"])
    assert "gate passed" in notes and "would be minted (check mode)" in notes and "job: not run" in notes, notes


def test_tags_select_one_control(gate, playbook):
    before = _leases(gate["seed"])
    extra, out, report_path = _vars(gate, "tags")
    result = playbook(PLAYBOOK, extra_vars=extra, tags="dataset_integrity")
    assert result.rc == 0, result
    assert not out.exists() and _leases(gate["seed"]) == before
    notes = " | ".join(_report(report_path)["notes"])
    assert "scan: not run" in notes and "train: verified=True" in notes and "not minted" in notes, notes


def test_skipping_the_job_tag_still_revokes(gate, playbook):
    before = _leases(gate["seed"])
    extra, out, report_path = _vars(gate, "skipjob")
    result = playbook(PLAYBOOK, extra_vars=extra, env={"ANSIBLE_SKIP_TAGS": "job"})
    assert result.rc == 0, result
    assert not out.exists(), "the job ran although its tag was skipped"
    assert _leases(gate["seed"]) == before, "a minted lease was left behind"
    assert not os.path.exists(extra["ai_pipeline_gate_credentials_file"])
    notes = " | ".join(_report(report_path)["notes"])
    assert "minted lease" in notes and "revoked after the job: True" in notes and "job: not run" in notes, notes
