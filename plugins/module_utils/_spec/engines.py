# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each engine can implement; validation knows each cluster's engine (``cluster.engine``).

On a Linux appliance layer-4 services run on keepalived + kernel IPVS and layer-7 services on
HAProxy; a Kemp LoadMaster serves both through its own engine, converged over its API. A
feature an engine cannot implement is a validation error naming the engine, the feature and an
alternative: it is never silently dropped. docs/engine-mapping.md shows how every supported
feature is implemented, one column per engine.
"""

from __future__ import annotations

import re

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import load_agent
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import join

IPVS = "keepalived/IPVS (layer 4)"
HAPROXY = "HAProxy (layer 7)"
LOADMASTER = "Kemp LoadMaster"

# (engine, field, value) -> alternative. Only the gaps are listed: everything else in the
# schema's enums is implemented by the engine that serves the service.
UNSUPPORTED = {
    (IPVS, "scheduling", "url_hash"): "the URL is only visible at layer 7: set layer 7, or use source_ip_hash at layer 4",
    (IPVS, "scheduling", "weighted_response_time"): ("IPVS has no response-time feedback: use weighted_least_connection, or adaptive"
                                                     " (the real servers' load sets their weights)"),
    (HAPROXY, "scheduling", "destination_hash"): "HAProxy cannot hash the destination: use source_ip_hash or url_hash, or layer 4",
    (HAPROXY, "scheduling", "weighted_response_time"): ("HAProxy has no response-time scheduler: use least_connection (a slow server holds"
                                                        " its connections longer and gets fewer new ones), or adaptive (the real servers' load"
                                                        " sets their weights)"),
    (HAPROXY, "health_check", "icmp"): "HAProxy cannot ping: use a tcp or http check",
    (LOADMASTER, "scheduling", "destination_hash"): "the LoadMaster has no destination hash scheduling: use source_ip_hash",
    (LOADMASTER, "forwarding", "tun"): "the LoadMaster forwards by route (Direct Routing) or NAT, not IP-in-IP: use dr or nat",
    (LOADMASTER, "persistence", "selected_header"): "the LoadMaster's API documents no parameter for the header name: use host_header or a cookie mode",
    (LOADMASTER, "health_check", "external"): "the LoadMaster runs no external check command: use an http, https, tcp or icmp check",
    (LOADMASTER, "health_check", "udp"): "the LoadMaster's API documents no check that sends a UDP datagram: use an icmp check",
    (LOADMASTER, "state", "halted"): ("a LoadMaster disables a real server, which is the drain (its connections finish within the appliance's"
                                      " drain time): use drained"),
}

HAPROXY_MAX_WEIGHT = 256
# keepalived's misc_dynamic: the weight is the check's exit code minus 2.
IPVS_MAX_DYNAMIC_WEIGHT = load_agent.MAX_DYNAMIC_WEIGHT
# HAProxy's static algorithms (balance source, uri, first): a server's weight is fixed when it comes up.
STATIC_SCHEDULING = frozenset(["source_ip_hash", "url_hash", "fixed_weighting"])
# The LoadMaster's nicknames take letters, digits and . @ - _ (and lbkit prefixes its own).
LOADMASTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,56}", re.ASCII)
# The documented ranges of ExtraPorts and CheckPort, the most extra ports and the longest CheckUrl.
LOADMASTER_PORTS = (3, 65530)
LOADMASTER_MAX_EXTRA_PORTS = 510
LOADMASTER_MAX_URL = 126
LOADMASTER_INTERFACE = re.compile(r"eth[0-9]{1,3}", re.ASCII)
# keepalived's VRRP settings; a LoadMaster pair has a heartbeat of its own.
VRRP_ONLY = ("vrrp_version", "unicast", "auth_secret", "ping_nodes", "track_interfaces")


def engine_for(vs, cluster_engine="linux"):
    if cluster_engine == "loadmaster":
        return LOADMASTER
    return IPVS if vs.layer == 4 else HAPROXY


def _check(engine, field, value, path, col):
    alternative = UNSUPPORTED.get((engine, field, value))
    if alternative is not None:
        col.add(path, "%s cannot implement %s '%s'." % (engine, field.replace("_", " "), value), alternative + ".")


def check_cluster(cluster, col):
    """What the cluster's engine refuses in the cluster itself."""
    if cluster.engine == "loadmaster" and cluster.autonat:
        col.add("/cluster/autonat", "a %s translates its real servers' outbound connections as its own network settings say, which lbkit does"
                " not set (and its API documents no such parameter)." % LOADMASTER,
                "remove autonat, and set the appliance's outbound NAT in its network options; use_for_server_nat on a service sets its VIP"
                " as those connections' address.")
    if cluster.engine != "loadmaster":
        return
    for key in VRRP_ONLY:
        if key in cluster.ha.given:
            col.add(join("/cluster/ha", key), "%s is keepalived's VRRP; a %s pair has a heartbeat of its own." % (key, LOADMASTER),
                    "remove it: the LoadMaster's pair is set by ha.mode, virtual_router_id, preempt and advert_interval_ms.")
    for side in ("external", "internal"):
        name = getattr(cluster.interfaces, side)
        if name is not None and not LOADMASTER_INTERFACE.fullmatch(name):
            col.add(join("/cluster/interfaces", side), "a %s names its interfaces eth0, eth1, ...; '%s' is not one." % (LOADMASTER, name),
                    "give the appliance's interface (eth0 is its first).")
        on_side = [f for f in cluster.floating_ips if f.side == side]
        for extra in on_side[1:]:
            col.add(join(extra.path, "address"), "a %s pair has one shared address per interface; this is a second one on the %s side." % (LOADMASTER, side),
                    "keep one floating IP per side (the pair's shared address).")


