# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared AWS plumbing of the cloud controls, on top of amazon.aws's module_utils.

* :class:`AnsibleAWSModule` (re-exported from amazon.aws) gives every module the usual AWS options
  (``region``, ``profile``, ``access_key``, ``endpoint_url``, ...), so ``module_defaults`` for
  ``group/ainative.security.aws`` (which extends ``amazon.aws.aws``) apply.
* :class:`Clients` builds one boto3 session from those options and hands out thread-safe clients per
  (service, region), each wrapped in amazon.aws's ``AWSRetry.jittered_backoff`` that also retries
  throttling codes (``ThrottlingException``, ``SlowDown``, ...).
* :class:`AWSControlModule` is the control contract (``core.module.ControlModule``) on top of
  AnsibleAWSModule.
* :class:`AWSAuditError` is the control contract's :class:`SourceError` for AWS;
  :func:`describe_error` turns botocore errors into a sentence that says what to fix.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import threading
import time

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import (BotoCoreError, ClientError, EndpointConnectionError,
                                     NoCredentialsError, PartialCredentialsError, ProfileNotFound,
                                     NoRegionError, ConnectTimeoutError, ReadTimeoutError)
    HAS_BOTO3 = True
except ImportError:  # pragma: no cover - AnsibleAWSModule reports missing boto3 itself
    HAS_BOTO3 = False

    class BotoCoreError(Exception):
        """Stands in for botocore's exceptions so ``except`` clauses stay valid without boto3."""

    class ClientError(Exception):
        pass

    EndpointConnectionError = NoCredentialsError = PartialCredentialsError = ProfileNotFound = BotoCoreError
    NoRegionError = ConnectTimeoutError = ReadTimeoutError = BotoCoreError

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.amazon.aws.plugins.module_utils.botocore import get_aws_connection_info
from ansible_collections.ainative.security.plugins.module_utils.core.errors import SourceError
from ansible_collections.ainative.security.plugins.module_utils.core.module import ControlModule

# Error codes worth another try besides amazon.aws's defaults (RequestLimitExceeded, Throttling, ...).
RETRY_CODES = [
    "ThrottlingException",
    "SlowDown",
    "RequestThrottled",
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    "ServiceUnavailableException",
    "InternalServerError",
]

DEFAULT_REGION = "us-east-1"
USER_AGENT = "ainative.security"


class AWSAuditError(SourceError):
    """An AWS call failed; the message says which call and what to fix."""


class AWSControlModule(ControlModule):
    """The control contract with amazon.aws's AWS options (region, profile, keys, endpoint_url, ...)."""

    module_class = AnsibleAWSModule


def retry_decorator(retries=8, delay=1.0, max_delay=20.0):
    """amazon.aws's jittered exponential backoff, also on throttling codes of CloudTrail and S3."""
    return AWSRetry.jittered_backoff(retries=retries, delay=delay, max_delay=max_delay,
                                     catch_extra_error_codes=RETRY_CODES)


def error_code(exc):
    """The AWS error code of a ClientError (``AccessDenied``, ...) or the exception class name."""
    if HAS_BOTO3 and isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") or "ClientError"
    return type(exc).__name__


def describe_error(exc, action=None):
    """One sentence: what failed and what to do about it (no secrets, no traceback)."""
    prefix = "%s failed: " % action if action else ""
    if not HAS_BOTO3:
        return prefix + str(exc)
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return (prefix + "no usable AWS credentials were found; set access_key/secret_key (or session_token), "
                "profile, or the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment variables, or run where "
                "an instance role is available")
    if isinstance(exc, ProfileNotFound):
        return prefix + "%s; check the profile option and ~/.aws/config" % exc
    if isinstance(exc, NoRegionError):
        return prefix + "no AWS region is set; set the region option or AWS_REGION"
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
        return (prefix + "cannot reach the AWS endpoint (%s); check endpoint_url, region and the network "
                "or proxy settings" % exc)
    if isinstance(exc, ReadTimeoutError):
        return prefix + "the AWS endpoint did not answer in time (%s)" % exc
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code") or "ClientError"
        message = err.get("Message") or str(exc)
        hint = ""
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AllAccessDisabled"):
            hint = "; grant the caller this permission or leave the setting out"
        elif code in ("InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException",
                      "InvalidAccessKeyId", "ExpiredToken", "ExpiredTokenException"):
            hint = "; the credentials are invalid or expired"
        return prefix + "%s: %s%s" % (code, message, hint)
    if isinstance(exc, BotoCoreError):
        return prefix + str(exc)
    return prefix + "%s: %s" % (type(exc).__name__, exc)


