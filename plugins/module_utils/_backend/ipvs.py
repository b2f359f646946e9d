# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel's IPVS table through ipvsadm: parse the services and connections, and build the
argv lists that drain, halt or enable one real server at runtime (no keepalived reload).
"""

from __future__ import annotations

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render.keepalived import ipvs_port, ipvs_weight

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


def _service_head(words, marks):
    """A service line's words -> (protocol, address, port, ports, mark, words after the name), or None.

    ``TCP  192.0.2.10:80 wlc`` names its service; ``FWM  1278... [IPv6] wlc``, a firewall-mark
    service, is named by ``marks`` ({mark: (protocol, address, port, ports)}, what lbkit marks
    for its layer-4 services with extra ports): one it does not know keeps address and port None.
    """
    if len(words) >= 3 and words[0] in ("TCP", "UDP", "SCTP"):
        address, port = _split_endpoint(words[1])
        return words[0].lower(), address, port, (port,), None, words[2:]
    if len(words) >= 3 and words[0] == "FWM" and words[1].isdigit():
        mark = int(words[1])
        rest = words[3:] if words[2] == "IPv6" else words[2:]
        if not rest:
            return None
        protocol, address, port, ports = (marks or {}).get(mark, ("fwm", None, None, ()))
        return protocol, address, port, tuple(ports), mark, rest
    return None


def _real_server_endpoint(text, zero):
    """A real server's 'address:port' -> (address, port); port 0 reads as ``zero`` when that is not
    None (the service's port, in a firewall-mark service lbkit marks: see ``parse_services``)."""
    address, port = _split_endpoint(text)
    return address, zero if port == 0 and zero is not None else port


def parse_services(text, marks=None):
    """``ipvsadm -Ln`` -> [{protocol, address, port, ports, fwmark, scheduler, persistent, real_servers: [...]}].

    A firewall-mark service known to ``marks`` (see ``_service_head``) reads as the service it
    marks; its real servers held on port 0 (each connection keeps the client's port) read as on
    the service's port, as the spec has them.
    """
    services = []
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        head = _service_head(words, marks)
        if head is not None:
            protocol, address, port, ports, mark, rest = head
            persistent = None
            if "persistent" in rest:
                persistent = int(rest[rest.index("persistent") + 1])
            services.append(dict(protocol=protocol, address=address, port=port, ports=list(ports), fwmark=mark, scheduler=rest[0],
                                 persistent=persistent, real_servers=[]))
        elif words[0] == "->" and services and len(words) >= 6 and words[1] != "RemoteAddress:Port":
            svc = services[-1]
            address, port = _real_server_endpoint(words[1], svc["port"] if svc["fwmark"] is not None else None)
            svc["real_servers"].append(
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


def parse_stats(text, marks=None):
    """``ipvsadm -Ln --stats --exact`` -> {(protocol, address, port): {"connections": n, "real_servers": {(address, port): n}}}
    (firewall-mark services as ``parse_services`` reads them).

    The Conns column counts every connection since the service was added, so the difference of
    two readings is the connections in between.
    """
    out = {}
    current, zero = None, None
    for line in text.splitlines():
        words = line.split()
        head = _service_head(words, marks)
        if head is not None:
            protocol, address, port, dummy, mark, rest = head
            current = None
            if rest[0].isdigit() and address is not None:
                current = out.setdefault((protocol, address, port), dict(connections=int(rest[0]), real_servers={}))
                zero = port if mark is not None else None
        elif len(words) >= 3 and words[0] == "->":
            if current is not None and words[2].isdigit():
                current["real_servers"][_real_server_endpoint(words[1], zero)] = int(words[2])
        elif words:
            current = None
    return out


def _vs_args(vs, mark):
    if mark is None:
        return [PROTOCOL_FLAG[vs.protocol], endpoint(vs.address, vs.port)]
    return ["-f", str(mark)] + (["-6"] if vs.address.version == 6 else [])


def set_state_argv(vs, rs, state, present, mark=None):
    """ipvsadm argv lists putting real server ``rs`` of ``vs`` in ``state``.

    drained: weight 0 (existing connections finish, no new ones); halted: removed from the
    table (nothing at all; its connections end with expire_nodest_conn); enabled: back with its
    spec weight and thresholds. ``present``: whether the server is in the table now; ``mark``:
    the service's firewall mark when IPVS holds it as a firewall-mark service.
    """
    target = ["-r", endpoint(rs.address, ipvs_port(vs, rs) if mark is not None else rs.port)]
    if state == "halted":
        return [["ipvsadm", "-d"] + _vs_args(vs, mark) + target] if present else []
    weight = ipvs_weight(vs, rs, state)
    extra = [FORWARD_FLAG[vs.forwarding], "-w", str(weight)]
    if rs.max_connections:
        extra += ["-x", str(rs.max_connections)]
    if rs.min_connections:
        extra += ["-y", str(rs.min_connections)]
    return [["ipvsadm", "-e" if present else "-a"] + _vs_args(vs, mark) + target + extra]
