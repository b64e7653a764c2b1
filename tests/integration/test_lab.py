"""README's lab commands for real: `make lab` runs every part and prints its summary, `make lab-down` leaves no
lab service process and no labelled container behind, and a missing prerequisite is one line, not a traceback.

These use the checkout's lab (state in .build/lab, reports in reports/lab): a lab you started by hand is
stopped at the end.
"""

import os
import subprocess
import sys
import time

import pytest

from lab.harness import Lab
from lab.prereq import LABEL, podman_env

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUMMARY = "ainative.security lab summary"


def run(argv, env=None, timeout=1500):
    proc = subprocess.run(argv, cwd=ROOT, env=env or os.environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=timeout, check=False)
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


def make(target):
    return run(["make", "--no-print-directory", "-C", ROOT, target])


def service_groups():
    """{name: process group} of every service the checkout's lab has a record of."""
    lab = Lab()
    return dict((name, lab.record(name)["pid"]) for name in lab.names())


def labelled_containers():
    proc = subprocess.run(["podman", "ps", "-a", "-q", "--filter", "label=" + LABEL], env=podman_env(),
                          stdout=subprocess.PIPE, check=True)
    return proc.stdout.decode().split()


def alive(group):
    try:
        os.killpg(group, 0)
        return True
    except ProcessLookupError:
        return False


def assert_nothing_left(groups):
    deadline = time.time() + 15  # children of a stopped service may take a moment to exit
    while time.time() < deadline and any(alive(g) for g in groups.values()):
        time.sleep(0.2)
    assert not [name for name, group in groups.items() if alive(group)], "lab services still running"
    assert Lab().names() == []
    assert labelled_containers() == []


@pytest.mark.slow
def test_make_lab_then_make_lab_down_leaves_nothing():
    try:
        rc, out = make("lab")
        groups = service_groups()
        containers = labelled_containers()
    finally:
        down_rc, down_out = make("lab-down")
    assert rc == 0, out[-8000:]
    assert SUMMARY in out and "Traceback" not in out, out[-8000:]
    assert "NOT RUN" not in out
    assert groups and containers, "the lab started no service or no container"
    assert down_rc == 0 and "[lab] down:" in down_out and "Traceback" not in down_out, down_out
    assert_nothing_left(groups)


@pytest.mark.slow
def test_a_missing_prerequisite_is_one_line_and_a_non_zero_exit():
    missing = os.path.join(ROOT, ".build", "no-such-bao")
    # Two parts are enough to show that one missing prerequisite stops only its own part.
    env = dict(os.environ, AINATIVE_BAO=missing, AINATIVE_LAB_PARTS="10,30")
    try:
        rc, out = run([sys.executable, "-m", "lab", "run"], env=env)
        groups = service_groups()
    finally:
        down_rc, down_out = run([sys.executable, "-m", "lab", "down"])
    assert rc != 0, out[-8000:]
    assert "Traceback" not in out, out[-8000:]
    reasons = [line for line in out.splitlines() if line.startswith("[lab] 30_vault: ")]
    assert len(reasons) == 1, out[-8000:]
    assert missing in reasons[0] and reasons[0].endswith("; fix: unset AINATIVE_BAO (make setup installs .venv/bin/bao)")
    summary = out[out.index(SUMMARY):]
    assert "dataset_integrity" in summary, "the parts that could run did not"
    assert "vault_dynamic_creds " not in summary.split("NOT RUN")[0]
    assert "30_vault: " in summary.split("NOT RUN")[1]
    assert "openbao" not in groups
    assert down_rc == 0, down_out
    assert_nothing_left(groups)
