"""sigma_sql: Sigma condition trees as Trino SQL with the fast path's semantics.

Each case runs the same rule through the fast path's matcher (sigma_engine) and through the SQL,
transpiled by sqlglot and run in DuckDB over the event loaded with the Athena table's columns
(lab/athena_duckdb.py): both must agree. Then the attacks: values and field names that try to break out
of their literal, and rules the compiler cannot express, which must be refused, never passed.
"""

import json
import os
import sys

import pytest
import sqlglot
from sqlglot import exp

from ansible_collections.ainative.security.plugins.module_utils.cloud import sigma_rules, sigma_sql
from ansible_collections.ainative.security.plugins.module_utils.cloud.sigma_engine import compile_node

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
sys.path.insert(0, ROOT)
from lab import athena_duckdb  # noqa: E402

HEADER = """title: t
id: 9d0c3a52-6f0e-4d5c-9b1a-2f3e4d5c6b7a
name: t
status: test
logsource:
  product: aws
  service: cloudtrail
level: high
detection:
"""
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
GRANT_RULE = ("  sel:\n    requestParameters.AccessControlPolicy.AccessControlList.Grant.Grantee.URI|endswith: /AllUsers\n"
              "  condition: sel\n")


def _grants(grant):
    return {"requestParameters": {"AccessControlPolicy": {"AccessControlList": {"Grant": grant}}}}


def _condition(tmp_path, detection):
    path = tmp_path / "rule.yml"
    path.write_text(HEADER + detection)
    loaded, refused = sigma_rules.load_rules([str(path)])
    assert not refused, refused
    return loaded[0]["condition"]


def _sql_matches(tmp_path, cond, events):
    """Event ids the compiled condition selects in DuckDB, over ``events`` as Athena rows."""
    comp = sigma_sql.Compiler()
    where = comp.condition(cond)
    derived = "".join(", %s AS %s" % (e, a) for a, e in comp.derived)
    sql = "SELECT eventid FROM (SELECT *%s FROM \"AwsDataCatalog\".\"lab\".\"cloudtrail_logs\") ev WHERE %s" % (derived, where)
    for n, event in enumerate(events):
        event.setdefault("eventID", "e%d" % n)
    path = tmp_path / "AWSLogs" / "123456789012" / "CloudTrail" / "us-east-1" / "2026" / "11" / "25" / "f.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"Records": events}))
    con = athena_duckdb.load([str(path)])
    return set(r[0] for r in con.execute(athena_duckdb.to_duckdb(sql)).fetchall())


