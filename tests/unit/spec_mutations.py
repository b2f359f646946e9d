"""A deterministic mutation generator for the spec property test (test_spec_properties.py).

No third-party generator: the seeds are the repository's own valid specs, and every case is one
mutation of one seed at one path, chosen by a seeded ``random.Random``, so a run is fully
reproducible and every case is described by (seed, class, path, variant).

Seeds: the example and lab inventories' ``lbkit_spec`` (Jinja replaced by literals), the schema
examples, the golden specs and ``specs.BASE``.

Classes (``CLASSES``), each applied at every path of every seed where it makes sense (every
mapping key, every list item, every leaf; the document itself for ``document``):

    type       the value replaced by a value of another type
    slip       a mapping where a list is expected and a list where a mapping is expected
    delete     the key or list item removed
    unknown    unknown keys added to a mapping (non-string, empty, odd and near-miss names)
    duplicate  a list item repeated (a whole service, real server, node...), a list doubled
    control    control characters, line breaks, spaces, quotes and syntax characters in strings
    non_ascii  non-ASCII digits, superscripts, letters, emoji, bidirectional marks
    huge       100 kB strings, huge integers, 1e308, nan, inf
    deep       the value nested 1,500 and 3,000 levels deep in lists and in mappings
    document   the whole document replaced by junk

Selection (``select``): tier 1 is every class at every path once (its variant chosen by
rotation, so every variant of a class is used across the run); tier 2 is every variant of every
class at every kind of field (the path with list indices as ``*``) of every seed once; tier 3 is
every other (seed, path, variant). The default run (``default_count``) is tiers 1 and 2; a
larger count adds a seeded sample of tier 3, and beyond all of them cases of two mutations at
once; a smaller count takes a seeded sample of tier 1.
"""

from __future__ import annotations

import copy
import datetime
import glob
import os
import random
import re

import yaml

from .specs import BASE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SECRET = "Vr8pX2kQ"
# The status page's password (8 characters at least).
PASSWORD = "Pw4status-page"
INJECTED = "INJECTEDlbkit directive"
CLASSES = ("type", "slip", "delete", "unknown", "duplicate", "control", "non_ascii", "huge", "deep", "document")

# ---------------------------------------------------------------------------------------------
# Seeds


