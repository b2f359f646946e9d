# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The semantic rules of the spec, taken from the appliance manuals.

Each rule adds errors to a ``Collector`` with the JSON-pointer path of the offending field
and a fix. Rules never stop at the first problem.
"""

from __future__ import annotations

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import join
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.schema import PERSISTENCE
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.values import format_duration

PERSISTENCE_MIN = 60
PERSISTENCE_MAX = 28 * 86400
IDLE_TIMEOUT_MIN = 1
IDLE_TIMEOUT_MAX = 86400
# The longest interval between two questions to a load agent (adaptive scheduling).
ADAPTIVE_INTERVAL_MAX = 3600
SLOW_START_MAX = 3600

SOURCE_IP_MODES = frozenset(
    ["source_ip", "server_cookie_or_source_ip", "active_cookie_or_source_ip", "hash_all_cookies_or_source_ip", "super_http_and_source_ip",
     "rdp_cookie_or_source_ip"]
)
# Remote Desktop: read from the client's first packet (X.224 connection request), in tcp mode.
RDP_MODES = frozenset(["rdp_cookie", "rdp_cookie_or_source_ip", "rdp_session_broker"])
# Every mode but these reads HTTP (cookies, headers, the URL), so needs layer-7 http mode.
HTTP_MODES = frozenset(PERSISTENCE) - frozenset(["none", "source_ip", "ssl_session_id", "udp_sip"]) - RDP_MODES
# The active cookie modes insert a cookie of the appliance's; the server cookie modes read the application's.
ACTIVE_COOKIE_MODES = frozenset(["active_cookie", "active_cookie_or_source_ip"])
COOKIE_REQUIRED_MODES = frozenset(["server_cookie", "server_cookie_or_source_ip"])
COOKIE_NAME_MODES = COOKIE_REQUIRED_MODES | ACTIVE_COOKIE_MODES
HTTP_HEALTH_CHECKS = frozenset(["http", "https"])


def check_cluster(cluster, col):
    ha = cluster.ha
    count = len(cluster.nodes)
    if ha.mode == "single" and count != 1:
        col.add(
            "/cluster/nodes",
            "ha mode 'single' takes exactly one node, but %d are listed." % count,
            "set /cluster/ha/mode to 'pair' for two appliances, or list one node.",
        )
    if ha.mode == "pair":
        if count != 2:
            col.add(
                "/cluster/nodes",
                "an HA pair has exactly two nodes, but %d %s listed." % (count, "is" if count == 1 else "are"),
                "list two nodes, or set /cluster/ha/mode to 'single'.",
            )
        elif cluster.nodes[0].priority == cluster.nodes[1].priority:
            col.add(
                join(cluster.nodes[1].path, "priority"),
                "both nodes of the HA pair have priority %d; the priorities must differ." % cluster.nodes[1].priority,
                "give the preferred master the higher priority (for example 150 and 100).",
            )
        # a LoadMaster pair keeps a heartbeat of its own (the engine refuses keepalived's VRRP words)
        if ha.unicast and cluster.engine == "linux":
            for node in cluster.nodes:
                if node.heartbeat_address is None:
                    col.add(
                        join(node.path, "heartbeat_address"),
                        "is required for a unicast heartbeat in an HA pair.",
                        "give each node the address it sends VRRP adverts from, or set /cluster/ha/unicast to false.",
                    )
    seen = {}
    for node in cluster.nodes:
        if node.host in seen:
            col.add(join(node.path, "host"), "host '%s' is listed twice (also at %s)." % (node.host, seen[node.host]), "list each appliance once.")
        seen.setdefault(node.host, node.path)
    beats = [n for n in cluster.nodes if n.heartbeat_address is not None]
    if len(beats) == 2:
        a, b = beats
        if a.heartbeat_address == b.heartbeat_address:
            col.add(
                join(b.path, "heartbeat_address"), "both nodes use heartbeat address %s." % b.heartbeat_address, "give each node its own address."
            )
        elif a.heartbeat_address.version != b.heartbeat_address.version:
            col.add(join(b.path, "heartbeat_address"), "the heartbeat addresses mix IPv4 and IPv6.", "use addresses of one family for both nodes.")
    if cluster.engine == "linux":
        _check_vrrp(cluster, col)
    _check_floating_ips(cluster, col)


def _check_vrrp(cluster, col):
    ha = cluster.ha
    path = "/cluster/ha"
    if ha.vrrp_version == 3 and ha.advert_interval_ms % 10:
        col.add(
            join(path, "advert_interval_ms"),
            "VRRPv3 adverts are counted in centiseconds; %d ms is not a multiple of 10." % ha.advert_interval_ms,
            "use %d." % (round(ha.advert_interval_ms / 10.0) * 10 or 10),
        )
    if ha.vrrp_version == 2:
        if ha.advert_interval_ms % 1000:
            col.add(
                join(path, "advert_interval_ms"),
                "VRRPv2 adverts are whole seconds; %d ms is not." % ha.advert_interval_ms,
                "use a multiple of 1000, or vrrp_version 3 for sub-second adverts.",
            )
        if ha.advert_interval_ms > 255000:
            col.add(join(path, "advert_interval_ms"), "VRRPv2 adverts are at most 255 s.", "use 255000 or less.")
        ipv6 = [str(f.address.ip) for f in cluster.floating_ips if f.address.version == 6]
        ipv6 += [str(n.heartbeat_address) for n in cluster.nodes if n.heartbeat_address is not None and n.heartbeat_address.version == 6]
        if ipv6:
            col.add(join(path, "vrrp_version"), "VRRPv2 is IPv4 only, but the cluster uses IPv6 (%s)." % ", ".join(ipv6), "use vrrp_version 3.")
    if ha.auth_secret is not None:
        if ha.vrrp_version == 3:
            col.add(
                join(path, "auth_secret"),
                "VRRPv3 has no authentication (RFC 5798 removed it), so the secret cannot be used.",
                "remove auth_secret (protect the heartbeat network instead), or set vrrp_version 2 with whole-second adverts.",
            )
    if ha.mode == "single" and (ha.ping_nodes or ha.track_interfaces):
        field_name = "ping_nodes" if ha.ping_nodes else "track_interfaces"
        col.add(
            join(path, field_name),
            "only an HA pair can fail over; a single appliance has nobody to hand over to.",
            "remove %s, or set mode 'pair'." % field_name,
        )


def _check_floating_ips(cluster, col):
    seen = {}
    for fip in cluster.floating_ips:
        ip = fip.address.ip
        if ip in seen:
            col.add(join(fip.path, "address"), "%s is already a floating IP (at %s)." % (ip, seen[ip]), "list each address once.")
        seen.setdefault(ip, fip.path)
        if fip.side == "internal" and not cluster.interfaces.internal:
            col.add(
                join(fip.path, "side"),
                "the floating IP is on the internal side, but no internal interface is set.",
                "set /cluster/interfaces/internal to the interface facing the real servers.",
            )
        for node in cluster.nodes:
            if node.heartbeat_address == ip:
                col.add(
                    join(fip.path, "address"),
                    "%s is node %s's heartbeat address; a floating IP must be its own address." % (ip, node.host),
                    "choose an unused address.",
                )


def _family_mismatch(a, b):
    return a is not None and b is not None and a.version != b.version


def check_service(vs, cluster, col):
    path = vs.path
    if vs.layer == 4 and vs.forwarding == "proxy":
        col.add(
            join(path, "forwarding"),
            "'proxy' is the layer-7 forwarding method; a layer-4 service forwards with dr, nat or tun.",
            "use forwarding dr, nat or tun, or set layer 7.",
        )
    if vs.layer == 7 and vs.forwarding != "proxy":
        col.add(
            join(path, "forwarding"),
            "a layer-7 service is a proxy; '%s' is a layer-4 forwarding method." % vs.forwarding,
            "set layer 4 for %s forwarding, or remove forwarding (layer 7 proxies)." % vs.forwarding,
        )
    if vs.layer == 7 and vs.protocol == "udp":
        col.add(join(path, "protocol"), "layer 7 proxies TCP only; UDP services are layer 4.", "set layer 4, or protocol tcp.")
    if vs.layer == 4 and "layer7" in vs.given:
        col.add(join(path, "layer7"), "layer-7 options apply only to layer-7 services; this one is layer 4.", "remove layer7, or set layer 7.")
    _check_extra_ports(vs, col)
    if vs.sub_services:
        _check_sub_services(vs, col)
    # each group of real servers (the service's own, or each sub service's) with its own settings
    for group in vs.groups():
        _check_slow_start(group, col)
        _check_adaptive(group, col, vs.path)
        _check_real_servers(group, cluster, col)
        _check_persistence(group, col)
        _check_health(group, col)
        _check_fallback(group, col)
    if vs.layer7 is not None:
        _check_layer7(vs, cluster, col)
    if vs.use_for_server_nat:
        _check_server_nat(vs, cluster, col)
    if cluster is not None:
        for fip in cluster.floating_ips:
            if fip.address.ip == vs.address:
                col.add(
                    join(path, "address"),
                    "%s is also floating IP %s; a VIP is already floating." % (vs.address, fip.path),
                    "remove it from /cluster/floating_ips or choose another VIP.",
                )
        for node in cluster.nodes:
            if node.heartbeat_address == vs.address:
                col.add(
                    join(path, "address"),
                    "%s is node %s's heartbeat address, which belongs to one appliance, not the cluster." % (vs.address, node.host),
                    "choose an unused address for the VIP.",
                )


def _check_fallback(vs, col):
    if vs.fallback_server is None:
        return
    fb = vs.fallback_server
    if vs.layer == 4 and _family_mismatch(fb.address, vs.address):
        col.add(
            join(vs.path, "fallback_server", "address"),
            "the fallback server's address family differs from the VIP's.",
            "use an IPv%d address." % vs.address.version,
        )
    if vs.forwarding in ("dr", "tun") and fb.port != vs.port:
        col.add(
            join(vs.path, "fallback_server", "port"),
            "%s cannot translate ports: the fallback server's port %d must equal the service's port %d."
            % (vs.forwarding.upper(), fb.port, vs.port),
            "set the port to %d, or use NAT or layer 7." % vs.port,
        )


# What a service with sub services keeps in them, not in itself.
GROUP_FIELDS = ("real_servers", "scheduling", "persistence", "health_check", "slow_start", "fallback_server")


def _check_sub_services(vs, col):
    """Content switching: a layer-7 http service whose real servers are in its sub services, one of which at most takes the rest."""
    path = join(vs.path, "sub_services")
    if vs.layer != 7:
        col.add(path, "sub services are chosen by a proxy reading each request (layer 7); this service is layer 4.",
                "set layer 7, or list the real servers in the service itself.")
    elif vs.layer7.mode != "http":
        col.add(path, "sub services are chosen by the HTTP request's path, host or headers; this service proxies in tcp mode.",
                "set layer7.mode http, or list the real servers in the service itself.")
    for key in GROUP_FIELDS:
        if key in vs.given:
            col.add(join(vs.path, key), "with sub_services each sub service has its own %s; the service's own would not be used." % key.replace("_", " "),
                    "move it into the sub services (each that needs it).")
    if "adaptive" in vs.given and not any(sub.scheduling == "adaptive" for sub in vs.sub_services):
        col.add(join(vs.path, "adaptive"), "the load agent settings are for adaptive scheduling, and no sub service of this one schedules so.",
                "set scheduling: adaptive in a sub service, or remove adaptive.")
    servers = {}
    for sub in vs.sub_services:
        for rs in sub.real_servers:
            first = servers.setdefault(rs.name, rs)
            if first.key != rs.key:
                col.add(join(rs.path, "name"), "'%s' is also %s port %d at %s: runtime operations name a real server across the sub services."
                        % (rs.name, first.address, first.port, first.path), "give each real server (address and port) its own name.")
        for rule in sub.content_rules:
            if rule.subject == "path" and rule.match != "regex" and ("?" in rule.value or "#" in rule.value):
                col.add(join(rule.path, "path"), "the path a rule compares ends before the query string ('?'), and a fragment ('#') is never sent.",
                        "compare the path alone, or use match: regex.")
    names, default = {}, None
    for sub in vs.sub_services:
        if sub.name in names:
            col.add(join(sub.path, "name"), "name '%s' is already used at %s." % (sub.name, names[sub.name]), "give each sub service its own name.")
        names.setdefault(sub.name, sub.path)
        if sub.content_rules:
            continue
        if default is not None:
            col.add(sub.path, "has no content rules, so it takes the requests no rule matches, as sub service '%s' (%s) already does."
                    % (default.name, default.path), "give it content rules, or put its real servers in '%s'." % default.name)
        default = default or sub


def _check_extra_ports(vs, col):
    if not vs.extra_ports:
        return
    path = join(vs.path, "extra_ports")
    # The service's own port, overlapping ranges and repeats are accepted, as the manual's
    # example does; the parser already counted the distinct ports against the limit.
    if vs.layer7 is not None and vs.layer7.tls is not None and vs.layer7.tls.reencrypt:
        col.add(
            path,
            "extra ports cannot be combined with TLS re-encryption.",
            "remove extra_ports, or create one service per port, or turn off layer7.tls.reencrypt.",
        )


def _check_server_nat(vs, cluster, col):
    """The VIP as the real servers' outbound address: they route through the appliance, to the external side."""
    path = join(vs.path, "use_for_server_nat")
    if cluster is None:
        return
    if cluster.interfaces.external is None:
        col.add(path, "the real servers' outbound connections leave through the external interface, and the cluster names none.",
                "set /cluster/interfaces/external, or remove use_for_server_nat.")
    if vs.layer == 4 and vs.forwarding in ("dr", "tun"):
        col.add(path, "Direct Routing and tunnelling real servers answer clients themselves, not through the appliance;"
                " their other connections do not pass it either.", "use nat forwarding (or layer 7 with a gateway), or remove use_for_server_nat.")
        return
    for rs in _same_family(vs, col, "its outbound connections would leave from the VIP, an IPv%d address, and it is IPv%d.",
                           "give the service real servers of the VIP's address family, or remove use_for_server_nat."):
        _check_gateway(rs, cluster.gateways(), cluster, col, "use_for_server_nat")


