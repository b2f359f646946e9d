# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Structural validation and defaults, driven by the schema in ``schema.py``.

A deliberately small interpreter of the JSON Schema keywords the spec's schema uses, so the
model needs no third-party library on the appliance and cannot disagree with the schema
file editors and CI use. It reports every problem (not only the first) with its path, and
returns a copy of the data with the schema's defaults filled in: each mapping of the copy is a
``Fields``, which remembers the keys the user wrote (``given``), so the rules can tell a value
the user chose from a default without looking at the input again.

Patterns are matched as JSON Schema (ECMA-262) means them: ``$`` ends the string (Python's
``$`` would also match before a final line feed) and ``\\d``, ``\\w`` are ASCII. No string
anywhere may hold a line break or another control character.
"""

from __future__ import annotations

import copy
import difflib
import math
import re

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import TYPE_NAMES, control_character, join, json_type, kind, show

SUPPORTED_KEYWORDS = frozenset(
    [
        "$schema",
        "$id",
        "$defs",
        "$ref",
        "title",
        "description",
        "examples",
        "default",
        "type",
        "enum",
        "properties",
        "additionalProperties",
        "required",
        "items",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "writeOnly",
    ]
)


# An error's whole line stays readable: the known fields are listed while the line stays under this.
MESSAGE_MAX = 300


def _known_fields(path, message, props):
    """The fix for an unknown field: the fields known here, or where to read them when the line would be too long."""
    fix = "remove it; known fields here: %s." % ", ".join(sorted(props))
    if len(path) + len(message) + len(fix) + 8 > MESSAGE_MAX:
        fix = "remove it; docs/spec-reference.md lists the fields known here."
    return fix


class Fields(dict):
    """A mapping of the spec with its defaults filled in; ``given`` are the keys the user wrote."""

    given = frozenset()


def _matches_type(value, wanted):
    actual = json_type(value)
    if actual == wanted:
        return True
    return wanted == "number" and actual == "integer"


_PATTERNS = {}


def _compiled(pattern):
    """The schema's (ECMA-262) pattern as Python must write it: a final ``$`` is the end of the string."""
    found = _PATTERNS.get(pattern)
    if found is None:
        python = pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith("\\$") else pattern
        found = _PATTERNS[pattern] = re.compile(python, re.ASCII)
    return found


def pattern_matches(pattern, value):
    return _compiled(pattern).search(value) is not None


def _ungiven(value):
    """A default filled in by the checker: none of its keys was written by the user."""
    if isinstance(value, Fields):
        value.given = frozenset()
        for item in value.values():
            _ungiven(item)
    elif isinstance(value, list):
        for item in value:
            _ungiven(item)
    return value


# A fix listing the choices stays this short; a longer list is referred to the reference.
_CHOICES_CHARS = 120


def _choices_fix(value, enum):
    choices = [str(c) for c in enum]
    guess = difflib.get_close_matches(value, choices, n=1) if isinstance(value, str) and len(value) < 100 else []
    listed = ", ".join(choices)
    if len(listed) > _CHOICES_CHARS:
        listed = "the %d choices of this field in docs/spec-reference.md" % len(choices)
        return "did you mean %s? Or see %s." % (guess[0], listed) if guess else "see %s." % listed
    return ("did you mean %s? " % guess[0] if guess else "") + "use one of: %s." % listed


