# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Container response to Falco alerts: stop or kill the containers named in the events, with Podman
or Docker, never touching an allow-listed one."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import json

from ansible_collections.ainative.security.plugins.module_utils.core import findings
from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import DependencyError
from ansible_collections.ainative.security.plugins.module_utils.core.module import Outcome
from ansible_collections.ainative.security.plugins.module_utils.falco.events import container_of

CONTROL = "falco_response"
ACTED = ("stopped", "killed", "paused")
# What each action does and the result it records.
DONE = {"stop": "stopped", "kill": "killed", "pause": "paused"}


class Responder(object):
    """Stop or kill the containers named in events, with Podman or Docker, honouring an allow-list."""

    def __init__(self, module, runtime="auto", action="stop", allow_list=None, timeout=10, signal="KILL",
                 dry_run=False):
        self.module = module
        self.action = action
        self.allow_list = list(allow_list or [])
        self.timeout = timeout
        self.signal = signal
        self.dry_run = dry_run
        self.runtimes = self._runtimes(runtime)

    def _runtimes(self, runtime):
        names = ["podman", "docker"] if runtime == "auto" else [runtime]
        found = []
        for name in names:
            path = self.module.get_bin_path(name)
            if path:
                found.append((name, path))
        if not found:
            raise DependencyError("no container runtime found (%s); install podman or docker, or set runtime"
                                  % " or ".join(names))
        return found

    def inspect(self, ref):
        """(runtime name, binary, info dict) of the container ``ref`` (id, id prefix or name), or None."""
        for name, binary in self.runtimes:
            rc, out, _err = self.module.run_command([binary, "container", "inspect", "--", ref])
            if rc != 0:
                continue
            try:
                data = json.loads(out)
            except ValueError:
                continue
            if isinstance(data, list) and data:
                return name, binary, data[0]
        return None

    def allowed(self, info, candidates):
        names = [n for n in candidates if n]
        cid = info.get("Id") or ""
        name = (info.get("Name") or "").lstrip("/")
        image = info.get("ImageName") or (info.get("Config") or {}).get("Image") or ""
        names += [cid, cid[:12], name, image]
        for pattern in self.allow_list:
            for value in names:
                if value and (fnmatch.fnmatchcase(value, pattern) or (len(pattern) >= 12 and value.startswith(pattern))):
                    return pattern
        return None

    def respond(self, targets):
        """``targets``: list of dicts with id/name/image/rules/max_priority. Returns the action records."""
        records = []
        seen = set()
        for target in targets:
            ref = target.get("id") or target.get("name")
            record = {"container": ref, "name": target.get("name"), "image": target.get("image"),
                      "rules": target.get("rules", []), "action": self.action, "runtime": None}
            found = self.inspect(ref) or (self.inspect(target["name"]) if target.get("name") else None)
            if not found:
                record.update(result="skipped", reason="container not found in %s"
                              % " or ".join(n for n, _b in self.runtimes))
                records.append(record)
                continue
            runtime, binary, info = found
            cid = info.get("Id") or ref
            if cid in seen:
                continue
            seen.add(cid)
            record.update(runtime=runtime, id=cid, name=(info.get("Name") or "").lstrip("/") or target.get("name"))
            pattern = self.allowed(info, [target.get("name"), target.get("image")])
            if pattern:
                record.update(result="skipped", reason="allow-listed by %r" % pattern)
                records.append(record)
                continue
            state = info.get("State") or {}
            running = state.get("Running") if isinstance(state, dict) else str(state).lower() == "running"
            paused = isinstance(state, dict) and bool(state.get("Paused"))
            if self.action == "pause" and paused:
                record.update(result="unchanged", reason="container is already paused")
                records.append(record)
                continue
            if not running and not paused:
                record.update(result="unchanged", reason="container is not running")
                records.append(record)
                continue
            if self.dry_run:
                record.update(result="would_%s" % self.action, reason="dry run")
                records.append(record)
                continue
            note = None
            if paused:
                # A frozen process cannot take a stop signal (podman refuses to stop a paused container) and
                # unpausing it would let it run again: SIGKILL ends it without thawing it.
                argv = [binary, "kill", "--signal", "KILL", "--", cid]
                note = "container was paused: killed with SIGKILL without unpausing it"
            elif self.action == "stop":
                argv = [binary, "stop", "--time", str(self.timeout), "--", cid]
            elif self.action == "pause":
                # Frozen, not gone: its processes and file system stay for forensics.
                argv = [binary, "pause", "--", cid]
            else:
                argv = [binary, "kill", "--signal", self.signal, "--", cid]
            rc, out, err = self.module.run_command(argv)
            if rc != 0:
                record.update(result="failed", reason=(err or out).strip()[-500:])
            else:
                record.update(result=DONE[self.action], reason=note)
            records.append(record)
        return records


def collect_targets(params):
    targets = []
    for target in params["targets"] or []:
        if target.get("id") or target.get("name"):
            targets.append(target)
    for event in params["events"] or []:
        container = container_of(event)
        if container:
            container["rules"] = [event.get("rule")]
            targets.append(container)
    for name in params["names"] or []:
        targets.append({"id": None, "name": name})
    return targets


def action_finding(record):
    label = record.get("name") or record.get("container")
    result = record["result"]
    severity = "HIGH" if result in ACTED + ("failed",) else "INFO"
    return findings.make_finding(
        CONTROL, "runtime", "container_%s" % result, severity,
        "container %s: %s%s" % (label, result, " (%s)" % record["reason"] if record.get("reason") else ""),
        target=label, location={"resource": record.get("id") or record.get("container")},
        status="open" if result in ACTED + ("failed", "would_stop", "would_kill", "would_pause") else "ignored",
        details={"rules": record.get("rules"), "runtime": record.get("runtime"), "image": record.get("image")})


def run(ctl):
    """The falco_response control; a container that could not be acted on is a coverage miss."""
    params = ctl.params
    targets = collect_targets(params)
    cov = Coverage("containers")
    actions = []
    if targets:
        responder = Responder(ctl.module, runtime=params["runtime"], action=params["action"],
                              allow_list=params["allow_list"], timeout=params["timeout"], signal=params["signal"],
                              dry_run=params["dry_run"] or ctl.check_mode)
        actions = responder.respond(targets)
    for record in actions:
        if record["result"] == "failed":
            cov.miss(record.get("name") or record["container"], "could not %s: %s" % (params["action"], record["reason"]))
        else:
            cov.add()
    responded = [r.get("name") or r.get("container") for r in actions if r["result"] in ACTED]
    out = Outcome(cov, [action_finding(r) for r in actions], changed=bool(responded),
                  actions=actions, responded=responded)
    out.msg = "%d container(s) %s" % (len(responded), DONE[params["action"]])
    return out