def _same_family(vs, col, message, fix):
    """The real servers of ``vs`` in the VIP's address family; each other one refused at its address
    (``message`` takes the VIP's and the real server's IP versions)."""
    same = []
    for rs in vs.real_servers:
        if rs.address.version == vs.address.version:
            same.append(rs)
        else:
            col.add(join(rs.path, "address"), message % (vs.address.version, rs.address.version), fix)
    return same


def _check_slow_start(vs, col):
    if not vs.slow_start:
        return
    path = join(vs.path, "slow_start")
    hc = vs.health_check
    if not 0 <= vs.slow_start <= SLOW_START_MAX:
        col.add(path, "%s is outside 0 to 1h." % format_duration(vs.slow_start), "use 0 (off) to 3600 seconds (1h).")
    elif hc.type == "none":
        col.add(path, "slow start begins when a real server's health check passes again, and this service has no health check.",
                "give the service a health check, or remove slow_start.")
    elif hc.interval >= vs.slow_start:
        col.add(path, "%s is not longer than the health check's interval (%s): the weight grows at each check, so it would come back at once."
                % (format_duration(vs.slow_start), format_duration(hc.interval)),
                "make slow_start several times the health check's interval, or check more often.")


def _check_adaptive(vs, col, service_path=None):
    """``service_path``: where the adaptive block is (a sub service schedules with its service's)."""
    if vs.scheduling != "adaptive":
        if "adaptive" in vs.given and not vs.sub_services:
            col.add(join(vs.path, "adaptive"), "the load agent settings are for adaptive scheduling; this service schedules '%s'." % vs.scheduling,
                    "set scheduling: adaptive, or remove adaptive.")
        return
    interval = vs.adaptive.interval
    where = join(service_path or vs.path, "adaptive", "interval")
    if not 1 <= interval <= ADAPTIVE_INTERVAL_MAX and not col.has_errors_under(where):
        col.add(where, "%s is outside 1s to 1h." % format_duration(interval), "ask the agents every 1 to 3600 seconds (7s is a good start).")


