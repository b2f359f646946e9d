"""Shared spec fixtures and a JSON-pointer mutation helper for the unit tests."""

import copy

BASE = {
    "cluster": {
        "name": "lb-prod",
        "nodes": [
            {"host": "lb1", "heartbeat_address": "192.168.10.11", "priority": 150},
            {"host": "lb2", "heartbeat_address": "192.168.10.12", "priority": 100},
        ],
        "ha": {"mode": "pair", "virtual_router_id": 51},
        "interfaces": {"external": "eth0", "internal": "eth1"},
        "floating_ips": [{"name": "gw", "address": "10.0.1.1/24", "side": "internal", "gateway": True}],
    },
    "virtual_services": [
        {
            "name": "web-dr",
            "address": "192.0.2.10",
            "port": 80,
            "layer": 4,
            "forwarding": "dr",
            "real_servers": [{"name": "web1", "address": "192.168.10.21"}, {"name": "web2", "address": "192.168.10.22", "port": 80}],
        },
        {
            "name": "app-nat",
            "address": "192.0.2.11",
            "port": 8080,
            "layer": 4,
            "forwarding": "nat",
            "real_servers": [{"address": "10.0.1.21", "port": 80}],
        },
        {
            "name": "shop",
            "address": "192.0.2.12",
            "port": 443,
            "layer": 7,
            "persistence": {"mode": "active_cookie", "timeout": "30m"},
            "layer7": {"tls": {"certificate": "files/shop.pem", "key": "files/shop.key"}},
            "real_servers": [{"address": "10.0.1.31", "port": 8443}],
        },
    ],
}


def _walk(doc, pointer):
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]
    node = doc
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    return node, parts[-1]


def mutate(ops, base=None):
    """Apply ops to a copy of base: {'/a/0/b': value} sets, value DELETE removes, APPEND adds to a list."""
    doc = copy.deepcopy(BASE if base is None else base)
    for pointer, value in ops.items():
        node, last = _walk(doc, pointer)
        if value is DELETE:
            if isinstance(node, list):
                del node[int(last)]
            else:
                del node[last]
        elif isinstance(value, Append):
            node[last].append(value.item)
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return doc


DELETE = object()


class Append(object):
    def __init__(self, item):
        self.item = item
