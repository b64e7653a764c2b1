#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: falco_install
short_description: Install Falco from its signed repository (or a mirror) with a pinned key and an explicit driver
version_added: 0.1.0
description:
  - Configures Falco's package repository on apt (Debian, Ubuntu), dnf/yum (RHEL, Fedora, CentOS, Amazon Linux)
    and zypper (SUSE) hosts, or an internal mirror for air-gapped sites.
  - The repository signing key is trusted only if every primary key in it has a pinned fingerprint
    (I(key_fingerprint)); revoked or expired keys are refused. The verified key is written locally
    (apt C(signed-by) keyring, rpm C(gpgkey=file://)), so the package manager never fetches an unpinned key
    and a repository signed by another key fails with a clear message.
  - Installs the C(falco) package non-interactively with the driver chosen explicitly
    (C(FALCO_DRIVER_CHOICE)), optionally at a pinned version, then enables and starts the systemd unit that
    matches the driver. Where systemd is not running (containers, chroots) no service is managed.
  - I(state=absent) stops and disables the Falco units, purges the package and removes the repository and key.
  - Returns the facts C(ansible_facts.falco) (installed version, driver, unit, rules files).
author:
  - Ainative Security Team (@ainative-security)
extends_documentation_fragment:
  - ainative.security.attributes
attributes:
  check_mode:
    support: full
    description: Reports what would change (key, repository, package, units) without changing anything.
  diff_mode:
    support: full
    description: Shows the repository file and the key fingerprints before and after.
  platform:
    support: full
    platforms: posix
options:
  state:
    description: Whether Falco is installed (C(present)) or removed with its repository and key (C(absent)).
    type: str
    choices: [present, absent]
    default: present
  version:
    description:
      - Falco package version to install, for example C(0.42.1). An installed package of another version is
        replaced (downgrades are allowed). Omit to install the newest version once and keep it.
    type: str
  driver:
    description:
      - Driver Falco uses; selects C(FALCO_DRIVER_CHOICE) and the systemd unit
        (C(falco-modern-bpf.service), C(falco-kmod.service)).
      - C(none) installs no service (Falco runs with plugins only, or in containers).
      - C(ebpf) is the legacy probe, removed in Falco 0.44; it is accepted only with a I(version) below 0.44.
      - C(kmod) needs dkms, make and the headers of the running kernel on the host.
    type: str
    choices: [modern_ebpf, kmod, ebpf, none]
    default: modern_ebpf
  key_fingerprint:
    description:
      - Full fingerprints (40 or 64 hex digits, spaces allowed) of the keys allowed to sign the repository.
        Every primary key in the key file must be one of these. Defaults to Falco's current package signing key.
    type: list
    elements: str
    default: ['478B2FBBC75F4237B731DA4365106822B35B1B1F']
  key_url:
    description:
      - Where to get the public signing key (C(https://), C(http://) or C(file://)). Use the copy on your mirror
        in air-gapped sites. Fetched only when the local key is missing or does not match the pin.
    type: str
    default: https://falco.org/repo/falcosecurity-packages.asc
  key_content:
    description: The ASCII-armored public key itself, instead of I(key_url).
    type: str
  key_refresh:
    description: Fetch the key again even if the local copy matches the pin.
    type: bool
    default: false
  repo_url:
    description:
      - Base URL of the package repository; defaults to C(https://download.falco.org/packages/deb) (apt) or
        C(https://download.falco.org/packages/rpm) (dnf, yum, zypper). Set it to an internal mirror
        (C(https://), C(http://) or C(file://)).
    type: str
  repo_suite:
    description: Debian suite of the apt repository.
    type: str
    default: stable
  repo_component:
    description: Debian component of the apt repository.
    type: str
    default: main
  repo_arch:
    description: Restrict the apt source to one architecture (C(amd64), C(arm64)).
    type: str
  package_manager:
    description: Package manager to use; C(auto) detects it from C(/etc/os-release).
    type: str
    choices: [auto, apt, dnf, yum, zypper]
    default: auto
  falcoctl_enabled:
    description:
      - Keep falcoctl's automatic rules updates (C(falcoctl-artifact-follow.service)). When false the unit is
        masked and C(FALCOCTL_ENABLED=no) is passed to the package scripts, so rules change only through Ansible.
    type: bool
    default: false
  service_enabled:
    description: Enable the driver's unit at boot (only where systemd runs).
    type: bool
    default: true
  service_state:
    description: State of the driver's unit (only where systemd runs).
    type: str
    choices: [started, stopped]
    default: started
  timeout:
    description: Seconds to wait when downloading the key.
    type: int
    default: 30
  validate_certs:
    description: Verify TLS certificates when downloading the key.
    type: bool
    default: true
  manage:
    description:
      - The steps this task does - V(key) (fetch, check and write the pinned signing key), V(repository),
        V(package) (install or remove the pinned version) and V(service) (the driver's systemd unit).
      - The C(ainative.security.falco) role uses O(manage=[key]) and does the rest with ansible.builtin modules,
        using RV(package_spec) and C(ansible_facts.falco.unit). An empty list only reads the facts.
    type: list
    elements: str
    choices: [key, repository, package, service]
    default: [key, repository, package, service]
    version_added: 0.2.0
notes:
  - The repository and the packages are verified by apt/rpm against the pinned key; this module has gpg read the key
    file (in a throw-away GNUPGHOME) to check fingerprints, revocation and expiry, it does not verify signatures
    itself. C(gpg) (gnupg) must be installed on the host.
  - Falco's own key rotations (2023, 2026) broke hosts that trusted a URL instead of a fingerprint; pin the
    fingerprint and update it deliberately after checking U(https://falco.org/docs/setup/packages/).
seealso:
  - module: ainative.security.falco_rules
  - module: ainative.security.falco_config
"""

EXAMPLES = r"""
- name: Install Falco 0.42.1 with the modern eBPF probe from the official repository
  ainative.security.falco_install:
    version: 0.42.1
    driver: modern_ebpf

- name: Install from an internal mirror in an air-gapped site
  ainative.security.falco_install:
    repo_url: https://mirror.example.internal/falco/deb
    key_url: https://mirror.example.internal/falco/falcosecurity-packages.asc
    key_fingerprint: ['478B 2FBB C75F 4237 B731  DA43 6510 6822 B35B 1B1F']
    driver: kmod

- name: Install in a container image (no systemd, no driver)
  ainative.security.falco_install:
    driver: none

- name: Remove Falco, its repository and key
  ainative.security.falco_install:
    state: absent
"""

RETURN = r"""
package_manager:
  description: Package manager used.
  returned: always
  type: str
  sample: apt
key_file:
  description: Where the verified signing key was written.
  returned: when state is present
  type: str
  sample: /usr/share/keyrings/falco-archive-keyring.gpg
repository_file:
  description: The repository definition file.
  returned: when state is present
  type: str
  sample: /etc/apt/sources.list.d/falcosecurity.list
key_fingerprints:
  description: Fingerprints of the verified keys.
  returned: when state is present
  type: list
  elements: str
  sample: ['478B2FBBC75F4237B731DA4365106822B35B1B1F']
changes:
  description: What was (or, in check mode, would be) changed.
  returned: always
  type: list
  elements: str
  sample: ['write /etc/apt/sources.list.d/falcosecurity.list', 'install falco=0.42.1 (driver modern_ebpf)']
notes:
  description: Remarks about this host, such as no systemd.
  returned: always
  type: list
  elements: str
package_spec:
  description: The package to ask the package manager for - the pinned version, or the installed one when it
    satisfies the pin (so a pin of C(0.42.1) is met by C(0.42.1-1)).
  returned: when state is present
  type: str
  sample: falco=0.42.1
verdict:
  description: V(pass) when every step was done, V(incomplete) otherwise (then the task fails).
  returned: always
  type: str
coverage:
  description:
    - What the module examined - C(unit) (V(steps)), C(asked), C(examined), C(missed), C(complete) and C(gaps).
  returned: always
  type: dict
ansible_facts:
  description: Facts about Falco on the host.
  returned: always
  type: dict
  contains:
    falco:
      description: C(installed), C(version), C(driver), C(unit), C(systemd), C(package_manager), C(rules_files),
        C(config_dir), C(rules_dir), C(binary), and where systemd runs C(service_enabled), C(service_active).
      type: dict
      sample: {"installed": true, "version": "0.42.1", "driver": "modern_ebpf", "unit": "falco-modern-bpf.service"}
"""

from ansible_collections.ainative.security.plugins.module_utils.core.module import NO_GATE, ControlModule
from ansible_collections.ainative.security.plugins.module_utils.falco import install


def main():
    module = ControlModule(
        "falco_install",
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            version=dict(type="str"),
            driver=dict(type="str", choices=["modern_ebpf", "kmod", "ebpf", "none"], default="modern_ebpf"),
            key_fingerprint=dict(type="list", elements="str", default=[install.FALCO_KEY_FINGERPRINT], no_log=False),
            key_url=dict(type="str", default=install.FALCO_KEY_URL, no_log=False),
            key_content=dict(type="str", no_log=False),
            key_refresh=dict(type="bool", default=False, no_log=False),
            repo_url=dict(type="str"),
            repo_suite=dict(type="str", default="stable"),
            repo_component=dict(type="str", default="main"),
            repo_arch=dict(type="str"),
            package_manager=dict(type="str", choices=["auto", "apt", "dnf", "yum", "zypper"], default="auto"),
            falcoctl_enabled=dict(type="bool", default=False),
            service_enabled=dict(type="bool", default=True),
            service_state=dict(type="str", choices=["started", "stopped"], default="started"),
            timeout=dict(type="int", default=30),
            validate_certs=dict(type="bool", default=True),
            manage=dict(type="list", elements="str", choices=list(install.STEPS), default=list(install.STEPS)),
        ),
        gate=NO_GATE,
        max_findings=None,
        reports=False,
        mutually_exclusive=[("key_content", "key_url")],
    )
    module.run(install.run)


if __name__ == "__main__":
    main()
