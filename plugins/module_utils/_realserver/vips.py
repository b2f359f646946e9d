# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The VIP list every real-server method takes, and the errors the methods raise.

A real server in Direct Routing or tunnelling holds each VIP as a host address (/32, /128)
on a loopback interface; anything else in the list is refused here, before a command runs.
"""

from __future__ import annotations

import ipaddress


class RealServerError(Exception):
    """A request the real-server code cannot carry out; the message names the option and the fix."""


class NotImplementedOnPlatform(RealServerError):
    """The request is valid, but lbkit does not implement it on this platform."""


def parse_vips(values, families=(4, 6), option="vips", platform=None):
    """Validate the ``vips`` option: a list of host addresses, each listed once.

    Returns the addresses as ``ipaddress`` objects in the order given. ``families`` are the
    IP versions the platform's method implements; another version raises
    NotImplementedOnPlatform naming ``platform``.
    """
    if not values:
        raise RealServerError("%s is empty: list at least one VIP (the virtual service's address)." % option)
    seen = {}
    out = []
    for index, value in enumerate(values):
        where = "%s[%d]" % (option, index)
        text = str(value).strip()
        if "/" in text:
            raise RealServerError(
                "%s: %r has a prefix length; give the bare address, the VIP is always added as a host address (/32 or /128)." % (where, text))
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise RealServerError("%s: %r is not an IP address." % (where, text)) from None
        problem = _unusable(address)
        if problem:
            raise RealServerError("%s: %s is %s; a VIP must be a unicast address clients can reach." % (where, address, problem))
        if address.version not in families:
            raise NotImplementedOnPlatform(
                "%s: %s is an IPv%d VIP, which lbkit does not implement on %s (only IPv%s). Use an IPv%s VIP, or configure it by hand."
                % (where, address, address.version, platform or "this platform",
                   " and IPv".join(str(f) for f in families), "/IPv".join(str(f) for f in families)))
        if address in seen:
            raise RealServerError("%s: %s is already listed as %s[%d]; list each VIP once." % (where, address, option, seen[address]))
        seen[address] = index
        out.append(address)
    return out


def _unusable(address):
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_link_local:
        return "a link-local address"
    if address.version == 4 and address == ipaddress.IPv4Address("255.255.255.255"):
        return "the broadcast address"
    return None


def host_prefix(address):
    """32 for IPv4, 128 for IPv6: the prefix length a VIP has on the loopback."""
    return 32 if address.version == 4 else 128


def sort_key(address):
    """Order addresses IPv4 first, then numerically (ipaddress cannot compare across versions)."""
    return (address.version, int(address))