CASES = [
    ("  sel:\n    eventName: consolelogin\n  condition: sel\n", {"eventName": "ConsoleLogin"}),
    ("  sel:\n    userAgent: 'aws_cli*'\n  condition: sel\n", {"userAgent": "aws-cli/2.15"}),
    ("  sel:\n    userAgent: 'aws_cli*'\n  condition: sel\n", {"userAgent": "AWS_CLI/1.0"}),
    ("  sel:\n    userAgent: 'bot?'\n  condition: sel\n", {"userAgent": "bot7"}),
    ("  sel:\n    userAgent: 'bot?'\n  condition: sel\n", {"userAgent": "bot77"}),
    ("  sel:\n    userAgent: '100%*'\n  condition: sel\n", {"userAgent": "100x sure"}),
    ("  sel:\n    userAgent: '100%*'\n  condition: sel\n", {"userAgent": "100% sure"}),
    ("  sel:\n    userAgent|contains: 'Boto3'\n  condition: sel\n", {"userAgent": "x boto3/1.34 y"}),
    ("  sel:\n    eventName|startswith: 'Delete'\n  condition: sel\n", {"eventName": "DeleteTrail"}),
    ("  sel:\n    eventName|endswith: 'Trail'\n  condition: sel\n", {"eventName": "StopLogging"}),
    ("  sel:\n    eventName|re: '^(Stop|Delete)'\n  condition: sel\n", {"eventName": "StopLogging"}),
    ("  sel:\n    eventName|re|i: '^stop'\n  condition: sel\n", {"eventName": "StopLogging"}),
    ("  sel:\n    sourceIPAddress|cidr: 198.51.100.0/24\n  condition: sel\n", {"sourceIPAddress": "198.51.100.77"}),
    ("  sel:\n    sourceIPAddress|cidr: 198.51.100.0/24\n  condition: sel\n", {"sourceIPAddress": "198.51.101.1"}),
    ("  sel:\n    sourceIPAddress|cidr: 198.51.100.0/24\n  condition: sel\n", {"sourceIPAddress": "s3.amazonaws.com"}),
    (GRANT_RULE, _grants([{"Grantee": {"ID": "abc"}}, {"Grantee": {"URI": ALL_USERS}}])),
    (GRANT_RULE, _grants({"Grantee": {"URI": ALL_USERS}})),
    (GRANT_RULE, _grants({"Grantee": {"ID": ALL_USERS}})),
    ("  sel:\n    requestParameters.bucketPolicy.Statement.Principal|re: '^[*]$'\n  condition: sel\n",
     {"requestParameters": {"bucketPolicy": json.dumps({"Statement": [{"Principal": "*"}]})}}),
    ("  sel:\n    requestParameters.bucketPolicy.Statement.Principal|re: '^[*]$'\n  condition: sel\n",
     {"requestParameters": {"bucketPolicy": {"Statement": {"Principal": {"AWS": "*"}}}}}),
    ("  sel:\n    requestParameters.items: b\n  condition: sel\n", {"requestParameters": {"items": ["a", ["b"]]}}),
    ("  sel:\n    eventName: ConsoleLogin\n  filter:\n    additionalEventData.MFAUsed: 'Yes'\n"
     "  condition: sel and not filter\n", {"eventName": "ConsoleLogin"}),
    ("  sel:\n    eventName: ConsoleLogin\n  filter:\n    userIdentity.sessionContext.sessionIssuer.userName: X\n"
     "  condition: sel and not filter\n", {"eventName": "ConsoleLogin", "userIdentity": {"type": "IAMUser"}}),
    ("  sel:\n    additionalEventData.MFAUsed: 'No'\n  condition: sel\n", {"eventName": "ConsoleLogin"}),
    ("  sel:\n    errorCode: null\n  condition: sel\n", {"eventName": "X"}),
    ("  sel:\n    requestParameters.name: null\n  condition: sel\n", {"requestParameters": {"name": ""}}),
    ("  sel:\n    requestParameters.name: null\n  condition: sel\n", {"requestParameters": {"name": {"a": 1}}}),
    ("  sel:\n    errorCode|exists: true\n  condition: sel\n", {"eventName": "X"}),
    ("  sel:\n    requestParameters.pendingWindowInDays|lt: 8\n  condition: sel\n",
     {"requestParameters": {"pendingWindowInDays": 7}}),
    ("  sel:\n    requestParameters.pendingWindowInDays|lt: 8\n  condition: sel\n",
     {"requestParameters": {"pendingWindowInDays": "9"}}),
    ("  sel:\n    requestParameters.enable: false\n  condition: sel\n", {"requestParameters": {"enable": False}}),
    ("  sel:\n    eventName|contains|all: [Put, Policy]\n  condition: sel\n", {"eventName": "PutBucketAcl"}),
    ("  sel:\n    resources.ARN|endswith: ':trail/main'\n  condition: sel\n",
     {"resources": [{"ARN": "arn:aws:cloudtrail:us-east-1:1:trail/main", "type": "AWS::CloudTrail::Trail"}]}),
    ("  sel:\n    requestParameters.userName|fieldref: userIdentity.userName\n  condition: sel\n",
     {"requestParameters": {"userName": "Bob"}, "userIdentity": {"userName": "bob"}}),
    ("  sel:\n    userIdentity.arn|fieldref|endswith: requestParameters.userName\n  condition: sel\n",
     {"requestParameters": {"userName": "bob"}, "userIdentity": {"arn": "arn:aws:iam::1:user/alice"}}),
]


@pytest.mark.parametrize("detection, event", CASES)
def test_sql_in_duckdb_agrees_with_the_fast_path(tmp_path, detection, event):
    cond = _condition(tmp_path, detection)
    events = [dict(event), {"eventName": "Unrelated"}]
    matcher = compile_node(cond)
    fast = set("e%d" % n for n, e in enumerate(events) if matcher(dict(e)))
    assert _sql_matches(tmp_path, cond, events) == fast


