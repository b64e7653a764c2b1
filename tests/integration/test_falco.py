"""Falco control on real parts: rules validation of a large real-style set and broken files, configuration
drop-in, triage of alerts in Falco's JSON format, and a response against real Podman containers.

The falco binary is not available on this machine; the install path is proven by the Molecule scenario of
roles/falco against a local GPG-signed mirror with a STAND-IN falco package (lab/falco_mirror.py).
"""

import datetime
import json
import os
import shutil
import subprocess

import pytest

from lab import falco_data

TARGETS = os.path.join(os.path.dirname(__file__), "playbooks", "falco")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = tmp_path_factory.mktemp("falco")
    shutil.copy(os.path.join(ROOT, "lab", "falco", "falco_rules.yaml"), str(work / "falco_rules.yaml"))
    text, counts = falco_data.large_ruleset(400)
    (work / "large.yaml").write_text(text)
    (work / "broken").mkdir()
    broken = {}
    for name, (content, code, line) in falco_data.BROKEN_RULES.items():
        (work / "broken" / (name + ".yaml")).write_text(content)
        broken[name] = {"code": code, "line": line}
    for sub in ("rules.d", "config.d"):
        (work / sub).mkdir()
    return {"dir": str(work), "counts": counts, "broken": broken, "lines": len(text.splitlines())}


def test_rules_and_config_validation(playbook, work):
    assert work["lines"] > 7000 and work["counts"]["rules"] == 400
    result = playbook(os.path.join(TARGETS, "validate.yml"), extra_vars={
        "falco_work": work["dir"], "expected_counts": work["counts"], "broken": work["broken"]})
    assert result.rc == 0, result
    assert "failed=0" in result.stdout
    for name in work["broken"]:
        assert "item=%s" % name in result.stdout or name in result.stdout


@pytest.fixture(scope="module")
def containers():
    if not shutil.which("podman"):
        pytest.skip("podman is not installed")
    victim = falco_data.start_container("falco-it-victim")
    allowed = falco_data.start_container("falco-it-allowed")
    yield victim, allowed
    falco_data.remove_container("falco-it-victim")
    falco_data.remove_container("falco-it-allowed")


@pytest.fixture(scope="module")
def event_log(tmp_path_factory, containers):
    victim, allowed = containers
    path = tmp_path_factory.mktemp("falco-events") / "falco.log"
    now = datetime.datetime.now(datetime.timezone.utc)
    path.write_text("\n".join(falco_data.event_log(victim, allowed, now=now)) + "\n")
    # The lines are real Falco JSON alerts: each has the fields Falco writes.
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            assert set(event) == {"time", "rule", "priority", "output", "output_fields", "hostname", "source", "tags"}
    return str(path)


def test_triage_real_format(playbook, event_log):
    result = playbook(os.path.join(TARGETS, "triage.yml"), extra_vars={"falco_log": event_log})
    assert result.rc == 0, result
    assert "failed=0" in result.stdout


def test_response_stops_named_container_and_spares_allow_listed(playbook, event_log, containers):
    assert falco_data.container_running("falco-it-victim")
    assert falco_data.container_running("falco-it-allowed")
    env = {"CONTAINERS_CONF": falco_data.podman_env()["CONTAINERS_CONF"]}
    result = playbook(os.path.join(TARGETS, "response.yml"), extra_vars={"falco_log": event_log}, env=env)
    assert result.rc == 0, result
    assert not falco_data.container_running("falco-it-victim")
    assert falco_data.container_running("falco-it-allowed")
    state = subprocess.run(["podman", "container", "inspect", "--format", "{{.State.Status}}", "falco-it-victim"],
                           env=falco_data.podman_env(), stdout=subprocess.PIPE, check=True).stdout.decode().strip()
    assert state in ("exited", "stopped")


def test_response_pause_freezes_the_container_once_then_stop_ends_it(playbook):
    if not shutil.which("podman"):
        pytest.skip("podman is not installed")
    falco_data.start_container("falco-it-paused")
    try:
        env = {"CONTAINERS_CONF": falco_data.podman_env()["CONTAINERS_CONF"]}
        result = playbook(os.path.join(TARGETS, "pause.yml"), env=env)
        assert result.rc == 0, result
        state = subprocess.run(["podman", "container", "inspect", "--format", "{{.State.Status}}", "falco-it-paused"],
                               env=falco_data.podman_env(), stdout=subprocess.PIPE, check=True).stdout.decode().strip()
        assert state in ("exited", "stopped")
    finally:
        falco_data.remove_container("falco-it-paused")
