"""The committed reference pages (docs/modules, docs/plugins, docs/roles) are what docs/generate.py writes today."""

import importlib.util
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
GENERATOR = os.path.join(ROOT, "docs", "generate.py")


def _generator():
    spec = importlib.util.spec_from_file_location("docs_generate", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_pages_are_not_stale():
    env = dict(os.environ, PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ.get("PATH", ""),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"))
    proc = subprocess.run([sys.executable, GENERATOR, "--check"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env=env, cwd=ROOT, check=False)
    out = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 0, out
    assert "reference pages up to date" in out


def test_every_module_role_and_plugin_has_a_page():
    for folder, kind in (("modules", None), ("filter", "filter"), ("lookup", "lookup")):
        src = os.path.join(ROOT, "plugins", folder)
        for name in os.listdir(src):
            if name.endswith(".py") and not name.startswith("_"):
                page = ("modules/%s.md" % name[:-3]) if kind is None else ("plugins/%s_%s.md" % (kind, name[:-3]))
                assert os.path.isfile(os.path.join(ROOT, "docs", page)), page
    for role in os.listdir(os.path.join(ROOT, "roles")):
        if os.path.isfile(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")):
            assert os.path.isfile(os.path.join(ROOT, "docs", "roles", "%s.md" % role)), role


def test_markup_becomes_markdown():
    gen = _generator()
    text = gen._markup("Set O(path) to V(true) with M(ainative.security.image_scan), see U(https://x.invalid) "
                       "and L(the guide,https://y.invalid); I(never) B(ever) C(a|b) M(ansible.builtin.copy).")
    assert text == ("Set `path` to `true` with [ainative.security.image_scan](../modules/image_scan.md), see "
                    "<https://x.invalid> and [the guide](https://y.invalid); *never* **ever** `a|b` "
                    "`ansible.builtin.copy`.")


def test_role_page_lists_every_variable_with_its_facts():
    gen = _generator()
    page = gen.role_page("demo", {"main": {"short_description": "Demo role", "options": {
        "demo_mode": {"type": "str", "choices": ["audit", "enforce"], "default": "audit", "description": "How."},
        "demo_token": {"type": "str", "required": True, "no_log": True, "description": ["Token."]}}}})
    assert "| `demo_mode` | str | choices: `audit`, `enforce`; default: `audit` | How. |" in page
    assert "| `demo_token` | str | **required**; secret (never logged) | Token. |" in page
    assert page.startswith(gen.GENERATED)
