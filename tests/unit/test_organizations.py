"""cloud.organizations: option checks, which accounts run, AssumeRole, and merging per-account outcomes."""

import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.ainative.security.plugins.module_utils.cloud import organizations as orgs
from ansible_collections.ainative.security.plugins.module_utils.cloud.aws import AWSAuditError, Clients
from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding
from ansible_collections.ainative.security.plugins.module_utils.core.module import Outcome
from ansible_collections.ainative.security.plugins.modules import cloudtrail_hunt, s3_encryption_assert

MGMT, DATA, ML, GONE = "111111111111", "222222222222", "333333333333", "444444444444"


def options(**changes):
    org = dict((k, v.get("default")) for k, v in orgs.ORGANIZATION_OPTIONS.items())
    org.update(changes)
    return org


def clients():
    return Clients(params={"region": "us-east-1", "endpoint_url": "https://example.invalid"},
                   session=boto3.session.Session(aws_access_key_id="AKIDCALLER", aws_secret_access_key="caller"))


def test_the_spec_is_defined_once_and_merged_by_both_modules():
    spec = orgs.argument_spec()["organization"]
    assert spec["type"] == "dict" and spec["options"]["external_id"]["no_log"] is True
    assert spec["options"]["max_concurrency"]["default"] == 4
    assert spec["options"]["role_name"]["default"] == "OrganizationAccountAccessRole"


@pytest.mark.parametrize("changes, message", [
    ({"accounts": []}, "accounts is empty"),
    ({"accounts": ["all", DATA]}, "all cannot be combined"),
    ({"accounts": ["12345"]}, "'12345' is not a 12-digit"),
    ({"exclude_accounts": ["all"]}, "exclude_accounts: 'all' is not a 12-digit"),
    ({"max_concurrency": 0}, "between 1 and 32"),
    ({"max_concurrency": 33}, "between 1 and 32"),
    ({"role_name": "/leading"}, "not an IAM role name"),
    ({"session_name": "x"}, "session_name must be 2 to 64"),
    ({"external_id": "a b"}, "external_id must be"),
])
def test_bad_options_are_refused_before_any_call(changes, message):
    with pytest.raises(InputError, match=message):
        orgs.validate(options(**changes))


def test_validate_returns_the_asked_accounts_once_or_none_for_all():
    assert orgs.validate(options()) is None
    assert orgs.validate(options(accounts=[DATA, ML, DATA], role_name="audit/Reader")) == [DATA, ML]


LISTED = {MGMT: ("mgmt", "ACTIVE"), DATA: ("data", "ACTIVE"), ML: ("ml", "SUSPENDED")}


def test_all_takes_active_accounts_and_honours_exclusions():
    targets, skipped, misses = orgs.plan(options(exclude_accounts=[DATA]), None, LISTED, MGMT)
    assert targets == [(MGMT, "mgmt")] and misses == []
    assert dict((s["account"], s["status"]) for s in skipped) == {DATA: "excluded", ML: "skipped"}
    targets, skipped, misses = orgs.plan(options(include_management_account=False), None, LISTED, MGMT)
    assert targets == [(DATA, "data")]
    assert [s["reason"] for s in skipped if s["account"] == MGMT] == [
        "management account, include_management_account is false"]


def test_listed_accounts_outside_the_organization_or_not_active_are_misses():
    targets, skipped, misses = orgs.plan(options(), [DATA, ML, GONE], LISTED, MGMT)
    assert targets == [(DATA, "data")]
    assert misses == [(ML, "account is SUSPENDED, not ACTIVE"),
                      (GONE, "not an account of the organization (organizations:ListAccounts)")]
    assert [s["status"] for s in skipped] == ["missed", "missed"]


def test_list_accounts_follows_every_page_and_reads_state_or_status():
    cl = clients()
    with Stubber(cl.raw("organizations")) as stub:
        stub.add_response("list_accounts", {"Accounts": [{"Id": DATA, "Name": "data", "State": "ACTIVE"}],
                                            "NextToken": "t"}, {})
        stub.add_response("list_accounts", {"Accounts": [{"Id": ML, "Name": "ml", "Status": "SUSPENDED"}]},
                          {"NextToken": "t"})
        assert orgs.list_accounts(cl) == {DATA: ("data", "ACTIVE"), ML: ("ml", "SUSPENDED")}
        stub.add_client_error("list_accounts", "AWSOrganizationsNotInUseException", "not in an organization")
        with pytest.raises(AWSAuditError, match="organizations:ListAccounts .*AWSOrganizationsNotInUseException"):
            orgs.list_accounts(cl)


