# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The real_server module's one call: one real server enabled, drained or halted at runtime."""

from __future__ import annotations

import time

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import NotFound, WaitTimedOut
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner.common import linux_appliance, spec_for_host


def find(spec, service, name):
    """(vs, rs) named by the task: the service by name, the real server by name or address:port."""
    vs = spec.service(service)
    if vs is None:
        raise NotFound("service: no virtual service named %r in the spec (services: %s)." % (service, ", ".join(v.name for v in spec.virtual_services)))
    for rs in vs.real_servers:
        if name in (rs.name, "%s:%d" % (rs.address, rs.port), "[%s]:%d" % (rs.address, rs.port)):
            return vs, rs
    raise NotFound("real_server: virtual service %r has no real server %r (real servers: %s)."
                   % (service, name, ", ".join(r.name for r in vs.real_servers)))


def run(module, engine=None, clock=time.monotonic, sleep=time.sleep):
    params = module.params
    engine = engine or linux_appliance(module)
    vs, rs = find(spec_for_host(module), params["service"], params["real_server"])
    before, connections = engine.server_state(vs, rs)
    wanted = params["state"]
    result = dict(changed=before != wanted, before=before, after=wanted, connections=connections, waited=0.0)
    if module._diff:
        result["diff"] = dict(before="state: %s\n" % before, after="state: %s\n" % wanted)
    if module.check_mode:
        return result
    if result["changed"]:
        engine.set_server_state(vs, rs, wanted, before)
    if params["wait"] and wanted != "enabled":
        started = clock()
        while True:
            state, connections = engine.server_state(vs, rs)
            if connections == 0 or clock() - started >= params["wait_timeout"]:
                break
            sleep(0.5)
        result["waited"] = round(clock() - started, 1)
        result["connections"] = connections
        if connections:
            raise WaitTimedOut("%s still has %d connections after %ds." % (rs.name, connections, params["wait_timeout"]), **result)
    else:
        result["connections"] = engine.server_state(vs, rs)[1]
    return result