def _check_real_servers(vs, cluster, col):
    keys = {}
    names = {}
    gateways = cluster.gateways() if cluster is not None else ()
    for rs in vs.real_servers:
        if rs.key in keys:
            col.add(
                rs.path,
                "real server %s port %d is listed twice (also at %s)." % (rs.address, rs.port, keys[rs.key]),
                "list each address and port once.",
            )
        elif rs.name in names:
            col.add(join(rs.path, "name"), "name '%s' is already used at %s." % (rs.name, names[rs.name]), "give each real server its own name.")
        keys.setdefault(rs.key, rs.path)
        names.setdefault(rs.name, rs.path)
        if vs.forwarding in ("dr", "tun") and rs.port != vs.port:
            col.add(
                join(rs.path, "port"),
                "%s cannot translate ports: the real server's port %d must equal the service's port %d."
                % ("Direct Routing" if vs.forwarding == "dr" else "Tunnelling", rs.port, vs.port),
                "set the port to %d, or use NAT or layer 7 to translate ports." % vs.port,
            )
        if vs.layer == 4 and _family_mismatch(rs.address, vs.address):
            col.add(
                join(rs.path, "address"),
                "a layer-4 service forwards packets unchanged, so the real server must be IPv%d like the VIP." % vs.address.version,
                "use an IPv%d address, or layer 7 to proxy between families." % vs.address.version,
            )
        if rs.min_connections and not rs.max_connections:
            col.add(
                join(rs.path, "min_connections"), "only applies together with max_connections.", "set max_connections, or remove min_connections."
            )
        elif rs.max_connections and rs.min_connections > rs.max_connections:
            col.add(
                join(rs.path, "min_connections"),
                "%d is above max_connections %d." % (rs.min_connections, rs.max_connections),
                "use a lower threshold below the upper one.",
            )
        if vs.forwarding == "nat" and cluster is not None:
            _check_gateway(rs, gateways, cluster, col, "NAT")
        if rs.address == vs.address:
            col.add(join(rs.path, "address"), "the real server's address is the VIP itself.", "use the real server's own address (RIP).")
    if vs.forwarding == "nat" and cluster is not None and not cluster.interfaces.internal:
        col.add(
            join(vs.path, "forwarding"),
            "NAT needs an internal side: replies must come back through the appliance.",
            "set /cluster/interfaces/internal to the interface facing the real servers.",
        )


