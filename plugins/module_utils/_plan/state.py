# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The desired state of one appliance as plain, comparable data.

The same shape is stored on the appliance after a successful apply (the last good state),
so a plan is a pure comparison of two such documents. Secrets are kept only as a salted
digest: a changed secret is detected, never revealed.
"""

from __future__ import annotations

import hashlib


def secret_digest(value, salt):
    """A digest that tells whether a secret changed without storing or showing it."""
    if value is None:
        return None
    return "sha256:" + hashlib.sha256((salt + "\0" + value).encode("utf-8")).hexdigest()[:16]


def _addr(value):
    return None if value is None else str(value)


def service_key(vs):
    """Virtual services are identified by address, port and protocol; the name is a field."""
    return "%s/%s/%d" % (vs.protocol, vs.address, vs.port)


def real_server_key(rs):
    """Real servers are identified by address and port, never by name alone."""
    if ":" in str(rs.address):
        return "[%s]:%d" % (rs.address, rs.port)
    return "%s:%d" % (rs.address, rs.port)


def _real_server(rs):
    return {
        "name": rs.name,
        "address": str(rs.address),
        "port": rs.port,
        "weight": rs.weight,
        "min_connections": rs.min_connections,
        "max_connections": rs.max_connections,
        "state": rs.state,
    }


def _service(vs):
    p, hc = vs.persistence, vs.health_check
    out = {
        "name": vs.name,
        "address": str(vs.address),
        "port": vs.port,
        "extra_ports": list(vs.extra_ports),
        "protocol": vs.protocol,
        "layer": vs.layer,
        "forwarding": vs.forwarding,
        "scheduling": vs.scheduling,
        "persistence": {
            "mode": p.mode,
            "timeout": p.timeout if p.mode != "none" else None,
            "granularity": p.granularity,
            "cookie": p.cookie,
            "header": p.header,
            "query_item": p.query_item,
        },
        "health_check": {
            "type": hc.type,
            "port": hc.port,
            "url": hc.url if hc.type in ("http", "https") else None,
            "host": hc.host,
            "expected_codes": [list(r) for r in hc.expected_codes] if hc.type in ("http", "https") else None,
            "interval": hc.interval if hc.type != "none" else None,
            "timeout": hc.timeout if hc.type != "none" else None,
            "retries": hc.retries if hc.type != "none" else None,
            "command": hc.command,
        },
        "fallback_server": None if vs.fallback_server is None else {"address": str(vs.fallback_server.address), "port": vs.fallback_server.port},
        # a service with sub services keeps its real servers in them
        "real_servers": dict((real_server_key(rs), _real_server(rs)) for rs in (vs.real_servers if not vs.sub_services else ())),
    }
    # Only when set: a state recorded before these fields existed stays equal.
    if p.refresh:
        out["persistence"]["refresh"] = True
    if p.cookie_with_port:
        out["persistence"]["cookie_with_port"] = True
    if vs.slow_start:
        out["slow_start"] = vs.slow_start
    if vs.use_for_server_nat:
        out["use_for_server_nat"] = True
    if vs.scheduling == "adaptive":
        a = vs.adaptive
        out["adaptive"] = {"port": a.port, "path": a.path, "interval": a.interval, "min_load": a.min_load}
    if hc.payload:
        out["health_check"]["payload"] = hc.payload.lower()
    if vs.sub_services:
        out["sub_services"] = _sub_services(vs)
    if vs.layer7 is not None:
        l7 = vs.layer7
        out["layer7"] = {
            "mode": l7.mode,
            "transparent": l7.transparent,
            "x_forwarded_for": l7.x_forwarded_for,
            "subnet_originating": l7.subnet_originating,
            "idle_timeout": l7.idle_timeout,
            "quality_of_service": l7.quality_of_service,
            "server_initiating": l7.server_initiating,
            "tls": None if l7.tls is None else {"certificate": l7.tls.certificate, "key": l7.tls.key, "reencrypt": l7.tls.reencrypt},
        }
        # Only when on: a state recorded before these fields existed stays equal.
        if l7.http2:
            out["layer7"]["http2"] = True
        if l7.starttls != "none":
            out["layer7"]["starttls"] = l7.starttls
        if l7.tls is not None and l7.tls.redirect_http:
            out["layer7"]["tls"]["redirect_http"] = True
        if l7.source_addresses:
            out["layer7"]["source_addresses"] = [str(a) for a in l7.source_addresses]
    return out


# What a sub service's state holds of its group's (the rest is its parent's).
SUB_SERVICE_FIELDS = ("scheduling", "persistence", "health_check", "fallback_server", "real_servers", "slow_start")


def _content_rule(rule):
    out = {rule.subject: rule.value, "match": rule.match}
    if rule.subject == "header":
        out = {"header": rule.header, "value": rule.value, "match": rule.match}
    if rule.ignore_case and rule.subject != "host":
        out["ignore_case"] = True
    if rule.negate:
        out["negate"] = True
    return out


def _sub_service(group, sub):
    """A sub service's state: its content rules, and its group's settings and real servers."""
    whole = _service(group)
    out = dict((key, whole[key]) for key in SUB_SERVICE_FIELDS if key in whole)
    out["content_rules"] = [_content_rule(rule) for rule in sub.content_rules]
    return out


def _sub_services(vs):
    """{name: state} of a service's sub services, each with its position (the first whose rules match takes a request)."""
    return dict((sub.name, dict(_sub_service(group, sub), position=index)) for index, (sub, group) in enumerate(zip(vs.sub_services, vs.groups())))


