# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Solaris real servers for Direct Routing and tunnelling.

Each VIP gets a logical loopback interface, as the manuals describe: ``ifconfig lo0:N plumb``
then ``ifconfig lo0:N VIP netmask 255.255.255.255 up``, persisted in /etc/hostname.lo0:N
(content ``VIP netmask 255.255.255.255 up``), which Solaris 10 and illumos read at boot.
N is the unit that already holds the VIP, or else the first unit neither plumbed nor named
by a hostname file. IPv4 only: IPv6 logical interfaces are not implemented.

Pure: parse ``ifconfig -a`` output and hostname.lo0:N files into a SolarisHost, plan typed
actions, render argv lists and file contents, simulate a plan.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.actions import RemoveFile, WriteFile
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.vips import (
    NotImplementedOnPlatform,
    RealServerError,
    sort_key,
)

LOOPBACK = "lo0"
HOST_NETMASK = "255.255.255.255"
HOSTNAME_DIR = "/etc"

_HEADER = re.compile(r"^(?P<name>[A-Za-z0-9_.]+?)(?::(?P<unit>\d+))?: flags=(?P<bits>[0-9a-fA-F]+)<(?P<flags>[^>]*)>")
_HOSTNAME_FILE = re.compile(r"^hostname\.lo0:(?P<unit>\d+)$")


@dataclass(frozen=True)
class LogicalInterface:
    """One entry of ``ifconfig -a``: ``lo0:3`` is physical ``lo0``, unit 3 (0 for the physical one)."""

    physical: str
    unit: int
    family: int
    flags: frozenset = field(default_factory=frozenset)
    address: object = None
    zone: str = None

    @property
    def name(self):
        return self.physical if self.unit == 0 else "%s:%d" % (self.physical, self.unit)

    @property
    def up(self):
        return "UP" in self.flags


@dataclass(frozen=True)
class HostnameFile:
    """/etc/hostname.lo0:N: the unit it configures at boot, its content, and the address it sets."""

    unit: int
    content: str
    directory: str = HOSTNAME_DIR

    @property
    def path(self):
        return hostname_path(self.unit, self.directory)

    @property
    def address(self):
        return hostname_file_address(self.content)


@dataclass(frozen=True)
class SolarisHost:
    """The IPv4 logical interfaces of lo0 and the hostname.lo0:N files."""

    units: tuple
    hostname_files: tuple = ()
    hostname_dir: str = HOSTNAME_DIR


def parse_ifconfig_a(text):
    """``ifconfig -a`` output of Solaris or illumos -> [LogicalInterface] in output order.

    Solaris lists each logical interface once per address family (``lo0`` IPv4 and ``lo0``
    IPv6 are two entries); the family comes from the IPv4/IPv6 flag. ``zone NAME`` lines mark
    a unit the global zone assigned to a non-global zone.
    """
    found = []
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            flags = frozenset(f for f in header.group("flags").split(",") if f)
            family = 6 if "IPv6" in flags else 4
            found.append(LogicalInterface(header.group("name"), int(header.group("unit") or 0), family, flags))
            continue
        if not found or not line[:1].isspace():
            continue
        words = line.split()
        if not words:
            continue
        current = found[-1]
        if words[0] == "zone" and len(words) > 1:
            found[-1] = replace(current, zone=words[1])
        elif words[0] in ("inet", "inet6") and current.address is None:
            address = _parse_address(words)
            if address is not None:
                found[-1] = replace(current, address=address)
    return found


def _parse_address(words):
    text = words[1]
    if words[0] == "inet6" or "/" in text:
        try:
            return ipaddress.ip_interface(text)
        except ValueError:
            return None
    options = dict(zip(words[2::2], words[3::2]))
    if len(words) > 3 and words[2] == "-->":
        options = dict(zip(words[4::2], words[5::2]))
    mask = options.get("netmask")
    try:
        if mask is None:
            return ipaddress.ip_interface(text)
        # Solaris prints the netmask as bare hex: ffffff00
        return ipaddress.ip_interface("%s/%s" % (text, ipaddress.IPv4Address(int(mask, 16))))
    except ValueError:
        return None


