# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The spec as frozen dataclasses, with every default filled in.

``load_spec`` is the entry point: schema structure (``structure.py``), value parsing, the
semantic rules (``rules.py``) and the engine capabilities (``engines.py``), reporting all
problems at once as ``SpecInvalid``. Pure Python: no Ansible, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Optional, Tuple

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec import values
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import SpecInvalid
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import Collector, join, kind
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.schema import SCHEMA
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.structure import Fields, StructureChecker


# The port a TLS service's HTTP redirect listens on.
HTTP_PORT = 80


@dataclass(frozen=True)
class Node:
    host: str
    heartbeat_address: Optional[object]
    priority: int
    path: str = field(default="", compare=False, repr=False)
    management_address: Optional[object] = None

    @property
    def monitoring_address(self):
        """Where this node's monitoring endpoint listens: its management address, else its heartbeat address."""
        return self.management_address if self.management_address is not None else self.heartbeat_address


@dataclass(frozen=True)
class HA:
    mode: str
    virtual_router_id: int
    vrrp_version: int
    advert_interval_ms: int
    unicast: bool
    auth_secret: Optional[str] = field(repr=False)
    preempt: bool
    ping_nodes: Tuple[object, ...]
    track_interfaces: Tuple[str, ...]
    given: frozenset = field(default=frozenset(), compare=False, repr=False)
    connection_sync: bool = False


@dataclass(frozen=True)
class FloatingIP:
    name: Optional[str]
    address: object
    side: str
    gateway: bool
    path: str = field(default="", compare=False, repr=False)

    def holds(self, address):
        """Whether ``address`` is in this floating IP's subnet."""
        return self.address.version == address.version and address in self.address.network


@dataclass(frozen=True)
class Interfaces:
    external: Optional[str]
    internal: Optional[str]


@dataclass(frozen=True)
class Cluster:
    name: str
    nodes: Tuple[Node, ...]
    ha: HA
    floating_ips: Tuple[FloatingIP, ...]
    interfaces: Interfaces
    engine: str = "linux"
    given: frozenset = field(default=frozenset(), compare=False, repr=False)
    # outbound connections of the real servers masqueraded on the external interface
    autonat: bool = False

    def node(self, host):
        for node in self.nodes:
            if node.host == host:
                return node
        return None

    def gateways(self):
        return tuple(f for f in self.floating_ips if f.gateway)

    def gateways_for(self, address):
        """The gateway floating IPs whose subnet holds ``address`` (a real server that can route through them)."""
        return tuple(g for g in self.gateways() if g.holds(address))


@dataclass(frozen=True)
class Persistence:
    mode: str
    timeout: int
    granularity: Optional[int]
    cookie: Optional[str]
    header: Optional[str]
    query_item: Optional[str]
    # The fields the user wrote (the others hold their defaults).
    given: frozenset = field(default=frozenset(), compare=False, repr=False)
    refresh: bool = False
    cookie_with_port: bool = False


@dataclass(frozen=True)
class HealthCheck:
    type: str
    port: Optional[int]
    url: str
    host: Optional[str]
    expected_codes: Tuple[Tuple[int, int], ...]
    interval: int
    timeout: int
    retries: int
    command: Optional[str]
    given: frozenset = field(default=frozenset(), compare=False, repr=False)
    # the datagram of a udp check, in hexadecimal
    payload: Optional[str] = None


@dataclass(frozen=True)
class Adaptive:
    """Resource based (adaptive) scheduling's load agent: its port and path, the polling interval, the load under which weights stay whole."""

    port: int
    path: str
    interval: int
    min_load: int
    given: frozenset = field(default=frozenset(), compare=False, repr=False)


@dataclass(frozen=True)
class TLS:
    certificate: str
    key: str = field(repr=False)
    reencrypt: bool
    redirect_http: bool = False


@dataclass(frozen=True)
class Layer7:
    mode: str
    transparent: bool
    x_forwarded_for: bool
    subnet_originating: bool
    idle_timeout: int
    quality_of_service: str
    server_initiating: str
    tls: Optional[TLS]
    given: frozenset = field(default=frozenset(), compare=False, repr=False)
    http2: bool = False
    starttls: str = "none"
    # alternate source addresses: the connections to the real servers leave from these, spread over them
    source_addresses: Tuple[object, ...] = ()


