"""Property test of the spec validation and the renderers, over deterministic mutations of every
example and lab spec (tests/unit/spec_mutations.py generates them; no third-party generator).

Per case (one mutated document):

1. ``check_spec(data)`` returns ``(spec, errors)`` and raises nothing.
2. Every error's path is a JSON pointer (RFC 6901) to a location in the input, or to a missing
   key of a mapping that is in the input ("required but missing"); "/" or "" for the document.
3. Every message (``str(error)``, the message and the fix) is at most 300 characters, has a
   fix, and shows no Python internals (exception names, reprs, type names, None/True/False).
4. No message shows a secret: a string of 3 or more characters under an ``auth_secret`` key
   anywhere in the input (or the seed's secret wherever a mutation moved it, as when a slip
   turns the ha mapping into a list), nor the repr of a mapping holding one.
5. An accepted spec renders (keepalived.conf for every node, haproxy.cfg; for a LoadMaster
   cluster, the JSON of the API calls that converge an empty appliance), and no spec value
   starts a line or splits a word the engine reads as one: the rendered text is cut into token
   spans by each engine's grammar, and every occurrence of every string of the spec that is
   written verbatim must lie within one span; no line (split on "\n", and by
   ``str.splitlines``) starts with "INJECTEDlbkit".
6. An accepted spec holds no string with a control or line-separator character (Unicode Cc, Zl,
   Zp), and no number field holds a non-ASCII digit (such as '٨٠٨٠' or '８０' as a port).

All cases run; the failures are grouped by category (the exception's type and where it was
raised, or the kind of assertion) and reported once at the end, up to 5 examples a category.

Environment: LBKIT_PROPERTY_CASES sets the number of cases (default: tiers 1 and 2 of
spec_mutations, every class at every path and every variant at every kind of field of every
seed, 35,582 today); LBKIT_PROPERTY_JOBS the number of worker processes (default: the CPU
count); LBKIT_PROPERTY_FILTER runs only the cases whose description contains the given text,
for instance 'seed=golden-vrrp2-auth class=slip path=/cluster/ha ' from a reported case.
"""

import bisect
import ipaddress
import json
import os
import re
import sys
import time
import traceback

import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine import loadmaster
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import SpecInvalid
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import haproxy, keepalived
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import check_spec

from . import spec_mutations
from .spec_mutations import pointer


def render_engines(spec):
    """{label: rendered text} for an accepted spec: haproxy.cfg (when the spec has a layer-7
    service) and keepalived.conf for every node whose interfaces fit the spec.

    The one place that knows the render API. Each node has its heartbeat address on the
    external interface (or eth0), and the internal interface; a node whose interfaces do not
    fit (SpecInvalid, with the paths) is not rendered, and that is not a failure. A renderer's
    refusal of a value (UnsafeValue) is: the model must not accept what cannot be written.
    """
    if spec.cluster.engine == "loadmaster":
        return render_loadmaster(spec)
    out = {}
    cfg = haproxy.render(spec)
    if cfg is not None:
        out["haproxy.cfg"] = cfg.content
    cluster = spec.cluster
    for node in cluster.nodes:
        external = cluster.interfaces.external or "eth0"
        interfaces = {external: [ipaddress.ip_interface(str(node.heartbeat_address))] if node.heartbeat_address is not None else []}
        if cluster.interfaces.internal:
            interfaces.setdefault(cluster.interfaces.internal, [])
        try:
            out["keepalived.conf@%s" % node.host] = keepalived.render(spec, node.host, interfaces).content
        except SpecInvalid:
            pass
    return out


