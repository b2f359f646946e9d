# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render keepalived.conf (keepalived 2.2+) for one appliance: VRRP for the HA pair and the
floating addresses, and IPVS virtual servers for the layer-4 services. Pure.

The appliance's interfaces come in as data (from ``ip -json address``), so the heartbeat
interface is the one holding the node's heartbeat address. ``render`` returns the file twice:
as written, and with the VRRP secret masked for display, so nothing has to find the secret in
the text afterwards. Every value from the spec goes through ``words`` (escaped, or refused).
"""

from __future__ import annotations

from dataclasses import dataclass

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import SpecInvalid
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._monitor import overview
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import programs
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render.words import keepalived_quoted, keepalived_word
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec import values
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import Collector, join

HEADER = "# Managed by lbkit.loadbalancer (cluster %s, node %s). Changes made here are overwritten.\n"
PING_HELPER = programs.PING_ANY
NOTIFY_HELPER = programs.VRRP_NOTIFY
INSTANCE = "lbkit"

LB_ALGO = {
    "round_robin": "rr",
    "weighted_round_robin": "wrr",
    "least_connection": "lc",
    "weighted_least_connection": "wlc",
    "source_ip_hash": "sh",
    "destination_hash": "dh",
    "fixed_weighting": "fo",
    # adaptive: the load agents' answers set the weights (MISC_CHECK misc_dynamic) weighted round robin follows
    "adaptive": "wrr",
}
LB_KIND = {"dr": "DR", "nat": "NAT", "tun": "TUN"}
# Seconds the adaptive check waits for a load agent's answer.
AGENT_TIMEOUT = 2
MASK = "********"


@dataclass(frozen=True)
class KeepalivedConf:
    """keepalived.conf as written (``content``) and as shown, the VRRP secret masked (``masked``)."""

    content: str
    masked: str


def ipvs_weight(vs, rs, state=None):
    """The IPVS weight of real server ``rs`` of ``vs`` in ``state`` (default: the spec's).

    Drained is 0; schedulers that ignore weights (round robin, least connection) get 1 for every
    server; the others get the spec's weight. keepalived.conf and the runtime edits of
    real_server use this one rule, so an enable at runtime leaves what a converge would.
    """
    if (state or rs.state) == "drained":
        return 0
    return 1 if vs.scheduling in ("round_robin", "least_connection") else rs.weight


def ipvs_port(vs, rs):
    """The port IPVS holds for real server ``rs`` of ``vs``: 0 in a firewall-mark service for a
    server on the service's port (each connection keeps the port the client asked for), else its
    own port (every connection goes there)."""
    return 0 if vs.marked and rs.port == vs.port else rs.port


def _interface_of(address, interfaces):
    for name, addrs in sorted(interfaces.items()):
        if any(a.ip == address for a in addrs):
            return name
    return None


def _placement(spec, host, interfaces, col):
    """The interface of the heartbeat and of each side, as this host names them."""
    cluster = spec.cluster
    node = cluster.node(host)
    heartbeat = _interface_of(node.heartbeat_address, interfaces) if node.heartbeat_address is not None else None
    external = cluster.interfaces.external or heartbeat
    if cluster.ha.mode == "pair" and heartbeat is None:
        col.add(
            node.path + "/heartbeat_address",
            "%s is not an address of %s, so the heartbeat interface is unknown." % (node.heartbeat_address, host),
            "use one of the host's addresses.",
        )
    if external is None and (spec.virtual_services or any(f.side == "external" for f in cluster.floating_ips)):
        col.add(
            "/cluster/interfaces/external",
            "the interface for the virtual service addresses is not known on %s." % host,
            "set /cluster/interfaces/external (or a heartbeat_address, whose interface is then used).",
        )
    return heartbeat or external, external, cluster.interfaces.internal


def _prefixed(address):
    return "%s/%d" % (address, 32 if address.version == 4 else 128)


def floating_addresses(spec, external, internal):
    """Every address the master holds: (address/prefix, device)."""
    out = []
    for vs in spec.virtual_services:
        item = (_prefixed(vs.address), external)
        if item not in out:
            out.append(item)
    for fip in spec.cluster.floating_ips:
        out.append((str(fip.address), internal if fip.side == "internal" else external))
    return out


def _vrrp(spec, host, heartbeat, addresses, lines, secret):
    cluster = spec.cluster
    ha = cluster.ha
    node = cluster.node(host)
    if ha.ping_nodes:
        lines.append("vrrp_script lbkit_ping {")
        lines.append('    script "%s"' % keepalived_quoted(" ".join([PING_HELPER] + [str(a) for a in ha.ping_nodes]), "/cluster/ha/ping_nodes"))
        lines.append("    interval 1")
        lines.append("    timeout 2")
        lines.append("    fall 3")
        lines.append("    rise 2")
        lines.append("}")
        lines.append("")
    lines.append("vrrp_instance %s {" % INSTANCE)
    lines.append("    state BACKUP")
    lines.append("    interface %s" % keepalived_word(heartbeat, "/cluster/interfaces"))
    lines.append("    virtual_router_id %d" % ha.virtual_router_id)
    lines.append("    priority %d" % node.priority)
    lines.append("    advert_int %s" % _seconds(ha.advert_interval_ms))
    if not ha.preempt:
        lines.append("    nopreempt")
    elif preempt_delay(spec):
        lines.append("    preempt_delay %d" % preempt_delay(spec))
    # Records each state change where appliance_info reads it.
    lines.append("    notify %s" % NOTIFY_HELPER)
    if ha.unicast:
        lines.append("    unicast_src_ip %s" % node.heartbeat_address)
        lines.append("    unicast_peer {")
        for peer in cluster.nodes:
            if peer.host != host:
                lines.append("        %s" % peer.heartbeat_address)
        lines.append("    }")
    if ha.auth_secret is not None:
        lines.append("    authentication {")
        lines.append("        auth_type PASS")
        lines.append("        auth_pass %s" % (keepalived_word(ha.auth_secret, "/cluster/ha/auth_secret") if secret else MASK))
        lines.append("    }")
    # keepalived wants one address in the adverts, of the heartbeat's family; the rest are
    # excluded from the adverts, so there may be any number of them, of both families.
    family = node.heartbeat_address.version if node.heartbeat_address is not None else 4
    advertised = [a for a in addresses if (":" in a[0]) == (family == 6)][:1]
    lines.append("    virtual_ipaddress {")
    for address, device in advertised:
        lines.append("        %s dev %s" % (address, keepalived_word(device, "/cluster/interfaces")))
    lines.append("    }")
    rest = [a for a in addresses if a not in advertised]
    if rest:
        lines.append("    virtual_ipaddress_excluded {")
        for address, device in rest:
            lines.append("        %s dev %s" % (address, keepalived_word(device, "/cluster/interfaces")))
        lines.append("    }")
    # keepalived always tracks the heartbeat interface itself (and warns when it is listed).
    tracked = [name for name in ha.track_interfaces if name != heartbeat]
    if tracked:
        lines.append("    track_interface {")
        for index, name in enumerate(tracked):
            lines.append("        %s" % keepalived_word(name, join("/cluster/ha/track_interfaces", index)))
        lines.append("    }")
    if ha.ping_nodes:
        lines.append("    track_script {")
        lines.append("        lbkit_ping")
        lines.append("    }")
    lines.append("}")
    lines.append("")


# keepalived's largest preempt_delay.
PREEMPT_DELAY_MAX = 1000


def preempt_delay(spec):
    """Seconds a returning node waits before it takes the master role back (0: no checks, no wait).

    A node cut off from the network finds every real server down; were it to take the VIPs back
    the moment its link returns, clients would meet an empty table until its checks pass again.
    keepalived's preempt_delay (counted from start-up and from leaving the FAULT state) holds it
    back for the longest time a health check needs to put a real server back: ``retries``
    checks ``interval`` apart, the last one taking up to ``timeout``.
    """
    waits = [g.health_check.interval * g.health_check.retries + g.health_check.timeout
             for vs in spec.virtual_services for g in vs.groups() if g.health_check.type != "none"]
    return min(PREEMPT_DELAY_MAX, max(waits)) if waits else 0


def _seconds(ms):
    text = "%.2f" % (ms / 1000.0)
    return text.rstrip("0").rstrip(".")


def _check(vs, rs, lines):
    hc = vs.health_check
    port = hc.port or rs.port
    if hc.type == "none":
        return
    if hc.type == "tcp":
        lines.append("        TCP_CHECK {")
        lines.append("            connect_port %d" % port)
    elif hc.type in ("http", "https"):
        lines.append("        %s {" % ("HTTP_GET" if hc.type == "http" else "SSL_GET"))
        lines.append("            url {")
        lines.append("                path %s" % keepalived_word(hc.url, join(vs.path, "health_check", "url")))
        lines.append(
            "                status_code %s" % " ".join(str(low) if low == high else "%d-%d" % (low, high) for low, high in hc.expected_codes)
        )
        lines.append("            }")
        lines.append("            connect_port %d" % port)
        if hc.host:
            lines.append("            virtualhost %s" % keepalived_word(hc.host, join(vs.path, "health_check", "host")))
    elif hc.type == "icmp":
        lines.append("        PING_CHECK {")
    elif hc.type == "udp":
        # the datagram (hex digits only, the schema's pattern) and an answer required: a real
        # server that does not answer fails, not only one whose port is closed
        lines.append("        UDP_CHECK {")
        lines.append("            connect_port %d" % port)
        lines.append("            payload %s" % keepalived_word(hc.payload.lower(), join(vs.path, "health_check", "payload")))
        lines.append("            require_reply")
    elif hc.type == "external":
        lines.append("        MISC_CHECK {")
        lines.append('            misc_path "%s"' % keepalived_quoted("%s %s %d" % (hc.command, rs.address, rs.port), join(vs.path, "health_check", "command")))
        lines.append("            misc_timeout %d" % hc.timeout)
    if hc.type != "external":
        lines.append("            connect_timeout %d" % hc.timeout)
    lines.append("            retry %d" % hc.retries)
    lines.append("            delay_before_retry %d" % max(1, hc.interval // max(1, hc.retries)))
    lines.append("        }")


def _agent_check(vs, rs, lines):
    """Adaptive scheduling: a second checker asks the real server's load agent every interval and
    exits with 2 + the weight to use (misc_dynamic); 0 when the agent does not answer (the weight
    stays). The health check alone says whether the server is up."""
    if vs.scheduling != "adaptive":
        return
    a = vs.adaptive
    lines.append("        MISC_CHECK {")
    lines.append('            misc_path "%s query %s %d --weight %d --min-load %d --timeout %d"'
                 % (programs.LOAD_AGENT, rs.address, a.port, rs.weight, a.min_load, AGENT_TIMEOUT))
    # The query gives up on the agent after AGENT_TIMEOUT (exit 0: the weight stays); keepalived
    # counts a query it had to kill as a failed check, so it waits longer and retries before that.
    lines.append("            misc_timeout %d" % (AGENT_TIMEOUT + 3))
    lines.append("            misc_dynamic")
    lines.append("            retry 2")
    lines.append("            delay_before_retry 1")
    lines.append("            delay_loop %d" % a.interval)
    lines.append("        }")


def _virtual_server(vs, mark, lines):
    if mark is None:
        lines.append("virtual_server %s %d {" % (vs.address, vs.port))
    else:
        # lbkit's nftables table marks the packets to the service's ports (programs.netfilter_rules)
        ports = ",".join(values.port_ranges(vs.ports))
        lines.append("# %s: %s ports %s (%s), by firewall mark" % (keepalived_word(vs.name, join(vs.path, "name")), vs.address, ports, vs.protocol))
        lines.append("virtual_server fwmark %d {" % mark)
        lines.append("    ip_family %s" % ("inet6" if vs.address.version == 6 else "inet"))
    lines.append("    delay_loop %d" % vs.health_check.interval)
    lines.append("    lb_algo %s" % LB_ALGO[vs.scheduling])
    lines.append("    lb_kind %s" % LB_KIND[vs.forwarding])
    if mark is None:
        lines.append("    protocol %s" % vs.protocol.upper())  # a firewall mark names packets of either protocol: the table's rule chose them
    p = vs.persistence
    if p.mode in ("source_ip", "udp_sip"):
        lines.append("    persistence_timeout %d" % p.timeout)
        if p.granularity is not None:
            if vs.address.version == 4:
                mask = (0xFFFFFFFF << (32 - p.granularity)) & 0xFFFFFFFF
                lines.append("    persistence_granularity %s" % ".".join(str((mask >> s) & 255) for s in (24, 16, 8, 0)))
            else:
                lines.append("    persistence_granularity %d" % p.granularity)
        if p.mode == "udp_sip":
            lines.append("    persistence_engine sip")
    if vs.fallback_server is not None:
        lines.append("    sorry_server %s %d" % (vs.fallback_server.address, ipvs_port(vs, vs.fallback_server)))
    for rs in vs.real_servers:
        if rs.state == "halted":
            continue  # a halted server gets nothing: it is not in the IPVS table at all
        lines.append("    real_server %s %d {" % (rs.address, ipvs_port(vs, rs)))
        lines.append("        weight %d" % ipvs_weight(vs, rs))
        if rs.max_connections:
            lines.append("        uthreshold %d" % rs.max_connections)
        if rs.min_connections:
            lines.append("        lthreshold %d" % rs.min_connections)
        _check(vs, rs, lines)
        _agent_check(vs, rs, lines)
        if vs.health_check.type != "none":
            # Each check result lands where the status overview reads it: a server out of the
            # IPVS table is down when its check failed, halted (at runtime) when it did not.
            key = overview.check_key(vs.protocol, vs.address, vs.port, rs.address, rs.port)
            for result in ("up", "down"):
                lines.append('        notify_%s "%s %s %s"' % (result, programs.CHECK_NOTIFY, result, key))
        lines.append("    }")
    lines.append("}")
    lines.append("")


def render(spec, host, interfaces):
    """keepalived.conf for ``host``; ``interfaces`` maps interface names to their addresses.

    Raises ``SpecInvalid`` when the host's interfaces do not fit the spec, and ``UnsafeValue``
    when a value cannot be written as one word.
    """
    return KeepalivedConf(_render(spec, host, interfaces, True), _render(spec, host, interfaces, False))


def _render(spec, host, interfaces, secret):
    col = Collector()
    heartbeat, external, internal = _placement(spec, host, interfaces, col)
    if col.errors:
        raise SpecInvalid(col.errors)
    cluster = spec.cluster
    addresses = floating_addresses(spec, external, internal)
    name = keepalived_word(cluster.name, "/cluster/name")
    node = keepalived_word(host, join(cluster.node(host).path, "host"))
    lines = [HEADER % (name, node), "global_defs {", "    router_id %s" % node]
    if cluster.ha.mode == "pair":
        lines.append("    vrrp_version %d" % cluster.ha.vrrp_version)
    if cluster.ha.mode == "pair" and cluster.ha.connection_sync and any(vs.layer == 4 for vs in spec.virtual_services):
        # IPVS's sync daemon follows the VRRP instance: master on the master, backup on the backup;
        # the id keeps two pairs on one segment apart.
        lines.append("    lvs_sync_daemon %s %s id %d" % (keepalived_word(heartbeat, "/cluster/interfaces"), INSTANCE, cluster.ha.virtual_router_id))
    lines.append("    enable_script_security")
    lines.append("    script_user root")
    lines.append("}")
    lines.append("")
    if cluster.ha.mode == "pair" and addresses:
        family = cluster.node(host).heartbeat_address
        if family is not None and not any((":" in a[0]) == (family.version == 6) for a in addresses):
            col.add(
                "/cluster/floating_ips",
                "the VRRP adverts need one floating address of the heartbeat's family (IPv%d)." % family.version,
                "add a virtual service or floating IP of that family, or use heartbeat addresses of the other family.",
            )
            raise SpecInvalid(col.errors)
        _vrrp(spec, host, heartbeat, addresses, lines, secret)
    elif cluster.ha.mode == "pair":
        lines.append("# No floating address yet: nothing for VRRP to move.")
        lines.append("")
    elif addresses:
        # A single appliance holds its addresses for good: no election, no adverts on the wire.
        lines.append("static_ipaddress {")
        for address, device in addresses:
            lines.append("    %s dev %s" % (address, keepalived_word(device, "/cluster/interfaces")))
        lines.append("}")
        lines.append("")
    marks = programs.firewall_marks(spec)
    for vs in spec.virtual_services:
        if vs.layer == 4:
            _virtual_server(vs, marks.get(vs.name), lines)
    return "\n".join(lines).rstrip("\n") + "\n"