def _check_gateway(rs, gateways, cluster, col, why):
    if cluster.gateways_for(rs.address):
        return
    if not gateways:
        col.add(
            join(rs.path, "address"),
            "%s needs the real servers to use the appliance as their default gateway, but the cluster has no gateway floating IP." % why,
            "add a floating IP with gateway: true on the internal side, in the real servers' subnet.",
        )
    else:
        nets = ", ".join(str(g.address.network) for g in gateways)
        col.add(
            join(rs.path, "address"),
            "%s is not in the subnet of any gateway floating IP (%s), so it cannot use the appliance as its gateway." % (rs.address, nets),
            "put the real server in a gateway's subnet, or add a gateway floating IP for its subnet.",
        )


def _check_persistence(vs, col):
    p = vs.persistence
    path = join(vs.path, "persistence")
    mode = p.mode
    if mode in HTTP_MODES:
        if vs.layer != 7 or (vs.layer7 is not None and vs.layer7.mode != "http"):
            col.add(
                join(path, "mode"),
                "persistence '%s' reads HTTP, so it needs a layer-7 service in http mode." % mode,
                "set layer 7 (layer7.mode http), or use source_ip persistence.",
            )
    elif mode == "ssl_session_id":
        if vs.layer != 7 or vs.layer7 is None or vs.layer7.mode != "tcp":
            col.add(
                join(path, "mode"),
                "ssl_session_id reads the TLS handshake, so it needs a layer-7 service in tcp mode.",
                "set layer 7 with layer7.mode tcp.",
            )
        elif vs.layer7.tls is not None:
            col.add(
                join(path, "mode"),
                "ssl_session_id cannot see the session ID when the appliance terminates TLS.",
                "remove layer7.tls, or use a cookie persistence mode in http mode.",
            )
    elif mode in RDP_MODES:
        if vs.layer != 7 or vs.layer7 is None or vs.layer7.mode != "tcp":
            col.add(
                join(path, "mode"),
                "%s reads the Remote Desktop client's connection request, so it needs a layer-7 service in tcp mode." % mode,
                "set layer 7 with layer7.mode tcp.",
            )
        elif vs.layer7.tls is not None:
            col.add(join(path, "mode"), "%s reads the connection request before Remote Desktop's own TLS starts: the appliance must not terminate TLS." % mode,
                    "remove layer7.tls.")
    elif mode == "udp_sip":
        if vs.layer != 4 or vs.protocol != "udp":
            col.add(join(path, "mode"), "udp_sip persistence (SIP Call-ID) needs a layer-4 UDP service.", "set layer 4 and protocol udp.")
    if mode != "none" and not PERSISTENCE_MIN <= p.timeout <= PERSISTENCE_MAX:
        col.add(
            join(path, "timeout"),
            "%s is outside the persistence timeout range of 1 minute to 28 days." % format_duration(p.timeout),
            "use a value from 1m (60) to 28d (2419200).",
        )
    if "timeout" in p.given and mode == "none":
        col.add(join(path, "timeout"), "is set, but persistence mode is 'none'.", "choose a persistence mode, or remove the timeout.")
    if p.cookie_with_port and mode not in ACTIVE_COOKIE_MODES:
        col.add(join(path, "cookie_with_port"), "names the cookie the appliance inserts, and '%s' inserts none." % mode,
                "use an active cookie mode, or remove cookie_with_port.")
    if p.refresh and mode == "none":
        col.add(join(path, "refresh"), "is set, but persistence mode is 'none'.", "choose a persistence mode, or remove refresh.")
    if "granularity" in p.given and mode not in SOURCE_IP_MODES:
        col.add(join(path, "granularity"), "applies to the source IP modes only, not '%s'." % mode, "remove granularity.")
    if mode in COOKIE_REQUIRED_MODES and not p.cookie:
        col.add(join(path, "cookie"), "persistence '%s' needs the name of the application's cookie." % mode, "set cookie, for example JSESSIONID.")
    if p.cookie and mode not in COOKIE_NAME_MODES:
        col.add(join(path, "cookie"), "is not used by persistence '%s'." % mode, "remove cookie.")
    if mode == "selected_header" and not p.header:
        col.add(join(path, "header"), "persistence 'selected_header' needs the header name.", "set header, for example X-Client-Id.")
    if p.header and mode != "selected_header":
        col.add(join(path, "header"), "is only used by persistence 'selected_header'.", "remove header.")
    if mode == "query_item" and not p.query_item:
        col.add(join(path, "query_item"), "persistence 'query_item' needs the query parameter name.", "set query_item, for example session.")
    if p.query_item and mode != "query_item":
        col.add(join(path, "query_item"), "is only used by persistence 'query_item'.", "remove query_item.")


