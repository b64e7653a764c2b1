# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vault/OpenBao auth methods as small pluggable classes (in the style of community.hashi_vault).

Each class names the options it reads (``OPTIONS``), checks them offline in ``validate()`` (no network,
no secret in any message) and logs in with ``authenticate(conn)`` through hvac's typed auth API, which
sets the client token and returns non-secret facts about the login (policies, token TTL, renewable).
Methods: token, approle, kubernetes (service-account token file), jwt, userpass. Add one by subclassing
:class:`AuthMethod` and listing it in ``AUTH_METHODS``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.ainative.security.plugins.module_utils.vault.errors import (
    VaultLoginFailed,
    VaultOptionError,
)

JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+={0,2}\.[A-Za-z0-9_-]+={0,2}\.[A-Za-z0-9_-]*={0,2}$")
MOUNT_SHAPE = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


class AuthMethod(object):
    NAME = None
    OPTIONS = ()
    DEFAULT_MOUNT = None

    def __init__(self, options, environ=None):
        self.options = options
        self.environ = os.environ if environ is None else environ

    def opt(self, name):
        value = self.options.get(name)
        return None if value in (None, "") else value

    def require(self, *names):
        missing = [name for name in names if self.opt(name) is None]
        if missing:
            raise VaultOptionError("auth_method=%s needs %s" % (self.NAME, " and ".join(missing)))

    @property
    def mount(self):
        return (self.opt("mount_point") or self.DEFAULT_MOUNT).strip("/")

    def validate_mount(self):
        if self.DEFAULT_MOUNT and not MOUNT_SHAPE.match(self.mount):
            raise VaultOptionError("mount_point %r is not a valid auth mount path (letters, digits, '-', '_', "
                                   "'.', separated by '/')" % self.opt("mount_point"))

    def validate(self):
        raise NotImplementedError

    def authenticate(self, conn):
        raise NotImplementedError

    def login(self, conn, func):
        """Run hvac's login ``func(client)`` (never retried on a status: a login creates a token), set the
        token on the client, return non-secret facts of the token."""
        body = conn.call(lambda: func(conn.client), "login (%s)" % self.NAME, "auth/%s/login" % self.mount,
                         idempotent=False, subject="auth mount %s" % self.mount)
        auth = (body or {}).get("auth") if isinstance(body, dict) else None
        token = (auth or {}).get("client_token")
        if not token:
            raise VaultLoginFailed("login (%s) at auth mount %s returned no token" % (self.NAME, self.mount))
        conn.client.token = token
        return token_facts(self.NAME, auth)


def token_facts(method, auth):
    return {
        "method": method,
        "policies": sorted(auth.get("policies") or auth.get("token_policies") or []),
        "token_ttl": auth.get("lease_duration", auth.get("ttl")),
        "renewable": auth.get("renewable"),
        "entity_id": auth.get("entity_id"),
    }


class TokenAuth(AuthMethod):
    """A token from ``token``, else ``VAULT_TOKEN``/``BAO_TOKEN``, else ``token_path``/``token_file``."""

    NAME = "token"
    OPTIONS = ("token", "token_path", "token_file", "token_validate")

    def token_file_path(self):
        directory = self.opt("token_path") or os.path.expanduser("~")
        return os.path.join(directory, self.opt("token_file") or ".vault-token")

    def resolve(self):
        token = self.opt("token")
        if token is None:
            for name in ("VAULT_TOKEN", "BAO_TOKEN"):
                if self.environ.get(name):
                    token = self.environ[name]
                    break
        if token is None:
            path = self.token_file_path()
            if os.path.isfile(path):
                try:
                    with open(path) as handle:
                        token = handle.read().strip() or None
                except (IOError, OSError) as exc:
                    raise VaultOptionError("cannot read the token file %s: %s" % (path, exc.strerror))
        return token

    def validate(self):
        token = self.resolve()
        if token is None:
            raise VaultOptionError("auth_method=token found no token: set 'token', the VAULT_TOKEN environment "
                                   "variable, or a token file at %s (token_path/token_file)" % self.token_file_path())
        if any(c.isspace() for c in token):
            raise VaultOptionError("the Vault token contains whitespace: check how it was passed")
        self.options["token"] = token

    def authenticate(self, conn):
        conn.client.token = self.opt("token") or self.resolve()
        facts = {"method": self.NAME, "policies": None, "token_ttl": None, "renewable": None, "entity_id": None}
        if self.options.get("token_validate"):
            facts.update(conn.lookup_self())
        return facts


