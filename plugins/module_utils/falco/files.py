# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading and writing the files falco_rules and falco_config manage."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.ainative.security.plugins.module_utils.core import fileio
from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError

DEFAULT_MODE = 0o644


def read_text(path, what):
    data = fileio.read_regular_file(path, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("%s %s is not UTF-8 text" % (what, path))


def write_file(ctl, dest, text, make_dirs):
    """Write ``text`` to ``dest`` when it differs, then apply the file options (mode, owner, ...)."""
    params = ctl.params
    result = fileio.write_if_changed(dest, text.encode("utf-8"), mode=DEFAULT_MODE, backup=params["backup"],
                                     check_mode=ctl.check_mode, diff=ctl.diff_mode, make_dirs=make_dirs)
    if os.path.exists(dest):
        file_args = ctl.module.load_file_common_arguments(params, path=dest)
        result["changed"] = ctl.module.set_fs_attributes_if_different(file_args, result["changed"])
    return result


def remove_file(ctl, dest):
    """Remove ``dest``; returns the result keys (changed, diff)."""
    result = {"changed": False}
    if os.path.lexists(dest):
        result["changed"] = True
        if ctl.diff_mode:
            before = fileio.read_bytes(dest) if os.path.isfile(dest) else b""
            result["diff"] = {"before": (before or b"").decode("utf-8", "replace"), "after": "",
                              "before_header": dest, "after_header": dest}
        if not ctl.check_mode:
            os.unlink(dest)
    return result
