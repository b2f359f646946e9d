# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The VIP list every real-server method takes.

A real server in Direct Routing or tunnelling holds each VIP as a host address (/32, /128)
on a loopback interface; anything else in the list is refused here, before a command runs,
by the one table of VIP rules (``_net/addresses.py``) the model and the Windows module apply too.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import NotImplementedOnPlatform, RealServerError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._net.addresses import unusable


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
        if "%" in text:
            raise RealServerError("%s: %r has a zone id; give the bare address (a VIP is no link-local address)." % (where, text))
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise RealServerError("%s: %r is not an IP address." % (where, text)) from None
        problem = unusable(address)
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
