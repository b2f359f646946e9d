# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The appliance_preflight module's one call: the spec against the appliance, before any change."""

from __future__ import annotations

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.linux import ipvs_availability, missing_packages, read_state
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine.linux import layer4_without_ipvs
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import SpecInvalid
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._net import ip
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.state import held_addresses
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner.common import linux_appliance
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.host import check_host
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import check_spec


def preflight(module):
    engine = linux_appliance(module)
    links = engine.host.links()
    interfaces = ip.by_name(links)
    result = dict(
        changed=False,
        interfaces=dict((name, [str(a) for a in addresses]) for name, addresses in interfaces.items()),
        ipvs=ipvs_availability(engine.host),
        services=dict(layer4=[], layer7=[]),
        missing_packages=missing_packages(engine.host, module.params.get("packages") or []),
    )
    spec, errors = check_spec(module.params["spec"])
    if spec is not None:
        state, dummy = read_state(engine.paths)
        errors = check_host(spec, module.params["host"], interfaces, held_addresses(state))
        if not result["ipvs"]["available"]:
            errors += layer4_without_ipvs(spec, module.params["host"])
        for vs in spec.virtual_services:
            result["services"]["layer%d" % vs.layer].append(vs.name)
    result["errors"] = [e.as_dict() for e in errors]
    if errors:
        failure = SpecInvalid(errors)
        failure.details.update(result)
        raise failure
    return result
