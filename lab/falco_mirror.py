"""A local, GPG-signed apt repository holding a STAND-IN ``falco`` package (lab and tests only).

Falco's real packages cannot be downloaded on this machine, so the tests exercise the air-gapped
mirror path that users really have: an internal apt repository signed by a key whose fingerprint
is pinned. The package in it is a **stand-in**, built here with ``dpkg-deb``: it is named ``falco``
and lays out the same files and systemd units as the real package (``/usr/bin/falco``,
``/etc/falco/falco.yaml``, ``config.d``, ``rules.d``, ``falco-modern-bpf.service``,
``falco-kmod.service``...), but its ``falco`` binary is a small script. It answers ``--version``
and ``-V`` (YAML syntax only, in Falco's JSON result format) and says in every output that it is
a stand-in. It never watches system calls.

    python -m lab.falco_mirror OUTDIR [--version 0.42.1] [--rogue]

writes ``OUTDIR/repo`` (``dists/stable/...``, ``pool/...``, ``falco-test.asc``), ``OUTDIR/FINGERPRINT``
and, with ``--rogue``, ``OUTDIR/rogue-repo`` signed by a second key (to prove a repository signed
by an unpinned key is refused) plus ``OUTDIR/ROGUE_FINGERPRINT``. The keys are throw-away keys
generated in ``OUTDIR/gnupg``.
"""

import argparse
import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BASE_RULES = os.path.join(HERE, "falco", "falco_rules.yaml")

FALCO_SCRIPT = r"""#!/bin/sh
# STAND-IN falco built by the ainative.security test harness. It is NOT Falco: it lays out the
# package like Falco does so installation can be tested, answers --version, and checks rules files
# for YAML syntax only (-V), printing Falco's JSON result format. It never watches system calls.
VERSION="@VERSION@"
case "$1" in
  --version)
    echo "Falco version: ${VERSION} (STAND-IN built by ainative.security tests, not Falco)"
    echo "Engine: 0.57.0"
    exit 0 ;;
esac
files=""
json=0
while [ $# -gt 0 ]; do
  case "$1" in
    -V|--validate) files="$files $2"; shift 2 ;;
    -o) [ "$2" = "json_output=true" ] && json=1; shift 2 ;;
    -c) shift 2 ;;
    *) shift ;;
  esac
done
if [ -z "$files" ]; then
  echo "STAND-IN falco: only --version and -V are implemented" >&2
  exit 1
fi
echo "STAND-IN falco: YAML syntax check only, not Falco's rule compiler" >&2
exec python3 - "$json" $files <<'PY'
import json, sys
try:
    import yaml
except ImportError:
    sys.stderr.write("STAND-IN falco: python3-yaml missing\n")
    sys.exit(2)
class Loader(yaml.SafeLoader):
    pass
Loader.add_constructor("tag:yaml.org,2002:value", Loader.construct_yaml_str)
results, ok = [], True
for path in sys.argv[2:]:
    entry = {"name": path, "successful": True, "errors": [], "warnings": []}
    try:
        with open(path) as handle:
            data = yaml.load(handle, Loader=Loader)
        if data is not None and not isinstance(data, list):
            raise ValueError("Rules content is not yaml array of objects")
    except Exception as exc:
        entry["successful"] = False
        entry["errors"].append({"code": "LOAD_ERR_YAML_PARSE", "codedesc": "Error parsing YAML",
                                "message": " ".join(str(exc).split()), "context": {}})
        ok = False
    results.append(entry)
if sys.argv[1] == "1":
    print(json.dumps({"falco_load_results": results}))
else:
    for entry in results:
        print("%s: %s" % (entry["name"], "Ok" if entry["successful"] else "Invalid"))
        for err in entry["errors"]:
            print(err["message"])
sys.exit(0 if ok else 1)
PY
"""

FALCOCTL_SCRIPT = """#!/bin/sh
echo "STAND-IN falcoctl built by ainative.security tests (does nothing): $*" >&2
exit 0
"""