def _dejinja(node, where):
    """Replace the inventories' Jinja expressions by literals: the VRRP secret by SECRET, the status
    page's password by PASSWORD, the TLS paths ('{{ inventory_dir }}/files/x.pem') by plain relative paths."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "auth_secret" and isinstance(value, str) and "{{" in value:
                out[key] = SECRET
            elif key == "password" and isinstance(value, str) and "{{" in value:
                out[key] = PASSWORD
            else:
                out[key] = _dejinja(value, where + "/" + str(key))
        return out
    if isinstance(node, list):
        return [_dejinja(v, "%s/%d" % (where, i)) for i, v in enumerate(node)]
    if isinstance(node, str) and "{{" in node:
        match = re.match(r"^\{\{\s*\w+\s*\}\}/(.+)$", node)
        if not match:
            raise AssertionError("seed loader: no literal for the Jinja expression %r at %s" % (node, where))
        return match.group(1)
    return node


def _load_yaml(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def load_seeds():
    """[(name, spec)]: every example and lab spec, each a plain, valid spec document."""
    seeds = []
    example = _load_yaml(os.path.join(ROOT, "inventory/example/group_vars/all/lbkit_spec.yml"))
    seeds.append(("inventory-example", _dejinja(example["lbkit_spec"], "")))
    loadmaster = _load_yaml(os.path.join(ROOT, "inventory/example/host_vars/lm-pair/lbkit_spec.yml"))
    seeds.append(("inventory-example-loadmaster", _dejinja(loadmaster["lbkit_spec"], "")))
    lab = _load_yaml(os.path.join(ROOT, "inventory/lab/group_vars/all/lbkit_spec.yml"))
    spec = dict(lab["lbkit_spec"])
    # "{{ lab_layer7_services + (lab_layer4_services if lab_layer4 | bool else []) }}": the lab
    # on a kernel with IPVS, so both lists.
    assert "lab_layer7_services" in spec["virtual_services"], spec["virtual_services"]
    spec["virtual_services"] = copy.deepcopy(lab["lab_layer7_services"]) + copy.deepcopy(lab["lab_layer4_services"])
    seeds.append(("inventory-lab", _dejinja(spec, "")))
    for path in sorted(glob.glob(os.path.join(ROOT, "schemas/examples/*.yml"))):
        seeds.append(("schema-example-" + os.path.basename(path)[: -len(".yml")], _load_yaml(path)))
    for path in sorted(glob.glob(os.path.join(ROOT, "tests/unit/golden/*.spec.yml"))):
        seeds.append(("golden-" + os.path.basename(path)[: -len(".spec.yml")], _load_yaml(path)))
    seeds.append(("specs.BASE", copy.deepcopy(BASE)))
    for name, doc in seeds:
        for _path, value in iter_paths(doc):
            if isinstance(value, str) and "{{" in value:
                raise AssertionError("seed loader: Jinja left in %s: %r" % (name, value))
    return seeds


# ---------------------------------------------------------------------------------------------
# Paths


def iter_paths(doc):
    """[(path, value)] for every node below the root, in document order; a path is a tuple of
    mapping keys and list indices."""
    out = []
    stack = [((), doc)]
    while stack:
        path, node = stack.pop()
        if path:
            out.append((path, node))
        children = []
        if isinstance(node, dict):
            children = [(path + (k,), v) for k, v in node.items()]
        elif isinstance(node, list):
            children = [(path + (i,), v) for i, v in enumerate(node)]
        stack.extend(reversed(children))
    return out


def pointer(path):
    """The JSON pointer (RFC 6901) of a path tuple."""
    if not path:
        return ""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def field_of(path):
    """The kind of field at a path: list indices as '*'."""
    return "/" + "/".join("*" if isinstance(p, int) else str(p) for p in path) if path else "/"


def _transform(node, path, op):
    """A copy of ``node`` with the node at ``path`` replaced by ``op(old)``. Only the containers
    along the path are copied (the rest is shared with the seed, which is never modified); so a
    value nested 3,000 deep is placed without copying it."""
    if not path:
        return op(node)
    key = path[0]
    if isinstance(node, dict):
        new = dict(node)
    else:
        new = list(node)
    # A missing last key is added (a compound case may set a key a first mutation removed).
    child = None if isinstance(node, dict) and key not in node and len(path) == 1 else node[key]
    new[key] = _transform(child, path[1:], op)
    return new


# ---------------------------------------------------------------------------------------------
# Values


def nested_list(depth, value):
    for dummy in range(depth):
        value = [value]
    return value


def nested_dict(depth, value, key="k"):
    for dummy in range(depth):
        value = {key: value}
    return value


class Lazy(object):
    """A value built when the case runs (deep or big values are not kept for every case)."""

    def __init__(self, label, build):
        self.label = label
        self.build = build

    def __repr__(self):
        return self.label


ARABIC_DIGITS = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")
FULLWIDTH_DIGITS = str.maketrans("0123456789", "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19")


def _type_variants(value):
    out = [
        ("null", None),
        ("true", True),
        ("false", False),
        ("0", 0),
        ("-1", -1),
        ("1.5", 1.5),
        ("empty string", ""),
        ("'x'", "x"),
        ("empty list", []),
        ("[value]", [value]),
        ("empty mapping", {}),
        ("{k: value}", {"k": value}),
        # What YAML makes of an unquoted date, and of !!binary / !!set.
        ("date 2024-01-01", datetime.date(2024, 1, 1)),
        ("bytes", b"x"),
        ("set", {"x"}),
    ]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        out.append(("the number as a string", str(value)))
        out.append(("the number as a string with a newline", "%s\n" % value))
    if isinstance(value, str) and value.isdigit():
        out.append(("the numeric string as a number", int(value)))
    return out


def _slip_variants(value):
    """A mapping where a list is expected, a list where a mapping is expected, a scalar where a
    container is expected (the common YAML slips)."""
    out = []
    if isinstance(value, list):
        if value:
            first = value[0]
            out.append(("the first item instead of the list", first))
            if isinstance(first, dict) and first:
                key = next(iter(first))
                out.append(("{first key of first item} instead of the list", {key: first[key]}))
            if all(isinstance(v, dict) for v in value):
                merged = {}
                for item in value:
                    merged.update(item)
                out.append(("the items merged into one mapping", merged))
        out.append(("{0: item, 1: item} instead of the list", dict(enumerate(value))))
        out.append(("a scalar instead of the list", "lb1"))
    elif isinstance(value, dict):
        out.append(("[mapping]", [value]))
        out.append(("[{key: value} per key] (a dash before each key)", [{k: v} for k, v in value.items()]))
        out.append(("the list of keys", list(value)))
        out.append(("the list of values", list(value.values())))
        out.append(("a scalar instead of the mapping", "lb1"))
    return out


UNKNOWN_KEYS = [
    ("key 1", 1, "x"),
    ("key null", None, "x"),
    ("key true", True, "x"),
    ("key 1.5", 1.5, "x"),
    ("key '²'", "\u00b2", "x"),
    ("key ''", "", "x"),
    ("key ' '", " ", "x"),
    ("key '\\n'", "\n", "x"),
    ("key '/~'", "/~", "x"),
    ("key '~1'", "~1", "x"),
    ("key 'unknown_field'", "unknown_field", "x"),
    ("key 'ü'", "\u00fc", "x"),
    ("key with a newline and a directive", "a\n" + INJECTED, "x"),
    ("key 'auth_secret' with a secret", "auth_secret", "Zq9Secret"),
    ("a 100 kB key", Lazy("'A' * 100000", lambda: "A" * 100000), "x"),
]


def _near_miss(key):
    """A plausible typo of a known key."""
    if not isinstance(key, str) or len(key) < 2:
        return None
    return key[:-1] if key.endswith("s") else key + "s"


CONTROL_INSERTS = ["\n", "\r", "\t", "\x00", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", " ", '"', "'", "\\", "#", "!", "{", "}", ";", "$", "`"]
LINE_BREAKS = ["\n", "\r\n", "\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029"]


def _control_variants(value):
    out = [("+ '\\n'", value + "\n")]
    for brk in LINE_BREAKS:
        out.append(("+ %r + directive" % brk, value + brk + INJECTED))
    mid = max(1, len(value) // 2)
    for char in CONTROL_INSERTS:
        out.append(("%r inserted in the middle" % char, value[:mid] + char + value[mid:]))
        if len(value) >= 2:
            # Same length: fits fields with a length limit (a VRRP secret has at most 8).
            out.append(("%r replacing a middle character" % char, value[: mid - 1] + char + value[mid:]))
    out.append(("leading space", " " + value))
    out.append(("trailing space", value + " "))
    out.append(("'\\n}\\n' + directive (leaves the block)", value + "\n}\n" + INJECTED))
    return out


def _non_ascii_variants(value):
    out = [
        ("Arabic-Indic 8080", "\u0668\u0660\u0668\u0660"),
        ("fullwidth 80", "\uff18\uff10"),
        ("superscript two", "\u00b2"),
        ("'ü'", "\u00fc"),
        ("emoji", "\U0001f600"),
        ("right-to-left mark", "\u200f"),
    ]
    if isinstance(value, bool) or value is None:
        return out
    if isinstance(value, int):
        out.append(("the number in Arabic-Indic digits", str(value).translate(ARABIC_DIGITS)))
        out.append(("the number in fullwidth digits", str(value).translate(FULLWIDTH_DIGITS)))
        out.append(("the number with a superscript digit", str(value) + "\u00b2"))
    if isinstance(value, str):
        if any(c.isdigit() for c in value):
            out.append(("digits as Arabic-Indic", value.translate(ARABIC_DIGITS)))
            out.append(("digits as fullwidth", value.translate(FULLWIDTH_DIGITS)))
            out.append(("a superscript digit appended", value + "\u00b2"))
        mid = max(1, len(value) // 2)
        out.append(("'ü' inserted", value[:mid] + "\u00fc" + value[mid:]))
        out.append(("emoji inserted", value[:mid] + "\U0001f600" + value[mid:]))
        out.append(("right-to-left override inserted", value[:mid] + "\u202e" + value[mid:]))
        out.append(("right-to-left mark prepended", "\u200f" + value))
        out.append(("zero-width space inserted", value[:mid] + "\u200b" + value[mid:]))
        out.append(("byte order mark prepended", "\ufeff" + value))
    return out


def _huge_variants(value):
    out = [
        ("'A' * 100000", Lazy("'A' * 100000", lambda: "A" * 100000)),
        ("10**4000", 10**4000),
        ("-10**4000", -(10**4000)),
        ("10**5000", 10**5000),
        ("2**64", 2**64),
        ("2**63", 2**63),
        ("1e308", 1e308),
        ("-1e308", -1e308),
        ("nan", float("nan")),
        ("inf", float("inf")),
        ("-inf", float("-inf")),
        ("'9' * 5000", Lazy("'9' * 5000", lambda: "9" * 5000)),
    ]
    if isinstance(value, str):
        out.append(("value + 'A' * 100000", Lazy("value + 'A' * 100000", lambda: value + "A" * 100000)))
        out.append(("value + ' 9' * 20000", Lazy("value + ' 9' * 20000", lambda: value + " 9" * 20000)))
    return out


def _deep_variants(value):
    return [
        ("value in 1500 lists", Lazy("value nested in 1500 lists", lambda: nested_list(1500, value))),
        ("value in 3000 lists", Lazy("value nested in 3000 lists", lambda: nested_list(3000, value))),
        ("value in 1500 mappings", Lazy("value nested in 1500 mappings {k: ...}", lambda: nested_dict(1500, value))),
        ("value in 3000 mappings", Lazy("value nested in 3000 mappings {k: ...}", lambda: nested_dict(3000, value))),
    ]


def _document_variants(seed):
    return [
        ("null", None),
        ("empty list", []),
        ("empty string", ""),
        ("'text'", "text"),
        ("5", 5),
        ("true", True),
        ("1.5", 1.5),
        ("nan", float("nan")),
        ("10**4000", 10**4000),
        ("a list of specs", [seed, seed]),
        ("[spec]", [seed]),
        ("{lbkit_spec: spec} (the whole variable file)", {"lbkit_spec": seed}),
        ("a mapping with only junk keys", {1: "x", None: "y", False: "z", "": "w", " ": "v", "\n": "u", "\u00b2": "t", "/~": "s"}),
        ("a mapping with the secret under a junk key", {"junk": {"auth_secret": SECRET}}),
        ("the spec in 1500 lists", Lazy("the spec nested in 1500 lists", lambda: nested_list(1500, seed))),
        ("the spec in 3000 lists", Lazy("the spec nested in 3000 lists", lambda: nested_list(3000, seed))),
        ("the spec in 3000 mappings", Lazy("the spec nested in 3000 mappings {cluster: ...}", lambda: nested_dict(3000, seed, "cluster"))),
        (
            "a mapping nested 3000 deep under virtual_services",
            Lazy("{cluster: ..., virtual_services: 3000 nested lists}", lambda: dict(seed, virtual_services=nested_list(3000, {}))),
        ),
        ("'A' * 100000", Lazy("'A' * 100000", lambda: "A" * 100000)),
        ("bytes", b"cluster"),
        ("the YAML text instead of the data", yaml.safe_dump(seed)),
    ]


# ---------------------------------------------------------------------------------------------
# Cases


class Mutation(object):
    """One mutation of one seed: ``apply()`` builds the mutated document."""

    __slots__ = ("seed", "doc", "klass", "path", "variant", "op", "arg", "then")

    def __init__(self, seed, doc, klass, path, variant, op, arg=None):
        self.seed = seed
        self.doc = doc
        self.klass = klass
        self.path = path
        self.variant = variant
        self.op = op  # "set", "delete", "addkey", "dupitem", "root"
        self.arg = arg
        self.then = None  # a second mutation of the same seed (compound cases)

    @property
    def field(self):
        return field_of(self.path)

    def value(self):
        """The value the mutation writes (built now when lazy)."""
        arg = self.arg
        if self.op == "addkey":
            key, value = arg
            key = key.build() if isinstance(key, Lazy) else key
            value = value.build() if isinstance(value, Lazy) else value
            return key, value
        return arg.build() if isinstance(arg, Lazy) else arg

    def apply(self, doc=None):
        doc = self.doc if doc is None else doc
        out = self._apply(doc)
        if self.then is not None:
            out = self.then._apply(out)
        return out

    def _apply(self, doc):
        if self.op == "root":
            return self.value()
        if self.op == "set":
            value = self.value()
            return _transform(doc, self.path, lambda old: value)
        if self.op == "delete":
            parent, key = self.path[:-1], self.path[-1]

            def delete(node):
                new = dict(node) if isinstance(node, dict) else list(node)
                if key in (node if isinstance(node, dict) else range(len(node))):
                    del new[key]
                return new

            return _transform(doc, parent, delete)
        if self.op == "addkey":
            key, value = self.value()

            def add(node):
                new = dict(node)
                new[key] = value
                return new

            return _transform(doc, self.path, add)
        if self.op == "dupitem":
            parent, index = self.path[:-1], self.path[-1]

            def dup(node):
                new = list(node)
                if index < len(node):
                    new.insert(index + 1, copy.deepcopy(node[index]))
                return new

            return _transform(doc, parent, dup)
        raise ValueError(self.op)

    def describe(self):
        """Seed, class, path and value: enough to rebuild the case (the test's LBKIT_PROPERTY_FILTER)."""
        text = "seed=%s class=%s path=%s variant=%s value=%s" % (
            self.seed,
            self.klass,
            pointer(self.path) or "(document)",
            self.variant,
            self._shown_value(),
        )
        if self.then is not None:
            text += " AND " + self.then.describe()
        return text

    def _shown_value(self):
        if self.op == "delete":
            return "(removed)"
        if self.op == "dupitem":
            return "(the item repeated after itself)"
        if self.op == "addkey":
            return "{%s: %s}" % (short_repr(self.arg[0], 100), short_repr(self.arg[1], 100))
        return short_repr(self.arg, 200)

    def key(self):
        return (self.seed, self.klass, pointer(self.path), self.variant)


def short_repr(value, limit=200):
    """repr of ``value`` cut at ``limit`` characters; safe for values nested thousands deep."""
    parts = []
    size = [0]

    def emit(text):
        parts.append(text)
        size[0] += len(text)

    def walk(node, depth):
        if size[0] > limit:
            return
        if isinstance(node, Lazy):
            emit(node.label)
        elif depth > 40:
            emit("...")
        elif isinstance(node, dict):
            emit("{")
            for i, (k, v) in enumerate(node.items()):
                if size[0] > limit:
                    break
                if i:
                    emit(", ")
                walk(k, depth + 1)
                emit(": ")
                walk(v, depth + 1)
            emit("}")
        elif isinstance(node, (list, tuple)):
            emit("[")
            for i, v in enumerate(node):
                if size[0] > limit:
                    break
                if i:
                    emit(", ")
                walk(v, depth + 1)
            emit("]")
        elif isinstance(node, int) and not isinstance(node, bool) and node.bit_length() > 200:
            emit("%s(an integer of about %d digits)" % ("-" if node < 0 else "", int(node.bit_length() * 0.30103) + 1))
        elif isinstance(node, str) and len(node) > limit:
            emit(repr(node[:limit]) + "...(%d chars)" % len(node))
        else:
            emit(repr(node))

    walk(value, 0)
    text = "".join(parts)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _seed_cases(name, doc):
    """{class: [[Mutation, ...] per path]} for one seed: every variant of every class at every path."""
    by_class = {k: [] for k in CLASSES}
    if isinstance(doc, dict):
        # Unknown keys at the document root too.
        by_class["unknown"].append([Mutation(name, doc, "unknown", (), label, "addkey", (key, value)) for label, key, value in UNKNOWN_KEYS])
    for path, value in iter_paths(doc):

        def group(klass, variants, op="set"):
            by_class[klass].append([Mutation(name, doc, klass, path, label, op, v) for label, v in variants])

        group("type", _type_variants(value))
        slips = _slip_variants(value)
        if slips:
            group("slip", slips)
        group("delete", [("removed", None)], op="delete")
        if isinstance(value, dict):
            unknown = list(UNKNOWN_KEYS)
            for known in value:
                miss = _near_miss(known)
                if miss and miss not in value:
                    unknown.append(("near-miss key %r" % miss, miss, value[known]))
                    break
            by_class["unknown"].append([Mutation(name, doc, "unknown", path, label, "addkey", (k, v)) for label, k, v in unknown])
        dups = [Mutation(name, doc, "duplicate", path, "list item repeated", "dupitem")] if isinstance(path[-1], int) else []
        if isinstance(value, list) and value:
            dups.append(Mutation(name, doc, "duplicate", path, "list doubled", "set", value + value))
        if dups:
            by_class["duplicate"].append(dups)
        if isinstance(value, str):
            group("control", _control_variants(value))
        group("non_ascii", _non_ascii_variants(value))
        group("huge", _huge_variants(value))
        group("deep", _deep_variants(value))
    by_class["document"].append([Mutation(name, doc, "document", (), label, "root", v) for label, v in _document_variants(doc)])
    return by_class


def all_cases(seeds):
    """(tier1, tier2, tier3): lists of Mutation, disjoint, in a fixed order."""
    tier1, rest = [], []
    rotation = {}
    for name, doc in seeds:
        for klass, groups in _seed_cases(name, doc).items():
            for variants in groups:
                # Rotate through the class's variants from path to path, so each is used.
                start = rotation.get(klass, 0)
                rotation[klass] = start + 1
                pick = start % len(variants)
                tier1.append(variants[pick])
                rest.extend(v for i, v in enumerate(variants) if i != pick)
    seen = set((m.seed, m.klass, m.field, m.variant) for m in tier1)
    tier2, tier3 = [], []
    for m in rest:
        k = (m.seed, m.klass, m.field, m.variant)
        if k in seen:
            tier3.append(m)
        else:
            seen.add(k)
            tier2.append(m)
    return tier1, tier2, tier3


def select(seeds, count, rng_seed=20240601):
    """``count`` cases: tiers 1, 2, then a seeded sample of tier 3, then compound cases."""
    rng = random.Random(rng_seed)
    tier1, tier2, tier3 = all_cases(seeds)
    if count <= len(tier1):
        picked = sorted(rng.sample(range(len(tier1)), count))
        return [tier1[i] for i in picked]
    out = list(tier1)
    for tier in (tier2, tier3):
        room = count - len(out)
        if room <= 0:
            break
        if room >= len(tier):
            out.extend(tier)
        else:
            picked = sorted(rng.sample(range(len(tier)), room))
            out.extend(tier[i] for i in picked)
    # Beyond every single mutation: two at once, at unrelated paths of one seed (no deep,
    # huge or document mutations: they are whole findings of their own).
    by_seed = {}
    for m in tier1 + tier2 + tier3:
        if m.klass not in ("deep", "huge", "document"):
            by_seed.setdefault(m.seed, []).append(m)
    names = sorted(by_seed)
    while len(out) < count:
        group = by_seed[rng.choice(names)]
        first, second = rng.choice(group), rng.choice(group)
        if first.path[: len(second.path)] == second.path or second.path[: len(first.path)] == first.path:
            continue
        compound = Mutation(first.seed, first.doc, first.klass, first.path, first.variant, first.op, first.arg)
        compound.then = second
        try:
            compound.apply()
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        out.append(compound)
    return out


def default_count(seeds):
    """Tiers 1 and 2 in full (every class at every path, every variant at every kind of field
    of every seed), and at least 20,000 cases."""
    tier1, tier2, dummy = all_cases(seeds)
    return max(20000, len(tier1) + len(tier2))


if __name__ == "__main__":
    _seeds = load_seeds()
    _t1, _t2, _t3 = all_cases(_seeds)
    print("default count %d" % default_count(_seeds))
    print(
        "seeds %d, paths %d, tier1 %d, tier2 %d, tier3 %d" % (len(_seeds), sum(len(iter_paths(d)) for dummy, d in _seeds), len(_t1), len(_t2), len(_t3))
    )
