"""site.yml and ai_pipeline_gate.yml run the way AWX runs a job: ansible-runner's Python API with a private
data directory (project, inventory, extra vars, environment), the collection on ANSIBLE_COLLECTIONS_PATH.

What AWX shows of a job comes from the runner's artifacts (job_events/*.json, stdout, status, rc) and the
set_stats data in the last ``playbook_on_stats`` event (``artifact_data``, which workflows pass on). The
fact cache is not used: ansible-runner 2.4 with ansible-core 2.19 returns it empty (ansible-runner#1441).
Lab parts used: a pinned training set and its tampered copy, and an IaC target scanned by the real Trivy
with the offline test DB; every other control's hosts are ``!all``, as `make lab` does for a part it skips.
"""

import glob
import json
import os
import shutil
import sys

import pytest

from lab import datasets, image_scan_fixtures, trivydb

ansible_runner = pytest.importorskip("ansible_runner")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
OTHER_CONTROLS = ("image_scan_hosts", "vault_dynamic_creds_hosts", "cloud_audit_hosts", "falco_hosts",
                  "api_jwt_probe_hosts")


@pytest.fixture(scope="module")
def job(tmp_path_factory, playbook):
    """The lab data the jobs run on: a pinned training set, its tampered copy, an IaC folder, a Trivy DB."""
    work = tmp_path_factory.mktemp("awx_runner")
    train, tampered, manifest = str(work / "train"), str(work / "train-tampered"), str(work / "train.json")
    datasets.make_tree(train, files=30, min_size=256, max_size=4096, per_dir=10, seed="awx-runner")
    datasets.tamper(train, tampered)
    pinned = playbook(os.path.join(ROOT, "playbooks", "dataset_integrity.yml"), extra_vars={
        "dataset_integrity_datasets": [{"name": "train", "path": train, "manifest": manifest, "pin": True}]})
    assert pinned.rc == 0, pinned
    cache = str(work / "trivy-cache")
    trivydb.build(cache)
    os.makedirs(str(work / "iac"))
    with open(str(work / "iac" / "main.tf"), "w") as handle:
        handle.write(image_scan_fixtures.TF_GOOD)
    return {"work": work, "train": train, "tampered": tampered, "manifest": manifest,
            "iac": str(work / "iac"), "cache": cache}


def _run(job, ident, playbook, extravars):
    """One AWX-like job in a private data directory of its own (the project's playbooks, a local inventory);
    returns the runner and its artifact directory."""
    private = job["work"] / ("private-" + ident)
    shutil.copytree(os.path.join(ROOT, "playbooks"), str(private / "project" / "playbooks"))
    (private / "inventory").mkdir()
    (private / "inventory" / "hosts").write_text(
        "localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    runner = ansible_runner.run(
        private_data_dir=str(private), playbook=playbook, ident=ident, quiet=True,
        inventory=str(private / "inventory" / "hosts"), extravars=extravars,
        envvars={"ANSIBLE_COLLECTIONS_PATH": COLLECTIONS, "ANSIBLE_NOCOLOR": "1",
                 "PATH": os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ.get("PATH", "")}, timeout=300)
    artifacts = str(private / "artifacts" / ident)
    assert runner.config.artifact_dir == artifacts
    return runner, artifacts


def _artifacts(runner, artifacts):
    """The files AWX reads, checked against what the runner returned; the events, in order."""
    for name in ("stdout", "status", "rc", "job_events"):
        assert os.path.exists(os.path.join(artifacts, name)), name
    with open(os.path.join(artifacts, "status")) as handle:
        assert handle.read().strip() == runner.status
    with open(os.path.join(artifacts, "rc")) as handle:
        assert int(handle.read().strip()) == runner.rc
    events = []
    for path in glob.glob(os.path.join(artifacts, "job_events", "*.json")):
        with open(path) as handle:
            events.append(json.load(handle))
    events.sort(key=lambda event: event["counter"])
    assert events and events[-1]["event"] == "playbook_on_stats", [e["event"] for e in events[-3:]]
    assert len(events) == len(list(runner.events))
    return events


