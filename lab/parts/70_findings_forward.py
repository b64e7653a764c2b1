"""The lab's findings as OCSF events: after findings_report merges every control's report, the report play
also writes reports/lab/findings.ocsf.jsonl with findings_forward (file destination: JSON lines, atomic),
every event validated against the official OCSF 1.5.0 schema first. Nothing to start: it only turns the
report play's OCSF step on."""

import importlib.util


def prepare(lab, work):
    for module, package in (("ocsf_json_schema", "ocsf-json-schema"), ("jsonschema", "jsonschema")):
        if importlib.util.find_spec(module) is None:
            raise RuntimeError("%s is not installed in .venv (make setup installs it)" % package)
    return {"findings_report_ocsf": True}