@dataclass(frozen=True)
class FallbackServer:
    address: object
    port: int


@dataclass(frozen=True)
class RealServer:
    name: str
    address: object
    port: int
    weight: int
    min_connections: int
    max_connections: int
    state: str
    path: str = field(default="", compare=False, repr=False)

    @property
    def key(self):
        """Real servers are identified by address and port, never by name alone."""
        return (self.address, self.port)


@dataclass(frozen=True)
class ContentRule:
    """One condition on an HTTP request: its ``subject`` (path, host or header; ``header`` names the
    header) compared with ``value`` as ``match`` says (exact, prefix, suffix, regex)."""

    subject: str
    header: Optional[str]
    value: str
    match: str
    ignore_case: bool
    negate: bool
    path: str = field(default="", compare=False, repr=False)

    @property
    def host_regex(self):
        """A host rule as the regular expression over the Host header the engines apply: the header's
        port (if any) left out, except by a regular expression of the spec's own."""
        literal = "".join("\\" + c if c in ".^$*+?()[]{}|\\/" else c for c in self.value)
        port = "(:[0-9]+)?$"
        return {"exact": "^" + literal + port, "prefix": "^" + literal, "suffix": literal + port, "regex": self.value}[self.match]

    def matches(self, path, host, headers=None):
        """Whether a request (its path without the query string, its Host header, its other headers by
        lower-case name) meets this rule, as HAProxy's ACL of it decides."""
        if self.subject == "host":
            found = re.search(self.host_regex, host or "", re.IGNORECASE) is not None
        else:
            text = path if self.subject == "path" else (headers or {}).get(self.header.lower())
            found = text is not None and _compare(self.match, self.value, text, self.ignore_case)
        return found != self.negate


def _compare(match, value, text, ignore_case):
    if match == "regex":
        return re.search(value, text, re.IGNORECASE if ignore_case else 0) is not None
    if ignore_case:
        value, text = value.lower(), text.lower()
    return {"exact": text == value, "prefix": text.startswith(value), "suffix": text.endswith(value)}[match]


@dataclass(frozen=True)
class SubService:
    """A group of real servers behind its parent's VIP (the LoadMaster's SubVS), chosen by ``content_rules``
    (any of them; none: the requests no other sub service takes)."""

    name: str
    content_rules: Tuple[ContentRule, ...]
    scheduling: str
    persistence: Persistence
    health_check: HealthCheck
    slow_start: int
    fallback_server: Optional[FallbackServer]
    real_servers: Tuple[RealServer, ...]
    path: str = field(default="", compare=False, repr=False)
    given: frozenset = field(default=frozenset(), compare=False, repr=False)


# A sub service's backend: '<service>:<sub service>' (a sub service's name has no ':').
SUB_SEPARATOR = ":"


