"""Falco rules validator: condition parser, schema and reference checks, falco -V output parsing."""

import os

import pytest

from ansible_collections.ainative.security.plugins.module_utils.falco import condition as cond
from ansible_collections.ainative.security.plugins.module_utils.falco import falco_validate, validator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
BASE = open(os.path.join(ROOT, "lab", "falco", "falco_rules.yaml")).read()


def check(text, base=True, **kwargs):
    docs = ([("base.yaml", BASE)] if base else []) + [("custom.yaml", text)]
    return validator.validate(docs, checked=["custom.yaml"], **kwargs)


def codes(report, key="errors"):
    return [(p["code"], p["line"]) for p in report[key]]


@pytest.mark.parametrize("condition, macros", [
    ("(evt.type in (open,openat,openat2) and evt.is_open_write=true and fd.typechar='f' and fd.num>=0)", []),
    ('proc.name!="<NA>"', []),
    ('spawned_process and (proc.args contains "\\ " or proc.args endswith \\)', ["spawned_process"]),
    ('container.mount.dest[/proc*] != "N/A" or container.mount.dest[/var/run/docker.sock] != "N/A"', []),
    ("not proc.pname exists or proc.pname in (runc:[0:PARENT], runc:[1:CHILD], runc)", []),
    ("evt.type=setns and evt.dir=< and not (container.id=host and proc.name in (docker_binaries, nsenter))", []),
    ("(fd.name contains '/.ssh/' and fd.name glob '/home/*/.ssh/*')", []),
    ('(proc.args="" or proc.args intersects ("-V", "-l", "-h"))', []),
    ("proc.aname[2]=linux-bench and evt.arg[0] contains AF_PACKET and tolower(proc.name) = bash", []),
    ("proc.name = val(proc.pname) and evt.dir=> and fd.sport >= 30000", []),
    ("java_network_read and evt.buffer bcontains cafebabe", ["java_network_read"]),
    ("open_write and not (a_macro or b_macro)", ["open_write", "a_macro", "b_macro"]),
])
def test_parser_accepts_falco_syntax(condition, macros):
    found, _lists = cond.parse_condition(condition)
    assert [ref[0] for ref in found] == macros


@pytest.mark.parametrize("condition, message", [
    ("((a and b) or c", "unbalanced '('"),
    ("a and b)", "unbalanced ')'"),
    ("proc.name = ", "not followed by a value"),
    ("proc.name foo bar", "unknown operator 'foo'"),
    ("a and or b", "operator 'or'"),
    ("proc.name in bash", "parenthesized list"),
    ("proc.name in (bash, sh", "unbalanced '('"),
    ('proc.cmdline contains "unterminated', "unterminated"),
    ("", "empty condition"),
])
def test_parser_refuses_broken_conditions(condition, message):
    with pytest.raises(cond.ConditionError) as exc:
        cond.parse_condition(condition)
    assert message in str(exc.value)


def test_base_rules_are_valid():
    report = validator.validate([("base.yaml", BASE)])
    assert report["valid"], report["errors"]
    assert report["counts"]["rules"] == 6
    assert report["warnings"] == []


def test_override_append_and_exceptions_accepted():
    text = """
- list: package_mgmt_binaries
  items: [uv]
  override:
    items: append
- macro: user_known_read_sensitive_files_activities
  condition: (proc.name = vault-agent)
  override:
    condition: replace
- rule: Read sensitive file untrusted
  condition: and not proc.name = backup-agent
  override:
    condition: append
- rule: Launch Suspicious Network Tool in Container
  enabled: true
  override:
    enabled: replace
- rule: With exceptions
  desc: d
  condition: spawned_process and container
  output: o
  priority: warning
  exceptions:
    - name: pairs
      fields: [proc.name, fd.name]
      comps: [=, startswith]
      values:
        - [cp, /tmp/]
    - name: single
      fields: proc.pname
      comps: in
      values: [systemd]
"""
    report = check(text)
    assert report["valid"], report["errors"]
    assert report["counts"] == {"rules": 1, "macros": 0, "lists": 0}


def test_references_resolve_across_the_whole_set_in_any_order():
    text = """
- rule: Uses later macro
  desc: d
  condition: later_macro and proc.name in (later_list)
  output: o
  priority: ERROR
- macro: later_macro
  condition: container
- list: later_list
  items: [a]
"""
    report = check(text)
    assert report["valid"], report["errors"]


