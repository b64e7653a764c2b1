# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Falco package installation: pinned signing key, repository, package, driver unit, facts.

The trust anchor is the *fingerprint* of Falco's package signing key, not the URL it is fetched
from: gpg reads the key file (:mod:`.signing_key`), every primary key in it must carry a pinned
fingerprint, revoked and expired keys are refused, and only then is the key written where apt
(``signed-by``) or rpm (``gpgkey=file://``) will use it. The package manager then verifies the
repository and packages against that key, so a repository signed by anything else fails
(``NO_PUBKEY``) instead of installing.

``manage`` limits the run to some of the steps (key, repository, package, service); the falco role
verifies the key here and does the rest with ansible.builtin modules.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import hashlib
import os
import re

from ansible_collections.ainative.security.plugins.module_utils.core import fileio
from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError, SourceError
from ansible_collections.ainative.security.plugins.module_utils.core.module import Outcome
from ansible_collections.ainative.security.plugins.module_utils.falco.signing_key import KeyMismatchError, checked_key

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


STEPS = ("key", "repository", "package", "service")


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
    raise InputError(
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

    def __init__(self, ctl):
        self.module = ctl.module
        self.params = ctl.params
        self.check = ctl.check_mode
        self.changed = False
        self.changes = []
        self.diff = {"before": "", "after": ""}
        self.notes = []

    # -- helpers ---------------------------------------------------------------------------
    def run(self, argv, env=None, check_rc=True):
        rc, out, err = self.module.run_command(argv, environ_update=env or {})
        if check_rc and rc != 0:
            raise SourceError("%s failed (rc=%s): %s" % (" ".join(argv), rc, (err or out).strip()[-2000:]))
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
                raise InputError("cannot read the signing key %s: %s" % (url, exc))
        from ansible.module_utils.urls import fetch_url
        resp, info = fetch_url(self.module, url, timeout=self.params.get("timeout") or 30)
        if info.get("status") != 200 or resp is None:
            raise SourceError("cannot download the signing key from %s: HTTP %s %s. For air-gapped hosts "
                              "set key_url to your mirror's copy or pass key_content."
                              % (url, info.get("status"), info.get("msg", "")))
        return resp.read()

    # -- key and repository ---------------------------------------------------------------
    def ensure_key(self, family):
        pinned = self.params["key_fingerprint"]
        path = APT_KEYRING if family == "apt" else RPM_KEY
        armor = family != "apt"  # apt reads a binary keyring, rpm an armored key
        current = fileio.read_bytes(path)
        if current is not None and not self.params.get("key_refresh"):
            try:
                return path, checked_key(self.module, current, pinned, armor=armor)[0]
            except InputError:
                pass  # replaced below with a verified key, or the run fails
        keys, content = checked_key(self.module, self.fetch_key(), pinned, armor=armor)
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
            raise KeyMismatchError(
                "apt refused the Falco repository's signature (%s): the repository is not signed by the pinned "
                "key %s. Check the mirror and the key; if Falco rotated its key, pin the new fingerprint."
                % (problem.group(1).strip(), ", ".join(self.params["key_fingerprint"])))
        if rc != 0 or re.search(r"^(E:|Err:)", text, re.M):
            raise SourceError("apt-get update of the Falco repository failed: %s" % text.strip()[-1500:])

    def install(self, family, version, driver):
        spec = self.package_spec(family, version, None)
        argv = {
            "apt": ["apt-get", "install", "-y", "-q", "--no-install-recommends", "--allow-downgrades",
                    "-o", "Dpkg::Options::=--force-confold", spec],
            "dnf": ["dnf", "install", "-y"] + (["--allowerasing"] if version else []) + [spec],
            "yum": ["yum", "install", "-y", spec],
            "zypper": ["zypper", "--non-interactive", "install", "--oldpackage", spec],
        }[family]
        rc, out, err = self.run(argv, env=package_env(driver, self.params["falcoctl_enabled"]), check_rc=False)
        if rc != 0:
            text = (err or "") + (out or "")
            hint = ""
            if "NO_PUBKEY" in text or "signature" in text.lower():
                hint = " The package signature does not match the pinned key."
            elif driver == "kmod":
                hint = (" The kmod driver needs dkms, make and the kernel headers of the running kernel; "
                        "install them or choose driver=modern_ebpf.")
            raise SourceError("installing %s failed (rc=%s):%s %s" % (spec, rc, hint, text.strip()[-1500:]))

    def remove_package(self, family):
        argv = {"apt": ["apt-get", "purge", "-y", "-q", "falco"], "dnf": ["dnf", "remove", "-y", "falco"],
                "yum": ["yum", "remove", "-y", "falco"], "zypper": ["zypper", "--non-interactive", "remove", "falco"]}
        self.run(argv[family], env={"DEBIAN_FRONTEND": "noninteractive"})

    # -- services ---------------------------------------------------------------------------
    def unit_state(self, unit):
        _rc, enabled, _err = self.run(["systemctl", "is-enabled", unit], check_rc=False)
        _rc, active, _err = self.run(["systemctl", "is-active", unit], check_rc=False)
        return enabled.strip(), active.strip()

    def set_unit(self, unit, enabled=None, active=None, check_rc=True):
        """Bring ``unit`` to ``enabled``/``active`` (None leaves it); one change per systemctl call."""
        is_enabled, is_active = self.unit_state(unit)
        for verb, needed in (("stop", active is False and is_active == "active"),
                             ("disable", enabled is False and is_enabled == "enabled"),
                             ("enable", enabled is True and is_enabled != "enabled"),
                             ("start", active is True and is_active != "active")):
            if needed:
                self.change("%s %s" % (verb, unit))
                if not self.check:
                    self.run(["systemctl", verb, unit], check_rc=check_rc)

    def ensure_services(self, driver):
        if not has_systemd():
            self.notes.append("systemd is not running on this host (container or chroot): no Falco service "
                              "was enabled or started")
            return None
        unit = DRIVER_UNITS[driver]
        for other in ALL_FALCO_UNITS:
            if other != unit:
                self.set_unit(other, enabled=False, active=False)
        if not self.params["falcoctl_enabled"]:
            enabled, _active = self.unit_state(FOLLOW_UNIT)
            if enabled not in ("masked", "", "not-found") and "No such file" not in enabled:
                self.change("mask %s" % FOLLOW_UNIT)
                if not self.check:
                    self.run(["systemctl", "mask", FOLLOW_UNIT])
        if unit:
            self.set_unit(unit, enabled=self.params["service_enabled"],
                          active=self.params["service_state"] == "started")
        return unit

    def stop_all_units(self):
        if has_systemd():
            for unit in ALL_FALCO_UNITS:
                self.set_unit(unit, enabled=False, active=False, check_rc=False)

    # -- entry point ------------------------------------------------------------------------
    def family(self):
        family = self.params.get("package_manager")
        if family and family != "auto":
            if not self.binary("apt-get" if family == "apt" else family):
                raise InputError("package_manager=%s but %s is not installed on this host"
                                 % (family, "apt-get" if family == "apt" else family))
            return family
        return detect_family(read_os_release(), self.binary)

    def check_driver(self, driver, version):
        if driver not in DRIVER_UNITS:
            raise InputError("unknown driver %r; choose modern_ebpf, kmod or none" % driver)
        if driver == "ebpf":
            if not version or version_key(version) >= version_key("0.44.0"):
                raise InputError("the legacy 'ebpf' probe was removed in Falco 0.44; use driver=modern_ebpf "
                                 "(or pin version below 0.44 to keep the legacy probe)")

    def apply(self, cov):
        params = self.params
        steps = params["manage"]
        family = self.family()
        version = params.get("version")
        driver = params["driver"]
        result = {"package_manager": family}
        if params["state"] == "absent":
            installed = self.installed_version(family)
            if installed and "service" in steps:
                self.stop_all_units()
            if installed and "package" in steps:
                self.change("remove package falco %s" % installed)
                if not self.check:
                    self.remove_package(family)
            if "repository" in steps:
                self.remove(APT_SOURCE if family == "apt" else ZYPP_REPO if family == "zypper" else YUM_REPO)
            if "key" in steps:
                self.remove(APT_KEYRING if family == "apt" else RPM_KEY)
            cov.add(len(steps))
            result["falco"] = self.facts(family, None, None, installed=bool(self.installed_version(family)))
            return result
        self.check_driver(driver, version)
        previous = dict((p, fileio.read_bytes(p)) for p in (APT_KEYRING, APT_SOURCE, RPM_KEY, YUM_REPO, ZYPP_REPO))
        key_path, keys = self.ensure_key(family) if "key" in steps else (None, [])
        repo_path, repo_changed = self.ensure_repository(family) if "repository" in steps else (None, False)
        cov.add(len([s for s in ("key", "repository") if s in steps]))
        result.update(key_file=key_path, repository_file=repo_path, key_fingerprints=[k["fingerprint"] for k in keys])
        try:
            self._install(family, version, driver, result, keys, repo_changed, cov)
        except (InputError, SourceError):
            if not self.check:
                self.restore(previous)
            raise
        return result

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

    def package_spec(self, family, version, installed):
        """What to ask the package manager for: the pinned version, or the installed one when it satisfies the pin."""
        if installed and version_matches(installed, version):
            version = installed if version else None
        if not version:
            return "falco"
        return ("falco-%s" if family in ("dnf", "yum") else "falco=%s") % version

    def _install(self, family, version, driver, result, keys, repo_changed, cov):
        steps = self.params["manage"]
        installed = self.installed_version(family)
        result["package_spec"] = self.package_spec(family, version, installed)
        if "package" in steps:
            if family != "apt" and keys:
                self.rpm_import(keys)
            if installed is None or not version_matches(installed, version):
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
                        raise SourceError("the package manager reported success but falco is not installed")
            elif repo_changed and family == "apt" and not self.check:
                self.apt_update()
            cov.add()
        if "service" in steps:
            unit = self.ensure_services(driver) if (installed or self.check) else None
            cov.add()
        else:
            unit = DRIVER_UNITS[driver] if has_systemd() else None
        result["falco"] = self.facts(family, driver, unit, installed=bool(installed), version=installed)

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
    except UnicodeDecodeError:
        text = "\x00"
    if "\x00" in text:
        return "(binary, %d bytes, sha256 %s)\n" % (len(data), hashlib.sha256(data).hexdigest())
    return text if text.endswith("\n") else text + "\n"


def run(ctl):
    """The falco_install step: coverage counts the steps done (key, repository, package, service) and the facts."""
    steps = ctl.params["manage"]
    cov = Coverage("steps", asked=len(steps) + 1)
    installer = Installer(ctl)
    result = installer.apply(cov)
    cov.add()  # the facts
    facts = result.pop("falco")
    out = Outcome(cov, changed=installer.changed, notes=installer.notes, changes=installer.changes,
                  ansible_facts={"falco": facts}, **result)
    if ctl.diff_mode and installer.changed:
        out.diff = installer.diff
    out.msg = "; ".join(installer.changes) or "Falco is as requested"
    return out
