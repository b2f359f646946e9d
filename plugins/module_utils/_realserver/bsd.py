# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""FreeBSD and macOS real servers for Direct Routing and tunnelling.

Each VIP becomes a host alias on lo0 (``ifconfig lo0 alias VIP netmask 255.255.255.255 -arp
up``; IPv6 ``ifconfig lo0 inet6 VIP prefixlen 128 alias``), so the host accepts packets for
the VIP while only the appliance answers ARP for it. It is persisted as an
``ifconfig_lo0_aliasN`` variable in /etc/rc.conf on FreeBSD, and as one launchd job per VIP
in /Library/LaunchDaemons on macOS, which has no rc.conf.

Pure: parse ``ifconfig`` output, rc.conf text and launchd plists into a BsdHost, plan the
actions for the wanted VIPs; each action renders its argv list or file content and simulates
itself on a BsdHost (for the diff, and to prove a second run plans nothing). ``BsdPlatform``
is what the module runs through the one real-server core (``core.run``).
"""

from __future__ import annotations

import ipaddress
import platform
import plistlib
import re
from dataclasses import dataclass, field, replace
from xml.parsers.expat import ExpatError

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import NotImplementedOnPlatform, RealServerError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._net.addresses import host_prefix, sort_key
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import backend, core
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.actions import Action, RemoveFile, WriteFile
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.listeners import BSD_NETSTAT_ARGS, parse_bsd_netstat
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.vips import parse_vips

FREEBSD = "FreeBSD"
DARWIN = "Darwin"
SYSTEMS = (FREEBSD, DARWIN)
LOOPBACK = "lo0"
HOST_NETMASK = "255.255.255.255"
RC_CONF = "/etc/rc.conf"
RC_CONF_LOCAL = "/etc/rc.conf.local"
# rc.conf(5) reads rc.conf.local after rc.conf: a variable set in both takes the later value.
RC_CONF_FILES = (RC_CONF, RC_CONF_LOCAL)
LAUNCHD_DIR = "/Library/LaunchDaemons"
LAUNCHD_PREFIX = "com.lbkit.loadbalancer.vip."
# launchd runs a job without a shell or PATH lookup worth relying on at boot: absolute path.
DARWIN_IFCONFIG = "/sbin/ifconfig"

_HEADER = re.compile(r"^(?P<name>[A-Za-z0-9_.]+): flags=(?P<bits>[0-9a-fA-Fx]+)<(?P<flags>[^>]*)>")
_RC_ALIAS = re.compile(
    r"""^\s*(?:export\s+)?(?P<name>ifconfig_lo0_alias(?P<number>\d+)|ifconfig_lo0_aliases)="""
    r"""(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s#;]*))\s*(?:[#;].*)?$"""
)


# --- current state -------------------------------------------------------------------------


@dataclass(frozen=True)
class RcEntry:
    """One lo0 alias variable in an rc.conf file (``ifconfig_lo0_aliasN`` or ``ifconfig_lo0_aliases``)."""

    path: str
    name: str
    value: str

    @property
    def number(self):
        """N of ifconfig_lo0_aliasN; None for ifconfig_lo0_aliases."""
        match = re.match(r"ifconfig_lo0_alias(\d+)$", self.name)
        return int(match.group(1)) if match else None

    @property
    def addresses(self):
        """The addresses the value configures (``inet ADDR ...``, ``inet6 ADDR ...``, ADDR/LEN)."""
        return rc_value_addresses(self.value)

    def line(self):
        return '%s="%s"' % (self.name, self.value)


@dataclass(frozen=True)
class LaunchdJob:
    """A launchd job lbkit wrote for one VIP: its file, the VIP its name carries, and its content."""

    path: str
    address: object
    content: bytes


