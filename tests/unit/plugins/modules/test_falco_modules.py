"""The Falco modules through AnsibleModule: argument handling, check mode, diff, results."""

import os

from ansible_collections.ainative.security.plugins.modules import (
    falco_config,
    falco_events,
    falco_install,
    falco_response,
    falco_rules,
)
from lab import falco_data

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
BASE = os.path.join(ROOT, "lab", "falco", "falco_rules.yaml")
GOOD = "- rule: R\n  desc: d\n  condition: spawned_process and container\n  output: o\n  priority: ERROR\n"
BAD = "- rule: R\n  desc: d\n  condition: spawnd_process\n  output: o\n  priority: ERROR\n"


def test_rules_validate_only(run_module):
    result, failed = run_module(falco_rules, {"content": GOOD, "base_rules": [BASE], "falco_validate": "never"})
    assert not failed and not result["changed"] and result["valid"]
    result, failed = run_module(falco_rules, {"content": BAD, "base_rules": [BASE], "falco_validate": "never"})
    assert failed
    assert "<content>:3: rule 'R': condition uses macro 'spawnd_process'" in result["msg"]
    assert result["findings"][0]["location"]["line"] == 3


def test_rules_deploy_check_diff_backup(run_module, tmp_path):
    dest = str(tmp_path / "rules.d" / "50-custom.yaml")
    args = {"content": GOOD, "dest": dest, "base_rules": [BASE], "falco_validate": "never"}
    result, failed = run_module(falco_rules, args, check_mode=True, diff=True)
    assert not failed and result["changed"] and not os.path.exists(dest)
    assert result["diff"]["after"] == GOOD
    result, failed = run_module(falco_rules, args)
    assert not failed and result["changed"] and open(dest).read() == GOOD
    result, failed = run_module(falco_rules, args)
    assert not failed and not result["changed"]
    result, failed = run_module(falco_rules, dict(args, content=BAD))
    assert failed and "the live file is unchanged" in result["msg"]
    assert open(dest).read() == GOOD
    newer = GOOD.replace("ERROR", "WARNING")
    result, failed = run_module(falco_rules, dict(args, content=newer))
    assert not failed and result["backup_file"] and open(result["backup_file"]).read() == GOOD
    result, failed = run_module(falco_rules, {"dest": dest, "state": "absent"})
    assert not failed and result["changed"] and not os.path.exists(dest)


def test_rules_missing_base_and_binary(run_module):
    result, failed = run_module(falco_rules, {"content": GOOD, "base_rules": ["/nonexistent/rules.yaml"]})
    assert failed and "base_rules file(s) not found" in result["msg"]
    result, failed = run_module(falco_rules, {"content": GOOD, "base_rules": [BASE], "falco_validate": "always",
                                              "falco_binary": "/nonexistent/falco"})
    assert failed and "falco_validate=always" in result["msg"]


def test_rules_uses_falco_binary_when_present(run_module, tmp_path):
    """A fake falco that refuses everything: its verdict is honoured (one branch; the real path is Molecule's)."""
    fake = tmp_path / "falco"
    fake.write_text("#!/bin/sh\necho '{\"falco_load_results\":[{\"name\":\"x\",\"successful\":false,"
                    "\"errors\":[{\"code\":\"LOAD_ERR_COMPILE_CONDITION\",\"message\":\"boom\"}]}]}'\nexit 1\n")
    fake.chmod(0o755)
    result, failed = run_module(falco_rules, {"content": GOOD, "base_rules": [BASE], "falco_binary": str(fake)})
    assert failed and "falco -V: boom" in result["msg"]
    assert result["falco_validation"]["ran"] and result["falco_validation"]["rc"] == 1


def test_config_dropin(run_module, tmp_path):
    dest = str(tmp_path / "config.d" / "50-ainative.yaml")
    args = {"dest": dest, "json_output": True, "priority": "warning",
            "file_output": {"filename": "/var/log/falco.log"},
            "http_output": {"url": "http://collector.example.internal:2801/", "insecure": True}}
    result, failed = run_module(falco_config, args, check_mode=True)
    assert not failed and result["changed"] and not os.path.exists(dest)
    result, failed = run_module(falco_config, args, diff=True)
    assert not failed and result["changed"]
    assert "json_output: true" in open(dest).read()
    assert len(result["config_warnings"]) == 2
    result, failed = run_module(falco_config, args)
    assert not failed and not result["changed"]
    result, failed = run_module(falco_config, dict(args, json_output=False))
    assert failed and "json_output: true" in result["msg"]
    result, failed = run_module(falco_config, {"dest": dest, "file_output": {"filename": "relative.log"}})
    assert failed and "absolute path" in result["msg"]


def test_events_module_on_lines(run_module):
    victim = {"id": "0123456789abcdef", "name": "model-server", "image": "ml/serve:1"}
    allowed = {"id": "fedcba9876543210", "name": "falco", "image": "falco:1"}
    result, failed = run_module(falco_events, {"lines": falco_data.event_log(victim, allowed), "priority": "error"})
    assert not failed and not result["changed"]
    assert result["matched"] == 3 and result["summary"]["by_severity"]["CRITICAL"] == 2
    result, failed = run_module(falco_events, {"lines": [], "limit": -1})
    assert failed and "limit" in result["msg"]


def test_response_without_targets_and_unknown_runtime(run_module):
    result, failed = run_module(falco_response, {"targets": [{"id": None, "name": None}]})
    assert not failed and result["actions"] == [] and not result["changed"]


def test_install_refuses_missing_package_manager(run_module):
    result, failed = run_module(falco_install, {"package_manager": "zypper"})
    assert failed and "zypper is not installed" in result["msg"]
    result, failed = run_module(falco_install, {"driver": "bpf"})
    assert failed and "driver" in result["msg"]