def check_monitoring(cluster, col):
    """What the cluster's engine refuses of the monitoring section."""
    if cluster.engine == "loadmaster":
        col.add("/monitoring", "the %s engine does not configure monitoring: a LoadMaster serves its own statistics "
                "(its SNMP agent and the REST API's statistics), which lbkit does not set up yet." % LOADMASTER,
                "remove monitoring from this cluster's spec, and read the LoadMaster's statistics with its SNMP agent.")


def check_service(vs, col, cluster_engine="linux", paired=False):
    """What the service's engine refuses (``paired``: the cluster is an HA pair)."""
    engine = engine_for(vs, cluster_engine)
    for group in vs.groups():
        _check(engine, "scheduling", group.scheduling, join(group.path, "scheduling"), col)
        _check(engine, "health_check", group.health_check.type, join(group.path, "health_check", "type"), col)
    if engine == LOADMASTER:
        _check_loadmaster(vs, col)
        return
    if engine == IPVS and vs.scheduling == "adaptive":
        for rs in vs.real_servers:
            if rs.weight > IPVS_MAX_DYNAMIC_WEIGHT:
                col.add(join(rs.path, "weight"), "%s sets an adaptive service's weights from its check's exit code, %d at most, not %d."
                        % (engine, IPVS_MAX_DYNAMIC_WEIGHT, rs.weight),
                        "scale the weights of this service down to 1-%d (only their ratios matter)." % IPVS_MAX_DYNAMIC_WEIGHT)
    if engine == IPVS and vs.slow_start:
        col.add(join(vs.path, "slow_start"), "%s has no slow start: IPVS gives a real server its full weight as soon as its check passes." % engine,
                "remove slow_start, or set layer 7 (HAProxy ramps the weight up).")
    if engine == HAPROXY:
        for group in vs.groups():
            _check_haproxy_group(group, col)
    if engine == HAPROXY and vs.layer7 is not None and vs.layer7.quality_of_service == "pass_through":
        col.add(join(vs.path, "layer7", "quality_of_service"), "%s sets a type of service on the traffic to the clients, but cannot read the"
                " one the client's packets came with." % engine,
                "choose a marking (minimize_delay, maximize_throughput...), or normal to leave the packets unmarked.")
    if engine == HAPROXY and paired and not vs.layer7.transparent and not vs.layer7.subnet_originating:
        col.add(join(vs.path, "layer7", "subnet_originating"), "%s checks the real servers from the address it connects from; from the VIP,"
                " the backup node's checks would fail (their answers go to the master, which holds the VIP), and the real servers would"
                " start down after a failover." % engine,
                "remove subnet_originating (the appliance's own address, the default) in an HA pair, or use a single appliance.")
    if engine == HAPROXY and paired and vs.layer7.source_addresses:
        col.add(join(vs.path, "layer7", "source_addresses"), "%s checks the real servers from the addresses it connects from; from addresses"
                " the master holds, the backup node's checks would fail, and the real servers would start down after a failover." % engine,
                "remove source_addresses in an HA pair (the appliance's own address on the real servers' subnet is the default), or use a"
                " single appliance.")
    if engine == HAPROXY and vs.layer7 is not None and vs.layer7.starttls != "none":
        col.add(join(vs.path, "layer7", "starttls"), "%s cannot take over a protocol's STARTTLS upgrade: it terminates TLS only where"
                " the connection starts with it." % engine,
                "remove starttls and tls, and pass the connection through in tcp mode (the real servers answer STARTTLS), or use the"
                " protocol's implicit-TLS port (465, 993, 995) with tls.")


