# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one reader of iproute2's JSON output (``ip -json address``, ``ip -json route``). Pure.

Appliances and Linux real servers read their interfaces through these parsers, so every module
sees the same links, flags and addresses and fails the same way on output it cannot read.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import HostOutputUnreadable

ADDRESS_COMMAND = ("ip", "-json", "address", "show")
DEFAULT_ROUTE_COMMAND = ("ip", "-json", "route", "show", "default")
_FAMILY_PREFIX = {"inet": 32, "inet6": 128}


@dataclass(frozen=True)
class Link:
    """One link of ``ip -json address``: its name, flags, link type and addresses (``ip_interface``)."""

    name: str
    flags: frozenset
    link_type: str
    addresses: tuple

    @property
    def loopback(self):
        return self.link_type == "loopback" or "LOOPBACK" in self.flags

    @property
    def up(self):
        return "UP" in self.flags


@dataclass(frozen=True)
class Route:
    """The IPv4 default route: its gateway (None for a device route) and device."""

    gateway: str | None
    dev: str | None

    def as_dict(self):
        return {"gateway": self.gateway, "dev": self.dev}


def _load(text, command):
    try:
        data = json.loads(text or "[]")
    except ValueError as exc:
        raise HostOutputUnreadable("cannot read the output of '%s': %s" % (" ".join(command), exc)) from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise HostOutputUnreadable("cannot read the output of '%s': a JSON list of objects was expected." % " ".join(command))
    return data


def parse_links(text):
    """``ip -json address show`` -> [Link] in the order ip lists them.

    Addresses of another family than inet/inet6, or that do not parse, are left out; a link
    without a name cannot be addressed by anything and is left out too.
    """
    links = []
    for item in _load(text, ADDRESS_COMMAND):
        name = item.get("ifname")
        if not isinstance(name, str) or not name:
            continue
        addresses = []
        for info in item.get("addr_info") or []:
            if not isinstance(info, dict) or "local" not in info:
                continue
            family = info.get("family", "inet6" if ":" in str(info["local"]) else "inet")
            if family not in _FAMILY_PREFIX:
                continue
            try:
                addresses.append(ipaddress.ip_interface("%s/%s" % (info["local"], info.get("prefixlen", _FAMILY_PREFIX[family]))))
            except ValueError:
                continue
        flags = item.get("flags") if isinstance(item.get("flags"), list) else []
        links.append(Link(name, frozenset(str(f) for f in flags), str(item.get("link_type", "")), tuple(addresses)))
    return links


def by_name(links):
    """{interface name: [ip_interface, ...]}: what the appliance's host checks and renderers take."""
    return dict((link.name, list(link.addresses)) for link in links)


def all_addresses(links):
    """Every address of every link (``ip_address``), in order."""
    return [address.ip for link in links for address in link.addresses]


def parse_default_route(text):
    """``ip -json route show default`` -> Route, or None when there is no default route."""
    for route in _load(text, DEFAULT_ROUTE_COMMAND):
        if route.get("dst") == "default":
            return Route(route.get("gateway"), route.get("dev"))
    return None
