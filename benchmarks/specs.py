# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The specs the benchmarks converge, and the addresses of the benchmarks' containers. Pure.

Every container sits on one internal network of its own (NETWORK) that no test or lab uses.
"""

from __future__ import annotations

import copy

NETWORK = "172.30.90.0/24"
GATEWAY = "172.30.90.1"
PREFIX = "172.30.90."
VIP = PREFIX + "100"
LB1, LB2 = PREFIX + "11", PREFIX + "12"
BASELINE = PREFIX + "13"
CLIENT = PREFIX + "30"
# Real servers: rs1.. at .21.. (the scale benchmark's one container holds all ten addresses).
REAL_SERVER_PORT = 8080
FIRST_SERVICE_PORT = 10000
FARM_SIZE = 10


def real_server_address(number):
    """The address of real server ``number`` (1-based)."""
    return PREFIX + str(20 + number)


def _cluster(nodes, ha=None):
    cluster = {
        "name": "bench",
        "nodes": [{"host": host, "heartbeat_address": address, "priority": 150 - 50 * i} for i, (host, address) in enumerate(nodes)],
        "interfaces": {"external": "eth0"},
    }
    if ha:
        cluster["ha"] = ha
    return cluster


def scale_spec(services, layer, real_servers=FARM_SIZE):
    """One appliance, ``services`` virtual services on one VIP (one port each) x ``real_servers``.

    Each real server has a name of its own in each service ("vs0001-rs01"): the per-object
    baseline edits haproxy.cfg line by line, and identical lines in two services would be one
    line to it. At layer 4 (Direct Routing) the real servers listen on the service's port.
    """
    out = []
    for i in range(services):
        name = "vs%04d" % (i + 1)
        port = FIRST_SERVICE_PORT + i
        rs = []
        for j in range(1, real_servers + 1):
            entry = {"name": "%s-rs%02d" % (name, j), "address": real_server_address(j)}
            if layer == 7:
                entry["port"] = REAL_SERVER_PORT
            rs.append(entry)
        out.append({"name": name, "address": VIP, "port": port, "layer": layer, "scheduling": "round_robin",
                    "health_check": {"type": "tcp", "interval": "30s"}, "real_servers": rs})
    return {"cluster": _cluster([("lb1", LB1)]), "virtual_services": out}


def _web(real_servers, **extra):
    vs = {
        "name": "web",
        "address": VIP,
        "port": 80,
        "layer": 7,
        "scheduling": "weighted_round_robin",
        "health_check": {"type": "http", "url": "/health", "interval": "2s", "timeout": "1s", "retries": 1},
        "real_servers": [{"name": "rs%d" % n, "address": real_server_address(n), "port": REAL_SERVER_PORT} for n in real_servers],
    }
    vs.update(extra)
    return vs


def failover_spec(advert_interval_ms):
    """An HA pair (VRRPv3, unicast heartbeat, preempt) in front of rs1 and rs2, layer 7."""
    ha = {"mode": "pair", "virtual_router_id": 90, "vrrp_version": 3, "advert_interval_ms": advert_interval_ms, "preempt": True}
    return {"cluster": _cluster([("lb1", LB1), ("lb2", LB2)], ha), "virtual_services": [_web((1, 2))]}


# The zero-loss steps, in the order they are converged (the layer-4 scenario in tests/ipvs
# converges the same ones). Each step is (label, how): "converge" runs the appliance role with
# the step's spec; "drain" sets the state at runtime with the real_server module (no reload).
ZERO_LOSS_STEPS = (
    ("add a service", "converge"),
    ("change weights", "converge"),
    ("add a real server", "converge"),
    ("drain a server", "drain"),
    ("remove the drained server", "converge"),
)
DRAINED = "rs1"


def zero_loss_specs():
    """[(label, how, spec)]: the starting spec, then one per step, each building on the last."""
    spec = {"cluster": _cluster([("lb1", LB1)]), "virtual_services": [_web((1, 2))]}
    out = [("start", "converge", spec)]
    changes = {
        "add a service": lambda s: s["virtual_services"].append(_web((1, 2), name="web-2", port=81)),
        "change weights": lambda s: s["virtual_services"][0]["real_servers"][0].update(weight=50),
        "add a real server": lambda s: s["virtual_services"][0]["real_servers"].append(_web((3,))["real_servers"][0]),
        "drain a server": lambda s: s["virtual_services"][0]["real_servers"][0].update(state="drained"),
        "remove the drained server": lambda s: s["virtual_services"][0]["real_servers"].pop(0),
    }
    for label, how in ZERO_LOSS_STEPS:
        spec = copy.deepcopy(spec)
        changes[label](spec)
        out.append((label, how, spec))
    return out