@pytest.mark.parametrize("text, expected", [
    ("- rule: R\n  desc: d\n  condition: spawnd_process\n  output: o\n  priority: ERROR\n", ("undefined_macro", 3)),
    ("- rule: R\n  desc: d\n  condition: container\n  output: o\n  priority: SEVERE\n", ("bad_priority", 5)),
    ("- rule: R\n  desc: d\n  condition: container\n  priority: ERROR\n", ("missing_key", 1)),
    ("- macro: m\n", ("missing_key", 1)),
    ("- list: l\n  items: {a: 1}\n", ("bad_type", 2)),
    ("- rule: R\n  desc: d\n  condition: container\n  output: o\n  priority: ERROR\n  enabled: 'no'\n", ("bad_type", 6)),
    ("- rule: R\n  desc: d\n  condition: container\n  output: o\n  priority: ERROR\n  tags: shell\n", ("bad_type", 6)),
    ("- rule: Nope\n  enabled: false\n", ("undefined_target", 1)),
    ("- macro: nope\n  condition: container\n  append: true\n", ("undefined_target", 1)),
    ("- list: shell_binaries\n  items: [fish]\n  override:\n    items: prepend\n", ("bad_override", 3)),
    ("- list: shell_binaries\n  items: [fish]\n  override:\n    condition: append\n", ("bad_override", 3)),
    ("- rule: Terminal shell in container\n  priority: ERROR\n  override:\n    priority: append\n", ("bad_override", 3)),
    ("- rule: Terminal shell in container\n  output: x\n  priority: ERROR\n  override:\n    output: replace\n",
     ("bad_override", 3)),
    ("- list: shell_binaries\n  items: [fish]\n  append: true\n  override:\n    items: append\n",
     ("append_and_override", 3)),
    ("- rule: R\n  desc: d\n  condition: container\n  output: o\n  priority: ERROR\n  exceptions:\n"
     "    - fields: [proc.name]\n", ("bad_exceptions", 6)),
    ("- rule: R\n  desc: d\n  condition: container\n  output: o\n  priority: ERROR\n  exceptions:\n"
     "    - name: e\n      fields: [proc.name, fd.name]\n      values: [[bash]]\n", ("bad_exceptions", 6)),
    ("- rule: R\n  desc: d\n  condition: container\n  output: o\n  priority: ERROR\n  exceptions:\n"
     "    - name: e\n      fields: proc.name\n      comps: like\n", ("bad_exceptions", 6)),
    ("- macro: a\n  condition: b\n- macro: b\n  condition: a\n", ("macro_cycle", 1)),
    ("- required_engine_version: latest\n", ("bad_engine_version", 1)),
    ("- required_plugin_versions:\n    - name: k8saudit\n", ("bad_plugin_requirement", 1)),
    ("- rule: R\n  macro: M\n  condition: x\n", ("ambiguous_object", 1)),
    ("- something: else\n", ("unknown_object", 1)),
    ("- just a string\n", ("not_an_object", 1)),
    ("rule: R\n", ("not_a_list", 1)),
    ("- rule: R\n  desc: [unclosed\n  condition: x\n", ("yaml_parse", 3)),
    ("- rule: R\n  desc: d\n  condition: >\n    (spawned_process and\n     (container\n  output: o\n  priority: ERROR\n",
     ("bad_condition", 4)),
])
def test_broken_files_refused_with_line(text, expected):
    report = check(text)
    assert not report["valid"]
    assert expected in codes(report), report["errors"]
    assert all(p["file"] == "custom.yaml" for p in report["errors"])


def test_warnings_do_not_fail():
    text = """
- list: shell_binaries
  items: [fish]
  append: true
- rule: R
  desc: d
  condition: proc.name in (undefined_snake_list) and evt.type in (open_by_handle_at)
  output: o
  priority: ERROR
  conditon: typo
- rule: Terminal shell in container
  enabled: false
"""
    report = check(text)
    assert report["valid"], report["errors"]
    got = [pair[0] for pair in codes(report, "warnings")]
    assert got.count("deprecated_append") == 1
    assert got.count("unknown_key") == 1
    # Issue 13 item 7: Falco disables an existing rule with a bare 'enabled' and warns about nothing.
    assert got.count("deprecated_enabled") == 0
    assert [p["message"] for p in report["warnings"] if p["code"] == "undefined_list"][0].startswith(
        "'undefined_snake_list'")
    assert "open_by_handle_at" not in str(report["warnings"])