def render_loadmaster(spec):
    """{"loadmaster-api": the JSON bodies of the calls} that converge an empty LoadMaster (of a
    firmware, HA mode and shared addresses that fit the spec) to an accepted spec."""
    pair = spec.cluster.ha.mode == "pair"
    interfaces = {}
    for fip in spec.cluster.floating_ips:
        name = getattr(spec.cluster.interfaces, fip.side)
        if name is not None:
            interfaces[loadmaster.interface_number(name)] = ("", str(fip.address.ip)) if pair else (str(fip.address.ip), "")
    current = loadmaster.Current(version="7.2.60.0", services={}, foreign={}, certificates=(), ha={"hamode": 1 if pair else 0}, interfaces=interfaces)
    tls = dict((vs.name, {"certificate": "C", "key": "K"}) for vs in spec.virtual_services if vs.layer7 is not None and vs.layer7.tls is not None)
    plan = loadmaster.plan(loadmaster.desired(spec, "lm", current, tls), current)
    return {"loadmaster-api": "\n".join(json.dumps(dict(op.arguments(), cmd=op.cmd)) for op in plan.operations)}


def engine_of(label):
    if label.startswith("loadmaster"):
        return "loadmaster"
    return "haproxy" if label.startswith("haproxy") else "keepalived"


MAX_MESSAGE = 300
EXAMPLES = 5

# ---------------------------------------------------------------------------------------------
# Token spans of the engines' grammars

