"""Falco in the lab: configuration and rules validation, triage of real-format alerts, and a response
against real Podman containers (one named in a critical alert is stopped, an allow-listed one keeps running).

Falco itself cannot run here (no kernel driver or package download), so the rules are validated by the
collection's validator against lab/falco/falco_rules.yaml and the alert log is written in Falco's JSON format.
"""

import os
import shutil

from lab import falco_data

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

GOOD_RULES = """- list: ml_serving_binaries
  items: [tritonserver, torchserve, python3]

- rule: Shell spawned by model server
  desc: A model-serving process started a shell.
  condition: spawned_process and container and shell_procs and proc.pname in (ml_serving_binaries)
  output: Shell under a model server (parent=%proc.pname command=%proc.cmdline %container.info)
  priority: CRITICAL
  tags: [container, shell, mitre_execution, T1059]
"""

BROKEN_RULES = """- rule: Model file tampering
  desc: Writes below the model store by anything but the registry sync.
  condition: open_write and fd.name startswith /srv/models and not proc.name in (model_sync_binaries
  output: Model store written (file=%fd.name command=%proc.cmdline %container.info)
  priority: HIGH
"""

# Checked by lab/prereq.py before prepare(); when this part fails, its plays in site.yml get no hosts.
REQUIRES = ("image",)
PLAY_HOSTS = ("falco_hosts",)


def prepare(lab, work):
    base = os.path.join(work, "falco")
    if os.path.isdir(base):
        shutil.rmtree(base)
    etc = os.path.join(base, "etc")
    for sub in ("config.d", "rules.d", "sources"):
        os.makedirs(os.path.join(etc, sub), exist_ok=True)
    shutil.copy(os.path.join(ROOT, "lab", "falco", "falco_rules.yaml"), os.path.join(etc, "falco_rules.yaml"))
    sources = []
    for name, text in (("50-ml-platform.yaml", GOOD_RULES), ("60-model-store.yaml", BROKEN_RULES)):
        path = os.path.join(etc, "sources", name)
        with open(path, "w") as handle:
            handle.write(text)
        sources.append({"name": name, "src": path})
    # A good version of the second file is live already: the broken update must not replace it.
    with open(os.path.join(etc, "rules.d", "60-model-store.yaml"), "w") as handle:
        handle.write("- macro: model_store_write\n  condition: open_write and fd.name startswith /srv/models\n")
    victim = falco_data.start_container("ainative-falco-lab-victim")
    allowed = falco_data.start_container("ainative-falco-lab-allowed")
    log = os.path.join(base, "falco.log")
    with open(log, "w") as handle:
        # Falco's file_output holds alerts only (its own log lines go to stderr/syslog): every line is JSON.
        alerts = [line for line in falco_data.event_log(victim, allowed) if line.startswith("{")]
        handle.write("\n".join(alerts) + "\n")
    print("[lab] falco: containers %s (to be stopped) and %s (allow-listed) started"
          % (victim["name"], allowed["name"]))
    return {
        "falco_site_config_dropin": os.path.join(etc, "config.d", "50-ainative.yaml"),
        "falco_site_rules_dir": os.path.join(etc, "rules.d"),
        "falco_site_base_rules": [os.path.join(etc, "falco_rules.yaml")],
        "falco_site_rules_sources": sources,
        "falco_site_event_log": log,
        "falco_site_priority": "warning",
        "falco_site_since": "1h",
        "falco_site_response_allow_list": ["ainative-falco-lab-allowed", "falco"],
        "falco_site_response_dry_run": False,
        "falco_site_http_url": "https://falcosidekick.lab.internal:2801/",
    }
