# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every OCSF event is checked before it leaves: the official schema, then what the schema cannot say.

The schema comes from PyPI ``ocsf-json-schema`` (the OCSF project's schema export, offline) and is applied
with jsonschema's Draft 2020-12 validator. It accepts a ``type_uid`` of another activity and a
``severity`` caption that contradicts ``severity_id``; :func:`consistency_errors` checks those in code,
against the captions of the same schema.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.ainative.security.plugins.module_utils.core.errors import ControlError, DependencyError
from ansible_collections.ainative.security.plugins.module_utils.ocsf.mapping import CLASSES, OCSF_VERSION

try:
    from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema
    HAS_OCSF_SCHEMA = True
    OCSF_IMPORT_ERROR = None
except ImportError:
    HAS_OCSF_SCHEMA = False
    OCSF_IMPORT_ERROR = traceback.format_exc()

try:
    from jsonschema import Draft202012Validator
    HAS_JSONSCHEMA = True
except ImportError:
    HAS_JSONSCHEMA = False


class InvalidEvent(ControlError):
    """An event we built does not conform to OCSF: a bug of this collection, never sent."""

    kind = "internal"


def _captions(attribute):
    return dict((int(k), v.get("caption")) for k, v in (attribute.get("enum") or {}).items())


class Validator(object):
    """Compiled schemas of the three finding classes of one OCSF version (loaded once per run)."""

    def __init__(self, version=OCSF_VERSION):
        if not HAS_OCSF_SCHEMA:
            raise DependencyError(missing_required_lib("ocsf-json-schema"))
        if not HAS_JSONSCHEMA:
            raise DependencyError(missing_required_lib("jsonschema"))
        raw = get_ocsf_schema(version=version)
        embedded = OcsfJsonSchemaEmbedded(raw)
        self.version = version
        self.validators = {}
        self.captions = {}
        for class_uid, name, caption in CLASSES:
            self.validators[class_uid] = Draft202012Validator(embedded.get_class_schema(name))
            attributes = raw["classes"][name]["attributes"]
            self.captions[class_uid] = {
                "class_name": caption,
                "severity": _captions(attributes["severity_id"]),
                "activity_name": _captions(attributes["activity_id"]),
                "status": _captions(attributes["status_id"]),
            }
        self.compliance_status = _captions(raw["objects"]["compliance"]["attributes"]["status_id"])

    def consistency_errors(self, event):
        """What the schema does not check: type_uid, and each caption against its id."""
        class_uid = event.get("class_uid")
        if class_uid not in self.captions:
            return ["class_uid %r is not one of %s" % (class_uid, ", ".join(str(c[0]) for c in CLASSES))]
        captions = self.captions[class_uid]
        errors = []
        activity_id = event.get("activity_id")
        if event.get("type_uid") != class_uid * 100 + (activity_id if isinstance(activity_id, int) else 0):
            errors.append("type_uid %r is not class_uid * 100 + activity_id (%r)" % (event.get("type_uid"), activity_id))
        if event.get("class_name") != captions["class_name"]:
            errors.append("class_name %r is not %r" % (event.get("class_name"), captions["class_name"]))
        for caption, id_key in (("severity", "severity_id"), ("activity_name", "activity_id"), ("status", "status_id")):
            expected = captions[caption].get(event.get(id_key))
            if id_key in event and event.get(caption) != expected:
                errors.append("%s %r does not match %s %r (%r)" % (
                    caption, event.get(caption), id_key, event.get(id_key), expected))
        compliance = event.get("compliance")
        if isinstance(compliance, dict) and "status_id" in compliance:
            expected = self.compliance_status.get(compliance["status_id"])
            if compliance.get("status") != expected:
                errors.append("compliance.status %r does not match compliance.status_id %r (%r)" % (
                    compliance.get("status"), compliance["status_id"], expected))
        return errors

    def errors(self, event):
        """Every problem of ``event``: schema violations (path: message), then consistency."""
        validator = self.validators.get(event.get("class_uid"))
        found = []
        if validator is not None:
            for error in sorted(validator.iter_errors(event), key=lambda e: list(e.absolute_path)):
                path = "/".join(str(p) for p in error.absolute_path) or "(event)"
                found.append("%s: %s" % (path, error.message))
        return found + self.consistency_errors(event)

    def check(self, event, what):
        """Raise InvalidEvent (one line) when ``event`` is not a valid OCSF event."""
        problems = self.errors(event)
        if problems:
            raise InvalidEvent("the OCSF %s event for %s is invalid (%s%s); it was not sent; this is a bug, please "
                               "report it" % (self.version, what, problems[0],
                                              " and %d more problem(s)" % (len(problems) - 1) if len(problems) > 1
                                              else ""))