@dataclass(frozen=True)
class BsdHost:
    """What the plan needs to know about a FreeBSD or macOS host.

    ``loopback`` are the addresses on lo0 (ip_interface), ``noarp`` its NOARP flag; the boot
    configuration is ``rc_entries`` (FreeBSD: the lo0 alias variables of the rc.conf files, and
    ``rc_conf``, the file new ones go to) or ``launchd_jobs`` (macOS: lbkit's job files in ``launchd_dir``).
    """

    system: str
    noarp: bool
    loopback: tuple
    rc_entries: tuple = ()
    launchd_jobs: tuple = ()
    launchd_dir: str = LAUNCHD_DIR
    rc_conf: str = RC_CONF

    def with_file(self, path, content):
        """The host with launchd job file ``path`` holding ``content`` (None: the file removed)."""
        name = path.rsplit("/", 1)[-1]
        address = launchd_address(name)
        if address is None:
            raise ValueError("%s is not a launchd job file lbkit writes" % path)
        jobs = [j for j in self.launchd_jobs if j.path != path]
        if content is not None:
            jobs.append(LaunchdJob(path, address, content))
        return replace(self, launchd_jobs=tuple(jobs))


@dataclass(frozen=True)
class Interface:
    """One interface of ``ifconfig`` output: its flags and its addresses (ip_interface)."""

    name: str
    flags: frozenset = field(default_factory=frozenset)
    addresses: tuple = ()


def parse_ifconfig(text):
    """``ifconfig`` / ``ifconfig -a`` output of FreeBSD or macOS -> {name: Interface}.

    Addresses are read from ``inet ADDR netmask 0xHEX``, ``inet ADDR/LEN``, ``inet6 ADDR
    prefixlen N`` and ``inet6 ADDR/LEN`` lines; scope ids (``%lo0``) are dropped; every other
    line (options, ether, media, nd6, groups) is ignored.
    """
    interfaces = {}
    current = None
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            current = Interface(header.group("name"), frozenset(f for f in header.group("flags").split(",") if f))
            interfaces[current.name] = current
            continue
        if current is None or not line[:1].isspace():
            continue
        address = _parse_address_line(line.split())
        if address is not None:
            current = replace(current, addresses=current.addresses + (address,))
            interfaces[current.name] = current
    return interfaces


def _parse_address_line(words):
    if len(words) < 2 or words[0] not in ("inet", "inet6"):
        return None
    address = words[1].split("%", 1)[0]
    prefix = None
    if "/" in words[1]:
        address, prefix = words[1].split("%", 1)[0].split("/", 1)
        prefix = prefix.split("%", 1)[0]
    options = dict(zip(words[2::2], words[3::2]))
    # point-to-point lines read "inet A --> B netmask M": the options start one word later
    if len(words) > 3 and words[2] == "-->":
        options = dict(zip(words[4::2], words[5::2]))
    if prefix is None and words[0] == "inet" and "netmask" in options:
        mask = options["netmask"]
        prefix = str(ipaddress.IPv4Address(int(mask, 16))) if mask.lower().startswith("0x") else mask
    if prefix is None and words[0] == "inet6" and "prefixlen" in options:
        prefix = options["prefixlen"]
    try:
        return ipaddress.ip_interface("%s/%s" % (address, prefix) if prefix is not None else address)
    except ValueError:
        return None


def check_system(system):
    """Refuse a system this module does not implement, before anything runs on it."""
    if system not in SYSTEMS:
        raise NotImplementedOnPlatform(
            "lbkit implements BSD real servers on %s only, not on %s: other BSDs persist aliases elsewhere"
            " (OpenBSD /etc/hostname.lo0, NetBSD /etc/ifconfig.lo0)." % (" and ".join(SYSTEMS), system or "an unknown system"),
            system=system)


def loopback_state(interfaces, name=LOOPBACK):
    """(noarp, addresses) of the loopback in parsed ifconfig output; it must exist."""
    if name not in interfaces:
        raise RealServerError("ifconfig shows no %s interface; the VIPs go on the loopback, which every BSD and macOS host has." % name)
    loopback = interfaces[name]
    return "NOARP" in loopback.flags, loopback.addresses


def rc_value_addresses(value):
    """Addresses an rc.conf alias value configures, in order."""
    words = value.split()
    out = []
    for index, word in enumerate(words):
        candidate = None
        if word in ("inet", "inet6") and index + 1 < len(words):
            candidate = words[index + 1]
        elif index == 0:
            # network.subr still accepts an IPv4 alias without the leading "inet" (with a warning)
            candidate = word
        if candidate is None:
            continue
        try:
            out.append(ipaddress.ip_address(candidate.split("/", 1)[0]))
        except ValueError:
            continue
    return tuple(out)