def _check_health(vs, col):
    hc = vs.health_check
    path = join(vs.path, "health_check")
    if hc.type == "none":
        extras = [k for k in ("port", "url", "host", "expected_codes", "interval", "timeout", "retries", "command", "payload") if k in hc.given]
        if extras:
            col.add(join(path, extras[0]), "is set, but the health check type is 'none'.", "choose a check type, or remove %s." % ", ".join(extras))
        return
    if hc.timeout >= hc.interval:
        col.add(
            join(path, "timeout"),
            "%s is not shorter than the %s interval." % (format_duration(hc.timeout), format_duration(hc.interval)),
            "make the timeout shorter than the interval.",
        )
    if not 1 <= hc.interval <= 3600:
        col.add(join(path, "interval"), "%s is outside 1s to 1h." % format_duration(hc.interval), "use 1 to 3600 seconds.")
    if hc.timeout < 1:
        col.add(join(path, "timeout"), "must be at least 1 second.", "use 1 or more.")
    if hc.type not in HTTP_HEALTH_CHECKS:
        for key in ("url", "host", "expected_codes"):
            if key in hc.given:
                col.add(join(path, key), "applies to http and https checks, not '%s'." % hc.type, "remove %s, or use an http check." % key)
    if hc.type == "external" and not hc.command:
        col.add(join(path, "command"), "an external check needs the command to run.", "set command to an absolute path on the appliance.")
    if hc.command and hc.type != "external":
        col.add(join(path, "command"), "is only used by external checks.", "remove command, or set type external.")
    if hc.type == "icmp" and "port" in hc.given:
        col.add(join(path, "port"), "an icmp check pings the address; it has no port.", "remove port.")
    if hc.type == "udp" and vs.protocol != "udp":
        col.add(join(path, "type"), "a udp check sends a datagram; this service is %s." % vs.protocol.upper(),
                "use a tcp or http check, or set protocol udp (layer 4).")
    elif hc.type == "udp" and not hc.payload:
        col.add(join(path, "payload"), "a udp check needs the datagram to send (a UDP service answers requests, not connections).",
                "set payload to a request of the service's protocol, in hexadecimal.")
    if hc.payload and hc.type != "udp":
        col.add(join(path, "payload"), "is only sent by udp checks.", "remove payload, or set type udp.")