@dataclass(frozen=True)
class VirtualService:
    name: str
    address: object
    port: int
    extra_ports: Tuple[int, ...]
    protocol: str
    layer: int
    forwarding: str
    scheduling: str
    persistence: Persistence
    health_check: HealthCheck
    layer7: Optional[Layer7]
    fallback_server: Optional[FallbackServer]
    real_servers: Tuple[RealServer, ...]
    path: str = field(default="", compare=False, repr=False)
    given: frozenset = field(default=frozenset(), compare=False, repr=False)
    # seconds over which a returning real server reaches its weight (0: at once)
    slow_start: int = 0
    # the real servers' outbound connections leave from the VIP
    use_for_server_nat: bool = False
    # the load agent of adaptive scheduling (its defaults when the spec gives none)
    adaptive: Optional[Adaptive] = None
    # content switching: the groups of real servers (``real_servers`` then lists each of theirs once)
    sub_services: Tuple[SubService, ...] = ()

    @property
    def key(self):
        return (self.address, self.port, self.protocol)

    def route(self, path, host, headers=None):
        """The index of the sub service a request goes to: the first whose content rules match it,
        else the one without rules; None when no sub service takes it."""
        for index, sub in enumerate(self.sub_services):
            if any(rule.matches(path, host, headers) for rule in sub.content_rules):
                return index
        return next((index for index, sub in enumerate(self.sub_services) if not sub.content_rules), None)

    def groups(self):
        """The groups of real servers a request may go to, each as a service: the service itself, or
        one per sub service (the service with the sub service's name 'service:sub', real servers,
        scheduling, persistence, checks, slow start and fallback server, and its path)."""
        if not self.sub_services:
            return (self,)
        return tuple(
            replace(self, name=self.name + SUB_SEPARATOR + sub.name, scheduling=sub.scheduling, persistence=sub.persistence,
                    health_check=sub.health_check, slow_start=sub.slow_start, fallback_server=sub.fallback_server,
                    real_servers=sub.real_servers, path=sub.path, given=sub.given, sub_services=())
            for sub in self.sub_services
        )

    @property
    def ports(self):
        return (self.port,) + tuple(p for p in self.extra_ports if p != self.port)

    @property
    def marked(self):
        """Whether the service is an IPVS firewall-mark service: layer 4 with more than one port."""
        return self.layer == 4 and len(self.ports) > 1

    def ports_at(self, rs):
        """The ports real server ``rs`` receives this service's connections on.

        At layer 4 a real server on the service's own port gets each connection on the port the
        client asked for (Direct Routing and tunnelling cannot translate ports; NAT leaves them as
        they are); a NAT real server on a port of its own gets every port's connections on it, as
        a layer-7 proxy sends every port's requests to the real server's port.
        """
        if self.layer == 4 and rs.port == self.port:
            return self.ports
        return (rs.port,)

    @property
    def redirect_port(self):
        """The plain HTTP port a TLS service redirects to HTTPS from (layer7.tls.redirect_http), or None."""
        tls = self.layer7.tls if self.layer7 is not None else None
        return HTTP_PORT if tls is not None and tls.redirect_http else None

    @property
    def listen_ports(self):
        """Every port the service takes on its VIP: its own, and the redirect's."""
        return self.ports + ((self.redirect_port,) if self.redirect_port is not None and self.redirect_port not in self.ports else ())


@dataclass(frozen=True)
class StatusPage:
    user: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Monitoring:
    port: int
    allowed_sources: Tuple[object, ...]
    status_page: Optional[StatusPage]


@dataclass(frozen=True)
class Spec:
    cluster: Cluster
    virtual_services: Tuple[VirtualService, ...]
    monitoring: Optional[Monitoring] = None

    def service(self, name):
        for vs in self.virtual_services:
            if vs.name == name:
                return vs
        return None


