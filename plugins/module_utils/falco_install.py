# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Falco package installation: pinned signing key, repository, package, driver unit, facts.

The trust anchor is the *fingerprint* of Falco's package signing key, not the URL it is fetched
from: the key file is parsed here (OpenPGP packets, RFC 4880 / RFC 9580), every primary key in it
must carry a pinned fingerprint, revoked and expired keys are refused, and only then is the key
written where apt (``signed-by``) or rpm (``gpgkey=file://``) will use it. The package manager
then verifies the repository and packages against that key, so a repository signed by anything
else fails (``NO_PUBKEY``) instead of installing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import glob
import hashlib
import os
import re
import struct
import time

from ansible_collections.ainative.security.plugins.module_utils.core import fileio

FALCO_KEY_FINGERPRINT = "478B2FBBC75F4237B731DA4365106822B35B1B1F"
FALCO_KEY_URL = "https://falco.org/repo/falcosecurity-packages.asc"
FALCO_DEB_URL = "https://download.falco.org/packages/deb"
FALCO_RPM_URL = "https://download.falco.org/packages/rpm"

APT_KEYRING = "/usr/share/keyrings/falco-archive-keyring.gpg"
APT_SOURCE = "/etc/apt/sources.list.d/falcosecurity.list"
RPM_KEY = "/etc/pki/rpm-gpg/RPM-GPG-KEY-falcosecurity"
YUM_REPO = "/etc/yum.repos.d/falcosecurity.repo"
ZYPP_REPO = "/etc/zypp/repos.d/falcosecurity.repo"

DRIVER_UNITS = {
    "modern_ebpf": "falco-modern-bpf.service",
    "kmod": "falco-kmod.service",
    "ebpf": "falco-bpf.service",
    "none": None,
}
ALL_FALCO_UNITS = ("falco-modern-bpf.service", "falco-kmod.service", "falco-bpf.service", "falco-custom.service")
FOLLOW_UNIT = "falcoctl-artifact-follow.service"
RULES_LOCATIONS = ("/etc/falco/falco_rules.yaml", "/etc/falco/falco_rules.local.yaml")
RULES_DIR = "/etc/falco/rules.d"
CONFIG_DIR = "/etc/falco/config.d"


class FalcoInstallError(Exception):
    """Anything that stops the installation; the message says what to fix."""


# -- OpenPGP ------------------------------------------------------------------------------------

def dearmor(data):
    """Binary OpenPGP packets from an ASCII-armored block (or ``data`` itself if already binary)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    text = data.decode("latin-1")
    if "-----BEGIN PGP" not in text:
        return data
    blocks = []
    for match in re.finditer(r"-----BEGIN PGP PUBLIC KEY BLOCK-----(.*?)-----END PGP PUBLIC KEY BLOCK-----",
                             text, re.S):
        body = match.group(1).replace("\r", "")
        # Armor headers end at the first empty line.
        if "\n\n" in body:
            body = body.split("\n\n", 1)[1]
        lines = [ln.strip() for ln in body.strip().split("\n")]
        payload = "".join(ln for ln in lines if ln and not ln.startswith("="))
        try:
            blocks.append(base64.b64decode(payload))
        except (ValueError, TypeError):
            raise FalcoInstallError("the signing key is not valid ASCII-armored OpenPGP data (bad base64)")
    if not blocks:
        raise FalcoInstallError("the signing key file has no 'PUBLIC KEY BLOCK'; give the public key "
                                "(falcosecurity-packages.asc), not a signature or private key")
    return b"".join(blocks)


def _packets(data):
    pos = 0
    while pos < len(data):
        header = data[pos]
        if not header & 0x80:
            raise FalcoInstallError("the signing key is not OpenPGP data (bad packet header at byte %d)" % pos)
        if header & 0x40:  # new format
            tag = header & 0x3F
            first = data[pos + 1]
            if first < 192:
                length, hlen = first, 2
            elif first < 224:
                length, hlen = ((first - 192) << 8) + data[pos + 2] + 192, 3
            elif first == 255:
                length, hlen = struct.unpack(">I", data[pos + 2:pos + 6])[0], 6
            else:
                raise FalcoInstallError("partial-length packets are not allowed in a public key")
        else:
            tag = (header >> 2) & 0x0F
            ltype = header & 0x03
            if ltype == 0:
                length, hlen = data[pos + 1], 2
            elif ltype == 1:
                length, hlen = struct.unpack(">H", data[pos + 1:pos + 3])[0], 3
            elif ltype == 2:
                length, hlen = struct.unpack(">I", data[pos + 1:pos + 5])[0], 5
            else:
                length, hlen = len(data) - pos - 1, 1
        body = data[pos + hlen:pos + hlen + length]
        if len(body) != length:
            raise FalcoInstallError("the signing key file is truncated")
        yield tag, body
        pos += hlen + length


def _fingerprint(body):
    version = body[0]
    if version == 4:
        return hashlib.sha1(b"\x99" + struct.pack(">H", len(body)) + body).hexdigest().upper()
    if version == 5:
        return hashlib.sha256(b"\x9a" + struct.pack(">I", len(body)) + body).hexdigest().upper()
    if version == 6:
        return hashlib.sha256(b"\x9b" + struct.pack(">I", len(body)) + body).hexdigest().upper()
    raise FalcoInstallError("OpenPGP key version %d is not supported (v3 keys are obsolete)" % version)


def _subpackets(data):
    pos = 0
    while pos < len(data):
        first = data[pos]
        if first < 192:
            length, hlen = first, 1
        elif first < 255:
            length, hlen = ((first - 192) << 8) + data[pos + 1] + 192, 2
        else:
            length, hlen = struct.unpack(">I", data[pos + 1:pos + 5])[0], 5
        chunk = data[pos + hlen:pos + hlen + length]
        if chunk:
            yield chunk[0] & 0x7F, chunk[1:]
        pos += hlen + length


def _signature_info(body):
    """(signature type, key expiration seconds or None) of a v4/v6 signature packet."""
    version = body[0]
    if version == 3:
        return body[2], None
    if version not in (4, 5, 6):
        return None, None
    sig_type = body[1]
    if version == 4:
        hashed_len = struct.unpack(">H", body[4:6])[0]
        hashed = body[6:6 + hashed_len]
    else:
        hashed_len = struct.unpack(">I", body[4:8])[0]
        hashed = body[8:8 + hashed_len]
    expires = None
    for sub_type, value in _subpackets(hashed):
        if sub_type == 9 and len(value) >= 4:
            expires = struct.unpack(">I", value[:4])[0]
    return sig_type, expires


def parse_public_keys(data):
    """Primary keys in ``data`` (armored or binary): fingerprint, created, expires, revoked, uids, subkeys."""
    binary = dearmor(data)
    keys = []
    current = None
    in_primary_sigs = False
    for tag, body in _packets(binary):
        if tag == 6:
            created = struct.unpack(">I", body[1:5])[0]
            current = {"fingerprint": _fingerprint(body), "created": created, "expires": None,
                       "revoked": False, "uids": [], "subkeys": []}
            keys.append(current)
            in_primary_sigs = True
        elif current is None:
            if tag in (2, 13, 14):
                raise FalcoInstallError("the signing key file starts with a packet that is not a public key")
        elif tag == 13:
            current["uids"].append(body.decode("utf-8", "replace"))
            in_primary_sigs = False
        elif tag == 14:
            current["subkeys"].append(_fingerprint(body))
            in_primary_sigs = False
        elif tag == 2:
            sig_type, expires = _signature_info(body)
            if sig_type == 0x20 and in_primary_sigs:
                current["revoked"] = True
            elif sig_type in (0x10, 0x11, 0x12, 0x13, 0x1F) and expires is not None and not current["subkeys"]:
                current["expires"] = current["created"] + expires if expires else None
    if not keys:
        raise FalcoInstallError("no OpenPGP public key found in the signing key data")
    return keys


def normalize_fingerprint(value):
    fpr = re.sub(r"\s+", "", str(value)).upper()
    if fpr.startswith("0X"):
        fpr = fpr[2:]
    if not re.match(r"^([0-9A-F]{40}|[0-9A-F]{64})$", fpr):
        raise FalcoInstallError("key fingerprint %r is not a full 40 (v4) or 64 (v6) hex digit fingerprint; "
                                "short key ids are not accepted for pinning" % value)
    return fpr


def verify_key(data, pinned, now=None):
    """Parse key data and check it against the pinned fingerprints; return the keys or raise."""
    pinned = [normalize_fingerprint(p) for p in pinned]
    keys = parse_public_keys(data)
    now = time.time() if now is None else now
    found = [k["fingerprint"] for k in keys]
    unexpected = [f for f in found if f not in pinned]
    if unexpected:
        raise FalcoInstallError(
            "the signing key does not match the pinned fingerprint: the key file holds %s, the pin is %s. "
            "Refusing to trust it. If Falco rotated its key, check the new fingerprint at "
            "https://falco.org/docs/setup/packages/ and update key_fingerprint."
            % (", ".join(found), ", ".join(pinned)))
    for key in keys:
        if key["revoked"]:
            raise FalcoInstallError("the pinned key %s is revoked; get the current key and pin its fingerprint"
                                    % key["fingerprint"])
        if key["expires"] and key["expires"] < now:
            raise FalcoInstallError("the pinned key %s expired on %s; get the current key and pin its fingerprint"
                                    % (key["fingerprint"], time.strftime("%Y-%m-%d", time.gmtime(key["expires"]))))
    return keys


def armor(binary):
    """ASCII armor for a binary public key (used for rpm, which wants .asc files)."""
    crc = 0xB704CE
    for byte in bytearray(binary):
        crc ^= byte << 16
        for _bit in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    crc &= 0xFFFFFF
    b64 = base64.b64encode(binary).decode("ascii")
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    crc_line = "=" + base64.b64encode(struct.pack(">I", crc)[1:]).decode("ascii")
    return ("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n" + "\n".join(lines) + "\n" + crc_line
            + "\n-----END PGP PUBLIC KEY BLOCK-----\n").encode("ascii")


# -- platform -----------------------------------------------------------------------------------

def read_os_release(path="/etc/os-release"):
    data = {}
    try:
        with open(path) as handle:
            for line in handle:
                if "=" in line:
                    key, value = line.rstrip("\n").split("=", 1)
                    data[key] = value.strip().strip('"').strip("'")
    except (IOError, OSError):
        pass
    return data


def detect_family(os_release, has_binary):
    """'apt', 'dnf', 'yum' or 'zypper' from os-release and the package managers present."""
    ids = set((os_release.get("ID", "") + " " + os_release.get("ID_LIKE", "")).lower().split())
    if ids & {"debian", "ubuntu"} or (not ids and has_binary("apt-get")):
        if has_binary("apt-get"):
            return "apt"
    if ids & {"suse", "opensuse", "sles", "opensuse-leap", "opensuse-tumbleweed"}:
        if has_binary("zypper"):
            return "zypper"
    if ids & {"rhel", "fedora", "centos", "amzn", "rocky", "almalinux", "ol"}:
        if has_binary("dnf"):
            return "dnf"
        if has_binary("yum"):
            return "yum"
    for binary, family in (("apt-get", "apt"), ("dnf", "dnf"), ("yum", "yum"), ("zypper", "zypper")):
        if has_binary(binary) and not ids:
            return family
    raise FalcoInstallError(
        "unsupported distribution %r (ID_LIKE %r): falco_install supports Debian/Ubuntu (apt), "
        "RHEL/Fedora/CentOS/Amazon Linux (dnf/yum) and SUSE (zypper)"
        % (os_release.get("ID", "unknown"), os_release.get("ID_LIKE", "")))


def version_key(version):
    """Sortable key for Falco versions like 0.42.1, 0.43.0-rc1."""
    parts = re.split(r"[.\-+~]", str(version))
    key = []
    for part in parts:
        key.append((0, int(part), "") if part.isdigit() else (1, 0, part))
    return key


def version_matches(installed, wanted):
    """True when the installed package version satisfies the pinned version."""
    if not wanted:
        return True
    if installed == wanted:
        return True
    return any(installed.startswith(wanted + sep) for sep in ("-", "+", "~"))


def render_apt_source(url, suite, component, keyring=APT_KEYRING, arch=None):
    options = "signed-by=%s" % keyring
    if arch:
        options = "arch=%s %s" % (arch, options)
    return ("# Managed by ainative.security.falco_install: Falco packages, signing key pinned by fingerprint\n"
            "deb [%s] %s %s %s\n" % (options, url.rstrip("/"), suite, component)).encode("utf-8")


def render_rpm_repo(url, key_path=RPM_KEY, name="falcosecurity-rpm"):
    return ("# Managed by ainative.security.falco_install: Falco packages, signing key pinned by fingerprint\n"
            "[%s]\nname=%s\nbaseurl=%s\nenabled=1\ngpgcheck=1\nrepo_gpgcheck=0\ngpgkey=file://%s\n"
            % (name, name, url.rstrip("/"), key_path)).encode("utf-8")


def package_env(driver, falcoctl_enabled):
    """Environment for a non-interactive install with an explicit driver (read by Falco's postinst)."""
    return {
        "DEBIAN_FRONTEND": "noninteractive",
        "FALCO_FRONTEND": "noninteractive",
        "FALCO_DRIVER_CHOICE": driver,
        "FALCOCTL_ENABLED": "yes" if falcoctl_enabled else "no",
    }


def rules_files(rules_locations=RULES_LOCATIONS, rules_dir=RULES_DIR):
    found = [p for p in rules_locations if os.path.isfile(p)]
    found += sorted(p for p in glob.glob(os.path.join(rules_dir, "*"))
                    if p.endswith((".yaml", ".yml")) and os.path.isfile(p))
    return found


def has_systemd():
    return os.path.isdir("/run/systemd/system")


class Installer(object):
    """One run of falco_install against the local host, through an AnsibleModule."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.check = module.check_mode
        self.changed = False
        self.changes = []
        self.diff = {"before": "", "after": ""}
        self.notes = []

    # -- helpers ---------------------------------------------------------------------------
    def run(self, argv, env=None, check_rc=True):
        rc, out, err = self.module.run_command(argv, environ_update=env or {})
        if check_rc and rc != 0:
            raise FalcoInstallError("%s failed (rc=%s): %s" % (" ".join(argv), rc, (err or out).strip()[-2000:]))
        return rc, out, err

    def binary(self, name):
        return self.module.get_bin_path(name)

    def change(self, what):
        self.changed = True
        self.changes.append(what)

    def write(self, path, data, mode=0o644):
        old = fileio.read_bytes(path)
        if old == data:
            return False
        self.diff["before"] += "# %s\n%s" % (path, _printable(old))
        self.diff["after"] += "# %s\n%s" % (path, _printable(data))
        self.change("write %s" % path)
        if not self.check:
            parent = os.path.dirname(path)
            if not os.path.isdir(parent):
                os.makedirs(parent, 0o755)
            fileio.atomic_write(path, data, mode=mode)
        return True

    def remove(self, path):
        if os.path.lexists(path):
            self.diff["before"] += "# %s\n(present)\n" % path
            self.diff["after"] += "# %s\n(absent)\n" % path
            self.change("remove %s" % path)
            if not self.check:
                os.unlink(path)
            return True
        return False

    def fetch_key(self):
        if self.params.get("key_content"):
            return self.params["key_content"].encode("utf-8")
        url = self.params["key_url"]
        if url.startswith("file://"):
            try:
                with open(url[len("file://"):], "rb") as handle:
                    return handle.read()
            except (IOError, OSError) as exc:
                raise FalcoInstallError("cannot read the signing key %s: %s" % (url, exc))
        from ansible.module_utils.urls import fetch_url
        resp, info = fetch_url(self.module, url, timeout=self.params.get("timeout") or 30)
        if info.get("status") != 200 or resp is None:
            raise FalcoInstallError("cannot download the signing key from %s: HTTP %s %s. For air-gapped hosts "
                                    "set key_url to your mirror's copy or pass key_content."
                                    % (url, info.get("status"), info.get("msg", "")))
        return resp.read()

    # -- key and repository ---------------------------------------------------------------
    def ensure_key(self, family):
        pinned = self.params["key_fingerprint"]
        path = APT_KEYRING if family == "apt" else RPM_KEY
        current = fileio.read_bytes(path)
        if current is not None and not self.params.get("key_refresh"):
            try:
                keys = verify_key(current, pinned)
                return path, keys
            except FalcoInstallError:
                pass  # replaced below with a verified key, or the run fails
        data = self.fetch_key()
        keys = verify_key(data, pinned)
        binary = dearmor(data)
        content = binary if family == "apt" else armor(binary)
        self.write(path, content)
        return path, keys

    def ensure_repository(self, family):
        url = self.params.get("repo_url") or (FALCO_DEB_URL if family == "apt" else FALCO_RPM_URL)
        if family == "apt":
            return APT_SOURCE, self.write(APT_SOURCE, render_apt_source(
                url, self.params["repo_suite"], self.params["repo_component"], arch=self.params.get("repo_arch")))
        path = ZYPP_REPO if family == "zypper" else YUM_REPO
        return path, self.write(path, render_rpm_repo(url))

    def rpm_import(self, keys):
        for key in keys:
            short = key["fingerprint"][-8:].lower()
            rc, _out, _err = self.run(["rpm", "-q", "gpg-pubkey-%s" % short], check_rc=False)
            if rc != 0:
                self.change("rpm --import %s" % key["fingerprint"])
                if not self.check:
                    self.run(["rpm", "--import", RPM_KEY])

    # -- package ---------------------------------------------------------------------------
    def installed_version(self, family):
        if family == "apt":
            rc, out, _err = self.run(["dpkg-query", "-W", "-f=${Status}\t${Version}", "falco"], check_rc=False)
            if rc == 0 and out.startswith("install ok installed"):
                return out.split("\t", 1)[1].strip()
            return None
        rc, out, _err = self.run(["rpm", "-q", "--qf", "%{VERSION}-%{RELEASE}", "falco"], check_rc=False)
        return out.strip() if rc == 0 else None

    def apt_update(self):
        argv = ["apt-get", "update", "-q", "-o", "Dir::Etc::sourcelist=%s" % APT_SOURCE,
                "-o", "Dir::Etc::sourceparts=-", "-o", "APT::Get::List-Cleanup=0"]
        rc, out, err = self.run(argv, check_rc=False)
        text = (out or "") + (err or "")
        problem = re.search(r"(NO_PUBKEY \w+|EXPKEYSIG \w+|BADSIG \w+|is not signed|"
                            r"signatures couldn't be verified|Signature by key \w+ [^\n]*|"
                            r"The following signatures were invalid[^\n]*)", text)
        if problem:
            raise FalcoInstallError(
                "apt refused the Falco repository's signature (%s): the repository is not signed by the pinned "
                "key %s. Check the mirror and the key; if Falco rotated its key, pin the new fingerprint."
                % (problem.group(1).strip(), ", ".join(self.params["key_fingerprint"])))
        if rc != 0 or re.search(r"^(E:|Err:)", text, re.M):
            raise FalcoInstallError("apt-get update of the Falco repository failed: %s" % text.strip()[-1500:])

    def install(self, family, version, driver):
        env = package_env(driver, self.params["falcoctl_enabled"])
        if family == "apt":
            spec = "falco=%s" % version if version else "falco"
            argv = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "--allow-downgrades",
                    "-o", "Dpkg::Options::=--force-confold", spec]
        elif family in ("dnf", "yum"):
            spec = "falco-%s" % version if version else "falco"
            argv = [family, "install", "-y", spec]
            if version:
                argv = [family, "install", "-y", "--allowerasing", spec] if family == "dnf" else argv
        else:
            spec = "falco=%s" % version if version else "falco"
            argv = ["zypper", "--non-interactive", "install", "--oldpackage", spec]
        rc, out, err = self.run(argv, env=env, check_rc=False)
        if rc != 0:
            text = (err or "") + (out or "")
            hint = ""
            if "NO_PUBKEY" in text or "signature" in text.lower():
                hint = " The package signature does not match the pinned key."
            elif driver == "kmod":
                hint = (" The kmod driver needs dkms, make and the kernel headers of the running kernel; "
                        "install them or choose driver=modern_ebpf.")
            raise FalcoInstallError("installing %s failed (rc=%s):%s %s" % (spec, rc, hint, text.strip()[-1500:]))

    def remove_package(self, family):
        if family == "apt":
            argv = ["apt-get", "purge", "-y", "-q", "falco"]
        elif family in ("dnf", "yum"):
            argv = [family, "remove", "-y", "falco"]
        else:
            argv = ["zypper", "--non-interactive", "remove", "falco"]
        self.run(argv, env={"DEBIAN_FRONTEND": "noninteractive"})

    # -- services ---------------------------------------------------------------------------
    def unit_state(self, unit):
        _rc, enabled, _err = self.run(["systemctl", "is-enabled", unit], check_rc=False)
        _rc, active, _err = self.run(["systemctl", "is-active", unit], check_rc=False)
        return enabled.strip(), active.strip()

    def ensure_services(self, driver):
        if not has_systemd():
            self.notes.append("systemd is not running on this host (container or chroot): no Falco service "
                              "was enabled or started")
            return None
        unit = DRIVER_UNITS[driver]
        for other in ALL_FALCO_UNITS:
            if other == unit:
                continue
            enabled, active = self.unit_state(other)
            if active == "active":
                self.change("stop %s" % other)
                if not self.check:
                    self.run(["systemctl", "stop", other])
            if enabled == "enabled":
                self.change("disable %s" % other)
                if not self.check:
                    self.run(["systemctl", "disable", other])
        if not self.params["falcoctl_enabled"]:
            enabled, _active = self.unit_state(FOLLOW_UNIT)
            if enabled not in ("masked", "") and "No such file" not in enabled and enabled != "not-found":
                self.change("mask %s" % FOLLOW_UNIT)
                if not self.check:
                    self.run(["systemctl", "mask", FOLLOW_UNIT])
        if unit is None:
            return None
        enabled, active = self.unit_state(unit)
        if self.params["service_enabled"] and enabled != "enabled":
            self.change("enable %s" % unit)
            if not self.check:
                self.run(["systemctl", "enable", unit])
        elif not self.params["service_enabled"] and enabled == "enabled":
            self.change("disable %s" % unit)
            if not self.check:
                self.run(["systemctl", "disable", unit])
        want = self.params["service_state"]
        if want == "started" and active != "active":
            self.change("start %s" % unit)
            if not self.check:
                self.run(["systemctl", "start", unit])
        elif want == "stopped" and active == "active":
            self.change("stop %s" % unit)
            if not self.check:
                self.run(["systemctl", "stop", unit])
        return unit

    def stop_all_units(self):
        if not has_systemd():
            return
        for unit in ALL_FALCO_UNITS:
            enabled, active = self.unit_state(unit)
            if active == "active":
                self.change("stop %s" % unit)
                if not self.check:
                    self.run(["systemctl", "stop", unit], check_rc=False)
            if enabled == "enabled":
                self.change("disable %s" % unit)
                if not self.check:
                    self.run(["systemctl", "disable", unit], check_rc=False)

    # -- entry point ------------------------------------------------------------------------
    def family(self):
        family = self.params.get("package_manager")
        if family and family != "auto":
            if not self.binary("apt-get" if family == "apt" else family):
                raise FalcoInstallError("package_manager=%s but %s is not installed on this host"
                                        % (family, "apt-get" if family == "apt" else family))
            return family
        return detect_family(read_os_release(), self.binary)

    def check_driver(self, driver, version):
        if driver not in DRIVER_UNITS:
            raise FalcoInstallError("unknown driver %r; choose modern_ebpf, kmod or none" % driver)
        if driver == "ebpf":
            if not version or version_key(version) >= version_key("0.44.0"):
                raise FalcoInstallError("the legacy 'ebpf' probe was removed in Falco 0.44; use driver=modern_ebpf "
                                        "(or pin version below 0.44 to keep the legacy probe)")

    def apply(self):
        params = self.params
        family = self.family()
        version = params.get("version")
        driver = params["driver"]
        result = {"package_manager": family}
        if params["state"] == "absent":
            installed = self.installed_version(family)
            if installed:
                self.stop_all_units()
                self.change("remove package falco %s" % installed)
                if not self.check:
                    self.remove_package(family)
            if family == "apt":
                self.remove(APT_SOURCE)
                self.remove(APT_KEYRING)
            else:
                self.remove(ZYPP_REPO if family == "zypper" else YUM_REPO)
                self.remove(RPM_KEY)
            result["falco"] = self.facts(family, None, None, installed=False)
            return result
        self.check_driver(driver, version)
        previous = dict((p, fileio.read_bytes(p)) for p in (APT_KEYRING, APT_SOURCE, RPM_KEY, YUM_REPO, ZYPP_REPO))
        key_path, keys = self.ensure_key(family)
        repo_path, repo_changed = self.ensure_repository(family)
        try:
            return self._install(family, version, driver, result, key_path, keys, repo_path, repo_changed)
        except FalcoInstallError:
            if not self.check:
                self.restore(previous)
            raise

    def restore(self, previous):
        """Put the key and repository files back as they were (a refused repository stays unused)."""
        for path, data in previous.items():
            current = fileio.read_bytes(path)
            if current == data:
                continue
            if data is None:
                os.unlink(path)
            else:
                fileio.atomic_write(path, data)
        self.notes.append("the key and repository files were restored to their previous state")

    def _install(self, family, version, driver, result, key_path, keys, repo_path, repo_changed):
        if family != "apt" and keys:
            self.rpm_import(keys)
        installed = self.installed_version(family)
        needs_install = installed is None or not version_matches(installed, version)
        if needs_install:
            self.change("install falco%s (driver %s)" % ("=" + version if version else "", driver))
            if not self.check:
                if family == "apt":
                    self.apt_update()
                elif repo_changed and family in ("dnf", "yum"):
                    self.run([family, "makecache", "-y", "--disablerepo=*", "--enablerepo=falcosecurity-rpm"],
                             check_rc=False)
                self.install(family, version, driver)
                installed = self.installed_version(family)
                if installed is None:
                    raise FalcoInstallError("the package manager reported success but falco is not installed")
        elif repo_changed and family == "apt" and not self.check:
            self.apt_update()
        unit = self.ensure_services(driver) if (installed or self.check) else None
        result["key_file"] = key_path
        result["repository_file"] = repo_path
        result["key_fingerprints"] = [k["fingerprint"] for k in keys]
        result["falco"] = self.facts(family, driver, unit, installed=bool(installed), version=installed)
        return result

    def facts(self, family, driver, unit, installed, version=None):
        facts = {
            "installed": installed,
            "version": version,
            "driver": driver,
            "unit": unit,
            "systemd": has_systemd(),
            "package_manager": family,
            "rules_files": rules_files() if installed else [],
            "config_dir": CONFIG_DIR,
            "rules_dir": RULES_DIR,
            "binary": self.binary("falco") if installed else None,
        }
        if unit and has_systemd() and not self.check:
            enabled, active = self.unit_state(unit)
            facts["service_enabled"] = enabled == "enabled"
            facts["service_active"] = active == "active"
        return facts


def _printable(data):
    if data is None:
        return "(absent)\n"
    try:
        text = data.decode("utf-8")
        if "\x00" in text:
            raise UnicodeDecodeError("utf-8", b"", 0, 1, "binary")
        return text if text.endswith("\n") else text + "\n"
    except UnicodeDecodeError:
        try:
            keys = parse_public_keys(data)
            return "".join("OpenPGP public key %s\n" % k["fingerprint"] for k in keys)
        except FalcoInstallError:
            return "(binary, %d bytes, sha256 %s)\n" % (len(data), hashlib.sha256(data).hexdigest())