def test_assume_role_builds_clients_for_the_member_and_refusal_names_the_role():
    cl = clients()
    expected = {"RoleArn": "arn:aws-us-gov:iam::%s:role/audit/Reader" % DATA, "RoleSessionName": "hunt",
                "ExternalId": "ext-123"}
    creds = {"AccessKeyId": "ASIAMEMBER0000000000", "SecretAccessKey": "s", "SessionToken": "t",
             "Expiration": "2030-01-01T00:00:00Z"}
    org = options(role_name="audit/Reader", session_name="hunt", external_id="ext-123")
    with Stubber(cl.raw("sts")) as stub:
        stub.add_response("assume_role", {"Credentials": creds}, expected)
        member = orgs.assume(cl, DATA, "aws-us-gov", org)
        stub.add_client_error("assume_role", "AccessDenied", "not authorized to perform: sts:AssumeRole",
                              expected_params=expected)
        with pytest.raises(AWSAuditError, match="sts:AssumeRole of arn:aws-us-gov:iam::%s:role/audit/Reader failed: "
                                                "AccessDenied" % DATA):
            orgs.assume(cl, DATA, "aws-us-gov", org)
    frozen = member.session.get_credentials().get_frozen_credentials()
    assert (frozen.access_key, frozen.token) == ("ASIAMEMBER0000000000", "t")
    assert member.endpoint == cl.endpoint and member.default_region() == "us-east-1"
    assert member.client("s3") is not cl.client("s3")


def _outcome(account, examined, missed=(), findings=(), notes=(), **extra):
    cov = Coverage("buckets", asked=examined + len(missed)).add(examined)
    for item in missed:
        cov.miss(item, "AccessDenied")
    found = [make_finding("s3_encryption_assert", "encryption", gap, "HIGH", "t", target="s3://%s" % bucket)
             for bucket, gap in findings]
    return Outcome(cov, found, notes=list(notes), **extra)


def test_merge_tags_findings_prefixes_gaps_and_sums_counts():
    results = [
        ({"account": DATA, "name": "data", "credentials": "role"},
         _outcome(DATA, 2, findings=[("d1", "s3_bucket_key_disabled")], notes=["same everywhere", "data only"],
                  buckets=[{"name": "d1"}, {"name": "d2"}], counts={"total": 2, "fixed": 0}, window={"start": "s"}), None),
        ({"account": ML, "name": "ml", "credentials": "role"},
         _outcome(ML, 1, missed=["m2"], notes=["same everywhere"], buckets=[{"name": "m1"}],
                  counts={"total": 2, "fixed": 1}, window={"start": "s"}, only_here="ml"), None),
        ({"account": GONE, "name": "gone", "credentials": "role"}, None, "sts:AssumeRole failed: AccessDenied"),
    ]
    out = orgs.merge("buckets", results, [], [], per_account=("buckets",))
    assert out.findings[0]["details"]["account"] == DATA
    assert [(b["name"], b["account"]) for b in out.extra["buckets"]] == [("d1", DATA), ("d2", DATA), ("m1", ML)]
    assert out.extra["counts"] == {"total": 4, "fixed": 1} and out.extra["window"] == {"start": "s"}
    assert out.extra["only_here"] == "ml"  # a key the first account did not return is kept
    cov = out.coverage.as_dict()
    assert (cov["examined"], cov["complete"]) == (3, False)
    assert [m["item"] for m in cov["missed"]] == ["%s/m2" % ML, GONE]
    assert "same everywhere" in out.notes and "data only (account %s)" % DATA in out.notes
    assert "coverage is incomplete: account %s not examined: sts:AssumeRole failed: AccessDenied" % GONE in out.notes
    summary = dict((a["account"], (a["status"], a["examined"], a["missed"])) for a in out.extra["accounts"])
    assert summary == {DATA: ("complete", 2, 0), ML: ("incomplete", 1, 1), GONE: ("missed", 0, 1)}


def test_merge_counts_misses_beyond_the_bounded_list_and_keeps_shape_when_nobody_answered():
    many = _outcome(DATA, 1, missed=["b%d" % i for i in range(60)])
    out = orgs.merge("buckets", [({"account": DATA, "name": None, "credentials": "caller"}, many, None)], [], [])
    assert out.coverage.missed_count == 60 and len(out.coverage.missed) == 50
    out = orgs.merge("buckets", [({"account": DATA, "name": None, "credentials": "role"}, None, "denied")], [],
                     [(GONE, "not an account of the organization")], empty={"buckets": [], "counts": {"total": 0}})
    assert out.extra["buckets"] == [] and out.extra["counts"] == {"total": 0}
    assert not out.coverage.complete and out.coverage.missed_count == 2


def test_strict_twin_every_account_complete_is_a_complete_run():
    results = [({"account": a, "name": a, "credentials": "role"}, _outcome(a, 1), None) for a in (DATA, ML)]
    assert orgs.merge("buckets", results, [], []).coverage.complete


AWS = {"region": "us-east-1", "access_key": "AKIDUNIT", "secret_key": "unit", "endpoint_url": "http://127.0.0.1:9"}


def test_cloudtrail_hunt_refuses_organization_with_another_source(run_module):
    result, failed = run_module(cloudtrail_hunt, dict(AWS, source="s3", bucket="trail", organization={}))
    assert failed and result["error_kind"] == "input"
    assert result["msg"].startswith("organization works with source lookup_events only")


def test_s3_encryption_assert_needs_all_buckets_and_bounded_concurrency(run_module):
    result, failed = run_module(s3_encryption_assert, dict(AWS, buckets=["b"], organization={}))
    assert failed and "organization needs all_buckets: true" in result["msg"]
    result, failed = run_module(s3_encryption_assert, dict(AWS, all_buckets=True, organization={"max_concurrency": 64}))
    assert failed and result["error_kind"] == "input" and "between 1 and 32" in result["msg"]
