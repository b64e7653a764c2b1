# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checking a repository signing key against pinned fingerprints, with gpg.

The key is imported into a throw-away GNUPGHOME, gpg lists it (``--with-colons``: fingerprint,
validity, expiry) and exports it again, so only the primary keys gpg understood reach apt or rpm.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import tempfile
import time

from ansible_collections.ainative.security.plugins.module_utils.core.errors import DependencyError, InputError


class KeyMismatchError(InputError):
    """The key file holds a key that is not pinned, or a pinned key that is revoked or expired."""


def normalize_fingerprint(value):
    fpr = re.sub(r"\s+", "", str(value)).upper()
    if fpr.startswith("0X"):
        fpr = fpr[2:]
    if not re.match(r"^([0-9A-F]{40}|[0-9A-F]{64})$", fpr):
        raise InputError("key fingerprint %r is not a full 40 (v4) or 64 (v6) hex digit fingerprint; "
                         "short key ids are not accepted for pinning" % value)
    return fpr


def parse_colons(text):
    """Primary keys from ``gpg --with-colons`` output: fingerprint, created, expires, revoked, expired, uids, subkeys."""
    keys = []
    record = None
    target = None
    for line in text.splitlines():
        fields = line.split(":")
        kind = fields[0]
        if kind == "pub":
            record = {"fingerprint": None, "created": _int(fields, 5), "expires": _int(fields, 6),
                      "revoked": fields[1] == "r", "expired": fields[1] == "e", "uids": [], "subkeys": []}
            keys.append(record)
            target = "primary"
        elif kind == "sub" and record is not None:
            target = "sub"
        elif kind == "fpr" and record is not None and len(fields) > 9:
            if target == "primary" and record["fingerprint"] is None:
                record["fingerprint"] = fields[9].upper()
            elif target == "sub":
                record["subkeys"].append(fields[9].upper())
                target = None
        elif kind == "uid" and record is not None and len(fields) > 9:
            record["uids"].append(fields[9])
    return [k for k in keys if k["fingerprint"]]


def _int(fields, index):
    value = fields[index] if len(fields) > index else ""
    return int(value) if value.isdigit() else None


class GpgKeyring(object):
    """A temporary GNUPGHOME holding one key file; use as a context manager."""

    def __init__(self, module):
        self.module = module
        self.gpg = module.get_bin_path("gpg")
        if not self.gpg:
            raise DependencyError("gpg is needed to check the signing key fingerprint; install gnupg")
        self.home = None

    def __enter__(self):
        self.home = tempfile.mkdtemp(prefix="falco-gpg-")
        return self

    def __exit__(self, *exc_info):
        shutil.rmtree(self.home, ignore_errors=True)

    def run(self, args, data=None):
        argv = [self.gpg, "--batch", "--no-tty", "--no-autostart", "--homedir", self.home] + args
        rc, out, err = self.module.run_command(argv, data=data, binary_data=True, encoding=None)
        return rc, out, err

    def import_key(self, data):
        path = os.path.join(self.home, "candidate.key")
        with open(path, "wb") as handle:
            handle.write(data)
        rc, _out, err = self.run(["--import", path])
        if rc != 0 and b"imported" not in (err or b""):
            raise InputError("the signing key is not an OpenPGP public key gpg can read: %s"
                             % _last_line(err))
        rc, out, err = self.run(["--with-colons", "--fixed-list-mode", "--list-keys"])
        keys = parse_colons(out.decode("utf-8", "replace")) if rc == 0 else []
        if not keys:
            raise InputError("no OpenPGP public key found in the signing key data; give the public key "
                             "(falcosecurity-packages.asc), not a signature or private key")
        return keys

    def export(self, fingerprints, armor=False):
        rc, out, err = self.run((["--armor"] if armor else []) + ["--export"] + list(fingerprints))
        if rc != 0 or not out:
            raise InputError("gpg could not export the verified key: %s" % _last_line(err))
        return out


def _last_line(err):
    text = (err or b"").decode("utf-8", "replace").strip()
    return text.splitlines()[-1] if text else "no output"


def verify_key(keys, pinned, now=None):
    """Check listed keys against the pinned fingerprints; return them or raise KeyMismatchError."""
    pinned = [normalize_fingerprint(p) for p in pinned]
    now = time.time() if now is None else now
    found = [k["fingerprint"] for k in keys]
    unexpected = [f for f in found if f not in pinned]
    if unexpected:
        raise KeyMismatchError(
            "the signing key does not match the pinned fingerprint: the key file holds %s, the pin is %s. "
            "Refusing to trust it. If Falco rotated its key, check the new fingerprint at "
            "https://falco.org/docs/setup/packages/ and update key_fingerprint."
            % (", ".join(found), ", ".join(pinned)))
    for key in keys:
        if key["revoked"]:
            raise KeyMismatchError("the pinned key %s is revoked; get the current key and pin its fingerprint"
                                   % key["fingerprint"])
        if key["expired"] or (key["expires"] and key["expires"] < now):
            raise KeyMismatchError("the pinned key %s expired on %s; get the current key and pin its fingerprint"
                                   % (key["fingerprint"], time.strftime("%Y-%m-%d", time.gmtime(key["expires"] or 0))))
    return keys


def checked_key(module, data, pinned, armor=False, now=None):
    """(keys, exported key bytes) of ``data`` once every primary key in it is pinned, valid and unexpired."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with GpgKeyring(module) as ring:
        keys = verify_key(ring.import_key(data), pinned, now=now)
        return keys, ring.export([k["fingerprint"] for k in keys], armor=armor)