_WS = " \t\r\x0b\x0c"  # C isspace(), less the newline that ends a line
KEEPALIVED_TOKEN = re.compile(
    r'"[^"\n\x00]*"?'  # a quoted string; it does not span lines
    r"|[#!][^\n]*"  # a comment, to the end of the line
    r"|\x00[^\n]*"  # C reads no further than a NUL
    r"|[{}]"  # braces are words of their own
    r"|(?:[^" + _WS + r'\n\x00"#!{}\\]|\\[#!]|\\(?=[^#!]))+'  # a backslash escapes # and ! (decomment())
)
HAPROXY_TOKEN = re.compile(
    r"\#[^\n]*"  # a comment, to the end of the line
    r"|\x00[^\n]*"
    r"|(?:"
    r"[^" + _WS + r"\n\x00'\"\\\#]+"  # plain characters
    r"|\\[^\n\x00]"  # a backslash escapes the next character
    r"|'[^'\n\x00]*'?"  # single quotes: no escapes
    r'|"(?:[^"\\\n\x00]|\\[^\n\x00])*"?'  # double quotes: backslash escapes
    r")+"
)
# The API's JSON: a string literal (escapes included) is one token.
LOADMASTER_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[^\s"{}\[\],:]+|[{}\[\],:]')
# A string without any of these cannot cross the boundary of two spans (every boundary is at
# one of them), so only strings holding one need their occurrences located.
_DELIMITERS = frozenset(_WS + "\n\x00\"'#!{}\\")


def token_spans(text, engine):
    grammar = {"haproxy": HAPROXY_TOKEN, "loadmaster": LOADMASTER_TOKEN}.get(engine, KEEPALIVED_TOKEN)
    return [m.span() for m in grammar.finditer(text)]


def split_occurrences(text, spans, needle):
    """Start offsets of the occurrences of ``needle`` that do not lie within one span."""
    starts = [s for s, dummy in spans]
    bad = []
    at = text.find(needle)
    while at != -1:
        i = bisect.bisect_right(starts, at) - 1
        if i < 0 or spans[i][1] < at + len(needle):
            bad.append(at)
        at = text.find(needle, at + 1)
    return bad


# ---------------------------------------------------------------------------------------------
# Checks of one case

FORBIDDEN = [
    "Traceback",
    "invalid literal",
    "object has no attribute",
    "<class",
    "NoneType",
    "dict object",
    "list object",
    "str object",
    "base 10",
    "KeyError",
    "TypeError",
    "ValueError",
    "AttributeError",
    "IndexError",
    "RecursionError",
    "OverflowError",
    "int()",
    "float()",
    "unhashable",
    "not subscriptable",
    "not iterable",
    "ipaddress",
    "IPv4Address(",
    "IPv6Address(",
    "IPv4Interface(",
    "IPv6Interface(",
    "IPv4Network(",
    "object at 0x",
    "datetime.",
    "Exceeds the limit",
    "maximum recursion depth",
    "<built-in",
]
# Python's names of its types ("... not str."), and its spelling of null, true and false.
PYTHON_TYPE_NAME = re.compile(r"\bnot (str|int|float|bool|dict|list|tuple|set|bytes|date|NoneType)\b")
PYTHON_CONSTANT = re.compile(r"(?<![\w'\"])(None|True|False)(?![\w'\"])")

_MISSING = object()


class Failures(object):
    """Failures of one case: (category, what failed), one per category."""

    def __init__(self):
        self.items = {}

    def add(self, category, detail):
        # A category never holds a whole spec value (a 100 kB name, say): it is a heading.
        self.items.setdefault(category if len(category) <= 200 else category[:197] + "...", detail)


def template(message):
    """The message with its quoted values and numbers masked: the category of a message."""
    text = re.sub(r"'(?:[^'\\\n]|\\.)*(?:'|$)", "'…'", message)
    text = re.sub(r'"(?:[^"\\\n]|\\.)*(?:"|$)', '"…"', text)
    text = re.sub(r"\d+", "N", text)
    return text[:70] + ("…" if len(text) > 70 else "")


def exception_category(stage, exc):
    """'stage raised Type at file.py:line in function' (the innermost frame of the product)."""
    frames = traceback.extract_tb(exc.__traceback__)
    product = [f for f in frames if os.sep + "plugins" + os.sep in f.filename]
    frame = (product or frames or [None])[-1]
    where = "%s:%d in %s" % (os.path.basename(frame.filename), frame.lineno, frame.name) if frame else "?"
    return "%s raised %s at %s" % (stage, type(exc).__name__, where)


def _key_for(mapping, token):
    if token in mapping:
        return token
    for key in mapping:
        if not isinstance(key, str) and str(key) == token:
            return key
    return _MISSING


def pointer_problem(path, doc):
    """Why ``path`` is not a JSON pointer into ``doc`` (or to a missing key of a mapping in
    it), or None."""
    if not isinstance(path, str):
        return "the path is not a string: %s" % spec_mutations.short_repr(path, 80)
    if path in ("", "/"):
        return None
    if not path.startswith("/"):
        return "not a JSON pointer (no leading '/')"
    node = doc
    tokens = path[1:].split("/")
    for i, raw in enumerate(tokens):
        if re.search(r"~(?![01])", raw):
            return "not a JSON pointer (a '~' not followed by 0 or 1)"
        token = raw.replace("~1", "/").replace("~0", "~")
        last = i == len(tokens) - 1
        if isinstance(node, dict):
            key = _key_for(node, token)
            if key is _MISSING:
                return None if last else "no %r at %s in the input" % (token, pointer_prefix(tokens, i))
            node = node[key]
        elif isinstance(node, (list, tuple)):
            if not re.match(r"^(0|[1-9][0-9]*)$", token) or int(token) >= len(node):
                return "no item %r in the list at %s" % (token, pointer_prefix(tokens, i))
            node = node[int(token)]
        else:
            return "%s is not a mapping or a list in the input" % pointer_prefix(tokens, i)
    return None


def pointer_prefix(tokens, i):
    return "/" + "/".join(tokens[:i]) if i else "the document"


def secrets_in(doc):
    """Every string of 3 or more characters under an auth_secret key, anywhere in the input."""
    out = set()
    pending = [(doc, False)]
    while pending:
        node, secret = pending.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                pending.append((value, secret or key == "auth_secret"))
        elif isinstance(node, (list, tuple)):
            pending.extend((v, secret) for v in node)
        elif secret and isinstance(node, str) and len(node) >= 3:
            out.add(node)
    return out


def _secret_forms(secret):
    forms = {secret, repr(secret)[1:-1]}
    if len(secret) > 12:
        forms.update(f[:12] for f in list(forms))
    return forms


def string_leaves(doc):
    """[(path, string)] of an accepted spec; the values the spec lists with spaces or commas
    (extra_ports, expected_codes) as their separate items."""
    out = []
    pending = [((), doc)]
    while pending:
        path, node = pending.pop()
        if isinstance(node, dict):
            pending.extend((path + (k,), v) for k, v in node.items())
        elif isinstance(node, list):
            pending.extend((path + (i,), v) for i, v in enumerate(node))
        elif isinstance(node, str) and node:
            if any(p in ("extra_ports", "expected_codes") for p in path if isinstance(p, str)):
                out.extend((path, part) for part in re.split(r"[\s,]+", node) if part)
            else:
                out.append((path, node))
    return out


def _line_of(text, at):
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    return text[start : end if end != -1 else len(text)]


def head(message, words=4):
    """The first words of a message, its values masked: names the check that wrote it."""
    return " ".join(template(message if isinstance(message, str) else "").split()[:words])[:60]


def _strings(doc):
    out = set()
    pending = [doc]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            pending.extend(node.keys())
            pending.extend(node.values())
        elif isinstance(node, (list, tuple, set)):
            pending.extend(node)
        elif isinstance(node, str):
            out.add(node)
    return out


def check_messages(errors, doc, failures, seed_secrets=()):
    """Assertions 2 to 4. ``seed_secrets``: the unmutated spec's secrets, still secrets when a
    mutation moved them (a slip that turns the ha mapping into a list keeps the secret in it)."""
    secrets = secrets_in(doc)
    if seed_secrets:
        strings = _strings(doc)
        secrets |= set(s for s in seed_secrets if s in strings)
    forms = set()
    for secret in secrets:
        forms |= _secret_forms(secret)
    for error in errors:
        path = getattr(error, "path", _MISSING)
        message = getattr(error, "message", _MISSING)
        fix = getattr(error, "fix", _MISSING)
        try:
            whole = str(error)
        except Exception as exc:  # noqa: BLE001 - reported as a failure
            failures.add(exception_category("str(error)", exc), "%s: %s" % (type(exc).__name__, str(exc)[:200]))
            continue
        shown = "%r" % whole[:300]
        what = head(message)
        problem = pointer_problem(path, doc) if path is not _MISSING else "the error has no path"
        if problem:
            failures.add("error path is not in the input ('%s ...')" % what, "%s -- %s" % (problem, shown))
        if not isinstance(message, str) or not isinstance(fix, (str, type(None))):
            failures.add(
                "message or fix is not a string",
                "message %s, fix %s -- %s" % (spec_mutations.short_repr(message, 80), spec_mutations.short_repr(fix, 80), shown),
            )
        if not fix:
            failures.add("error without a fix ('%s ...')" % what, shown)
        for label, text in (("str(error)", whole), ("message", message), ("fix", fix)):
            if not isinstance(text, str):
                continue
            if len(text) > MAX_MESSAGE:
                failures.add(
                    "message longer than %d characters ('%s ...')" % (MAX_MESSAGE, what),
                    "%s has %d characters: %r" % (label, len(text), text[:200] + "..."),
                )
            for word in FORBIDDEN:
                if word in text:
                    failures.add("message shows Python internals (%r)" % word, "%r" % text[:300])
                    break
            found = PYTHON_TYPE_NAME.search(text)
            if found:
                failures.add("message names a Python type (%r)" % found.group(0), "%r" % text[:300])
            found = PYTHON_CONSTANT.search(text)
            if found:
                failures.add("message spells null, true or false the Python way (%r)" % found.group(0), "%r" % text[:300])
            for form in forms:
                if form in text:
                    failures.add("message shows a secret ('%s ...')" % what, "the secret %r in %r" % (form[:40], text[:300]))
                    break
            if "'auth_secret': " in text or '"auth_secret": ' in text:
                failures.add("message shows a mapping holding a secret", "%r" % text[:300])
    return secrets


# Fields whose text never reaches an engine's file as written: addresses, durations, port and
# status lists and netmasks are parsed and written from the parsed value, TLS paths name files
# on the controller. Their strings are left out of the token check (where a '5s\n' would match
# an unrelated 'timeout connect 5s' at the end of a line); assertion 6 covers them.
NOT_VERBATIM = frozenset(
    [
        "address",
        "heartbeat_address",
        "ping_nodes",
        "extra_ports",
        "expected_codes",
        "timeout",
        "interval",
        "idle_timeout",
        "granularity",
        "certificate",
        "key",
    ]
)


def _last_name(path):
    names = [p for p in path if isinstance(p, str)]
    return names[-1] if names else None


def check_rendered(spec, doc, failures, render=None):
    render = render_engines if render is None else render
    try:
        texts = render(spec)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - every exception is a finding
        failures.add(exception_category("render", exc), "%s: %s" % (type(exc).__name__, str(exc)[:300]))
        return
    leaves = [(path, leaf) for path, leaf in string_leaves(doc) if _last_name(path) not in NOT_VERBATIM]
    for label, text in sorted(texts.items()):
        engine = engine_of(label)
        if not isinstance(text, str):
            failures.add(
                "%s: render_engines gives %s, not text" % (engine, type(text).__name__),
                "%r: %s" % (label[:100], spec_mutations.short_repr(text, 100)),
            )
            continue
        spans = None
        for path, leaf in leaves:
            if not _DELIMITERS.intersection(leaf) or leaf not in text:
                continue
            if spans is None:
                spans = token_spans(text, engine)
            bad = split_occurrences(text, spans, leaf)
            if bad:
                failures.add(
                    "%s: a spec value splits a token or starts a line (%s)" % (engine, spec_mutations.field_of(path)),
                    "%r: %r in the line %r" % (label[:100], leaf[:100], _line_of(text, bad[0])[:200]),
                )
        if "INJECTEDlbkit" in text:
            for how, lines in (("split on \\n", text.split("\n")), ("str.splitlines", text.splitlines())):
                for line in lines:
                    if line.lstrip().startswith("INJECTEDlbkit"):
                        failures.add("%s: a line starts with the injected directive (%s)" % (engine, how), "%r: line %r" % (label[:100], line[:200]))
                        break


# The fields whose strings are numbers (ports, status codes, durations, prefix lengths).
NUMBER_FIELDS = frozenset(
    [
        "extra_ports",
        "expected_codes",
        "timeout",
        "interval",
        "idle_timeout",
        "granularity",
        "port",
        "weight",
        "priority",
        "virtual_router_id",
        "advert_interval_ms",
        "retries",
        "min_connections",
        "max_connections",
    ]
)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def check_accepted_values(doc, failures):
    for path, leaf in string_leaves(doc):
        found = _CONTROL.search(leaf)
        if found:
            failures.add(
                "accepted a string with a control character (%s)" % spec_mutations.field_of(path),
                "%s = %r (%r)" % (pointer(path), leaf[:100], found.group(0)),
            )
        if _last_name(path) in NUMBER_FIELDS and any(c.isdigit() and not "0" <= c <= "9" for c in leaf):
            failures.add("accepted a number in non-ASCII digits (%s)" % spec_mutations.field_of(path), "%s = %r" % (pointer(path), leaf[:100]))


_SEED_SECRETS = {}


def _seed_secrets(seed):
    if id(seed) not in _SEED_SECRETS:
        _SEED_SECRETS[id(seed)] = (seed, secrets_in(seed))
    return _SEED_SECRETS[id(seed)][1]


def check_case(mutation, check=None, render=None):
    """{category: what failed} for one mutation."""
    check = check_spec if check is None else check
    failures = Failures()
    doc = mutation.apply()
    try:
        result = check(doc)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - every exception is a finding
        failures.add(exception_category("check_spec", exc), "%s: %s" % (type(exc).__name__, str(exc)[:300]))
        return failures.items
    if not (isinstance(result, tuple) and len(result) == 2):
        failures.add("check_spec returned something else than (spec, errors)", spec_mutations.short_repr(result, 100))
        return failures.items
    spec, errors = result
    errors = list(errors)
    check_messages(errors, doc, failures, _seed_secrets(mutation.doc))
    if not errors:
        if spec is None:
            failures.add("check_spec returned neither a spec nor errors", "")
        else:
            check_rendered(spec, doc, failures, render)
            check_accepted_values(doc, failures)
    return failures.items


# ---------------------------------------------------------------------------------------------
# Running

_CASES = []


def _run_chunk(bounds):
    start, end = bounds
    out = []
    for index in range(start, end):
        try:
            found = check_case(_CASES[index])
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - the harness's own failure, reported
            found = {exception_category("the test harness", exc): "%s: %s\n%s" % (type(exc).__name__, str(exc)[:200], traceback.format_exc()[-1500:])}
        if found:
            out.append((index, found))
    return out


def run_cases(cases, jobs):
    global _CASES
    _CASES = cases
    chunk = 100
    bounds = [(i, min(i + chunk, len(cases))) for i in range(0, len(cases), chunk)]
    if jobs > 1 and len(cases) > chunk:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            # A worker that dies (a crash in C) must fail the test, not hang it.
            parts = pool.map_async(_run_chunk, bounds, chunksize=1).get(timeout=1800)
    else:
        parts = [_run_chunk(b) for b in bounds]
    return sorted(item for part in parts for item in part)


def _examples(cases, items):
    """Up to EXAMPLES items: the one with the shortest description (the smallest reproduction)
    first, then one per other mutation class and field, then the first others."""
    ranked = sorted(items, key=lambda item: (len(cases[item[0]].describe()), item[0]))
    chosen = [ranked[0]]
    shown = {(cases[ranked[0][0]].klass, cases[ranked[0][0]].field)}
    for item in items:
        key = (cases[item[0]].klass, cases[item[0]].field)
        if len(chosen) < EXAMPLES and key not in shown:
            chosen.append(item)
            shown.add(key)
    for item in items:
        if len(chosen) < EXAMPLES and item not in chosen:
            chosen.append(item)
    return chosen


def report(cases, results):
    by_category = {}
    for index, found in results:
        for category, detail in found.items():
            by_category.setdefault(category, []).append((index, detail))
    lines = []
    for category, items in sorted(by_category.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        lines.append("")
        lines.append("[%d case%s] %s" % (len(items), "" if len(items) == 1 else "s", category))
        for index, detail in _examples(cases, items):
            lines.append("  - %s" % cases[index].describe())
            lines.append("      -> %s" % detail)
    return by_category, "\n".join(lines)


@pytest.fixture(scope="module")
def seeds():
    return spec_mutations.load_seeds()


def test_every_seed_is_valid(seeds):
    assert len(seeds) >= 9
    for name, doc in seeds:
        spec, errors = check_spec(doc)
        assert not errors, "seed %s is not valid (a bug in the seed loader): %s" % (name, "; ".join(str(e) for e in errors))
        assert spec is not None


def test_spec_properties(seeds):
    for name, doc in seeds:
        assert not check_spec(doc)[1], "seed %s is not valid" % name
    count = int(os.environ.get("LBKIT_PROPERTY_CASES") or spec_mutations.default_count(seeds))
    jobs = int(os.environ.get("LBKIT_PROPERTY_JOBS", os.cpu_count() or 1))
    cases = spec_mutations.select(seeds, count)
    wanted = os.environ.get("LBKIT_PROPERTY_FILTER")
    if wanted:
        # Any case of the full enumeration, and the compound cases of this count.
        pool = [c for tier in spec_mutations.all_cases(seeds) for c in tier] + [c for c in cases if c.then is not None]
        cases = [c for c in pool if wanted in c.describe()]
        assert cases, "no case matches LBKIT_PROPERTY_FILTER=%r" % wanted
    if not wanted and count >= spec_mutations.default_count(seeds):
        # Every class at every path of every seed where it applies.
        wanted_cover = set((m.seed, m.path, m.klass) for tier in spec_mutations.all_cases(seeds) for m in tier)
        missing = wanted_cover - set((m.seed, m.path, m.klass) for m in cases)
        assert not missing, "the selection misses %d (seed, path, class): %s" % (len(missing), sorted(missing, key=repr)[:5])
    pristine = [repr(doc) for dummy, doc in seeds]
    started = time.time()
    results = run_cases(cases, jobs)
    elapsed = time.time() - started
    by_category, text = report(cases, results)
    if [repr(doc) for dummy, doc in seeds] != pristine:
        by_category["the product modified its input (a seed changed during the run)"] = []
        text += "\n\n[?] the product modified its input: a seed changed during the run"
    classes = sorted(set(c.klass for c in cases))
    print(
        "spec properties: %d cases (classes: %s) of %d seeds in %.1f s with %d job%s; %d failing case%s in %d categor%s"
        % (
            len(cases),
            ", ".join(classes),
            len(seeds),
            elapsed,
            jobs,
            "" if jobs == 1 else "s",
            len(results),
            "" if len(results) == 1 else "s",
            len(by_category),
            "y" if len(by_category) == 1 else "ies",
        )
    )
    sys.stdout.flush()
    assert not by_category, (
        "%d of %d cases failed, in %d categories (up to %d examples each; rerun one with LBKIT_PROPERTY_FILTER='seed=... path=... variant=...'):%s"
        % (len(results), len(cases), len(by_category), EXAMPLES, text)
    )


# ---------------------------------------------------------------------------------------------
# The checks catch planted defects (so a passing run means something)


class _Error(object):
    def __init__(self, path, message, fix="do this."):
        self.path, self.message, self.fix = path, message, fix

    def __str__(self):
        return "%s: %s Fix: %s" % (self.path, self.message, self.fix)


def _planted(seeds, errors=None, raises=None, texts=None, value=None, path=("cluster", "name")):
    """The categories check_case finds with a planted defect: a check_spec returning ``errors``
    or raising ``raises``, or accepting the spec and rendering ``texts``."""
    doc = [d for name, d in seeds if name == "golden-vrrp2-auth"][0]
    case = spec_mutations.Mutation("golden-vrrp2-auth", doc, "planted", path, "planted", "set", "golden-v2" if value is None else value)
    spec = check_spec(doc)[0]

    def check(data):
        if raises is not None:
            raise raises
        return (None, errors) if errors else (spec, [])

    def render(_spec):
        if isinstance(texts, BaseException):
            raise texts
        return texts or {}

    return "\n".join(check_case(case, check=check, render=render))


def test_the_checks_catch_planted_defects(seeds):
    # 1. An exception.
    assert "check_spec raised KeyError" in _planted(seeds, raises=KeyError(0))
    assert "check_spec raised RecursionError" in _planted(seeds, raises=RecursionError("deep"))
    # 2. Paths.
    for path in ("cluster", "/cluster/nodes/5/host", "/cluster/nope/x", "/cluster/name/x", "/cluster/~2", "/cluster/nodes/01"):
        assert "error path is not in the input" in _planted(seeds, errors=[_Error(path, "x.")]), path
    for path in ("/", "", "/cluster/nodes/0/host", "/cluster/nodes/0/missing_key", "/cluster/ha/auth_secret", "/virtual_services/0"):
        assert _planted(seeds, errors=[_Error(path, "x.")]) == "", path
    # 3. Messages.
    assert "error without a fix" in _planted(seeds, errors=[_Error("/", "x.", "")])
    assert "error without a fix" in _planted(seeds, errors=[_Error("/", "x.", None)])
    assert "longer than 300" in _planted(seeds, errors=[_Error("/", "y" * 301)])
    assert "longer than 300" in _planted(seeds, errors=[_Error("/", "y", "z" * 301)])
    assert "longer than 300" in _planted(seeds, errors=[_Error("/" + "c" * 150, "y" * 150)])
    for text in ("invalid literal for int() with base 10: 'x'", "'str' object has no attribute 'get'", "IPv4Address('10.0.0.1')", "not NoneType"):
        assert "Python" in _planted(seeds, errors=[_Error("/", text)]), text
    # 4. Secrets, also when a slip moved them out of their key, and a mapping holding one.
    assert "shows a secret" in _planted(seeds, errors=[_Error("/cluster/ha", "is s3cr3t.")])
    assert "shows a secret" in _planted(seeds, errors=[_Error("/cluster/ha", "ok.", "not 's3cr3t'.")])
    assert "shows a mapping holding a secret" in _planted(seeds, errors=[_Error("/cluster", "{'auth_secret': '...")])
    # 5. Rendering: an exception, a value that starts a line or splits a word, an injected line.
    assert "render raised ValueError" in _planted(seeds, texts=ValueError("x"))
    text = _planted(
        seeds,
        value="golden-v2\n" + spec_mutations.INJECTED,
        texts={
            "keepalived.conf@lb1": "global_defs {\n    router_id golden-v2\n%s\n}\n" % spec_mutations.INJECTED,
            "haproxy.cfg": "listen vs_web\n    server a 'golden-v2\n%s'\n" % spec_mutations.INJECTED,
        },
    )
    assert "keepalived: a line starts with the injected directive (split on \\n)" in text, text
    assert "haproxy: a spec value splits a token or starts a line (/cluster/name)" in text, text
    assert "keepalived: a spec value splits a token or starts a line (/cluster/name)" in text, text
    text = _planted(
        seeds, value="golden-v2\u2028" + spec_mutations.INJECTED, texts={"haproxy.cfg": "# cluster golden-v2\u2028%s\n" % spec_mutations.INJECTED}
    )
    assert "haproxy: a line starts with the injected directive (str.splitlines)" in text, text
    for value, line in (("a b", "cookie a b"), ("a#b", "cookie a#b x"), ("a\\", "cookie a\\"), ("a\x00b", "cookie a\x00b")):
        assert "haproxy: a spec value splits" in _planted(seeds, value=value, texts={"haproxy.cfg": line + "\n"}), value
    for value, line in (("a b", "auth_pass a b"), ("a!b", "auth_pass a!b"), ("a{b", "auth_pass a{b"), ('a"b', 'misc_path "/x a"b"')):
        assert "keepalived: a spec value splits" in _planted(seeds, value=value, texts={"keepalived.conf@lb1": line + "\n"}), value
    # Within one token (a comment, a quoted string, an escaped space) is fine.
    assert _planted(seeds, value="a b", texts={"keepalived.conf@lb1": '# a b\nmisc_path "/x a b 80"\n'}) == ""
    assert _planted(seeds, value="a b", texts={"haproxy.cfg": "x 'a b' \"a b\" a\\ b # a b\n"}) == ""
    # 6. Accepted values.
    assert "accepted a string with a control character (/cluster/name)" in _planted(seeds, value="golden\x0bv2")
    assert "accepted a number in non-ASCII digits (/virtual_services/*/extra_ports)" in _planted(
        seeds, value="\u0668\u0660", path=("virtual_services", 0, "extra_ports")
    )
    assert _planted(seeds, value="8080", path=("virtual_services", 0, "extra_ports")) == ""
    # And the grammars themselves.
    assert token_spans('a "b c" d # e f\n{x}', "keepalived") == [(0, 1), (2, 7), (8, 9), (10, 15), (16, 17), (17, 18), (18, 19)]
    assert token_spans('a \'b c\'d\\ e "f\\" g" # h', "haproxy") == [(0, 1), (2, 11), (12, 19), (20, 23)]
