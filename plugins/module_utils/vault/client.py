# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connections to Vault and OpenBao on ``hvac``, shared by every Vault-facing plugin of the collection.

* Option names and environment fallbacks are the ones community.hashi_vault users know: ``url``
  (``VAULT_ADDR``, then ``BAO_ADDR``), ``namespace`` (``VAULT_NAMESPACE``), ``ca_cert``
  (``VAULT_CACERT``), ``token`` (``VAULT_TOKEN``, then ``token_path``/``token_file``), ``auth_method``,
  ``mount_point``, ``role_id``, ``secret_id``, ``jwt``, ``username``, ``password``. Environment values
  only fill options that are still unset ("late binding"), so task arguments always win.
* Retries: idempotent calls (lease lookup, renew, revoke, token lookup) are retried with exponential
  backoff on 412, 429, 500, 502 and 503 and on connection failures. Calls that create something (minting
  credentials, logins) are retried only when the connection could not be opened at all, so a retry
  never mints a second set of credentials.
* Every library error becomes one :class:`~.errors.VaultError` subclass whose message names the thing
  (lease, mount, role) and the real cause, and says how to fix it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import os
import re

try:
    import hvac
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry
except ImportError:  # pragma: no cover - reported by require_hvac()
    hvac = None
    requests = None
    HTTPAdapter = object
    Retry = object

from ansible_collections.ainative.security.plugins.module_utils.vault import errors
from ansible_collections.ainative.security.plugins.module_utils.vault.auth import AUTH_METHODS, auth_method

RETRY_STATUSES = (412, 429, 500, 502, 503)
DEFAULT_TIMEOUT = 30
DEFAULT_RETRIES = 3
BACKOFF_FACTOR = 0.3
REASON_LIMIT = 200

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

TOKEN_LOOKUP = "token lookup"