def _task_results(events, action, loop=False):
    """The event data of a task's results (of each loop item with ``loop``)."""
    kinds = ("runner_item_on_ok", "runner_item_on_failed") if loop else ("runner_on_ok", "runner_on_failed")
    return [e["event_data"] for e in events if e["event"] in kinds and e["event_data"].get("task_action") == action]


def _site_vars(job, report_dir, dataset):
    extra = dict((var, "!all") for var in OTHER_CONTROLS)
    extra.update({"ainative_report_dir": report_dir, "dataset_integrity_datasets": [
        {"name": "train", "path": dataset, "manifest": job["manifest"]}]})
    return extra


def _gate_vars(job, report_dir, dataset, scan=False):
    extra = {"ai_pipeline_gate_hosts": "localhost", "ainative_report_dir": report_dir,
             "ai_pipeline_gate_datasets": [{"name": "train", "path": dataset, "manifest": job["manifest"]}]}
    if scan:
        extra.update({"ai_pipeline_gate_scan_targets": [{"type": "iac", "ref": job["iac"], "name": "terraform"}],
                      "scan_gate_scanner_path": os.path.join(ROOT, ".venv", "bin", "trivy"),
                      "scan_gate_cache_dir": job["cache"], "scan_gate_report_dir": report_dir + "-scan"})
    return extra


def _report_dir(job, name):
    path = job["work"] / name
    path.mkdir()
    return str(path)


def test_site_job_passes_with_artifacts_events_and_stats(job):
    report_dir = _report_dir(job, "site-pass")
    runner, artifacts = _run(job, "site-pass", "playbooks/site.yml", _site_vars(job, report_dir, job["train"]))
    events = _artifacts(runner, artifacts)
    assert (runner.status, runner.rc) == ("successful", 0), runner.stdout.read()[-4000:]
    verified = _task_results(events, "ainative.security.dataset_hash_verify", loop=True)
    assert [e["res"]["verdict"] for e in verified if e["task"] == "Verify datasets against their manifests"] == ["pass"]
    assert _task_results(events, "ainative.security.findings_report"), "the report task is not in the job events"
    stats = events[-1]["event_data"]
    assert stats["failures"] == {} and stats["ok"].get("localhost")
    data = stats["artifact_data"]
    assert data["ainative_findings"]["verdict"] == "pass", data
    assert data["ainative_findings"]["controls"]["dataset_integrity"] == {"verdict": "pass", "reported": "pass", "open": 0}
    assert data["ainative_failed_controls"] == {}, data
    reports = data["ainative_findings_reports"]
    assert sorted(reports) == ["html", "json", "junit", "sarif"], reports
    assert all(os.path.isfile(path) and path.startswith(report_dir) for path in reports.values()), reports


def test_site_job_with_a_failing_control_still_reports_then_fails(job):
    report_dir = _report_dir(job, "site-tampered")
    runner, artifacts = _run(job, "site-tampered", "playbooks/site.yml", _site_vars(job, report_dir, job["tampered"]))
    events = _artifacts(runner, artifacts)
    assert runner.status == "failed" and runner.rc != 0, runner.status
    # The control's gate failed, the play's rescue kept the host, and the report play still ran.
    assert any(e["event"] == "runner_on_failed" and e["event_data"]["task"] == "Halt when a dataset is not what was approved"
               for e in events)
    report_results = _task_results(events, "ainative.security.findings_report")
    assert report_results and report_results[0]["res"]["summary"]["open"] > 0
    with open(os.path.join(report_dir, "findings-report.json")) as handle:
        report = json.load(handle)
    assert report["summary"]["open"] == report_results[0]["res"]["summary"]["open"]
    assert os.path.isfile(os.path.join(report_dir, "index.html"))
    final = [e for e in events if e["event"] == "runner_on_failed"][-1]["event_data"]
    assert final["task"] == "Fail where a control failed" and "dataset_integrity failed on localhost" in final["res"]["msg"]
    stats = events[-1]["event_data"]
    assert stats["failures"] == {"localhost": 1} and stats["rescued"] == {"localhost": 1}, stats
    data = stats["artifact_data"]
    assert data["ainative_failed_controls"] == {"localhost": ["dataset_integrity"]}, data
    # Under the report's own gate (none here) the control has findings, in line with the report's verdict;
    # what the control's own gate decided is its reported verdict.
    control = data["ainative_findings"]["controls"]["dataset_integrity"]
    assert (data["ainative_findings"]["verdict"], control["verdict"], control["reported"]) == ("findings", "findings", "fail"), data
    assert data["ainative_findings_reports"]["json"] == os.path.join(report_dir, "findings-report.json")


