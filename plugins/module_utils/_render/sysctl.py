# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel settings an appliance needs for its spec, as a sysctl.d file. Pure.

``render`` returns the file with the settings it holds, so the backend applies and restores
those keys without reading the file back.
"""

from __future__ import annotations

from dataclasses import dataclass

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render.words import comment_word

PATH = "/etc/sysctl.d/60-lbkit.conf"
# The IPVS keys (net.ipv4.vs.*) exist only once the ip_vs module is loaded: it is loaded at boot
# (systemd-modules-load runs before systemd-sysctl) and before the keys are written.
MODULES_PATH = "/etc/modules-load.d/lbkit.conf"
IPVS_MODULE = "ip_vs"
IPVS_PREFIX = "net.ipv4.vs."


def settings(spec):
    """[(key, value, why)] the spec needs; empty when it needs none."""
    out = []
    layer7 = [vs for vs in spec.virtual_services if vs.layer == 7]
    nat = [vs for vs in spec.virtual_services if vs.layer == 4 and vs.forwarding == "nat"]
    if layer7:
        # HAProxy binds every VIP, also on the node that does not hold it (the backup).
        out.append(("net.ipv4.ip_nonlocal_bind", 1, "HAProxy binds VIPs this node may not hold"))
        if any(vs.address.version == 6 for vs in layer7):
            out.append(("net.ipv6.ip_nonlocal_bind", 1, "HAProxy binds IPv6 VIPs this node may not hold"))
    if any(vs.layer == 4 for vs in spec.virtual_services):
        # Without it IPVS silently drops a new connection whose client port matches an entry of
        # a real server that was removed (entries stay up to minutes): the client's SYNs time out.
        out.append(("net.ipv4.vs.expire_nodest_conn", 1, "IPVS expires the connections of a removed real server at once, "
                    "so a client reusing a port is scheduled afresh"))
    # the real servers' outbound connections through the appliance (autonat, use_for_server_nat)
    outbound = [f.address.version for f in spec.cluster.gateways()] if spec.cluster.autonat else []
    outbound += [rs.address.version for vs in spec.virtual_services if vs.use_for_server_nat for rs in vs.real_servers]
    if nat or outbound:
        if any(vs.address.version == 4 for vs in nat) or 4 in outbound:
            out.append(("net.ipv4.ip_forward", 1, "NAT forwards the real servers' replies" if nat else "the real servers' outbound connections are forwarded"))
        if any(vs.address.version == 6 for vs in nat) or 6 in outbound:
            out.append(("net.ipv6.conf.all.forwarding", 1, "NAT forwards the real servers' replies (IPv6)" if nat
                        else "the real servers' outbound connections are forwarded (IPv6)"))
    return out


@dataclass(frozen=True)
class SysctlConf:
    """The sysctl.d file and the settings it holds ({key: value as written})."""

    content: str
    settings: dict


def render(spec):
    """The sysctl.d file, or None when the spec needs no kernel setting."""
    items = settings(spec)
    if not items:
        return None
    lines = ["# Managed by lbkit.loadbalancer (cluster %s). Changes made here are overwritten." % comment_word(spec.cluster.name, "/cluster/name", "sysctl.d")]
    for key, value, why in items:
        lines.append("# %s" % why)
        lines.append("%s = %s" % (key, value))
    return SysctlConf("\n".join(lines) + "\n", dict((key, str(value)) for key, value, why in items))


def modules(spec):
    """The modules-load.d file: ip_vs where the spec has layer-4 services (its sysctls need it), else None."""
    if not any(key.startswith(IPVS_PREFIX) for key, value, why in settings(spec)):
        return None
    return ("# Managed by lbkit.loadbalancer (cluster %s). Changes made here are overwritten.\n"
            "# IPVS, loaded before %s is applied at boot\n%s\n" % (comment_word(spec.cluster.name, "/cluster/name", "sysctl.d"), PATH, IPVS_MODULE))
