# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded concurrency shared by every control that waits on many servers or scanner processes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from concurrent.futures import ThreadPoolExecutor


def run_bounded(func, items, workers):
    """``[func(item) for item in items]`` on at most ``workers`` threads, results in input order.

    ``func`` should turn what it can handle into a result (a failed target is a coverage entry, not a
    reason to drop the other targets); an exception it lets through propagates, first one wins.
    """
    items = list(items)
    workers = max(1, int(workers or 1))
    if workers == 1 or len(items) < 2:
        return [func(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(func, items))
