# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules that need the appliance's own view: its interfaces and addresses.

Pure functions over the appliance's interfaces ({name: [ip_interface]}, from
``_net.ip.by_name``), so they are tested against captured output without a host.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import Collector, join


def check_host(spec, host, interfaces, managed=()):
    """Errors for this appliance: it must be a node, the named interfaces must exist, and no
    VIP or floating IP may be one of its own interface addresses.

    ``managed`` are addresses lbkit itself placed on the host (the floating addresses the
    running keepalived holds as master); they are not the host's own.
    """
    col = Collector()
    managed = set(ipaddress.ip_address(str(a)) for a in managed)
    owned = {}
    for ifname, addrs in sorted(interfaces.items()):
        for addr in addrs:
            if addr.ip not in managed:
                owned.setdefault(addr.ip, ifname)
    cluster = spec.cluster
    node = cluster.node(host)
    if node is None:
        col.add(
            "/cluster/nodes",
            "host '%s' is not a node of cluster '%s' (nodes: %s)." % (host, cluster.name, ", ".join(n.host for n in cluster.nodes)),
            "add it to /cluster/nodes, or run against the cluster's own appliances.",
        )
    elif node.heartbeat_address is not None and node.heartbeat_address not in owned:
        col.add(
            join(node.path, "heartbeat_address"),
            "%s is not an address of %s." % (node.heartbeat_address, host),
            "use one of its addresses: %s." % (", ".join(str(a) for a in sorted(owned, key=str)) or "none found"),
        )
    if node is not None and spec.monitoring is not None and node.management_address is not None and node.management_address not in owned:
        col.add(
            join(node.path, "management_address"),
            "%s is not an address of %s, so its metrics endpoint could not listen there." % (node.management_address, host),
            "use one of its addresses: %s." % (", ".join(str(a) for a in sorted(owned, key=str)) or "none found"),
        )
    for side in ("external", "internal"):
        name = getattr(cluster.interfaces, side)
        if name and name not in interfaces:
            col.add(
                join("/cluster/interfaces", side),
                "interface '%s' does not exist on %s." % (name, host),
                "use one of: %s." % ", ".join(sorted(interfaces)),
            )
    for i, name in enumerate(cluster.ha.track_interfaces):
        if name not in interfaces:
            col.add(
                join("/cluster/ha/track_interfaces", i),
                "interface '%s' does not exist on %s." % (name, host),
                "use one of: %s." % ", ".join(sorted(interfaces)),
            )
    for vs in spec.virtual_services:
        if vs.address in owned:
            col.add(
                join(vs.path, "address"),
                "%s is an address of interface %s on %s; a VIP must not be an appliance's own address." % (vs.address, owned[vs.address], host),
                "choose an unused address for the VIP.",
            )
    for fip in cluster.floating_ips:
        if fip.address.ip in owned:
            col.add(
                join(fip.path, "address"),
                "%s is an address of interface %s on %s; a floating IP must not be an appliance's own address."
                % (fip.address.ip, owned[fip.address.ip], host),
                "choose an unused address.",
            )
    return col.errors