def _rewrite_s3control_url(endpoint):
    """s3control prefixes the account id to the host (``123456789012.host``); an emulator or a
    private endpoint answers on ``endpoint`` itself, so put the request back there."""
    base = endpoint.rstrip("/")

    def hook(request, **kwargs):
        url = request.url
        scheme_end = url.find("://") + 3
        path_start = url.find("/", scheme_end)
        path = url[path_start:] if path_start >= 0 else "/"
        request.url = base + path
    return hook


class Clients:
    """boto3 clients built from a module's AWS options: one session, one client per (service, region).

    Clients are created under a lock (boto3 sessions are not thread-safe) and may then be shared by
    threads (boto3 clients are). Every client is wrapped in amazon.aws's ``RetryingBotoClientWrapper``:
    call methods with ``aws_retry=True`` for the jittered backoff.
    """

    def __init__(self, module=None, params=None, max_pool=16, retry=None, session=None):
        if module is not None:
            region, endpoint, conn = get_aws_connection_info(module)
        else:
            region, endpoint, conn = (params or {}).get("region"), (params or {}).get("endpoint_url"), {}
        conn = dict(conn)
        profile = conn.pop("profile_name", None)
        extra_config = conn.pop("aws_config", None)
        self.region = region or None
        self.endpoint = endpoint or None
        self.conn = dict((k, v) for k, v in conn.items() if k != "verify" or v is not None)
        config = Config(user_agent_extra=USER_AGENT, max_pool_connections=max(10, max_pool + 2),
                        retries={"mode": "standard", "max_attempts": 3},
                        connect_timeout=10, read_timeout=60)
        if extra_config is not None:
            config = config.merge(extra_config)
        self.config = config
        self.retry = retry or retry_decorator()
        self._lock = threading.Lock()
        self._clients = {}
        try:
            self.session = session or boto3.session.Session(profile_name=profile)
        except BotoCoreError as exc:
            raise AWSAuditError(describe_error(exc, "creating the AWS session"))

    def default_region(self):
        return self.region or self.session.region_name or DEFAULT_REGION

    def assumed(self, credentials):
        """Clients with the same region, endpoint, TLS settings and retries for the temporary
        ``credentials`` of sts:AssumeRole (the caller's own keys are left out)."""
        other = copy.copy(self)
        other.region = self.default_region()
        other.conn = dict((k, v) for k, v in self.conn.items()
                          if k not in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"))
        other._lock = threading.Lock()
        other._clients = {}
        other.session = boto3.session.Session(aws_access_key_id=credentials["AccessKeyId"],
                                              aws_secret_access_key=credentials["SecretAccessKey"],
                                              aws_session_token=credentials["SessionToken"])
        return other

    def raw(self, service, region=None):
        """The unwrapped boto3 client (for paginators and the botocore Stubber in tests)."""
        return self.client(service, region).client

    def client(self, service, region=None):
        key = (service, region or self.default_region())
        with self._lock:
            wrapped = self._clients.get(key)
            if wrapped is None:
                try:
                    client = self.session.client(service, region_name=key[1], endpoint_url=self.endpoint,
                                                 config=self.config, **self.conn)
                except (BotoCoreError, ValueError) as exc:
                    raise AWSAuditError(describe_error(exc, "creating the %s client" % service))
                if service == "s3control" and self.endpoint:
                    client.meta.events.register("before-sign.s3-control.*", _rewrite_s3control_url(self.endpoint))
                wrapped = RetryingBotoClientWrapper(client, self.retry)
                self._clients[key] = wrapped
            return wrapped

    def account_id(self):
        """The caller's account id (sts:GetCallerIdentity); also proves the credentials work."""
        try:
            return self.client("sts").get_caller_identity(aws_retry=True)["Account"]
        except (BotoCoreError, ClientError) as exc:
            raise AWSAuditError(describe_error(exc, "sts:GetCallerIdentity"))

    def enabled_regions(self):
        """Regions enabled for the account (ec2:DescribeRegions without opt-in-not-required ones off)."""
        try:
            regions = self.client("ec2").describe_regions(aws_retry=True, AllRegions=False)["Regions"]
        except (BotoCoreError, ClientError) as exc:
            raise AWSAuditError(describe_error(exc, "ec2:DescribeRegions (set regions to skip discovery)"))
        return sorted(r["RegionName"] for r in regions
                      if r.get("OptInStatus", "opt-in-not-required") in ("opt-in-not-required", "opted-in"))


class RateLimiter:
    """A token bucket: at most ``rate`` acquisitions per second (burst 1), shared by threads."""

    def __init__(self, rate, clock=time.monotonic, sleep=time.sleep):
        self.interval = 1.0 / rate if rate and rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self.waited = 0.0

    def acquire(self):
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        delay = start - now
        if delay > 0:
            self.waited += delay
            self._sleep(delay)