def parse_rc_conf(text, path):
    """The lo0 alias variables one rc.conf file sets, in file order.

    Shell semantics: a variable assigned twice keeps its last value, so only the last
    assignment of each name is returned.
    """
    found = {}
    for line in text.splitlines():
        match = _RC_ALIAS.match(line)
        if not match:
            continue
        value = next(v for v in (match.group("dq"), match.group("sq"), match.group("bare")) if v is not None)
        found.pop(match.group("name"), None)
        found[match.group("name")] = RcEntry(path, match.group("name"), value)
    return list(found.values())


def launchd_label(address):
    """The job label (and file name stem) for one VIP; ':' is not used in launchd labels here."""
    return LAUNCHD_PREFIX + str(address).replace(":", "-")


def launchd_path(address, directory=LAUNCHD_DIR):
    return "%s/%s.plist" % (directory, launchd_label(address))


def launchd_address(file_name):
    """The VIP a job file's name carries, or None when the name is not one lbkit writes."""
    if not (file_name.startswith(LAUNCHD_PREFIX) and file_name.endswith(".plist")):
        return None
    token = file_name[len(LAUNCHD_PREFIX):-len(".plist")]
    # IPv6 addresses never contain '-', IPv4 never ':': the mapping is reversible.
    try:
        return ipaddress.ip_address(token.replace("-", ":") if "-" in token else token)
    except ValueError:
        return None


def parse_launchd_jobs(files, directory=LAUNCHD_DIR):
    """{file name: content} of a LaunchDaemons directory -> the jobs lbkit wrote, by file name."""
    jobs = []
    for name in sorted(files):
        address = launchd_address(name)
        if address is not None:
            jobs.append(LaunchdJob("%s/%s" % (directory, name), address, files[name]))
    return jobs


# --- desired state -------------------------------------------------------------------------


def alias_args(address):
    """ifconfig arguments after the interface name that add the VIP (the manuals' recipe)."""
    if address.version == 4:
        return ["alias", str(address), "netmask", HOST_NETMASK, "-arp", "up"]
    return ["inet6", str(address), "prefixlen", "128", "alias"]


def rc_value(address):
    """The ifconfig_lo0_aliasN value network.subr turns into the same alias at boot."""
    if address.version == 4:
        return "inet %s netmask %s -arp" % (address, HOST_NETMASK)
    return "inet6 %s prefixlen 128" % address


def render_launchd_plist(address):
    """The launchd job that adds one VIP at boot: the same argv as the live change, no shell."""
    job = {
        "Label": launchd_label(address),
        "ProgramArguments": [DARWIN_IFCONFIG, LOOPBACK] + alias_args(address),
        "RunAtLoad": True,
    }
    return plistlib.dumps(job, fmt=plistlib.FMT_XML, sort_keys=True)


# --- actions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddVip(Action):
    """The VIP on lo0 as a host alias; an IPv4 alias also sets NOARP on lo0 (``-arp``)."""

    address: object

    def describe(self):
        return "add %s/%d to %s" % (self.address, host_prefix(self.address), LOOPBACK)

    def argv(self, tools):
        return [tools["ifconfig"], LOOPBACK] + alias_args(self.address)

    def simulate(self, host):
        added = ipaddress.ip_interface("%s/%d" % (self.address, host_prefix(self.address)))
        return replace(host, loopback=host.loopback + (added,), noarp=host.noarp or self.address.version == 4)


@dataclass(frozen=True)
class RemoveVip(Action):
    """Every alias of the address off lo0 (the VIP itself, or a wider prefix of it)."""

    address: object

    def describe(self):
        return "remove %s from %s" % (self.address, LOOPBACK)

    def argv(self, tools):
        family = "inet" if self.address.version == 4 else "inet6"
        return [tools["ifconfig"], LOOPBACK, family, str(self.address), "-alias"]

    def simulate(self, host):
        return replace(host, loopback=tuple(a for a in host.loopback if a.ip != self.address))


@dataclass(frozen=True)
class SetNoArp(Action):
    def describe(self):
        return "set -arp on %s" % LOOPBACK

    def argv(self, tools):
        return [tools["ifconfig"], LOOPBACK, "-arp"]

    def simulate(self, host):
        return replace(host, noarp=True)


