# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validated deployment of Falco rules files and configuration drop-ins.

A candidate file is validated first (the schema and reference checks of ``falco_rules`` always,
and ``falco -V`` whenever the real binary is present), and only a valid candidate replaces the
live file, atomically and with a backup. An invalid candidate never touches the live file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import tempfile

from ansible_collections.ainative.security.plugins.module_utils.core import fileio, findings
from ansible_collections.ainative.security.plugins.module_utils import falco_rules

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - depends on the host
    yaml = None
    HAS_YAML = False

PACKAGED_RULES = ("/etc/falco/falco_rules.yaml", "/etc/falco/falco_rules.local.yaml")
FALCO_PRIORITIES = ("emergency", "alert", "critical", "error", "warning", "notice", "informational", "info", "debug")


class FalcoFileError(Exception):
    """A file that cannot be deployed; the message says what to fix. ``details`` holds the reasons."""

    def __init__(self, message, details=None):
        super(FalcoFileError, self).__init__(message)
        self.details = details or {}


def _read_text(path, what):
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise FalcoFileError("cannot read %s %s: %s" % (what, path, exc.strerror or exc))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FalcoFileError("%s %s is not UTF-8 text" % (what, path))


def default_base_rules(dest):
    """The files Falco loads before ``dest``: the packaged rules, then earlier files of its directory."""
    base = [p for p in PACKAGED_RULES if os.path.isfile(p) and (not dest or os.path.abspath(p) != os.path.abspath(dest))]
    if dest:
        directory = os.path.dirname(os.path.abspath(dest))
        name = os.path.basename(dest)
        if os.path.isdir(directory) and os.path.abspath(directory) != "/etc/falco":
            for entry in sorted(os.listdir(directory)):
                path = os.path.join(directory, entry)
                if entry < name and entry.endswith((".yaml", ".yml")) and os.path.isfile(path):
                    base.append(path)
    return base


def rule_findings(control, target, report):
    """Findings (shared model) for the errors and warnings of a validation report."""
    out = []
    for severity, problems in (("HIGH", report.get("errors", [])), ("LOW", report.get("warnings", []))):
        for problem in problems:
            out.append(findings.make_finding(
                control, "misconfiguration", "falco_rules_%s" % problem["code"], severity,
                falco_rules.format_problem(problem), target=target,
                location={"path": problem.get("file"), "line": problem.get("line"),
                          "resource": problem.get("object")},
                url="https://falco.org/docs/concepts/rules/basic-elements/",
                details={"code": problem["code"]}))
    return findings.sort_findings(out)


def run_falco_validate(module, binary, files, extra_args=None):
    """``falco -o json_output=true -V f1 -V f2 ...``; returns the parsed load results."""
    argv = [binary, "-o", "json_output=true"] + list(extra_args or [])
    for path in files:
        argv += ["-V", path]
    rc, out, err = module.run_command(argv)
    parsed = falco_rules.parse_falco_validate(out, rc)
    parsed.update(rc=rc, command=" ".join(argv), stderr=(err or "")[-2000:])
    return parsed


