# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Linux real servers: the Direct Routing / tunnelling ARP fix, the NAT gateway, the listener check.

Two ways to accept packets for a VIP without answering ARP for it (the appliance manuals'):

- ``loopback``: the VIP on ``lo`` as a host address, with ``arp_ignore=1`` (answer ARP only for
  addresses of the interface the request came in on) and ``arp_announce=2`` (never use the VIP
  as the source of an ARP request) on ``all`` and every real interface; IPv6 VIPs also need
  duplicate address detection off on ``lo``, or the address stays tentative.
- ``redirect``: an nftables ``nat prerouting`` rule redirecting the VIP to the host itself, so
  the VIP is never a local address at all (IPv4 only).

IP-in-IP tunnelling (LVS-TUN) adds to the loopback method: the ``ipip`` kernel module, whose
fallback device ``tunl0`` receives the encapsulated packets and hands the inner packet (for the
VIP on ``lo``) to the stack, ``tunl0`` up, and no strict reverse-path filter on it (the kernel
applies the higher of ``all`` and the interface's ``rp_filter``).

NAT real servers instead route their replies through the appliance: the default route goes via
the cluster's gateway floating IP.

Pure: parse ``ip -json address``, ``ip -json route``, ``sysctl`` output, ``nft -j list ruleset``
and ``ss -ltnH`` into a LinuxHost, plan typed actions, render argv lists and file contents, and
simulate a plan (for the diff, and to prove that a second run plans nothing). What lbkit changed
(previous sysctl values, the previous default route, the VIPs it manages, whether it brought
tunl0 up) is kept in a JSON record so that ``state: absent`` restores exactly that.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass, field, replace

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import NotImplementedOnPlatform, RealServerError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._net import ip
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._net.addresses import host_prefix, sort_key
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import backend, core
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.actions import Action, RemoveFile, WriteFile
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.listeners import parse_ss
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.vips import parse_vips

LOOPBACK = "lo"
METHODS = ("loopback", "redirect")
SYSCTL_FILE = "/etc/sysctl.d/60-lbkit-realserver.conf"
MODULES_FILE = "/etc/modules-load.d/lbkit-realserver.conf"
UNIT_NAME = "lbkit-realserver-vips.service"
UNIT_FILE = "/etc/systemd/system/" + UNIT_NAME
UNIT_WANTS_LINK = "/etc/systemd/system/multi-user.target.wants/" + UNIT_NAME
NFT_FILE = "/etc/lbkit-realserver.nft"
RECORD_DIR = "/var/lib/lbkit"
RECORD_FILE = RECORD_DIR + "/realserver-linux.json"
NFT_TABLE = "lbkit_realserver"
NFT_CHAIN = "prerouting"
ARP_SETTINGS = (("arp_ignore", "1"), ("arp_announce", "2"))
IPV6_LO_SETTINGS = (("net.ipv6.conf.lo.dad_transmits", "0"), ("net.ipv6.conf.lo.accept_dad", "0"))
TUNNEL_MODULE = "ipip"
TUNNEL_DEVICE = "tunl0"
ALL_RP_FILTER = "net.ipv4.conf.all.rp_filter"
DEFAULT_RP_FILTER = "net.ipv4.conf.default.rp_filter"
TUNNEL_RP_FILTER = "net.ipv4.conf.%s.rp_filter" % TUNNEL_DEVICE
# What the module reads for tunnelling; a new interface starts with the ``default`` values.
TUNNEL_SYSCTLS = (ALL_RP_FILTER, DEFAULT_RP_FILTER, TUNNEL_RP_FILTER)
# Present while udevd runs; udevd applies sysctl.d to every interface that appears.
UDEV_CONTROL = "/run/udev/control"
HEADER = "# Managed by lbkit.loadbalancer.realserver_linux: the Direct Routing ARP fix. Do not edit.\n"


# --- current state -------------------------------------------------------------------------


Route = ip.Route


@dataclass(frozen=True)
class LinuxHost:
    """What the plan needs to know about a Linux host.

    ``loopback`` are the addresses on ``lo`` (where the VIPs go); ``files`` maps each file lbkit
    manages to its content (None: absent); ``record`` is what an earlier run recorded (see the
    module docstring). ``tunl0`` is None while the ipip module is not loaded (no such link), else
    "down" or "up"; ``udev``: udevd runs, and ``udevadm`` is there.
    """

    interfaces: tuple
    loopback: tuple
    addresses: tuple
    sysctls: dict
    default_route: Route | None = None
    nft_table: bool = False
    nft_rules: tuple = ()
    files: dict = field(default_factory=dict)
    unit_enabled: bool = False
    record_dir: bool = True
    record: dict = field(default_factory=dict)
    tunl0: str | None = None
    udev: bool = False
    # the IPv6 default route (a NAT real server of IPv6 services routes through an IPv6 gateway)
    default_route6: Route | None = None

    def route(self, family):
        """The default route of address family ``family`` (4 or 6)."""
        return self.default_route6 if family == 6 else self.default_route

    def with_file(self, path, content):
        files = dict(self.files)
        files[path] = None if content is None else content.decode()
        record = parse_record(files.get(RECORD_FILE)) if path == RECORD_FILE else self.record
        return replace(self, files=files, record=record)


def parse_ip_address(text):
    """``ip -json address`` -> (ARP interface names, lo's addresses, every address, tunl0's state).

    The ARP interfaces are the links the ARP settings go on: neither the loopback nor a link
    flagged NOARP (tunl0, WireGuard), which never answers ARP. tunl0's state is None when there
    is no tunl0 (ipip not loaded), else "up" or "down".
    """
    names, lo, everything = [], [], []
    tunl0 = None
    for link in ip.parse_links(text):
        if link.name == TUNNEL_DEVICE:
            tunl0 = "up" if link.up else "down"
        everything += link.addresses
        if link.loopback or link.name == LOOPBACK:
            if link.name == LOOPBACK:
                lo = list(link.addresses)
        elif "NOARP" not in link.flags:
            names.append(link.name)
    return tuple(names), tuple(lo), tuple(everything), tunl0


parse_default_route = ip.parse_default_route


def parse_sysctl(text):
    """``sysctl KEY...`` / ``sysctl -a`` lines (``key = value``) -> {key: value}."""
    out = {}
    for line in (text or "").splitlines():
        if " = " in line:
            key, value = line.split(" = ", 1)
            out[key.strip()] = value.strip()
    return out


def parse_nft(text):
    """``nft -j list ruleset`` -> (lbkit's table exists, ((VIP, rule handle), ...)) of its redirect rules."""
    try:
        items = json.loads(text or "{}").get("nftables", [])
    except (ValueError, AttributeError) as exc:
        raise RealServerError("cannot read 'nft -j list ruleset' output: %s" % exc) from None
    table = False
    rules = []
    for item in items:
        if "table" in item and item["table"].get("family") == "ip" and item["table"].get("name") == NFT_TABLE:
            table = True
        rule = item.get("rule")
        if not rule or rule.get("family") != "ip" or rule.get("table") != NFT_TABLE or rule.get("chain") != NFT_CHAIN:
            continue
        vip = _redirect_vip(rule.get("expr", []))
        if vip is not None:
            rules.append((vip, rule.get("handle")))
    return table, tuple(rules)


def _redirect_vip(expr):
    if len(expr) != 2 or "redirect" not in expr[1] or expr[1]["redirect"] is not None:
        return None
    match = expr[0].get("match", {})
    if match.get("op") != "==" or match.get("left") != {"payload": {"protocol": "ip", "field": "daddr"}}:
        return None
    try:
        return ipaddress.ip_address(match.get("right"))
    except ValueError:
        return None


def parse_record(text):
    """The JSON record of an earlier run ({} when there is none)."""
    if not text:
        return {}
    try:
        record = json.loads(text)
    except ValueError:
        raise RealServerError("%s is not valid JSON; restore it or remove it (lbkit then forgets what it recorded)." % RECORD_FILE) from None
    return record if isinstance(record, dict) else {}


# --- options -------------------------------------------------------------------------------


def sysctl_key(family_conf, interface, setting):
    """The sysctl key of a per-interface setting; an interface name with a dot (a VLAN) needs the slash form."""
    if "." in interface:
        return "/".join(family_conf.split(".") + [interface, setting])
    return "%s.%s.%s" % (family_conf, interface, setting)


def wanted_sysctls(interfaces, ipv6):
    """{key: value} the loopback method sets: ARP on ``all`` and each interface, DAD off on lo for IPv6."""
    out = {}
    for interface in ("all",) + tuple(interfaces):
        for setting, value in ARP_SETTINGS:
            out[sysctl_key("net.ipv4.conf", interface, setting)] = value
    if ipv6:
        out.update(IPV6_LO_SETTINGS)
    return out


def tunnel_sysctls(managed, all_rp_filter=None):
    """{key: value} tunnelling sets: rp_filter off on tunl0, and ``all`` loose (2) where it is strict (1).

    The kernel filters with the higher of ``all`` and the interface's value, so tunl0's 0 alone
    does nothing while ``all`` is 1; 0 and 2 on ``all`` are left as they are. ``managed`` are the
    sysctls lbkit changed (the record's): once lbkit made ``all`` loose it keeps it so.
    """
    out = {}
    if all_rp_filter == "1" or ALL_RP_FILTER in managed:
        out[ALL_RP_FILTER] = "2"
    out[TUNNEL_RP_FILTER] = "0"
    return out


def check_tunnel(method, tunnel):
    """Refuse tunnelling with the redirect method, which cannot deliver what tunl0 decapsulates."""
    if tunnel and method == "redirect":
        raise RealServerError("tunnel: IP-in-IP tunnelling needs method: loopback. With method: redirect the VIP is no local address,"
                              " and a packet decapsulated on tunl0 (which has no address to redirect to) is dropped."
                              " Set method: loopback, or tunnel: false.")


def choose_interfaces(requested, found):
    """The interfaces the ARP sysctls go on: ``requested`` (each must be one of ``found``, the ARP interfaces) or all of ``found``."""
    if not requested:
        return tuple(found)
    for index, name in enumerate(requested):
        if name == LOOPBACK:
            raise RealServerError("interfaces[%d]: lo is the loopback; list the real interfaces ARP requests arrive on (found: %s)."
                                  % (index, ", ".join(found)))
        if name not in found:
            raise RealServerError("interfaces[%d]: the host has no interface %r that does ARP; use one of %s, or leave interfaces out to use them all."
                                  % (index, name, ", ".join(found) or "(none)"))
    return tuple(requested)


def choose_gateway(gateway, gateway_from, addresses):
    """The NAT gateway: ``gateway`` itself, or the one of ``gateway_from`` (ADDRESS/PREFIX) whose subnet holds a host address."""
    if gateway:
        try:
            return ipaddress.ip_address(gateway)
        except ValueError:
            raise RealServerError("gateway: %r is not an IP address; give the appliance's internal floating IP, for example 10.0.1.1." % gateway) from None
    if not gateway_from:
        return None
    for index, text in enumerate(gateway_from):
        try:
            candidate = ipaddress.ip_interface(text)
        except ValueError:
            raise RealServerError("gateway_from[%d]: %r is not ADDRESS/PREFIX (for example 10.0.1.1/24)." % (index, text)) from None
        if any(a.ip in candidate.network for a in addresses if a.version == candidate.version and not a.ip.is_loopback):
            return candidate.ip
    raise RealServerError("gateway_from: none of %s is in a subnet of this host's addresses (%s); give the host an address in the gateway floating IP's"
                          " subnet, or set gateway directly." % (", ".join(gateway_from), ", ".join(str(a) for a in addresses if not a.ip.is_loopback)))


# --- actions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddVip(Action):
    """The VIP on lo as a host address."""

    address: object

    def describe(self):
        return "add %s/%d to lo" % (self.address, host_prefix(self.address))

    def argv(self, tools):
        return [tools["ip"], "addr", "add", "%s/%d" % (self.address, host_prefix(self.address)), "dev", LOOPBACK]

    def simulate(self, host):
        return replace(host, loopback=host.loopback + (ipaddress.ip_interface("%s/%d" % (self.address, host_prefix(self.address))),))


@dataclass(frozen=True)
class RemoveVip(Action):
    """An address off lo (the VIP itself, or a wider prefix of it)."""

    interface: object

    def describe(self):
        return "remove %s from lo" % self.interface

    def argv(self, tools):
        return [tools["ip"], "addr", "del", str(self.interface), "dev", LOOPBACK]

    def simulate(self, host):
        return replace(host, loopback=tuple(a for a in host.loopback if a != self.interface))


@dataclass(frozen=True)
class SetSysctl(Action):
    key: str
    value: str
    old: str | None = None

    def describe(self):
        return "set %s = %s (was %s)" % (self.key, self.value, self.old)

    def argv(self, tools):
        return [tools["sysctl"], "-q", "-w", "%s=%s" % (self.key, self.value)]

    def simulate(self, host):
        sysctls = dict(host.sysctls)
        sysctls[self.key] = self.value
        return replace(host, sysctls=sysctls)


@dataclass(frozen=True)
class AddNftTable(Action):
    def describe(self):
        return "add nftables table ip %s with a nat prerouting chain" % NFT_TABLE

    def argv(self, tools):
        # nft parses its arguments joined by spaces: each token is its own argv entry
        return [tools["nft"], "add", "table", "ip", NFT_TABLE, ";", "add", "chain", "ip", NFT_TABLE, NFT_CHAIN,
                "{", "type", "nat", "hook", "prerouting", "priority", "dstnat", ";", "policy", "accept", ";", "}"]

    def simulate(self, host):
        return replace(host, nft_table=True)


@dataclass(frozen=True)
class AddNftRedirect(Action):
    address: object

    def describe(self):
        return "redirect %s to this host (nftables)" % self.address

    def argv(self, tools):
        return [tools["nft"], "add", "rule", "ip", NFT_TABLE, NFT_CHAIN, "ip", "daddr", str(self.address), "redirect"]

    def simulate(self, host):
        handle = max([h for v, h in host.nft_rules] + [100]) + 1
        return replace(host, nft_rules=host.nft_rules + ((self.address, handle),))


@dataclass(frozen=True)
class DelNftRedirect(Action):
    address: object
    handle: int

    def describe(self):
        return "stop redirecting %s (nftables rule handle %s)" % (self.address, self.handle)

    def argv(self, tools):
        return [tools["nft"], "delete", "rule", "ip", NFT_TABLE, NFT_CHAIN, "handle", str(self.handle)]

    def simulate(self, host):
        return replace(host, nft_rules=tuple(r for r in host.nft_rules if r[1] != self.handle))


@dataclass(frozen=True)
class DelNftTable(Action):
    def describe(self):
        return "remove nftables table ip %s" % NFT_TABLE

    def argv(self, tools):
        return [tools["nft"], "delete", "table", "ip", NFT_TABLE]

    def simulate(self, host):
        return replace(host, nft_table=False, nft_rules=())


def _family(address):
    return 6 if ":" in str(address) else 4


def _with_route(host, family, route):
    return replace(host, default_route6=route) if family == 6 else replace(host, default_route=route)


def _ip_family(family):
    """ip's family option for IPv6 routes (IPv4 is its default)."""
    return ["-6"] if family == 6 else []


@dataclass(frozen=True)
class ReplaceDefaultRoute(Action):
    gateway: str
    dev: str | None = None

    def describe(self):
        return "default route via %s%s" % (self.gateway, " dev %s" % self.dev if self.dev else "")

    def argv(self, tools):
        dev = ["dev", self.dev] if self.dev else []
        return [tools["ip"]] + _ip_family(_family(self.gateway)) + ["route", "replace", "default", "via", self.gateway] + dev

    def simulate(self, host):
        family = _family(self.gateway)
        current = host.route(family)
        return _with_route(host, family, Route(self.gateway, self.dev or (current.dev if current else None)))


@dataclass(frozen=True)
class DelDefaultRoute(Action):
    family: int = 4

    def describe(self):
        return "remove the %sdefault route (there was none before lbkit)" % ("IPv6 " if self.family == 6 else "")

    def argv(self, tools):
        return [tools["ip"]] + _ip_family(self.family) + ["route", "del", "default"]

    def simulate(self, host):
        return _with_route(host, self.family, None)


@dataclass(frozen=True)
class Systemctl(Action):
    verb: str

    def describe(self):
        return "systemctl %s" % (self.verb if self.verb == "daemon-reload" else "%s %s" % (self.verb, UNIT_NAME))

    def argv(self, tools):
        return [tools["systemctl"], self.verb] + ([] if self.verb == "daemon-reload" else [UNIT_NAME])

    def simulate(self, host):
        if self.verb in ("enable", "disable"):
            return replace(host, unit_enabled=self.verb == "enable")
        return host


@dataclass(frozen=True)
class LoadModule(Action):
    def describe(self):
        return "load the %s kernel module (it creates %s)" % (TUNNEL_MODULE, TUNNEL_DEVICE)

    def argv(self, tools):
        return [tools["modprobe"], TUNNEL_MODULE]

    def simulate(self, host):
        sysctls = dict(host.sysctls)
        sysctls.setdefault(TUNNEL_RP_FILTER, sysctls.get(DEFAULT_RP_FILTER, "0"))
        return replace(host, tunl0="down", sysctls=sysctls)


@dataclass(frozen=True)
class SettleUdev(Action):
    def describe(self):
        # udevd applies sysctl.d to the new tunl0; lbkit's own values must come after it
        return "wait until udev has set up %s" % TUNNEL_DEVICE

    def argv(self, tools):
        return [tools["udevadm"], "settle", "--timeout=60"]

    def simulate(self, host):
        return host


@dataclass(frozen=True)
class SetTunnelLink(Action):
    up: bool

    def describe(self):
        return "bring %s up" % TUNNEL_DEVICE if self.up else "set %s down (lbkit brought it up)" % TUNNEL_DEVICE

    def argv(self, tools):
        return [tools["ip"], "link", "set", TUNNEL_DEVICE, "up" if self.up else "down"]

    def simulate(self, host):
        return replace(host, tunl0="up" if self.up else "down")


@dataclass(frozen=True)
class MakeRecordDir(Action):
    def describe(self):
        return "create %s" % RECORD_DIR

    def argv(self, tools):
        return [tools["mkdir"], "-p", "-m", "0755", RECORD_DIR]

    def simulate(self, host):
        return replace(host, record_dir=True)


# --- plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request(core.Request):
    """The module's options, validated: the common ones and Linux's own."""

    method: str = "loopback"
    interfaces: tuple = ()
    gateway: object = None
    # candidate gateways (ADDRESS/PREFIX): the one whose subnet holds a host address becomes ``gateway``
    gateway_from: tuple = ()
    tunnel: bool = False
    # state absent without VIPs or gateway: undo everything lbkit recorded
    everything: bool = False


def _vip_list(values):
    return sorted({ipaddress.ip_address(v) for v in values}, key=sort_key)


def new_record(host, request):
    """The record after this run: which VIPs lbkit manages per method, what it changed and what was there before.

    ``tunnel`` is there only while tunnelling is on, saying whether tunl0 was up before lbkit
    (a record without it reads as it did before tunnelling existed).
    """
    record = {
        "loopback": [str(v) for v in _vip_list(host.record.get("loopback", []))],
        "redirect": [str(v) for v in _vip_list(host.record.get("redirect", []))],
        "sysctls": dict(host.record.get("sysctls", {})),
        "interfaces": list(host.record.get("interfaces", [])),
        "gateway": host.record.get("gateway"),
        "previous_default_route": host.record.get("previous_default_route"),
    }
    listed = {str(v) for v in request.vips}
    if request.state == "present":
        record[request.method] = [str(v) for v in _vip_list(set(record[request.method]) | listed)]
        if request.method == "loopback" and request.vips:
            record["interfaces"] = sorted(set(record["interfaces"]) | set(request.interfaces))
        if request.gateway is not None:
            current = host.route(_family(request.gateway))
            if record["gateway"] is None or _family(record["gateway"]) != _family(request.gateway):
                record["previous_default_route"] = current.as_dict() if current else None
            record["gateway"] = str(request.gateway)
        if request.tunnel:
            record["tunnel"] = host.record.get("tunnel") or {"tunl0_was_up": host.tunl0 == "up"}
    else:
        record["loopback"] = [v for v in record["loopback"] if v not in listed]
        record["redirect"] = [v for v in record["redirect"] if v not in listed]
        if request.gateway is not None or request.everything:
            record["gateway"] = None
            record["previous_default_route"] = None
        if not record["loopback"]:
            record["interfaces"] = []
        elif host.record.get("tunnel"):
            # the tunnel delivers to the VIPs on lo: it goes with the last of them
            record["tunnel"] = host.record["tunnel"]
    return record


def effective_request(host, request):
    """``state: absent`` with neither VIPs nor a gateway means everything lbkit recorded on the host."""
    if request.state == "absent" and not request.vips and request.gateway is None:
        recorded = _vip_list(host.record.get("loopback", []) + host.record.get("redirect", []))
        return replace(request, vips=tuple(recorded), everything=True)
    return request


def plan(host, request):
    """The actions that take ``host`` to what ``request`` asks, in the order they must run. Empty when nothing differs."""
    check_tunnel(request.method, request.tunnel)
    request = effective_request(host, request)
    record = new_record(host, request)
    actions = []
    actions += _plan_loopback(host, request)
    # tunl0's sysctls exist only once ipip is loaded: the link first, then the sysctls
    actions += _plan_tunnel_link(host, record)
    actions += _plan_sysctls(host, record)
    actions += _plan_redirect(host, request, record)
    actions += _plan_gateway(host, request, record)
    if request.persist:
        actions += _plan_files(host, record)
    if actions or _record_text(record) != host.files.get(RECORD_FILE):
        if _record_empty(record):
            if host.files.get(RECORD_FILE) is not None:
                actions.append(RemoveFile(RECORD_FILE))
        else:
            if not host.record_dir:
                actions.append(MakeRecordDir())
            actions.append(WriteFile(RECORD_FILE, _record_text(record).encode(), 0o600))
    return actions


def _record_empty(record):
    return not (record["loopback"] or record["redirect"] or record["gateway"] or record["sysctls"] or record.get("tunnel"))


def _record_text(record):
    return json.dumps(record, indent=2, sort_keys=True) + "\n"


def _plan_loopback(host, request):
    actions = []
    on_lo = {a.ip: a for a in host.loopback}
    if request.method == "loopback" and request.state == "present":
        for vip in request.vips:
            current = on_lo.get(vip)
            if current is not None and current.network.prefixlen == host_prefix(vip):
                continue
            if current is not None:
                # a wider prefix on lo would claim the VIP's whole subnet for the loopback
                actions.append(RemoveVip(current))
            actions.append(AddVip(vip))
    if request.state == "absent":
        for vip in request.vips:
            if vip in on_lo:
                actions.append(RemoveVip(on_lo[vip]))
    return actions


def _plan_tunnel_link(host, record):
    if record.get("tunnel"):
        actions = []
        if host.tunl0 is None:
            actions.append(LoadModule())
            if host.udev:
                actions.append(SettleUdev())
        if host.tunl0 != "up":
            actions.append(SetTunnelLink(True))
        return actions
    previous = host.record.get("tunnel")
    if previous and not previous.get("tunl0_was_up") and host.tunl0 == "up":
        return [SetTunnelLink(False)]
    # the ipip module stays loaded: other tunnels may use it, and tunl0 down receives nothing
    return []


def _wanted_sysctls(host, record):
    wanted = {}
    if record["loopback"]:
        ipv6 = any(ipaddress.ip_address(v).version == 6 for v in record["loopback"])
        wanted.update(wanted_sysctls(tuple(record["interfaces"]) or host.interfaces, ipv6))
    if record.get("tunnel"):
        wanted.update(tunnel_sysctls(record["sysctls"], host.sysctls.get(ALL_RP_FILTER)))
    return wanted


def _value_before(host, key):
    value = host.sysctls.get(key)
    if value is None and key == TUNNEL_RP_FILTER:
        # tunl0 does not exist yet: the kernel will give it the default value
        value = host.sysctls.get(DEFAULT_RP_FILTER)
    return value if value is not None else "0"


def _plan_sysctls(host, record):
    """Set what the record's VIPs and tunnel need; give every recorded sysctl nothing needs any more its value back."""
    actions = []
    wanted = _wanted_sysctls(host, record)
    for key, value in wanted.items():
        old = host.sysctls.get(key)
        if old != value:
            # the first value lbkit saw is the one absent restores
            record["sysctls"].setdefault(key, _value_before(host, key))
            actions.append(SetSysctl(key, value, old))
    for key, old in sorted(record["sysctls"].items()):
        if key in wanted:
            continue
        if key in host.sysctls and host.sysctls[key] != old:
            actions.append(SetSysctl(key, old, host.sysctls[key]))
        del record["sysctls"][key]
    return actions


def _plan_redirect(host, request, record):
    actions = []
    present = dict(host.nft_rules)
    wanted = [ipaddress.ip_address(v) for v in record["redirect"]]
    if request.state == "present" and request.method == "redirect":
        missing = [v for v in request.vips if v not in present]
        if missing and not host.nft_table:
            actions.append(AddNftTable())
        actions += [AddNftRedirect(v) for v in missing]
    if request.state == "absent":
        gone = [v for v in request.vips if v in present]
        if host.nft_table and not wanted and set(present) <= set(request.vips):
            # the table is lbkit's own: dropping it removes its last rules too
            actions.append(DelNftTable())
        else:
            actions += [DelNftRedirect(v, present[v]) for v in gone]
    return actions


def _plan_gateway(host, request, record):
    if record["gateway"] is not None:
        current = host.route(_family(record["gateway"]))
        if current is None or current.gateway != record["gateway"]:
            return [ReplaceDefaultRoute(record["gateway"])]
        return []
    previous_gateway = host.record.get("gateway")
    current = host.route(_family(previous_gateway)) if previous_gateway else None
    if request.state == "absent" and previous_gateway and current is not None and current.gateway == previous_gateway:
        previous = host.record.get("previous_default_route")
        if previous and previous.get("gateway"):
            return [ReplaceDefaultRoute(previous["gateway"], previous.get("dev"))]
        return [DelDefaultRoute(_family(previous_gateway))]
    return []


def render_sysctl_file(record, host_interfaces):
    """The sysctl.d file: the loopback method's and the tunnel's settings, applied by systemd-sysctl at every boot."""
    lines = []
    if record["loopback"]:
        ipv6 = any(ipaddress.ip_address(v).version == 6 for v in record["loopback"])
        wanted = wanted_sysctls(tuple(record["interfaces"]) or host_interfaces, ipv6)
        lines.append("# Answer ARP only for addresses of the receiving interface; never announce a VIP.\n")
        lines += ["%s = %s\n" % (key, value) for key, value in wanted.items()]
    if record.get("tunnel"):
        # tunl0 exists when this file is applied: systemd-modules-load runs before systemd-sysctl
        lines.append("# IP-in-IP tunnelling: no reverse-path filter on tunl0 (the kernel applies the higher of all and tunl0).\n")
        lines += ["%s = %s\n" % (key, value) for key, value in tunnel_sysctls(record["sysctls"]).items()]
    return HEADER + "".join(lines) if lines else None


def render_modules_file(record):
    """The modules-load.d file: ipip loaded at boot, which creates tunl0."""
    if not record.get("tunnel"):
        return None
    return "%s# IP-in-IP tunnelling: the real server decapsulates on tunl0.\n%s\n" % (HEADER, TUNNEL_MODULE)


def render_nft_file(record):
    """The nftables file the unit loads at boot; it replaces lbkit's table as a whole."""
    if not record["redirect"]:
        return None
    rules = "".join("        ip daddr %s redirect\n" % v for v in record["redirect"])
    # "table ...; delete table ..." first makes the file loadable whether or not the table exists
    return (HEADER + "table ip %s\ndelete table ip %s\ntable ip %s {\n    chain %s {\n"
            "        type nat hook prerouting priority dstnat; policy accept;\n%s    }\n}\n") % (NFT_TABLE, NFT_TABLE, NFT_TABLE, NFT_CHAIN, rules)


def render_unit(record, tools):
    """The oneshot unit that puts lbkit's VIPs, redirect rules and NAT gateway back at boot."""
    commands = []
    for vip in record["loopback"]:
        address = ipaddress.ip_address(vip)
        commands.append("%s addr replace %s/%d dev lo" % (tools["ip"], address, host_prefix(address)))
    if record["redirect"]:
        commands.append("%s -f %s" % (tools["nft"], NFT_FILE))
    if record["gateway"]:
        commands.append("%s%s route replace default via %s" % (tools["ip"], " -6" if _family(record["gateway"]) == 6 else "", record["gateway"]))
    if record.get("tunnel"):
        # last: should ipip be missing at boot, everything above is still in place
        commands.append("%s link set %s up" % (tools["ip"], TUNNEL_DEVICE))
    if not commands:
        return None
    after = "network-online.target" if record["gateway"] else "network-pre.target"
    return (
        "%s[Unit]\nDescription=lbkit real server: VIPs on lo, VIP redirects, NAT default route\n"
        "Wants=%s\nAfter=%s systemd-sysctl.service\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\n%s\n\n"
        "[Install]\nWantedBy=multi-user.target\n"
    ) % (HEADER, after, after, "\n".join("ExecStart=%s" % c for c in commands))


# The binaries the unit names: systemd needs absolute paths, and the boot-time ones are fixed.
UNIT_TOOLS = {"ip": "/usr/sbin/ip", "nft": "/usr/sbin/nft"}


def boot_files():
    """The boot configuration files lbkit manages, in the order they are written."""
    return (MODULES_FILE, SYSCTL_FILE, NFT_FILE, UNIT_FILE)


def _plan_files(host, record):
    actions = []
    wanted = {
        MODULES_FILE: render_modules_file(record),
        SYSCTL_FILE: render_sysctl_file(record, host.interfaces),
        NFT_FILE: render_nft_file(record),
        UNIT_FILE: render_unit(record, UNIT_TOOLS),
    }
    unit_changed = False
    for path in boot_files():
        content, current = wanted[path], host.files.get(path)
        if content is not None and content != current:
            actions.append(WriteFile(path, content.encode(), 0o644))
            unit_changed = unit_changed or path == UNIT_FILE
        elif content is None and current is not None:
            if path == UNIT_FILE and host.unit_enabled:
                actions.append(Systemctl("disable"))
            actions.append(RemoveFile(path))
            unit_changed = unit_changed or path == UNIT_FILE
    if unit_changed:
        actions.append(Systemctl("daemon-reload"))
    if wanted[UNIT_FILE] is not None and not host.unit_enabled:
        actions.append(Systemctl("enable"))
    return actions


# --- simulation (diff) ---------------------------------------------------------------------


def apply_plan(host, actions):
    """The host as it is after ``actions`` (each action simulates itself)."""
    return core.simulate(host, actions)


def default_gateways(host, family=None):
    """The host's default gateways as the module reports them: ``default_gateway`` (IPv4) always,
    ``default_gateway6`` when there is an IPv6 default route or gateway (``family``: the gateway
    asked for, else the one recorded)."""
    out = {"default_gateway": host.default_route.gateway if host.default_route else None}
    if host.default_route6 is not None or family == 6 or _family(host.record.get("gateway") or "") == 6:
        out["default_gateway6"] = host.default_route6.gateway if host.default_route6 else None
    return out


def snapshot(host, persist=True):
    """What the diff shows: the service addresses on lo (``vips``), the sysctls (``settings``), the
    files lbkit manages (``persisted``), and Linux's own: tunl0, the redirects, the default route."""
    out = {
        "vips": [str(a) for a in sorted(host.loopback, key=lambda a: sort_key(a.ip)) if not a.ip.is_loopback],
        "settings": dict(sorted(host.sysctls.items())),
        "tunl0": host.tunl0,
        "redirects": [str(v) for v, dummy in sorted(host.nft_rules, key=lambda r: sort_key(r[0]))],
    }
    out.update(default_gateways(host))
    if persist:
        out["persisted"] = {path: host.files.get(path) for path in boot_files() + (RECORD_FILE,)}
        out["unit_enabled"] = host.unit_enabled
    return out


# --- the module's platform ---------------------------------------------------------------


class LinuxPlatform(core.Platform):
    """realserver_linux's reads, plan and checks, for the one real-server runner."""

    def __init__(self):
        self.resolved = None

    def request(self, params):
        check_tunnel(params["method"], params["tunnel"])
        families = (4,) if params["method"] == "redirect" else (4, 6)
        vips = parse_vips(params["vips"], families=families, platform="Linux with method redirect (nftables nat, IPv4)") if params["vips"] else []
        return Request(
            vips=tuple(vips),
            state=params["state"],
            persist=params["persist"],
            listen_ports=tuple(params["listen_ports"]),
            method=params["method"],
            interfaces=tuple(params["interfaces"]),
            gateway=params["gateway"],
            gateway_from=tuple(params["gateway_from"] or ()),
            tunnel=params["tunnel"],
        )

    def tools(self, module, request):
        nft = module.get_bin_path("nft", opt_dirs=["/sbin", "/usr/sbin"])
        if request.method == "redirect" and request.state == "present" and request.vips and not nft:
            raise NotImplementedOnPlatform("method: redirect needs nftables (nft), which this host lacks; lbkit does not implement the iptables form."
                                           " Install the nftables package, or use method: loopback.")
        tools = dict((name, backend.find_tool(module, name)) for name in ("ip", "sysctl"))
        if nft:
            tools["nft"] = nft
        udevadm = module.get_bin_path("udevadm", opt_dirs=["/sbin", "/usr/sbin"]) if os.path.exists(UDEV_CONTROL) else None
        if udevadm:
            tools["udevadm"] = udevadm
        return tools

    def read(self, module, tools, request):
        interfaces, lo, addresses, tunl0 = parse_ip_address(backend.run(module, [tools["ip"], "-json", "address", "show"]))
        record = parse_record(backend.read_text(RECORD_FILE))
        chosen = choose_interfaces(request.interfaces, interfaces)
        keys = set(wanted_sysctls(chosen, any(v.version == 6 for v in request.vips))) | set(record.get("sysctls", {}))
        keys |= set(wanted_sysctls(tuple(record.get("interfaces", [])) or interfaces, False))
        if request.tunnel or record.get("tunnel"):
            keys |= set(TUNNEL_SYSCTLS)
        # -e: a key of an interface that no longer exists is left out instead of failing the read
        sysctls = parse_sysctl(backend.run(module, [tools["sysctl"], "-e"] + sorted(keys)))
        table, rules = False, ()
        if "nft" in tools and (request.method == "redirect" or request.state == "absent" or record.get("redirect")):
            table, rules = parse_nft(backend.run(module, [tools["nft"], "-j", "list", "ruleset"]))
        return LinuxHost(
            interfaces=interfaces,
            loopback=lo,
            addresses=addresses,
            sysctls=sysctls,
            default_route=parse_default_route(backend.run(module, [tools["ip"], "-json", "route", "show", "default"])),
            default_route6=parse_default_route(backend.run(module, [tools["ip"], "-6", "-json", "route", "show", "default"])),
            nft_table=table,
            nft_rules=rules,
            files=dict((path, backend.read_text(path)) for path in boot_files() + (RECORD_FILE,)),
            unit_enabled=os.path.lexists(UNIT_WANTS_LINK),
            record_dir=os.path.isdir(RECORD_DIR),
            record=record,
            tunl0=tunl0,
            udev="udevadm" in tools,
        )

    def plan(self, host, request):
        gateway = choose_gateway(request.gateway, request.gateway_from, host.addresses)
        self.resolved = replace(request, interfaces=choose_interfaces(request.interfaces, host.interfaces), gateway=gateway)
        return plan(host, self.resolved)

    def more_tools(self, module, tools, actions):
        for action in actions:
            if isinstance(action, Systemctl) and "systemctl" not in tools:
                tools["systemctl"] = module.get_bin_path("systemctl", opt_dirs=["/bin", "/usr/bin"])
                if not tools["systemctl"]:
                    raise NotImplementedOnPlatform("persist: lbkit persists through a systemd unit and this host has no systemctl (no systemd);"
                                                   " set persist: false and repeat the changes at boot with the host's own init system.")
            if isinstance(action, LoadModule) and "modprobe" not in tools:
                tools["modprobe"] = module.get_bin_path("modprobe", opt_dirs=["/sbin", "/usr/sbin"])
                if not tools["modprobe"]:
                    raise RealServerError("tunnel: the host has no tunl0 and no modprobe to load the ipip module that creates it;"
                                          " install kmod, or load ipip by other means before the run.")
            if isinstance(action, MakeRecordDir):
                tools["mkdir"] = backend.find_tool(module, "mkdir")

    def snapshot(self, host, request):
        return snapshot(host, request.persist)

    def extras(self, before, after, request):
        gateway = self.resolved.gateway if self.resolved else None
        return dict(record=after.record, **default_gateways(after, gateway.version if gateway is not None else None))

    def verify(self, module, tools, request, result):
        gateway = self.resolved.gateway
        family = gateway.version if gateway is not None else 4
        key = "default_gateway6" if family == 6 else "default_gateway"
        route = parse_default_route(backend.run(module, [tools["ip"]] + _ip_family(family) + ["-json", "route", "show", "default"]))
        result[key] = route.gateway if route else None
        if request.state == "present" and gateway is not None and result[key] != str(gateway):
            raise RealServerError("gateway: the default route is via %s, not %s, after 'ip route replace default via %s'; check that %s is"
                                  " in a connected subnet." % (result[key], gateway, gateway, gateway))

    def listeners(self, module, tools):
        return parse_ss(backend.run(module, [backend.find_tool(module, "ss"), "-ltnH"]))

    def fitting(self, host, request):
        # the redirect method delivers packets for the receiving interface's own address
        return [a.ip for a in host.addresses if not a.ip.is_loopback] if request.method == "redirect" else ()

    def listener_target(self, request):
        return request.method
