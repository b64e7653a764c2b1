"""awx/: the AWX job templates, surveys and schedules point at real playbooks, tags and variables, and the
execution environment definition matches the collection it installs."""

import os
import re

import pytest
import yaml
from dateutil import rrule

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


def _load(*parts):
    with open(os.path.join(ROOT, *parts)) as handle:
        return yaml.safe_load(handle)


CONFIG = _load("awx", "controller_config.yml")
TEMPLATES = dict((t["name"], t) for t in CONFIG["controller_templates"])


def _role_specs():
    specs = {}
    for role in os.listdir(os.path.join(ROOT, "roles")):
        path = os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")
        if os.path.isfile(path):
            specs.update(_load(path)["argument_specs"]["main"]["options"])
    return specs


def _playbook_text(playbook):
    with open(os.path.join(ROOT, playbook)) as handle:
        return handle.read()


def _tags(node, found):
    if isinstance(node, dict):
        tags = node.get("tags")
        if isinstance(tags, list):
            found.update(tags)
        elif isinstance(tags, str):
            found.add(tags)
        for value in node.values():
            _tags(value, found)
    elif isinstance(node, list):
        for value in node:
            _tags(value, found)
    return found


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_template_points_at_real_playbook_tags_and_objects(name):
    template = TEMPLATES[name]
    assert os.path.isfile(os.path.join(ROOT, template["playbook"])), template["playbook"]
    for tag in filter(None, (template.get("job_tags") or "").split(",")):
        assert tag in _tags(_load(template["playbook"]), set()), "tag %s not in %s" % (tag, template["playbook"])
    assert template["project"] in [p["name"] for p in CONFIG["controller_projects"]]
    assert template["inventory"] in [i["name"] for i in CONFIG["controller_inventories"]]
    assert template["execution_environment"] in [e["name"] for e in CONFIG["controller_execution_environments"]]


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_survey_questions_are_valid_and_feed_real_variables(name):
    template = TEMPLATES[name]
    specs = _role_specs()
    text = _playbook_text(template["playbook"])
    questions = template["survey_spec"]["spec"]
    assert template["survey_enabled"] and questions
    assert len(set(q["variable"] for q in questions)) == len(questions), "a variable is asked twice"
    for question in questions:
        var = question["variable"]
        assert question["type"] in SURVEY_TYPES, question
        assert question["question_name"] and isinstance(question["required"], bool)
        # The variable is read by the playbook itself or is an argument of a role it runs.
        assert var in text or var in specs, "%s is used neither by %s nor by a role" % (var, template["playbook"])
        if question["type"] in ("multiplechoice", "multiselect"):
            assert question["default"] in question["choices"], question
            if var in specs and specs[var].get("choices"):
                assert set(question["choices"]) <= set(specs[var]["choices"]), (var, specs[var]["choices"])
        if question["type"] == "integer":
            assert question["min"] <= question["default"] <= question["max"]
        if question["type"] == "text" and question.get("default"):
            assert question["min"] <= len(question["default"]) <= question["max"]


def test_schedules_run_real_templates_with_valid_rrules_and_survey_answers():
    assert CONFIG["controller_schedules"]
    for schedule in CONFIG["controller_schedules"]:
        template = TEMPLATES[schedule["unified_job_template"]]
        dtstart, rule = schedule["rrule"].split(" ", 1)
        assert re.match(r"^DTSTART;TZID=UTC:\d{8}T\d{6}$", dtstart), dtstart
        assert rule.startswith("RRULE:")
        parsed = rrule.rrulestr(schedule["rrule"].replace(" ", "\n"))
        assert parsed[0] < parsed[1], schedule["name"]
        # Without ask_variables_on_launch, AWX only accepts extra_data for survey variables.
        survey = dict((q["variable"], q) for q in template["survey_spec"]["spec"])
        for key, value in (schedule.get("extra_data") or {}).items():
            assert key in survey, "%s: %s is not a survey variable of %s" % (schedule["name"], key, template["name"])
            if survey[key]["type"] == "multiplechoice":
                assert value in survey[key]["choices"], (schedule["name"], key, value)
        missing = [q["variable"] for q in template["survey_spec"]["spec"]
                   if q["required"] and q["variable"] not in (schedule.get("extra_data") or {}) and "default" not in q]
        assert not missing, missing


def test_audit_and_hunt_templates_are_scheduled():
    scheduled = set(s["unified_job_template"] for s in CONFIG["controller_schedules"])
    for playbook in ("playbooks/audit_cloud.yml", "playbooks/runtime_response.yml"):
        assert any(TEMPLATES[n]["playbook"] == playbook for n in scheduled), playbook


def test_execution_environment_installs_the_collection_it_belongs_to():
    version = _load("galaxy.yml")["version"]
    ee = _load("awx", "execution-environment.yml")
    assert ee["version"] == 3
    # The installed collection (the folder above awx/) goes into the context and is installed as a folder:
    # no version is written down to go stale (make build proves it from the installed artifact).
    assert ee["additional_build_files"] == [{"src": "..", "dest": "collections/ainative.security"}]
    requirements = _load("awx", ee["dependencies"]["galaxy"])
    assert {"name": "collections/ainative.security", "type": "dir"} in requirements["collections"]
    assert not [c for c in requirements["collections"] if "ainative" in c["name"] and c.get("version")]
    image = CONFIG["controller_execution_environments"][0]["image"]
    assert image.endswith(":" + version), image
    meta = _load("meta", "execution-environment.yml")
    for key in ("python", "system"):
        assert os.path.isfile(os.path.join(ROOT, meta["dependencies"][key]))
