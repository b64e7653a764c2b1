# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading the output of ``falco -V`` (JSON load results or the text form)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re


def parse_falco_validate(stdout, rc):
    """Read the output of ``falco -o json_output=true -V ...`` (JSON) or the text form.

    Returns ``{"valid": bool, "files": [{"name", "successful", "errors": [...], "warnings": [...]}]}``.
    """
    text = (stdout or "").strip()
    files = []
    start = text.find("{")
    data = None
    if start >= 0:
        try:
            data = json.loads(text[start:])
        except ValueError:
            data = None
    if isinstance(data, dict) and isinstance(data.get("falco_load_results"), list):
        for result in data["falco_load_results"]:
            errors = []
            for err in result.get("errors") or []:
                ctx = err.get("context") or {}
                locations = ctx.get("locations") or []
                line = None
                if locations and isinstance(locations[0], dict):
                    pos = locations[0].get("position") or {}
                    line = pos.get("line")
                    if isinstance(line, int):
                        line += 1
                errors.append({"code": err.get("code"), "message": err.get("message"), "line": line})
            warnings = [{"code": w.get("code"), "message": w.get("message")} for w in result.get("warnings") or []]
            files.append({"name": result.get("name"), "successful": bool(result.get("successful")),
                          "errors": errors, "warnings": warnings})
    else:
        for line in text.splitlines():
            match = re.match(r"^(.*?): (Ok|Ok, with warnings|Invalid)\s*$", line.strip())
            if match:
                files.append({"name": match.group(1), "successful": match.group(2) != "Invalid",
                              "errors": [], "warnings": []})
            elif files and not files[-1]["successful"] and line.strip():
                files[-1]["errors"].append({"code": None, "message": line.strip(), "line": None})
    valid = rc == 0 and all(f["successful"] for f in files)
    return {"valid": valid, "files": files}


def run_falco_validate(module, binary, files, extra_args=None):
    """``falco -o json_output=true -V f1 -V f2 ...``; returns the parsed load results."""
    argv = [binary, "-o", "json_output=true"] + list(extra_args or [])
    for path in files:
        argv += ["-V", path]
    rc, out, err = module.run_command(argv)
    parsed = parse_falco_validate(out, rc)
    parsed.update(rc=rc, command=" ".join(argv), stderr=(err or "")[-2000:])
    return parsed