class _Builder(object):
    """Turns the structurally checked data into dataclasses, parsing compact values.

    Every field's own value is parsed whenever the field itself is well formed, whatever its
    siblings hold, so a bad port never hides a bad address beside it. An object is built only
    when all its fields are good (its error is already reported), and the rules then run on every
    object that was built: the user sees all problems in one pass.
    """

    def __init__(self, collector):
        self.col = collector

    def clean(self, path):
        return not self.col.has_errors_under(path)

    def parse(self, path, parser, value, *args):
        try:
            return parser(value, *args)
        except ValueError as exc:
            self.col.add(path, exc.args[0], exc.args[1] if len(exc.args) > 1 else None)
            return None

    def value(self, data, path, key, parser, *args):
        """(ok, parsed) for ``data[key]``: ok is False when the field is malformed; absent is (True, None)."""
        if key not in data:
            return True, None
        if not self.clean(join(path, key)):
            return False, None
        parsed = self.parse(join(path, key), parser, data[key], *args)
        return parsed is not None, parsed

    def fields_ok(self, path, *keys):
        return all(self.clean(join(path, key)) for key in keys)

    # --- cluster ----------------------------------------------------------------------------

    def cluster(self, data):
        path = "/cluster"
        if not isinstance(data, Fields):
            return None
        nodes, nodes_ok = [], isinstance(data.get("nodes"), list) and self.clean(join(path, "nodes"))
        for i, item in enumerate(data.get("nodes") if isinstance(data.get("nodes"), list) else []):
            node = self.node(item, join(path, "nodes", i))
            nodes_ok = nodes_ok and node is not None
            if node is not None:
                nodes.append(node)
        ha = self.ha(data.get("ha"), join(path, "ha"))
        floating, floating_ok = [], isinstance(data.get("floating_ips"), list)
        for i, item in enumerate(data.get("floating_ips") if isinstance(data.get("floating_ips"), list) else []):
            fip = self.floating_ip(item, join(path, "floating_ips", i))
            floating_ok = floating_ok and fip is not None
            if fip is not None:
                floating.append(fip)
        ifaces = data.get("interfaces")
        interfaces = None
        if isinstance(ifaces, Fields) and self.clean(join(path, "interfaces")):
            interfaces = Interfaces(ifaces.get("external"), ifaces.get("internal"))
        if not (self.clean(join(path, "name")) and self.clean(join(path, "engine")) and self.clean(join(path, "autonat")) and "name" in data and nodes_ok
                and ha is not None
                and floating_ok and interfaces is not None):
            return None
        return Cluster(data["name"], tuple(nodes), ha, tuple(floating), interfaces, data["engine"], given=data.given, autonat=data["autonat"])

    def node(self, item, path):
        if not isinstance(item, Fields):
            return None
        ok, heartbeat = self.value(item, path, "heartbeat_address", values.parse_address, "a heartbeat address")
        management_ok, management = self.value(item, path, "management_address", values.parse_address, "a management address")
        if not (ok and management_ok and "host" in item and self.fields_ok(path, "host", "priority")):
            return None
        return Node(item["host"], heartbeat, item["priority"], path=path, management_address=management)

    def ha(self, data, path):
        if not isinstance(data, Fields):
            return None
        ping, ping_ok = [], isinstance(data.get("ping_nodes"), list)
        for i, addr in enumerate(data.get("ping_nodes") if isinstance(data.get("ping_nodes"), list) else []):
            where = join(path, "ping_nodes", i)
            parsed = self.parse(where, values.parse_address, addr, "a ping node") if self.clean(where) else None
            ping_ok = ping_ok and parsed is not None
            if parsed is not None:
                ping.append(parsed)
        if not (ping_ok and self.clean(path)):
            return None
        return HA(
            mode=data["mode"],
            virtual_router_id=data["virtual_router_id"],
            vrrp_version=data["vrrp_version"],
            advert_interval_ms=data["advert_interval_ms"],
            unicast=data["unicast"],
            auth_secret=data.get("auth_secret"),
            preempt=data["preempt"],
            ping_nodes=tuple(ping),
            track_interfaces=tuple(data["track_interfaces"]),
            given=data.given,
            connection_sync=data["connection_sync"],
        )

    def floating_ip(self, item, path):
        if not isinstance(item, Fields):
            return None
        ok, address = self.value(item, path, "address", values.parse_interface)
        if not (ok and address is not None and self.fields_ok(path, "name", "side", "gateway")):
            return None
        return FloatingIP(item.get("name"), address, item["side"], item["gateway"], path=path)

    # --- virtual services -------------------------------------------------------------------

    def virtual_service(self, data, index):
        path = join("", "virtual_services", index)
        if not isinstance(data, Fields):
            return None
        address_ok, address = self.value(data, path, "address", values.parse_address, "a VIP")
        extra_ok, extra = self.value(data, path, "extra_ports", values.parse_ports)
        slow_ok, slow_start = self.value(data, path, "slow_start", values.parse_duration)
        scalars = ("name", "port", "protocol", "layer", "forwarding", "scheduling", "use_for_server_nat")
        layer = data.get("layer") if self.clean(join(path, "layer")) else None
        port = data.get("port") if self.clean(join(path, "port")) else None
        persistence = self.persistence(data.get("persistence"), join(path, "persistence"), address)
        adaptive = self.adaptive(data.get("adaptive"), join(path, "adaptive"))
        health = self.health_check(data.get("health_check"), join(path, "health_check"))
        layer7, layer7_ok = None, True
        if "layer7" in data or layer == 7:
            layer7 = self.layer7(data.get("layer7"), join(path, "layer7"))
            layer7_ok = layer7 is not None
        fallback, fallback_ok = None, True
        if "fallback_server" in data:
            fallback = self.fallback(data["fallback_server"], join(path, "fallback_server"))
            fallback_ok = fallback is not None
        servers, servers_ok = self.real_servers(data, path, port)
        subs, subs_ok = [], True
        if "sub_services" in data:
            subs_ok = isinstance(data["sub_services"], list) and self.clean(join(path, "sub_services"))
            for i, item in enumerate(data["sub_services"] if isinstance(data["sub_services"], list) else []):
                sub = self.sub_service(item, join(path, "sub_services", i), address, port)
                subs_ok = subs_ok and sub is not None
                if sub is not None:
                    subs.append(sub)
            # every real server of the sub services, each once: what the service sends requests to
            first = {}
            for rs in (rs for sub in subs for rs in sub.real_servers):
                first.setdefault(rs.key, rs)
            servers = list(first.values())
        elif "real_servers" not in data:
            self.col.add(join(path, "real_servers"), "is required but missing.", "add 'real_servers': the real servers (RIPs) behind the service"
                         " (or sub_services, each with its own).")
        complete = all(key in data for key in ("name", "address", "port")) and self.fields_ok(path, *scalars)
        if not (complete and address_ok and extra_ok and slow_ok and persistence and adaptive and health and layer7_ok and fallback_ok and servers_ok
                and subs_ok and ("real_servers" in data or "sub_services" in data)):
            return None
        return VirtualService(
            name=data["name"],
            address=address,
            port=port,
            extra_ports=tuple(extra or ()),
            protocol=data["protocol"],
            layer=layer,
            forwarding=data.get("forwarding") or ("dr" if layer == 4 else "proxy"),
            scheduling=data["scheduling"],
            persistence=persistence,
            health_check=health,
            layer7=layer7,
            fallback_server=fallback,
            real_servers=tuple(servers),
            path=path,
            given=data.given,
            slow_start=slow_start,
            use_for_server_nat=data["use_for_server_nat"],
            adaptive=adaptive,
            sub_services=tuple(subs),
        )

    def real_servers(self, data, path, port):
        """(real servers, ok) of the list ``data['real_servers']`` (absent: none)."""
        if "real_servers" not in data:
            return [], True
        servers, ok = [], isinstance(data["real_servers"], list) and self.clean(join(path, "real_servers"))
        for i, item in enumerate(data["real_servers"] if isinstance(data["real_servers"], list) else []):
            rs = self.real_server(item, join(path, "real_servers", i), port)
            ok = ok and rs is not None
            if rs is not None:
                servers.append(rs)
        return servers, ok

    def sub_service(self, data, path, address, port):
        if not isinstance(data, Fields):
            return None
        slow_ok, slow_start = self.value(data, path, "slow_start", values.parse_duration)
        persistence = self.persistence(data.get("persistence"), join(path, "persistence"), address)
        health = self.health_check(data.get("health_check"), join(path, "health_check"))
        fallback, fallback_ok = None, True
        if "fallback_server" in data:
            fallback = self.fallback(data["fallback_server"], join(path, "fallback_server"))
            fallback_ok = fallback is not None
        servers, servers_ok = self.real_servers(data, path, port)
        rules, rules_ok = [], isinstance(data.get("content_rules", []), list) and self.clean(join(path, "content_rules"))
        for i, item in enumerate(data.get("content_rules") if isinstance(data.get("content_rules"), list) else []):
            rule = self.content_rule(item, join(path, "content_rules", i))
            rules_ok = rules_ok and rule is not None
            if rule is not None:
                rules.append(rule)
        if not (slow_ok and persistence and health and fallback_ok and servers_ok and rules_ok and "name" in data and "real_servers" in data
                and self.fields_ok(path, "name", "scheduling")):
            return None
        return SubService(data["name"], tuple(rules), data["scheduling"], persistence, health, slow_start, fallback, tuple(servers), path=path,
                          given=data.given)

    def content_rule(self, data, path):
        """One content rule: exactly one of path, host and header (with its value)."""
        if not isinstance(data, Fields) or not self.clean(path):
            return None
        named = [key for key in ("path", "host", "header") if key in data]
        if len(named) != 1:
            fix = "give one of them per rule; list several rules for several conditions (any of them matches)."
            if named:
                self.col.add(join(path, named[1]), "a content rule compares one thing, and this one also names %s." % named[0], fix)
            else:
                self.col.add(path, "a content rule needs what it compares: path, host or header.", "add path: /prefix, host: name, or header: Name"
                             " with value.")
            return None
        kind_ = named[0]
        if kind_ == "header" and "value" not in data:
            self.col.add(join(path, "value"), "is required with header: the value the header is compared with.", "add value.")
            return None
        if kind_ != "header" and "value" in data:
            self.col.add(join(path, "value"), "is only used with header; a %s rule compares its own value." % kind_, "remove value.")
            return None
        value = data["value"] if kind_ == "header" else data[kind_]
        match = data.get("match") or ("prefix" if kind_ == "path" else "exact")
        where = join(path, "value" if kind_ == "header" else kind_)
        if match == "regex" and self.parse(where, values.parse_regex, value) is None:
            return None
        return ContentRule(kind_, data.get("header"), value, match, data["ignore_case"] or kind_ == "host", data["negate"], path=path)

    def real_server(self, item, path, service_port):
        if not isinstance(item, Fields):
            return None
        ok, address = self.value(item, path, "address", values.parse_address, "a real server's address")
        port = item.get("port", service_port)
        if not (ok and address is not None and port is not None and self.clean(path)):
            return None
        name = item.get("name") or "%s:%d" % (address, port)
        return RealServer(name, address, port, item["weight"], item["min_connections"], item["max_connections"], item["state"], path=path)

    def fallback(self, data, path):
        if not isinstance(data, Fields):
            return None
        ok, address = self.value(data, path, "address", values.parse_address, "a fallback server")
        if not (ok and address is not None and self.clean(path)):
            return None
        return FallbackServer(address, data["port"])

    def persistence(self, data, path, address):
        if not isinstance(data, Fields):
            return None
        ok, timeout = self.value(data, path, "timeout", values.parse_duration)
        granularity = None
        if "granularity" in data and address is not None:
            ok_g, granularity = self.value(data, path, "granularity", values.parse_granularity, address.version)
            ok = ok and ok_g
        elif "granularity" in data:
            ok = False  # the family comes from the VIP, whose own error is reported
        if not (ok and self.clean(path)):
            return None
        return Persistence(data["mode"], timeout, granularity, data.get("cookie"), data.get("header"), data.get("query_item"), given=data.given,
                           refresh=data["refresh"], cookie_with_port=data["cookie_with_port"])

    def adaptive(self, data, path):
        if not isinstance(data, Fields):
            return None
        ok, interval = self.value(data, path, "interval", values.parse_duration)
        if not (ok and self.clean(path)):
            return None
        return Adaptive(data["port"], data["path"], interval, data["min_load"], given=data.given)

    def health_check(self, data, path):
        if not isinstance(data, Fields):
            return None
        ok_c, codes = self.value(data, path, "expected_codes", values.parse_status_codes)
        ok_i, interval = self.value(data, path, "interval", values.parse_duration)
        ok_t, timeout = self.value(data, path, "timeout", values.parse_duration)
        if not (ok_c and ok_i and ok_t and self.clean(path)):
            return None
        return HealthCheck(
            data["type"], data.get("port"), data["url"], data.get("host"), codes, interval, timeout, data["retries"], data.get("command"),
            given=data.given, payload=data.get("payload"),
        )

    def layer7(self, data, path):
        if data is None:
            data = StructureChecker(SCHEMA).check({}, Collector(), path, {"$ref": "#/$defs/layer7"})
            data.given = frozenset()
        if not isinstance(data, Fields):
            return None
        ok, idle = self.value(data, path, "idle_timeout", values.parse_duration)
        sources = []
        for i, text in enumerate(data.get("source_addresses") if isinstance(data.get("source_addresses"), list) else []):
            where = join(path, "source_addresses", i)
            parsed = self.parse(where, values.parse_address, text, "a source address") if self.clean(where) else None
            ok = ok and parsed is not None
            sources.append(parsed)
        if not (ok and self.clean(path)):
            return None
        tls = None
        if "tls" in data:
            tls = TLS(data["tls"]["certificate"], data["tls"]["key"], data["tls"]["reencrypt"], data["tls"]["redirect_http"])
        return Layer7(
            data["mode"],
            data["transparent"],
            data["x_forwarded_for"],
            data["subnet_originating"],
            idle,
            data["quality_of_service"],
            data["server_initiating"],
            tls,
            given=data.given,
            http2=data["http2"],
            starttls=data["starttls"],
            source_addresses=tuple(sources),
        )

    # --- monitoring -------------------------------------------------------------------------

    def monitoring(self, data):
        path = "/monitoring"
        if not isinstance(data, Fields):
            return None
        sources, sources_ok = [], isinstance(data.get("allowed_sources"), list)
        for i, text in enumerate(data.get("allowed_sources") if sources_ok else []):
            where = join(path, "allowed_sources", i)
            parsed = self.parse(where, values.parse_source, text) if self.clean(where) else None
            sources_ok = sources_ok and parsed is not None
            if parsed is not None:
                sources.append(parsed)
        if not (sources_ok and self.clean(path)):
            return None
        page = data.get("status_page")
        status_page = StatusPage(page["user"], page["password"]) if page is not None else None
        return Monitoring(data["port"], tuple(sources), status_page)


