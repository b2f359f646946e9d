# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors that carry the JSON-pointer path into the spec and say how to fix the problem.

``show`` is the one way a message quotes a value from the spec: short, on one line, never the
contents of a mapping or list (which may hold a secret), never Python's own spelling of a type.
"""

from __future__ import annotations

import unicodedata

SHOWN_CHARS = 40
# The repr of an int of more digits than this is refused by Python (sys.int_info.default_max_str_digits).
_LONG_INT_BITS = 64


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


def show(value, limit=SHOWN_CHARS):
    """A value as a message quotes it: a short one-line spelling, or what kind of value it is."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value.bit_length() > _LONG_INT_BITS:
            return "a number of about %d digits" % int(value.bit_length() * 0.30103 + 1)
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        if len(value) > limit:
            return repr(value[:limit - 3]) + "... (%d characters)" % len(value)
        return repr(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list of %d item%s" % (len(value), "" if len(value) == 1 else "s")
    return "a value of another kind"


# The JSON type of a value (as the schema's ``type`` names it) and its name in messages.
TYPE_NAMES = {
    "null": "null",
    "boolean": "true or false",
    "integer": "a whole number",
    "number": "a number",
    "string": "a string",
    "object": "a mapping",
    "array": "a list",
    "other": "a value of another kind",
}


def json_type(value):
    """The JSON Schema type of a Python value from YAML ('other' for dates, bytes, sets...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return "other"


def kind(value):
    """What kind of value this is, in the spec's words."""
    return TYPE_NAMES[json_type(value)]


def control_character(text):
    """(position, description) of the first character no spec string may hold, or None.

    Line breaks of any kind, other control characters, format characters (bidirectional marks,
    zero-width joiners) and unassigned or private code points: none has a place in a name, an
    address, a path or a header, and a line break would start a new line in an engine's file.
    """
    for index, char in enumerate(text):
        category = unicodedata.category(char)
        if category in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            name = unicodedata.name(char, "") or {"\n": "line feed", "\r": "carriage return", "\t": "tab"}.get(char, "control character")
            return index, "U+%04X (%s)" % (ord(char), name.lower())
    return None


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
