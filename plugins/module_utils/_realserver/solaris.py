# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Solaris real servers for Direct Routing and tunnelling.

Each VIP gets a logical loopback interface, as the manuals describe: ``ifconfig lo0:N plumb``
then ``ifconfig lo0:N VIP netmask 255.255.255.255 up``, persisted in /etc/hostname.lo0:N
(content ``VIP netmask 255.255.255.255 up``), which Solaris 10 and illumos read at boot.
N is the unit that already holds the VIP, or else the first unit neither plumbed nor named
by a hostname file. IPv4 only: IPv6 logical interfaces are not implemented.

Pure: parse ``ifconfig -a`` output and hostname.lo0:N files into a SolarisHost, plan the
actions; each action renders its argv list or file content and simulates itself on a
SolarisHost (for the diff, and to prove a second run plans nothing). ``SolarisPlatform`` is
what the module runs through the one real-server core (``core.run``).
"""

from __future__ import annotations

import ipaddress
import platform
import re
from dataclasses import dataclass, field, replace

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import NotImplementedOnPlatform, RealServerError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._net.addresses import sort_key
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import backend, core
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.actions import Action, RemoveFile, WriteFile
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.listeners import SOLARIS_NETSTAT_ARGS, parse_solaris_netstat
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.vips import parse_vips

LOOPBACK = "lo0"
HOST_NETMASK = "255.255.255.255"
HOSTNAME_DIR = "/etc"
RELEASE_FILE = "/etc/release"

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
    """The IPv4 logical interfaces of lo0 (``units``, zones' ones included) and the hostname.lo0:N files."""

    units: tuple
    hostname_files: tuple = ()
    hostname_dir: str = HOSTNAME_DIR

    @property
    def loopback(self):
        """The addresses on lo0's logical units (ip_interface), as every real-server host has them."""
        return tuple(u.address for u in self.units if u.address is not None)

    def with_file(self, path, content):
        """The host with hostname file ``path`` holding ``content`` (None: the file removed)."""
        unit = hostname_file_unit(path.rsplit("/", 1)[-1])
        if unit is None:
            raise ValueError("%s is not a hostname.%s:N file" % (path, LOOPBACK))
        files = [f for f in self.hostname_files if f.path != path]
        if content is not None:
            files.append(HostnameFile(unit, content.decode("ascii"), self.hostname_dir))
        return replace(self, hostname_files=tuple(sorted(files, key=lambda f: f.unit)))


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


# --- actions -------------------------------------------------------------------------------


def unit_name(unit):
    return "%s:%d" % (LOOPBACK, unit)


@dataclass(frozen=True)
class PlumbUnit(Action):
    """A new logical unit of lo0 (down, no address yet)."""

    unit: int

    def describe(self):
        return "plumb %s" % unit_name(self.unit)

    def argv(self, tools):
        return [tools["ifconfig"], unit_name(self.unit), "plumb"]

    def simulate(self, host):
        return replace(host, units=host.units + (LogicalInterface(LOOPBACK, self.unit, 4, frozenset(["LOOPBACK", "IPv4", "VIRTUAL"])),))


@dataclass(frozen=True)
class AddVip(Action):
    """The VIP on a logical unit of lo0, as a host address, and the unit up."""

    unit: int
    address: object

    def describe(self):
        return "set %s/32 on %s and bring it up" % (self.address, unit_name(self.unit))

    def argv(self, tools):
        return [tools["ifconfig"], unit_name(self.unit), str(self.address), "netmask", HOST_NETMASK, "up"]

    def simulate(self, host):
        address = ipaddress.ip_interface("%s/32" % self.address)
        return replace(host, units=tuple(
            replace(u, address=address, flags=u.flags | frozenset(["UP"])) if u.unit == self.unit else u for u in host.units))


@dataclass(frozen=True)
class RemoveVip(Action):
    """The logical unit holding a VIP unplumbed (its address goes with it)."""

    unit: int

    def describe(self):
        return "unplumb %s" % unit_name(self.unit)

    def argv(self, tools):
        return [tools["ifconfig"], unit_name(self.unit), "unplumb"]

    def simulate(self, host):
        return replace(host, units=tuple(u for u in host.units if u.unit != self.unit))


# --- plan ----------------------------------------------------------------------------------


def plan(host, request):
    """The actions that bring ``host`` where ``request`` (a core.Request) asks; [] when nothing is to do.

    present: each VIP sits, up and with a /32 mask, on a logical unit of lo0 (the unit that
    holds it, or the first free one), and with ``persist`` one hostname.lo0:N file holds it
    with lbkit's content. absent: the units holding a listed VIP are unplumbed and, with
    ``persist``, the hostname.lo0:N files naming it are removed. Units assigned to a
    non-global zone are never touched.
    """
    vips, state, persist = request.vips, request.state, request.persist
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
            actions += [RemoveVip(u.unit) for u in mine]
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
                actions.append(AddVip(unit, vip))
        else:
            unit = _first_free(taken)
            taken.add(unit)
            actions += [PlumbUnit(unit), AddVip(unit, vip)]
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
    """The host as it is after ``actions`` (each action simulates itself): the diff's ``after``, and what a re-plan reads."""
    return core.simulate(host, actions)


def own_units(host):
    """lo0's logical units lbkit may hold a VIP on (a zone's units and loopback addresses left out), by address."""
    return sorted((u for u in host.units if u.unit > 0 and not u.zone and u.address is not None and not u.address.ip.is_loopback),
                  key=lambda u: (sort_key(u.address.ip), u.unit))


def snapshot(host):
    """What the diff shows, in the keys every real-server module shares: the addresses on lo0's own
    logical units (``vips``), each unit's address and whether it is up (``settings``), and the
    hostname.lo0:N files (``persisted``)."""
    units = own_units(host)
    return {
        "vips": [str(u.address) for u in units],
        "settings": dict((u.name, "%s %s" % (u.address, "up" if u.up else "down")) for u in sorted(units, key=lambda u: u.unit)),
        "persisted": dict((f.path, f.content.strip()) for f in host.hostname_files),
    }


# --- the module's platform ---------------------------------------------------------------


class SolarisPlatform(core.Platform):
    """realserver_solaris's reads, plan and checks, for the one real-server runner."""

    def request(self, params):
        # refused before anything runs: the system first, then the VIP list
        system = platform.system()
        if system != "SunOS":
            raise NotImplementedOnPlatform("realserver_solaris runs on Solaris and illumos (SunOS), not on %s." % system)
        vips = parse_vips(params["vips"], families=(4,), platform="Solaris")
        return core.Request(vips=tuple(vips), state=params["state"], persist=params["persist"], listen_ports=tuple(params["listen_ports"]))

    def tools(self, module, request):
        # Oracle Solaris 11 ignores hostname files: refused before any tool is looked for or run
        check_persistence(backend.read_text(RELEASE_FILE) or "", request.state, request.persist)
        return {"ifconfig": backend.find_tool(module, "ifconfig")}

    def read(self, module, tools, request):
        files = backend.read_dir(HOSTNAME_DIR, lambda name: hostname_file_unit(name) is not None)
        return build_host(backend.run(module, [tools["ifconfig"], "-a"]),
                          dict((name, content.decode("utf-8", errors="replace")) for name, content in files.items()), HOSTNAME_DIR)

    def plan(self, host, request):
        return plan(host, request)

    def snapshot(self, host, request):
        return snapshot(host)

    def listeners(self, module, tools):
        return parse_solaris_netstat(backend.run(module, [backend.find_tool(module, "netstat")] + list(SOLARIS_NETSTAT_ARGS)))
