# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The spec as frozen dataclasses, with every default filled in.

``load_spec`` is the entry point: schema structure (``structure.py``), value parsing, the
semantic rules (``rules.py``) and the engine capabilities (``engines.py``), reporting all
problems at once as ``SpecInvalid``. Pure Python: no Ansible, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec import values
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import Collector, SpecInvalid, join
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.schema import SCHEMA
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.structure import StructureChecker


@dataclass(frozen=True)
class Node:
    host: str
    heartbeat_address: Optional[object]
    priority: int
    path: str = field(default="", compare=False, repr=False)


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


@dataclass(frozen=True)
class FloatingIP:
    name: Optional[str]
    address: object
    side: str
    gateway: bool
    path: str = field(default="", compare=False, repr=False)


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

    def node(self, host):
        for node in self.nodes:
            if node.host == host:
                return node
        return None

    def gateways(self):
        return tuple(f for f in self.floating_ips if f.gateway)


@dataclass(frozen=True)
class Persistence:
    mode: str
    timeout: int
    granularity: Optional[int]
    cookie: Optional[str]
    header: Optional[str]
    query_item: Optional[str]


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


@dataclass(frozen=True)
class TLS:
    certificate: str
    key: str = field(repr=False)
    reencrypt: bool


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

    @property
    def key(self):
        return (self.address, self.port, self.protocol)

    @property
    def ports(self):
        return (self.port,) + tuple(p for p in self.extra_ports if p != self.port)


@dataclass(frozen=True)
class Spec:
    cluster: Cluster
    virtual_services: Tuple[VirtualService, ...]

    def service(self, name):
        for vs in self.virtual_services:
            if vs.name == name:
                return vs
        return None


class _Builder(object):
    """Turns the structurally checked data into dataclasses, parsing compact values.

    A part with a structural error is skipped (its error is already reported), so the rules
    still run on every other part and the user sees all problems in one pass.
    """

    def __init__(self, raw, collector):
        self.raw = raw
        self.col = collector

    def clean(self, path):
        return not self.col.has_errors_under(path)

    def parse(self, path, parser, value, *args):
        try:
            return parser(value, *args)
        except ValueError as exc:
            self.col.add(path, exc.args[0], exc.args[1] if len(exc.args) > 1 else None)
            return None

    def cluster(self, data):
        path = "/cluster"
        if not isinstance(data, dict) or not self.clean(join(path, "name")):
            return None
        nodes = []
        for i, item in enumerate(data.get("nodes", [])):
            p = join(path, "nodes", i)
            if not self.clean(p):
                continue
            hb = item.get("heartbeat_address")
            if hb is not None:
                hb = self.parse(join(p, "heartbeat_address"), values.parse_address, hb)
            nodes.append(Node(item["host"], hb, item["priority"], path=p))
        ha_data = data.get("ha", {})
        ha = None
        if self.clean(join(path, "ha")):
            ping = []
            for i, addr in enumerate(ha_data["ping_nodes"]):
                parsed = self.parse(join(path, "ha", "ping_nodes", i), values.parse_address, addr)
                if parsed is not None:
                    ping.append(parsed)
            ha = HA(
                mode=ha_data["mode"],
                virtual_router_id=ha_data["virtual_router_id"],
                vrrp_version=ha_data["vrrp_version"],
                advert_interval_ms=ha_data["advert_interval_ms"],
                unicast=ha_data["unicast"],
                auth_secret=ha_data.get("auth_secret"),
                preempt=ha_data["preempt"],
                ping_nodes=tuple(ping),
                track_interfaces=tuple(ha_data["track_interfaces"]),
            )
        floating = []
        for i, item in enumerate(data.get("floating_ips", [])):
            p = join(path, "floating_ips", i)
            if not self.clean(p):
                continue
            addr = self.parse(join(p, "address"), values.parse_interface, item["address"])
            if addr is not None:
                floating.append(FloatingIP(item.get("name"), addr, item["side"], item["gateway"], path=p))
        ifaces = data.get("interfaces", {})
        interfaces = Interfaces(ifaces.get("external"), ifaces.get("internal")) if self.clean(join(path, "interfaces")) else Interfaces(None, None)
        if ha is None or not self.clean(join(path, "nodes")):
            return None
        return Cluster(data["name"], tuple(nodes), ha, tuple(floating), interfaces)

    def virtual_service(self, data, index):
        path = join("", "virtual_services", index)
        required = ("name", "address", "port", "real_servers")
        if not all(self.clean(join(path, key)) for key in required):
            return None
        address = self.parse(join(path, "address"), values.parse_address, data["address"])
        extra = ()
        if "extra_ports" in data and self.clean(join(path, "extra_ports")):
            extra = self.parse(join(path, "extra_ports"), values.parse_ports, data["extra_ports"]) or ()
        layer = data["layer"]
        forwarding = data.get("forwarding") or ("dr" if layer == 4 else "proxy")
        persistence = self.persistence(data.get("persistence", {}), join(path, "persistence"), address)
        health = self.health_check(data.get("health_check", {}), join(path, "health_check"))
        layer7 = None
        if "layer7" in data or layer == 7:
            layer7 = self.layer7(data.get("layer7"), join(path, "layer7"))
        fallback = None
        if "fallback_server" in data and self.clean(join(path, "fallback_server")):
            fb = data["fallback_server"]
            fb_addr = self.parse(join(path, "fallback_server", "address"), values.parse_address, fb["address"])
            if fb_addr is not None:
                fallback = FallbackServer(fb_addr, fb["port"])
        servers = []
        for i, item in enumerate(data["real_servers"]):
            p = join(path, "real_servers", i)
            if not self.clean(p):
                continue
            rip = self.parse(join(p, "address"), values.parse_address, item["address"])
            if rip is None:
                continue
            port = item.get("port", data["port"])
            name = item.get("name") or "%s:%d" % (rip, port)
            servers.append(RealServer(name, rip, port, item["weight"], item["min_connections"], item["max_connections"], item["state"], path=p))
        if address is None or persistence is None or health is None or (layer7 is None and layer == 7):
            return None
        if not all(self.clean(join(path, key)) for key in ("protocol", "layer", "forwarding", "scheduling")):
            return None
        return VirtualService(
            name=data["name"],
            address=address,
            port=data["port"],
            extra_ports=tuple(extra),
            protocol=data["protocol"],
            layer=layer,
            forwarding=forwarding,
            scheduling=data["scheduling"],
            persistence=persistence,
            health_check=health,
            layer7=layer7,
            fallback_server=fallback,
            real_servers=tuple(servers),
            path=path,
        )

    def persistence(self, data, path, address):
        if not self.clean(path):
            return None
        timeout = self.parse(join(path, "timeout"), values.parse_duration, data["timeout"])
        granularity = None
        if "granularity" in data and address is not None:
            granularity = self.parse(join(path, "granularity"), values.parse_granularity, data["granularity"], address.version)
        if timeout is None:
            return None
        return Persistence(data["mode"], timeout, granularity, data.get("cookie"), data.get("header"), data.get("query_item"))

    def health_check(self, data, path):
        if not self.clean(path):
            return None
        codes = self.parse(join(path, "expected_codes"), values.parse_status_codes, data["expected_codes"])
        interval = self.parse(join(path, "interval"), values.parse_duration, data["interval"])
        timeout = self.parse(join(path, "timeout"), values.parse_duration, data["timeout"])
        if codes is None or interval is None or timeout is None:
            return None
        return HealthCheck(
            data["type"], data.get("port"), data["url"], data.get("host"), codes, interval, timeout, data["retries"], data.get("command")
        )

    def layer7(self, data, path):
        if data is None:
            data = StructureChecker(SCHEMA).check({}, Collector(), path, {"$ref": "#/$defs/layer7"})
        if not self.clean(path):
            return None
        idle = self.parse(join(path, "idle_timeout"), values.parse_duration, data["idle_timeout"])
        tls = None
        if "tls" in data:
            tls = TLS(data["tls"]["certificate"], data["tls"]["key"], data["tls"]["reencrypt"])
        if idle is None:
            return None
        return Layer7(
            data["mode"],
            data["transparent"],
            data["x_forwarded_for"],
            data["subnet_originating"],
            idle,
            data["quality_of_service"],
            data["server_initiating"],
            tls,
        )


