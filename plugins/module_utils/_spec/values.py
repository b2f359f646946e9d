# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers for the spec's compact value forms: addresses, port lists, durations, status codes.

Each parser raises ``ValueError(message, fix)``; the model turns it into a ``SpecError``
at the field's path. Digits are ASCII digits only ('٨٠' is not 80), and every value a message
quotes goes through ``errors.show``.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._net.addresses import unusable
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import show

MAX_EXTRA_PORTS = 510

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
# Nine digits are more seconds than any field takes; more would only be a way to hang the parser.
_DURATION = re.compile(r"([0-9]{1,9})(s|m|h|d)?", re.ASCII)
_NUMBER = re.compile(r"[0-9]{1,6}", re.ASCII)
_SPLIT = re.compile(r"[ \t,]+")
_IPV4 = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){3}", re.ASCII)
_IPV6 = re.compile(r"[0-9A-Fa-f:.]{2,45}", re.ASCII)


def _ip(text):
    """An address as the spec writes it: dotted-quad IPv4 or IPv6, ASCII only, no scope or prefix."""
    if not isinstance(text, str) or not (_IPV4.fullmatch(text) or (":" in text and _IPV6.fullmatch(text))):
        raise ValueError
    return ipaddress.ip_address(text)


def parse_address(text, what="an address"):
    """An IPv4 or IPv6 host address (no prefix) that ``what`` can be: a unicast address clients reach."""
    try:
        address = _ip(text)
    except ValueError:
        raise ValueError("%s is not an IPv4 or IPv6 address." % show(text), "write an address like 192.0.2.10 or 2001:db8::10.") from None
    why = unusable(address)
    if why:
        raise ValueError("%s is %s, which cannot be %s." % (address, why, what), "use a unicast address the clients and appliances can reach.")
    return address


def parse_interface(text, what="a floating IP"):
    """An address with its prefix length, such as 10.0.1.1/24."""
    fix = "write it like 10.0.1.1/24 or 2001:db8::1/64."
    if not isinstance(text, str) or text.count("/") != 1:
        raise ValueError("%s is not an address with a prefix length." % show(text), fix)
    address, prefix = text.split("/")
    try:
        ip = _ip(address)
    except ValueError:
        raise ValueError("%s is not an address with a prefix length." % show(text), fix) from None
    bits = 32 if ip.version == 4 else 128
    if not _NUMBER.fullmatch(prefix) or not 1 <= int(prefix) <= bits:
        raise ValueError("%s is not an address with a prefix length from /1 to /%d." % (show(text), bits), fix)
    why = unusable(ip)
    if why:
        raise ValueError("%s is %s, which cannot be %s." % (ip, why, what), "use a unicast address on the appliances' network.")
    return ipaddress.ip_interface(text)


def parse_source(text):
    """An address or a network (``192.168.20.0/24``) allowed to reach the monitoring endpoint."""
    fix = "write an address like 192.168.20.5, or a network like 192.168.20.0/24 or 2001:db8::/64."
    address, slash, prefix = text.partition("/") if isinstance(text, str) else ("", "", "")
    try:
        ip = _ip(address)
    except ValueError:
        raise ValueError("%s is not an address or a network." % show(text), fix) from None
    bits = 32 if ip.version == 4 else 128
    if slash and (not _NUMBER.fullmatch(prefix) or not 0 <= int(prefix) <= bits):
        raise ValueError("%s is not a network with a prefix length from /0 to /%d." % (show(text), bits), fix)
    try:
        return ipaddress.ip_network(text if slash else "%s/%d" % (ip, bits))
    except ValueError:
        network = ipaddress.ip_network(text, strict=False)
        raise ValueError("%s has host bits set." % show(text), "write the network as %s." % network) from None


def parse_duration(value):
    """Seconds from a number or a string with a unit (s, m, h, d)."""
    fix = "write seconds (300) or a number with s, m, h or d (5m)."
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError("%s is not a duration." % show(value), fix)
    if isinstance(value, int):
        return value
    match = _DURATION.fullmatch(value)
    if not match:
        raise ValueError("%s is not a duration." % show(value), fix)
    return int(match.group(1)) * _UNITS[match.group(2) or ""]