FALCO_YAML = """# STAND-IN package configuration (ainative.security tests), shaped like Falco's falco.yaml.
config_files:
  - /etc/falco/config.d
watch_config_files: true
rules_files:
  - /etc/falco/falco_rules.yaml
  - /etc/falco/falco_rules.local.yaml
  - /etc/falco/rules.d
engine:
  kind: modern_ebpf
priority: debug
json_output: false
stdout_output:
  enabled: true
syslog_output:
  enabled: true
file_output:
  enabled: false
  keep_alive: false
  filename: ./events.txt
http_output:
  enabled: false
  url: ""
"""

UNIT = """# STAND-IN unit (ainative.security tests), same name and shape as Falco's.
[Unit]
Description=Falco: Container Native Runtime Security with {what} (stand-in)
Documentation=https://falco.org/docs/
{extra_unit}
[Service]
Type=simple
User=root
ExecStart=/usr/bin/falco -o engine.kind={kind}
ExecReload=kill -1 $MAINPID
UMask=0077
TimeoutSec=30
RestartSec=15s
Restart=on-failure
PrivateTmp=true
NoNewPrivileges=yes
ProtectHome=read-only
ProtectSystem=full
StandardOutput=null

[Install]
WantedBy=multi-user.target
Alias=falco.service
"""

POSTINST = """#!/bin/sh
# STAND-IN postinst: records the driver choice the installer passed (FALCO_DRIVER_CHOICE), the way
# Falco's postinst reads it, and enables the matching unit only where systemd runs.
set -e
mkdir -p /var/lib/falco-standin
echo "${FALCO_DRIVER_CHOICE:-auto}" > /var/lib/falco-standin/driver
echo "${FALCOCTL_ENABLED:-yes}" > /var/lib/falco-standin/falcoctl_enabled
if [ -d /run/systemd/system ]; then
  case "${FALCO_DRIVER_CHOICE}" in
    kmod) unit=falco-kmod.service ;;
    modern_ebpf) unit=falco-modern-bpf.service ;;
    *) unit="" ;;
  esac
  systemctl daemon-reload || true
  [ "${FALCOCTL_ENABLED}" = "no" ] && systemctl mask falcoctl-artifact-follow.service || true
  [ -n "$unit" ] && systemctl enable "$unit" || true
fi
exit 0
"""

POSTRM = """#!/bin/sh
set -e
if [ "$1" = "purge" ]; then rm -rf /var/lib/falco-standin; fi
exit 0
"""


