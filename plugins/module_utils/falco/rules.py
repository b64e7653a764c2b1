# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validated deployment of Falco rules files (the falco_rules control).

A candidate is validated first (the collection's schema and reference checks always, ``falco -V``
whenever the real binary is present), together with the files Falco loads before it. Only a
candidate that fails neither check nor the gate replaces the live file, atomically with a backup.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import tempfile

from ansible_collections.ainative.security.plugins.module_utils.core import findings
from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import DependencyError, InputError
from ansible_collections.ainative.security.plugins.module_utils.core.module import Outcome
from ansible_collections.ainative.security.plugins.module_utils.falco.falco_validate import run_falco_validate
from ansible_collections.ainative.security.plugins.module_utils.falco.files import read_text, remove_file, write_file
from ansible_collections.ainative.security.plugins.module_utils.falco.rules_yaml import loader_class, yaml
from ansible_collections.ainative.security.plugins.module_utils.falco.validator import format_problem, validate

CONTROL = "falco_rules"
PACKAGED_RULES = ("/etc/falco/falco_rules.yaml", "/etc/falco/falco_rules.local.yaml")
REASONS_SHOWN = 20


def default_base_rules(dest, src=None):
    """The files Falco loads before ``dest``: the packaged rules, then earlier files of its directory.

    The candidate itself is never its own base (validating the packaged file would redefine every rule).
    """
    itself = set(os.path.abspath(p) for p in (dest, src) if p)
    base = [p for p in PACKAGED_RULES if os.path.isfile(p) and os.path.abspath(p) not in itself]
    if dest:
        directory = os.path.dirname(os.path.abspath(dest))
        name = os.path.basename(dest)
        if os.path.isdir(directory) and os.path.abspath(directory) != "/etc/falco":
            for entry in sorted(os.listdir(directory)):
                path = os.path.join(directory, entry)
                if entry < name and entry.endswith((".yaml", ".yml")) and os.path.isfile(path):
                    base.append(path)
    return base


def rule_findings(target, report):
    """Findings (shared model) for the errors (HIGH) and warnings (LOW) of a validation report."""
    out = []
    for severity, problems in (("HIGH", report.get("errors", [])), ("LOW", report.get("warnings", []))):
        for problem in problems:
            out.append(findings.make_finding(
                CONTROL, "misconfiguration", "falco_rules_%s" % problem["code"], severity,
                format_problem(problem), target=target,
                location={"path": problem.get("file"), "line": problem.get("line"),
                          "resource": problem.get("object")},
                url="https://falco.org/docs/concepts/rules/basic-elements/",
                details={"code": problem["code"]}))
    return findings.sort_findings(out)


def base_files(params):
    if params.get("base_rules") is not None:
        missing = [p for p in params["base_rules"] if not os.path.isfile(p)]
        if missing:
            raise InputError("base_rules file(s) not found: %s; list only files Falco loads before this one"
                             % ", ".join(missing))
        return list(params["base_rules"])
    return default_base_rules(params.get("dest"), params.get("src"))


def falco_binary(ctl):
    how = ctl.params["falco_validate"]
    if how == "never":
        return None
    path = ctl.params.get("falco_binary") or "falco"
    found = path if os.path.isabs(path) and os.access(path, os.X_OK) else ctl.module.get_bin_path(path)
    if not found and how == "always":
        raise DependencyError("falco_validate=always but the falco binary %r was not found; install Falco or "
                              "use falco_validate=auto" % path)
    return found


def falco_errors(result, label, path):
    """``falco -V`` refusals as problems of the validation report."""
    errors = []
    for entry in result["files"] or [{"name": path, "errors": [{"message": result["stderr"] or
                                                                "falco -V failed (rc=%s)" % result["rc"]}]}]:
        for err in entry.get("errors") or []:
            errors.append({"file": label if entry.get("name") == path else entry.get("name"),
                           "line": err.get("line"), "object": None, "code": "falco_validate",
                           "message": "falco -V: %s" % (err.get("message") or err.get("code"))})
    if not errors:
        errors.append({"file": label, "line": None, "object": None, "code": "falco_validate",
                       "message": "falco -V refused the file (rc=%s): %s" % (result["rc"], result["stderr"].strip()[-500:])})
    return errors