def test_ai_pipeline_gate_job_passes_with_its_stats(job):
    report_dir = _report_dir(job, "gate-pass")
    runner, artifacts = _run(job, "gate-pass", "playbooks/ai_pipeline_gate.yml", _gate_vars(job, report_dir, job["train"], scan=True))
    events = _artifacts(runner, artifacts)
    assert (runner.status, runner.rc) == ("successful", 0), runner.stdout.read()[-4000:]
    scans = _task_results(events, "ainative.security.image_scan")
    assert scans and scans[0]["res"]["gate"]["failed"] is False and scans[0]["res"]["coverage"]["complete"] is True
    assert [e["res"]["verdict"] for e in _task_results(events, "ainative.security.dataset_hash_verify", loop=True)] == ["pass"]
    gate = events[-1]["event_data"]["artifact_data"]["ainative_ai_pipeline_gate"]
    assert gate == {"localhost": {"verdict": "pass", "findings": 0, "open": 0, "failed_step": None,
                                  "report": os.path.join(report_dir, "ai_pipeline_gate.json")}}, gate
    with open(gate["localhost"]["report"]) as handle:
        assert json.load(handle)["verdict"] == "pass"


def test_ai_pipeline_gate_job_on_a_tampered_dataset_reports_then_fails(job):
    report_dir = _report_dir(job, "gate-tampered")
    runner, artifacts = _run(job, "gate-tampered", "playbooks/ai_pipeline_gate.yml",
                             _gate_vars(job, report_dir, job["tampered"]))
    events = _artifacts(runner, artifacts)
    assert runner.status == "failed" and runner.rc != 0, runner.status
    gate = events[-1]["event_data"]["artifact_data"]["ainative_ai_pipeline_gate"]["localhost"]
    assert gate["verdict"] == "fail" and gate["failed_step"] == "Halt when a dataset is not what was approved", gate
    assert gate["open"] > 0 and gate["findings"] >= gate["open"]
    with open(gate["report"]) as handle:
        report = json.load(handle)
    assert report["verdict"] == "fail" and len(report["findings"]) == gate["findings"]
    assert any(f["control"] == "dataset_hash_verify" and f["status"] == "open" for f in report["findings"])
    assert not _task_results(events, "ansible.builtin.command"), "no job may run after a failed gate"


def test_site_job_whose_control_fails_before_its_report_still_reports_it(job):
    """A control that errors before writing its report (here: its manifest is missing) is in the findings report
    as an error, so the report is incomplete and fails the job there, naming the control: never a silent pass."""
    report_dir = _report_dir(job, "site-error")
    extra = _site_vars(job, report_dir, job["train"])
    extra["dataset_integrity_datasets"][0]["manifest"] = str(job["work"] / "no-such-manifest.json")
    runner, artifacts = _run(job, "site-error", "playbooks/site.yml", extra)
    events = _artifacts(runner, artifacts)
    assert runner.status == "failed" and runner.rc != 0, runner.status
    with open(os.path.join(report_dir, "dataset_integrity-localhost.json")) as handle:
        placeholder = json.load(handle)
    assert placeholder["control"] == "dataset_integrity" and placeholder["failed"] is True, placeholder
    assert "Verify datasets against their manifests" in placeholder["msg"], placeholder
    report_results = _task_results(events, "ainative.security.findings_report")
    assert report_results and "dataset_integrity-localhost.json" in report_results[0]["res"]["msg"], report_results
    with open(os.path.join(report_dir, "findings-report.json")) as handle:
        report = json.load(handle)
    assert report["verdict"] == "incomplete", report["verdict"]
    data = events[-1]["event_data"]["artifact_data"]
    assert data["ainative_findings"]["verdict"] == "incomplete", data