class StructureChecker(object):
    """Checks a value against the schema and fills defaults."""

    def __init__(self, root):
        self.root = root

    def resolve(self, node):
        while "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ValueError("unsupported $ref %r" % ref)
            target = self.root
            for part in ref[2:].split("/"):
                target = target[part]
            merged = dict(target)
            merged.update((k, v) for k, v in node.items() if k != "$ref")
            node = merged
        return node

    def check(self, value, collector, path="", node=None):
        """Return ``value`` with defaults filled in; add each problem to ``collector``.

        The walk follows the schema, never the input: a value the schema does not describe (an
        unknown field, a wrong type) is reported and not descended into, so no input, however
        deep, makes the walk deeper than the schema.
        """
        node = self.resolve(self.root if node is None else node)
        types = node.get("type")
        if types is not None:
            wanted = types if isinstance(types, list) else [types]
            if not any(_matches_type(value, t) for t in wanted):
                names = " or ".join(TYPE_NAMES.get(t, t) for t in wanted)
                # writeOnly marks secrets: their value never appears in a message.
                shown = "" if node.get("writeOnly") or isinstance(value, (dict, list, tuple)) or value is None else " " + show(value)
                collector.add(path, "must be %s, not %s%s." % (names, kind(value), shown), "write %s here." % names)
                return value
        if "enum" in node and not any(json_type(value) == json_type(c) and value == c for c in node["enum"]):
            collector.add(path, "%s is not a valid choice." % show(value), _choices_fix(value, node["enum"]))
            return value
        value_type = json_type(value)
        if value_type == "string":
            self._check_string(node, value, collector, path)
        elif value_type in ("integer", "number"):
            self._check_number(node, value, collector, path)
        elif value_type == "array":
            return self._check_array(node, value, collector, path)
        elif value_type == "object" and "properties" in node:
            return self._check_object(node, value, collector, path)
        return value

    @staticmethod
    def _check_string(node, value, collector, path):
        secret = node.get("writeOnly")
        shown = "the value" if secret else show(value)
        bad = control_character(value)
        if bad is not None:
            collector.add(path, "%s holds the control character %s at position %d." % (shown, bad[1], bad[0] + 1),
                          "remove it: no field takes line breaks or other control characters.")
            return
        if "minLength" in node and len(value) < node["minLength"]:
            collector.add(
                path,
                "must not be empty." if node["minLength"] == 1 else "must be at least %d characters long." % node["minLength"],
                "give a value, or remove the field.",
            )
        if "maxLength" in node and len(value) > node["maxLength"]:
            collector.add(path, "must be at most %d characters long, not %d." % (node["maxLength"], len(value)), "shorten it.")
            return
        if "pattern" in node and not pattern_matches(node["pattern"], value):
            example = node.get("examples", [None])[0]
            if secret:
                fix = "see the field in docs/spec.md for the characters it takes."
            elif isinstance(example, str) and "{{" not in example:
                fix = "write it like %r (docs/spec.md lists the characters each field takes)." % (example,)
            else:
                fix = "see the field in docs/spec.md for the characters it takes."
            collector.add(path, "%s is not in the expected form." % shown, fix)

    @staticmethod
    def _check_number(node, value, collector, path):
        low, high = node.get("minimum"), node.get("maximum")
        if isinstance(value, float) and math.isnan(value):
            collector.add(path, "is not a number (NaN).", "write a number.")
            return
        if (low is not None and value < low) or (high is not None and value > high):
            if low is not None and high is not None:
                collector.add(path, "%s is out of range." % show(value), "use a value from %s to %s." % (low, high))
            elif low is not None:
                collector.add(path, "%s is too small." % show(value), "use %s or more." % low)
            else:
                collector.add(path, "%s is too large." % show(value), "use %s or less." % high)

    def _check_array(self, node, value, collector, path):
        if "minItems" in node and len(value) < node["minItems"]:
            collector.add(
                path, "needs at least %d item%s, has %d." % (node["minItems"], "" if node["minItems"] == 1 else "s", len(value)), "add items."
            )
        if "maxItems" in node and len(value) > node["maxItems"]:
            collector.add(
                path,
                "takes at most %d item%s, has %d." % (node["maxItems"], "" if node["maxItems"] == 1 else "s", len(value)),
                "remove the extra items.",
            )
        items = node.get("items")
        if items is None:
            return list(value)
        return [self.check(item, collector, join(path, i), items) for i, item in enumerate(value)]

    def _check_object(self, node, value, collector, path):
        props = node.get("properties", {})
        out = Fields()
        given = []
        for key in value:
            if not isinstance(key, str):
                # No JSON pointer names a key that is not a string: the error goes on the mapping.
                collector.add(path or "/", "has a field named by %s %s; field names are strings." % (kind(key), show(key)), "quote the name.")
                continue
            if key not in props and node.get("additionalProperties", True) is False:
                if control_character(key) is not None or len(key) > 100:
                    # A pointer holding a line break would break the message's line: the error goes on the mapping.
                    message = "has an unknown field %s." % show(key)
                    collector.add(path or "/", message, _known_fields(path or "/", message, props))
                    continue
                guess = difflib.get_close_matches(key, list(props), n=1)
                if guess:
                    fix = "did you mean '%s'?" % guess[0]
                else:
                    fix = _known_fields(join(path, key), "unknown field %s." % show(key), props)
                collector.add(join(path, key), "unknown field %s." % show(key), fix)
                continue
            given.append(key)
            out[key] = self.check(value[key], collector, join(path, key), props.get(key, {}))
        for key in node.get("required", []):
            if key not in value:
                sub = self.resolve(props.get(key, {}))
                what = sub.get("description", "")
                collector.add(join(path, key), "is required but missing.", ("add '%s': %s" % (key, what)).strip())
        for key, sub in props.items():
            if key in out:
                continue
            sub = self.resolve(sub)
            if "default" in sub:
                out[key] = _ungiven(self.check(copy.deepcopy(sub["default"]), collector, join(path, key), sub))
        out.given = frozenset(given)
        return out


def used_keywords(node, found=None):
    """Every keyword the schema uses (for the test that keeps it within SUPPORTED_KEYWORDS)."""
    found = set() if found is None else found
    if isinstance(node, dict):
        for key, sub in node.items():
            found.add(key)
            if key in ("properties", "$defs"):
                for child in sub.values():
                    used_keywords(child, found)
            elif key in ("items",):
                used_keywords(sub, found)
    return found