@dataclass(frozen=True)
class SetRcVar(Action):
    path: str
    name: str
    value: str

    def describe(self):
        return 'set %s="%s" in %s' % (self.name, self.value, self.path)

    def argv(self, tools):
        return [tools["sysrc"], "-f", self.path, "%s=%s" % (self.name, self.value)]

    def simulate(self, host):
        entry = RcEntry(self.path, self.name, self.value)
        entries = list(host.rc_entries)
        index = next((i for i, e in enumerate(entries) if (e.path, e.name) == (self.path, self.name)), None)
        if index is None:
            entries.append(entry)
        else:
            entries[index] = entry
        return replace(host, rc_entries=tuple(entries))


@dataclass(frozen=True)
class UnsetRcVar(Action):
    path: str
    name: str

    def describe(self):
        return "remove %s from %s" % (self.name, self.path)

    def argv(self, tools):
        return [tools["sysrc"], "-f", self.path, "-x", self.name]

    def simulate(self, host):
        return replace(host, rc_entries=tuple(e for e in host.rc_entries if (e.path, e.name) != (self.path, self.name)))


# --- plan ----------------------------------------------------------------------------------


def plan(host, request):
    """The actions that bring ``host`` where ``request`` (a core.Request) asks; [] when nothing is to do.

    present: each VIP is a host alias on lo0 (an alias with a wider prefix is replaced), lo0
    carries NOARP when an IPv4 VIP is wanted, and, with ``persist``, each VIP has exactly the
    boot configuration lbkit writes. Other addresses and persisted entries are left alone.
    absent: the listed VIPs leave lo0, and with ``persist`` their boot configuration goes;
    NOARP stays on lo0 (a loopback never sends ARP; ``ifconfig lo0 arp`` clears it by hand).
    """
    check_system(host.system)
    vips, state = request.vips, request.state
    if state == "present":
        actions = _plan_live_present(host, vips)
    elif state == "absent":
        actions = [RemoveVip(vip) for vip in vips if any(a.ip == vip for a in host.loopback)]
    else:
        raise RealServerError("state must be present or absent, not %r." % (state,))
    if request.persist:
        if host.system == FREEBSD:
            actions += _plan_rc_conf(host, vips, state)
        else:
            actions += _plan_launchd(host, vips, state)
    return actions


def _plan_live_present(host, vips):
    actions = []
    for vip in vips:
        held = [a for a in host.loopback if a.ip == vip]
        if any(a.network.prefixlen == host_prefix(vip) for a in held):
            continue
        if held:
            # a wider prefix on lo0 would claim the whole subnet for the loopback
            actions.append(RemoveVip(vip))
        actions.append(AddVip(vip))
    ipv4_added = any(isinstance(a, AddVip) and a.address.version == 4 for a in actions)
    if not host.noarp and not ipv4_added and any(vip.version == 4 for vip in vips):
        actions.append(SetNoArp())
    return actions


def _plan_rc_conf(host, vips, state):
    actions = []
    taken = set(e.number for e in host.rc_entries if e.number is not None)
    for vip in vips:
        entries = [e for e in host.rc_entries if vip in e.addresses]
        numbered = [e for e in entries if e.number is not None]
        listed = [e for e in entries if e.number is None]
        if state == "absent":
            if listed:
                raise RealServerError(
                    "%s is persisted in %s in %s, a list lbkit does not edit; remove it there by hand (sysrc -f %s -x %s, or edit the list)."
                    % (vip, listed[0].name, listed[0].path, listed[0].path, listed[0].name))
            for entry in numbered:
                if len(entry.addresses) > 1:
                    raise RealServerError(
                        "%s in %s configures %s together with other addresses (%s); edit it by hand."
                        % (entry.name, entry.path, vip, entry.value))
                actions.append(UnsetRcVar(entry.path, entry.name))
            continue
        wanted = rc_value(vip)
        if any(e.value == wanted for e in numbered) or (listed and not numbered):
            # an ifconfig_lo0_aliases list that holds the VIP already configures it at boot
            continue
        if numbered:
            actions.append(SetRcVar(numbered[0].path, numbered[0].name, wanted))
            continue
        number = _first_free(taken)
        taken.add(number)
        actions.append(SetRcVar(host.rc_conf, "ifconfig_lo0_alias%d" % number, wanted))
    return actions