def _check_layer7(vs, cluster, col):
    l7 = vs.layer7
    path = join(vs.path, "layer7")
    if not IDLE_TIMEOUT_MIN <= l7.idle_timeout <= IDLE_TIMEOUT_MAX:
        col.add(join(path, "idle_timeout"), "%s is outside 1s to 1d." % format_duration(l7.idle_timeout), "use 1 to 86400 seconds (1d).")
    if l7.mode == "tcp" and l7.x_forwarded_for and "x_forwarded_for" in l7.given:
        col.add(join(path, "x_forwarded_for"), "a header can only be added in http mode.", "remove x_forwarded_for, or set mode http.")
    if l7.server_initiating != "none" and l7.mode != "tcp":
        col.add(
            join(path, "server_initiating"),
            "server-initiating protocols (%s) are not HTTP; they need tcp mode." % l7.server_initiating,
            "set layer7.mode tcp.",
        )
    if l7.server_initiating != "none" and vs.persistence.mode == "ssl_session_id":
        col.add(join(path, "server_initiating"), "with a server-initiating protocol the client sends no TLS hello first, so ssl_session_id cannot work.",
                "use source_ip persistence.")
    if l7.server_initiating != "none" and vs.persistence.mode in RDP_MODES:
        col.add(join(path, "server_initiating"), "Remote Desktop is not server-initiating: the client's connection request comes first, and %s reads it."
                % vs.persistence.mode, "set server_initiating none.")
    if l7.transparent and cluster is not None:
        for rs in vs.real_servers:
            _check_gateway(rs, cluster.gateways(), cluster, col, "transparency")
    if l7.source_addresses:
        _check_source_addresses(vs, col)
    if l7.transparent:
        _same_family(vs, col, "a transparent service connects from the client's own address, an IPv%d address, which cannot reach an IPv%d"
                     " real server.", "give the service real servers of the VIP's address family, or set transparent false.")
    elif not l7.subnet_originating and not l7.source_addresses:
        _same_family(vs, col, "without subnet_originating the connections come from the VIP, an IPv%d address, which cannot reach an IPv%d"
                     " real server.", "give the service real servers of the VIP's address family, or remove subnet_originating.")
    if l7.tls is not None and l7.tls.reencrypt and l7.mode != "http":
        col.add(join(path, "tls", "reencrypt"), "re-encryption is supported in http mode.", "set mode http, or turn off reencrypt.")
    if l7.starttls != "none" and (l7.mode != "tcp" or l7.tls is None):
        col.add(join(path, "starttls"), "STARTTLS is offloaded in tcp mode with a certificate (%s is not HTTP)." % l7.starttls,
                "set mode tcp with tls, or remove starttls.")
    if l7.http2 and (l7.mode != "http" or l7.tls is None):
        col.add(join(path, "http2"), "HTTP/2 is negotiated in the TLS handshake of an http-mode service (browsers speak it over TLS only).",
                "set mode http with tls, or remove http2.")
    if l7.tls is not None and l7.tls.redirect_http:
        if l7.mode != "http":
            col.add(join(path, "tls", "redirect_http"), "a redirect is an HTTP answer; this service is in tcp mode.", "set mode http, or remove redirect_http.")
        elif vs.redirect_port in vs.ports:
            col.add(join(path, "tls", "redirect_http"), "port %d, where plain HTTP is redirected, is one of this TLS service's own ports." % vs.redirect_port,
                    "serve TLS on other ports (443), or remove redirect_http.")


