"""The Falco modules through AnsibleModule: argument handling, check mode, diff, results."""

import datetime
import json
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
    (tmp_path / "config.d").mkdir()
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
    assert result["error_kind"] == "input"


def test_config_file_options_and_deprecated_octal_string(run_module, tmp_path):
    dest = tmp_path / "50-ainative.yaml"
    result, failed = run_module(falco_config, {"dest": str(dest), "json_output": True, "mode": "0600"})
    assert not failed and result["changed"] and oct(dest.stat().st_mode & 0o777) == "0o600"
    assert result["verdict"] == "pass" and result["coverage"]["examined"] == 1
    result, failed = run_module(falco_config, {"dest": str(dest), "json_output": True, "mode": "u=rw,go=r"})
    assert not failed and result["changed"] and oct(dest.stat().st_mode & 0o777) == "0o644"
    result, failed = run_module(falco_config, {"dest": str(dest), "json_output": True, "mode": "0999"})
    assert failed


def test_config_refuses_missing_parent_directory(run_module, tmp_path):
    """Issue 13 item 8: a missing config.d is refused, not created (it hides a missing Falco or a typo)."""
    dest = tmp_path / "config.d" / "50-ainative.yaml"
    result, failed = run_module(falco_config, {"dest": str(dest), "json_output": True})
    assert failed and "does not exist" in result["msg"] and not dest.parent.exists()


def _examined_nothing(ctl):
    from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
    from ansible_collections.ainative.security.plugins.module_utils.core.module import Outcome
    return Outcome(Coverage("steps", asked=1))


def test_config_and_install_examined_nothing_is_incomplete(run_module, monkeypatch, tmp_path):
    from ansible_collections.ainative.security.plugins.module_utils.falco import config, install
    monkeypatch.setattr(config, "run", _examined_nothing)
    result, failed = run_module(falco_config, {"dest": str(tmp_path / "x.yaml")})
    assert failed and result["verdict"] == "incomplete" and "examined no steps" in result["msg"]
    monkeypatch.setattr(install, "run", _examined_nothing)
    result, failed = run_module(falco_install, {})
    assert failed and result["verdict"] == "incomplete"


def test_events_module_on_lines(run_module):
    victim = {"id": "0123456789abcdef", "name": "model-server", "image": "ml/serve:1"}
    allowed = {"id": "fedcba9876543210", "name": "falco", "image": "falco:1"}
    log = falco_data.event_log(victim, allowed)
    result, failed = run_module(falco_events, {"lines": log, "priority": "error"})
    # Falco's own log lines and a stray line are not alerts: missed, so the run is incomplete.
    assert failed and result["verdict"] == "incomplete" and result["coverage"]["missed_count"] == 3
    assert result["matched"] == 3 and result["coverage"]["examined"] == 6
    result, failed = run_module(falco_events, {"lines": log, "priority": "error",
                                               "accept_incomplete": "Falco logs its start-up here too"})
    assert not failed and not result["changed"] and result["verdict"] == "findings"
    assert result["matched"] == 3 and result["summary"]["by_severity"]["CRITICAL"] == 2
    alerts = [line for line in log if line.startswith("{")]
    result, failed = run_module(falco_events, {"lines": alerts, "fail_on": "critical"})
    assert failed and result["verdict"] == "fail"
    result, failed = run_module(falco_events, {"lines": alerts})
    assert not failed and result["coverage"]["complete"]
    result, failed = run_module(falco_events, {"lines": [], "limit": -1})
    assert failed and "limit" in result["msg"]


def test_events_empty_log_is_incomplete(run_module, tmp_path):
    empty = tmp_path / "falco.log"
    empty.write_text("")
    result, failed = run_module(falco_events, {"path": str(empty)})
    assert failed and result["verdict"] == "incomplete" and result["coverage"]["examined"] == 0
    assert "examined no events" in result["msg"]