def hostname_path(unit, directory=HOSTNAME_DIR):
    return "%s/hostname.%s:%d" % (directory, LOOPBACK, unit)


def hostname_file_unit(file_name):
    """N of a ``hostname.lo0:N`` file name, or None for any other name."""
    match = _HOSTNAME_FILE.match(file_name)
    return int(match.group("unit")) if match else None


def hostname_file_address(content):
    """The IPv4 address a hostname.lo0:N file sets (its first word), or None."""
    for line in content.splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        try:
            return ipaddress.ip_address(words[0].split("/", 1)[0])
        except ValueError:
            return None
    return None


def parse_hostname_files(files, directory=HOSTNAME_DIR):
    """{file name: content} of /etc -> [HostnameFile] for the hostname.lo0:N files, by unit."""
    out = []
    for name, content in files.items():
        unit = hostname_file_unit(name)
        if unit is not None and unit > 0:
            out.append(HostnameFile(unit, content, directory))
    return sorted(out, key=lambda f: f.unit)


def build_host(ifconfig_text, hostname_files=None, directory=HOSTNAME_DIR):
    """SolarisHost from ``ifconfig -a`` output and {file name: content} of /etc."""
    units = tuple(u for u in parse_ifconfig_a(ifconfig_text) if u.physical == LOOPBACK and u.family == 4)
    if not any(u.unit == 0 for u in units):
        raise RealServerError("ifconfig -a shows no IPv4 %s; the VIPs go on logical units of the loopback." % LOOPBACK)
    return SolarisHost(units, tuple(parse_hostname_files(hostname_files or {}, directory)), directory)


def hostname_files_ignored(release_text):
    """True on Oracle Solaris 11, which keeps persistent addresses in ipadm and no longer reads
    /etc/hostname.* at boot (Solaris 10 and the illumos distributions still do)."""
    first = release_text.strip().splitlines()[0] if release_text.strip() else ""
    return "Oracle Solaris 11" in first


def check_persistence(release_text, state, persist):
    """Refuse to persist VIPs where hostname files would silently do nothing."""
    if state == "present" and persist and hostname_files_ignored(release_text):
        raise NotImplementedOnPlatform(
            "persist: Oracle Solaris 11 does not read /etc/hostname.lo0:N at boot (ipadm holds the persistent"
            " addresses), and lbkit does not implement ipadm. Set persist: false and persist each VIP by hand:"
            " ipadm create-addr -T static -a local=VIP/32 lo0/lbkit1")


def hostname_content(address):
    """What /etc/hostname.lo0:N holds for a VIP: the arguments ifconfig gets at boot."""
    return "%s netmask %s up\n" % (address, HOST_NETMASK)


# --- plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plumb:
    unit: int

    def describe(self):
        return "plumb %s:%d" % (LOOPBACK, self.unit)

    def argv(self, tools):
        return [tools["ifconfig"], "%s:%d" % (LOOPBACK, self.unit), "plumb"]


@dataclass(frozen=True)
class Configure:
    unit: int
    address: object

    def describe(self):
        return "set %s/32 on %s:%d and bring it up" % (self.address, LOOPBACK, self.unit)

    def argv(self, tools):
        return [tools["ifconfig"], "%s:%d" % (LOOPBACK, self.unit), str(self.address), "netmask", HOST_NETMASK, "up"]


@dataclass(frozen=True)
class Unplumb:
    unit: int

    def describe(self):
        return "unplumb %s:%d" % (LOOPBACK, self.unit)

    def argv(self, tools):
        return [tools["ifconfig"], "%s:%d" % (LOOPBACK, self.unit), "unplumb"]


