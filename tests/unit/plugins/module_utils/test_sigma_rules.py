"""The Sigma rules of cloudtrail_hunt: the built-in rule files and their generated copy, the engine's field
semantics, and a user's own rules (fired on planted events, or refused with file, line and reason).

``PYTHONPATH=.build/collections .venv/bin/python tests/unit/plugins/module_utils/test_sigma_rules.py --write``
regenerates sigma_builtin.py.
"""

import datetime
import gzip
import json
import os
import sys
import time

import pytest

from ansible_collections.ainative.security.plugins.module_utils.cloud import cloudtrail as ct
from ansible_collections.ainative.security.plugins.module_utils.cloud import sigma_builtin, sigma_rules
from ansible_collections.ainative.security.plugins.module_utils.cloud.cloudtrail_detections import (
    CATALOGUE, select_detections)
from ansible_collections.ainative.security.plugins.module_utils.cloud.sigma_engine import compile_node, field_values
from ansible_collections.ainative.security.plugins.module_utils.core.errors import DependencyError, InputError

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
RULE_DIR = os.path.join(ROOT, "rules", "cloudtrail")
BUILTIN = os.path.join(ROOT, "plugins", "module_utils", "cloud", "sigma_builtin.py")
sys.path.insert(0, ROOT)
from lab import cloudtrail_archive as ca  # noqa: E402

NOW = datetime.datetime(2026, 11, 25, 12, 0, tzinfo=datetime.timezone.utc)
HEADER = """title: %(title)s
id: %(id)s
name: %(name)s
status: test
logsource:
  product: aws
  service: cloudtrail
tags:
  - attack.collection
  - attack.t1530
falsepositives:
  - A public website bucket
level: critical
"""


def _rule(tmp_path, detection, name="user_rule", rule_id="8d0c3a52-6f0e-4d5c-9b1a-2f3e4d5c6b7a", title="User rule"):
    path = tmp_path / ("%s.yml" % name)
    path.write_text(HEADER % {"title": title, "id": rule_id, "name": name} + "detection:\n" + detection)
    return str(path)


def _matcher(tmp_path, detection):
    loaded, refused = sigma_rules.load_rules([_rule(tmp_path, detection)])
    assert not refused, refused
    return compile_node(loaded[0]["condition"])


def test_embedded_builtin_rules_equal_the_rule_files():
    with open(BUILTIN) as handle:
        assert handle.read() == sigma_rules.builtin_source(RULE_DIR), \
            "rules/cloudtrail changed: run PYTHONPATH=.build/collections python %s --write" % os.path.relpath(__file__, ROOT)
    assert len(sigma_builtin.RULES) == len(os.listdir(RULE_DIR))


def test_builtin_rules_pass_every_offline_validator():
    collection, refused = sigma_rules.load_collection([RULE_DIR])
    assert not refused
    issues = sigma_rules._validator().validate_rules(iter(collection.rules))
    assert issues == []
    # the 18 detections of 0.1.0 keep their ids; every finding of theirs carries the Sigma id
    ids = [d["id"] for d in CATALOGUE]
    assert len(ids) == len(set(ids)) >= 18 and "unauthorized_call" not in ids
    assert all(d["rule_id"] and d["technique"][0] and d["technique"][1] for d in CATALOGUE)


ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
GRANT_RULE = ("  sel:\n    requestParameters.AccessControlPolicy.AccessControlList.Grant.Grantee.URI|endswith: /AllUsers\n"
              "  condition: sel\n")


def _grants(grant):
    return {"requestParameters": {"AccessControlPolicy": {"AccessControlList": {"Grant": grant}}}}


def test_every_detection_has_a_planted_event_and_a_benign_twin():
    """The lab plants what test_cloudtrail.py and the integration test prove fires, and its twin that does not."""
    plants = ca.planted(NOW)
    # the history detections need earlier hunts: lab/bedrock_history.py plants them (test_cloudtrail_history.py)
    assert sorted(plants) == sorted(d["id"] for d in CATALOGUE if "history" not in d["tags"])
    assert all(p["fire"] and p["benign"] for p in plants.values())