def _path_key(path):
    """Sort errors in the order of the spec: list indexes (ASCII digits) as numbers."""
    return [(0, int(p), "") if p.isascii() and p.isdigit() else (1, 0, p) for p in path.split("/")]


def _engine_given(normalized):
    """The cluster's engine when the cluster itself has errors (its services are still checked for it)."""
    cluster = normalized.get("cluster")
    engine = cluster.get("engine") if isinstance(cluster, dict) else None
    return engine if engine in ("linux", "loadmaster") else "linux"


def check_spec(data):
    """Return ``(spec_or_None, errors)``: every problem in ``data``, structural and semantic."""
    # Imported here: rules and engines import the dataclasses above.
    from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec import engines, rules

    col = Collector()
    if not isinstance(data, dict):
        col.add("/", "the spec must be a mapping with 'cluster' and 'virtual_services', not %s." % kind(data),
                "write the spec as a mapping: cluster: ... and virtual_services: [...].")
        return None, col.errors
    normalized = StructureChecker(SCHEMA).check(data, col)
    builder = _Builder(col)
    cluster = builder.cluster(normalized.get("cluster"))
    services = []
    listed = normalized.get("virtual_services")
    for index in range(len(listed) if isinstance(listed, list) else 0):
        vs = builder.virtual_service(listed[index], index)
        # Each service's normalized copy goes as soon as it is built: with thousands of real
        # servers, holding the normalized spec and the model together set the module's peak memory.
        listed[index] = None
        if vs is not None:
            services.append(vs)
    engine = cluster.engine if cluster is not None else _engine_given(normalized)
    if cluster is not None:
        rules.check_cluster(cluster, col)
        engines.check_cluster(cluster, col)
    for vs in services:
        rules.check_service(vs, cluster, col)
        engines.check_service(vs, col, engine, paired=cluster is not None and cluster.ha.mode == "pair")
    rules.check_services(services, cluster, col)
    monitoring = None
    if "monitoring" in normalized:
        monitoring = builder.monitoring(normalized["monitoring"])
        if monitoring is not None and cluster is not None:
            rules.check_monitoring(monitoring, cluster, col)
            engines.check_monitoring(cluster, col)
    col.errors.sort(key=lambda e: _path_key(e.path))
    if col.errors or cluster is None:
        return None, col.errors
    return Spec(cluster, tuple(services), monitoring), []


def load_spec(data):
    """The spec as a ``Spec``; raises ``SpecInvalid`` listing every error."""
    spec, errors = check_spec(data)
    if errors:
        raise SpecInvalid(errors)
    return spec
