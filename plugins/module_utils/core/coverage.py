# -*- coding: utf-8 -*-
# Copyright: ainative.security contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Coverage: what a control examined, and what it could not examine and why.

A gate may pass only on a complete run. A run is incomplete when it examined nothing, examined fewer
units than it was asked to, or missed any unit; the gate fails on that unless the playbook accepts it
(``accept_incomplete`` with a reason).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ainative.security.plugins.module_utils.core.errors import bounded_text

MISSED_LIMIT = 50


class Coverage(object):
    """Counts examined units of one kind (``files``, ``events``, ``buckets``, ``cases``, ...).

    ``asked`` is how many units the task asked for, when that is known up front.
    """

    def __init__(self, unit, asked=None):
        self.unit = unit
        self.asked = asked
        self.examined = 0
        self.missed = []
        self.missed_count = 0
        self.accepted = None

    def add(self, count=1):
        self.examined += count
        return self

    def miss(self, item, reason):
        """Record one unit that could not be examined (the list is bounded, the count is not)."""
        self.missed_count += 1
        if len(self.missed) < MISSED_LIMIT:
            self.missed.append({"item": bounded_text(item), "reason": bounded_text(reason, 512)})
        return self

    @property
    def complete(self):
        if self.examined == 0 or self.missed_count:
            return False
        return self.asked is None or self.examined >= self.asked

    def gaps(self):
        """Sentences that say why the run is incomplete (empty when complete)."""
        gaps = []
        if self.examined == 0:
            gaps.append("examined no %s" % self.unit)
        elif self.asked is not None and self.examined < self.asked:
            gaps.append("examined %d of %d %s" % (self.examined, self.asked, self.unit))
        if self.missed_count:
            first = self.missed[0]
            gaps.append("could not examine %d %s (first: %s: %s)"
                        % (self.missed_count, self.unit, first["item"], first["reason"]))
        return gaps

    def accept(self, reason):
        self.accepted = reason

    def as_dict(self):
        return {
            "unit": self.unit,
            "asked": self.asked,
            "examined": self.examined,
            "missed": list(self.missed),
            "missed_count": self.missed_count,
            "missed_truncated": self.missed_count > len(self.missed),
            "complete": self.complete,
            "gaps": self.gaps(),
            "accepted_incomplete": self.accepted,
        }
