# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The listener check of the FreeBSD, macOS and Solaris real servers: which TCP sockets listen where.

A real server only sees a VIP's packets in a service bound to the VIP or to all addresses.
Each system lists its listening sockets with a ``netstat`` that is there by default, in its own
layout; the parsers here turn that into ``[(local address, port)]`` as the Linux module's
``ss -ltnH`` parser does, and the rule and the message are the Linux module's (the loopback
method: a VIP or a wildcard fits), so every real-server module says the same thing.

netstat writes ``ADDRESS.PORT``: ``*.80`` (every address, IPv4 or IPv6), ``192.0.2.10.8080``,
``2001:db8::10.8080``. Addresses are normalised (scope ids dropped, IPv4-mapped IPv6 written as
IPv4, IPv6 compressed) so that they compare with the VIPs as ``str(ipaddress)`` writes them.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import linux

# -W: FreeBSD and macOS truncate a long IPv6 address to its column without it (fe80::aede:48ff:.49164)
BSD_NETSTAT_ARGS = ("-a", "-n", "-W", "-p", "tcp")
# no -f: both the IPv4 and the IPv6 table (a service on [::] also takes IPv4 unless IPV6_V6ONLY)
SOLARIS_NETSTAT_ARGS = ("-a", "-n", "-P", "tcp")
BSD_PROTOCOLS = ("tcp4", "tcp6", "tcp46")
LISTEN = "LISTEN"


def split_address(local):
    """``ADDRESS.PORT`` as netstat writes it -> (address, port), or None when it names no port (``*.*``)."""
    address, sep, port = local.rpartition(".")
    if not sep or not port.isdigit():
        return None
    address = address.split("%", 1)[0]
    if address == "*":
        return address, int(port)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        # not an address (a name, or an address netstat cut short): kept as printed, it fits no VIP
        return address, int(port)
    if parsed.version == 6 and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return str(parsed), int(port)


def parse_bsd_netstat(text):
    """``netstat -anW -p tcp`` of FreeBSD or macOS -> [(local address, port)] of the listening sockets.

    The columns are Proto, Recv-Q, Send-Q, Local Address, Foreign Address, (state); macOS's
    ``-v`` adds more after the state, which are ignored.
    """
    out = []
    for line in (text or "").splitlines():
        words = line.split()
        if len(words) < 6 or words[0] not in BSD_PROTOCOLS or words[5] != LISTEN:
            continue
        local = split_address(words[3])
        if local is not None:
            out.append(local)
    return out


def parse_solaris_netstat(text):
    """``netstat -an -P tcp`` of Solaris or illumos -> [(local address, port)] of the listening sockets.

    The IPv4 and IPv6 tables both start with Local Address; the state is the last column, or
    the last but one in the IPv6 table when the socket is bound to an interface (``If``).
    """
    out = []
    for line in (text or "").splitlines():
        words = line.split()
        if len(words) < 3 or LISTEN not in words[-2:]:
            continue
        local = split_address(words[0])
        if local is not None:
            out.append(local)
    return out


def check_listeners(listeners, ports, vips):
    """{port: [fitting listener addresses]} and the ports nothing fitting listens on: the Linux rule for a VIP on the loopback."""
    return linux.check_listeners(listeners, ports, vips, (), "loopback")


def listener_error(missing, listeners, vips):
    """The failure message naming each port, what listens on it, the VIPs and the fix (the Linux module's)."""
    return linux.listener_error(missing, listeners, vips, "loopback")
