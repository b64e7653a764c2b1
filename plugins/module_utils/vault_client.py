# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connections to Vault and OpenBao on ``hvac``, shared by every Vault-facing plugin of the collection.

* Option names and environment fallbacks are the ones community.hashi_vault users know: ``url``
  (``VAULT_ADDR``, then ``BAO_ADDR``), ``namespace`` (``VAULT_NAMESPACE``), ``ca_cert``
  (``VAULT_CACERT``), ``token`` (``VAULT_TOKEN``, then ``token_path``/``token_file``), ``auth_method``,
  ``mount_point``, ``role_id``, ``secret_id``, ``jwt``, ``username``, ``password``. Environment values
  only fill options that are still unset ("late binding"), so task arguments always win.
* Retries: idempotent calls (lease lookup, renew, revoke, health) are retried with exponential backoff
  on 412, 429, 500, 502 and 503 and on connection failures. Calls that create something (minting
  credentials, logins) are retried only when the connection could not be opened at all, so a retry
  never mints a second set of credentials.
* Every library error becomes one :class:`VaultError` with a ``kind`` and a message that says what is
  wrong and how to fix it; the plugins turn it into ``fail_json`` or ``AnsibleError``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import os
import re
import traceback

HVAC_IMPORT_ERROR = None
try:
    import hvac
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry
except ImportError:  # pragma: no cover - exercised through missing_library_message()
    hvac = None
    requests = None
    HTTPAdapter = object
    Retry = object
    HVAC_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.ainative.security.plugins.module_utils.vault_auth import (
    AUTH_METHODS,
    VaultOptionError,
    auth_method,
)

RETRY_STATUSES = (412, 429, 500, 502, 503)
DEFAULT_TIMEOUT = 30
DEFAULT_RETRIES = 3
BACKOFF_FACTOR = 0.3

# Connection and authentication options of every Vault-facing module (module argument spec form).
CONNECTION_ARGSPEC = dict(
    url=dict(type="str", aliases=["vault_addr"]),
    namespace=dict(type="str"),
    ca_cert=dict(type="path", aliases=["cacert"]),
    validate_certs=dict(type="bool", default=True),
    timeout=dict(type="int", default=DEFAULT_TIMEOUT),
    retries=dict(type="int", default=DEFAULT_RETRIES),
    retry_action=dict(type="str", choices=["ignore", "warn"], default="warn"),
    auth_method=dict(type="str", choices=sorted(AUTH_METHODS), default="token"),
    mount_point=dict(type="str"),
    token=dict(type="str", no_log=True),
    token_path=dict(type="path", no_log=False),
    token_file=dict(type="str", default=".vault-token", no_log=False),
    token_validate=dict(type="bool", default=False),
    role_id=dict(type="str"),
    secret_id=dict(type="str", no_log=True),
    jwt=dict(type="str", no_log=True),
    kubernetes_token_path=dict(type="path", default="/var/run/secrets/kubernetes.io/serviceaccount/token",
                               no_log=False),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
)

CONNECTION_REQUIRED_IF = [
    ("auth_method", "approle", ("role_id",)),
    ("auth_method", "jwt", ("role_id", "jwt")),
    ("auth_method", "kubernetes", ("role_id",)),
    ("auth_method", "userpass", ("username", "password")),
]

# Environment variables that fill an option only while it is unset (first one set wins).
LATE_BINDING_ENV = (
    ("url", ("VAULT_ADDR", "BAO_ADDR")),
    ("namespace", ("VAULT_NAMESPACE", "BAO_NAMESPACE")),
    ("ca_cert", ("VAULT_CACERT", "BAO_CACERT")),
)

ERROR_KINDS = (
    "missing_library", "invalid_option", "unreachable", "tls", "timeout", "sealed", "standby",
    "not_initialized", "rate_limited", "permission_denied", "login_failed", "unknown_role",
    "not_found", "lease_not_found", "lease_not_renewable", "invalid_request", "server_error",
    "upstream_error", "unexpected",
)


class VaultError(Exception):
    """One exception for every failure talking to Vault; ``kind`` is one of ERROR_KINDS."""

    def __init__(self, msg, kind="unexpected", status=None, errors=None):
        super(VaultError, self).__init__(msg)
        self.msg = msg
        self.kind = kind
        self.status = status
        self.errors = list(errors or [])


