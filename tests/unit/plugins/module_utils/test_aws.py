"""aws module_utils: error sentences, the s3control endpoint rewrite, bounded concurrency, throttling retries."""

import threading
import time

import boto3
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from botocore.stub import Stubber

from ansible_collections.ainative.security.plugins.module_utils.cloud import aws
from ansible_collections.ainative.security.plugins.module_utils.core.concurrency import run_bounded
from ansible_collections.ainative.security.plugins.module_utils.core.errors import SourceError


def test_describe_error_says_what_to_fix():
    assert "no usable AWS credentials" in aws.describe_error(NoCredentialsError(), "sts:GetCallerIdentity")
    msg = aws.describe_error(EndpointConnectionError(endpoint_url="http://127.0.0.1:1/"))
    assert "cannot reach the AWS endpoint" in msg and "endpoint_url" in msg
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetBucketPolicy")
    assert aws.describe_error(denied, "s3:GetBucketPolicy") == (
        "s3:GetBucketPolicy failed: AccessDenied: Access Denied; grant the caller this permission or leave the setting out")
    assert aws.error_code(denied) == "AccessDenied"


def test_throttling_is_retried_with_backoff():
    client = boto3.client("cloudtrail", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    stub = Stubber(client)
    for attempt in range(2):
        stub.add_client_error("describe_trails", service_error_code="ThrottlingException",
                              service_message="slow down %d" % attempt)
    stub.add_response("describe_trails", {"trailList": []})
    wrapped = aws.RetryingBotoClientWrapper(client, aws.retry_decorator(retries=4, delay=0.01, max_delay=0.02))
    with stub:
        assert wrapped.describe_trails(aws_retry=True)["trailList"] == []
        stub.assert_no_pending_responses()


def test_s3control_request_goes_back_to_the_endpoint():
    class Request:
        url = "http://123456789012.127.0.0.1:5000/v20180820/configuration/publicAccessBlock"
    req = Request()
    aws._rewrite_s3control_url("http://127.0.0.1:5000/")(req)
    assert req.url == "http://127.0.0.1:5000/v20180820/configuration/publicAccessBlock"


def test_run_bounded_the_cloud_controls_use_keeps_order_and_bound():
    active, peak, lock = [0], [0], threading.Lock()

    def work(i):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.01)
        with lock:
            active[0] -= 1
        return i * 2

    assert run_bounded(work, range(20), 4) == [i * 2 for i in range(20)]
    assert 1 < peak[0] <= 4


def test_audit_error_is_the_contract_source_error():
    assert issubclass(aws.AWSAuditError, SourceError)
    assert aws.AWSAuditError("x").kind == "source"


def test_clients_from_params_cache_per_service_and_region():
    clients = aws.Clients(params={"region": "eu-west-1", "endpoint_url": "http://127.0.0.1:1"},
                          session=boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="y"))
    assert clients.client("s3") is clients.client("s3", "eu-west-1")
    assert clients.client("s3", "us-east-1") is not clients.client("s3")
    assert clients.raw("s3").meta.region_name == "eu-west-1"
