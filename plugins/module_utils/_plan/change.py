# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One change of a plan, and its one rendering as a line of text. Pure.

The appliance module's summary and diff, check mode's report, the run's change table and the
tests all print a change through ``Change.line``: there is no second formatter.
"""

from __future__ import annotations

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.secrets import SECRET_FIELDS

HIDDEN = "(hidden)"
UNSET = "(unset)"
# add, remove and change speak of the spec's objects; rewrite and start of what the engine runs.
SYMBOL = {"add": "+", "remove": "-", "change": "~", "rewrite": "!", "start": ">"}


class Change(object):
    """One change: ``action`` (add, remove, change, rewrite, start), ``kind`` what it applies to.

    ``key`` identifies the object (a virtual service by protocol, address and port; a real
    server by address and port), ``label`` names it for people; a ``change`` also carries the
    ``field`` with its value ``before`` and ``after`` (secrets already replaced by HIDDEN).
    """

    __slots__ = ("action", "kind", "key", "label", "field", "before", "after")

    def __init__(self, action, kind, key, label, field=None, before=None, after=None):
        if action not in SYMBOL:
            raise ValueError("unknown change action %r" % (action,))
        self.action = action
        self.kind = kind
        self.key = key
        self.label = label
        self.field = field
        self.before = before
        self.after = after

    def as_dict(self):
        out = {"action": self.action, "kind": self.kind, "key": self.key, "label": self.label}
        if self.field is not None:
            out.update(field=self.field, before=self.before, after=self.after)
        return out

    def line(self):
        """The change as one line: '+ virtual service web (192.0.2.10:80/tcp)', '~ real server ...: weight 100 -> 50'."""
        if self.action == "change":
            return "%s %s %s: %s %s -> %s" % (SYMBOL[self.action], self.kind, self.label, self.field, show(self.before), show(self.after))
        return "%s %s %s" % (SYMBOL[self.action], self.kind, self.label)

    __str__ = line

    def __repr__(self):
        return "Change(%s)" % self.line()

    def __eq__(self, other):
        return isinstance(other, Change) and self.as_dict() == other.as_dict()

    def __hash__(self):
        return hash(self.line())


def show(value):
    """A field's value as a change line writes it."""
    if value is None:
        return UNSET
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[%s]" % ", ".join(show(v) for v in value)
    if isinstance(value, dict):
        return "{%s}" % ", ".join("%s: %s" % (k, show(v)) for k, v in sorted(value.items()))
    return str(value)


def hide_secret(field, before, after):
    """(before, after) of a field, with a secret's values replaced by HIDDEN."""
    if field.rsplit(".", 1)[-1] in SECRET_FIELDS:
        return (HIDDEN if before is not None else None), (HIDDEN if after is not None else None)
    return _masked(before), _masked(after)


def _masked(value):
    """A mapping added or removed whole (a status page) with its secrets hidden too."""
    if isinstance(value, dict):
        return dict((key, HIDDEN if key in SECRET_FIELDS and item is not None else _masked(item)) for key, item in value.items())
    return value