def validate_candidate(ctl, text, label):
    base = base_files(ctl.params)
    documents = [(p, read_text(p, "base rules file")) for p in base] + [(label, text)]
    report = validate(documents, engine_version=ctl.params.get("engine_version"), checked=[label])
    report["base_rules"] = base
    binary = falco_binary(ctl) if report["valid"] else None
    report["falco"] = {"ran": False, "binary": binary}
    if not binary:
        return report
    tmpdir = tempfile.mkdtemp(prefix="falco-rules-")
    try:
        name = os.path.basename(ctl.params.get("dest") or "candidate.yaml")
        if not name.endswith((".yaml", ".yml")):
            name += ".yaml"
        path = os.path.join(tmpdir, name)
        with open(path, "wb") as handle:
            handle.write(text.encode("utf-8"))
        result = run_falco_validate(ctl.module, binary, base + [path])
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    result.update(ran=True, binary=binary)
    report["falco"] = result
    if not result["valid"]:
        report["errors"].extend(falco_errors(result, label, path))
        report["valid"] = False
    return report


def _defines_something(text):
    """True when the text is a non-empty YAML list (overrides and appends define no new object)."""
    try:
        return bool(yaml.load(text, Loader=loader_class()))  # nosec - a SafeLoader subclass
    except yaml.YAMLError:
        return True  # a parse error is an error finding: the file was examined


def run(ctl):
    params = ctl.params
    dest = params.get("dest")
    cov = Coverage("rules files", asked=1)
    if params["state"] == "absent":
        result = remove_file(ctl, dest)
        cov.add()
        out = Outcome(cov, changed=result.pop("changed"), dest=dest, valid=True, errors=[], rule_warnings=[])
        out.diff = result.get("diff")
        return out
    text = params["content"] if params.get("content") is not None else read_text(params["src"], "rules file")
    label = dest or params.get("src") or "<content>"
    report = validate_candidate(ctl, text, label)
    if report["errors"] or any(report["counts"].values()) or _defines_something(text):
        cov.add()
    else:
        # An empty candidate (a template that rendered nothing, a wrong src) must not pass as valid.
        cov.miss(label, "the file holds no rule, macro or list")
    found = rule_findings(label, report)
    # A file whose findings fail the gate (errors always at the default HIGH) never goes live; the
    # playbook's waivers apply first, as they do to the verdict.
    blocking = ctl.blocking(found)
    valid = report["valid"] and not blocking
    extra = dict(dest=dest, valid=valid, errors=report["errors"], rule_warnings=report["warnings"],
                 counts=report["counts"], base_rules=report["base_rules"], falco_validation=report["falco"])
    if not valid:
        problems = report["errors"] or report["warnings"]
        reasons = [format_problem(p) for p in problems]
        out = Outcome(cov, found, **extra)
        out.msg = "rules file %s is invalid and was not deployed%s: %s" % (
            label, " (the live file is unchanged)" if dest and os.path.exists(dest) else "",
            "; ".join(reasons[:REASONS_SHOWN])
            + (" (and %d more)" % (len(reasons) - REASONS_SHOWN) if len(reasons) > REASONS_SHOWN else ""))
        if report["valid"]:
            out.notes.append("the file passed validation but %d finding(s) fail the gate, so it was not deployed"
                             % len(blocking))
        return out
    changed = False
    diff = None
    if dest:
        written = write_file(ctl, dest, text, make_dirs=True)
        changed = written["changed"]
        diff = written.get("diff")
        if written.get("backup_file"):
            extra["backup_file"] = written["backup_file"]
    out = Outcome(cov, found, changed=changed, **extra)
    out.diff = diff
    out.msg = "rules file %s is valid%s" % (label, " and deployed" if dest else "")
    return out
