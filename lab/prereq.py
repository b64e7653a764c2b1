"""What each lab part needs before it starts, checked up front, and the Podman settings of this checkout.

A part lists the names of its checks in ``REQUIRES`` (``lab/parts/<NN>_<control>.py``). Each check returns
``None`` when the prerequisite is there, else ``(what is missing, the command that makes it)``, so
``python -m lab run`` can say in one line: ``[lab] <part>: <what is missing>; fix: <command>``.

Podman always runs with this checkout's own storage (``.build/containers``, see
``lab/images/storage-conf.sh``) unless ``CONTAINERS_STORAGE_CONF`` says otherwise; the machine's default
storage is never used.
"""

import glob
import os
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
STORAGE_CONF = os.path.join(ROOT, ".build", "containers", "storage.conf")
APACHE_MODULES = "/usr/lib/apache2/modules"
LABEL = "ainative.security/lab"  # on every container the lab starts; `python -m lab down` removes them all


def podman_settings():
    """CONTAINERS_CONF and CONTAINERS_STORAGE_CONF: the environment's if set, else this checkout's."""
    storage = os.environ.get("CONTAINERS_STORAGE_CONF") or STORAGE_CONF
    if storage == STORAGE_CONF and not os.path.exists(STORAGE_CONF):
        subprocess.run([os.path.join(ROOT, "lab", "images", "storage-conf.sh")], stdout=subprocess.DEVNULL,
                       check=True)
    conf = os.environ.get("CONTAINERS_CONF") or os.path.join(ROOT, "lab", "images", "containers.conf")
    return {"CONTAINERS_CONF": conf, "CONTAINERS_STORAGE_CONF": storage}


def podman_env():
    """os.environ with this checkout's Podman settings, for every podman the lab and the tests run."""
    return dict(os.environ, **podman_settings())


# -- checks -----------------------------------------------------------------------------------------------

def _executable(path, what, fix="make setup"):
    return None if os.access(path, os.X_OK) else ("%s not found at %s" % (what, path), fix)


def podman():
    return None if shutil.which("podman") else ("podman is not installed", "make setup")


def image():
    from lab.falco_data import IMAGE  # here, not at the top: falco_data imports this module
    problem = podman()
    if problem:
        return problem
    found = subprocess.run(["podman", "image", "exists", IMAGE], env=podman_env(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
    return None if found.returncode == 0 else (
        "the base image %s is not in this checkout's container storage" % IMAGE, "make image")


def trivy():
    return _executable(os.path.join(VENV_BIN, "trivy"), "the Trivy binary")


def bao():
    path = os.environ.get("AINATIVE_BAO")
    if path:
        return _executable(path, "the OpenBao binary (AINATIVE_BAO)", "unset AINATIVE_BAO (make setup installs .venv/bin/bao)")
    return _executable(os.path.join(VENV_BIN, "bao"), "the OpenBao binary")


def moto_server():
    return _executable(os.path.join(VENV_BIN, "moto_server"), "the moto server")


def postgres():
    found = glob.glob("/usr/lib/postgresql/*/bin/postgres")
    if not found:
        return ("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin", "make setup")
    bindir = os.path.dirname(sorted(found)[-1])
    absent = [name for name in ("initdb", "pg_isready") if not os.access(os.path.join(bindir, name), os.X_OK)]
    return ("%s missing in %s" % (", ".join(absent), bindir), "make setup") if absent else None


def apache():
    from lab.services import jwt_apache
    if not shutil.which("apache2"):
        return ("apache2 is not installed", "make setup")
    wanted = ["mod_%s.so" % name for name in jwt_apache.MODULES] + [
        spec["module"][1] for spec in jwt_apache.VARIANTS.values()]
    absent = [name for name in wanted if not os.path.exists(os.path.join(APACHE_MODULES, name))]
    return ("Apache modules missing in %s: %s" % (APACHE_MODULES, ", ".join(absent)), "make setup") \
        if absent else None


CHECKS = {"podman": podman, "image": image, "trivy": trivy, "bao": bao, "moto_server": moto_server,
          "postgres": postgres, "apache": apache}


def missing(names):
    """[(what is missing, fix)] of the checks ``names`` that fail, in order; [] when all pass."""
    return [problem for problem in (CHECKS[name]() for name in names) if problem]
