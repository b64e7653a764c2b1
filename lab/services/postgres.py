"""A private PostgreSQL 15 (Debian's binaries) on 127.0.0.1 for the Vault database engine and its tests.

PostgreSQL refuses to run as root, so when the harness runs as root the cluster belongs to the
``postgres`` system user and the server is started through ``setpriv`` (which execs, so the PID the
harness records is the server's own). Its data directory must be reachable by that user: the
harness's state folder is used when every parent directory lets it through, otherwise (pytest's
``/tmp/pytest-of-root`` is mode 0700) a private folder under the system temporary directory.

``info`` carries the superuser's name and password (a throw-away lab instance), the DSN pieces and
the data directory.
"""

import glob
import hashlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile

from lab.harness import Service, ServiceError

SUPERUSER = "labadmin"


def _bindir():
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), reverse=True)
    if not candidates:
        raise ServiceError("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
                           "(apt-get install postgresql-15)")
    return os.path.dirname(candidates[0])


def _run_as():
    """(argv prefix, uid, gid) for running PostgreSQL as a non-root user."""
    if os.geteuid() != 0:
        return [], os.getuid(), os.getgid()
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise ServiceError("running as root and there is no 'postgres' user to own the cluster")
    return (["setpriv", "--reuid=%d" % user.pw_uid, "--regid=%d" % user.pw_gid, "--clear-groups"],
            user.pw_uid, user.pw_gid)


def _reachable_by(path, uid):
    """True when every directory above ``path`` lets ``uid`` through (x bit for owner or others)."""
    if uid == os.getuid():
        return True
    path = os.path.abspath(path)
    while True:
        parent = os.path.dirname(path)
        if parent == path:
            return True
        st = os.stat(parent)
        if not (st.st_mode & 0o001 or (st.st_uid == uid and st.st_mode & 0o100)):
            return False
        path = parent


def service(lab):
    bindir = _bindir()
    prefix, uid, gid = _run_as()
    base = os.path.join(lab.state_dir, "postgres")
    if not _reachable_by(base, uid):
        # One stable folder per state dir, so a second `up` after a crash reuses it.
        digest = hashlib.sha256(lab.state_dir.encode("utf-8")).hexdigest()[:12]
        base = os.path.join(tempfile.gettempdir(), "ainative-lab-postgres-" + digest)
    data = os.path.join(base, "data")
    password = secrets.token_urlsafe(18)

    def prepare(svc):
        if os.path.isdir(data) and not os.path.exists(os.path.join(data, "PG_VERSION")):
            shutil.rmtree(data)
        os.makedirs(base, exist_ok=True)
        os.chmod(base, 0o700)
        os.chown(base, uid, gid)
        pwfile = os.path.join(base, "pwfile")
        with open(pwfile, "w") as handle:
            handle.write(password + "\n")
        os.chown(pwfile, uid, gid)
        os.chmod(pwfile, 0o600)
        if os.path.isdir(data):
            shutil.rmtree(data)
        proc = subprocess.run(prefix + [os.path.join(bindir, "initdb"), "-D", data, "-U", SUPERUSER,
                                        "--pwfile", pwfile, "-A", "scram-sha-256", "--no-sync", "-E", "UTF8",
                                        "--locale", "C"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        os.unlink(pwfile)
        if proc.returncode:
            raise ServiceError("initdb failed: %s" % proc.stdout.decode("utf-8", "replace")[-2000:])
        svc.info.update({
            "superuser": SUPERUSER, "password": password, "database": "postgres",
            "data_dir": data, "socket_dir": base, "bindir": bindir,
            "dsn": "host=127.0.0.1 port=%d dbname=postgres" % svc.port,
        })

    argv = prefix + [os.path.join(bindir, "postgres"), "-D", data, "-k", base, "-h", "127.0.0.1", "-p", "{port}",
                     "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
                     "-c", "shared_buffers=16MB", "-c", "max_connections=40"]

    def ready(svc):
        def check():
            return subprocess.run([os.path.join(bindir, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(svc.port)],
                                  check=False).returncode == 0
        return check

    return Service(lab, "postgres", argv, ready=ready, prepare=prepare, timeout=60)