def _check_haproxy_group(vs, col):
    """What HAProxy refuses of one group of real servers (a service's own, or a sub service's)."""
    engine = HAPROXY
    if vs.slow_start and vs.scheduling in STATIC_SCHEDULING:
        col.add(join(vs.path, "slow_start"), "%s ramps the weights of dynamic scheduling methods only; '%s' does not follow weights as they change."
                % (engine, vs.scheduling), "use a round robin or least connection method, or remove slow_start.")
    if vs.persistence.refresh:
        col.add(join(vs.path, "persistence", "refresh"), "%s refreshes a persistence entry when a new connection or request of the client"
                " uses it, never during one long connection." % engine,
                "remove refresh and make the timeout longer than the longest connection, or use layer 4 (IPVS keeps an entry while"
                " its connections are open).")
    for rs in vs.real_servers:
        if rs.weight > HAPROXY_MAX_WEIGHT:
            col.add(join(rs.path, "weight"), "%s takes weights up to %d, not %d." % (engine, HAPROXY_MAX_WEIGHT, rs.weight),
                    "scale the weights of this service down to 1-%d (only their ratios matter)." % HAPROXY_MAX_WEIGHT)


def _check_loadmaster(vs, col):
    engine = LOADMASTER
    if vs.sub_services:
        col.add(join(vs.path, "sub_services"), "the %s's API documents how to create SubVSs and content rules, but no parameter that turns a"
                " service's content switching on, nor where a SubVS's rules read back, nor which SubVS takes a request no rule matches:"
                " lbkit cannot converge or verify them (docs/loadmaster-api-notes.md, section 4a)." % engine,
                "run this service on a Linux appliance (HAProxy), or give each group of real servers a virtual service of its own (its"
                " own VIP or port).")
        return
    _check(engine, "forwarding", vs.forwarding, join(vs.path, "forwarding"), col)
    _check(engine, "persistence", vs.persistence.mode, join(vs.path, "persistence", "mode"), col)
    if not LOADMASTER_NAME.fullmatch(vs.name):
        col.add(join(vs.path, "name"), "%s nicknames take letters, digits and . @ - _ only." % engine,
                "rename the service with letters, digits and . @ - _ only.")
    p = vs.persistence
    if "granularity" in p.given:
        col.add(join(vs.path, "persistence", "granularity"), "%s documents no per-service granularity." % engine, "remove granularity.")
    # out of 1 minute to 28 days, the spec's own rule reports it
    if p.mode != "none" and 60 <= p.timeout <= 28 * 86400 and p.timeout % 60:
        col.add(join(vs.path, "persistence", "timeout"), "%s counts persistence in whole minutes; %ds is not one." % (engine, p.timeout),
                "use a multiple of 60 seconds (%dm)." % max(1, p.timeout // 60))
    outside = [port for port in vs.extra_ports if not LOADMASTER_PORTS[0] <= port <= LOADMASTER_PORTS[1]]
    if outside:
        col.add(join(vs.path, "extra_ports"), "%s takes extra ports from %d to %d; %s is not." % ((engine,) + LOADMASTER_PORTS + (outside[0],)),
                "choose extra ports in that range.")
    if len(vs.extra_ports) > LOADMASTER_MAX_EXTRA_PORTS:
        col.add(join(vs.path, "extra_ports"), "%s takes at most %d extra ports, not %d." % (engine, LOADMASTER_MAX_EXTRA_PORTS, len(vs.extra_ports)),
                "split the ports across services.")
    if p.cookie_with_port:
        col.add(join(vs.path, "persistence", "cookie_with_port"), "%s adds the port to its active cookies for the whole appliance"
                " (its global 'addcookieport' parameter), not for one virtual service." % engine,
                "remove cookie_with_port, and set the appliance's own setting; or give each service its own cookie name.")
    if vs.slow_start:
        col.add(join(vs.path, "slow_start"), "%s's slow start is one setting for the whole appliance (with least connection scheduling),"
                " not a setting of a virtual service, and lbkit does not set the appliance's global settings." % engine,
                "remove slow_start, and set the appliance's own slow start (its global 'slowstart' parameter).")
    l7 = vs.layer7
    if l7 is not None and l7.source_addresses:
        col.add(join(vs.path, "layer7", "source_addresses"), "%s's alternate source addresses are one list for the whole appliance (its L7"
                " configuration, with 'Allow connection scaling over 64K connections'), not a setting of a virtual service, and lbkit does"
                " not set the appliance's global settings." % engine,
                "remove source_addresses, and set the appliance's own list (System Configuration > Miscellaneous Options > L7"
                " Configuration).")
    if l7 is not None and l7.transparent and not l7.subnet_originating:
        col.add(join(vs.path, "layer7", "subnet_originating"), "%s proxies the clients on the real servers' subnet of a transparent service"
                " as its global 'Real Servers are Local' setting says, not from the VIP of one virtual service." % engine,
                "remove subnet_originating (true: those clients come from the appliance's own address), or set transparent false.")
    if l7 is not None and l7.tls is not None and l7.tls.redirect_http:
        col.add(join(vs.path, "layer7", "tls", "redirect_http"), "%s redirects HTTP with a service of its own on port 80 (its HTTP redirector),"
                " which lbkit does not create." % engine,
                "remove redirect_http, and add the redirector to this service on the appliance (or list a port-80 service of your own).")
    if l7 is not None and l7.tls is not None and l7.tls.reencrypt and l7.transparent:
        col.add(join(vs.path, "layer7", "transparent"), "%s turns transparency off while it re-encrypts to the real servers." % engine,
                "set transparent false (the real servers then see the appliance's address; use x_forwarded_for), or reencrypt false.")
    hc = vs.health_check
    if hc.port is not None and not LOADMASTER_PORTS[0] <= hc.port <= LOADMASTER_PORTS[1]:
        col.add(join(vs.path, "health_check", "port"), "%s checks ports from %d to %d, not %d." % ((engine,) + LOADMASTER_PORTS + (hc.port,)),
                "choose a check port in that range.")
    if hc.type in ("http", "https") and len(hc.url) > LOADMASTER_MAX_URL:
        col.add(join(vs.path, "health_check", "url"), "%s takes check URLs of up to %d characters, not %d." % (engine, LOADMASTER_MAX_URL, len(hc.url)),
                "use a shorter health URL.")
    if hc.type in ("http", "https"):
        covered = set()
        for low, high in hc.expected_codes:
            covered.update(range(low, high + 1))
        if not set(range(200, 300)) <= covered or any(code < 200 for code in covered):
            col.add(join(vs.path, "health_check", "expected_codes"),
                    "%s counts every 2xx as up and takes more codes from 300 to 599 only." % engine,
                    "list 200-299 and any codes from 300 to 599.")
    for rs in vs.real_servers:
        _check(engine, "state", rs.state, join(rs.path, "state"), col)
        if rs.min_connections:
            col.add(join(rs.path, "min_connections"), "%s has no lower connection threshold." % engine, "remove min_connections (max_connections works).")