def test_events_on_a_file_that_is_no_falco_log(run_module, tmp_path):
    """Issue 13 item 5: /etc/os-release or text-format alerts are no pass."""
    text = tmp_path / "falco.txt"
    text.write_text("10:00:00.000000000: Critical Drop and execute new binary in container (proc=xmrig)\n"
                    "10:00:01.000000000: Notice Terminal shell in container (user=root)\n")
    for path in ("/etc/os-release", str(text)):
        result, failed = run_module(falco_events, {"path": path})
        assert failed and result["verdict"] == "incomplete", path
        assert result["total"] == 0 and result["skipped_lines"] == result["coverage"]["missed_count"] > 0
        assert "not a Falco JSON alert" in result["coverage"]["missed"][0]["reason"]


def _alert_log(path, when, count):
    victim = {"id": "0123456789abcdef", "name": "model-server", "image": "ml/serve:1"}
    path.write_text("".join(json.dumps(falco_data.alert("Terminal shell in container", "notice",
                                                        when - datetime.timedelta(seconds=i), container=victim)) + "\n"
                            for i in range(count)))
    stamp = (when - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)).total_seconds()
    os.utime(str(path), (stamp, stamp))


def test_events_stale_log_with_since_is_incomplete(run_module, tmp_path):
    """Attacker: Falco stopped yesterday; its log still holds 100 valid alerts, all before the window."""
    log = tmp_path / "falco.json"
    yesterday = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
    _alert_log(log, yesterday, 100)
    result, failed = run_module(falco_events, {"path": str(log), "since": "15m"})
    assert failed and result["verdict"] == "incomplete"
    assert result["total"] == 100 and result["outside_window"] == 100 and result["coverage"]["examined"] == 0
    assert "before the window starts" in result["coverage"]["missed"][0]["reason"]
    # Without a window, the same alerts are what was asked for.
    result, failed = run_module(falco_events, {"path": str(log)})
    assert not failed and result["coverage"]["complete"] and result["coverage"]["examined"] == 100


def test_events_live_log_with_since_passes(run_module, tmp_path):
    """Strict twin: alerts written inside the window are examined and the run is complete."""
    log = tmp_path / "falco.json"
    _alert_log(log, datetime.datetime.now(datetime.timezone.utc), 5)
    result, failed = run_module(falco_events, {"path": str(log), "since": "15m"})
    assert not failed and result["coverage"]["complete"] and result["coverage"]["examined"] == 5
    assert result["outside_window"] == 0 and result["matched"] == 5
    # An alert with no usable time cannot be placed in the window: a miss, not a silent skip.
    broken = json.loads(log.read_text().splitlines()[0])
    broken["time"] = "yesterday"
    result, failed = run_module(falco_events, {"lines": [json.dumps(broken)], "since": "15m"})
    assert failed and result["verdict"] == "incomplete" and "cannot place it" in result["coverage"]["missed"][0]["reason"]


def test_response_without_targets_is_incomplete(run_module):
    result, failed = run_module(falco_response, {"targets": [{"id": None, "name": None}]})
    assert failed and result["actions"] == [] and not result["changed"]
    assert result["verdict"] == "incomplete" and "examined no containers" in result["msg"]
    result, failed = run_module(falco_response, {"targets": [{"id": None, "name": None}],
                                                 "accept_incomplete": "no container alerts in this window"})
    assert not failed and result["verdict"] == "pass"


def test_install_refuses_missing_package_manager(run_module):
    result, failed = run_module(falco_install, {"package_manager": "zypper"})
    assert failed and "zypper is not installed" in result["msg"]
    result, failed = run_module(falco_install, {"driver": "bpf"})
    assert failed and "driver" in result["msg"]


def test_rules_empty_candidate_is_incomplete(run_module):
    result, failed = run_module(falco_rules, {"content": "# nothing rendered\n", "base_rules": [BASE],
                                              "falco_validate": "never"})
    assert failed and result["verdict"] == "incomplete" and result["coverage"]["examined"] == 0
    assert "no rule, macro or list" in result["coverage"]["missed"][0]["reason"]


