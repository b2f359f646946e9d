# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Structural validation and defaults, driven by the schema in ``schema.py``.

A deliberately small interpreter of the JSON Schema keywords the spec's schema uses, so the
model needs no third-party library on the appliance and cannot disagree with the schema
file editors and CI use. It reports every problem (not only the first) with its path, and
returns a copy of the data with the schema's defaults filled in.
"""

from __future__ import annotations

import copy
import difflib
import re

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import join

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

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "boolean": "true or false",
    "number": "a number",
}


def _json_type(value):
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
    if value is None:
        return "null"
    return type(value).__name__


def _matches_type(value, wanted):
    actual = _json_type(value)
    if actual == wanted:
        return True
    return wanted == "number" and actual == "integer"


def _describe(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


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
        """Return ``value`` with defaults filled in; add each problem to ``collector``."""
        node = self.resolve(self.root if node is None else node)
        types = node.get("type")
        if types is not None:
            wanted = types if isinstance(types, list) else [types]
            if not any(_matches_type(value, t) for t in wanted):
                names = " or ".join(_TYPE_NAMES.get(t, t) for t in wanted)
                # writeOnly marks secrets: their value never appears in a message.
                shown = "" if node.get("writeOnly") else " " + _describe(value)
                collector.add(
                    path,
                    "must be %s, not %s%s." % (names, _TYPE_NAMES.get(_json_type(value), _json_type(value)), shown),
                    "write %s here." % names,
                )
                return value
        if "enum" in node and value not in node["enum"]:
            choices = ", ".join(str(c) for c in node["enum"])
            guess = difflib.get_close_matches(str(value), [str(c) for c in node["enum"]], n=1)
            fix = "did you mean %s? " % guess[0] if guess else ""
            collector.add(path, "%s is not a valid choice." % _describe(value), "%suse one of: %s." % (fix, choices))
            return value
        kind = _json_type(value)
        if kind == "string":
            self._check_string(node, value, collector, path)
        elif kind in ("integer", "number"):
            self._check_number(node, value, collector, path)
        elif kind == "array":
            return self._check_array(node, value, collector, path)
        elif kind == "object":
            return self._check_object(node, value, collector, path)
        return value

    @staticmethod
    def _check_string(node, value, collector, path):
        if "minLength" in node and len(value) < node["minLength"]:
            collector.add(
                path,
                "must not be empty." if node["minLength"] == 1 else "must be at least %d characters long." % node["minLength"],
                "give a value, or remove the field.",
            )
        if "maxLength" in node and len(value) > node["maxLength"]:
            collector.add(path, "must be at most %d characters long." % node["maxLength"], "shorten it.")
        if "pattern" in node and not re.search(node["pattern"], value):
            example = node.get("examples", [None])[0]
            fix = "write it like %r." % (example,) if isinstance(example, str) else "see the field in docs/spec-reference.md."
            collector.add(path, "%s is not in the expected form." % _describe(value), fix)

    @staticmethod
    def _check_number(node, value, collector, path):
        low, high = node.get("minimum"), node.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            if low is not None and high is not None:
                collector.add(path, "%s is out of range." % value, "use a value from %s to %s." % (low, high))
            elif low is not None:
                collector.add(path, "%s is too small." % value, "use %s or more." % low)
            else:
                collector.add(path, "%s is too large." % value, "use %s or less." % high)

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
        out = {}
        for key in value:
            if not isinstance(key, str):
                collector.add(join(path, str(key)), "field names must be strings, not %s." % _describe(key), "quote the name.")
                continue
            if key not in props and node.get("additionalProperties", True) is False:
                guess = difflib.get_close_matches(key, list(props), n=1)
                if guess:
                    fix = "did you mean '%s'?" % guess[0]
                else:
                    fix = "remove it; known fields here: %s." % ", ".join(sorted(props))
                collector.add(join(path, key), "unknown field '%s'." % key, fix)
                continue
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
                out[key] = self.check(copy.deepcopy(sub["default"]), collector, join(path, key), sub)
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