def plan(host, vips, state="present", persist=True):
    """The actions that bring ``host`` to the wanted state for ``vips``; [] when nothing is to do.

    present: each VIP sits, up and with a /32 mask, on a logical unit of lo0 (the unit that
    holds it, or the first free one), and with ``persist`` one hostname.lo0:N file holds it
    with lbkit's content. absent: the units holding a listed VIP are unplumbed and, with
    ``persist``, the hostname.lo0:N files naming it are removed. Units assigned to a
    non-global zone are never touched.
    """
    for vip in vips:
        if vip.version != 4:
            raise NotImplementedOnPlatform("%s: IPv6 VIPs on Solaris (hostname6.lo0:N) are not implemented; use an IPv4 VIP." % vip)
    if state not in ("present", "absent"):
        raise RealServerError("state must be present or absent, not %r." % (state,))
    taken = set(u.unit for u in host.units) | set(f.unit for f in host.hostname_files)
    actions = []
    for vip in vips:
        held = [u for u in host.units if u.unit > 0 and u.address is not None and u.address.ip == vip]
        zoned = [u for u in held if u.zone]
        mine = [u for u in held if not u.zone]
        files = [f for f in host.hostname_files if f.address == vip]
        if state == "absent":
            actions += [Unplumb(u.unit) for u in mine]
            if persist:
                actions += [RemoveFile(f.path) for f in files]
            continue
        if zoned and not mine:
            raise RealServerError(
                "%s is held by %s, which belongs to zone %s; lbkit configures the zone it runs in. Run it in that zone, or choose another VIP."
                % (vip, zoned[0].name, zoned[0].zone))
        if mine:
            unit = mine[0].unit
            if not (mine[0].up and mine[0].address.network.prefixlen == 32):
                actions.append(Configure(unit, vip))
        else:
            unit = _first_free(taken)
            taken.add(unit)
            actions += [Plumb(unit), Configure(unit, vip)]
        if persist:
            actions += _plan_file(host, vip, unit, files, taken)
    return actions


def _plan_file(host, vip, unit, files, taken):
    wanted = hostname_content(vip)
    if any(f.content == wanted for f in files):
        return []
    if files:
        return [WriteFile(files[0].path, wanted.encode("ascii"), 0o644)]
    # the live unit's own file name is free unless a file already configures that unit
    file_units = set(f.unit for f in host.hostname_files)
    if unit in file_units:
        unit = _first_free(taken)
        taken.add(unit)
    return [WriteFile(hostname_path(unit, host.hostname_dir), wanted.encode("ascii"), 0o644)]


def _first_free(taken):
    unit = 1
    while unit in taken:
        unit += 1
    return unit


# --- simulation and report -----------------------------------------------------------------


def apply_plan(host, actions):
    """The host as it is after ``actions`` (pure): what the diff's ``after`` and a re-plan read."""
    units = list(host.units)
    files = list(host.hostname_files)
    for action in actions:
        if isinstance(action, Plumb):
            units.append(LogicalInterface(LOOPBACK, action.unit, 4, frozenset(["LOOPBACK", "IPv4", "VIRTUAL"])))
        elif isinstance(action, Configure):
            units = [
                replace(u, address=ipaddress.ip_interface("%s/32" % action.address), flags=u.flags | frozenset(["UP"]))
                if u.unit == action.unit else u
                for u in units
            ]
        elif isinstance(action, Unplumb):
            units = [u for u in units if u.unit != action.unit]
        elif isinstance(action, WriteFile):
            unit = hostname_file_unit(action.path.rsplit("/", 1)[-1])
            files = [f for f in files if f.unit != unit] + [HostnameFile(unit, action.content.decode("ascii"), host.hostname_dir)]
        elif isinstance(action, RemoveFile):
            files = [f for f in files if f.path != action.path]
        else:
            raise TypeError("unknown action %r" % (action,))
    return replace(host, units=tuple(units), hostname_files=tuple(sorted(files, key=lambda f: f.unit)))


def snapshot(host):
    """What the module reports in its diff: the addresses on lo0's own logical units (zones'
    units left out) and the hostname.lo0:N files."""
    units = sorted((u for u in host.units if u.unit > 0 and not u.zone and u.address is not None
                    and not u.address.ip.is_loopback), key=lambda u: (sort_key(u.address.ip), u.unit))
    return {
        "vips": ["%s on %s%s" % (u.address, u.name, "" if u.up else " (down)") for u in units],
        "persisted": ["%s: %s" % (f.path, f.content.strip()) for f in host.hostname_files],
    }