def _path_key(path):
    """Sort errors in the order of the spec: numeric parts as numbers."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in path.split("/")]


def check_spec(data):
    """Return ``(spec_or_None, errors)``: every problem in ``data``, structural and semantic."""
    # Imported here: rules and engines import the dataclasses above.
    from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec import engines, rules

    col = Collector()
    if not isinstance(data, dict):
        col.add("/", "the spec must be a mapping with 'cluster' and 'virtual_services', not %s." % type(data).__name__)
        return None, col.errors
    normalized = StructureChecker(SCHEMA).check(data, col)
    builder = _Builder(data, col)
    cluster = builder.cluster(normalized.get("cluster")) if "cluster" in normalized else None
    services = []
    for index, item in enumerate(normalized.get("virtual_services", []) if isinstance(normalized.get("virtual_services"), list) else []):
        if isinstance(item, dict):
            vs = builder.virtual_service(item, index)
            if vs is not None:
                services.append(vs)
    raw_services = data.get("virtual_services") if isinstance(data.get("virtual_services"), list) else []
    if cluster is not None:
        rules.check_cluster(cluster, col, data.get("cluster", {}))
    for vs in services:
        raw = raw_services[int(vs.path.rsplit("/", 1)[1])]
        rules.check_service(vs, cluster, col, raw)
        engines.check_service(vs, col)
    rules.check_services(services, cluster, col)
    col.errors.sort(key=lambda e: _path_key(e.path))
    if col.errors or cluster is None:
        return None, col.errors
    return Spec(cluster, tuple(services)), []


def load_spec(data):
    """The spec as a ``Spec``; raises ``SpecInvalid`` listing every error."""
    spec, errors = check_spec(data)
    if errors:
        raise SpecInvalid(errors)
    return spec