def test_rules_warnings_gate_and_deprecated_fail_on_warnings(run_module, tmp_path):
    warned = GOOD.replace("spawned_process and container", "spawned_process and proc.name in (my_tool_names)")
    dest = tmp_path / "50-custom.yaml"
    args = {"content": warned, "dest": str(dest), "base_rules": [BASE], "falco_validate": "never"}
    result, failed = run_module(falco_rules, dict(args, fail_on_warnings=True))
    assert failed and result["verdict"] == "fail" and not dest.exists()
    assert result["rule_warnings"][0]["code"] == "undefined_list"
    result, failed = run_module(falco_rules, dict(args, fail_on="LOW"))
    assert failed and not dest.exists()
    # A waiver from the playbook lets the file go live, exactly as it lets the verdict pass.
    waived = run_module(falco_rules, dict(args, fail_on="LOW", ignore=[
        {"id": result["findings"][0]["id"], "reason": "my_tool_names comes from the base image", "expires": "2099-01-01"}]))
    assert not waived[1] and waived[0]["valid"] and dest.exists() and waived[0]["changed"]
    dest.unlink()
    result, failed = run_module(falco_rules, dict(args, fail_on_warnings=False, mode="0640"))
    assert not failed and result["verdict"] == "findings" and oct(dest.stat().st_mode & 0o777) == "0o640"
    result, failed = run_module(falco_rules, dict(args, content=BAD, fail_on_warnings=False))
    assert failed and "was not deployed" in result["msg"]


def test_rules_accepts_falcos_own_file_with_fail_on_warnings(run_module, monkeypatch):
    """Issue 13 item 6: the packaged falco_rules.yaml validated in place is not its own base (no redefinitions)."""
    from ansible_collections.ainative.security.plugins.module_utils.falco import rules
    monkeypatch.setattr(rules, "PACKAGED_RULES", (BASE,))
    result, failed = run_module(falco_rules, {"src": BASE, "fail_on_warnings": True, "falco_validate": "never"})
    assert not failed and result["valid"] and result["rule_warnings"] == [] and result["base_rules"] == []
    assert result["verdict"] == "pass"


def test_response_never_lets_an_alert_field_become_a_podman_option(run_module, tmp_path, monkeypatch):
    """Attacker: an alert whose container.id is "-l" (podman's "latest container") must name no option."""
    log = tmp_path / "argv.log"
    fake = tmp_path / "podman"
    fake.write_text("#!/bin/sh\necho \"$@\" >> %s\necho '[]'\nexit 0\n" % log)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (tmp_path, os.environ["PATH"]))
    run_module(falco_response, {"targets": [{"id": "-l", "name": "--all"}], "runtime": "podman"})
    calls = log.read_text().splitlines()
    assert calls and all(" -- " in call for call in calls), calls
    assert all(call.split(" -- ")[1] in ("-l", "--all") for call in calls), calls


def test_response_failed_stop_is_a_miss_and_fail_on_error_false_accepts_it(run_module, tmp_path, monkeypatch):
    """A podman that finds the container running but cannot stop it."""
    fake = tmp_path / "podman"
    fake.write_text("#!/bin/sh\nif [ \"$2\" = inspect ]; then\n"
                    "  echo '[{\"Id\": \"0123456789abcdef\", \"Name\": \"victim\", \"State\": {\"Running\": true}}]'\n"
                    "  exit 0\nfi\necho 'permission denied' >&2\nexit 125\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (tmp_path, os.environ["PATH"]))
    args = {"names": ["victim"], "runtime": "podman"}
    result, failed = run_module(falco_response, args)
    assert failed and result["verdict"] == "incomplete" and result["actions"][0]["result"] == "failed"
    assert "permission denied" in result["coverage"]["missed"][0]["reason"]
    result, failed = run_module(falco_response, dict(args, fail_on_error=False))
    assert not failed and result["coverage"]["accepted_incomplete"] == "fail_on_error: false (deprecated)"
