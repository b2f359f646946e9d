# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers for the spec's compact value forms: addresses, port lists, durations, status codes.

Each parser raises ``ValueError(message, fix)``; the model turns it into a ``SpecError``
at the field's path.
"""

from __future__ import annotations

import ipaddress
import re

MAX_EXTRA_PORTS = 510

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^([0-9]+)(s|m|h|d)?$")
_SPLIT = re.compile(r"[\s,]+")


def parse_address(text):
    """An IPv4 or IPv6 host address (no prefix)."""
    try:
        return ipaddress.ip_address(str(text))
    except ValueError:
        raise ValueError("%r is not an IPv4 or IPv6 address." % (text,), "write an address like 192.0.2.10 or 2001:db8::10.")


def parse_interface(text):
    """An address with its prefix length, such as 10.0.1.1/24."""
    try:
        return ipaddress.ip_interface(str(text))
    except ValueError:
        raise ValueError("%r is not an address with a prefix length." % (text,), "write it like 10.0.1.1/24 or 2001:db8::1/64.")


def parse_duration(value):
    """Seconds from a number or a string with a unit (s, m, h, d)."""
    if isinstance(value, bool):
        raise ValueError("%r is not a duration." % (value,), "write seconds (300) or a number with s, m, h or d (5m).")
    if isinstance(value, int):
        return value
    match = _DURATION.match(str(value).strip())
    if not match:
        raise ValueError("%r is not a duration." % (value,), "write seconds (300) or a number with s, m, h or d (5m).")
    return int(match.group(1)) * _UNITS[match.group(2) or ""]


def format_duration(seconds):
    """The shortest exact spelling of a duration, for messages."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return "%d%s" % (seconds // size, unit)
    return "%ds" % seconds


def _items(value):
    if isinstance(value, (list, tuple)):
        out = []
        for item in value:
            if isinstance(item, bool):
                raise ValueError("%r is not a port." % (item,), "list port numbers or ranges like 8080-8089.")
            out.extend(_SPLIT.split(str(item).strip()))
        return [i for i in out if i]
    return [i for i in _SPLIT.split(str(value).strip()) if i]


def _range(token, low, high, what):
    parts = token.split("-")
    if len(parts) == 1:
        parts = [parts[0], parts[0]]
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError(
            "%r is not a %s or a range of them." % (token, what), "write numbers or ranges like 8080-8089, separated by spaces or commas."
        )
    start, end = int(parts[0]), int(parts[1])
    if start > end:
        raise ValueError("range %r runs backwards." % token, "write %d-%d." % (end, start))
    if start < low or end > high:
        raise ValueError("%r is outside %d-%d." % (token, low, high), "use values from %d to %d." % (low, high))
    return start, end


def parse_ports(value):
    """Expand an extra-ports value ('443 8080-8089', or a list) into a sorted tuple of ports."""
    ports = set()
    for token in _items(value):
        start, end = _range(token, 1, 65535, "port")
        if end - start + 1 > MAX_EXTRA_PORTS:
            raise ValueError(
                "range %r holds %d ports; at most %d are allowed in all." % (token, end - start + 1, MAX_EXTRA_PORTS),
                "split the ports over more services.",
            )
        for port in range(start, end + 1):
            if port in ports:
                raise ValueError("port %d is listed more than once." % port, "list each port once.")
            ports.add(port)
    if not ports:
        raise ValueError("no ports given.", "list ports, or remove the field.")
    return tuple(sorted(ports))


def parse_status_codes(value):
    """Expected HTTP status codes: '200-299 301' or a list, as a tuple of (low, high) ranges."""
    ranges = []
    for token in _items(value):
        ranges.append(_range(token, 100, 599, "HTTP status code"))
    if not ranges:
        raise ValueError("no status codes given.", "list codes like 200-299, or remove the field for the default.")
    return tuple(sorted(set(ranges)))


def parse_granularity(value, family):
    """Source-IP granularity as a prefix length: '255.255.255.0' or '/24' (IPv4), '/64' (IPv6)."""
    bits = 32 if family == 4 else 128
    text = str(value).strip()
    if text.startswith("/"):
        if not text[1:].isdigit() or not 0 < int(text[1:]) <= bits:
            raise ValueError("%r is not a prefix length from /1 to /%d." % (value, bits), "write it like /24.")
        return int(text[1:])
    if family != 4:
        raise ValueError("an IPv6 service takes a prefix length, not %r." % (value,), "write it like /64.")
    try:
        return ipaddress.IPv4Network("0.0.0.0/%s" % text).prefixlen
    except ValueError:
        raise ValueError("%r is not a netmask or a prefix length." % (value,), "write it like 255.255.255.0 or /24.")
