# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The manuals' diagnosis of one appliance's IPVS table, as a pure function over what appliance_info reads."""

from __future__ import annotations

# A handful of half-open connections is normal; this many, making up this share of a
# service's connections, is the symptom the manuals describe.
SYN_RECV_MIN = 5
SYN_RECV_SHARE = 0.5


def owns(svc, connection):
    """Whether ``connection`` (``ipvsadm -Lnc``, parsed) is one of IPVS service ``svc``'s: its protocol,
    address and one of its ports (a firewall-mark service has several)."""
    ports = svc.get("ports", [svc["port"]])
    return (connection["protocol"], connection["virtual"][0]) == (svc["protocol"], svc["address"]) and connection["virtual"][1] in ports


def ipvs_diagnosis(services, connections, forwarding):
    """Diagnoses for the IPVS table: ``forwarding`` maps (protocol, address, port) to dr/nat/tun."""
    out = []
    for svc in services:
        key = (svc["protocol"], svc["address"], svc["port"])
        mine = [c for c in connections if owns(svc, c)]
        syn = [c for c in mine if c["state"] == "SYN_RECV"]
        if len(syn) < SYN_RECV_MIN or len(syn) < SYN_RECV_SHARE * len(mine):
            continue
        where = "%s:%d/%s" % (svc["address"], svc["port"], svc["protocol"])
        method = forwarding.get(key)
        if method == "dr":
            why = (
                "the real servers' replies never complete the handshake through this path: the ARP problem. Each real "
                "server must hold the VIP on its loopback and never answer ARP for it (arp_ignore=1, arp_announce=2), "
                "and reply straight to the client (lbkit.loadbalancer.realserver role)."
            )
        elif method == "nat":
            why = (
                "the real servers' replies do not come back through the appliance: their default gateway must be the "
                "appliance's internal floating IP (lbkit.loadbalancer.realserver role)."
            )
        elif method == "tun":
            why = (
                "the real servers do not answer tunnelled packets: each needs the ipip module with tunl0 up, rp_filter 0 on tunl0 and not 1 "
                "(strict) on all, and the VIP on its loopback without answering ARP for it (lbkit.loadbalancer.realserver role)."
            )
        else:
            why = "the real servers do not complete the handshakes."
        out.append("%s: %d of %d connections are stuck in SYN_RECV; %s" % (where, len(syn), len(mine), why))
    return out