class RulesDeployer(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params

    def candidate(self):
        if self.params.get("content") is not None:
            return self.params["content"]
        return _read_text(self.params["src"], "rules file")

    def base_files(self):
        if self.params.get("base_rules") is not None:
            missing = [p for p in self.params["base_rules"] if not os.path.isfile(p)]
            if missing:
                raise FalcoFileError("base_rules file(s) not found: %s; list only files Falco loads before this one"
                                     % ", ".join(missing))
            return list(self.params["base_rules"])
        return default_base_rules(self.params.get("dest"))

    def falco_binary(self):
        how = self.params["falco_validate"]
        if how == "never":
            return None
        path = self.params.get("falco_binary") or "falco"
        found = path if os.path.isabs(path) and os.access(path, os.X_OK) else self.module.get_bin_path(path)
        if not found and how == "always":
            raise FalcoFileError("falco_validate=always but the falco binary %r was not found; install Falco or "
                                 "use falco_validate=auto" % path)
        return found

    def validate(self, text, label):
        base = self.base_files()
        documents = [(p, _read_text(p, "base rules file")) for p in base] + [(label, text)]
        report = falco_rules.validate(documents, engine_version=self.params.get("engine_version"), checked=[label])
        report["base_rules"] = base
        binary = self.falco_binary() if report["valid"] else None
        report["falco"] = {"ran": False, "binary": binary}
        if binary:
            tmpdir = tempfile.mkdtemp(prefix="falco-rules-")
            try:
                name = os.path.basename(self.params.get("dest") or "candidate.yaml")
                if not name.endswith((".yaml", ".yml")):
                    name += ".yaml"
                path = os.path.join(tmpdir, name)
                with open(path, "wb") as handle:
                    handle.write(text.encode("utf-8"))
                result = run_falco_validate(self.module, binary, base + [path])
            finally:
                shutil.rmtree(tmpdir, ignore_errors=True)
            result["ran"] = True
            result["binary"] = binary
            report["falco"] = result
            if not result["valid"]:
                for entry in result["files"] or [{"name": path, "errors": [{"message": result["stderr"] or
                                                                            "falco -V failed (rc=%s)" % result["rc"]}]}]:
                    for err in entry.get("errors") or []:
                        report["errors"].append({
                            "file": label if entry.get("name") == path else entry.get("name"),
                            "line": err.get("line"), "object": None,
                            "code": "falco_validate",
                            "message": "falco -V: %s" % (err.get("message") or err.get("code"))})
                if not report["errors"]:
                    report["errors"].append({"file": label, "line": None, "object": None, "code": "falco_validate",
                                             "message": "falco -V refused the file (rc=%s): %s"
                                             % (result["rc"], result["stderr"].strip()[-500:])})
                report["valid"] = False
        if self.params.get("fail_on_warnings") and report["warnings"]:
            report["valid"] = False
        return report

    def apply(self):
        params = self.params
        dest = params.get("dest")
        result = {"changed": False, "dest": dest}
        if params["state"] == "absent":
            if not dest:
                raise FalcoFileError("state=absent needs dest")
            if os.path.exists(dest):
                result["changed"] = True
                if self.module._diff:
                    result["diff"] = {"before": fileio.read_bytes(dest).decode("utf-8", "replace"), "after": "",
                                      "before_header": dest, "after_header": dest}
                if not self.module.check_mode:
                    os.unlink(dest)
            result.update(valid=True, errors=[], rule_warnings=[])
            return result
        text = self.candidate()
        label = dest or params.get("src") or "<content>"
        report = self.validate(text, label)
        found = rule_findings("falco_rules", label, report)
        result.update(valid=report["valid"], errors=report["errors"], rule_warnings=report["warnings"],
                      counts=report["counts"], base_rules=report["base_rules"], falco_validation=report["falco"],
                      findings=found, summary=findings.summarize(found))
        if not report["valid"]:
            reasons = [falco_rules.format_problem(p) for p in report["errors"]] or \
                [falco_rules.format_problem(p) for p in report["warnings"]]
            raise FalcoFileError(
                "rules file %s is invalid and was not deployed%s: %s" % (
                    label, " (the live file is unchanged)" if dest and os.path.exists(dest) else "",
                    "; ".join(reasons[:20]) + (" (and %d more)" % (len(reasons) - 20) if len(reasons) > 20 else "")),
                details=result)
        if not dest:
            return result
        result.update(fileio.write_if_changed(dest, text.encode("utf-8"), mode=int(params["mode"], 8),
                                              backup=params["backup"], check_mode=self.module.check_mode,
                                              diff=self.module._diff, make_dirs=True))
        return result


# -- configuration drop-in ------------------------------------------------------------------------

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
        raise FalcoFileError("PyYAML is required to write the Falco configuration drop-in")
    header = "# Managed by ainative.security.falco_config; Falco merges this over falco.yaml (config_files).\n"
    return header + yaml.safe_dump(config, default_flow_style=False, sort_keys=True)


class ConfigDeployer(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params

    def apply(self):
        params = self.params
        dest = params["dest"]
        result = {"changed": False, "dest": dest}
        if params["state"] == "absent":
            if os.path.exists(dest):
                result["changed"] = True
                if not self.module.check_mode:
                    os.unlink(dest)
            return result
        config = build_config(params)
        errors, warnings = check_config(config)
        result.update(config=config, config_warnings=warnings)
        if errors:
            raise FalcoFileError("Falco configuration drop-in %s was not written: %s" % (dest, "; ".join(errors)),
                                 details={"errors": errors})
        text = render_config(config)
        result.update(fileio.write_if_changed(dest, text.encode("utf-8"), mode=int(params["mode"], 8),
                                              backup=params["backup"], check_mode=self.module.check_mode,
                                              diff=self.module._diff, make_dirs=True))
        return result
