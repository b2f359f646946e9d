# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render haproxy.cfg (HAProxy 2.6+) for the layer-7 services of a spec. Pure.

Every persistence mode is a stick table (or HAProxy's cookie insertion for the active cookie
modes), so each one honours the spec's timeout; the "or source IP" modes add a second table
keyed on the client address, consulted when the first has no entry. docs/engine-mapping.md
lists every mapping.

``render`` returns the file with what the backend needs to know about it: the addresses and
ports it listens on, the TLS files it reads, and its fingerprint (an empty backend named after
the file's digest, which ``show stat`` lists once HAProxy runs the file). Every value from the
spec goes through ``words`` (escaped, or refused).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import load_agent
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render.words import haproxy_sample_arg, haproxy_word
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec import values
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import join
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.rules import ACTIVE_COOKIE_MODES, RDP_MODES

HEADER = "# Managed by lbkit.loadbalancer (cluster %s). Changes made here are overwritten.\n"

RUNTIME_SOCKET = "/run/haproxy/admin.sock"
# Where the servers' runtime states wait for the next HAProxy process (saved by lbkit's
# haproxy-server-state program before each reload and stop).
SERVER_STATE_FILE = "/var/lib/haproxy/server-state"
TLS_DIR = "/etc/lbkit/tls"
DEFAULT_COOKIE = "LBKIT"

BALANCE = {
    "round_robin": "roundrobin",
    "weighted_round_robin": "roundrobin",
    "least_connection": "leastconn",
    "weighted_least_connection": "leastconn",
    "source_ip_hash": "source",
    "fixed_weighting": "first",
    "url_hash": "uri",
    # adaptive: the agents' answers move the weights round robin follows
    "adaptive": "roundrobin",
}
# Scheduling methods that ignore the spec's weights (every server gets weight 1).
UNWEIGHTED = frozenset(["round_robin", "least_connection"])

TOS = {
    "minimize_delay": "0x10",
    "maximize_throughput": "0x08",
    "maximize_reliability": "0x04",
    "minimize_cost": "0x02",
}

# Persistence modes kept in a string-keyed stick table: mode -> the sample fetch that is the key.
STRING_KEYS = {
    "server_cookie": "req.cook({cookie})",
    "server_cookie_or_source_ip": "req.cook({cookie})",
    "hash_all_cookies": "req.hdr(cookie)",
    "hash_all_cookies_or_source_ip": "req.hdr(cookie)",
    "super_http": "req.hdr(user-agent)",
    "super_http_and_source_ip": "var(txn.lbkit_persist)",
    "url_hash": "path",
    "host_header": "req.hdr(host),lower",
    "query_item": "urlp({query_item})",
    "selected_header": "req.hdr({header})",
}
OR_SOURCE_IP = frozenset(["server_cookie_or_source_ip", "active_cookie_or_source_ip", "hash_all_cookies_or_source_ip", "rdp_cookie_or_source_ip"])


PROXY_PREFIX = "vs_"
MARKER_PREFIX = "lbkit_config_"
# A transparent service's second backend, for the clients on its real servers' own subnets, and
# the client-address table of an "or source IP" persistence mode: prefixes no service's proxy has.
LOCAL_PREFIX = "lbkit_local_"
SOURCE_TABLE_PREFIX = "lbkit_src_"


@dataclass(frozen=True)
class HaproxyCfg:
    """haproxy.cfg and what the backend needs about it: ``binds`` ((address, port) it listens on),
    ``tls`` ({service name: PEM path} it reads) and ``fingerprint`` (the marker backend's name)."""

    content: str
    binds: tuple
    tls: dict
    fingerprint: str
    # The content as shown (the status page's password masked).
    masked: str = ""


def proxy_name(name):
    """The HAProxy proxy (``listen`` section) of the virtual service named ``name``."""
    return PROXY_PREFIX + name


def service_of_proxy(proxy):
    """The virtual service name a proxy of lbkit's serves, or None for any other proxy."""
    if not proxy.startswith(PROXY_PREFIX):
        return None
    return proxy[len(PROXY_PREFIX):]


def local_proxy_name(name):
    """The backend that proxies the local clients of transparent service ``name`` non-transparently."""
    return LOCAL_PREFIX + name


def server_proxies(vs):
    """The proxies holding the servers of ``vs`` whose runtime states lbkit sets: a transparent
    service's local backend too when its servers cannot track the main one's (no health check)."""
    out = [proxy_name(vs.name)]
    if _transparent(vs) and vs.health_check.type == "none":
        out.append(local_proxy_name(vs.name))
    return out


def _transparent(vs):
    return vs.layer == 7 and vs.layer7.transparent


def local_networks(vs, cluster):
    """The subnets whose clients a transparent service proxies non-transparently: those of the
    gateway floating IPs its real servers sit in. A real server there would answer such a client
    directly (the client is on its own subnet), bypassing the appliance; the same holds for the
    connections a real server itself opens to the VIP."""
    out = []
    for gateway in cluster.gateways():
        if any(gateway.holds(rs.address) for rs in vs.real_servers) and gateway.address.network not in out:
            out.append(gateway.address.network)
    return out


def source_table_name(vs):
    return SOURCE_TABLE_PREFIX + vs.name


def tls_pem_path(vs, tls_dir=TLS_DIR):
    return "%s/%s.pem" % (tls_dir, vs.name)


def _addr_port(address, port):
    return "[%s]:%s" % (address, port) if address.version == 6 else "%s:%s" % (address, port)


def binds(vs):
    """(address, port) of every port the service listens on (its HTTP redirect's included)."""
    return [(str(vs.address), port) for port in vs.listen_ports]


def _bind(vs, tls_dir):
    parts = [_addr_port(vs.address, vs.port)]
    for ports in values.port_ranges(p for p in vs.extra_ports if p != vs.port):
        parts.append(_addr_port(vs.address, ports))
    line = "    bind " + ",".join(parts)
    if vs.layer7.tls is not None:
        line += " ssl crt " + haproxy_word(tls_pem_path(vs, tls_dir), join(vs.path, "layer7", "tls"))
        if vs.layer7.http2:
            line += " alpn h2,http/1.1"
    if vs.redirect_port is not None:
        line += "\n    bind " + _addr_port(vs.address, vs.redirect_port)
    return line


def _status_expect(codes):
    if codes == ((200, 200),):
        return "http-check expect status 200"
    alternatives = []
    for low, high in codes:
        alternatives.extend(str(c) for c in range(low, high + 1))
    return "http-check expect rstatus ^(%s)$" % "|".join(_compress(alternatives))


def _compress(codes):
    """Status codes as few regex alternatives: whole hundreds become '2[0-9][0-9]'."""
    codes = set(codes)
    out = []
    for hundred in range(1, 6):
        block = set(str(hundred * 100 + i) for i in range(100))
        if block <= codes:
            out.append("%d[0-9][0-9]" % hundred)
            codes -= block
    out.extend(sorted(codes))
    return out


def _health(vs, lines):
    hc = vs.health_check
    if hc.type in ("http", "https"):
        lines.append("    option httpchk")
        send = "    http-check send meth GET uri %s ver HTTP/1.1" % haproxy_word(hc.url, join(vs.path, "health_check", "url"))
        send += " hdr Host %s" % (haproxy_word(hc.host, join(vs.path, "health_check", "host")) if hc.host else vs.address)
        lines.append(send)
        lines.append("    " + _status_expect(hc.expected_codes))
    elif hc.type == "external":
        lines.append("    option external-check")
        lines.append("    external-check command %s" % haproxy_word(hc.command, join(vs.path, "health_check", "command")))
    if hc.type != "none":
        lines.append("    timeout check %ds" % hc.timeout)


def _server_check(vs):
    hc = vs.health_check
    if hc.type == "none":
        return ""
    out = " check inter %ds fall %d rise %d" % (hc.interval, hc.retries, hc.retries)
    if hc.port is not None:
        out += " port %d" % hc.port
    if hc.type == "https":
        out += " check-ssl verify none"
    return out


def _persistence(vs, lines):
    p = vs.persistence
    mode = p.mode
    if mode == "none":
        return
    family = "ipv6" if vs.address.version == 6 else "ip"
    src = "src" if p.granularity is None else _masked_src(vs, p.granularity)
    expire = " expire %ds" % p.timeout
    if mode == "source_ip":
        lines.append("    stick-table type %s size 1m%s" % (family, expire))
        lines.append("    stick on %s" % src)
        return
    if mode in RDP_MODES:
        # The Remote Desktop client's first packet (an X.224 connection request) carries the user
        # name (mstshash) and, back from the Connection Broker, the routing token (msts).
        lines.append("    tcp-request inspect-delay 5s")
        lines.append("    tcp-request content accept if RDP_COOKIE")
        if mode == "rdp_session_broker":
            lines.append("    persist rdp-cookie")
        lines.append("    stick-table type string len 128 size 1m%s" % expire)
        lines.append("    stick on req.rdp_cookie(mstshash)")
    elif mode in ACTIVE_COOKIE_MODES:
        cookie = haproxy_word(p.cookie, join(vs.path, "persistence", "cookie")) if p.cookie else DEFAULT_COOKIE
        if p.cookie_with_port:
            cookie += "_%d" % vs.port
        lines.append("    cookie %s insert indirect nocache maxidle %ds" % (cookie, p.timeout))
    elif mode == "ssl_session_id":
        # The session ID sits at a fixed offset of the TLS hello: learn it from the server's
        # hello, match it in the client's (the approach HAProxy's documentation gives).
        lines.append("    tcp-request inspect-delay 5s")
        lines.append("    tcp-request content accept if { req.ssl_hello_type 1 }")
        lines.append("    stick-table type binary len 32 size 1m%s" % expire)
        lines.append("    acl lbkit_clienthello req.ssl_hello_type 1")
        lines.append("    acl lbkit_serverhello res.ssl_hello_type 2")
        lines.append("    stick on req.payload_lv(43,1) if lbkit_clienthello")
        lines.append("    tcp-response inspect-delay 5s")
        lines.append("    tcp-response content accept if lbkit_serverhello")
        lines.append("    stick store-response res.payload_lv(43,1) if lbkit_serverhello")
        return
    else:
        args = dict(cookie=p.cookie, header=p.header, query_item=p.query_item)
        for name, value in args.items():
            if value is not None:
                args[name] = haproxy_sample_arg(value, join(vs.path, "persistence", name))
        key = STRING_KEYS[mode].format(**args)
        if mode == "super_http_and_source_ip":
            lines.append("    http-request set-var(txn.lbkit_src) src")
            lines.append("    http-request set-var(txn.lbkit_persist) req.hdr(user-agent),concat(|,txn.lbkit_src)")
        lines.append("    stick-table type string len 128 size 1m%s" % expire)
        lines.append("    stick on %s" % key)
        if mode in ("server_cookie", "server_cookie_or_source_ip"):
            lines.append("    stick store-response res.cook(%s)" % args["cookie"])
    if mode in OR_SOURCE_IP:
        lines.append("    stick on %s table %s" % (src, source_table_name(vs)))


def _masked_src(vs, prefix):
    if vs.address.version == 6:
        return "src,ipmask(32,%d)" % prefix
    return "src,ipmask(%d)" % prefix


def line_names(name, count):
    """The names of a real server's ``count`` server lines: its own, then '<name>_src<n>'."""
    return [name] + ["%s_src%d" % (name, n) for n in range(2, count + 1)]


def server_names(vs, rs):
    """HAProxy's servers of real server ``rs``: one per source address (layer7.source_addresses), the
    first with the real server's own name, the others '<name>_src<n>' following its health check."""
    return line_names(rs.name, len(vs.layer7.source_addresses))


def _server(vs, rs, weight, track=None, index=0):
    """One server line; ``track``: the proxy whose same-named server it follows (a local backend's);
    ``index``: which of the service's source addresses it connects from (the later ones follow the first's check)."""
    name = haproxy_word(rs.name, join(rs.path, "name"))
    own = haproxy_word(server_names(vs, rs)[index], join(rs.path, "name"))
    lines = max(1, len(vs.layer7.source_addresses))
    line = "    server %s %s" % (own, _addr_port(rs.address, rs.port))
    line += " weight %d" % (0 if rs.state == "drained" else weight)
    # the real server's limits, shared out over its lines (the rules keep max_connections at one per line at least)
    if rs.max_connections:
        line += " maxconn %d" % _share(rs.max_connections, lines, index)
    if rs.min_connections and _share(rs.min_connections, lines, index):
        line += " minconn %d" % _share(rs.min_connections, lines, index)
    if vs.persistence.mode in ACTIVE_COOKIE_MODES:
        # each line its own: a client sticks to its real server and to the source address it came through
        line += " cookie %s" % own
    if vs.layer7.tls is not None and vs.layer7.tls.reencrypt:
        line += " ssl verify none"
    if index:
        line += _track(haproxy_word(proxy_name(vs.name), join(vs.path, "name")) if vs.health_check.type != "none" else "", name)
    else:
        line += _server_check(vs) if track is None else _track(track, name)
    line += _source(vs, rs.address, track, index)
    line += _agent(vs)
    if vs.slow_start:
        line += " slowstart %ds" % vs.slow_start
    if rs.state == "halted":
        line += " disabled"
    return line


def _share(total, lines, index):
    """Line ``index``'s share of a limit spread over ``lines`` lines: together exactly ``total``."""
    return total // lines + (1 if index < total % lines else 0)


def _agent(vs):
    """Adaptive scheduling: HAProxy asks the real server's load agent (agent-check) for the share of
    its weight to use; the agent's greeting carries the load under which the weight stays whole."""
    if vs.scheduling != "adaptive":
        return ""
    a = vs.adaptive
    return ' agent-check agent-port %d agent-inter %ds agent-send "%s min_load=%d\\n"' % (a.port, a.interval, load_agent.GREETING, a.min_load)


def _track(proxy, name):
    # A server without checks cannot be tracked: then nothing is checked in either backend.
    return " track %s/%s" % (proxy, name) if proxy else ""


def _source(vs, address, track, index=0):
    """Where a server's connections come from. Transparency (the first backend of a transparent
    service): the client's own address (TPROXY; the appliance's policy routing hands the real
    server's replies back to HAProxy). Alternate source addresses: the line's own. Otherwise the
    kernel's choice, the appliance's address on the real server's subnet, unless subnet_originating
    is off: the VIP."""
    if track is None and vs.layer7.transparent:
        return " source %s usesrc clientip" % ("::" if address.version == 6 else "0.0.0.0")
    if vs.layer7.source_addresses:
        return " source %s" % vs.layer7.source_addresses[index]
    if not vs.layer7.subnet_originating:
        return " source %s" % vs.address
    return ""


def _servers(vs, lines, track=None):
    servers = list(vs.real_servers)
    primary = None
    if vs.scheduling == "fixed_weighting" and servers:
        # Fixed weighting: the highest weight takes everything; the next highest takes over
        # when it fails. HAProxy 'first' fills servers in the order they are listed.
        servers.sort(key=lambda rs: (-rs.weight, rs.key))
        primary = servers[0]
    for rs in servers:
        weight = 1 if vs.scheduling in UNWEIGHTED else rs.weight
        for index in range(len(server_names(vs, rs))):
            lines.append(_server(vs, rs, weight, track=track, index=index))
    if vs.fallback_server is not None:
        fb = vs.fallback_server
        check = _server_check(vs) if track is None else _track(track, "fallback")
        check += _source(vs, fb.address, track)
        lines.append("    server fallback %s%s backup" % (_addr_port(fb.address, fb.port), check))
    return primary


def render_service(vs, tls_dir=TLS_DIR, cluster=None):
    """The listen section (and helper table) of one layer-7 virtual service; a frontend and its
    backends for a service with sub services or a transparent one (``cluster``: its gateway
    floating IPs tell a transparent service's local clients)."""
    if vs.layer7.transparent or vs.sub_services:
        return _render_frontend(vs, tls_dir, cluster)
    l7 = vs.layer7
    lines = ["listen %s" % haproxy_word(proxy_name(vs.name), join(vs.path, "name")), _bind(vs, tls_dir), "    mode %s" % l7.mode]
    lines.append("    option %s" % _log_option(l7))
    lines.append("    balance %s" % BALANCE[vs.scheduling])
    lines.append("    timeout client %ds" % l7.idle_timeout)
    lines.append("    timeout server %ds" % l7.idle_timeout)
    _front_rules(vs, lines)
    _persistence(vs, lines)
    _health(vs, lines)
    _forwarded_proto(vs, lines)
    _servers(vs, lines)
    return "\n".join(lines) + "\n" + _source_table(vs)


def _log_option(l7):
    return "httplog" if l7.mode == "http" else "tcplog"


def _front_rules(vs, lines):
    l7 = vs.layer7
    if vs.redirect_port is not None:
        # plain HTTP (the redirect's port) gets the same URL over HTTPS, before any other rule
        lines.append("    http-request redirect scheme https code 301 unless { ssl_fc }")
    if l7.mode == "http" and l7.x_forwarded_for:
        lines.append("    option forwardfor")
    if l7.quality_of_service in TOS:
        if l7.mode == "http":
            lines.append("    http-response set-tos %s" % TOS[l7.quality_of_service])
        else:
            lines.append("    tcp-request content set-tos %s" % TOS[l7.quality_of_service])


def _forwarded_proto(vs, lines):
    if vs.layer7.tls is not None and vs.layer7.mode == "http":
        lines.append("    http-request set-header X-Forwarded-Proto https")


def _source_table(vs):
    if vs.persistence.mode not in OR_SOURCE_IP:
        return ""
    family = "ipv6" if vs.address.version == 6 else "ip"
    return "\nbackend %s\n    stick-table type %s size 1m expire %ds\n" % (source_table_name(vs), family, vs.persistence.timeout)


# How a content rule compares: HAProxy's match methods.
MATCH = {"exact": "str", "prefix": "beg", "suffix": "end", "regex": "reg"}


def _content_acl(name, rule):
    """The ACL line of one content rule."""
    if rule.subject == "host":
        criterion, method, value, flags = "req.hdr(host)", "reg", rule.host_regex, " -i"
    else:
        # a header's whole value (req.hdr would split it at its commas)
        criterion = "path" if rule.subject == "path" else "req.fhdr(%s)" % haproxy_sample_arg(rule.header, join(rule.path, "header"))
        method, value, flags = MATCH[rule.match], rule.value, " -i" if rule.ignore_case else ""
    word = haproxy_word(value, join(rule.path, "value" if rule.subject == "header" else rule.subject))
    # a value that begins like a flag follows the end of the flags
    return "    acl %s %s%s -m %s %s%s" % (name, criterion, flags, method, "-- " if word.startswith("-") else "", word)


def _content_conditions(vs, lines):
    """The ACLs of the content rules of ``vs``'s sub services, and each group's condition: its rules'
    ACLs joined by 'or' (None: the group takes what no rule matches)."""
    out = []
    for i, sub in enumerate(vs.sub_services):
        names = []
        for j, rule in enumerate(sub.content_rules):
            name = "lbkit_rule_%d_%d" % (i, j)
            lines.append(_content_acl(name, rule))
            names.append(("!" if rule.negate else "") + name)
        out.append(names or None)
    return out or [None]


def _render_frontend(vs, tls_dir, cluster):
    """A frontend and its backends: one per group of real servers (the service's, or each sub
    service's, chosen by its content rules; the first whose rules match takes the request).

    A transparent service's groups each have a second backend that connects from the appliance's
    address, for the clients of the real servers' own subnets (their replies would bypass the
    appliance otherwise); every other client goes to the backend that connects from the client's
    own address. The second backend's servers follow the first's (health, drains and halts:
    HAProxy's server tracking) and share its persistence tables."""
    l7 = vs.layer7
    proxy = haproxy_word(proxy_name(vs.name), join(vs.path, "name"))
    networks = local_networks(vs, cluster) if cluster is not None and l7.transparent else []
    local_source = "{ src %s }" % " ".join(str(n) for n in networks)
    front = ["frontend %s" % proxy, _bind(vs, tls_dir), "    mode %s" % l7.mode, "    option %s" % _log_option(l7), "    timeout client %ds" % l7.idle_timeout]
    _front_rules(vs, front)
    _forwarded_proto(vs, front)
    groups = vs.groups()
    conditions = _content_conditions(vs, front)
    default = None
    for group, condition in zip(groups, conditions):
        name = haproxy_word(proxy_name(group.name), join(group.path, "name"))
        if condition is None:
            default = group
            continue
        if networks:
            local = haproxy_word(local_proxy_name(group.name), join(group.path, "name"))
            front.append("    use_backend %s if %s" % (local, " || ".join("%s %s" % (local_source, acl) for acl in condition)))
        front.append("    use_backend %s if %s" % (name, " || ".join(condition)))
    if default is not None:
        if networks:
            front.append("    use_backend %s if %s" % (haproxy_word(local_proxy_name(default.name), join(default.path, "name")), local_source))
        front.append("    default_backend %s" % haproxy_word(proxy_name(default.name), join(default.path, "name")))
    out = "\n".join(front) + "\n"
    for group in groups:
        out += _backends(group, networks)
    return out


def _backends(vs, networks):
    """The backend of one group of real servers (and a transparent service's second one for its local clients)."""
    l7 = vs.layer7
    proxy = haproxy_word(proxy_name(vs.name), join(vs.path, "name"))
    local = haproxy_word(local_proxy_name(vs.name), join(vs.path, "name"))
    backends = [(proxy, None)] + ([(local, proxy if vs.health_check.type != "none" else "")] if networks else [])
    persistence = []
    _persistence(vs, persistence)
    out = ""
    for name, track in backends:
        lines = ["backend %s" % name, "    mode %s" % l7.mode, "    balance %s" % BALANCE[vs.scheduling], "    timeout server %ds" % l7.idle_timeout]
        if track is None:
            lines.extend(persistence)
            _health(vs, lines)
        else:
            lines.extend(_shared_tables(persistence, proxy))
        _servers(vs, lines, track=track)
        out += "\n" + "\n".join(lines) + "\n"
    return out + _source_table(vs)


def _shared_tables(lines, proxy):
    """Persistence lines for a second backend that keeps its entries in ``proxy``'s tables."""
    out = []
    for line in lines:
        words = line.split()
        if words[0] == "stick-table":
            continue
        if words[0] == "stick" and "table" not in words:
            rule, dummy, condition = line.partition(" if ")
            line = "%s table %s" % (rule, proxy) + (" if " + condition if condition else "")
        out.append(line)
    return out


MONITORING_PROXY = "lbkit_monitoring"
NODE_EXPORTER_PROXY = "lbkit_node_exporter"
MASK = "********"


def monitoring_bind(spec, host):
    """(address, port) of ``host``'s monitoring endpoint, or None without monitoring."""
    node = spec.cluster.node(host) if host is not None else None
    if spec.monitoring is None or node is None or node.monitoring_address is None:
        return None
    return (node.monitoring_address, spec.monitoring.port)


def render_monitoring(spec, host, node_exporter, secret=True):
    """The monitoring endpoint (docs/monitoring.md): HAProxy's exporter at /metrics, the node
    exporter (``node_exporter``: its loopback address and port) at /node/metrics, the status page
    at /stats when the spec asks; 403 for any source not allowed, 404 for any other path."""
    monitoring = spec.monitoring
    address, port = monitoring_bind(spec, host)
    sources = " ".join(str(s) for s in monitoring.allowed_sources)
    paths = "/metrics /node/metrics" + (" /stats" if monitoring.status_page else "")
    lines = [
        "frontend %s" % MONITORING_PROXY,
        "    bind %s" % _addr_port(address, port),
        "    mode http",
        "    no log",
        "    timeout client 30s",
        "    acl lbkit_allowed src %s" % sources,
        "    acl lbkit_known path %s" % paths,
        "    http-request deny deny_status 403 unless lbkit_allowed",
        "    http-request return status 404 unless lbkit_known",
        "    http-request use-service prometheus-exporter if { path /metrics }",
    ]
    page = monitoring.status_page
    if page is not None:
        password = haproxy_word(page.password, "/monitoring/status_page/password") if secret else MASK
        lines.append("    stats uri /stats")
        lines.append("    stats realm lbkit")
        lines.append("    stats auth %s:%s" % (haproxy_word(page.user, "/monitoring/status_page/user"), password))
        lines.append("    stats refresh 10s")
    lines.append("    default_backend %s" % NODE_EXPORTER_PROXY)
    lines.append("")
    lines.append("backend %s" % NODE_EXPORTER_PROXY)
    lines.append("    mode http")
    lines.append("    timeout server 30s")
    lines.append("    http-request set-path /metrics")
    lines.append("    server node_exporter %s:%d" % node_exporter)
    return "\n".join(lines) + "\n"


def render(spec, tls_dir=TLS_DIR, tls_digests=None, host=None, node_exporter=None):
    """haproxy.cfg for every layer-7 service of ``spec`` and ``host``'s monitoring endpoint (None
    when there is neither).

    ``tls_digests`` ({service name: digest} of the PEM files) enter the fingerprint, so a new
    certificate makes a new file and the reload that loads it is proven like any other.
    """
    services = [vs for vs in spec.virtual_services if vs.layer == 7]
    monitoring = monitoring_bind(spec, host)
    if not services and monitoring is None:
        return None
    external = any(group.health_check.type == "external" for vs in services for group in vs.groups())
    out = [HEADER % haproxy_word(spec.cluster.name, "/cluster/name")]
    out.append("global")
    out.append("    log /dev/log local0")
    out.append("    stats socket %s mode 600 level admin expose-fd listeners" % RUNTIME_SOCKET)
    out.append("    stats timeout 30s")
    out.append("    server-state-file %s" % SERVER_STATE_FILE)
    if not any(vs.layer7.transparent for vs in services):
        # Transparency (usesrc) needs HAProxy's full privileges (HAProxy 2.6 refuses to drop them).
        out.append("    user haproxy")
        out.append("    group haproxy")
    if external:
        # External checks fork a program: HAProxy refuses unless told, and it must be able to
        # find the program, so no chroot.
        out.append("    external-check")
        out.append("    insecure-fork-wanted")
    else:
        out.append("    chroot /var/lib/haproxy")
    out.append("")
    out.append("defaults")
    out.append("    log global")
    out.append("    option dontlognull")
    out.append("    timeout connect 5s")
    out.append("    timeout client 660s")
    out.append("    timeout server 660s")
    # A server drained or halted at runtime stays so across reloads and restarts.
    out.append("    load-server-state-from-file global")
    out.append("")
    text = "\n".join(out) + "\n"
    sections = [render_service(vs, tls_dir, spec.cluster) for vs in services]
    shown = list(sections)
    if monitoring is not None:
        sections.append(render_monitoring(spec, host, node_exporter))
        shown.append(render_monitoring(spec, host, node_exporter, secret=False))
    body = text + "\n".join(sections)
    digests = "".join("%s=%s\n" % item for item in sorted((tls_digests or {}).items()))
    # An empty backend named after the file's digest: HAProxy lists it in 'show stat', which
    # tells lbkit whether the running process loaded this very file after a reload.
    fingerprint = MARKER_PREFIX + _digest(body + digests)
    trailer = "\n# Fingerprint of this file: lbkit checks after a reload that HAProxy runs it.\nbackend %s\n" % fingerprint
    return HaproxyCfg(
        content=body + trailer,
        masked=text + "\n".join(shown) + trailer,
        binds=tuple(b for vs in services for b in binds(vs)) + (((str(monitoring[0]), monitoring[1]),) if monitoring else ()),
        tls=dict((vs.name, tls_pem_path(vs, tls_dir)) for vs in services if vs.layer7.tls is not None),
        fingerprint=fingerprint,
    )


def _digest(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
