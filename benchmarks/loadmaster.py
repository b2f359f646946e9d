# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The LoadMaster engine at scale, against lbkit's simulator of the LoadMaster API with the
documented rate limit on (more than 30 calls in 3 s drop the connection).

For each size: N layer-4 services x 10 real servers on an empty appliance, converged by the
engine over HTTPS (first converge), the same spec again (no-op), and one weight changed (one
call). Each run records its wall time, the calls by command, the time the rate limiter made
lbkit wait, and the connections the simulator dropped (which must be none). A simulator
answers faster than an appliance: the figures show what the API's rate limit costs and how
few calls lbkit makes, not an appliance's speed.
"""

from __future__ import annotations

import collections
import copy
import time

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.loadmaster import LoadMaster
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.loadmaster_api import HttpsTransport, RateLimiter, credentials
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import load_spec
from tests.loadmaster_sim import LoadMasterServer, Simulator

KEY = "lbkit-bench-api-key"
REAL_SERVERS = 10


def spec(services, real_servers=REAL_SERVERS):
    """One LoadMaster, ``services`` layer-4 Direct Routing services on one VIP x ``real_servers``."""
    out = []
    for i in range(services):
        out.append({"name": "vs%04d" % (i + 1), "address": "192.0.2.10", "port": 10000 + i, "layer": 4, "forwarding": "dr",
                    "scheduling": "round_robin", "health_check": {"type": "tcp", "interval": "30s"},
                    "real_servers": [{"name": "vs%04d-rs%02d" % (i + 1, j), "address": "192.0.2.%d" % (100 + j)} for j in range(1, real_servers + 1)]})
    return {"cluster": {"name": "bench", "engine": "loadmaster", "nodes": [{"host": "lm"}], "ha": {"mode": "single"}}, "virtual_services": out}


def _converge(sim, server, data, limiter):
    transport = HttpsTransport(server.url, credentials(api_key=KEY), ca_path=server.ca_path, limiter=limiter)
    engine = LoadMaster(transport, host="lm")
    calls_before = collections.Counter(sim.calls_by_cmd)
    waited = limiter.waited
    started = time.monotonic()
    current = engine.read()
    desired = engine.desired(load_spec(data), "lm", current)
    plan = engine.plan(desired, current)
    planned_s = time.monotonic() - started
    if plan:
        engine.apply(plan)
    calls = collections.Counter(sim.calls_by_cmd)
    calls.subtract(calls_before)
    return {
        "wall_s": round(time.monotonic() - started, 2),
        "plan_s": round(planned_s, 3),
        "operations": len(plan.operations),
        "calls": sum(calls.values()),
        "calls_by_cmd": dict((k, v) for k, v in sorted(calls.items()) if v),
        "rate_wait_s": round(limiter.waited - waited, 1),
    }


def run(sizes, say, out):
    out["sizes"] = {}
    for size in sizes:
        sim = Simulator(apikey=KEY)
        server = LoadMasterServer(sim).start()
        # one limiter for the runs against one appliance, as a play's persistent connection keeps one
        limiter = RateLimiter()
        try:
            data = spec(size)
            runs = {}
            say("loadmaster %d x %d: first converge" % (size, REAL_SERVERS))
            runs["first"] = _converge(sim, server, copy.deepcopy(data), limiter)
            say("loadmaster %d x %d: no-op" % (size, REAL_SERVERS))
            runs["noop"] = _converge(sim, server, copy.deepcopy(data), limiter)
            data["virtual_services"][size // 2]["real_servers"][3]["weight"] = 50
            say("loadmaster %d x %d: one weight" % (size, REAL_SERVERS))
            runs["one_change"] = _converge(sim, server, data, limiter)
            if sim.errors:
                raise RuntimeError("the simulator failed: %s" % sim.errors[0])
            out["sizes"][str(size)] = {"real_servers": REAL_SERVERS, "runs": runs, "dropped": sim.dropped, "rate_limit": list(sim.rate_limit)}
            if sim.dropped:
                raise RuntimeError("lbkit went over the rate limit: the simulator dropped %d connections" % sim.dropped)
        finally:
            server.stop()
