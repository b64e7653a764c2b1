"""cloudtrail_hunt ``source: athena``: the Athena call sequence and what makes a hunt incomplete.

moto's Athena answers StartQueryExecution / GetQueryExecution / GetQueryResults with rows queued in its
backend (it runs no SQL, is SUCCEEDED at once and returns one page); the rows queued are those the
generated SQL gives in DuckDB over the lab's planted events. The polling states (QUEUED, RUNNING, FAILED),
NextToken pagination and the max_wait stop are not in moto, so those branches use a botocore Stubber.
"""

import datetime
import os
import sys

import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.ainative.security.plugins.module_utils.cloud import cloudtrail as ct
from ansible_collections.ainative.security.plugins.module_utils.cloud import cloudtrail_athena as ath
from ansible_collections.ainative.security.plugins.module_utils.cloud.aws import Clients
from ansible_collections.ainative.security.plugins.module_utils.cloud.cloudtrail_sources import expand_paths
from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
sys.path.insert(0, ROOT)
from lab import athena_duckdb  # noqa: E402
from lab import cloudtrail_archive as ca  # noqa: E402

NOW = datetime.datetime(2026, 11, 25, 12, 0, tzinfo=datetime.timezone.utc)
OPTS = {"database": "trails", "table": "cloudtrail_logs", "catalog": "AwsDataCatalog", "workgroup": "hunt",
        "output_location": "s3://athena-results/hunt/", "poll_interval": 0.5, "max_wait": 30,
        "partition_projection": True, "max_rows": 10000}


def _params(**extra):
    params = {"source": "athena", "since": "24h", "allowed_cidrs": ca.ALLOWED_CIDRS, "max_findings": 0, "workers": 1,
              "brute_force_threshold": 10, "unauthorized_threshold": 10, "concurrency": 4, "lookup_rate": 2.0,
              "max_lookup_events": 0, "deadline": 900, "athena": dict(OPTS)}
    params.update(extra)
    return params


def _sorted(findings):
    return sorted(findings, key=lambda f: f["fingerprint"])


class _One:
    def __init__(self, athena):
        self.athena = athena

    def client(self, service, region=None):
        return self.athena


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    for key, data in ca.planted_files(ca.planted(NOW - datetime.timedelta(hours=3))):
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return str(root), athena_duckdb.load(expand_paths([str(root)]), database="trails")


