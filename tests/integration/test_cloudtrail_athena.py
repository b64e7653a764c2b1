"""cloudtrail_hunt ``source: athena`` agrees with the fast path (issue 15, item 3).

The lab archive (every detection's planted events and benign twins, a user's rule's events, background
traffic) is read by the fast path (``source: local``) and loaded into DuckDB with the Athena table's
columns (lab/athena_duckdb.py); the Trino SQL the module generates is transpiled by sqlglot and run
there, its rows paged back like GetQueryResults. Both hunts must give the same findings: ids, event ids,
fingerprints and details. The call sequence against the Athena API itself is in
tests/unit/plugins/module_utils/test_cloudtrail_athena.py (moto and a botocore Stubber).
"""

import datetime
import gzip
import json
import os
import random
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

from lab import athena_duckdb  # noqa: E402
from lab import cloudtrail_archive as ca  # noqa: E402
from ansible_collections.ainative.security.plugins.module_utils.cloud import cloudtrail as ct  # noqa: E402
from ansible_collections.ainative.security.plugins.module_utils.cloud.cloudtrail_sources import expand_paths  # noqa: E402

NOW = datetime.datetime(2026, 11, 25, 12, 0, tzinfo=datetime.timezone.utc)

# nested fields through a list or an object, a wildcard with a literal _, a not-filter on a field
# that some events lack (sessionContext): the filter must not drop them
USER_RULE = """title: ML bucket made public
id: 3c1f5a7e-2b4d-4e6f-8a9b-0c1d2e3f4a5b
name: ml_bucket_public
status: test
logsource:
  product: aws
  service: cloudtrail
tags:
  - attack.collection
  - attack.t1530
level: critical
detection:
  selection:
    eventName: PutBucketAcl
    requestParameters.bucketName: 'ml_*'
    requestParameters.AccessControlPolicy.AccessControlList.Grant.Grantee.URI|endswith: /AllUsers
  filter_break_glass:
    userIdentity.sessionContext.sessionIssuer.userName: BreakGlass
  condition: selection and not filter_break_glass
"""