def missing_library_message():
    return ("the Python library 'hvac' (and 'requests') is required on the host that runs this task "
            "(the managed host for modules, the controller for lookups): pip install hvac, or "
            "apt-get install python3-hvac / dnf install python3-hvac")


def require_hvac():
    if hvac is None:
        raise VaultError(missing_library_message(), kind="missing_library")


def apply_late_binding_env(options, environ=None):
    """Fill unset connection options from the environment; returns the same dict."""
    environ = os.environ if environ is None else environ
    for option, names in LATE_BINDING_ENV:
        if options.get(option) in (None, ""):
            for name in names:
                if environ.get(name):
                    options[option] = environ[name]
                    break
    return options


def validate_connection(options):
    """Offline checks of the connection options; raises VaultError(kind=invalid_option)."""
    url = options.get("url")
    if not url:
        raise VaultError("no Vault address: set the 'url' option or the VAULT_ADDR environment variable "
                         "(for example https://vault.example.com:8200)", kind="invalid_option")
    if not re.match(r"^https?://[^/\s]+", url):
        raise VaultError("Vault address %r is not an http(s) URL: use https://host:port" % url,
                         kind="invalid_option")
    ca_cert = options.get("ca_cert")
    if ca_cert and not os.path.exists(ca_cert):
        raise VaultError("CA bundle %s (option ca_cert / VAULT_CACERT) does not exist" % ca_cert,
                         kind="invalid_option")
    timeout = options.get("timeout")
    if timeout is not None and int(timeout) <= 0:
        raise VaultError("timeout must be a positive number of seconds, not %s" % timeout, kind="invalid_option")
    retries = options.get("retries")
    if retries is not None and int(retries) < 0:
        raise VaultError("retries must be 0 or more, not %s" % retries, kind="invalid_option")


def _retry_class():
    class _RecordingRetry(Retry):
        """urllib3 Retry that tells its connection about every retry (for the retry_action warning)."""

        recorder = None

        def new(self, **kwargs):
            retry = super(_RecordingRetry, self).new(**kwargs)
            retry.recorder = self.recorder
            return retry

        def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
            if self.recorder is not None:
                why = ("HTTP %s" % response.status) if response is not None else type(error).__name__
                self.recorder.append("%s %s: %s" % (method, re.sub(r"\?.*$", "", url or ""), why))
            return super(_RecordingRetry, self).increment(method=method, url=url, response=response, error=error,
                                                          _pool=_pool, _stacktrace=_stacktrace)
    return _RecordingRetry


def retry_policy(retries, idempotent, recorder=None):
    """The urllib3 Retry for a call: full status retries when idempotent, connect-only otherwise."""
    cls = _retry_class()
    if idempotent:
        retry = cls(total=retries, connect=retries, read=retries, status=retries, other=0,
                    backoff_factor=BACKOFF_FACTOR, status_forcelist=RETRY_STATUSES, allowed_methods=None,
                    raise_on_status=False, respect_retry_after_header=True)
    else:
        # Only failures to open the connection: the request never reached Vault, so nothing was minted.
        retry = cls(total=retries, connect=retries, read=0, status=0, other=0, backoff_factor=BACKOFF_FACTOR,
                    allowed_methods=None, raise_on_status=False)
    retry.recorder = recorder
    return retry


