"""Sample data for the Falco control (lab and tests): a large real-style rule set and real-format alerts.

``large_ruleset(n)`` writes rules the way Falco's own rules files do (lists of binaries and paths,
lists inside lists, macros built on macros, folded multi-line conditions, ``in``/``pmatch``/
``intersects``/``glob``, field arguments such as ``proc.aname[2]``, exceptions, disabled rules,
overrides and appends of earlier objects). ``alert(...)`` builds one alert in Falco's JSON output
format (``time``, ``rule``, ``priority``, ``output``, ``output_fields``, ``hostname``, ``source``,
``tags``), with the fields Falco fills for container events.
"""

import datetime
import json
import random

from lab.prereq import LABEL, podman_env  # tests call falco_data.podman_env too

PRIORITY_TITLES = {"emergency": "Emergency", "alert": "Alert", "critical": "Critical", "error": "Error",
                   "warning": "Warning", "notice": "Notice", "informational": "Informational", "debug": "Debug"}


def large_ruleset(rules=400, seed=7):
    """(text, expected counts) of a large valid rules file that builds on lab/falco/falco_rules.yaml."""
    rnd = random.Random(seed)
    out = ["# Generated real-style rule set (ainative.security tests): %d rules" % rules,
           "- required_engine_version: 0.26.0", ""]
    lists = macros = 0
    words = ["model", "serve", "train", "feature", "vector", "batch", "ingest", "label", "notebook", "registry"]
    for i in range(rules // 4):
        out += ["- list: team_%d_binaries" % i,
                "  items: [%s]" % ", ".join("%s-%s%d" % (rnd.choice(words), rnd.choice(words), j) for j in range(6)),
                ""]
        lists += 1
        out += ["- list: team_%d_paths" % i,
                "  items: [/opt/team%d/bin, /srv/team%d/models, \"/var/lib/team %d\"]" % (i, i, i), ""]
        lists += 1
        out += ["- list: team_%d_all_binaries" % i,
                "  items: [team_%d_binaries, shell_binaries, python3]" % i, ""]
        lists += 1
        out += ["- macro: team_%d_procs" % i,
                "  condition: proc.name in (team_%d_all_binaries)" % i, ""]
        out += ["- macro: team_%d_writes" % i,
                "  condition: >",
                "    (open_write and fd.directory pmatch (team_%d_paths)" % i,
                "     and not fd.name glob '/srv/team%d/models/*.tmp')" % i, ""]
        out += ["- macro: user_known_team_%d_activities" % i,
                "  condition: (never_true)", ""]
        macros += 3
    for i in range(rules):
        team = i % (rules // 4)
        prio = rnd.choice(["EMERGENCY", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFO", "debug"])
        kind = i % 4
        if kind == 0:
            cond = ["spawned_process and container", "and team_%d_procs" % team,
                    "and proc.pname in (runc:[1:CHILD], conmon, containerd-shim)",
                    "and not user_known_team_%d_activities" % team]
        elif kind == 1:
            cond = ["team_%d_writes and evt.dir = <" % team, "and proc.aname[2] != \"dpkg\"",
                    "and not proc.cmdline startswith \"pip install\""]
        elif kind == 2:
            cond = ["(evt.type in (connect, sendto) and evt.dir=<)",
                    "and fd.sip != \"127.0.0.1\" and not fd.snet in (\"10.0.0.0/8\", \"192.168.0.0/16\")",
                    "and container.image.repository startswith registry.example.internal/team%d/" % team]
        else:
            cond = ["spawned_process and proc.args intersects (\"--privileged\", \"-it\")",
                    "and thread.cap_effective icontains sys_admin and container.mount.dest[/var/run/docker.sock] != \"N/A\""]
        out += ["- rule: Team %d rule %d" % (team, i),
                "  desc: >",
                "    Generated detection %d for team %d, in the style of Falco's packaged rules." % (i, team),
                "  condition: >"] + ["    " + c for c in cond] + [
                "  output: Team %d event %d (user=%%user.name command=%%proc.cmdline file=%%fd.name %%container.info)"
                % (team, i),
                "  priority: %s" % prio,
                "  tags: [maturity_sandbox, container, team_%d, mitre_execution, T1059]" % team]
        if i % 5 == 0:
            out += ["  enabled: false"]
        if i % 3 == 0:
            out += ["  exceptions:",
                    "    - name: known_images",
                    "      fields: [container.image.repository, proc.name]",
                    "      comps: [startswith, in]",
                    "      values:",
                    "        - [registry.example.internal/base/, [python3, bash]]",
                    "    - name: single_field",
                    "      fields: proc.pname",
                    "      comps: in",
                    "      values: [systemd, cron]"]
        out.append("")
    # Tuning of objects defined earlier in the set and in the base rules.
    out += ["- list: shell_binaries", "  items: [fish]", "  override:", "    items: append", "",
            "- macro: user_known_team_0_activities", "  condition: (proc.name = trusted-tool)",
            "  override:", "    condition: replace", "",
            "- rule: Team 0 rule 0", "  enabled: true", "  override:", "    enabled: replace", "",
            "- rule: Team 1 rule 1", "  condition: and not proc.name = healthcheck",
            "  output: (tuned)", "  override:", "    condition: append", "    output: append", ""]
    return "\n".join(out) + "\n", {"rules": rules, "macros": macros, "lists": lists}


BROKEN_RULES = {
    # name: (text, expected code, expected line)
    "undefined_macro": ("- rule: Shell in model server\n  desc: x\n  condition: spawnd_process and container\n"
                        "  output: shell (%proc.cmdline)\n  priority: WARNING\n", "undefined_macro", 3),
    "bad_priority": ("- rule: Bad priority\n  desc: x\n  condition: container\n  output: o\n  priority: SEVERE\n",
                     "bad_priority", 5),
    "missing_output": ("- macro: m\n  condition: container\n\n- rule: No output\n  desc: x\n  condition: m\n"
                       "  priority: ERROR\n", "missing_key", 4),
    "yaml_syntax": ("- rule: Broken YAML\n  desc: [unclosed\n  condition: container\n", "yaml_parse", 3),
    "unbalanced_condition": ("- rule: Unbalanced\n  desc: x\n  condition: >\n    (spawned_process and\n"
                             "     (container\n  output: o\n  priority: ERROR\n", "bad_condition", 4),
    "override_undefined": ("- list: no_such_list\n  items: [a]\n  override:\n    items: append\n",
                           "undefined_target", 1),
    "bad_exception": ("- rule: Bad exception\n  desc: x\n  condition: container\n  output: o\n  priority: ERROR\n"
                      "  exceptions:\n    - name: two_fields\n      fields: [proc.name, fd.name]\n"
                      "      comps: [=]\n", "bad_exceptions", 6),
    "macro_cycle": ("- macro: a_loop\n  condition: b_loop and container\n\n- macro: b_loop\n  condition: a_loop\n\n"
                    "- rule: Uses loop\n  desc: x\n  condition: a_loop\n  output: o\n  priority: ERROR\n",
                    "macro_cycle", 1),
    "not_a_list": ("rule: top level mapping\ncondition: container\n", "not_a_list", 1),
}


def falco_time(when):
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + "%09dZ" % (when.microsecond * 1000 + 123)


def alert(rule, priority, when, container=None, hostname="ml-node-1", tags=None, proc="bash", cmdline="bash -i",
          extra=None, source="syscall"):
    """One alert in Falco's JSON output format; ``container`` is None (host) or {id, name, image}."""
    fields = {
        "evt.time": int((when - datetime.datetime(1970, 1, 1, tzinfo=when.tzinfo)).total_seconds() * 1e9),
        "evt.type": "execve",
        "proc.name": proc,
        "proc.cmdline": cmdline,
        "proc.pname": "runc:[1:CHILD]" if container else "sshd",
        "user.name": "root",
        "user.uid": 0,
        "container.id": container["id"][:12] if container else "host",
        "container.name": container["name"] if container else "host",
        "container.image.repository": (container.get("image") or "").split(":")[0] if container else None,
        "container.image.tag": ((container.get("image") or ":latest").split(":") + ["latest"])[1] if container else None,
    }
    fields.update(extra or {})
    title = PRIORITY_TITLES[priority]
    info = ("container_id=%s container_name=%s container_image_repository=%s"
            % (fields["container.id"], fields["container.name"], fields["container.image.repository"])) \
        if container else "container_id=host container_name=host"
    output = "%s: %s %s (user=root process=%s command=%s %s)" % (
        when.strftime("%H:%M:%S.%f") + "123", title, rule, proc, cmdline, info)
    return {
        "hostname": hostname,
        "output": output,
        "output_fields": fields,
        "priority": title,
        "rule": rule,
        "source": source,
        "tags": tags if tags is not None else ["container", "shell", "mitre_execution", "T1059"],
        "time": falco_time(when),
    }


def event_log(victim, allowed, now=None):
    """Lines of a realistic /var/log/falco.log: alerts for two containers and the host, plus Falco's own logs."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    old = now - datetime.timedelta(hours=3)
    lines = [
        "Wed Nov 25 09:00:00 2026: Falco version: 0.42.1 (x86_64)",
        "Wed Nov 25 09:00:00 2026: Loading rules from file /etc/falco/falco_rules.yaml",
        json.dumps(alert("Terminal shell in container", "notice", old, victim)),
        json.dumps(alert("Read sensitive file untrusted", "warning", now - datetime.timedelta(minutes=9), None,
                         tags=["host", "filesystem", "mitre_credential_access", "T1555"], proc="cat",
                         cmdline="cat /etc/shadow")),
        json.dumps(alert("Drop and execute new binary in container", "critical",
                         now - datetime.timedelta(minutes=5), victim,
                         tags=["container", "process", "mitre_persistence", "TA0003"], proc="xmrig",
                         cmdline="/tmp/xmrig -o stratum+tcp://pool")),
        json.dumps(alert("Terminal shell in container", "notice", now - datetime.timedelta(minutes=4), allowed)),
        json.dumps(alert("Launch Package Management Process in Container", "error",
                         now - datetime.timedelta(minutes=3), allowed,
                         tags=["container", "process", "software_mgmt", "T1505"], proc="apt-get",
                         cmdline="apt-get install -y netcat")),
        json.dumps(alert("Drop and execute new binary in container", "critical",
                         now - datetime.timedelta(minutes=2), allowed,
                         tags=["container", "process", "mitre_persistence", "TA0003"], proc="nc",
                         cmdline="/tmp/nc -l 4444")),
        "not json at all",
        "",
    ]
    return lines


# -- real Podman containers for the response ---------------------------------------------------------

IMAGE = "localhost/ainative-debian12:latest"


def start_container(name):
    """Start (or restart) a real Podman container ``name`` that just sleeps; return {id, name, image}."""
    import subprocess
    env = podman_env()
    subprocess.run(["podman", "rm", "-f", "-t", "0", name], env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    proc = subprocess.run(
        ["podman", "run", "-d", "--name", name, "--label", LABEL + "=falco",
         IMAGE, "/bin/sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    return {"id": proc.stdout.decode().strip(), "name": name, "image": IMAGE}


def container_running(name):
    import subprocess
    proc = subprocess.run(["podman", "container", "inspect", "--format", "{{.State.Running}}", name],
                          env=podman_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    return proc.returncode == 0 and proc.stdout.decode().strip() == "true"


def remove_container(name):
    import subprocess
    subprocess.run(["podman", "rm", "-f", "-t", "0", name], env=podman_env(), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
