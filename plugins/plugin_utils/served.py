# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a host serves as a real server of a spec: the realserver role's facts, from the model. Pure.

A host serves a real server when the real server's address is one of the host's addresses
(compared as addresses, so any spelling of an IPv6 address matches), or when its name is the
host's inventory hostname. Layer-4 services concern a real server, and transparent layer-7 ones:
their real servers see the clients' own addresses and must answer through the appliance. Any
other layer-7 service proxies, and the real server sees an ordinary client.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import load_spec


def _addresses(values):
    out = set()
    for value in values or []:
        try:
            out.add(ipaddress.ip_address(str(value).split("%", 1)[0]))
        except ValueError:
            continue
    return out


def served(spec_data, addresses, hostname):
    """{vips, tunnel_vips, ports, nat_services, transparent_services, gateways, load_agent} of the host, for the realserver role.

    ``vips``: the VIPs of its Direct Routing and tunnelling services (those of the tunnelling
    ones also in ``tunnel_vips``); ``ports``: the ports its services listen on (every port of a
    layer-4 service for a real server on the service's port, as Direct Routing and tunnelling
    cannot translate ports; the real server's own for NAT to another port and transparent
    layer 7); ``nat_services``, ``transparent_services`` and ``gateways``: its
    NAT and transparent layer-7 services and the cluster's gateway floating IPs (ADDRESS/PREFIX)
    they route through; ``load_agent``: the ports and paths its adaptive services' appliances ask its
    load agent on (empty lists: no agent). Raises SpecInvalid for an invalid spec.
    """
    spec = load_spec(spec_data)
    own = _addresses(addresses)
    vips, tunnel_vips, ports, nat, transparent = [], [], [], [], []
    agent_ports, agent_paths = [], []

    def serves(rs):
        return rs.address in own or rs.name == hostname

    for vs in spec.virtual_services:
        # adaptive scheduling (either layer) asks each of its real servers' load agent
        if any(g.scheduling == "adaptive" and any(serves(rs) for rs in g.real_servers) for g in vs.groups()):
            if vs.adaptive.port not in agent_ports:
                agent_ports.append(vs.adaptive.port)
            if vs.adaptive.path not in agent_paths:
                agent_paths.append(vs.adaptive.path)
        # a layer-7 service forwards as a proxy: only a transparent one concerns its real servers
        if vs.layer == 7 and not vs.layer7.transparent:
            continue
        for rs in vs.real_servers:
            if not serves(rs):
                continue
            if vs.forwarding in ("dr", "tun") and str(vs.address) not in vips:
                vips.append(str(vs.address))
            if vs.forwarding == "tun" and str(vs.address) not in tunnel_vips:
                tunnel_vips.append(str(vs.address))
            if vs.forwarding == "nat" and vs.name not in nat:
                nat.append(vs.name)
            if vs.layer == 7 and vs.name not in transparent:
                transparent.append(vs.name)
            for port in vs.ports_at(rs):
                if port not in ports:
                    ports.append(port)
    gateways = [str(f.address) for f in spec.cluster.gateways()] if nat or transparent else []
    return dict(vips=vips, tunnel_vips=tunnel_vips, ports=ports, nat_services=nat, transparent_services=transparent, gateways=gateways,
                load_agent=dict(ports=sorted(agent_ports), paths=sorted(agent_paths)))
