"""falco_install helpers: key pinning through gpg, platform detection, repository rendering."""

import os
import shutil
import subprocess
import time

import pytest

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.falco import install as fi
from ansible_collections.ainative.security.plugins.module_utils.falco import signing_key as sk


class GpgModule(object):
    """Just what signing_key needs of an AnsibleModule: get_bin_path and run_command (bytes)."""

    def get_bin_path(self, name):
        return shutil.which(name)

    def run_command(self, argv, data=None, binary_data=False, encoding=None):
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        return proc.returncode, proc.stdout, proc.stderr


def checked(data, pinned, **kwargs):
    return sk.checked_key(GpgModule(), data, pinned, **kwargs)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Two throw-away keys made by gpg: (armored key 1, fingerprint 1, armored key 2, fingerprint 2, both)."""
    if not shutil.which("gpg"):
        pytest.skip("gpg is not installed")
    home = str(tmp_path_factory.mktemp("gnupg"))
    os.chmod(home, 0o700)
    env = dict(os.environ, GNUPGHOME=home)
    out = []
    for uid in ("One <one@example.invalid>", "Two <two@example.invalid>"):
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", uid, "rsa2048", "sign", "1y"],
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        listing = subprocess.run(["gpg", "--batch", "--with-colons", "--list-keys", uid], env=env, check=True,
                                 stdout=subprocess.PIPE).stdout.decode()
        fpr = [ln.split(":")[9] for ln in listing.splitlines() if ln.startswith("fpr:")][0]
        armored = subprocess.run(["gpg", "--batch", "--armor", "--export", fpr], env=env, check=True,
                                 stdout=subprocess.PIPE).stdout
        out.append((armored, fpr))
    both = subprocess.run(["gpg", "--batch", "--armor", "--export", out[0][1], out[1][1]], env=env, check=True,
                          stdout=subprocess.PIPE).stdout
    return {"one": out[0], "two": out[1], "both": both}


def test_parse_armored_and_binary(keys):
    armored, fpr = keys["one"]
    parsed, binary = checked(armored, [fpr])
    assert [k["fingerprint"] for k in parsed] == [fpr]
    assert parsed[0]["uids"] == ["One <one@example.invalid>"]
    assert not parsed[0]["revoked"]
    assert 360 * 86400 < parsed[0]["expires"] - parsed[0]["created"] < 370 * 86400
    assert not binary.startswith(b"-----BEGIN")
    assert checked(binary, [fpr])[0][0]["fingerprint"] == fpr
    rearmored = checked(binary, [fpr], armor=True)[1]
    assert rearmored.startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert checked(rearmored, [fpr])[0][0]["fingerprint"] == fpr


def test_pinned_key_accepted_with_spaces_and_lowercase(keys):
    armored, fpr = keys["one"]
    spaced = " ".join(fpr[i:i + 4] for i in range(0, 40, 4)).lower()
    assert checked(armored, [spaced])[0][0]["fingerprint"] == fpr


def test_wrong_pin_refused(keys):
    armored, fpr = keys["one"]
    with pytest.raises(sk.KeyMismatchError) as exc:
        checked(armored, [keys["two"][1]])
    assert "does not match the pinned fingerprint" in str(exc.value)
    assert fpr in str(exc.value)


def test_extra_key_in_bundle_refused_unless_pinned(keys):
    with pytest.raises(sk.KeyMismatchError):
        checked(keys["both"], [keys["one"][1]])
    assert len(checked(keys["both"], [keys["one"][1], keys["two"][1]])[0]) == 2


def test_expired_key_refused(keys):
    armored, fpr = keys["one"]
    with pytest.raises(sk.KeyMismatchError) as exc:
        checked(armored, [fpr], now=time.time() + 3 * 365 * 86400)
    assert "expired" in str(exc.value)


def test_revoked_key_refused(keys):
    assert sk.parse_colons("pub:r:255:22:AB:1:::-:::sc:\nfpr:::::::::%s:\n" % ("A" * 40))[0]["revoked"]
    with pytest.raises(sk.KeyMismatchError) as exc:
        sk.verify_key([{"fingerprint": "A" * 40, "revoked": True, "expired": False, "expires": None}], ["A" * 40])
    assert "revoked" in str(exc.value)


@pytest.mark.parametrize("value", ["B35B1B1F", "0x65106822B35B1B1F", "not hex at all", ""])
def test_short_or_bad_fingerprints_refused(value):
    with pytest.raises(InputError):
        sk.normalize_fingerprint(value)


def test_falco_default_fingerprint_is_well_formed():
    assert sk.normalize_fingerprint("478B 2FBB C75F 4237 B731  DA43 6510 6822 B35B 1B1F") == fi.FALCO_KEY_FINGERPRINT


@pytest.mark.parametrize("data", [b"", b"\x00\x01garbage", b"-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n"])
def test_not_a_key(data):
    if not shutil.which("gpg"):
        pytest.skip("gpg is not installed")
    with pytest.raises(InputError):
        checked(data, [fi.FALCO_KEY_FINGERPRINT])


@pytest.mark.parametrize("os_release, binaries, family", [
    ({"ID": "debian"}, {"apt-get"}, "apt"),
    ({"ID": "ubuntu", "ID_LIKE": "debian"}, {"apt-get"}, "apt"),
    ({"ID": "rocky", "ID_LIKE": "rhel centos fedora"}, {"dnf", "yum"}, "dnf"),
    ({"ID": "amzn", "ID_LIKE": "centos rhel fedora"}, {"yum"}, "yum"),
    ({"ID": "opensuse-leap", "ID_LIKE": "suse opensuse"}, {"zypper"}, "zypper"),
])
def test_detect_family(os_release, binaries, family):
    assert fi.detect_family(os_release, lambda b: b in binaries) == family


def test_unsupported_distribution():
    with pytest.raises(InputError) as exc:
        fi.detect_family({"ID": "alpine"}, lambda b: b == "apk")
    assert "unsupported distribution 'alpine'" in str(exc.value)


def test_render_repositories():
    apt = fi.render_apt_source("https://mirror.example.internal/falco/deb/", "stable", "main").decode()
    assert "deb [signed-by=/usr/share/keyrings/falco-archive-keyring.gpg] " \
           "https://mirror.example.internal/falco/deb stable main" in apt
    rpm = fi.render_rpm_repo(fi.FALCO_RPM_URL).decode()
    assert "gpgcheck=1" in rpm and "gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-falcosecurity" in rpm
    assert "baseurl=https://download.falco.org/packages/rpm" in rpm


def test_versions_and_env():
    assert fi.version_matches("0.42.1", "0.42.1")
    assert fi.version_matches("0.42.1-1", "0.42.1")
    assert not fi.version_matches("0.42.10", "0.42.1")
    assert fi.version_matches("0.42.1", None)
    assert fi.version_key("0.44.0") > fi.version_key("0.43.9")
    env = fi.package_env("kmod", False)
    assert env["FALCO_DRIVER_CHOICE"] == "kmod" and env["FALCOCTL_ENABLED"] == "no"
    assert env["FALCO_FRONTEND"] == "noninteractive"


@pytest.mark.parametrize("driver, version, ok", [
    ("modern_ebpf", None, True), ("kmod", "0.44.1", True), ("none", None, True),
    ("ebpf", "0.43.2", True), ("ebpf", "0.44.0", False), ("ebpf", None, False), ("bpf", None, False),
])
def test_driver_gate(driver, version, ok):
    installer = object.__new__(fi.Installer)
    if ok:
        installer.check_driver(driver, version)
    else:
        with pytest.raises(InputError):
            installer.check_driver(driver, version)


class FakeModule(object):
    """Records commands; answers systemctl is-enabled/is-active from a table (one branch: no systemd here)."""

    def __init__(self, states, check_mode=False, **params):
        self.states = states
        self.check_mode = check_mode
        self.commands = []
        self.params = dict(falcoctl_enabled=False, service_enabled=True, service_state="started")
        self.params.update(params)
        self.module = self  # the Installer takes the ControlModule; this fake is both

    def run_command(self, argv, environ_update=None):
        self.commands.append(argv)
        if argv[0] == "systemctl" and argv[1] in ("is-enabled", "is-active"):
            enabled, active = self.states.get(argv[2], ("not-found", "inactive"))
            return (0, (enabled if argv[1] == "is-enabled" else active) + "\n", "")
        return (0, "", "")


def test_services_switch_driver_and_mask_follow(monkeypatch):
    monkeypatch.setattr(fi, "has_systemd", lambda: True)
    module = FakeModule({"falco-kmod.service": ("enabled", "active"),
                         "falco-modern-bpf.service": ("disabled", "inactive"),
                         "falcoctl-artifact-follow.service": ("disabled", "inactive")})
    installer = fi.Installer(module)
    assert installer.ensure_services("modern_ebpf") == "falco-modern-bpf.service"
    acted = [c for c in module.commands if c[1] not in ("is-enabled", "is-active")]
    assert acted == [["systemctl", "stop", "falco-kmod.service"], ["systemctl", "disable", "falco-kmod.service"],
                     ["systemctl", "mask", "falcoctl-artifact-follow.service"],
                     ["systemctl", "enable", "falco-modern-bpf.service"],
                     ["systemctl", "start", "falco-modern-bpf.service"]]
    assert installer.changed


def test_services_idempotent_and_check_mode(monkeypatch):
    monkeypatch.setattr(fi, "has_systemd", lambda: True)
    states = {"falco-modern-bpf.service": ("enabled", "active"),
              "falcoctl-artifact-follow.service": ("masked", "inactive")}
    installer = fi.Installer(FakeModule(states))
    installer.ensure_services("modern_ebpf")
    assert not installer.changed
    module = FakeModule({"falco-kmod.service": ("disabled", "inactive")}, check_mode=True)
    installer = fi.Installer(module)
    installer.ensure_services("kmod")
    assert installer.changes == ["enable falco-kmod.service", "start falco-kmod.service"]
    assert all(c[1] in ("is-enabled", "is-active") for c in module.commands)


def test_no_systemd_no_units(monkeypatch):
    monkeypatch.setattr(fi, "has_systemd", lambda: False)
    module = FakeModule({})
    installer = fi.Installer(module)
    assert installer.ensure_services("modern_ebpf") is None
    assert module.commands == [] and "systemd is not running" in installer.notes[0]