def test_every_case_is_tested_both_ways(tmp_path):
    # the cases above hold both outcomes, so agreement is never "both always false"
    outcomes = [compile_node(_condition(tmp_path, d))(dict(e)) for d, e in CASES]
    assert outcomes.count(True) >= 12 and outcomes.count(False) >= 10


# --- attacks --------------------------------------------------------------------------------------

INJECTIONS = ["x' OR '1'='1", "a\\' OR TRUE --", "q'); DROP TABLE t; --", "back\\slash'"]


@pytest.mark.parametrize("value", INJECTIONS)
def test_a_quote_or_backslash_in_a_value_stays_inside_its_literal(tmp_path, value):
    cond = ["match", "eventName", "eq", value]
    sql = sigma_sql.Compiler().condition(cond)
    literals = [lit.this for lit in sqlglot.parse_one(sql, read="trino").find_all(exp.Literal) if lit.is_string]
    assert value.lower() in literals
    # only the event whose name is the hostile text matches; every other event stays out
    assert _sql_matches(tmp_path, cond, [{"eventName": value}, {"eventName": "DeleteTrail"}, {"eventName": "x"}]) == {"e0"}
    wild = ["match", "userAgent", "wildcard", [[[value], []], False]]
    assert _sql_matches(tmp_path, wild, [{"userAgent": value + "tail"}, {"userAgent": "tail"}]) == {"e0"}


@pytest.mark.parametrize("field", ['requestParameters.a"]\') OR 1=1 --', "requestParameters.a'b",
                                   "requestParameters.a\\b", "requestParameters.a[0]"])
def test_a_field_name_that_would_leave_the_json_path_is_refused(field):
    with pytest.raises(sigma_sql.NotCompilable):
        sigma_sql.Compiler().condition(["match", field, "eq", "x"])


def test_the_strict_twins_field_names_with_dashes_and_colons_compile_and_match(tmp_path):
    cond = ["and", [["match", "requestParameters.x-amz-acl", "eq", "public-read"],
                    ["match", "requestParameters.Grantee.xsi:type", "eq", "Group"]]]
    events = [{"requestParameters": {"x-amz-acl": "public-read", "Grantee": {"xsi:type": "Group"}}},
              {"requestParameters": {"x-amz-acl": "private", "Grantee": {"xsi:type": "Group"}}}]
    assert _sql_matches(tmp_path, cond, events) == {"e0"}


@pytest.mark.parametrize("node, reason", [
    (["match", None, "contains", "mallory"], "keyword rules"),
    (["match", "eventname", "eq", "x"], "not in the Athena CloudTrail table"),
    (["match", "userIdentity.sessionContext.webIdFederationData.attributes", "eq", "x"], "not in the Athena"),
    (["match", "userIdentity.sessionContext", "eq", "x"], "is a struct"),
    (["match", "sourceIPAddress", "cidr", "2001:db8::/32"], "IPv6"),
    (["match", "eventName", "re", ["(?P<n>Stop)", 0]], "Python-only"),
    (["match", "eventName", "re", ["stop", 64]], "flags"),
    (["match", "eventName", "eq", "a\x00b"], "NUL"),
    (["match", "eventName", "num_or_what", 1], "cannot be compiled"),
])
def test_what_sql_cannot_express_is_refused_with_the_reason(node, reason):
    with pytest.raises(sigma_sql.NotCompilable, match=reason):
        sigma_sql.Compiler().condition(["and", [["match", "eventName", "eq", "ok"], node]])


def test_a_missing_field_is_false_not_null_so_not_keeps_the_event(tmp_path):
    cond = ["not", ["match", "requestParameters.bucketName", "eq", "x"]]
    assert _sql_matches(tmp_path, cond, [{"eventName": "A"}, {"requestParameters": {"bucketName": "x"}}]) == {"e0"}
    cond = ["not", ["match", "errorCode", "startswith", "Access"]]
    assert _sql_matches(tmp_path, cond, [{"eventName": "A"}, {"errorCode": "AccessDenied"}]) == {"e0"}