@pytest.mark.parametrize("detection, event, fires", [
    # equality is case-insensitive
    ("  sel:\n    eventName: consolelogin\n  condition: sel\n", {"eventName": "ConsoleLogin"}, True),
    # * and ? are wildcards; _ is literal (the SQL LIKE mistake)
    ("  sel:\n    userAgent: 'aws_cli*'\n  condition: sel\n", {"userAgent": "aws-cli/2.15"}, False),
    ("  sel:\n    userAgent: 'aws_cli*'\n  condition: sel\n", {"userAgent": "AWS_CLI/1.0"}, True),
    ("  sel:\n    userAgent: 'bot?'\n  condition: sel\n", {"userAgent": "bot7"}, True),
    ("  sel:\n    userAgent: 'bot?'\n  condition: sel\n", {"userAgent": "bot77"}, False),
    ("  sel:\n    userAgent|contains: 'Boto3'\n  condition: sel\n", {"userAgent": "x boto3/1.34 y"}, True),
    ("  sel:\n    eventName|startswith: 'Delete'\n  condition: sel\n", {"eventName": "DeleteTrail"}, True),
    ("  sel:\n    eventName|endswith: 'Trail'\n  condition: sel\n", {"eventName": "StopLogging"}, False),
    ("  sel:\n    eventName|re: '^(Stop|Delete)'\n  condition: sel\n", {"eventName": "StopLogging"}, True),
    ("  sel:\n    sourceIPAddress|cidr: 198.51.100.0/24\n  condition: sel\n", {"sourceIPAddress": "198.51.100.77"}, True),
    ("  sel:\n    sourceIPAddress|cidr: 198.51.100.0/24\n  condition: sel\n", {"sourceIPAddress": "s3.amazonaws.com"}, False),
    # nested fields through a list or an object
    (GRANT_RULE, _grants([{"Grantee": {"ID": "abc"}}, {"Grantee": {"URI": ALL_USERS}}]), True),
    (GRANT_RULE, _grants({"Grantee": {"URI": ALL_USERS}}), True),
    (GRANT_RULE, _grants({"Grantee": {"ID": ALL_USERS}}), False),
    # a JSON-encoded policy document is walked too
    ("  sel:\n    requestParameters.bucketPolicy.Statement.Principal|re: '^[*]$'\n  condition: sel\n",
     {"requestParameters": {"bucketPolicy": json.dumps({"Statement": [{"Principal": "*"}]})}}, True),
    # not on a field the event lacks does not drop the event; a missing field matches nothing
    ("  sel:\n    eventName: ConsoleLogin\n  filter:\n    additionalEventData.MFAUsed: 'Yes'\n"
     "  condition: sel and not filter\n", {"eventName": "ConsoleLogin"}, True),
    ("  sel:\n    additionalEventData.MFAUsed: 'No'\n  condition: sel\n", {"eventName": "ConsoleLogin"}, False),
    ("  sel:\n    errorCode: null\n  condition: sel\n", {"eventName": "X"}, True),
    ("  sel:\n    errorCode|exists: true\n  condition: sel\n", {"eventName": "X"}, False),
    ("  sel:\n    requestParameters.pendingWindowInDays|lt: 8\n  condition: sel\n",
     {"requestParameters": {"pendingWindowInDays": 7}}, True),
    ("  sel:\n    requestParameters.enable: false\n  condition: sel\n", {"requestParameters": {"enable": False}}, True),
    ("  sel:\n    eventName|contains|all: [Put, Policy]\n  condition: sel\n", {"eventName": "PutBucketAcl"}, False),
    ("  keywords:\n    - '*mallory*'\n  condition: keywords\n", {"a": {"b": ["x", "user/mallory"]}}, True),
])
def test_field_semantics_follow_the_sigma_spec(tmp_path, detection, event, fires):
    assert _matcher(tmp_path, detection)(event) is fires


def test_field_values_walk_lists_and_skip_absent_parts():
    event = {"a": [{"b": 1}, {"c": 2}, {"b": [3, None]}], "s": "not json"}
    assert field_values(event, "a.b") == [1, 3]
    assert field_values(event, "a.z") == [] and field_values(event, "s.x") == [] and field_values(event, "q") == []


