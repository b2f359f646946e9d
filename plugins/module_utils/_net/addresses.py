# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which addresses can be a VIP, a real server or a heartbeat address: one table for everything.

The spec's model, the real-server modules (Linux, BSD, Solaris) and the Windows module apply
this table. The Windows module carries a copy generated from it (``scripts/gen_vip_rules.py``
writes the block between its markers; a unit test fails when the copy is stale), so the
PowerShell refuses exactly what Python refuses.
"""

from __future__ import annotations

import ipaddress

# (network, what an address in it is). An address in one of these networks is never a unicast
# address a client reaches a service on. Order matters only for the message: the first match names it.
UNUSABLE = (
    ("0.0.0.0/8", "in 0.0.0.0/8 ('this network', which includes the unspecified address 0.0.0.0)"),
    ("127.0.0.0/8", "a loopback address"),
    ("169.254.0.0/16", "a link-local address"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "in the reserved range 240.0.0.0/4 (which includes the broadcast address 255.255.255.255)"),
    ("::/128", "the unspecified address"),
    ("::1/128", "the loopback address"),
    ("::ffff:0:0/96", "an IPv4-mapped IPv6 address (write the IPv4 address itself)"),
    ("fe80::/10", "a link-local address"),
    ("ff00::/8", "a multicast address"),
)

_NETWORKS = tuple((ipaddress.ip_network(net), why) for net, why in UNUSABLE)


def unusable(address):
    """Why ``address`` (an ``ip_address``) cannot be a service, server or heartbeat address; None when it can."""
    for network, why in _NETWORKS:
        if address.version == network.version and address in network:
            return why
    return None


def host_prefix(address):
    """32 for IPv4, 128 for IPv6: the prefix length of a host address (a VIP on a loopback)."""
    return 32 if address.version == 4 else 128


def sort_key(address):
    """Order addresses IPv4 first, then numerically (ipaddress cannot compare across versions)."""
    return (address.version, int(address))
