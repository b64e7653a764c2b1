# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dynamic credentials and their leases: issue (database, AWS creds/sts), renew, look up, revoke,
revoke by prefix, and the credentials file a job reads.

Used by the ``vault_dynamic_creds`` module, its lookup and the ``vault_job_credentials`` role. Secrets
only ever travel in ``credentials`` and in the file; findings, diffs, messages and lease facts never
hold one. Every Vault call goes through hvac's typed API (``secrets.database``, ``secrets.aws``,
``sys`` leases), except a revoke with ``sync: false`` (see :func:`revoke`).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import errno
import grp
import json
import os
import pwd
import re
import stat

from ansible_collections.ainative.security.plugins.module_utils.core.coverage import Coverage
from ansible_collections.ainative.security.plugins.module_utils.core.fileio import atomic_write
from ansible_collections.ainative.security.plugins.module_utils.core.findings import make_finding
from ansible_collections.ainative.security.plugins.module_utils.core.module import Outcome
from ansible_collections.ainative.security.plugins.module_utils.vault.client import connect
from ansible_collections.ainative.security.plugins.module_utils.vault.errors import (
    VaultError,
    VaultLeaseNotFound,
    VaultLeaseNotRenewable,
    VaultOptionError,
    VaultPermissionDenied,
    VaultInvalidRequest,
    VaultInvalidToken,
    VaultTransportError,
)

CONTROL = "vault_dynamic_creds"
ENGINES = ("database", "aws")
OPERATIONS = ("issue", "renew", "lookup", "revoke", "revoke_prefix")
FILE_FORMATS = ("env", "json")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SAFE_PATH_PART = re.compile(r"^[A-Za-z0-9_.@-]+$")

# The module's own options (the connection options come from vault.client.CONNECTION_ARGSPEC).
CREDS_ARGSPEC = dict(
    operation=dict(type="str", choices=list(OPERATIONS), default="issue"),
    engine=dict(type="str", choices=list(ENGINES), default="database"),
    engine_mount_point=dict(type="str"),
    name=dict(type="str", aliases=["role_name"]),
    aws_endpoint=dict(type="str", choices=["creds", "sts"], default="creds"),
    aws_role_arn=dict(type="str"),
    aws_role_session_name=dict(type="str"),
    ttl=dict(type="str"),
    lease_id=dict(type="str"),
    prefix=dict(type="str"),
    increment=dict(type="str"),
    sync=dict(type="bool", default=True),
    credentials_file=dict(type="path"),
    credentials_file_format=dict(type="str", choices=list(FILE_FORMATS), default="env"),
    credentials_file_mode=dict(type="str", default="0600"),
    credentials_env_prefix=dict(type="str", default="DB_"),
    owner=dict(type="str"),
    group=dict(type="str"),
    reuse_valid_lease=dict(type="bool", default=False),
    min_ttl=dict(type="int", default=300),
    return_credentials=dict(type="bool", default=True),
    max_lease_duration=dict(type="int", default=86400),
)

CREDS_REQUIRED_IF = [
    ("operation", "issue", ("name",)),
    ("operation", "renew", ("lease_id",)),
    ("operation", "lookup", ("lease_id",)),
    ("operation", "revoke", ("lease_id", "credentials_file"), True),
    ("operation", "revoke_prefix", ("prefix",)),
    ("reuse_valid_lease", True, ("credentials_file",)),
]


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment):
    return moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text):
    if not text:
        return None
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$", str(text))
    if not match:
        return None
    moment = datetime.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
    offset = match.group(3) or "Z"
    if offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        delta = datetime.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
        moment = moment - sign * delta
    return moment.replace(tzinfo=datetime.timezone.utc)


def lease_facts(body, moment=None):
    """lease_id, lease_duration, renewable and absolute expires_at of a Vault response."""
    moment = moment or now_utc()
    duration = int(body.get("lease_duration") or 0)
    return {
        "lease_id": body.get("lease_id") or None,
        "lease_duration": duration,
        "renewable": bool(body.get("renewable")),
        "expires_at": iso(moment + datetime.timedelta(seconds=duration)) if duration else None,
    }


def _body(response):
    """hvac returns the decoded JSON for 200 and the bare Response for 204 (no content)."""
    return response if isinstance(response, dict) else {}


