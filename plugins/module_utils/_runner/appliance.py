# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The appliance module's one call: converge an appliance through its engine, or render its files."""

from __future__ import annotations

import dataclasses
import ipaddress

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.linux import missing_packages
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine import linux as linux_engine
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import LbkitError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._net import ip
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner.common import linux_appliance, spec_for_host


def interfaces_given(value):
    """The ``interfaces`` option ({name: [address/prefix, ...]}) as ``ip`` links."""
    links = []
    for name, addresses in sorted((value or {}).items()):
        parsed = []
        for text in addresses or []:
            try:
                parsed.append(ipaddress.ip_interface(str(text)))
            except ValueError:
                raise LbkitError("interfaces: %r of %s is not an address with a prefix length (write it like 192.0.2.11/24)." % (text, name)) from None
        links.append(ip.Link(str(name), frozenset(["UP"]), "ether", tuple(parsed)))
    return tuple(links)


def converge(module, engine=None):
    """Converge (``state: present``) or render (``state: rendered``) the module's appliance."""
    params = module.params
    rendering = params["state"] == "rendered"
    if params.get("interfaces") and not rendering:
        raise LbkitError("interfaces: only state=rendered takes the interfaces as an option; a converge reads the appliance's own.")
    spec = spec_for_host(module)
    engine = engine or linux_appliance(module, tls_material=params.get("tls"), require_tls=not rendering)
    current = engine.read() if not (rendering and params.get("interfaces")) else linux_engine.Current(
        state=None, record={}, files={}, active={}, links=interfaces_given(params["interfaces"]))
    if rendering:
        # Rendering needs no IPVS: the files are for review, or for a host that has it.
        current = dataclasses.replace(current, ipvs=None)
    desired = engine.desired(spec, params["host"], current)
    if rendering:
        return dict(changed=False, changes=[], summary=[], operations=[], rendered=linux_engine.rendered(desired, engine.paths))
    plan = engine.plan(desired, current)
    result = plan.result(diff=module._diff)
    if params.get("packages") is not None:
        result["missing_packages"] = missing_packages(engine.host, linux_engine.packages(spec, params["packages"]))
        if result["missing_packages"] and not module.check_mode:
            # Nothing is applied before the engines are installed; the caller installs and runs again.
            skipped = dict(result, changed=False, changes=[], summary=[], operations=[])
            if "diff" in skipped:
                skipped["diff"] = dict(prepared="")
            return skipped
    if plan and not module.check_mode:
        engine.apply(plan)
    return result
