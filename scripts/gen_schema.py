"""Writes schemas/lbkit-spec.schema.json and docs/spec-reference.md from the canonical
schema in plugins/module_utils/_spec/schema.py. `--check` exits 1 when they are stale."""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "collections"))

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.schema import SCHEMA  # noqa: E402

SCHEMA_FILE = os.path.join(ROOT, "schemas", "lbkit-spec.schema.json")
REFERENCE_FILE = os.path.join(ROOT, "docs", "spec-reference.md")


def schema_json():
    return json.dumps(SCHEMA, indent=2, sort_keys=False) + "\n"


def _resolve(node):
    if "$ref" in node:
        target = SCHEMA
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        return target
    return node


def _type(node):
    t = node.get("type", "")
    text = " or ".join(t) if isinstance(t, list) else t
    if "enum" in node:
        text += ": " + ", ".join("`%s`" % v for v in node["enum"])
    if "minimum" in node or "maximum" in node:
        text += " (%s to %s)" % (node.get("minimum", ""), node.get("maximum", ""))
    return text


def _cell(value):
    return str(value).replace("|", "\\|").replace("\n", " ")


def _rows(node, path, rows, required=()):
    node = _resolve(node)
    for key, sub in node.get("properties", {}).items():
        sub = _resolve(sub)
        here = "%s.%s" % (path, key) if path else key
        default = ""
        if "default" in sub and sub["default"] not in ({}, []):
            default = "`%s`" % json.dumps(sub["default"])
        elif key in node.get("required", []):
            default = "required"
        example = json.dumps(sub.get("examples", [""])[0])
        rows.append("| `%s` | %s | %s | %s | `%s` |" % (here, _cell(_type(sub)), default, _cell(sub.get("description", "")), _cell(example)))
        if sub.get("type") == "object":
            _rows(sub, here, rows)
        elif sub.get("type") == "array" and "items" in sub:
            items = _resolve(sub["items"])
            if items.get("type") == "object":
                _rows(items, here + "[]", rows)


def reference_md():
    rows = []
    _rows(SCHEMA, "", rows)
    head = [
        "# Spec reference",
        "",
        "Generated from the schema by `python scripts/gen_schema.py`; do not edit by hand (a unit test keeps it in sync).",
        "The schema file for editors is [`schemas/lbkit-spec.schema.json`](../schemas/lbkit-spec.schema.json);",
        "[spec.md](spec.md) explains the spec with examples and lists the rules the model checks.",
        "",
        "| field | type | default | description | example |",
        "|---|---|---|---|---|",
    ]
    return "\n".join(head + rows) + "\n"


def main():
    outputs = {SCHEMA_FILE: schema_json(), REFERENCE_FILE: reference_md()}
    stale = []
    for path, text in outputs.items():
        current = open(path).read() if os.path.exists(path) else None
        if current != text:
            stale.append(os.path.relpath(path, ROOT))
            if "--check" not in sys.argv:
                with open(path, "w") as handle:
                    handle.write(text)
    if "--check" in sys.argv and stale:
        print("stale (run: python scripts/gen_schema.py): " + ", ".join(stale))
        return 1
    for path in stale:
        print("wrote " + path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