# ---------------------------------------------------------------------------------------------
# Option checks (offline)

def validate_params(params):
    """Cross-option checks the argument spec cannot express; raises VaultOptionError."""
    def bad(msg):
        raise VaultOptionError(msg)

    for key in ("name", "engine_mount_point"):
        value = params.get(key)
        if value and not all(SAFE_PATH_PART.match(part) and part not in (".", "..")
                             for part in value.strip("/").split("/")):
            bad("%s %r may only hold letters, digits and '_.@-' (and '/' between parts)" % (key, value))
    if params.get("engine") != "aws":
        for key in ("aws_role_arn", "aws_role_session_name"):
            if params.get(key):
                bad("%s only applies to engine=aws" % key)
    elif params.get("aws_endpoint") == "creds" and params.get("aws_role_session_name"):
        bad("aws_role_session_name only applies to aws_endpoint=sts")
    session_name = params.get("aws_role_session_name")
    if session_name and (len(session_name) > 64 or not re.match(r"^[\w+=,.@-]+$", session_name)):
        bad("aws_role_session_name must be 1-64 characters of letters, digits and +=,.@_-")
    if params.get("credentials_file"):
        if params.get("operation") not in ("issue", "revoke"):
            bad("credentials_file is written by operation=issue and read (then removed) by operation=revoke")
        mode = file_mode(params.get("credentials_file_mode"))
        if mode & 0o007:
            bad("credentials_file_mode %s gives other users access to secrets: use 0600, 0400, 0640 or 0440"
                % params.get("credentials_file_mode"))
        if mode & 0o400 == 0:
            bad("credentials_file_mode %s does not let the owner read the file" % params.get("credentials_file_mode"))
        prefix = params.get("credentials_env_prefix") or ""
        if prefix and not ENV_NAME.match(prefix):
            bad("credentials_env_prefix %r is not a valid start of an environment variable name" % prefix)
    if params.get("min_ttl") is not None and params["min_ttl"] < 0:
        bad("min_ttl must be 0 or more seconds")
    increment = params.get("increment")
    if increment and not re.match(r"^\d+[smhd]?$", str(increment)):
        bad("increment %r is not a duration: use seconds (3600) or 30m, 1h, 2d" % increment)
    ttl = params.get("ttl")
    if ttl and not re.match(r"^\d+[smhd]?$", str(ttl)):
        bad("ttl %r is not a duration: use seconds (900) or 15m, 1h" % ttl)
    if params.get("prefix"):
        prefix = params["prefix"].strip("/")
        if not prefix or ".." in prefix.split("/"):
            bad("prefix %r is not a lease prefix such as database/creds/readonly" % params["prefix"])


def file_mode(text):
    try:
        value = int(str(text), 8)
    except (TypeError, ValueError):
        raise VaultOptionError("credentials_file_mode %r is not an octal mode such as 0600" % (text,))
    if value < 0 or value > 0o777:
        raise VaultOptionError("credentials_file_mode %r is out of range" % (text,))
    return value


def resolve_owner(owner, group):
    """(uid, gid) for names or numeric ids; -1 keeps the current value."""
    uid = gid = -1
    if owner not in (None, ""):
        try:
            uid = int(owner) if str(owner).isdigit() else pwd.getpwnam(owner).pw_uid
        except KeyError:
            raise VaultOptionError("owner %r does not exist on this host: create the job's user first" % owner)
    if group not in (None, ""):
        try:
            gid = int(group) if str(group).isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            raise VaultOptionError("group %r does not exist on this host" % group)
    return uid, gid