def _acl(ident, bucket, as_list, minutes):
    grant = {"Grantee": {"xsi:type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
             "Permission": "READ"}
    request = {"bucketName": bucket, "AccessControlPolicy": {"AccessControlList": {"Grant": [grant] if as_list else grant}}}
    return ca.event("PutBucketAcl", "s3.amazonaws.com", ident, NOW - datetime.timedelta(minutes=minutes), request=request)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("athena-archive")
    plants = ca.planted(NOW - datetime.timedelta(hours=3))
    files = list(ca.planted_files(plants))
    fire = [_acl(ca._user("alice"), "ml_data", True, 30),            # no sessionContext at all
            _acl(ca._role("AdminRole", "ops"), "ml_raw", False, 29)]  # Grant as an object
    benign = [_acl(ca._role("BreakGlass", "x"), "ml_data", True, 28),  # the filter drops it
              _acl(ca._user("alice"), "mlxdata", True, 27),            # _ is literal, not any character
              _acl(ca._user("bob"), "ml_data", True, 26)]
    benign[-1]["requestParameters"]["AccessControlPolicy"]["AccessControlList"]["Grant"][0]["Grantee"]["URI"] = \
        "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
    key = ca.key_for(ca.ACCOUNT, "us-east-1", NOW - datetime.timedelta(minutes=20), rng=random.Random(5))
    files.append((key, gzip.compress(json.dumps({"Records": fire + benign}).encode())))
    templates = ca._templates(ca.ACCOUNT, "us-east-1")
    rng = random.Random(7)
    for n in range(4):  # benign background, so the SQL has to discard events too
        start = NOW - datetime.timedelta(hours=6 - n)
        files.append((ca.key_for(ca.ACCOUNT, "us-east-1", start + datetime.timedelta(hours=1), rng=rng),
                      ca.file_bytes(templates, rng, start, 3600, 400)))
    for key, data in files:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    rule = root / "ml_bucket_public.yml"
    rule.write_text(USER_RULE)
    paths = expand_paths([str(root / "AWSLogs")])
    return {"root": str(root / "AWSLogs"), "rule": str(rule), "manifest": ca.manifest(plants), "paths": paths,
            "fire": [e["eventID"] for e in fire], "benign": [e["eventID"] for e in benign],
            "con": athena_duckdb.load(paths)}


def _sorted(findings):
    return sorted(findings, key=lambda f: f["fingerprint"])


class _Clients:
    def __init__(self, athena):
        self.athena = athena

    def client(self, service, region=None):
        assert service == "athena"
        return self.athena


def _params(**extra):
    params = {"source": "local", "since": "24h", "allowed_cidrs": ca.ALLOWED_CIDRS, "max_findings": 0, "workers": 1,
              "brute_force_threshold": 10, "unauthorized_threshold": 10, "concurrency": 16, "lookup_rate": 2.0,
              "max_lookup_events": 0, "deadline": 900}
    params.update(extra)
    return params


def _hunts(archive, **extra):
    fast = ct.hunt(_params(paths=[archive["root"]], **extra), now=NOW)
    athena = athena_duckdb.DuckDBAthena(archive["con"], page_size=40)
    sql = ct.hunt(_params(source="athena", athena={"database": "lab", "poll_interval": 0.01}, regions=["us-east-1"],
                          accounts=[ca.ACCOUNT], **extra), clients=_Clients(athena), now=NOW)
    return fast, sql, athena


def _by_detection(outcome):
    out = {}
    for finding in outcome.findings:
        ids = out.setdefault(finding["id"], set())
        ids.add(finding["details"]["event_id"])
        ids.update(finding["details"].get("event_ids") or [])
    return out


def test_athena_sql_in_duckdb_finds_what_the_fast_path_finds(archive):
    fast, sql, athena = _hunts(archive, rules=[archive["rule"]])
    assert fast.coverage.complete and sql.coverage.complete, sql.coverage.gaps()
    assert sql.extra["rules_refused"] == []
    # the same findings, to the fingerprint and every detail
    assert _sorted(sql.findings) == _sorted(fast.findings)
    assert _by_detection(sql) == _by_detection(fast)
    assert sql.extra["counts"] == fast.extra["counts"]
    # and they are the planted ones: each detection fires on its plant, never on its twin
    seen = _by_detection(sql)
    for det, ids in archive["manifest"].items():
        assert set(ids["fire"]) & seen.get(det, set()) and not set(ids["benign"]) & seen.get(det, set()), det
    assert set(archive["fire"]) <= seen["ml_bucket_public"] and not set(archive["benign"]) & seen["ml_bucket_public"]
    # one query, polled, its results read over several pages
    names = [c[0] for c in athena.calls]
    assert names.count("StartQueryExecution") == 1 and names.count("GetQueryResults") > 2
    detail = sql.extra["coverage_detail"][0]
    assert detail["source"] == "athena" and detail["complete"] and detail["rows"] > 40
    query = athena.calls[0][1]
    assert query["QueryExecutionContext"] == {"Database": "lab", "Catalog": "AwsDataCatalog"}
    assert query["WorkGroup"] == "primary"
    # partition predicates for Athena to prune on
    assert "\"timestamp\" BETWEEN '2026/11/24' AND '2026/11/25'" in query["QueryString"]
    assert "\"region\" IN ('us-east-1')" in query["QueryString"]
    assert "\"account\" IN ('%s')" % ca.ACCOUNT in query["QueryString"]


@pytest.mark.parametrize("selection", [{"detections": ["console_login_brute_force", "unauthorized_api_burst"]},
                                       {"tags": ["bedrock"]}])
def test_threshold_rules_agree_with_lowered_thresholds(archive, selection):
    fast, sql, _athena = _hunts(archive, brute_force_threshold=3, unauthorized_threshold=2, **selection)
    assert fast.findings and _sorted(sql.findings) == _sorted(fast.findings)
    assert sql.coverage.complete


BUCKET_BURST = """title: Public ACLs on one bucket
id: 4c1f5a7e-2b4d-4e6f-8a9b-0c1d2e3f4a5b
name: public_acl_burst
status: test
correlation:
  type: event_count
  rules: [ml_bucket_public]
  group-by: [requestParameters.AccessControlPolicy.AccessControlList.Grant.Permission, eventSource]
  timespan: 1h
  condition:
    gte: 2
level: high
"""


def test_a_users_correlation_grouped_by_a_nested_field_agrees(archive, tmp_path):
    burst = tmp_path / "burst.yml"
    burst.write_text(BUCKET_BURST)
    fast, sql, _athena = _hunts(archive, rules=[archive["rule"], str(burst)], detections=["public_acl_burst"])
    assert sql.coverage.complete and sql.extra["rules_refused"] == []
    # both planted hits grant READ (in a list, and in an object): one group, "READ|s3.amazonaws.com"
    assert [(f["id"], f["details"]["group"]) for f in fast.findings] == [("public_acl_burst", "READ|s3.amazonaws.com")]
    assert sorted(fast.findings[0]["details"]["event_ids"]) == sorted(archive["fire"])
    assert _sorted(sql.findings) == _sorted(fast.findings)


def test_max_rows_leaves_the_hunt_incomplete_with_the_reason(archive):
    athena = athena_duckdb.DuckDBAthena(archive["con"])

    def hunt(max_rows):
        return ct.hunt(_params(source="athena", athena={"database": "lab", "max_rows": max_rows},
                               detections=["console_login_failure"]), clients=_Clients(athena), now=NOW)

    out = hunt(5)
    assert not out.coverage.complete
    assert any("more than max_rows=5 rows" in m["reason"] for m in out.coverage.missed)
    # the strict twin: room for every row, a complete hunt
    assert hunt(1000).coverage.complete


def _athena_hunt(con, now=NOW, **extra):
    athena = athena_duckdb.DuckDBAthena(con)
    out = ct.hunt(_params(source="athena", athena={"database": "lab", "poll_interval": 0.01}, **extra),
                  clients=_Clients(athena), now=now)
    return out, out.extra["coverage_detail"][0]


def test_an_empty_table_examined_nothing_and_is_incomplete():
    # the attack: the table's LOCATION points at an empty prefix; the query SUCCEEDS with no rows
    out, detail = _athena_hunt(athena_duckdb.load([]))
    assert not out.coverage.complete and out.findings == []
    assert detail["data_scanned_bytes"] == 0 and not detail["complete"]
    assert any("read 0 bytes, so no log file was examined" in m["reason"] for m in out.coverage.missed)


def test_a_projection_that_points_at_no_files_is_incomplete_and_its_twin_a_clean_window_is_complete(archive):
    # a month later, the projected days hold no file: Athena prunes every partition and reads nothing
    out, detail = _athena_hunt(archive["con"], now=NOW + datetime.timedelta(days=30),
                               regions=["us-east-1"], accounts=[ca.ACCOUNT])
    assert not out.coverage.complete and detail["data_scanned_bytes"] == 0
    # so does an account the table has no logs for
    out, detail = _athena_hunt(archive["con"], regions=["us-east-1"], accounts=["999999999999"])
    assert not out.coverage.complete and detail["data_scanned_bytes"] == 0
    # the strict twin: the lab's files are read, and a rule nothing matches gives a complete, empty hunt
    out, detail = _athena_hunt(archive["con"], regions=["us-east-1"], accounts=[ca.ACCOUNT],
                               detections=["ml_bucket_public"], rules=[archive["rule"]],
                               since="10m")
    assert out.coverage.complete, out.coverage.gaps()
    assert out.findings == [] and detail["rows"] == 0 and detail["data_scanned_bytes"] > 0