class VaultConnection(object):
    """An hvac client plus retry modes; ``call(fn, idempotent=...)`` maps every error to VaultError."""

    def __init__(self, options):
        require_hvac()
        apply_late_binding_env(options)
        validate_connection(options)
        self.options = options
        self.url = options["url"].rstrip("/")
        self.retries = int(options.get("retries") if options.get("retries") is not None else DEFAULT_RETRIES)
        self.retry_events = []
        self.session = requests.Session()
        if options.get("validate_certs", True) is False:
            verify = False
        else:
            verify = options.get("ca_cert") or True
        self.session.verify = verify
        self._mode = None
        self._set_mode(True)
        self.client = hvac.Client(url=self.url, namespace=options.get("namespace") or None, verify=verify,
                                  timeout=int(options.get("timeout") or DEFAULT_TIMEOUT), session=self.session)
        self.auth_info = {}

    def _set_mode(self, idempotent):
        if self._mode == idempotent:
            return
        adapter = HTTPAdapter(max_retries=retry_policy(self.retries, idempotent, self.retry_events))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._mode = idempotent

    @contextlib.contextmanager
    def mode(self, idempotent):
        previous = self._mode
        self._set_mode(idempotent)
        try:
            yield
        finally:
            self._set_mode(previous)

    def call(self, func, operation, path, idempotent=True):
        """Run ``func()`` in the given retry mode; any hvac/requests error becomes VaultError."""
        with self.mode(idempotent):
            try:
                return func()
            except VaultError:
                raise
            except Exception as exc:  # pylint: disable=broad-except
                raise map_error(exc, operation, path, self.url)

    def request(self, method, path, operation, json=None, idempotent=True):
        """One API call on ``/v1/<path>`` through hvac's adapter; returns the decoded body (or {})."""
        adapter = self.client.adapter
        url = "/v1/" + path.lstrip("/")

        def _do():
            response = getattr(adapter, method)(url, json=json) if json is not None else getattr(adapter, method)(url)
            if response is None:
                return {}
            if hasattr(response, "json"):  # a raw requests.Response (204 No Content, or old hvac adapters)
                if getattr(response, "status_code", 200) == 204 or not response.content:
                    return {}
                return response.json()
            return response
        return self.call(_do, operation, path, idempotent=idempotent)

    def login(self):
        """Authenticate with the configured auth method; records non-secret facts in ``auth_info``."""
        method = auth_method(self.options)
        method.validate()
        self.auth_info = method.authenticate(self) or {}
        return self.auth_info

    def health(self):
        """``sys/health`` without raising on standby or sealed codes."""
        def _do():
            response = self.session.get(self.url + "/v1/sys/health",
                                        params={"standbyok": "true", "perfstandbyok": "true"},
                                        timeout=int(self.options.get("timeout") or DEFAULT_TIMEOUT),
                                        headers=_namespace_header(self.options))
            try:
                return response.json()
            except ValueError:
                return {"status": response.status_code}
        return self.call(_do, "health check", "sys/health", idempotent=True)


def _namespace_header(options):
    return {"X-Vault-Namespace": options["namespace"]} if options.get("namespace") else {}


def connect(options, login=True):
    """A :class:`VaultConnection`, logged in unless ``login`` is false. Raises VaultError."""
    try:
        conn = VaultConnection(options)
    except VaultOptionError as exc:
        raise VaultError(str(exc), kind="invalid_option")
    if login:
        try:
            conn.login()
        except VaultOptionError as exc:
            raise VaultError(str(exc), kind="invalid_option")
    return conn


def _clean(text):
    # Vault wraps messages as "1 error occurred:\n\t* permission denied\n\n".
    text = re.sub(r"^\s*\d+ errors? occurred:\s*(\*\s*)?", "", str(text))
    text = re.sub(r"\s*\n\s*\*\s*", "; ", text)
    return re.sub(r"\s+", " ", text).strip(" ;")


def _errors_text(exc):
    errors = getattr(exc, "errors", None)
    if isinstance(errors, (list, tuple)) and errors:
        return "; ".join(_clean(e) for e in errors)
    text = str(exc)
    # hvac appends ", on <method> <url>": keep only Vault's own words.
    return _clean(re.sub(r", on (get|post|put|delete|list|patch|head) \S+$", "", text))


def _status(exc):
    for attr in ("status_code",):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    return _STATUS_BY_CLASS.get(type(exc).__name__)


_STATUS_BY_CLASS = {
    "InvalidRequest": 400, "Unauthorized": 401, "Forbidden": 403, "InvalidPath": 404,
    "PreconditionFailed": 412, "RateLimitExceeded": 429, "InternalServerError": 500,
    "VaultNotInitialized": 501, "BadGateway": 502, "VaultDown": 503,
}


