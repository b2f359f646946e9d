# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The appliance_preflight module's one call: the spec against the appliance, before any change."""

from __future__ import annotations

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.linux import ipvs_availability, read_state
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine.linux import layer4_without_ipvs
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import SpecInvalid
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._net import ip
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.state import held_addresses
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner.common import linux_appliance
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.host import check_host
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import check_spec


def missing_packages(host, packages):
    """The packages dpkg does not report as installed, in the order given (all of them without dpkg-query)."""
    if not packages:
        return []
    if host.which("dpkg-query") is None:
        return list(packages)
    rc, out, dummy = host.run(["dpkg-query", "--show", "--showformat", "${Package}\\t${db:Status-Abbrev}\\n", "--"] + list(packages), check=False)
    installed = set()
    for line in out.splitlines():
        name, dummy, status = line.partition("\t")
        # The second letter is the package's state: i, installed (whatever is wanted of it: held, say).
        if status[1:2] == "i":
            installed.add(name.split(":", 1)[0])
    return [name for name in packages if name not in installed]


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