def desired_state(spec, host):
    """The state ``host`` should be in: its VRRP role settings and every virtual service."""
    cluster = spec.cluster
    node = cluster.node(host)
    if node is None:
        raise ValueError("host %r is not a node of cluster %r" % (host, cluster.name))
    peers = [str(n.heartbeat_address) for n in cluster.nodes if n.host != host and n.heartbeat_address is not None]
    ha = cluster.ha
    out = {
        "cluster": {
            "name": cluster.name,
            "host": host,
            "mode": ha.mode,
            "priority": node.priority,
            "virtual_router_id": ha.virtual_router_id,
            "vrrp_version": ha.vrrp_version,
            "advert_interval_ms": ha.advert_interval_ms,
            "unicast": ha.unicast,
            "heartbeat_address": _addr(node.heartbeat_address),
            "unicast_peers": peers if ha.unicast else [],
            "auth_secret": secret_digest(ha.auth_secret, cluster.name),
            "preempt": ha.preempt,
            "ping_nodes": [str(a) for a in ha.ping_nodes],
            "track_interfaces": list(ha.track_interfaces),
            "interfaces": {"external": cluster.interfaces.external, "internal": cluster.interfaces.internal},
            "floating_ips": dict((str(f.address), {"name": f.name, "side": f.side, "gateway": f.gateway}) for f in cluster.floating_ips),
        },
        "virtual_services": dict((service_key(vs), _service(vs)) for vs in spec.virtual_services),
        "monitoring": _monitoring(spec, node),
    }
    # Only when on: a state recorded before the field existed stays equal.
    if ha.connection_sync:
        out["cluster"]["connection_sync"] = True
    if cluster.autonat:
        out["cluster"]["autonat"] = True
    return out


def _monitoring(spec, node):
    """The node's monitoring endpoint, or None (the status page's password as a digest only)."""
    mon = spec.monitoring
    if mon is None:
        return None
    page = mon.status_page
    return {
        "address": _addr(node.monitoring_address),
        "port": mon.port,
        "allowed_sources": [str(s) for s in mon.allowed_sources],
        "status_page": None if page is None else {"user": page.user, "password": secret_digest(page.password, spec.cluster.name)},
    }


def held_addresses(state):
    """The floating addresses an applied state puts on the master (lbkit's, not the host's own)."""
    if not state:
        return []
    out = [svc["address"] for svc in state.get("virtual_services", {}).values()]
    out.extend(address.split("/")[0] for address in state.get("cluster", {}).get("floating_ips", {}))
    # Services on other ports of one VIP share its address: each address once.
    return sorted(set(out), key=out.index)
