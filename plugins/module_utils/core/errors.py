# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One error hierarchy for every control.

Module code raises a :class:`ControlError` subclass; :meth:`ControlModule.run` turns it into one
``fail_json`` (outside any ``except`` block), with ``error_kind`` set to the subclass's ``kind``, so
playbooks can tell bad input from an unreachable service without parsing messages.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

MESSAGE_LIMIT = 2048


def bounded_text(value, limit=256):
    """``value`` as text of at most ``limit`` characters (hostile names must not flood results)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "backslashreplace")
    text = value if isinstance(value, str) else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (undecodable file names) would break the JSON result
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) <= limit:
        return text
    return "%s...(%d characters)" % (text[:limit], len(text))


class ControlError(Exception):
    """Base of every error a control reports; ``msg`` says what is wrong and how to fix it."""

    kind = "error"

    def __init__(self, msg, **details):
        super(ControlError, self).__init__(msg)
        self.msg = bounded_text(msg, MESSAGE_LIMIT)
        self.details = details


class InputError(ControlError):
    """An option, argument or input file given to the task is wrong."""

    kind = "input"


class PolicyError(ControlError):
    """A policy input (waiver, ignore file, VEX document, baseline, gate option) is malformed."""

    kind = "policy"


class DependencyError(ControlError):
    """A library or binary the control needs is missing or unusable."""

    kind = "dependency"


class SourceError(ControlError):
    """The system under examination (a server, an API, a scanner run) failed or refused."""

    kind = "source"
