# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The LoadMaster modules' calls: converge, report, runtime state of one real server."""

from __future__ import annotations

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.loadmaster import LoadMaster
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.loadmaster_api import HttpApiTransport
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import LbkitError, SpecInvalid
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.state import real_server_key
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import SpecError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import load_spec


def transport(module):
    """The appliance's API through the play's persistent httpapi connection."""
    if not getattr(module, "_socket_path", None):
        raise LbkitError("this module talks to the LoadMaster's API through Ansible's httpapi connection: set ansible_connection="
                         "ansible.netcommon.httpapi and ansible_network_os=lbkit.loadbalancer.loadmaster for the host (docs/loadmaster.md).")
    from ansible.module_utils.connection import Connection

    return HttpApiTransport(Connection(module._socket_path))


def loadmaster_spec(module):
    """The module's spec as a model, for a LoadMaster cluster (raises SpecInvalid)."""
    spec = load_spec(module.params["spec"])
    if spec.cluster.engine != "loadmaster":
        raise SpecInvalid([SpecError("/cluster/engine", "is '%s'; this module converges a Kemp LoadMaster." % spec.cluster.engine,
                                     "set cluster.engine to loadmaster, or converge the cluster with the appliance role.")])
    return spec


def engine_for(module, **kwargs):
    return kwargs.pop("engine", None) or LoadMaster(transport(module), host=module.params.get("host") or "", **kwargs)


def sides(spec):
    """The interfaces the spec's floating IPs are on (their addresses are checked)."""
    return tuple(getattr(spec.cluster.interfaces, f.side) for f in spec.cluster.floating_ips if getattr(spec.cluster.interfaces, f.side))


def converge(module, engine=None):
    params = module.params
    spec = loadmaster_spec(module)
    engine = engine or engine_for(module, tls_material=params.get("tls"), interfaces=sides(spec))
    current = engine.read()
    desired = engine.desired(spec, params.get("host") or "", current)
    plan = engine.plan(desired, current)
    result = plan.result(diff=module._diff)
    result["api_calls"] = len(plan.operations)
    if plan and not module.check_mode:
        engine.apply(plan)
    return result


def info(module, engine=None):
    engine = engine or engine_for(module)
    spec = loadmaster_spec(module) if module.params.get("spec") is not None else None
    return dict(changed=False, **engine.info(spec))


def real_server(module, engine=None):
    from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner.real_server import find

    params = module.params
    engine = engine or engine_for(module)
    # a LoadMaster service has no sub services (validation refuses them): one real server
    vs, ((dummy, rs),) = find(loadmaster_spec(module), params["service"], params["real_server"])
    before, connections = engine.server_state(vs, rs)
    wanted = params["state"]
    if wanted == "halted":
        engine.set_server_state(vs, rs, wanted, before)  # raises: a LoadMaster has no halted state
    result = dict(changed=before != wanted, before=before, after=wanted, connections=connections,
                  real_server="%s %s in %s" % (rs.name, real_server_key(rs), vs.name))
    if module._diff:
        result["diff"] = dict(before="state: %s\n" % before, after="state: %s\n" % wanted)
    if result["changed"] and not module.check_mode:
        engine.set_server_state(vs, rs, wanted, before)
    return result
