# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The errors of the Vault/OpenBao plugins, as kinds of the collection's one error hierarchy.

Each class's ``kind`` is the ``error_kind`` a failed task returns (the 0.1.0 values, plus
``invalid_token``), so playbooks can tell a bad token from a missing policy without parsing messages.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ainative.security.plugins.module_utils.core.errors import (
    DependencyError,
    InputError,
    SourceError,
)


class VaultOptionError(InputError):
    """An auth, connection or credentials option is missing or malformed (found before any network call)."""

    kind = "invalid_option"


class VaultLibraryError(DependencyError):
    kind = "missing_library"


class VaultError(SourceError):
    """Vault (or the way to it) failed or refused; ``status`` is the HTTP status when there was one."""

    kind = "unexpected"

    def __init__(self, msg, status=None, errors=None):
        details = {"status": status} if status is not None else {}
        super(VaultError, self).__init__(msg, **details)
        self.status = status
        self.errors = list(errors or [])


class VaultTransportError(VaultError):
    """The request did not get an answer from Vault (nothing on the server was examined)."""


class VaultUnreachable(VaultTransportError):
    kind = "unreachable"


class VaultTLSError(VaultTransportError):
    kind = "tls"


class VaultTimeout(VaultTransportError):
    kind = "timeout"


class VaultSealed(VaultError):
    kind = "sealed"


class VaultStandby(VaultError):
    kind = "standby"


class VaultNotInitialized(VaultError):
    kind = "not_initialized"


class VaultRateLimited(VaultError):
    kind = "rate_limited"


class VaultPermissionDenied(VaultError):
    kind = "permission_denied"


class VaultInvalidToken(VaultPermissionDenied):
    """Vault refused the token itself (unknown, expired or revoked), not a capability of its policy."""

    kind = "invalid_token"


class VaultLoginFailed(VaultError):
    kind = "login_failed"


class VaultUnknownRole(VaultError):
    kind = "unknown_role"


class VaultNotFound(VaultError):
    kind = "not_found"


class VaultLeaseNotFound(VaultNotFound):
    kind = "lease_not_found"


class VaultLeaseNotRenewable(VaultError):
    kind = "lease_not_renewable"


class VaultInvalidRequest(VaultError):
    kind = "invalid_request"


class VaultServerError(VaultError):
    kind = "server_error"


class VaultUpstreamError(VaultError):
    kind = "upstream_error"