def map_error(exc, operation, path, url=None):
    """Turn any hvac/requests exception into a VaultError that says what is wrong and how to fix it."""
    where = " at %s" % url if url else ""
    name = type(exc).__name__
    # Transport errors first (requests' exception classes; checked by name so tests need no network).
    mro = [cls.__name__ for cls in type(exc).__mro__]
    if "SSLError" in mro:
        return VaultError("TLS verification failed talking to Vault%s (%s): give the CA bundle with ca_cert / "
                          "VAULT_CACERT, or fix the server certificate; validate_certs=false only for a lab"
                          % (where, _short(exc)), kind="tls")
    if "Timeout" in mro or "ReadTimeout" in mro or "ConnectTimeout" in mro:
        return VaultError("Vault did not answer within the timeout during %s%s: raise 'timeout' or check the "
                          "server's load" % (operation, where), kind="timeout")
    if "ConnectionError" in mro:
        return VaultError("cannot reach Vault%s during %s (%s): check url / VAULT_ADDR, that the server runs and "
                          "that the host may connect to it" % (where, operation, _short(exc)), kind="unreachable")
    status = _status(exc)
    text = _errors_text(exc)
    lowered = text.lower()
    if status is None and "VaultError" not in mro:
        return VaultError("unexpected error during %s on %s: %s: %s" % (operation, path, name, _short(exc)),
                          kind="unexpected")
    if status == 503 or "sealed" in lowered:
        if "sealed" in lowered or status == 503:
            return VaultError("Vault%s is sealed (or in maintenance) and refused %s: unseal it (bao/vault operator "
                              "unseal) and retry" % (where, operation), kind="sealed", status=status, errors=[text])
    if status == 501:
        return VaultError("Vault%s is not initialized: run 'operator init' and unseal it first" % where,
                          kind="not_initialized", status=status, errors=[text])
    if status == 429:
        if "standby" in lowered or not text or "rate limit" not in lowered:
            return VaultError("Vault%s answered 429 to %s: it is a standby node or rate-limited; point url at the "
                              "active node (or the load balancer) and retry: %s" % (where, operation, text),
                              kind="standby" if "rate limit" not in lowered else "rate_limited",
                              status=status, errors=[text])
        return VaultError("Vault rate-limited %s: %s; retry later or raise the quota" % (operation, text),
                          kind="rate_limited", status=status, errors=[text])
    if operation.startswith("login"):
        if status in (400, 401, 403):
            if "role" in lowered and ("not found" in lowered or "could not be found" in lowered):
                return VaultError("%s failed: %s; check role_id / the role name and the auth mount_point"
                                  % (operation, text), kind="unknown_role", status=status, errors=[text])
            return VaultError("%s failed: %s; check the credentials given to the auth method"
                              % (operation, text), kind="login_failed", status=status, errors=[text])
        if status == 404:
            return VaultError("%s failed: no auth method mounted at %s (%s); set mount_point to where the method "
                              "is enabled" % (operation, path, text), kind="not_found", status=status, errors=[text])
    if status in (401, 403):
        return VaultError("permission denied for %s on %s: the token's policies do not allow it (Vault said: %s); "
                          "grant the capability on that path to the token's policy, or log in with a role "
                          "that has it" % (operation, path, text), kind="permission_denied", status=status,
                          errors=[text])
    if "lease not found or lease is not renewable" in lowered or "lease is not renewable" in lowered:
        return VaultError("cannot renew lease %s: %s; a lease that was revoked, expired or is not renewable "
                          "cannot be renewed, issue new credentials instead" % (path, text),
                          kind="lease_not_renewable", status=status, errors=[text])
    if "invalid lease" in lowered or "lease not found" in lowered or "lease expired" in lowered:
        return VaultError("lease %s not found (%s): it was revoked, it expired, or the id is wrong"
                          % (path, text), kind="lease_not_found", status=status, errors=[text])
    if "unknown role" in lowered or ("role" in lowered and "not found" in lowered):
        return VaultError("%s on %s failed: %s; check the role name and engine_mount_point"
                          % (operation, path, text), kind="unknown_role", status=status, errors=[text])
    if status == 404:
        return VaultError("%s: nothing at %s (%s); check engine_mount_point and the role name, or the token may "
                          "lack permission to see it" % (operation, path, text), kind="not_found",
                          status=status, errors=[text])
    if status == 400:
        return VaultError("Vault rejected %s on %s: %s" % (operation, path, text), kind="invalid_request",
                          status=status, errors=[text])
    if status == 502:
        return VaultError("Vault's backend (database or cloud API) failed during %s on %s: %s; check the engine's "
                          "connection configuration" % (operation, path, text), kind="upstream_error",
                          status=status, errors=[text])
    if status == 500:
        return VaultError("Vault failed during %s on %s: %s" % (operation, path, text), kind="server_error",
                          status=status, errors=[text])
    return VaultError("unexpected answer from Vault during %s on %s (HTTP %s): %s" % (operation, path, status, text),
                      kind="unexpected", status=status, errors=[text])


def _short(exc):
    text = str(exc)
    match = re.search(r"\[Errno [^\]]+\][^'\")]*", text)
    if match:
        return match.group(0).strip()
    return text[:200]