def _first_free(taken):
    # Filling the lowest gap keeps the numbers contiguous for releases whose network.subr
    # still stopped at the first missing aliasN.
    number = 0
    while number in taken:
        number += 1
    return number


def _plan_launchd(host, vips, state):
    actions = []
    for vip in vips:
        jobs = [j for j in host.launchd_jobs if j.address == vip]
        if state == "absent":
            actions += [RemoveFile(j.path) for j in jobs]
            continue
        wanted = render_launchd_plist(vip)
        path = launchd_path(vip, host.launchd_dir)
        if not any(j.path == path and j.content == wanted for j in jobs):
            actions.append(WriteFile(path, wanted, 0o644))
    return actions


# --- simulation and report -----------------------------------------------------------------


def apply_plan(host, actions):
    """The host as it is after ``actions`` (each action simulates itself): the diff's ``after``, and what a re-plan reads."""
    return core.simulate(host, actions)


def snapshot(host):
    """What the diff shows, in the keys every real-server module shares: lo0's service addresses
    (``vips``), lo0's NOARP flag (``settings``) and the boot configuration (``persisted``): the
    alias variables by file and name (FreeBSD), or the command each job file runs (macOS)."""
    vips = sorted((a for a in host.loopback if not (a.ip.is_loopback or a.ip.is_link_local)), key=lambda a: sort_key(a.ip))
    if host.system == FREEBSD:
        persisted = dict(("%s %s" % (e.path, e.name), e.value) for e in host.rc_entries)
    else:
        persisted = dict((j.path, _job_command(j)) for j in sorted(host.launchd_jobs, key=lambda j: j.path))
    return {"vips": [str(a) for a in vips], "settings": {"%s NOARP" % LOOPBACK: host.noarp}, "persisted": persisted}


def _job_command(job):
    try:
        return " ".join(plistlib.loads(job.content)["ProgramArguments"])
    except (plistlib.InvalidFileException, ExpatError, ValueError, KeyError, TypeError):
        # a job file edited into something unreadable is still reported (and the plan rewrites it)
        return "(unreadable job file)"


# --- the module's platform ---------------------------------------------------------------


def read_host(module, system, tools):
    """The BsdHost of this system: lo0 from ``ifconfig lo0``, and the rc.conf files (FreeBSD) or lbkit's launchd jobs (macOS)."""
    noarp, loopback = loopback_state(parse_ifconfig(backend.run(module, [tools["ifconfig"], LOOPBACK])))
    if system == FREEBSD:
        entries = []
        for path in RC_CONF_FILES:
            entries += parse_rc_conf(backend.read_text(path) or "", path)
        return BsdHost(system, noarp, tuple(loopback), rc_entries=tuple(entries), rc_conf=RC_CONF_FILES[0])
    files = backend.read_dir(LAUNCHD_DIR, lambda name: launchd_address(name) is not None)
    return BsdHost(system, noarp, tuple(loopback), launchd_jobs=tuple(parse_launchd_jobs(files, LAUNCHD_DIR)), launchd_dir=LAUNCHD_DIR)


class BsdPlatform(core.Platform):
    """realserver_bsd's reads, plan and checks, for the one real-server runner."""

    def __init__(self):
        self.system = None

    def request(self, params):
        # refused before anything runs: the system first, then the VIP list
        self.system = platform.system()
        check_system(self.system)
        vips = parse_vips(params["vips"], platform=self.system)
        return core.Request(vips=tuple(vips), state=params["state"], persist=params["persist"], listen_ports=tuple(params["listen_ports"]))

    def tools(self, module, request):
        return {"ifconfig": backend.find_tool(module, "ifconfig")}

    def read(self, module, tools, request):
        return read_host(module, self.system, tools)

    def plan(self, host, request):
        return plan(host, request)

    def more_tools(self, module, tools, actions):
        # sysrc only where a plan edits rc.conf: macOS has none
        if "sysrc" not in tools and any(isinstance(a, (SetRcVar, UnsetRcVar)) for a in actions):
            tools["sysrc"] = backend.find_tool(module, "sysrc")

    def snapshot(self, host, request):
        return snapshot(host)

    def extras(self, before, after, request):
        return {"system": before.system}

    def listeners(self, module, tools):
        return parse_bsd_netstat(backend.run(module, [backend.find_tool(module, "netstat")] + list(BSD_NETSTAT_ARGS)))
