"""Helpers for module unit tests: run a module's main() with arguments, capture exit_json/fail_json."""

import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes


class ModuleExit(Exception):
    def __init__(self, result, failed):
        super(ModuleExit, self).__init__(result.get("msg"))
        self.result = result
        self.failed = failed


@pytest.fixture
def run_module(monkeypatch):
    """``run_module(module, args)`` -> (result dict, failed bool) without a subprocess."""
    def _exit_json(self, **kwargs):
        raise ModuleExit(kwargs, False)

    def _fail_json(self, msg, **kwargs):
        kwargs["msg"] = msg
        raise ModuleExit(kwargs, True)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", _exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", _fail_json)

    def _run(module, args, check_mode=False, diff=False):
        payload = dict(args)
        payload["_ansible_check_mode"] = check_mode
        payload["_ansible_diff"] = diff
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": payload})))
        monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)
        try:
            module.main()
        except ModuleExit as exc:
            return exc.result, exc.failed
        raise AssertionError("module returned without exit_json or fail_json")
    return _run
