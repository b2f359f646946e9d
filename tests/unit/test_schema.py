"""The schema file, the model and the examples agree."""

import copy
import glob
import json
import os
import re

import jsonschema
import pytest
import yaml

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import Collector
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import check_spec
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.schema import SCHEMA
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.structure import SUPPORTED_KEYWORDS, StructureChecker, used_keywords

from .specs import mutate
from .test_rules import FAILING

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA_FILE = os.path.join(ROOT, "schemas", "lbkit-spec.schema.json")


def _properties(node, path="", seen=None):
    """Every property schema in the tree, with its dotted path."""
    for key, sub in node.get("properties", {}).items():
        here = path + "." + key if path else key
        yield here, sub
        target = SCHEMA["$defs"][sub["$ref"].split("/")[-1]] if "$ref" in sub else sub
        yield from _properties(target, here)
        items = target.get("items")
        if isinstance(items, dict):
            items = SCHEMA["$defs"][items["$ref"].split("/")[-1]] if "$ref" in items else items
            yield from _properties(items, here + "[]")


def _resolve(sub):
    return SCHEMA["$defs"][sub["$ref"].split("/")[-1]] if "$ref" in sub else sub


def test_schema_file_is_generated_from_the_model():
    with open(SCHEMA_FILE) as handle:
        assert json.load(handle) == SCHEMA, "run: python scripts/gen_schema.py"


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_uses_only_keywords_the_model_implements():
    assert used_keywords(SCHEMA) <= SUPPORTED_KEYWORDS


def test_every_object_forbids_unknown_fields():
    objects = [SCHEMA] + list(SCHEMA["$defs"].values())
    for node in objects:
        if node.get("type") == "object":
            assert node.get("additionalProperties") is False, node.get("description")


PROPS = list(_properties(SCHEMA))


@pytest.mark.parametrize("path,sub", PROPS, ids=[p for p, dummy in PROPS])
def test_every_field_has_description_and_example(path, sub):
    target = _resolve(sub)
    assert target.get("description"), path
    assert target.get("examples"), path


@pytest.mark.parametrize("path,sub", PROPS, ids=[p for p, dummy in PROPS])
def test_field_examples_pass_schema_and_model_structure(path, sub):
    root = dict(SCHEMA)
    checker = StructureChecker(root)
    for example in _resolve(sub)["examples"]:
        if isinstance(example, str) and "{{" in example:
            continue  # a Jinja placeholder for a vaulted value
        node = dict(sub, **{"$defs": SCHEMA["$defs"]})
        jsonschema.Draft202012Validator(node).validate(example)
        col = Collector()
        checker.check(example, col, "", sub)
        assert not col.errors, col.errors


EXAMPLE_FILES = sorted(glob.glob(os.path.join(ROOT, "schemas", "examples", "*.yml")))


def _doc_examples():
    """YAML blocks in docs/ and README.md that hold a whole spec."""
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))) + [os.path.join(ROOT, "README.md")]:
        if not os.path.exists(path):
            continue
        with open(path) as handle:
            text = handle.read()
        for i, block in enumerate(re.findall(r"```yaml\n(.*?)```", text, re.S)):
            data = yaml.safe_load(block)
            if isinstance(data, dict) and "lbkit_spec" in data:
                data = data["lbkit_spec"]
            if isinstance(data, dict) and "cluster" in data and "virtual_services" in data:
                out.append(("%s#%d" % (os.path.relpath(path, ROOT), i), data))
    return out


DOC_EXAMPLES = _doc_examples()


def test_examples_exist():
    assert len(EXAMPLE_FILES) >= 2
    assert DOC_EXAMPLES, "docs/ must show at least one whole spec"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[os.path.basename(p) for p in EXAMPLE_FILES])
def test_example_files_pass_schema_and_model(path):
    with open(path) as handle:
        text = handle.read()
    assert text.startswith("# yaml-language-server: $schema=../lbkit-spec.schema.json"), "editors need the modeline"
    data = yaml.safe_load(text)
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    spec, errors = check_spec(data)
    assert errors == []


@pytest.mark.parametrize("name,data", DOC_EXAMPLES, ids=[n for n, dummy in DOC_EXAMPLES])
def test_doc_examples_pass_schema_and_model(name, data):
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    spec, errors = check_spec(data)
    assert errors == [], name


def _flagged(paths, path):
    return any(path == p or path.startswith(p.rstrip("/") + "/") or p.startswith(path.rstrip("/") + "/") for p in paths)


@pytest.mark.parametrize("ops", [c[1] for c in FAILING], ids=[c[0] for c in FAILING])
def test_model_flags_everything_the_schema_flags(ops):
    data = mutate(ops)
    model_paths = [e.path for e in check_spec(copy.deepcopy(data))[1]]
    for err in jsonschema.Draft202012Validator(SCHEMA).iter_errors(data):
        path = "/" + "/".join(str(p) for p in err.absolute_path)
        assert _flagged(model_paths, path), "schema flags %s (%s) but the model does not" % (path, err.message)


def test_generated_files_are_current():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_schema", os.path.join(ROOT, "scripts", "gen_schema.py"))
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    with open(os.path.join(ROOT, "docs", "spec-reference.md")) as handle:
        assert handle.read() == gen.reference_md(), "run: python scripts/gen_schema.py"
    with open(SCHEMA_FILE) as handle:
        assert handle.read() == gen.schema_json(), "run: python scripts/gen_schema.py"
    with open(os.path.join(ROOT, "README.md")) as readme, open(os.path.join(ROOT, "docs", "engine-mapping.md")) as mapping:
        text = readme.read()
        assert text == gen.readme(text, mapping.read()), "run: python scripts/gen_schema.py (README.md's reference sections)"
