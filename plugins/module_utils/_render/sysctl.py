# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel settings an appliance needs for its spec, as a sysctl.d file. Pure.

``render`` returns the file with the settings it holds, so the backend applies and restores
those keys without reading the file back.
"""

from __future__ import annotations

from dataclasses import dataclass

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import programs
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
    # NAT forwards the real servers' replies, outbound NAT their own connections (autonat, use_for_server_nat)
    forwarded = set(vs.address.version for vs in nat)
    outbound = set(6 if family == "ip6" else 4 for family, source, vip in programs.outbound_nat(spec))
    for version, key in ((4, "net.ipv4.ip_forward"), (6, "net.ipv6.conf.all.forwarding")):
        suffix = " (IPv6)" if version == 6 else ""
        if version in forwarded:
            out.append((key, 1, "NAT forwards the real servers' replies" + suffix))
        elif version in outbound:
            out.append((key, 1, "the real servers' outbound connections are forwarded" + suffix))
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
