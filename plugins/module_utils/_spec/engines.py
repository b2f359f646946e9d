# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each engine of a Linux appliance can implement.

Layer-4 services run on keepalived + kernel IPVS, layer-7 services on HAProxy. A feature an
engine cannot implement is a validation error naming the engine, the feature and an
alternative: it is never silently dropped. docs/engine-mapping.md shows how every supported
feature is rendered.
"""

from __future__ import annotations

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import join

IPVS = "keepalived/IPVS (layer 4)"
HAPROXY = "HAProxy (layer 7)"

# (engine, field, value) -> alternative. Only the gaps are listed: everything else in the
# schema's enums is implemented by the engine that serves the service's layer.
UNSUPPORTED = {
    (IPVS, "scheduling", "url_hash"): "the URL is only visible at layer 7: set layer 7, or use source_ip_hash at layer 4",
    (IPVS, "scheduling", "weighted_response_time"): "IPVS has no response-time feedback: use weighted_least_connection",
    (IPVS, "scheduling", "adaptive"): "IPVS weights are static here: use weighted_least_connection, or layer 7 (HAProxy agent checks)",
    (HAPROXY, "scheduling", "destination_hash"): "HAProxy cannot hash the destination: use source_ip_hash or url_hash, or layer 4",
    (HAPROXY, "scheduling", "weighted_response_time"): "HAProxy has no response-time scheduler: use least_connection",
    (HAPROXY, "health_check", "icmp"): "HAProxy cannot ping: use a tcp or http check",
    (HAPROXY, "scheduling", "adaptive"): "the spec has no feedback agent settings yet: use weighted_least_connection",
}

# Features lbkit does not implement yet on an engine: refused by name, never dropped.
NOT_YET = {
    (IPVS, "extra_ports"): (
        "extra ports at layer 4 (IPVS firewall-mark services) are not implemented yet",
        "create one layer-4 service per port, or use layer 7",
    ),
    (HAPROXY, "transparent"): (
        "layer-7 transparency (TPROXY) is not implemented yet",
        "use X-Forwarded-For (http mode), or a layer-4 service to keep the client's address",
    ),
}
HAPROXY_MAX_WEIGHT = 256


def engine_for(vs):
    return IPVS if vs.layer == 4 else HAPROXY


def _check(engine, field, value, path, col):
    alternative = UNSUPPORTED.get((engine, field, value))
    if alternative is not None:
        col.add(path, "%s cannot implement %s '%s'." % (engine, field.replace("_", " "), value), alternative + ".")


def _not_yet(engine, field, path, col):
    what, alternative = NOT_YET[(engine, field)]
    col.add(path, "%s: %s." % (engine, what), alternative + ".")


def check_service(vs, col):
    engine = engine_for(vs)
    _check(engine, "scheduling", vs.scheduling, join(vs.path, "scheduling"), col)
    _check(engine, "health_check", vs.health_check.type, join(vs.path, "health_check", "type"), col)
    if engine == IPVS and vs.extra_ports:
        _not_yet(engine, "extra_ports", join(vs.path, "extra_ports"), col)
    if engine == HAPROXY:
        if vs.layer7 is not None and vs.layer7.transparent:
            _not_yet(engine, "transparent", join(vs.path, "layer7", "transparent"), col)
        for rs in vs.real_servers:
            if rs.weight > HAPROXY_MAX_WEIGHT:
                col.add(join(rs.path, "weight"), "%s takes weights up to %d, not %d." % (engine, HAPROXY_MAX_WEIGHT, rs.weight),
                        "scale the weights of this service down to 1-%d (only their ratios matter)." % HAPROXY_MAX_WEIGHT)
