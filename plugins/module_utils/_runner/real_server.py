# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The real_server module's one call: one real server enabled, drained or halted at runtime."""

from __future__ import annotations

import time

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import NotFound, WaitTimedOut
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner.common import linux_appliance, spec_for_host
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import SUB_SEPARATOR


def find(spec, service, name):
    """(vs, [(group, rs)]) named by the task: the real server, by name or address:port, of the service named
    ``service``, or of its sub service when ``service`` is 'service:sub'; of a service with sub
    services, in each of them that holds it."""
    parent, dummy, sub = service.rpartition(SUB_SEPARATOR)
    vs = spec.service(service) or (spec.service(parent) if sub else None)
    if vs is None:
        raise NotFound("service: no virtual service named %r in the spec (services: %s)." % (service, ", ".join(v.name for v in spec.virtual_services)))
    groups = vs.groups()
    if vs.name != service:
        groups = tuple(g for g in groups if g.name == service)
        if not groups:
            raise NotFound("service: virtual service %r has no sub service %r (sub services: %s)."
                           % (vs.name, sub, ", ".join(s.name for s in vs.sub_services) or "none"))
    found = [(group, rs) for group in groups for rs in group.real_servers
             if name in (rs.name, "%s:%d" % (rs.address, rs.port), "[%s]:%d" % (rs.address, rs.port))]
    if not found:
        raise NotFound("real_server: %s %r has no real server %r (real servers: %s)."
                       % ("sub service" if vs.name != service else "virtual service", service, name,
                          ", ".join(sorted(set(r.name for g in groups for r in g.real_servers)))))
    return vs, found


def _states(engine, found):
    """[(state, connections)] of the real server in each group, as the engine runs it now."""
    return [engine.server_state(group, rs) for group, rs in found]


def _summary(found, states):
    """(state, connections): the one state of every group's real server (or each group's, when they differ), and their connections."""
    named = set(state for state, dummy in states)
    if len(named) == 1:
        state = named.pop()
    else:
        state = ", ".join("%s in %s" % (state, group.name) for (group, dummy), (state, dummy) in zip(found, states))
    return state, sum(connections for dummy, connections in states)


def run(module, engine=None, clock=time.monotonic, sleep=time.sleep):
    params = module.params
    engine = engine or linux_appliance(module)
    vs, found = find(spec_for_host(module), params["service"], params["real_server"])
    states = _states(engine, found)
    before, connections = _summary(found, states)
    wanted = params["state"]
    result = dict(changed=before != wanted, before=before, after=wanted, connections=connections, waited=0.0)
    if vs.sub_services:
        result["sub_services"] = [group.name for group, dummy in found]
    if module._diff:
        result["diff"] = dict(before="state: %s\n" % before, after="state: %s\n" % wanted)
    if module.check_mode:
        return result
    for (group, rs), (state, dummy) in zip(found, states):
        if state != wanted:
            engine.set_server_state(group, rs, wanted, state)
    if params["wait"] and wanted != "enabled":
        started = clock()
        while True:
            state, connections = _summary(found, _states(engine, found))
            if connections == 0 or clock() - started >= params["wait_timeout"]:
                break
            sleep(0.5)
        result["waited"] = round(clock() - started, 1)
        result["connections"] = connections
        if connections:
            raise WaitTimedOut("%s still has %d connections after %ds." % (params["real_server"], connections, params["wait_timeout"]), **result)
    else:
        result["connections"] = _summary(found, _states(engine, found))[1]
    return result