class AppRoleAuth(AuthMethod):
    NAME = "approle"
    OPTIONS = ("role_id", "secret_id", "mount_point")
    DEFAULT_MOUNT = "approle"

    def validate(self):
        self.require("role_id")
        self.validate_mount()

    def authenticate(self, conn):
        return self.login(conn, lambda client: client.auth.approle.login(
            self.opt("role_id"), secret_id=self.opt("secret_id"), use_token=False, mount_point=self.mount))


class JwtAuth(AuthMethod):
    """JWT (and OIDC-issued ID tokens) against a named role of the jwt auth method."""

    NAME = "jwt"
    OPTIONS = ("role_id", "jwt", "mount_point")
    DEFAULT_MOUNT = "jwt"

    def validate(self):
        self.require("role_id", "jwt")
        self.validate_mount()
        if not JWT_SHAPE.match(self.opt("jwt").strip()):
            raise VaultOptionError("the jwt option does not look like a compact JWT (three base64url parts "
                                   "separated by dots)")

    def authenticate(self, conn):
        return self.login(conn, lambda client: client.auth.jwt.jwt_login(
            self.opt("role_id"), self.opt("jwt").strip(), use_token=False, path=self.mount))


class KubernetesAuth(JwtAuth):
    """Kubernetes auth with the pod's service-account token (file), or a token given as ``jwt``."""

    NAME = "kubernetes"
    OPTIONS = ("role_id", "jwt", "kubernetes_token_path", "mount_point")
    DEFAULT_MOUNT = "kubernetes"

    def token_path(self):
        return self.opt("kubernetes_token_path") or "/var/run/secrets/kubernetes.io/serviceaccount/token"

    def validate(self):
        self.require("role_id")
        self.validate_mount()
        if self.opt("jwt") is None:
            path = self.token_path()
            try:
                with open(path) as handle:
                    token = handle.read().strip()
            except (IOError, OSError) as exc:
                raise VaultOptionError("auth_method=kubernetes cannot read the service-account token %s (%s): "
                                       "run on a pod with a mounted token, or set kubernetes_token_path or jwt"
                                       % (path, exc.strerror or exc))
            if not token:
                raise VaultOptionError("the service-account token file %s is empty" % path)
            self.options["jwt"] = token
        if not JWT_SHAPE.match(self.opt("jwt").strip()):
            raise VaultOptionError("the Kubernetes service-account token does not look like a JWT")

    def authenticate(self, conn):
        return self.login(conn, lambda client: client.auth.kubernetes.login(
            self.opt("role_id"), self.opt("jwt").strip(), use_token=False, mount_point=self.mount))


class UserpassAuth(AuthMethod):
    NAME = "userpass"
    OPTIONS = ("username", "password", "mount_point")
    DEFAULT_MOUNT = "userpass"

    def validate(self):
        self.require("username", "password")
        self.validate_mount()
        if "/" in self.opt("username"):
            raise VaultOptionError("username must not contain '/'")

    def authenticate(self, conn):
        return self.login(conn, lambda client: client.auth.userpass.login(
            self.opt("username"), self.opt("password"), use_token=False, mount_point=self.mount))


AUTH_METHODS = dict((cls.NAME, cls) for cls in (TokenAuth, AppRoleAuth, JwtAuth, KubernetesAuth, UserpassAuth))


def auth_method(options, environ=None):
    """The auth method object named by ``options['auth_method']`` (default token)."""
    name = options.get("auth_method") or "token"
    try:
        cls = AUTH_METHODS[name]
    except KeyError:
        raise VaultOptionError("unknown auth_method %r; use one of %s" % (name, ", ".join(sorted(AUTH_METHODS))))
    return cls(options, environ=environ)