def format_duration(seconds):
    """The shortest exact spelling of a duration, for messages."""
    if seconds.bit_length() > 64:
        return show(seconds) + " seconds"
    if seconds < 0:
        return "%ds" % seconds
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return "%d%s" % (seconds // size, unit)
    return "%ds" % seconds


def _tokens(value, what):
    """The items of a compact list ('443 8080-8089', or a list of numbers and such strings)."""
    fix = "list numbers or ranges like 8080-8089, separated by spaces or commas."
    items = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise ValueError("%s is not a %s or a range of them." % (show(item), what), fix)
        if isinstance(item, int):
            out.append(item)
        else:
            out.extend(t for t in _SPLIT.split(item.strip(" \t")) if t)
    return out


def _range(token, low, high, what):
    fix = "write numbers or ranges like 8080-8089, separated by spaces or commas."
    if isinstance(token, int):
        if not low <= token <= high:
            raise ValueError("%s is outside %d-%d." % (show(token), low, high), "use values from %d to %d." % (low, high))
        return token, token
    parts = token.split("-")
    if len(parts) == 1:
        parts = [parts[0], parts[0]]
    if len(parts) != 2 or not all(_NUMBER.fullmatch(p) for p in parts):
        raise ValueError("%s is not a %s or a range of them." % (show(token), what), fix)
    start, end = int(parts[0]), int(parts[1])
    if start > end:
        raise ValueError("range %s runs backwards." % show(token), "write %d-%d." % (end, start))
    if start < low or end > high:
        raise ValueError("%s is outside %d-%d." % (show(token), low, high), "use values from %d to %d." % (low, high))
    return start, end


def parse_ports(value):
    """Expand an extra-ports value ('443 8080-8089', or a list) into a sorted tuple of distinct ports.

    Ranges may overlap and ports repeat, as the LoadMaster manual's own example does
    ('8000-8080, 9002, 80, 8050, 9000'); what counts is the set of ports, at most 510 of them.
    """
    ports = set()
    for token in _tokens(value, "port"):
        start, end = _range(token, 1, 65535, "port")
        if end - start + 1 > MAX_EXTRA_PORTS:
            raise ValueError(
                "range %s holds %d ports; at most %d are allowed in all." % (show(token), end - start + 1, MAX_EXTRA_PORTS),
                "split the ports over more services.",
            )
        ports.update(range(start, end + 1))
        if len(ports) > MAX_EXTRA_PORTS:
            raise ValueError("lists more than %d distinct ports; at most %d are allowed in all." % (MAX_EXTRA_PORTS, MAX_EXTRA_PORTS),
                             "split the ports over more services.")
    if not ports:
        raise ValueError("no ports given.", "list ports, or remove the field.")
    return tuple(sorted(ports))


def runs(numbers):
    """The distinct ``numbers`` as runs of consecutive ones, [(first, last), ...] in order (ports as
    ranges: the engines' port lists, the LoadMaster's success codes)."""
    out = []
    for number in sorted(set(numbers)):
        if out and number == out[-1][1] + 1:
            out[-1][1] = number
        else:
            out.append([number, number])
    return [tuple(run) for run in out]


def port_ranges(ports):
    """The distinct ``ports`` as the engines write them: ['80', '8080-8081']."""
    return [str(a) if a == b else "%d-%d" % (a, b) for a, b in runs(ports)]


def parse_status_codes(value):
    """Expected HTTP status codes: '200-299 301' or a list, as a tuple of (low, high) ranges."""
    ranges = []
    for token in _tokens(value, "HTTP status code"):
        ranges.append(_range(token, 100, 599, "HTTP status code"))
    if not ranges:
        raise ValueError("no status codes given.", "list codes like 200-299, or remove the field for the default.")
    return tuple(sorted(set(ranges)))


def parse_granularity(value, family):
    """Source-IP granularity as a prefix length: '255.255.255.0' or '/24' (IPv4), '/64' (IPv6)."""
    bits = 32 if family == 4 else 128
    text = value if isinstance(value, str) else ""
    if text.startswith("/"):
        if not _NUMBER.fullmatch(text[1:]) or not 0 < int(text[1:]) <= bits:
            raise ValueError("%s is not a prefix length from /1 to /%d." % (show(value), bits), "write it like /24.")
        return int(text[1:])
    if family != 4:
        raise ValueError("an IPv6 service takes a prefix length, not %s." % show(value), "write it like /64.")
    fix = "write a netmask like 255.255.255.0, or a prefix length like /24."
    if not _IPV4.fullmatch(text):
        raise ValueError("%s is not a netmask or a prefix length." % show(value), fix)
    try:
        prefix = ipaddress.IPv4Network("0.0.0.0/%s" % text).prefixlen
    except ValueError:
        raise ValueError("%s is not a netmask (its one bits must come first)." % show(value), fix) from None
    if prefix == 0:
        raise ValueError("%s groups every client together, which is no granularity." % show(value), fix)
    return prefix


# Escapes Python's regular expressions read and PCRE2 (HAProxy's) refuses.
_PYTHON_ONLY_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\([uUNlL])")


def parse_regex(value):
    """A content rule's regular expression, as given, once it compiles (Python's reading of the PCRE syntax HAProxy takes)."""
    odd = _PYTHON_ONLY_ESCAPE.search(value)
    if odd:
        raise ValueError("%s holds the escape \\%s, which HAProxy's regular expressions (PCRE2) do not take." % (show(value), odd.group(1)),
                         "write the character itself (with a backslash before it where it is special).")
    try:
        re.compile(value)
    except (re.error, RecursionError, OverflowError) as exc:
        raise ValueError("%s is not a regular expression (%s)." % (show(value), getattr(exc, "msg", None) or type(exc).__name__),
                         "write a valid regular expression, or use match: exact, prefix or suffix.") from None
    return value
