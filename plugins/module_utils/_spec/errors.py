# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors that carry the JSON-pointer path into the spec and say how to fix the problem."""

from __future__ import annotations


def pointer(*parts):
    """Build a JSON pointer (RFC 6901) from path parts: pointer('virtual_services', 2, 'port')."""
    out = []
    for part in parts:
        text = str(part).replace("~", "~0").replace("/", "~1")
        out.append(text)
    return "/" + "/".join(out) if out else ""


def join(path, *parts):
    """Extend an existing JSON pointer with more parts."""
    return path + pointer(*parts)


class SpecError(object):
    """One problem in the spec: where it is, what is wrong, and how to fix it."""

    __slots__ = ("path", "message", "fix")

    def __init__(self, path, message, fix=None):
        self.path = path or "/"
        self.message = message
        self.fix = fix

    def __str__(self):
        text = "%s: %s" % (self.path, self.message)
        if self.fix:
            text += " Fix: %s" % self.fix
        return text

    def __repr__(self):
        return "SpecError(%r, %r, %r)" % (self.path, self.message, self.fix)

    def __eq__(self, other):
        return isinstance(other, SpecError) and (self.path, self.message, self.fix) == (other.path, other.message, other.fix)

    def __hash__(self):
        return hash((self.path, self.message, self.fix))

    def as_dict(self):
        return {"path": self.path, "message": self.message, "fix": self.fix}


class SpecInvalid(Exception):
    """The spec has one or more errors; ``errors`` lists all of them."""

    def __init__(self, errors):
        self.errors = list(errors)
        super(SpecInvalid, self).__init__(self.summary())

    def summary(self):
        count = len(self.errors)
        head = "the spec has %d error%s:" % (count, "" if count == 1 else "s")
        return "\n".join([head] + ["  " + str(e) for e in self.errors])


class Collector(object):
    """Accumulates errors so that every problem is reported at once, not only the first."""

    def __init__(self):
        self.errors = []

    def add(self, path, message, fix=None):
        self.errors.append(SpecError(path, message, fix))

    def extend(self, errors):
        self.errors.extend(errors)

    def has_errors_under(self, path):
        """True when an error was reported at ``path`` or inside it."""
        prefix = path.rstrip("/") + "/"
        return any(e.path == path or e.path.startswith(prefix) for e in self.errors)

    def __bool__(self):
        return bool(self.errors)

    __nonzero__ = __bool__