def _run(argv, env=None, **kwargs):
    return subprocess.run(argv, check=True, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def architecture():
    return _run(["dpkg", "--print-architecture"]).stdout.decode().strip()


def build_deb(version, out_dir, arch):
    """The stand-in falco_<version>_<arch>.deb, built with dpkg-deb; returns its path."""
    root = os.path.join(out_dir, "pkgroot-%s" % version)
    shutil.rmtree(root, ignore_errors=True)

    def put(rel, text, mode=0o644):
        path = os.path.join(root, rel.lstrip("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(text)
        os.chmod(path, mode)

    put("/usr/bin/falco", FALCO_SCRIPT.replace("@VERSION@", version), 0o755)
    put("/usr/bin/falcoctl", FALCOCTL_SCRIPT, 0o755)
    put("/etc/falco/falco.yaml", FALCO_YAML)
    with open(BASE_RULES) as handle:
        put("/etc/falco/falco_rules.yaml", handle.read())
    put("/etc/falco/falco_rules.local.yaml", "# Local rules (STAND-IN package). Add your rules here.\n")
    put("/etc/falco/config.d/.keep", "")
    put("/etc/falco/rules.d/.keep", "")
    put("/etc/falcoctl/falcoctl.yaml", "# STAND-IN falcoctl configuration\nartifact:\n  follow:\n    every: 168h0m0s\n")
    units = "/lib/systemd/system"
    put(units + "/falco-modern-bpf.service", UNIT.format(what="modern eBPF probe", kind="modern_ebpf", extra_unit=""))
    put(units + "/falco-kmod.service", UNIT.format(
        what="kernel module", kind="kmod",
        extra_unit="After=falco-kmod-inject.service\nRequires=falco-kmod-inject.service\n"))
    put(units + "/falco-kmod-inject.service",
        "# STAND-IN unit\n[Unit]\nDescription=Falco kernel module injection (stand-in)\nPartOf=falco-kmod.service\n"
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\nExecStop=/bin/true\n")
    put(units + "/falco-custom.service", UNIT.format(what="custom configuration", kind="modern_ebpf", extra_unit=""))
    put(units + "/falcoctl-artifact-follow.service",
        "# STAND-IN unit\n[Unit]\nDescription=Falcoctl artifact follow (stand-in)\nPartOf=falco-modern-bpf.service "
        "falco-kmod.service falco-custom.service\n[Service]\nType=simple\nExecStart=/usr/bin/falcoctl artifact follow "
        "--allowed-types=rulesfile\n[Install]\nWantedBy=multi-user.target\n")
    size_kb = sum(os.path.getsize(os.path.join(d, f)) for d, _s, fs in os.walk(root) for f in fs) // 1024 + 1
    put("/DEBIAN/control", (
        "Package: falco\nVersion: {v}\nArchitecture: {a}\nMaintainer: ainative.security tests <tests@example.invalid>\n"
        "Installed-Size: {s}\nDepends: python3\nSection: admin\nPriority: optional\n"
        "Description: STAND-IN falco package built by the ainative.security test harness\n"
        " Not Falco. Same package name, files and systemd units as Falco's package, so that the\n"
        " falco_install module can be tested against a local signed mirror. It detects nothing.\n"
    ).format(v=version, a=arch, s=size_kb))
    put("/DEBIAN/conffiles", "/etc/falco/falco.yaml\n/etc/falco/falco_rules.local.yaml\n/etc/falcoctl/falcoctl.yaml\n")
    put("/DEBIAN/postinst", POSTINST, 0o755)
    put("/DEBIAN/postrm", POSTRM, 0o755)
    deb = os.path.join(out_dir, "falco_%s_%s.deb" % (version, arch))
    _run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, deb])
    shutil.rmtree(root)
    return deb


def _deb_control(deb):
    return _run(["dpkg-deb", "-f", deb]).stdout.decode()


def gpg_key(gnupg, name):
    """Generate (once) a throw-away signing key; return its fingerprint."""
    os.makedirs(gnupg, mode=0o700, exist_ok=True)
    env = dict(os.environ, GNUPGHOME=gnupg)
    uid = "%s <%s@example.invalid>" % (name, name.replace(" ", "-").lower())
    listing = subprocess.run(["gpg", "--batch", "--with-colons", "--list-keys", uid], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if listing.returncode != 0:
        _run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", uid, "rsa2048", "sign", "2y"], env=env)
        listing = _run(["gpg", "--batch", "--with-colons", "--list-keys", uid], env=env)
    for line in listing.stdout.decode().splitlines():
        if line.startswith("fpr:"):
            return line.split(":")[9]
    raise RuntimeError("no fingerprint for %s" % uid)


def build_repo(repo, debs, gnupg, fingerprint, suite="stable", component="main", arch="amd64"):
    """An apt repository (pool + dists/<suite>) signed with ``fingerprint`` (InRelease and Release.gpg)."""
    shutil.rmtree(repo, ignore_errors=True)
    pool = os.path.join(repo, "pool", component, "f", "falco")
    os.makedirs(pool)
    stanzas = []
    for deb in debs:
        target = os.path.join(pool, os.path.basename(deb))
        shutil.copy2(deb, target)
        with open(target, "rb") as handle:
            data = handle.read()
        control = _deb_control(target).rstrip("\n")
        stanzas.append("%s\nFilename: %s\nSize: %d\nMD5sum: %s\nSHA256: %s\n" % (
            control, os.path.relpath(target, repo), len(data), hashlib.md5(data).hexdigest(),
            hashlib.sha256(data).hexdigest()))
    packages = "\n".join(stanzas).encode()
    bindir = os.path.join(repo, "dists", suite, component, "binary-%s" % arch)
    os.makedirs(bindir)
    with open(os.path.join(bindir, "Packages"), "wb") as handle:
        handle.write(packages)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(packages)
    with open(os.path.join(bindir, "Packages.gz"), "wb") as handle:
        handle.write(buf.getvalue())
    entries = []
    for name in ("Packages", "Packages.gz"):
        path = os.path.join(bindir, name)
        with open(path, "rb") as handle:
            data = handle.read()
        entries.append((os.path.relpath(path, os.path.join(repo, "dists", suite)), data))
    release = [
        "Origin: ainative-security-tests", "Label: falco STAND-IN mirror", "Suite: %s" % suite,
        "Codename: %s" % suite, "Date: %s" % time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime()),
        "Architectures: %s" % arch, "Components: %s" % component,
        "Description: local signed mirror with a STAND-IN falco package (ainative.security tests)",
        "MD5Sum:"] + [" %s %d %s" % (hashlib.md5(d).hexdigest(), len(d), n) for n, d in entries] + \
        ["SHA256:"] + [" %s %d %s" % (hashlib.sha256(d).hexdigest(), len(d), n) for n, d in entries]
    dists = os.path.join(repo, "dists", suite)
    with open(os.path.join(dists, "Release"), "w") as handle:
        handle.write("\n".join(release) + "\n")
    env = dict(os.environ, GNUPGHOME=gnupg)
    _run(["gpg", "--batch", "--yes", "--local-user", fingerprint, "--clearsign", "-o",
          os.path.join(dists, "InRelease"), os.path.join(dists, "Release")], env=env)
    _run(["gpg", "--batch", "--yes", "--local-user", fingerprint, "-abs", "-o",
          os.path.join(dists, "Release.gpg"), os.path.join(dists, "Release")], env=env)
    key = _run(["gpg", "--batch", "--armor", "--export", fingerprint], env=env).stdout
    with open(os.path.join(repo, "falco-test.asc"), "wb") as handle:
        handle.write(key)
    return repo


def build(out_dir, versions=("0.42.1",), rogue=False):
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    arch = architecture()
    gnupg = os.path.join(out_dir, "gnupg")
    fpr = gpg_key(gnupg, "Falco Test Mirror")
    debs = [build_deb(v, out_dir, arch) for v in versions]
    build_repo(os.path.join(out_dir, "repo"), debs, gnupg, fpr, arch=arch)
    with open(os.path.join(out_dir, "FINGERPRINT"), "w") as handle:
        handle.write(fpr + "\n")
    info = {"repo": os.path.join(out_dir, "repo"), "fingerprint": fpr, "arch": arch, "versions": list(versions)}
    if rogue:
        rogue_fpr = gpg_key(gnupg, "Rogue Mirror")
        build_repo(os.path.join(out_dir, "rogue-repo"), debs, gnupg, rogue_fpr, arch=arch)
        with open(os.path.join(out_dir, "ROGUE_FINGERPRINT"), "w") as handle:
            handle.write(rogue_fpr + "\n")
        info.update(rogue_repo=os.path.join(out_dir, "rogue-repo"), rogue_fingerprint=rogue_fpr)
    for deb in debs:
        os.unlink(deb)
    return info


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--version", action="append", dest="versions")
    parser.add_argument("--rogue", action="store_true")
    args = parser.parse_args(argv)
    import json
    print(json.dumps(build(args.out, tuple(args.versions or ["0.42.1"]), rogue=args.rogue), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
