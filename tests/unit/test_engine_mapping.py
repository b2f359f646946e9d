"""docs/engine-mapping.md is a contract: every row is rendered and checked here.

For each row, a layer-4 and a layer-7 service get the row's setting; each `fragment` of a cell
must appear in the engine's rendered config ("no `x`": must not; "every `x`": every line of
that kind carries it), a "refused: ..." cell must fail validation with that text, and an
"n/a" cell must be refused by the spec's own rules. The LoadMaster column is checked the same
way against the API parameters lbkit sends (``Name=value``, one per parameter, a service's and
its real servers'), for a cluster whose engine is ``loadmaster``, at layer 7 unless the row is
n/a there.
"""

import copy
import ipaddress
import os
import re

import pytest
import yaml

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine import loadmaster
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import haproxy, keepalived, programs
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import check_spec

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "engine-mapping.md")

BASE = {
    "cluster": {
        "name": "mapping",
        "nodes": [{"host": "lb1", "heartbeat_address": "192.168.10.11"}],
        "interfaces": {"external": "eth0", "internal": "eth1"},
        "floating_ips": [{"address": "192.168.10.1/24", "side": "internal", "gateway": True}],
    },
    "virtual_services": [
        {
            "name": "web",
            "address": "192.0.2.10",
            "port": 80,
            "real_servers": [
                {"name": "web1", "address": "192.168.10.21", "weight": 50},
                {"name": "web2", "address": "192.168.10.22", "weight": 50},
            ],
        }
    ],
}
INTERFACES = {
    "lo": [ipaddress.ip_interface("127.0.0.1/8")],
    "eth0": [ipaddress.ip_interface("192.168.10.11/24")],
    "eth1": [ipaddress.ip_interface("10.0.1.11/24")],
}


def _cells(line):
    # A '|' escaped as '\|' belongs to the cell.
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def rows():
    out = []
    with open(DOC) as handle:
        for line in handle:
            cells = _cells(line) if line.startswith("|") else []
            if len(cells) == 6 and cells[0] not in ("field", "---"):
                out.append(cells)
    return out


ROWS = rows()


def _set(doc, dotted, value):
    parts = [int(p) if p.isdigit() else p for p in dotted.split(".")]
    node = doc
    for part in parts[:-1]:
        node = node[part] if isinstance(part, int) else node.setdefault(part, {})
    node[parts[-1]] = value


def _spec(layer, field, value, extra):
    data = copy.deepcopy(BASE)
    vs = data["virtual_services"][0]
    vs["layer"] = layer
    if field == "sub_services":
        # a service with sub services lists its real servers in them
        del vs["real_servers"]
    for dotted, item in [(field, value)] + sorted(extra.items()):
        _set(vs, dotted, item)
    return data


def _render(layer, spec):
    """The engine's config for the row, with lbkit's nftables table when the spec has one."""
    text = keepalived.render(spec, "lb1", INTERFACES).content if layer == 4 else haproxy.render(spec).content
    if programs.netfilter_wanted(spec):
        text += programs.netfilter_rules(spec)
    return text


def _render_loadmaster(spec):
    """The parameters lbkit sends for the first service, as ``Name=value`` lines (JSON's true/false)."""
    vs = spec.virtual_services[0]
    entry = loadmaster.listing_entry(vs, loadmaster.certificate_name(vs.name, "PEM"))
    lines = []
    for params in [entry] + entry.pop("Rs"):
        for name, item in sorted(params.items()):
            lines.append("%s=%s" % (name, str(item).lower() if isinstance(item, bool) else item))
    return "\n".join(lines) + "\n"


def _check_cell(cell, layer, data, render=None):
    spec, errors = check_spec(data)
    text = "\n".join(str(e) for e in errors)
    if cell.startswith("refused"):
        assert errors, "expected the spec to be refused"
        want = cell.split(":", 1)[1].strip().split(" (")[0]
        assert want in text, "refusal should say %r; got:\n%s" % (want, text)
        return
    if cell == "n/a":
        assert errors, "expected the spec's rules to refuse this combination"
        return
    assert not errors, text
    config = render(spec) if render else _render(layer, spec)
    for prefix, fragment in re.findall(r"(no |every )?`([^`]+)`", cell):
        if prefix == "no ":
            assert fragment not in config, "%r should not be in:\n%s" % (fragment, config)
        elif prefix == "every ":
            key = fragment.split()[0] + " "
            lines = [line for line in config.splitlines() if key in line]
            assert lines and all(fragment in line for line in lines), "every %r line should carry %r:\n%s" % (key, fragment, config)
        else:
            assert fragment in config, "%r missing from:\n%s" % (fragment, config)


@pytest.mark.parametrize("layer", [4, 7])
@pytest.mark.parametrize("row", ROWS, ids=["%s=%s" % (r[0], r[1].strip("`")) for r in ROWS])
def test_mapping_row(row, layer):
    field, value, extra, cell4, cell7, dummy = row
    value = yaml.safe_load(value.strip("`"))
    extra = yaml.safe_load(extra.strip("`")) if extra else {}
    _check_cell(cell4 if layer == 4 else cell7, layer, _spec(layer, field, value, extra))


@pytest.mark.parametrize("row", ROWS, ids=["%s=%s" % (r[0], r[1].strip("`")) for r in ROWS])
def test_loadmaster_row(row):
    field, value, extra, dummy, cell7, cell = row
    layer = 4 if cell7 == "n/a" else 7
    data = _spec(layer, field, yaml.safe_load(value.strip("`")), yaml.safe_load(extra.strip("`")) if extra else {})
    data["cluster"]["engine"] = "loadmaster"
    _check_cell(cell, layer, data, render=_render_loadmaster)


def test_every_enum_value_has_a_row():
    from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.schema import HEALTH_CHECKS, PERSISTENCE, SCHEDULING

    covered = set((r[0], r[1].strip("`")) for r in ROWS)
    for field, values in (("scheduling", SCHEDULING), ("persistence.mode", PERSISTENCE), ("health_check.type", HEALTH_CHECKS)):
        for value in values:
            assert (field, value) in covered, "docs/engine-mapping.md has no row for %s %s" % (field, value)
