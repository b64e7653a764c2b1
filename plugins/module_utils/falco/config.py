# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The falco_config control: a checked configuration drop-in under /etc/falco/config.d."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import DependencyError, InputError
from ansible_collections.ainative.security.plugins.module_utils.core.module import Outcome
from ansible_collections.ainative.security.plugins.module_utils.falco.files import remove_file, write_file

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - depends on the host
    yaml = None
    HAS_YAML = False

FALCO_PRIORITIES = ("emergency", "alert", "critical", "error", "warning", "notice", "informational", "info", "debug")


def build_config(params):
    """The drop-in settings dict from the module options (``settings`` is merged last)."""
    config = {}
    if params.get("json_output") is not None:
        config["json_output"] = params["json_output"]
        if params["json_output"]:
            config["json_include_output_property"] = True
            config["json_include_tags_property"] = True
    if params.get("priority"):
        config["priority"] = params["priority"]
    if params.get("buffered_outputs") is not None:
        config["buffered_outputs"] = params["buffered_outputs"]
    file_output = params.get("file_output")
    if file_output:
        config["file_output"] = dict((k, v) for k, v in file_output.items() if v is not None)
    http = params.get("http_output")
    if http:
        config["http_output"] = dict((k, v) for k, v in http.items() if v is not None)
    for key in ("stdout_output", "syslog_output"):
        if params.get(key) is not None:
            config[key] = {"enabled": params[key]}
    if params.get("rules_files"):
        config["rules_files"] = list(params["rules_files"])
    for key, value in (params.get("settings") or {}).items():
        config[key] = value
    return config


def check_config(config):
    """Errors (list of str) and warnings for a drop-in; Falco would refuse or misbehave on the errors."""
    errors, warnings = [], []
    prio = config.get("priority")
    if prio is not None and str(prio).lower() not in FALCO_PRIORITIES:
        errors.append("priority %r is not one of %s" % (prio, ", ".join(FALCO_PRIORITIES)))
    for key in ("json_output", "buffered_outputs", "watch_config_files"):
        if key in config and not isinstance(config[key], bool):
            errors.append("%s must be true or false, got %r" % (key, config[key]))
    file_output = config.get("file_output") or {}
    if file_output.get("enabled"):
        name = file_output.get("filename")
        if not name or not str(name).startswith("/"):
            errors.append("file_output.filename must be an absolute path when file_output is enabled, got %r" % (name,))
    http = config.get("http_output") or {}
    if http.get("enabled"):
        url = str(http.get("url") or "")
        if not url.startswith(("http://", "https://")):
            errors.append("http_output.url must be an http:// or https:// URL when http_output is enabled, got %r"
                          % url)
        elif url.startswith("http://") and not url.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]")):
            warnings.append("http_output sends alerts in clear text to %s; use https:// with ca_cert/ca_bundle" % url)
        if http.get("insecure"):
            warnings.append("http_output.insecure disables TLS certificate verification")
        if http.get("mtls") and not (http.get("client_cert") and http.get("client_key")):
            errors.append("http_output.mtls needs client_cert and client_key")
        if config.get("json_output") is not True:
            errors.append("http_output to a collector such as falcosidekick needs json_output: true in the same drop-in")
    rules = config.get("rules_files")
    if rules is not None and not (isinstance(rules, list) and all(isinstance(r, str) for r in rules)):
        errors.append("rules_files must be a list of paths")
    return errors, warnings


def render_config(config):
    if not HAS_YAML:
        raise DependencyError("PyYAML is required to write the Falco configuration drop-in")
    header = "# Managed by ainative.security.falco_config; Falco merges this over falco.yaml (config_files).\n"
    return header + yaml.safe_dump(config, default_flow_style=False, sort_keys=True)


def run(ctl):
    params = ctl.params
    dest = params["dest"]
    cov = Coverage("drop-ins", asked=1)
    if params["state"] == "absent":
        result = remove_file(ctl, dest)
        cov.add()
        out = Outcome(cov, changed=result["changed"], dest=dest)
        out.diff = result.get("diff")
        return out
    config = build_config(params)
    errors, warnings = check_config(config)
    if errors:
        raise InputError("Falco configuration drop-in %s was not written: %s" % (dest, "; ".join(errors)),
                         errors=errors)
    # A missing config.d means Falco is not installed (or dest has a typo): creating it would hide that.
    parent = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(parent):
        raise InputError("the directory of the drop-in %s does not exist; install Falco first (falco_install) "
                         "or fix dest" % dest)
    written = write_file(ctl, dest, render_config(config), make_dirs=False)
    cov.add()
    for warning in warnings:
        ctl.warn(warning)
    out = Outcome(cov, changed=written["changed"], dest=dest, config=config, config_warnings=warnings,
                  **dict((k, v) for k, v in written.items() if k == "backup_file"))
    out.diff = written.get("diff")
    out.msg = "drop-in %s %s" % (dest, "written" if written["changed"] else "up to date")
    return out