def test_engine_version_gate():
    text = "- required_engine_version: 0.57.0\n"
    assert check(text, engine_version="0.57.0")["valid"]
    report = check(text, engine_version="0.50.0")
    assert codes(report) == [("engine_too_old", 1)]
    assert check("- required_engine_version: 17\n", engine_version="0.26.0")["valid"]


def test_bare_equals_in_comps_is_a_string():
    text = ("- rule: R\n  desc: d\n  condition: container\n  output: o\n  priority: ERROR\n  exceptions:\n"
            "    - name: e\n      fields: [proc.name]\n      comps: [=]\n      values: [[bash]]\n")
    assert check(text)["valid"]


def test_base_file_that_does_not_parse_is_reported_as_context():
    report = validator.validate([("base.yaml", "- rule: [\n"), ("custom.yaml", "- macro: m\n  condition: evt.num=0\n")],
                                checked=["custom.yaml"])
    assert report["valid"]
    assert [p["code"] for p in report["warnings"]] == ["base_unreadable"]


def test_large_generated_rule_set_is_valid():
    from lab import falco_data
    text, counts = falco_data.large_ruleset(200)
    report = check(text)
    assert report["valid"], report["errors"][:3]
    assert report["counts"] == counts


def test_format_problem():
    assert validator.format_problem({"file": "f.yaml", "line": 3, "object": "rule 'R'", "message": "m"}) == "f.yaml:3: rule 'R': m"
    assert validator.format_problem({"file": None, "line": None, "object": None, "message": "m"}) == "<rules>: m"


def test_parse_falco_validate_json_and_text():
    out = ('{"falco_load_results":[{"name":"/etc/falco/rules.d/x.yaml","successful":false,'
           '"errors":[{"code":"LOAD_ERR_COMPILE_CONDITION","message":"undefined macro",'
           '"context":{"locations":[{"position":{"line":2}}]}}],"warnings":[]}]}')
    parsed = falco_validate.parse_falco_validate(out, 1)
    assert not parsed["valid"]
    assert parsed["files"][0]["errors"][0] == {"code": "LOAD_ERR_COMPILE_CONDITION", "message": "undefined macro",
                                               "line": 3}
    text = falco_validate.parse_falco_validate("/a.yaml: Ok\n/b.yaml: Invalid\nsome error\n", 1)
    assert [f["successful"] for f in text["files"]] == [True, False]
    assert text["files"][1]["errors"][0]["message"] == "some error"
    assert falco_validate.parse_falco_validate("/a.yaml: Ok, with warnings\n", 0)["valid"]


FALCO_STYLE = """- list: shell_binaries
  items: [ash, bash, sh]
- list: google_agents
  items: [google_accounts_daemon, google_clock_skew_daemon, google_network_daemon, update_engine]
- macro: spawned_process
  condition: (evt.type in (execve, execveat) and evt.dir=<)
- rule: Shell under a Google agent
  desc: A shell started by a cloud agent.
  condition: spawned_process and proc.name in (shell_binaries) and proc.pname in (google_oslogin_nss, calico_node)
  output: shell (%proc.cmdline)
  priority: NOTICE
"""


def test_plain_binary_names_are_no_undefined_lists():
    """Issue 13 item 6: names of binaries with underscores are literals, as in Falco's own falco_rules.yaml."""
    report = check(FALCO_STYLE, base=False)
    assert report["valid"] and report["warnings"] == [], report["warnings"]


def test_list_like_or_misspelt_names_still_warn():
    text = FALCO_STYLE.replace("proc.name in (shell_binaries)", "proc.name in (shell_binarys, my_tool_names)")
    warned = [p["message"] for p in check(text, base=False)["warnings"] if p["code"] == "undefined_list"]
    assert len(warned) == 2
    assert "did you mean 'shell_binaries'" in warned[0] and warned[1].startswith("'my_tool_names'")


def test_enabled_only_override_accepted_and_empty_desc_refused():
    """Issue 13 item 7: enabled-only on an existing rule is accepted without a warning; an empty desc is refused."""
    report = check(FALCO_STYLE + "- rule: Shell under a Google agent\n  enabled: false\n", base=False)
    assert report["valid"] and report["warnings"] == []
    report = check(FALCO_STYLE.replace("desc: A shell started by a cloud agent.", 'desc: ""'), base=False)
    assert not report["valid"] and codes(report) == [("bad_type", 8)]
