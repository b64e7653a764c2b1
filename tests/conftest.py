"""Fixtures shared by every test layer: the repository root, the lab harness and a playbook runner."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# Unit tests import plugins as ansible_collections.ainative.security.plugins...
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from lab.harness import Lab  # noqa: E402  (needs ROOT on sys.path)
from lab.prereq import podman_settings  # noqa: E402

# Run directly or from make: Podman (fixtures, playbooks, plugins, Molecule) uses this checkout's container
# storage, never the machine's, and Ansible's home is per checkout, as the Makefile sets it.
os.environ.update(podman_settings())
os.environ.setdefault("ANSIBLE_HOME", os.path.join(ROOT, ".build", "ansible"))


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """The lab harness with a state directory of this test session's own; stops all it started."""
    harness = Lab(state_dir=str(tmp_path_factory.mktemp("lab-state")))
    yield harness
    harness.down_all()


class PlaybookResult(str):
    """A playbook run: ``rc`` and the full ``stdout``; as a string, the tail of the output, so
    ``assert result.rc == 0, result`` shows what went wrong."""

    def __new__(cls, proc, out):
        self = super(PlaybookResult, cls).__new__(cls, "rc=%s\n%s" % (proc.returncode, out[-8000:]))
        self.rc = proc.returncode
        self.stdout = out
        return self


def run_playbook(playbook, extra_vars=None, check=False, diff=False, verbosity=0, env=None, tags=None,
                 timeout=900, log_path=None):
    """Run ``ansible-playbook`` on the lab inventory (localhost) and return rc and the full output."""
    argv = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", os.path.join(ROOT, "lab", "inventory", "hosts.yml"),
            playbook]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    if tags:
        argv += ["--tags", tags]
    if verbosity:
        argv.append("-" + "v" * verbosity)
    full_env = dict(os.environ)
    full_env.update({
        "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "PATH": os.path.join(ROOT, ".venv", "bin") + os.pathsep + full_env.get("PATH", ""),
    })
    if log_path:
        full_env["ANSIBLE_LOG_PATH"] = str(log_path)
    full_env.update(env or {})
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=full_env, cwd=ROOT,
                          timeout=timeout, check=False)
    return PlaybookResult(proc, proc.stdout.decode("utf-8", "replace"))


@pytest.fixture(scope="session")
def playbook():
    """``playbook(path, extra_vars=..., check=..., ...)`` runs a playbook and returns rc and output."""
    return run_playbook