def _check_source_addresses(vs, col):
    """Alternate source addresses: not with transparency (the client's address is the source), one family, the real servers' too."""
    l7 = vs.layer7
    path = join(vs.path, "layer7", "source_addresses")
    if l7.transparent:
        col.add(path, "a transparent service connects from each client's own address, not from source addresses.",
                "remove source_addresses, or set transparent false.")
    if "subnet_originating" in l7.given:
        col.add(join(vs.path, "layer7", "subnet_originating"), "source_addresses decide where the connections come from; subnet_originating"
                " would too.", "remove subnet_originating (or source_addresses).")
    seen = {}
    family = l7.source_addresses[0].version
    for i, address in enumerate(l7.source_addresses):
        if address in seen:
            col.add(join(path, i), "%s is listed twice (also at %s)." % (address, seen[address]), "list each source address once.")
        elif address.version != family:
            col.add(join(path, i), "%s is IPv%d, and %s (the first) is IPv%d: one service's source addresses are of one family."
                    % (address, address.version, l7.source_addresses[0], family), "list addresses of one family.")
        seen.setdefault(address, join(path, i))
    for rs in vs.real_servers:
        if rs.address.version != family:
            col.add(join(rs.path, "address"), "the connections come from the source addresses, IPv%d, which cannot reach an IPv%d real server."
                    % (family, rs.address.version), "give the service real servers of the source addresses' family.")
    for group in vs.groups():
        names = dict((rs.name, rs) for rs in group.real_servers)
        for rs in group.real_servers:
            if 0 < rs.max_connections < len(l7.source_addresses):
                col.add(join(rs.path, "max_connections"), "%d is shared out over the real server's %d source addresses (a connection each at least)."
                        % (rs.max_connections, len(l7.source_addresses)), "allow %d or more, or list fewer source addresses." % len(l7.source_addresses))
            # HAProxy's names of its other lines (_render/haproxy.line_names; the renderers import the rules)
            for extra in range(2, len(l7.source_addresses) + 1):
                other = names.get("%s_src%d" % (rs.name, extra))
                if other is not None:
                    col.add(join(other.path, "name"), "is the name HAProxy gives %s's server for its source address %d."
                            % (rs.name, extra), "rename the real server.")


