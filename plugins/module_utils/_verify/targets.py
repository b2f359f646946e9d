# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What verification sends through each virtual service, and what it may expect back.

A client that opens new connections one after another reaches every enabled real server only
when the scheduler spreads new connections and persistence does not pin the client: then
verification expects each enabled real server to answer. Otherwise (hash schedulers, fixed
weighting, source-IP persistence, weights too uneven) one client reaches one server by design,
and the others are judged by the appliance's health check.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import reduce
from math import gcd
from typing import Optional, Tuple

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import NotFound
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render.haproxy import line_names
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import load_spec

SPREADING = frozenset(["round_robin", "weighted_round_robin", "least_connection", "weighted_least_connection"])
WEIGHTED = frozenset(["weighted_round_robin", "weighted_least_connection"])
# Persistence modes that leave a client alone while it sends no cookie, header or query item.
UNPINNED = frozenset(["none", "active_cookie", "server_cookie", "hash_all_cookies", "query_item", "selected_header"])
# The appliance itself sets this persistence cookie, so a client replaying it must stay put.
STICKY_MODES = frozenset(["active_cookie"])
MAX_REQUESTS = 60
PINNED_REQUESTS = 3
STICKY_REQUESTS = 3

# The port a URL of each scheme leaves out.
DEFAULT_PORTS = {"http": 80, "https": 443}

PINNED_WHY = {
    "source_ip_hash": "source_ip_hash scheduling sends one client to one real server",
    "destination_hash": "destination_hash scheduling sends one VIP to one real server",
    "url_hash": "url_hash scheduling sends one URL to one real server",
    "fixed_weighting": "fixed weighting sends every new connection to the highest-weight real server",
    "adaptive": "adaptive scheduling follows the real servers' load: a busy one may get none of a few requests",
}


@dataclass(frozen=True)
class RealServer:
    name: str
    address: str
    port: int
    state: str


@dataclass(frozen=True)
class Target:
    """One virtual service as verification sees it."""

    service: str
    address: str
    port: int
    protocol: str
    layer: int
    scheme: str  # http, https, tcp, tls; "" when it is not probed
    host_header: Optional[str]
    real_servers: Tuple[RealServer, ...]
    spread: bool
    requests: int
    sticky: bool
    note: str
    # the request's path (a sub service's content rules may ask for one)
    path: str = "/"
    # HAProxy's servers per real server: one per alternate source address
    lines: int = 1

    @property
    def vip(self):
        address = "[%s]" % self.address if ":" in self.address else self.address
        return "%s:%d/%s" % (address, self.port, self.protocol)

    def line_names(self):
        """{HAProxy server name: real server name}: a real server with alternate source addresses has a server per address."""
        return dict((line, rs.name) for rs in self.real_servers for line in line_names(rs.name, self.lines))

    @property
    def expected(self):
        """The real servers the spec has enabled."""
        return tuple(rs.name for rs in self.real_servers if rs.state == "enabled")


def host_header(address, port, scheme):
    """The Host header a client sends for ``address`` and ``port`` by itself: the port left out when it is the scheme's own."""
    host = "[%s]" % address if ":" in address else address
    return host if port == DEFAULT_PORTS.get(scheme) else "%s:%d" % (host, port)


def _scheme(vs):
    if vs.protocol != "tcp":
        return ""
    if vs.layer == 7:
        tls = vs.layer7.tls is not None
        if vs.layer7.mode == "http":
            return "https" if tls else "http"
        return "tls" if tls else "tcp"
    return {"http": "http", "https": "https"}.get(vs.health_check.type, "tcp")


