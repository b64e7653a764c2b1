"""playbooks/harden_hosts.yml for real, in a Podman instance that is a Falco sensor and a model gateway.

Molecule (tests/integration/playbooks/harden_hosts/molecule/default) runs the playbook itself as converge: Falco
from a signed local mirror (stand-in package, key pinned by fingerprint), Apache + mod_oauth2 in front of a backend with a JWKS
server over TLS; then idempotence (changed=0), check mode (changed=0) and verify (packages, drop-in, rules, and
the attack matrix against the gateway).
"""

import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROJECT = os.path.join(os.path.dirname(__file__), "playbooks", "harden_hosts")
IMAGE = "localhost/ainative-debian12:latest"


@pytest.mark.slow
def test_harden_hosts_converges_idempotent_check_mode_and_verified():
    env = dict(os.environ, CONTAINERS_CONF=os.path.join(ROOT, "lab", "images", "containers.conf"),
               PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ.get("PATH", ""),
               MOLECULE_NO_LOG="false", ANSIBLE_FORCE_COLOR="0", PY_COLORS="0", ANSIBLE_NOCOLOR="1")
    if subprocess.run(["podman", "image", "exists", IMAGE], env=env, check=False).returncode != 0:
        built = subprocess.run([os.path.join(ROOT, "lab", "images", "build.sh")], env=env, cwd=ROOT, check=False)
        assert built.returncode == 0, "could not build the Molecule base image %s" % IMAGE
    proc = subprocess.run(["molecule", "test"], cwd=PROJECT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=900, check=False)
    out = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 0, out[-6000:]
    for step in ("converge", "idempotence", "check", "verify"):
        assert "default > %s: Executed: Successful" % step in out, step
