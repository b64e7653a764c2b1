# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inline ``trivy:ignore`` / ``tfsec:ignore`` comments in scanned IaC: found, reported, and not obeyed.

Trivy (0.5x and later) has no flag to turn its inline ignores off, so a comment in the code under review
can hide that code's own misconfigurations. Waivers must come from the playbook's policy, so for a
directory or IaC target:

1. every inline ignore rule in a configuration file is a finding ``inline-waiver`` (HIGH, kind
   misconfiguration), which the policy can accept like any other (``ignore: [{id: inline-waiver, ...}]``);
2. the configuration files are copied with those rules defused (same length, so lines stay put) and
   scanned again for misconfigurations; every finding the comments hid is added with
   ``details.inline_waiver``, and the gate treats it like any other finding.

The parser follows Trivy's ``pkg/iac/ignore``: a whitespace-separated word, with leading ``#``, ``/`` or
``*`` stripped, that starts with ``trivy:`` or ``tfsec:`` and has an ``ignore:<id>`` section.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import os
import re

from ansible_collections.ainative.security.plugins.module_utils.core.errors import bounded_text
from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding

RULE_ID = "inline-waiver"
PREFIXES = ("trivy:", "tfsec:")
# Files Trivy's IaC scanners read (Terraform, CloudFormation, Kubernetes, Helm, ARM, Dockerfiles).
CONFIG_SUFFIXES = (".tf", ".tf.json", ".tfvars", ".hcl", ".json", ".yaml", ".yml", ".tpl")
CONFIG_NAMES = ("Dockerfile", "Dockerfile.*", "*.Dockerfile", "Containerfile", "Containerfile.*", "*.Containerfile")
SKIP_DIRS = (".git",)
FILE_LIMIT = 32 << 20
# A rule word: at the start, after whitespace, or after the comment marks Trivy strips (# / *).
_RULE = re.compile(r"(?<![^\s#/*])(?:trivy|tfsec):\S*")


class InlineWaiver(object):
    __slots__ = ("path", "line", "waived", "text")

    def __init__(self, path, line, waived, text):
        self.path = path
        self.line = line
        self.waived = waived
        self.text = text


def _waived_id(word):
    """The id an inline rule word waives (``*`` for all), or None when Trivy would not read it as a rule."""
    word = word.lstrip("#/*")
    if not word.startswith(PREFIXES):
        return None
    segments = word.split(":", 1)[1].split(":")
    for index in range(0, len(segments) - 1, 2):
        if segments[index] == "ignore":
            waived = segments[index + 1].split("[", 1)[0]
            if waived:
                return waived
    return None


def is_config_file(name):
    return name.endswith(CONFIG_SUFFIXES) or any(fnmatch.fnmatchcase(name, p) for p in CONFIG_NAMES)


def config_files(root):
    """Relative paths of the configuration files under ``root`` (symlinks not followed, like Trivy)."""
    for base, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            path = os.path.join(base, name)
            if is_config_file(name) and os.path.isfile(path) and not os.path.islink(path):
                yield os.path.relpath(path, root)


def find(root):
    """(inline waivers under ``root``, files too large to read); a file that cannot be read is skipped."""
    waivers = []
    too_large = []
    for rel in config_files(root):
        path = os.path.join(root, rel)
        try:
            if os.path.getsize(path) > FILE_LIMIT:
                too_large.append(rel)
                continue
            with open(path, "rb") as handle:
                data = handle.read()
        except (IOError, OSError):
            continue
        if b"trivy:" not in data and b"tfsec:" not in data:
            continue
        for number, line in enumerate(data.decode("utf-8", "replace").split("\n"), 1):
            for word in line.split():
                waived = _waived_id(word)
                if waived:
                    waivers.append(InlineWaiver(rel, number, waived, bounded_text(word.lstrip("#/*"), 200)))
    return waivers, too_large


def _defuse(text):
    """``trivy:ignore:X`` -> ``trivy-ignore:X``: the same length, no longer a rule for Trivy."""
    def swap(match):
        word = match.group(0)
        return word[:5] + "-" + word[6:] if _waived_id(word) else word
    return _RULE.sub(swap, text)


def defused_copy(root, dest):
    """Copy the configuration files under ``root`` to ``dest`` with every inline rule defused."""
    for rel in config_files(root):
        source = os.path.join(root, rel)
        try:
            if os.path.getsize(source) > FILE_LIMIT:
                continue
            with open(source, "rb") as handle:
                text = handle.read().decode("utf-8", "surrogateescape")
        except (IOError, OSError):
            continue
        target = os.path.join(dest, rel)
        if not os.path.isdir(os.path.dirname(target)):
            os.makedirs(os.path.dirname(target))
        with open(target, "wb") as handle:
            handle.write(_defuse(text).encode("utf-8", "surrogateescape"))
    return dest


def _finding(waiver, control, target_name):
    what = "every check" if waiver.waived == "*" else waiver.waived
    return make_finding(
        control, "misconfiguration", RULE_ID, "HIGH",
        "inline waiver without reason from policy: %s" % waiver.text, target=target_name,
        location={"path": waiver.path, "line": waiver.line, "resource": waiver.waived},
        details={"scanner": "ainative.security", "fixable": True, "waived": waiver.waived, "rule": waiver.text,
                 "message": "the scanned file waives %s itself; Trivy would hide it, so what it waives is reported "
                            "anyway. Remove the comment, or accept this waiver in the playbook's ignore list with "
                            "a reason" % what})


def findings(waivers, control, target_name):
    """One ``inline-waiver`` finding per rule; the waived id is its resource, so line shifts keep the fingerprint."""
    return [_finding(waiver, control, target_name) for waiver in waivers]


def reveal(waived_findings, found):
    """Add to ``found`` the misconfigurations only the defused scan saw, marked ``details.inline_waiver``."""
    known = set(f["fingerprint"] for f in found if f["kind"] == "misconfiguration")
    added = 0
    for finding in waived_findings:
        if finding["kind"] != "misconfiguration" or finding["fingerprint"] in known:
            continue
        known.add(finding["fingerprint"])
        finding["details"]["inline_waiver"] = "hidden by an inline ignore comment in the scanned files; reported anyway"
        found.append(finding)
        added += 1
    return added