USER_RULE = """  selection:
    eventName: PutBucketAcl
    requestParameters.bucketName: 'ml-*'
    requestParameters.AccessControlPolicy.AccessControlList.Grant.Grantee.URI|endswith: /AllUsers
  filter_break_glass:
    userIdentity.sessionContext.sessionIssuer.userName: BreakGlass
  condition: selection and not filter_break_glass
"""


def _acl_event(ident, bucket, as_list, minutes):
    grant = {"Grantee": {"xsi:type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
             "Permission": "READ"}
    request = {"bucketName": bucket, "AccessControlPolicy": {"AccessControlList": {"Grant": [grant] if as_list else grant}}}
    return ca.event("PutBucketAcl", "s3.amazonaws.com", ident, NOW - datetime.timedelta(minutes=minutes), request=request)


def _planted(tmp_path):
    """The lab's planted events plus the user rule's: two that must fire, two twins that must not."""
    plants = ca.planted(NOW - datetime.timedelta(hours=3))
    for key, data in ca.planted_files(plants):
        path = tmp_path / "logs" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    fire = [_acl_event(ca._user("alice"), "ml-data", True, 30),            # no sessionContext: the filter's field is absent
            _acl_event(ca._role("AdminRole", "ops"), "ml-raw", False, 29)]  # Grant as an object
    benign = [_acl_event(ca._role("BreakGlass", "x"), "ml-data", True, 28),
              _acl_event(ca._user("alice"), "logs-data", True, 27)]
    (tmp_path / "logs" / "user.json.gz").write_bytes(gzip.compress(json.dumps({"Records": fire + benign}).encode()))
    return ca.manifest(plants), [e["eventID"] for e in fire], [e["eventID"] for e in benign]


def _hunt(tmp_path, **extra):
    params = {"source": "local", "paths": [str(tmp_path / "logs")], "since": "24h", "allowed_cidrs": ca.ALLOWED_CIDRS,
              "max_findings": 0, "workers": 1, "brute_force_threshold": 10, "unauthorized_threshold": 10,
              "concurrency": 16, "lookup_rate": 2.0, "max_lookup_events": 0, "deadline": 900}
    params.update(extra)
    return ct.hunt(params, now=NOW)


@pytest.mark.parametrize("workers, parser", [(1, "auto"), (2, "json")])
def test_a_users_rule_fires_on_its_planted_events_and_not_on_the_twins(tmp_path, workers, parser):
    manifest, fire, benign = _planted(tmp_path)
    rule = _rule(tmp_path, USER_RULE, name="ml_bucket_public")
    base = _hunt(tmp_path, workers=workers, parser=parser)
    out = _hunt(tmp_path, rules=[rule], workers=workers, parser=parser)
    hits = [f for f in out.findings if f["id"] == "ml_bucket_public"]
    # the lab's own public-ACL plant (bucket ml-data, a user) is a hit too
    assert sorted(f["details"]["event_id"] for f in hits) == sorted(fire + manifest["s3_bucket_acl_public"]["fire"])
    finding = hits[0]
    assert finding["severity"] == "CRITICAL" and finding["details"]["technique"] == "T1530"
    assert finding["details"]["rule_id"] == "8d0c3a52-6f0e-4d5c-9b1a-2f3e4d5c6b7a"
    assert finding["details"]["falsepositives"] == ["A public website bucket"] and finding["fingerprint"]
    assert not set(benign) & set(f["details"]["event_id"] for f in hits)
    loaded = dict((r["id"], r) for r in out.extra["rules_loaded"])
    assert loaded["ml_bucket_public"]["file"] == rule and out.extra["rules_refused"] == []
    # the built-in rules find the same with or without a user's rule; their planted twins stay quiet
    assert [f["fingerprint"] for f in out.findings if f["id"] != "ml_bucket_public"] == \
        [f["fingerprint"] for f in base.findings]
    assert out.coverage.complete
    for det, ids in manifest.items():
        seen = set(f["details"]["event_id"] for f in out.findings if f["id"] == det)
        seen |= set(i for f in out.findings if f["id"] == det for i in f["details"].get("event_ids", []))
        assert set(ids["fire"]) & seen and not set(ids["benign"]) & seen, det


def test_a_rule_without_an_event_name_runs_on_every_event(tmp_path):
    _manifest, fire, _benign = _planted(tmp_path)
    rule = _rule(tmp_path, "  sel:\n    requestParameters.bucketName: ml-raw\n  condition: sel\n", name="any_ml_raw")
    out = _hunt(tmp_path, rules=[rule])
    assert [f["details"]["event_id"] for f in out.findings if f["id"] == "any_ml_raw"] == [fire[1]]


@pytest.mark.parametrize("parser", ["auto", "json"])
def test_a_rule_pinned_to_an_event_source_only_runs_on_that_sources_events(tmp_path, parser):
    manifest, _fire, _benign = _planted(tmp_path)
    rule = _rule(tmp_path, "  sel:\n    eventSource: bedrock.amazonaws.com\n    userIdentity.type: IAMUser\n"
                 "  condition: sel\n", name="bedrock_by_key")
    loaded, _refused = sigma_rules.load_rules([rule])
    assert loaded[0]["event_sources"] == ["bedrock.amazonaws.com"] and loaded[0]["event_names"] is None
    out = _hunt(tmp_path, rules=[rule], parser=parser)
    hits = set(f["details"]["event_id"] for f in out.findings if f["id"] == "bedrock_by_key")
    stolen_key = manifest["bedrock_invocation_burst"]["fire"] + manifest["bedrock_model_enumeration"]["fire"] + \
        manifest["bedrock_model_access_requested"]["benign"] + manifest["bedrock_model_access_requested"]["fire"]
    assert hits == set(stolen_key)


BAD_MODIFIER = """  selection:
    eventName|containz: Delete
  condition: selection
"""


def test_a_bad_rule_is_refused_with_file_line_and_reason_and_is_a_gap(tmp_path):
    _planted(tmp_path)
    good = _rule(tmp_path, USER_RULE, name="ml_bucket_public")
    folder = tmp_path / "more"
    folder.mkdir()
    bad = _rule(folder, BAD_MODIFIER, name="bad_modifier", rule_id="5a4e3d2c-1b0a-4f9e-8d7c-6b5a4f3e2d1c")
    (folder / "broken.yaml").write_text("title: Broken\ndetection:\n  sel:\n    eventName: [a, b\n  condition: sel\n")
    dup = _rule(folder, USER_RULE, name="root_account_usage", rule_id="6a4e3d2c-1b0a-4f9e-8d7c-6b5a4f3e2d1c")
    _rule(folder, USER_RULE.replace("  condition:", "  unused:\n    eventName: X\n  condition:"), name="dangling",
          rule_id="7a4e3d2c-1b0a-4f9e-8d7c-6b5a4f3e2d1c")
    out = _hunt(tmp_path, rules=[good, str(folder)])
    refused = dict((os.path.basename(r["file"]), r) for r in out.extra["rules_refused"])
    assert refused["bad_modifier.yml"]["reason"] == "Unknown modifier 'containz'"
    assert refused["bad_modifier.yml"]["line"] == 16 and refused["bad_modifier.yml"]["file"] == bad
    assert refused["broken.yaml"]["line"] == 5 and "expected ',' or ']'" in refused["broken.yaml"]["reason"]
    # a validator's finding of HIGH severity refuses the rule too
    assert refused["dangling.yml"]["reason"] == ("Rule defines detection that is not referenced from condition "
                                                 "(pySigma DanglingDetectionIssue: detection_name unused)")
    assert refused["dangling.yml"]["line"] == 21
    assert "already taken" in refused["root_account_usage.yml"]["reason"] and refused["root_account_usage.yml"]["file"] == dup
    assert [r["id"] for r in out.extra["rules_loaded"]].count("ml_bucket_public") == 1
    assert any(f["id"] == "ml_bucket_public" for f in out.findings)
    # fail closed: a rule asked for and not run leaves the hunt incomplete
    assert not out.coverage.complete
    assert any(m["reason"] == "rule refused: Unknown modifier 'containz'" and m["item"] == bad + ":16"
               for m in out.coverage.missed)


CORRELATION = """title: %(name)s
id: %(id)s
name: %(name)s
status: test
correlation:
  type: event_count
  rules: [%(base)s]
  group-by: [eventSource]
  timespan: 4h
  condition:
    %(op)s: 3
level: high
"""


def test_a_users_event_count_correlation_counts_its_base_rule(tmp_path):
    _manifest, fire, _benign = _planted(tmp_path)
    base = _rule(tmp_path, USER_RULE, name="ml_bucket_public")
    folder = tmp_path / "corr"
    folder.mkdir()
    for name, uid, rule_base, op in (("public_acl_wave", "7b4e3d2c-1b0a-4f9e-8d7c-6b5a4f3e2d1c", "ml_bucket_public", "gte"),
                                     ("not_a_burst", "7c4e3d2c-1b0a-4f9e-8d7c-6b5a4f3e2d1c", "ml_bucket_public", "lte"),
                                     ("counts_nothing", "7d4e3d2c-1b0a-4f9e-8d7c-6b5a4f3e2d1c", "no_such_rule", "gte")):
        (folder / ("%s.yml" % name)).write_text(CORRELATION % {"name": name, "id": uid, "base": rule_base, "op": op})
    out = _hunt(tmp_path, rules=[base, str(folder)])
    waves = [f for f in out.findings if f["id"] == "public_acl_wave"]
    assert len(waves) == 1 and waves[0]["details"]["count"] == 3 and waves[0]["severity"] == "HIGH"
    assert set(fire) <= set(waves[0]["details"]["event_ids"]) and waves[0]["details"]["group"] == "s3.amazonaws.com"
    # the base rule feeds the correlation only (generate: false), as the Sigma spec says
    assert not [f for f in out.findings if f["id"] == "ml_bucket_public"]
    refused = dict((r["id"], r["reason"]) for r in out.extra["rules_refused"])
    assert refused["not_a_burst"] == "an event_count condition must be gte or gt (a burst), not lte"
    assert refused["counts_nothing"] == "the correlation counts rules that did not load: no_such_rule"


def test_exclude_rules_by_id_sigma_id_or_tag():
    chosen = select_detections(exclude_rules=["attack.t1530", "root_account_usage",
                                              "f8563024-eef4-5165-8fb7-4bfe21013c41"])
    ids = [d["id"] for d in chosen]
    assert "root_account_usage" not in ids and "console_login_without_mfa" not in ids
    assert not [i for i in ids if i.startswith(("s3_bucket_acl", "s3_bucket_policy", "s3_public"))]
    assert "cloudtrail_tampering" in ids and "s3_bucket_encryption_removed" in ids
    with pytest.raises(InputError, match="exclude_rules: 'nope' is no rule id"):
        select_detections(exclude_rules=["nope"])


def test_the_module_returns_rules_loaded_and_refused_and_a_refusal_fails_the_gate(run_module, tmp_path):
    from ansible_collections.ainative.security.plugins.modules import cloudtrail_hunt
    _planted(tmp_path)
    good = _rule(tmp_path, USER_RULE, name="ml_bucket_public")
    bad = _rule(tmp_path, BAD_MODIFIER, name="bad_modifier", rule_id="5a4e3d2c-1b0a-4f9e-8d7c-6b5a4f3e2d1c")
    args = {"source": "local", "paths": [str(tmp_path / "logs")], "since": "9999d", "rules": [good, bad],
            "exclude_rules": ["bedrock", "organization_left"], "max_findings": 0}
    result, failed = run_module(cloudtrail_hunt, args)
    assert failed and result["verdict"] == "incomplete"
    assert [(r["id"], r["line"], r["reason"]) for r in result["rules_refused"]] == \
        [("bad_modifier", 16, "Unknown modifier 'containz'")]
    ids = [r["id"] for r in result["rules_loaded"]]
    assert "ml_bucket_public" in ids and "organization_left" not in ids and not [i for i in ids if "bedrock" in i]
    assert result["counts"]["ml_bucket_public"] == 3
    args["rules"] = [good]
    result, failed = run_module(cloudtrail_hunt, args)
    assert not failed and result["verdict"] == "findings" and result["rules_refused"] == []


def test_rules_need_pysigma_on_the_host(tmp_path, monkeypatch):
    monkeypatch.setattr(sigma_rules, "HAS_PYSIGMA", False)
    with pytest.raises(DependencyError, match="pySigma"):
        _hunt(tmp_path, rules=[_rule(tmp_path, USER_RULE)])


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    with open(BUILTIN, "w") as out:
        out.write(sigma_rules.builtin_source(RULE_DIR))


@pytest.mark.parametrize("pattern", ["^(a+)+$", "(a|aa)*b", "(x*)*y", "(\\w+\\s?)+$", "(a)\\1", ".*a.*b", "Put.+Bucket\\w*Policy"])
def test_a_regex_that_can_backtrack_catastrophically_is_refused(tmp_path, pattern):
    path = _rule(tmp_path, "  sel:\n    eventName|re: '%s'\n  condition: sel\n" % pattern)
    loaded, refused = sigma_rules.load_rules([path])
    assert not loaded and "backtrack" in refused[0]["reason"], refused


@pytest.mark.parametrize("pattern", ["^Get.*Policy$", "^(Put|Delete)Bucket[A-Z][a-z]+$", "(ab)+c", "^a{2,5}(b|c)$"])
def test_a_linear_regex_is_accepted(tmp_path, pattern):
    _matcher(tmp_path, "  sel:\n    eventName|re: '%s'\n  condition: sel\n" % pattern)


def test_a_rule_file_with_yaml_aliases_is_refused_before_they_expand(tmp_path):
    path = tmp_path / "bomb.yml"
    path.write_text("vals: &a [%s]\nm: &m {eventName: *a}\n" % ",".join("v%d" % n for n in range(300))
                    + HEADER % {"title": "Bomb", "id": "9d0c3a52-6f0e-4d5c-9b1a-2f3e4d5c6b7a", "name": "bomb"}
                    + "detection:\n  sel: [%s]\n  condition: sel\n" % ",".join(["*m"] * 300))
    loaded, refused = sigma_rules.load_rules([str(path)])
    assert not loaded and "alias" in refused[0]["reason"], refused


def test_an_oversized_rule_file_is_refused_unread(tmp_path):
    path = tmp_path / "huge.yml"
    path.write_bytes("# \u00e9\n".encode("utf-8") * (sigma_rules.MAX_RULE_FILE_BYTES // 5 + 1))  # bytes, not characters
    loaded, refused = sigma_rules.load_rules([str(path)])
    assert not loaded and refused[0]["file"] == str(path) and "larger than" in refused[0]["reason"], refused


@pytest.mark.parametrize("parser", ["auto", "json"])
def test_an_event_name_or_source_pinned_in_another_case_still_matches(tmp_path, parser):
    _manifest, fire, _benign = _planted(tmp_path)
    by_name = _rule(tmp_path, "  sel:\n    eventName: putbucketacl\n    requestParameters.bucketName: ml-raw\n"
                    "  condition: sel\n", name="acl_lower")
    by_source = _rule(tmp_path, "  sel:\n    eventSource: S3.AMAZONAWS.COM\n    requestParameters.bucketName: ml-raw\n"
                      "  condition: sel\n", name="source_upper", rule_id="9e0c3a52-6f0e-4d5c-9b1a-2f3e4d5c6b7a")
    out = _hunt(tmp_path, rules=[by_name, by_source], parser=parser)
    for rule_id in ("acl_lower", "source_upper"):
        assert [f["details"]["event_id"] for f in out.findings if f["id"] == rule_id] == [fire[1]], rule_id


@pytest.mark.parametrize("pattern, text, fires", [
    ("*a*a*a*a*a*b", "a" * 5000, False),
    ("*a*a*a*a*a*b", "a" * 5000 + "b", True),
    ("a*?*\\*x", "AZZ*X", True),
    ("a*?*\\*x", "a*x", False),
    ("*ab*ab", "xabyab", True),
    ("?", "", False),
])
def test_wildcards_match_in_linear_time(tmp_path, pattern, text, fires):
    match = _matcher(tmp_path, "  sel:\n    userAgent: '%s'\n  condition: sel\n" % pattern)
    started = time.monotonic()
    assert match({"userAgent": text}) is fires
    assert time.monotonic() - started < 0.5
