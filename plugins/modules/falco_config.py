#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: falco_config
short_description: Write a Falco configuration drop-in under /etc/falco/config.d
version_added: 0.1.0
description:
  - Writes Falco settings as a drop-in file that Falco merges over the packaged C(falco.yaml)
    (C(config_files), Falco 0.38 and later), so package upgrades never conflict with local changes.
  - Typed options for JSON output, file output (for example C(/var/log/falco.log)), HTTP output to a collector
    such as falcosidekick with TLS options, the minimum rule priority and buffered outputs; anything else goes in
    I(settings).
  - The settings are checked before anything is written (priorities, absolute output paths, URLs, mTLS pairs,
    JSON output required for HTTP output); a refused drop-in leaves the live one untouched.
requirements:
  - PyYAML on the managed host.
author:
  - Ainative Security Team (@ainative-security)
extends_documentation_fragment:
  - ainative.security.attributes
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    description: Reports whether the drop-in would change.
  diff_mode:
    support: full
    description: Shows the old and new drop-in.
  platform:
    support: full
    platforms: posix
options:
  dest:
    description: Path of the drop-in.
    type: path
    default: /etc/falco/config.d/50-ainative.yaml
  state:
    description: C(absent) removes the drop-in.
    type: str
    choices: [present, absent]
    default: present
  json_output:
    description: Emit alerts as JSON (needed by falcosidekick and by M(ainative.security.falco_events)).
    type: bool
  priority:
    description: Minimum priority of the rules Falco loads.
    type: str
    choices: [emergency, alert, critical, error, warning, notice, informational, info, debug]
  buffered_outputs:
    description: Buffer the outputs (file, program, stdout).
    type: bool
  stdout_output:
    description: Enable the stdout output (discarded under systemd).
    type: bool
  syslog_output:
    description: Enable the syslog output.
    type: bool
  file_output:
    description: The file output.
    type: dict
    suboptions:
      enabled:
        description: Enable it.
        type: bool
        default: true
      filename:
        description: Absolute path of the log file.
        type: path
        default: /var/log/falco.log
      keep_alive:
        description: Keep the file open between alerts.
        type: bool
  http_output:
    description: The HTTP output, for example to falcosidekick.
    type: dict
    suboptions:
      enabled:
        description: Enable it.
        type: bool
        default: true
      url:
        description: Collector URL (use https://).
        type: str
        required: true
      user_agent:
        description: User-Agent header.
        type: str
      insecure:
        description: Skip TLS certificate verification (not recommended).
        type: bool
      ca_cert:
        description: CA certificate file to verify the collector.
        type: path
      ca_bundle:
        description: CA bundle file.
        type: path
      ca_path:
        description: Directory of CA certificates.
        type: path
      mtls:
        description: Present a client certificate.
        type: bool
      client_cert:
        description: Client certificate for mTLS.
        type: path
      client_key:
        description: Client key file for mTLS (a path; the key itself never passes through Ansible).
        type: path
      compress_uploads:
        description: Compress the uploads.
        type: bool
      keep_alive:
        description: Reuse the connection.
        type: bool
  rules_files:
    description: Replace Falco's C(rules_files) list (files and directories, loaded in order).
    type: list
    elements: path
  settings:
    description: Any other Falco settings, merged last (top-level keys of C(falco.yaml)).
    type: dict
  backup:
    description: Keep a copy of the drop-in it replaces.
    type: bool
    default: true
notes:
  - The file options (O(mode), O(owner), ...) apply to the drop-in; a new drop-in gets mode C(0644) unless O(mode)
    says otherwise.
  - The directory of O(dest) must exist (the Falco package creates C(/etc/falco/config.d)); a missing one is
    refused, since it usually means Falco is not installed or O(dest) has a typo.
seealso:
  - module: ainative.security.falco_rules
"""

EXAMPLES = r"""
- name: JSON alerts to /var/log/falco.log and to falcosidekick over TLS
  ainative.security.falco_config:
    json_output: true
    priority: notice
    file_output:
      filename: /var/log/falco.log
    http_output:
      url: https://falcosidekick.monitoring.svc:2801/
      ca_cert: /etc/falco/certs/ca.pem
"""

RETURN = r"""
dest:
  description: The drop-in path.
  returned: always
  type: str
config:
  description: The settings written.
  returned: when state is present
  type: dict
  sample: {"json_output": true, "file_output": {"enabled": true, "filename": "/var/log/falco.log"}}
config_warnings:
  description: Settings Falco accepts but that weaken security (clear-text HTTP, insecure TLS).
  returned: when state is present
  type: list
  elements: str
backup_file:
  description: Copy of the replaced drop-in.
  returned: when a drop-in was replaced and backup is true
  type: str
verdict:
  description: V(pass) when every step was done, V(incomplete) otherwise (then the task fails).
  returned: always
  type: str
coverage:
  description:
    - What the module examined - C(unit) (V(drop-ins)), C(asked), C(examined), C(missed), C(complete) and C(gaps).
  returned: always
  type: dict
"""

from ansible_collections.ainative.security.plugins.module_utils.core.module import NO_GATE, ControlModule
from ansible_collections.ainative.security.plugins.module_utils.falco import config

PRIORITIES = ["emergency", "alert", "critical", "error", "warning", "notice", "informational", "info", "debug"]


def main():
    module = ControlModule(
        "falco_config",
        argument_spec=dict(
            dest=dict(type="path", default="/etc/falco/config.d/50-ainative.yaml"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            json_output=dict(type="bool"),
            priority=dict(type="str", choices=PRIORITIES),
            buffered_outputs=dict(type="bool"),
            stdout_output=dict(type="bool"),
            syslog_output=dict(type="bool"),
            file_output=dict(type="dict", options=dict(
                enabled=dict(type="bool", default=True),
                filename=dict(type="path", default="/var/log/falco.log"),
                keep_alive=dict(type="bool"),
            )),
            http_output=dict(type="dict", options=dict(
                enabled=dict(type="bool", default=True),
                url=dict(type="str", required=True),
                user_agent=dict(type="str"),
                insecure=dict(type="bool"),
                ca_cert=dict(type="path"),
                ca_bundle=dict(type="path"),
                ca_path=dict(type="path"),
                mtls=dict(type="bool"),
                client_cert=dict(type="path"),
                client_key=dict(type="path", no_log=False),
                compress_uploads=dict(type="bool"),
                keep_alive=dict(type="bool"),
            )),
            rules_files=dict(type="list", elements="path"),
            settings=dict(type="dict"),
            backup=dict(type="bool", default=True),
        ),
        gate=NO_GATE,
        max_findings=None,
        reports=False,
        add_file_common_args=True,
    )
    module.run(config.run)


if __name__ == "__main__":
    main()