def check_file_target(path):
    """Refuse a credentials_file that could not be written, before anything is minted."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise VaultOptionError("the directory of credentials_file %s does not exist: create it (for the job's user) "
                               "first; nothing was minted" % path)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise VaultOptionError("the directory of credentials_file %s is not writable by this user; nothing was "
                               "minted" % path)
    existing = file_state(path)
    if existing and existing["is_symlink"]:
        raise VaultOptionError("credentials_file %s is a symbolic link: refusing to write secrets through it" % path)
    if existing and not existing["is_file"]:
        raise VaultOptionError("credentials_file %s exists and is not a regular file" % path)
    return existing


# ---------------------------------------------------------------------------------------------
# Vault operations (hvac's typed API)

def mount_of(params):
    return (params.get("engine_mount_point") or params.get("engine") or "database").strip("/")


def issue(conn, params):
    """Mint credentials; returns (credentials dict, lease facts, vault warnings). Never status-retried."""
    mount = mount_of(params)
    name = params["name"]
    moment = now_utc()
    client = conn.client
    if params.get("engine") == "aws":
        endpoint = params.get("aws_endpoint") or "creds"
        path = "%s/%s/%s" % (mount, endpoint, name)
        body = _body(conn.call(lambda: client.secrets.aws.generate_credentials(
            name, role_arn=params.get("aws_role_arn") or None, ttl=params.get("ttl") or None, endpoint=endpoint,
            mount_point=mount, role_session_name=params.get("aws_role_session_name") or None),
            "issue AWS credentials", path, idempotent=False))
        data = body.get("data") or {}
        creds = {"access_key": data.get("access_key"), "secret_key": data.get("secret_key"),
                 "security_token": data.get("security_token") or data.get("session_token"),
                 "arn": data.get("arn")}
        if not creds["access_key"] or not creds["secret_key"]:
            raise VaultError("Vault returned no access key for %s: is %s an AWS secrets engine?" % (path, mount))
    else:
        path = "%s/creds/%s" % (mount, name)
        body = _body(conn.call(lambda: client.secrets.database.generate_credentials(name, mount_point=mount),
                               "issue database credentials", path, idempotent=False))
        data = body.get("data") or {}
        creds = {"username": data.get("username"), "password": data.get("password")}
        if not creds["username"] or creds["password"] is None:
            raise VaultError("Vault returned no username/password for %s: is %s a database secrets engine?"
                             % (path, mount))
    lease = lease_facts(body, moment)
    lease["path"] = path
    return creds, lease, list(body.get("warnings") or [])


def _lease(lease_id):
    return "lease %s" % lease_id


def lookup(conn, lease_id):
    """Lease facts (sys/leases/lookup); raises VaultLeaseNotFound."""
    body = _body(conn.call(lambda: conn.client.sys.read_lease(lease_id), "lease lookup", "sys/leases/lookup",
                           subject=_lease(lease_id)))
    data = body.get("data") or {}
    expire = _parse_time(data.get("expire_time"))
    return {
        "lease_id": data.get("id") or lease_id,
        "issue_time": data.get("issue_time"),
        "expire_time": data.get("expire_time"),
        "expires_at": iso(expire) if expire else None,
        "last_renewal": data.get("last_renewal"),
        "renewable": bool(data.get("renewable")),
        "ttl": int(data.get("ttl") or 0),
        "lease_duration": int(data.get("ttl") or 0),
    }


def renew(conn, lease_id, increment=None):
    if increment:
        increment = int(increment) if str(increment).isdigit() else increment
    moment = now_utc()
    body = _body(conn.call(lambda: conn.client.sys.renew_lease(lease_id, increment=increment or None),
                           "lease renew", "sys/leases/renew", subject=_lease(lease_id)))
    if not body.get("lease_id"):
        raise VaultLeaseNotRenewable("%s was not renewed: Vault returned no lease" % _lease(lease_id))
    return lease_facts(body, moment), list(body.get("warnings") or [])


def revoke(conn, lease_id, sync=True):
    if sync:  # Vault's default: hvac's revoke_lease sends no ``sync``
        conn.call(lambda: conn.client.sys.revoke_lease(lease_id), "lease revoke", "sys/leases/revoke",
                  subject=_lease(lease_id))
    else:  # raw: hvac's revoke_lease has no ``sync`` parameter
        conn.put_raw("sys/leases/revoke", {"lease_id": lease_id, "sync": False}, "lease revoke", _lease(lease_id))


def revoke_prefix(conn, prefix, sync=True):
    prefix = prefix.strip("/")
    path = "sys/leases/revoke-prefix/%s" % prefix
    if sync:
        conn.call(lambda: conn.client.sys.revoke_prefix(prefix), "lease revoke-prefix", path,
                  subject="leases under %s" % prefix)
    else:  # raw: hvac's revoke_prefix has no ``sync`` parameter
        conn.put_raw(path, {"sync": False}, "lease revoke-prefix", "leases under %s" % prefix)


# ---------------------------------------------------------------------------------------------
# The credentials file

def env_quote(value):
    """Single-quoted for sh and systemd EnvironmentFile= (no expansion inside)."""
    return "'" + str(value).replace("'", "'\"'\"'") + "'"


def render_file(creds, lease, params):
    fmt = params.get("credentials_file_format") or "env"
    meta = {"lease_id": lease.get("lease_id"), "lease_duration": lease.get("lease_duration"),
            "expires_at": lease.get("expires_at"), "renewable": lease.get("renewable")}
    if fmt == "json":
        doc = dict((k, v) for k, v in creds.items() if v is not None)
        doc.update(meta)
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")
    lines = ["# Written by ainative.security.vault_dynamic_creds: short-lived credentials, do not copy."]
    if params.get("engine") == "aws":
        pairs = [("AWS_ACCESS_KEY_ID", creds.get("access_key")), ("AWS_SECRET_ACCESS_KEY", creds.get("secret_key")),
                 ("AWS_SESSION_TOKEN", creds.get("security_token"))]
        prefix = "VAULT_"
    else:
        prefix = params.get("credentials_env_prefix") or ""
        pairs = [(prefix + "USERNAME", creds.get("username")), (prefix + "PASSWORD", creds.get("password"))]
    pairs += [(prefix + "LEASE_ID", meta["lease_id"]), (prefix + "LEASE_EXPIRES_AT", meta["expires_at"])]
    lines += ["%s=%s" % (key, env_quote(value)) for key, value in pairs if value is not None]
    return ("\n".join(lines) + "\n").encode("utf-8")


def parse_file(data, fmt):
    """(creds-like dict, lease_id) of an existing credentials file, or ({}, None)."""
    try:
        text = data.decode("utf-8")
    except (AttributeError, UnicodeDecodeError):
        return {}, None
    if fmt == "json":
        try:
            doc = json.loads(text)
        except ValueError:
            return {}, None
        return (doc if isinstance(doc, dict) else {}), (doc.get("lease_id") if isinstance(doc, dict) else None)
    values = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)='(.*)'$", line)
        if match:
            values[match.group(1)] = match.group(2).replace("'\"'\"'", "'")
    lease_id = None
    for key, value in values.items():
        if key.endswith("LEASE_ID"):
            lease_id = value
    return values, lease_id


def file_state(path):
    """Non-secret facts of an existing file (or None)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return {"mode": "%04o" % stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
            "is_symlink": stat.S_ISLNK(st.st_mode), "is_file": stat.S_ISREG(st.st_mode)}


