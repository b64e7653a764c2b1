# Offline bootstrap for ansible-test's virtual environments.
# ansible-test bootstraps pip in each sanity venv with a get-pip.py script it downloads from a host that is
# not reachable here; it first looks in ~/.ansible/test/cache/get_pip_<version>.py, where tests/sanity.sh puts
# this file. It gives the venv pip from the interpreter's own ensurepip, then installs the exact packages
# ansible-test asked for (pip==<version> among them) from the package index.
import subprocess
import sys

args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check"] + args)
