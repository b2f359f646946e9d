# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel's IPVS table through ipvsadm: parse the services and connections, and build the
argv lists that drain, halt or enable one real server at runtime (no keepalived reload).
"""

from __future__ import annotations

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render.keepalived import ipvs_weight

FORWARD_FLAG = {"dr": "-g", "nat": "-m", "tun": "-i"}
FORWARD_NAME = {"Route": "dr", "Masq": "nat", "Tunnel": "tun", "Local": "local"}
PROTOCOL_FLAG = {"tcp": "-t", "udp": "-u"}


def _split_endpoint(text):
    """'192.0.2.10:80' or '[2001:db8::10]:80' -> ('192.0.2.10', 80)."""
    host, port = text.rsplit(":", 1)
    return host.strip("[]"), int(port)


def endpoint(address, port):
    address = str(address)
    return "[%s]:%d" % (address, port) if ":" in address else "%s:%d" % (address, port)


def parse_services(text):
    """``ipvsadm -Ln`` -> [{protocol, address, port, scheduler, persistent, real_servers: [...]}]."""
    services = []
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] in ("TCP", "UDP", "SCTP") and len(words) >= 3:
            address, port = _split_endpoint(words[1])
            persistent = None
            if "persistent" in words:
                persistent = int(words[words.index("persistent") + 1])
            services.append(dict(protocol=words[0].lower(), address=address, port=port, scheduler=words[2], persistent=persistent, real_servers=[]))
        elif words[0] == "->" and services and len(words) >= 6 and words[1] != "RemoteAddress:Port":
            address, port = _split_endpoint(words[1])
            services[-1]["real_servers"].append(
                dict(
                    address=address,
                    port=port,
                    forwarding=FORWARD_NAME.get(words[2], words[2].lower()),
                    weight=int(words[3]),
                    active=int(words[4]),
                    inactive=int(words[5]),
                )
            )
    return services


def parse_connections(text):
    """``ipvsadm -Lnc`` -> [{protocol, state, client, virtual, destination}]."""
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) != 6 or words[0] not in ("TCP", "UDP", "SCTP"):
            continue
        out.append(
            dict(
                protocol=words[0].lower(),
                expires=words[1],
                state=words[2],
                client=_split_endpoint(words[3]),
                virtual=_split_endpoint(words[4]),
                destination=_split_endpoint(words[5]),
            )
        )
    return out


def parse_stats(text):
    """``ipvsadm -Ln --stats --exact`` -> {(protocol, address, port): {"connections": n, "real_servers": {(address, port): n}}}.

    The Conns column counts every connection since the service was added, so the difference of
    two readings is the connections in between.
    """
    out = {}
    current = None
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or not words[2].isdigit():
            continue
        if words[0] == "->":
            if current is not None:
                current["real_servers"][_split_endpoint(words[1])] = int(words[2])
        elif words[0] in ("TCP", "UDP", "SCTP"):
            address, port = _split_endpoint(words[1])
            current = out.setdefault((words[0].lower(), address, port), dict(connections=int(words[2]), real_servers={}))
        else:
            current = None
    return out


def _vs_args(vs):
    return [PROTOCOL_FLAG[vs.protocol], endpoint(vs.address, vs.port)]


def set_state_argv(vs, rs, state, present):
    """ipvsadm argv lists putting real server ``rs`` of ``vs`` in ``state``.

    drained: weight 0 (existing connections finish, no new ones); halted: removed from the
    table (nothing at all; its connections end with expire_nodest_conn); enabled: back with its
    spec weight and thresholds. ``present``: whether the server is in the table now.
    """
    target = ["-r", endpoint(rs.address, rs.port)]
    if state == "halted":
        return [["ipvsadm", "-d"] + _vs_args(vs) + target] if present else []
    weight = ipvs_weight(vs, rs, state)
    extra = [FORWARD_FLAG[vs.forwarding], "-w", str(weight)]
    if rs.max_connections:
        extra += ["-x", str(rs.max_connections)]
    if rs.min_connections:
        extra += ["-y", str(rs.min_connections)]
    return [["ipvsadm", "-e" if present else "-a"] + _vs_args(vs) + target + extra]