def _stubbed():
    client = boto3.client("athena", region_name="us-east-1", aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x")
    return client, Stubber(client)


def _state(state, reason=None):
    status = {"State": state}
    if reason:
        status["StateChangeReason"] = reason
    return {"QueryExecution": {"QueryExecutionId": "q-1", "Status": status, "Statistics": {"DataScannedInBytes": 1234}}}


def _page(rows, header=None, token=None):
    cells = ([[{"VarCharValue": h} for h in header]] if header else []) + \
        [[{"VarCharValue": v} if v is not None else {} for v in r] for r in rows]
    page = {"ResultSet": {"Rows": [{"Data": c} for c in cells],
                          "ResultSetMetadata": {"ColumnInfo": [{"Name": "a", "Type": "varchar"},
                                                               {"Name": "b", "Type": "varchar"}]}}}
    if token:
        page["NextToken"] = token
    return page


def test_start_then_poll_queued_running_succeeded_then_page_through_results():
    client, stub = _stubbed()
    expected_start = {"QueryString": "SELECT 1", "WorkGroup": "hunt",
                      "QueryExecutionContext": {"Database": "trails", "Catalog": "AwsDataCatalog"},
                      "ResultConfiguration": {"OutputLocation": "s3://athena-results/hunt/"}}
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"}, expected_start)
    for state in ("QUEUED", "RUNNING", "SUCCEEDED"):
        stub.add_response("get_query_execution", _state(state), {"QueryExecutionId": "q-1"})
    stub.add_response("get_query_results", _page([["1", "x"], ["2", None]], header=["a", "b"], token="t1"),
                      {"QueryExecutionId": "q-1", "MaxResults": 1000})
    stub.add_response("get_query_results", _page([["3", "z"]]),
                      {"QueryExecutionId": "q-1", "MaxResults": 1000, "NextToken": "t1"})
    sleeps = []
    with stub:
        qid, rows, stats = ath.execute(client, "SELECT 1", OPTS, sleep=sleeps.append, clock=lambda: 0.0)
        stub.assert_no_pending_responses()
    assert qid == "q-1" and stats["DataScannedInBytes"] == 1234
    assert rows == [{"a": "1", "b": "x"}, {"a": "2", "b": None}, {"a": "3", "b": "z"}]
    assert sleeps == [0.5, 0.5]  # polled twice before SUCCEEDED


def test_a_failed_query_is_an_incomplete_hunt_with_athenas_reason():
    client, stub = _stubbed()
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"})
    stub.add_response("get_query_execution", _state("RUNNING"))
    stub.add_response("get_query_execution", _state("FAILED", "COLUMN_NOT_FOUND: line 1:9: Column 'region' cannot be resolved"))
    with stub:
        out = ct.hunt(_params(regions=["us-east-1"]), clients=_One(client), now=NOW)
    assert not out.coverage.complete and out.findings == []
    reasons = [m["reason"] for m in out.coverage.missed]
    assert any("FAILED: COLUMN_NOT_FOUND" in r and "q-1" in r for r in reasons), reasons
    assert out.extra["coverage_detail"][0]["complete"] is False


def test_a_query_past_max_wait_is_stopped_and_named():
    client, stub = _stubbed()
    clock = iter([0.0, 10.0, 31.0])
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"})
    stub.add_response("get_query_execution", _state("QUEUED"))
    stub.add_response("get_query_execution", _state("RUNNING"))
    stub.add_response("stop_query_execution", {}, {"QueryExecutionId": "q-1"})
    with stub:
        with pytest.raises(ath.QueryIncomplete, match="did not finish within max_wait=30 s"):
            ath.execute(client, "SELECT 1", OPTS, sleep=lambda s: None, clock=lambda: next(clock))
        stub.assert_no_pending_responses()


def test_a_cancelled_query_is_incomplete():
    client, stub = _stubbed()
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"})
    stub.add_response("get_query_execution", _state("CANCELLED", "Query cancelled by user"))
    with stub:
        with pytest.raises(ath.QueryIncomplete, match="CANCELLED: Query cancelled by user"):
            ath.execute(client, "SELECT 1", OPTS, sleep=lambda s: None)


def test_through_motos_athena_the_findings_equal_the_fast_paths(planted, monkeypatch):
    moto = pytest.importorskip("moto")
    from moto.athena.models import QueryResults, athena_backends
    from moto.core import DEFAULT_ACCOUNT_ID
    root, con = planted
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    few = {"detections": ["console_login_brute_force", "s3_bucket_acl_public", "root_account_usage"]}
    fast = ct.hunt(_params(source="local", paths=[root], **few), now=NOW)
    duck = athena_duckdb.DuckDBAthena(con)
    ct.hunt(_params(**few), clients=_One(duck), now=NOW)
    names, rows = list(duck.queries.values())[0]
    with moto.mock_aws():
        backend = athena_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        backend.query_results_queue.append(QueryResults(
            rows=[{"Data": [{"VarCharValue": n} for n in names]}] +
                 [{"Data": [athena_duckdb._cell(v) for v in r]} for r in rows],
            column_info=[{"Name": n, "Type": "varchar"} for n in names]))
        boto3.client("athena", region_name="us-east-1").create_work_group(Name="hunt")
        out = ct.hunt(_params(**few), clients=Clients(params={"region": "us-east-1"}), now=NOW)
    assert fast.findings and _sorted(out.findings) == _sorted(fast.findings)
    detail = out.extra["coverage_detail"][0]
    assert detail["query_execution_id"] and detail["rows"] == len(rows)
    # moto answers DataScannedInBytes 0, which on Athena means no file was read: the rows are kept, the hunt
    # is incomplete (the DuckDB client, which reports the bytes read, is the complete twin)
    assert not out.coverage.complete and detail["data_scanned_bytes"] == 0
    assert [m["reason"].split(",")[0] for m in out.coverage.missed] == [
        "Athena query %s read 0 bytes" % detail["query_execution_id"]]
    twin = ct.hunt(_params(**few), clients=_One(athena_duckdb.DuckDBAthena(con)), now=NOW)
    assert twin.coverage.complete and twin.extra["coverage_detail"][0]["data_scanned_bytes"] > 0


KEYWORD_RULE = """title: Keyword
id: 1c1f5a7e-2b4d-4e6f-8a9b-0c1d2e3f4a5b
name: %s
status: test
logsource:
  product: aws
  service: cloudtrail
level: high
detection:
%s"""


def test_a_rule_sql_cannot_express_is_a_gap_and_its_strict_twin_runs(planted, tmp_path):
    con = planted[1]
    refused = tmp_path / "keyword.yml"
    refused.write_text(KEYWORD_RULE % ("mallory_anywhere", "  keywords:\n    - '*mallory*'\n  condition: keywords\n"))
    twin = tmp_path / "twin.yml"
    twin.write_text(KEYWORD_RULE.replace("1c1f", "2c1f") % (
        "mallory_agent", "  sel:\n    userAgent|contains: mallory\n  condition: sel\n"))
    out = ct.hunt(_params(rules=[str(refused)], detections=["root_account_usage", "mallory_anywhere"]),
                  clients=_One(athena_duckdb.DuckDBAthena(con)), now=NOW)
    assert not out.coverage.complete
    assert {"item": "mallory_anywhere", "reason": "rule not compilable to SQL: keyword rules (values without a field) "
            "cannot be compiled to SQL"} in out.coverage.missed
    ok = ct.hunt(_params(rules=[str(twin)], detections=["root_account_usage", "mallory_agent"]),
                 clients=_One(athena_duckdb.DuckDBAthena(con)), now=NOW)
    assert ok.coverage.complete and "mallory_agent" in [r["id"] for r in ok.extra["rules_loaded"]]


@pytest.mark.parametrize("opts, message", [
    ({"database": "x", "output_location": "https://bucket/"}, "s3:// URI"),
    ({"database": ""}, "database is required"),
    ({"database": "x", "max_wait": 0}, "max_wait must be at least 1"),
])
def test_bad_athena_options_are_input_errors(opts, message):
    with pytest.raises(InputError, match=message):
        ath.validate(opts)


def test_partitions_cover_the_delivery_day_after_the_window_and_quote_values():
    start = datetime.datetime(2026, 11, 24, 23, 30, tzinfo=datetime.timezone.utc)
    end = datetime.datetime(2026, 11, 25, 23, 30, tzinfo=datetime.timezone.utc)
    preds = ath.partition_predicates(start, end, ["us-east-1"], ["1'1"])
    assert preds == ["\"timestamp\" BETWEEN '2026/11/24' AND '2026/11/26'", "\"region\" IN ('us-east-1')",
                     "\"account\" IN ('1''1')"]
    assert ath.partition_predicates(start, end, ["eu-west-1"], None, projection=False) == ["awsregion IN ('eu-west-1')"]


def test_the_module_requires_athena_options_and_runs_on_motos_athena(run_module, monkeypatch):
    moto = pytest.importorskip("moto")
    from ansible_collections.ainative.security.plugins.modules import cloudtrail_hunt
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    base = {"source": "athena", "since": "24h", "region": "us-east-1", "detections": ["root_account_usage"]}
    result, failed = run_module(cloudtrail_hunt, base)
    assert failed and "athena" in result["msg"]
    with moto.mock_aws():
        result, failed = run_module(cloudtrail_hunt, dict(base, athena={"database": "trails", "output_location": "/tmp/x"}))
        assert failed and result["msg"] == "athena.output_location must be an s3:// URI, got '/tmp/x'"
        result, failed = run_module(cloudtrail_hunt, dict(base, athena={"database": "trails", "poll_interval": 0.01,
                                                                        "output_location": "s3://results/"}))
        # moto's query succeeds with no rows and 0 bytes read: an empty table, which must not pass the gate
        assert failed and not result["coverage"]["complete"] and result["coverage"]["unit"] == "queries"
        assert "read 0 bytes, so no log file was examined" in result["msg"], result["msg"]
        assert result["coverage_detail"][0]["query_execution_id"]
        accepted, failed = run_module(cloudtrail_hunt, dict(base, accept_incomplete=True, athena={
            "database": "trails", "poll_interval": 0.01, "output_location": "s3://results/"}))
    assert not failed, accepted["msg"]
    assert accepted["verdict"] == "pass" and not accepted["coverage"]["complete"] and accepted["findings"] == []