def _check_held_sources(services, cluster, col):
    """Each alternate source address is one the appliance holds: a VIP of the spec or a floating IP."""
    held = set(vs.address for vs in services) | set(f.address.ip for f in cluster.floating_ips)
    for vs in services:
        for i, address in enumerate(vs.layer7.source_addresses if vs.layer7 is not None else ()):
            if address not in held:
                col.add(join(vs.path, "layer7", "source_addresses", i), "%s is neither a VIP of the spec nor a floating IP, so no appliance"
                        " holds it to connect from." % address, "add it to /cluster/floating_ips (on the side facing the real servers),"
                        " or use a VIP.")


def check_services(services, cluster, col):
    names = {}
    taken = {}
    for vs in services:
        if vs.name in names:
            col.add(join(vs.path, "name"), "name '%s' is already used at %s." % (vs.name, names[vs.name]), "give each virtual service its own name.")
        names.setdefault(vs.name, vs.path)
    for vs in services:
        for sub, group in zip(vs.sub_services, vs.groups()):
            # HAProxy's backend of a sub service is named after it: 'vs_<service>:<sub service>'
            if group.name in names:
                col.add(join(sub.path, "name"), "sub service '%s' of '%s' would share HAProxy's proxy name 'vs_%s' with virtual service '%s' (%s)."
                        % (sub.name, vs.name, group.name, group.name, names[group.name]), "rename the sub service or that virtual service.")
    for vs in services:
        for port in vs.listen_ports:
            key = (vs.address, port, vs.protocol)
            if key in taken:
                other = taken[key]
                where = join(vs.path, "port") if port == vs.port else join(vs.path, "extra_ports")
                if port not in vs.ports:
                    where = join(vs.path, "layer7", "tls", "redirect_http")
                col.add(
                    where,
                    "%s port %d/%s is already served by virtual service '%s' (%s)." % (vs.address, port, vs.protocol, other.name, other.path),
                    "use another port or address; each address, port and protocol belongs to one service.",
                )
                break
        for port in vs.listen_ports:
            taken.setdefault((vs.address, port, vs.protocol), vs)
    if cluster is not None and cluster.ha.connection_sync:
        if cluster.ha.mode != "pair":
            col.add("/cluster/ha/connection_sync", "synchronises connections between the two nodes of a pair; this cluster is a single node.",
                    "remove connection_sync, or set /cluster/ha/mode to pair.")
        elif not any(vs.layer == 4 for vs in services):
            col.add("/cluster/ha/connection_sync", "synchronises IPVS (layer-4) connections, and this cluster has no layer-4 service; "
                    "a layer-7 connection ends with the HAProxy that holds it.", "remove connection_sync.")
    _check_outbound_nat(services, cluster, col)
    if cluster is not None:
        _check_held_sources(services, cluster, col)
    if cluster is not None and cluster.ha.mode == "pair" and cluster.ha.vrrp_version == 2:
        for vs in services:
            if vs.address.version == 6:
                col.add(
                    join(vs.path, "address"),
                    "%s is an IPv6 VIP, but VRRPv2 carries IPv4 addresses only, so the pair could not move it." % vs.address,
                    "set /cluster/ha/vrrp_version to 3, or use an IPv4 VIP.",
                )


def _check_outbound_nat(services, cluster, col):
    """Autonat needs something to translate; a real server leaves from one VIP only."""
    if cluster is not None and cluster.autonat:
        if cluster.interfaces.external is None:
            col.add("/cluster/autonat", "masquerades on the external interface, and the cluster names none.",
                    "set /cluster/interfaces/external, or remove autonat.")
        if not cluster.gateways():
            col.add("/cluster/autonat", "no real server routes through the appliance: the cluster has no gateway floating IP.",
                    "add a floating IP with gateway: true on the internal side (the real servers' default gateway), or remove autonat.")
    claimed = {}
    for vs in services:
        if not vs.use_for_server_nat:
            continue
        for rs in vs.real_servers:
            other = claimed.setdefault(rs.address, vs)
            if other.address != vs.address:
                col.add(join(rs.path, "address"), "%s already leaves from %s (use_for_server_nat of virtual service '%s'); a real server"
                        " has one outbound address." % (rs.address, other.address, other.name),
                        "set use_for_server_nat on the services of one VIP only for this real server.")


def check_monitoring(monitoring, cluster, col):
    """Each node needs an address for its monitoring endpoint."""
    for node in cluster.nodes:
        if node.monitoring_address is None:
            col.add(
                join(node.path, "management_address"),
                "is required with monitoring: node '%s' has no address for its metrics endpoint (and no heartbeat address to use)." % node.host,
                "give the node its address on the management network, where Prometheus reaches it.",
            )
