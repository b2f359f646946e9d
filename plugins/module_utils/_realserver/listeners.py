# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The listener check of every real server: which TCP sockets listen where, and the one rule.

A real server only sees a VIP's packets in a service bound to the VIP or to all addresses.
Each system lists its listening sockets in its own layout (Linux ``ss -ltnH``, the BSDs' and
Solaris' ``netstat``); the parsers here turn that into ``[(local address, port)]``, and
``check_listeners`` and ``listener_error`` are the rule and the message of every module
(the Windows module states the same rule in PowerShell).

netstat writes ``ADDRESS.PORT``: ``*.80`` (every address, IPv4 or IPv6), ``192.0.2.10.8080``,
``2001:db8::10.8080``. Addresses are normalised (scope ids dropped, IPv4-mapped IPv6 written as
IPv4, IPv6 compressed) so that they compare with the VIPs as ``str(ipaddress)`` writes them.
"""

from __future__ import annotations

import ipaddress


# -W: FreeBSD and macOS truncate a long IPv6 address to its column without it (fe80::aede:48ff:.49164)
BSD_NETSTAT_ARGS = ("-a", "-n", "-W", "-p", "tcp")
# no -f: both the IPv4 and the IPv6 table (a service on [::] also takes IPv4 unless IPV6_V6ONLY)
SOLARIS_NETSTAT_ARGS = ("-a", "-n", "-P", "tcp")
BSD_PROTOCOLS = ("tcp4", "tcp6", "tcp46")
LISTEN = "LISTEN"
WILDCARDS = ("0.0.0.0", "::", "*")


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


def parse_ss(text):
    """``ss -ltnH`` of Linux -> [(local address, port)], the address as ss prints it (``*``, ``::``, ``10.0.0.1``)."""
    out = []
    for line in (text or "").splitlines():
        words = line.split()
        if len(words) < 5:
            continue
        address, _sep, port = words[3].rpartition(":")
        if address.startswith("[") and address.endswith("]"):
            address = address[1:-1]
        if port.isdigit():
            # ss appends the bound device to the address (127.0.0.53%lo); normalised as netstat's are
            normalised = split_address("%s.%s" % (address, port))
            out.append((normalised[0] if normalised else address.split("%", 1)[0], int(port)))
    return out


def check_listeners(listeners, ports, vips, fitting=()):
    """{port: [matching listener addresses]} for each port, and the ports no fitting listener holds.

    A listener fits when it is bound to every address or to one of the VIPs; ``fitting`` are
    further addresses that fit (Linux's redirect method delivers to the receiving interface's own).
    """
    fitting = {str(v) for v in vips} | set(WILDCARDS) | {str(a) for a in fitting}
    found = {}
    missing = []
    for port in ports:
        found[port] = sorted({address for address, p in listeners if p == port and address in fitting})
        if not found[port]:
            missing.append(port)
    return found, missing


def listener_error(missing, listeners, vips, method="loopback"):
    """The message for ports nothing fitting listens on: the port, what does listen on it, and the fix."""
    parts = []
    for port in missing:
        others = sorted({address for address, p in listeners if p == port})
        parts.append("port %d: %s" % (port, "bound only to %s" % ", ".join(others) if others else "nothing listens"))
    target = "all addresses (0.0.0.0 / [::])"
    if method == "loopback" and vips:
        target = "the VIP (%s) or to %s" % (", ".join(str(v) for v in vips), target)
    return "listen_ports: %s. Fix: bind the service to %s; a service bound elsewhere never sees the VIP's packets." % ("; ".join(parts), target)