def read_private(path):
    """Content of ``path`` without following a symlink at its last component (None when absent)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        if exc.errno == errno.ELOOP:
            raise VaultOptionError("credentials_file %s is a symbolic link: refusing to read secrets through it"
                                   % path)
        raise VaultOptionError("cannot read credentials_file %s: %s" % (path, exc.strerror))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        return handle.read()


def write_file(path, data, mode, uid, gid):
    """Atomic private write: the secret is never readable by others, nor written through a symlink."""
    check_file_target(path)  # again: the folder may have changed while Vault minted
    try:
        atomic_write(path, data, mode=mode, uid=uid, gid=gid)
    except (IOError, OSError) as exc:
        raise VaultOptionError("cannot write credentials_file %s: %s" % (path, exc.strerror or exc))


def file_facts(path, fmt):
    st = os.lstat(path)
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return {"path": path, "format": fmt, "mode": "%04o" % stat.S_IMODE(st.st_mode), "owner": owner,
            "group": group, "uid": st.st_uid, "gid": st.st_gid}


# ---------------------------------------------------------------------------------------------
# Findings

def connection_findings(params, conn, target):
    out = []
    url = params.get("url") or ""
    host = re.sub(r"^https?://([^/:]+).*$", r"\1", url)
    if url.startswith("http://") and host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
        out.append(make_finding(CONTROL, "misconfiguration", "vault_plaintext_http", "HIGH",
                                "Vault is reached over plain HTTP: tokens and credentials cross the network "
                                "unencrypted", target=target, details={"url": url}))
    if params.get("validate_certs") is False:
        out.append(make_finding(CONTROL, "misconfiguration", "vault_tls_unverified", "MEDIUM",
                                "TLS certificate validation is disabled (validate_certs=false)", target=target))
    policies = (conn.auth_info or {}).get("policies") if conn else None
    if policies and "root" in policies:
        out.append(make_finding(CONTROL, "authentication", "vault_root_token_used", "HIGH",
                                "A root token was used for routine credential work; use a role whose policy "
                                "allows only the creds path", target=target,
                                details={"auth_method": params.get("auth_method")}))
    return out


def lease_findings(params, lease, warnings, target):
    out = []
    limit = params.get("max_lease_duration")
    duration = lease.get("lease_duration") or 0
    if limit and duration > limit:
        out.append(make_finding(CONTROL, "misconfiguration", "vault_lease_too_long", "MEDIUM",
                                "Lease of %ss is longer than the allowed %ss: shorten the role's default_ttl"
                                % (duration, limit), target=target,
                                location={"resource": lease.get("path") or lease.get("lease_id")},
                                details={"lease_duration": duration, "max_lease_duration": limit}))
    if lease.get("lease_id") and not lease.get("renewable") and params.get("operation") == "issue":
        out.append(make_finding(CONTROL, "misconfiguration", "vault_lease_not_renewable", "LOW",
                                "The lease cannot be renewed: long jobs will lose their credentials at expiry",
                                target=target, location={"resource": lease.get("path")}))
    for warning in warnings or []:
        out.append(make_finding(CONTROL, "misconfiguration", "vault_warning", "INFO", str(warning)[:300],
                                target=target, location={"resource": lease.get("path") or lease.get("lease_id")}))
    return out


def file_findings(before, target, path):
    out = []
    if before and before.get("is_file") and int(before["mode"], 8) & 0o077:
        out.append(make_finding(CONTROL, "secret", "credentials_file_lax_mode", "HIGH",
                                "The previous credentials file was readable by other users (mode %s); it was "
                                "replaced with a private one" % before["mode"], target=target,
                                location={"path": path}, status="fixed"))
    return out


# ---------------------------------------------------------------------------------------------
# The module's one entry point

def run(ctl):
    """Do what ``operation`` says; returns an Outcome (secrets only under ``credentials``)."""
    params = dict(ctl.params)
    validate_params(params)
    operation = params.get("operation") or "issue"
    cov = Coverage("credentials", asked=1)
    path = params.get("credentials_file")
    uid = gid = -1
    before = None
    if path:
        uid, gid = resolve_owner(params.get("owner"), params.get("group"))
        if operation == "issue":
            before = check_file_target(path)
    if ctl.check_mode:
        # Check mode must reach the server to say anything: a token is looked up, the other methods log in.
        params["token_validate"] = True
        try:
            conn = connect(params)
        except VaultTransportError as exc:
            cov.miss(params.get("url") or "Vault", exc.msg)
            out = Outcome(cov, notes=["check mode: did not reach Vault, so nothing was examined: %s" % exc.msg],
                          operation=operation)
            out.msg = "check mode: could not reach Vault; examined nothing"
            return out
    else:
        conn = connect(params)
    job = _Job(ctl, params, conn, cov, path, uid, gid, before)
    out = getattr(job, operation)()
    out.findings = connection_findings(params, conn, conn.url) + out.findings
    out.extra.setdefault("operation", operation)
    out.extra["auth"] = conn.auth_info
    if conn.retry_events and params.get("retry_action", "warn") == "warn":
        ctl.warn("retried %d Vault call(s): %s" % (len(conn.retry_events), "; ".join(conn.retry_events[:5])))
    return out


class _Job(object):
    """One operation of the module: each method returns the Outcome of its operation."""

    def __init__(self, ctl, params, conn, cov, path, uid, gid, before):
        self.ctl = ctl
        self.params = params
        self.conn = conn
        self.cov = cov
        self.path = path
        self.uid = uid
        self.gid = gid
        self.before = before  # the credentials file's state before an issue
        self.target = conn.url

    def _outcome(self, changed, findings=(), notes=(), msg=None, diff=None, **extra):
        out = Outcome(self.cov, findings=findings, notes=notes, changed=changed, **extra)
        out.msg = msg
        if self.ctl.diff_mode and diff is not None:
            out.diff = diff
        return out

    def issue(self):
        params, path, before = self.params, self.path, self.before
        if path and params.get("reuse_valid_lease") and before and before["is_file"]:
            changed, reused = _try_reuse(self.conn, params, path, self.uid, self.gid, self.ctl.check_mode)
            if reused is not None:
                self.cov.add()
                return self._outcome(changed, lease_findings(params, reused["lease"], [], self.target),
                                     msg="kept %s: its lease %s is valid until %s"
                                     % (path, reused["lease_id"], reused["expires_at"]), **reused)
        mount = mount_of(params)
        if self.ctl.check_mode:
            self.cov.add()
            extra = {"lease": None}
            if path:
                extra["credentials_file"] = {"path": path, "format": params.get("credentials_file_format"),
                                             "mode": params.get("credentials_file_mode"), "changed": True}
            return self._outcome(
                True, notes=["check mode: Vault answered and accepted the login; no credentials were minted, so "
                             "whether role %s of mount %s issues them was not tried" % (params["name"], mount)],
                msg="check mode: credentials would be issued from %s" % mount,
                diff={"before": {"lease_id": None}, "after": {"lease_id": "(new lease)"}}, **extra)
        creds, lease, warnings = issue(self.conn, params)
        self.cov.add()
        findings = lease_findings(params, lease, warnings, self.target)
        extra = dict(lease=lease, lease_id=lease["lease_id"], lease_duration=lease["lease_duration"],
                     renewable=lease["renewable"], expires_at=lease["expires_at"])
        if path:
            try:
                write_file(path, render_file(creds, lease, params), file_mode(params.get("credentials_file_mode")),
                           self.uid, self.gid)
            except VaultOptionError:
                # Nobody will ever read these credentials: do not leave a live lease behind.
                _quiet_revoke(self.conn, lease["lease_id"])
                raise
            extra["credentials_file"] = dict(file_facts(path, params.get("credentials_file_format")), changed=True)
            findings += file_findings(before, self.target, path)
        if params.get("return_credentials", True):
            extra["credentials"] = creds
        return self._outcome(True, findings, msg="issued credentials from %s, lease %s"
                             % (lease["path"], lease["lease_id"]),
                             diff={"before": {"lease_id": None}, "after": {"lease_id": lease["lease_id"]}}, **extra)

    def lookup(self):
        lease = lookup(self.conn, self.params["lease_id"])
        self.cov.add()
        return self._outcome(False, lease_findings(self.params, lease, [], self.target),
                             msg="lease %s is valid for %ss" % (lease["lease_id"], lease["ttl"]),
                             lease=lease, lease_id=lease["lease_id"], lease_duration=lease["ttl"],
                             renewable=lease["renewable"], expires_at=lease["expires_at"])

    def renew(self):
        lease_id = self.params["lease_id"]
        current = lookup(self.conn, lease_id)
        if not current["renewable"]:
            raise VaultLeaseNotRenewable("lease %s is not renewable: issue new credentials instead" % lease_id)
        self.cov.add()
        if self.ctl.check_mode:
            return self._outcome(True, msg="check mode: lease %s would be renewed" % lease_id,
                                 diff={"before": {"expires_at": current["expires_at"]},
                                       "after": {"expires_at": "(later)"}},
                                 lease=current, lease_id=current["lease_id"])
        lease, warnings = renew(self.conn, lease_id, self.params.get("increment"))
        lease["previous_expires_at"] = current["expires_at"]
        for warning in warnings:
            self.ctl.warn(str(warning))
        return self._outcome(True, lease_findings(self.params, lease, warnings, self.target),
                             msg="renewed lease %s until %s" % (lease_id, lease["expires_at"]),
                             diff={"before": {"expires_at": current["expires_at"]},
                                   "after": {"expires_at": lease["expires_at"]}},
                             lease=lease, lease_id=lease["lease_id"], lease_duration=lease["lease_duration"],
                             renewable=lease["renewable"], expires_at=lease["expires_at"])

    def revoke(self):
        params, path, check_mode = self.params, self.path, self.ctl.check_mode
        lease_id = params.get("lease_id")
        file_there = bool(path and file_state(path))
        if not lease_id and file_there:
            dummy, lease_id = parse_file(read_private(path) or b"", params.get("credentials_file_format") or "env")
        exists = _lease_exists(self.conn, lease_id) if lease_id else False
        changed = revoked = False
        if exists is False:
            self.cov.add()
            msg = ("lease %s does not exist (already revoked or expired)" % lease_id if lease_id
                   else "no lease to revoke: %s holds none" % (path or "the task"))
        elif check_mode:
            if exists:
                self.cov.add()
            else:
                self.cov.miss(_lease(lease_id), "the token may not look the lease up, so check mode cannot tell "
                                                "whether it exists")
            changed, msg = True, "check mode: lease %s would be revoked" % lease_id
        else:
            revoke(self.conn, lease_id, params.get("sync", True))
            self.cov.add()
            changed, revoked, msg = True, True, "revoked lease %s" % lease_id
        extra = {"lease_id": lease_id, "revoked": revoked}
        if file_there:
            # The credentials in it are dead (or about to be): remove them from the host.
            extra["credentials_file"] = {"path": path, "removed": True}
            changed = True
            if not check_mode:
                try:
                    os.unlink(path)
                except OSError as exc:
                    raise VaultOptionError("lease revoked, but %s could not be removed: %s" % (path, exc.strerror))
        return self._outcome(changed, msg=msg, diff={
            "before": {"lease_id": lease_id if exists is not False else None,
                       "credentials_file": path if file_there else None},
            "after": {"lease_id": None, "credentials_file": None}}, **extra)

    def revoke_prefix(self):
        prefix = self.params["prefix"].strip("/")
        self.cov.add()
        if self.ctl.check_mode:
            return self._outcome(True, notes=["check mode: Vault answered and accepted the login; the leases under "
                                              "%s were not listed" % prefix],
                                 msg="check mode: every lease under %s would be revoked" % prefix, prefix=prefix)
        revoke_prefix(self.conn, prefix, self.params.get("sync", True))
        return self._outcome(True, msg="revoked every lease under %s" % prefix, prefix=prefix, revoked=True)


def _lease_exists(conn, lease_id):
    """True/False, or None when the token may not look leases up (then revoke anyway)."""
    try:
        lookup(conn, lease_id)
        return True
    except VaultLeaseNotFound:
        return False
    except VaultInvalidToken:
        raise
    except VaultPermissionDenied:
        return None


def _quiet_revoke(conn, lease_id):
    try:
        revoke(conn, lease_id, True)
    except VaultError:
        pass


def _try_reuse(conn, params, path, uid, gid, check_mode):
    """(changed, result keys) keeping the job's file while its lease lives min_ttl more seconds; else
    (False, None)."""
    data = read_private(path)
    values, lease_id = parse_file(data or b"", params.get("credentials_file_format") or "env")
    if not lease_id:
        return False, None
    try:
        lease = lookup(conn, lease_id)
    except VaultInvalidToken:
        raise
    except (VaultLeaseNotFound, VaultPermissionDenied, VaultInvalidRequest):
        return False, None
    if lease["ttl"] < (params.get("min_ttl") or 0):
        return False, None
    changed = False
    mode = file_mode(params.get("credentials_file_mode"))
    st = os.lstat(path)
    if stat.S_IMODE(st.st_mode) != mode or (uid != -1 and st.st_uid != uid) or (gid != -1 and st.st_gid != gid):
        changed = True
        if not check_mode:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            try:
                os.fchown(fd, uid, gid)
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
    out = {"reused": True, "lease": lease, "lease_id": lease["lease_id"],
           "lease_duration": lease["ttl"], "renewable": lease["renewable"], "expires_at": lease["expires_at"],
           "credentials_file": dict(file_facts(path, params.get("credentials_file_format")), changed=changed)}
    if params.get("return_credentials", True):
        if params.get("engine") == "aws":
            creds = {"access_key": values.get("AWS_ACCESS_KEY_ID") or values.get("access_key"),
                     "secret_key": values.get("AWS_SECRET_ACCESS_KEY") or values.get("secret_key"),
                     "security_token": values.get("AWS_SESSION_TOKEN") or values.get("security_token")}
        else:
            prefix = params.get("credentials_env_prefix") or ""
            creds = {"username": values.get(prefix + "USERNAME") or values.get("username"),
                     "password": values.get(prefix + "PASSWORD") or values.get("password")}
        out["credentials"] = creds
    return changed, out
