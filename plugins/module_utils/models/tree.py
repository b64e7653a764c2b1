# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The files of a model folder, listed without following any symlink.

A symlink anywhere in the tree (or the root itself) is refused, never followed: model_signing with
``--allow_symlinks`` signs what a link points to, even outside the folder, and a scanner that follows
links scans something else than what is served.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.integrity.paths import check_relpath, display_name


def model_files(root, skip=None):
    """``(files, refused)``: ``files`` are ``(relative name, full path)`` of regular files, sorted;
    ``refused`` are ``(relative name, reason)`` for symlinks and special files. ``skip(name)`` leaves a
    path out (and a directory's whole subtree)."""
    if os.path.islink(root):
        raise InputError("%s is a symlink; give the real model path (symlinks are never followed)" % root)
    if os.path.isfile(root):
        return [(os.path.basename(root), root)], []
    if not os.path.isdir(root):
        raise InputError("%s does not exist or is not a file or directory; check path" % root)
    files, refused = [], []
    stack = [("", root)]
    while stack:
        prefix, directory = stack.pop()
        try:
            with os.scandir(directory) as iterator:
                entries = list(iterator)
        except OSError as exc:
            refused.append((prefix or ".", "cannot list directory: %s" % exc.strerror))
            continue
        for entry in entries:
            name = prefix + entry.name
            if skip and skip(name):
                continue
            if entry.is_symlink():
                refused.append((display_name(name), "symlink (to %s), never followed"
                                % display_name(os.readlink(entry.path), 256)))
            elif entry.is_dir(follow_symlinks=False):
                stack.append((name + "/", entry.path))
            elif entry.is_file(follow_symlinks=False):
                files.append((name, entry.path))
            else:
                refused.append((display_name(name), "not a regular file (device, FIFO or socket)"))
    files.sort()
    refused.sort()
    return files, refused


def relative_paths(names, option):
    """Paths below the model root as given in ``option``; absolute paths and ``..`` are refused."""
    return [check_relpath(name.rstrip("/"), option) for name in names or ()]