def require_hvac():
    if hvac is None:
        raise errors.VaultLibraryError(
            "the Python library 'hvac' (and 'requests') is required on the host that runs this task (the managed "
            "host for modules, the controller for lookups): pip install hvac, or apt-get install python3-hvac / "
            "dnf install python3-hvac")


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
    """Offline checks of the connection options; raises VaultOptionError."""
    url = options.get("url")
    if not url:
        raise errors.VaultOptionError("no Vault address: set the 'url' option or the VAULT_ADDR environment variable "
                                      "(for example https://vault.example.com:8200)")
    if not re.match(r"^https?://[^/\s]+", url):
        raise errors.VaultOptionError("Vault address %r is not an http(s) URL: use https://host:port" % url)
    ca_cert = options.get("ca_cert")
    if ca_cert and not os.path.exists(ca_cert):
        raise errors.VaultOptionError("CA bundle %s (option ca_cert / VAULT_CACERT) does not exist" % ca_cert)
    timeout = options.get("timeout")
    if timeout is not None and int(timeout) <= 0:
        raise errors.VaultOptionError("timeout must be a positive number of seconds, not %s" % timeout)
    retries = options.get("retries")
    if retries is not None and int(retries) < 0:
        raise errors.VaultOptionError("retries must be 0 or more, not %s" % retries)


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
    """An hvac client plus retry modes; ``call(fn, ...)`` maps every error to a VaultError subclass."""

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
        # token="": hvac would otherwise send VAULT_TOKEN or ~/.vault-token with every request, also with
        # another auth method's login; the token auth method resolves those sources itself.
        self.client = hvac.Client(url=self.url, token="", namespace=options.get("namespace") or None, verify=verify,
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

    def call(self, func, operation, path, idempotent=True, subject=None):
        """Run ``func()`` (an hvac call) in the given retry mode; any hvac/requests error becomes a VaultError.

        ``path`` is the API path (policies grant on it), ``subject`` what the call is about (a lease, a mount).
        """
        with self.mode(idempotent):
            try:
                return func()
            except errors.VaultError:
                raise
            except Exception as exc:  # pylint: disable=broad-except  # hvac and requests raise many types
                error = map_error(exc, operation, path, self.url, subject)
        denied = isinstance(error, errors.VaultPermissionDenied) and not isinstance(error, errors.VaultInvalidToken)
        if denied and operation != TOKEN_LOOKUP and self.auth_info.get("method") == "token":
            self._blame_token(error)
        raise error

    def _blame_token(self, denied):
        """A given token is denied everything when Vault does not know it: tell that apart from a policy gap."""
        try:
            self.lookup_self()
        except errors.VaultInvalidToken as exc:
            raise errors.VaultInvalidToken("%s (the request was %s on %s)" % (exc.msg, denied.operation, denied.path),
                                           status=exc.status, errors=exc.errors)

    def lookup_self(self):
        """Non-secret facts of the client's token (auth/token/lookup-self)."""
        body = self.call(self.client.auth.token.lookup_self, TOKEN_LOOKUP, "auth/token/lookup-self",
                         subject="the token")
        data = (body or {}).get("data") or {}
        return {"policies": sorted(data.get("policies") or []), "token_ttl": data.get("ttl"),
                "renewable": data.get("renewable"), "entity_id": data.get("entity_id")}

    def put_raw(self, path, payload, operation, subject=None):
        """A PUT on ``/v1/<path>`` for calls whose parameters hvac's typed method does not take."""
        return self.call(lambda: self.client.adapter.put("/v1/" + path, json=payload), operation, path,
                         subject=subject)

    def login(self):
        """Authenticate with the configured auth method; records non-secret facts in ``auth_info``."""
        method = auth_method(self.options)
        method.validate()
        self.auth_info = method.authenticate(self) or {}
        return self.auth_info


def connect(options, login=True):
    """A :class:`VaultConnection`, logged in unless ``login`` is false."""
    conn = VaultConnection(options)
    if login:
        conn.login()
    return conn


# -- error mapping ---------------------------------------------------------------------------------------

def _clean(text):
    # Vault wraps messages as "1 error occurred:\n\t* permission denied\n\n".
    text = re.sub(r"^\s*\d+ errors? occurred:\s*(\*\s*)?", "", str(text))
    text = re.sub(r"\s*\n\s*\*\s*", "; ", text)
    return re.sub(r"\s+", " ", text).strip(" ;")


def _errors_text(exc):
    errs = getattr(exc, "errors", None)
    if isinstance(errs, (list, tuple)) and errs:
        return "; ".join(_clean(e) for e in errs)
    # hvac appends ", on <method> <url>": keep only Vault's own words.
    return _clean(re.sub(r", on (get|post|put|delete|list|patch|head) \S+$", "", str(exc)))


_STATUS_BY_CLASS = {
    "InvalidRequest": 400, "Unauthorized": 401, "Forbidden": 403, "InvalidPath": 404,
    "PreconditionFailed": 412, "RateLimitExceeded": 429, "InternalServerError": 500,
    "VaultNotInitialized": 501, "BadGateway": 502, "VaultDown": 503,
}


def _status(exc):
    value = getattr(exc, "status_code", None)
    if isinstance(value, int):
        return value
    return _STATUS_BY_CLASS.get(type(exc).__name__)


def _reason(exc):
    """The cause of a transport error in whole words: the TLS or OS reason, not the urllib3 wrapping."""
    text = str(exc)
    match = re.search(r"\[SSL(?:: [A-Z0-9_]+)?\] ([^'\"(]+)", text) or re.search(r"(\[Errno [^\]]+\][^'\")]*)", text)
    if match:
        return match.group(1).strip(" .,:")
    return bounded_words(text)


def bounded_words(text, limit=REASON_LIMIT):
    """``text`` cut at a word boundary (a cut mid-word reads as a different word)."""
    text = re.sub(r"\s+", " ", str(text)).strip()
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(" ,;:(") + " ..."


def _make(cls, msg, status, text):
    return cls(msg, status=status, errors=[text] if text else None)


def map_error(exc, operation, path, url=None, subject=None):
    """Turn any hvac/requests exception into a VaultError subclass that names the thing and the fix."""
    error = _map(exc, operation, path, url, subject or path)
    error.operation = operation
    error.path = path
    return error


def _map(exc, operation, path, url, subject):
    where = " at %s" % url if url else ""
    mro = [cls.__name__ for cls in type(exc).__mro__]
    # Transport errors first (requests' exception classes; checked by name so tests need no network).
    if "SSLError" in mro:
        reason = _reason(exc)
        hint = (" (the server may speak plain HTTP: use an http:// url, or enable TLS on its listener)"
                if "wrong version number" in reason.lower() else "")
        return errors.VaultTLSError("TLS failed talking to Vault%s: %s%s; give the CA bundle with ca_cert / "
                                    "VAULT_CACERT, or fix the server certificate; validate_certs=false only for a lab"
                                    % (where, reason, hint))
    if "Timeout" in mro or "ReadTimeout" in mro or "ConnectTimeout" in mro:
        return errors.VaultTimeout("Vault did not answer within the timeout during %s%s: raise 'timeout' or check "
                                   "the server's load" % (operation, where))
    if "ConnectionError" in mro:
        return errors.VaultUnreachable("cannot reach Vault%s during %s (%s): check url / VAULT_ADDR, that the server "
                                       "runs and that the host may connect to it" % (where, operation, _reason(exc)))
    status = _status(exc)
    text = _errors_text(exc)
    lowered = text.lower()
    if status is None and "VaultError" not in mro:
        return errors.VaultError("unexpected error during %s of %s: %s: %s"
                                 % (operation, subject, type(exc).__name__, bounded_words(exc)))
    if status == 503 or "sealed" in lowered:
        return _make(errors.VaultSealed, "Vault%s is sealed (or in maintenance) and refused %s: unseal it (bao/vault "
                     "operator unseal) and retry" % (where, operation), status, text)
    if status == 501:
        return _make(errors.VaultNotInitialized, "Vault%s is not initialized: run 'operator init' and unseal it first"
                     % where, status, text)
    if status == 429:
        if "rate limit" in lowered:
            return _make(errors.VaultRateLimited, "Vault rate-limited %s: %s; retry later or raise the quota"
                         % (operation, text), status, text)
        return _make(errors.VaultStandby, "Vault%s answered 429 to %s: it is a standby node; point url at the active "
                     "node (or the load balancer) and retry: %s" % (where, operation, text), status, text)
    if operation == TOKEN_LOOKUP and status in (401, 403):
        return _make(errors.VaultInvalidToken, "Vault%s does not accept the token (%s on its own lookup-self): it is "
                     "unknown, expired or revoked, or has no default policy; give a valid token (token, VAULT_TOKEN "
                     "or the token file)" % (where, text), status, text)
    if operation.startswith("login"):
        return _map_login(operation, subject, status, text, lowered)
    if status in (401, 403):
        return _make(errors.VaultPermissionDenied, "permission denied for %s of %s: the token's policies do not allow "
                     "it on %s (Vault said: %s); grant the capability on that path to the token's policy, or log in "
                     "with a role that has it" % (operation, subject, path, text), status, text)
    if "lease not found or lease is not renewable" in lowered or "lease is not renewable" in lowered:
        return _make(errors.VaultLeaseNotRenewable, "cannot renew %s: %s; a lease that was revoked, expired or is not "
                     "renewable cannot be renewed, issue new credentials instead" % (subject, text), status, text)
    if "invalid lease" in lowered or "lease not found" in lowered or "lease expired" in lowered:
        return _make(errors.VaultLeaseNotFound, "%s not found (Vault said: %s): it was revoked, it expired, or the id "
                     "is wrong" % (subject, text), status, text)
    if "unknown role" in lowered or ("role" in lowered and "not found" in lowered):
        return _make(errors.VaultUnknownRole, "%s of %s failed: %s; check the role name and engine_mount_point"
                     % (operation, subject, text), status, text)
    if status == 404:
        return _make(errors.VaultNotFound, "%s: nothing at %s (%s); check engine_mount_point and the role name, or the "
                     "token may lack permission to see it" % (operation, subject, text), status, text)
    if status == 400:
        return _make(errors.VaultInvalidRequest, "Vault rejected %s of %s: %s" % (operation, subject, text),
                     status, text)
    if status == 502:
        return _make(errors.VaultUpstreamError, "Vault's backend (database or cloud API) failed during %s of %s: %s; "
                     "check the engine's connection configuration" % (operation, subject, text), status, text)
    if status == 500:
        return _make(errors.VaultServerError, "Vault failed during %s of %s: %s" % (operation, subject, text),
                     status, text)
    return _make(errors.VaultError, "unexpected answer from Vault during %s of %s (HTTP %s): %s"
                 % (operation, subject, status, text), status, text)


def _map_login(operation, subject, status, text, lowered):
    if status == 404 or "no handler for route" in lowered or "unsupported path" in lowered:
        return _make(errors.VaultNotFound, "%s failed: no auth method answers at %s (Vault said: %s); set mount_point "
                     "to the path where the method is enabled" % (operation, subject, text), status, text)
    if "role" in lowered and ("not found" in lowered or "could not be found" in lowered):
        return _make(errors.VaultUnknownRole, "%s failed: %s; check role_id / the role name at %s"
                     % (operation, text, subject), status, text)
    if status in (401, 403) and "permission denied" in lowered:
        # Vault answers a login path where no method is enabled like any unauthenticated request. Bad AppRole,
        # JWT and userpass credentials are "invalid ..." (400); only Kubernetes also refuses with this answer.
        if operation == "login (kubernetes)":
            return _make(errors.VaultLoginFailed, "%s refused (%s): no kubernetes auth method is enabled at %s, or it "
                         "refused the service-account token; check mount_point, then the role's bound service "
                         "accounts and namespaces" % (operation, text, subject), status, text)
        return _make(errors.VaultNotFound, "%s failed: no auth method answers at %s (Vault said: %s, as it does for a "
                     "path where nothing is enabled); set mount_point to the path where the method is enabled"
                     % (operation, subject, text), status, text)
    if status in (400, 401, 403):
        return _make(errors.VaultLoginFailed, "%s failed at %s: %s; check the credentials given to the auth method"
                     % (operation, subject, text), status, text)
    return _make(errors.VaultError, "%s at %s failed (HTTP %s): %s" % (operation, subject, status, text),
                 status, text)