def _spread(vs, enabled):
    """(spreads, requests, why not) for a client that opens new connections one by one."""
    if vs.scheduling not in SPREADING:
        return False, PINNED_REQUESTS, PINNED_WHY.get(vs.scheduling, "%s scheduling does not spread one client" % vs.scheduling)
    if vs.persistence.mode not in UNPINNED:
        return False, PINNED_REQUESTS, "%s persistence keeps one client on one real server" % vs.persistence.mode
    weights = [rs.weight for rs in enabled] if vs.scheduling in WEIGHTED else [1] * len(enabled)
    # Weighted round robin repeats every sum/gcd picks, and each server appears in each period.
    period = sum(weights) // reduce(gcd, weights)
    requests = max(4, 2 * period)
    if requests > MAX_REQUESTS:
        return False, PINNED_REQUESTS, "the weights are too uneven to reach every real server within %d requests" % MAX_REQUESTS
    return True, requests, ""


def target(vs):
    """The Target of one model VirtualService."""
    servers = tuple(RealServer(rs.name, str(rs.address), rs.port, rs.state) for rs in vs.real_servers)
    enabled = [rs for rs in vs.real_servers if rs.state == "enabled"]
    scheme = _scheme(vs)
    sticky = False
    if not scheme:
        spread, requests, note = False, 0, "not probed: lbkit does not implement a UDP probe; the appliance's view is shown"
    elif not enabled:
        spread, requests, note = False, 0, "not probed: no real server is enabled in the spec"
    else:
        spread, requests, note = _spread(vs, enabled)
        if note:
            note += "; the other real servers are judged by the appliance's health check"
        sticky = vs.persistence.mode in STICKY_MODES and scheme in ("http", "https")
    host = vs.health_check.host if scheme in ("http", "https") else None
    lines = len(vs.layer7.source_addresses) if vs.layer == 7 and vs.layer7.source_addresses else 1
    return Target(vs.name, str(vs.address), vs.port, vs.protocol, vs.layer, scheme, host, servers, spread, requests, sticky, note, lines=lines)


def targets(data, services=None):
    """The Targets of a raw spec, in spec order; ``services`` limits them to those names.

    Raises SpecInvalid for an invalid spec, and NotFound naming an unknown service.
    """
    spec = load_spec(data)
    known = [vs.name for vs in spec.virtual_services]
    subs = [g.name for vs in spec.virtual_services if vs.sub_services for g in vs.groups()]
    for name in services or []:
        if name not in known and name not in subs:
            raise NotFound("services: %s is not a virtual service%s of the spec (it has: %s)."
                           % (name, " (or a sub service, 'service:sub')" if subs else "", ", ".join(known + subs)))
    return [t for vs in spec.virtual_services for t in service_targets(vs) if not services or vs.name in services or t.service in services]


def service_targets(vs):
    """The Targets of one virtual service: itself, or each of its sub services ('service:sub'), probed
    with a request its content rules send it (a path or a host name of its rules that no earlier sub
    service takes); one that no such plain request reaches is judged by the appliance's health check."""
    if not vs.sub_services:
        return [target(vs)]
    out = []
    for index, (sub, group) in enumerate(zip(vs.sub_services, vs.groups())):
        found = target(group)
        request = _request_for(vs, index, found)
        if request is None and found.requests:
            found = replace(found, spread=False, requests=0, sticky=False,
                            note="not probed: no plain request (a path or a host name of its content rules) reaches this sub service;"
                            " the appliance's health check judges its real servers")
        elif request is not None:
            path, host = request
            found = replace(found, path=path, host_header=host or found.host_header)
        out.append(found)
    return out


def _request_for(vs, index, found):
    """(path, Host header or None) of a request the service sends to its sub service ``index``, or None;
    routed with the Host header the probe sends (the rule's, else the check's, else the VIP's)."""
    sub = vs.sub_services[index]
    vip = host_header(found.address, found.port, found.scheme)
    candidates = [] if sub.content_rules else [("/", None)]
    for rule in sub.content_rules:
        if rule.negate:
            continue
        if rule.subject == "path" and rule.match in ("exact", "prefix") and rule.value.startswith("/"):
            candidates.append((rule.value, None))
        elif rule.subject == "host" and rule.match == "exact":
            candidates.append(("/", rule.value))
    for path, host in candidates:
        if vs.route(path, host or found.host_header or vip) == index:
            return path, host
    return None
