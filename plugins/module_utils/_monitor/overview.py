# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The appliance's status overview (the manuals' four states) and its Prometheus series.

Standard library only, and nothing imported from the collection: ``appliance_info`` imports it
for the overview, and the appliance engine installs this very file as the ``lbkit-metrics``
program, which rewrites the series for the node exporter's textfile collector every few
seconds (``python3 metrics --output FILE``). One file, so the status playbook and the metrics
can never disagree on what "down" or "drained" means.

A real server is ``up``, ``down`` (its health check fails), ``drained`` (weight 0: it keeps its
connections, gets no new ones) or ``halted`` (taken out of service by the operator). A virtual
service is ``healthy`` (no real server down), ``degraded`` (one down, another up), ``down`` (none up,
one down) or ``drained`` (none up and none down: every one drained or halted, or it has none):
the manuals' green, yellow, red and blue.
"""

from __future__ import annotations

import argparse
import csv
import io
import ipaddress
import json
import os
import re
import socket
import sys
import time
import zlib

REAL_SERVER_STATUSES = ("up", "down", "drained", "halted")
SERVICE_STATUSES = ("healthy", "degraded", "down", "drained")
VRRP_STATES = ("master", "backup", "fault", "stopped", "unknown")
# The HAProxy proxy of a layer-7 service is this prefix and the service's name (_render/haproxy.py).
PROXY_PREFIX = "vs_"
# A sub service's backend: vs_<service>:<sub service>
SUB_SEPARATOR = ":"


# --- the overview (pure) ----------------------------------------------------------------------


def check_key(protocol, vip, vport, rip, rport):
    """The name of the file keepalived's health-check notifications write for one real server."""
    return "%s_%s_%d_%s_%d" % (protocol, vip, int(vport), rip, int(rport))


def layer7_status(entry):
    """A real server's status from its ``show stat`` entry ({status, weight}; None: HAProxy runs no such server)."""
    if entry is None:
        return "down"
    status = (entry.get("status") or "").upper()
    if status.startswith("MAINT"):
        return "halted"
    if status.startswith("DOWN") or status.startswith("NOLB"):
        return "down"
    if status.startswith("DRAIN") or entry.get("weight") == 0:
        return "drained"
    return "up"


def layer4_status(entry, check, spec_state):
    """A real server's status from its IPVS entry ({weight}; None: not in the table), the last
    health-check result keepalived notified ('up', 'down' or None: none since it started) and its
    state in the applied spec. keepalived takes a server whose check fails out of the table; a
    server halted by the spec or at runtime is not in it either, while its check passes."""
    if entry is not None:
        return "drained" if entry.get("weight") == 0 else "up"
    if spec_state == "halted" or check != "down":
        return "halted"
    return "down"


def service_status(statuses):
    """A virtual service's status from its real servers' statuses."""
    up = "up" in statuses
    down = "down" in statuses
    if down:
        return "degraded" if up else "down"
    return "healthy" if up else "drained"


def _endpoint_key(address):
    """Addresses compared in one spelling (IPv6 has several)."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


def overview(state, ipvs=None, haproxy=None, checks=None):
    """Every virtual service of an applied ``state`` (state.json) with its status and its real servers'.

    ``ipvs``: {(protocol, vip, vport): {(rip, rport): {weight, active}}}, the kernel's table;
    ``haproxy``: {(proxy, server): {status, weight, current_sessions}}, HAProxy's ``show stat``
    (None: HAProxy does not answer); ``checks``: {check_key(...): 'up' or 'down'}.
    """
    ipvs = dict(((p, _endpoint_key(a), int(port)), dict(((_endpoint_key(ra), int(rp)), v) for (ra, rp), v in rows.items()))
                for (p, a, port), rows in (ipvs or {}).items())
    haproxy = haproxy or {}
    checks = checks or {}
    out = []
    services = (state or {}).get("virtual_services", {})
    for key in sorted(services, key=lambda k: (services[k]["name"], k)):
        svc = services[key]
        vip, vport, protocol = _endpoint_key(svc["address"]), svc["port"], svc["protocol"]
        table = ipvs.get((protocol, vip, vport), {})
        servers = []
        # a service with sub services: each sub service's real servers, in its own HAProxy backend
        groups = [(None, svc)] + sorted((svc.get("sub_services") or {}).items())
        rows = [(sub, rs) for sub, group in groups
                for rs in sorted(group.get("real_servers", {}).values(), key=lambda r: (r["name"], r["address"], r["port"]))]
        for sub, rs in rows:
            rip, rport = _endpoint_key(rs["address"]), rs["port"]
            if svc["layer"] == 7:
                proxy = PROXY_PREFIX + svc["name"] + (SUB_SEPARATOR + sub if sub else "")
                entry = haproxy.get((proxy, rs["name"]))
                status = layer7_status(entry)
                weight = entry.get("weight", 0) if entry else 0
                # with alternate source addresses, a server per address (_render/haproxy.line_names; this module is the
                # standalone lbkit-metrics program): their sessions together
                lines = [rs["name"]] + ["%s_src%d" % (rs["name"], n) for n in range(2, len((svc.get("layer7") or {}).get("source_addresses") or ()) + 1)]
                active = sum((haproxy.get((proxy, name)) or {}).get("current_sessions", 0) for name in lines)
            else:
                entry = table.get((rip, rport))
                status = layer4_status(entry, checks.get(check_key(protocol, vip, vport, rip, rport)), rs.get("state"))
                weight = entry.get("weight", 0) if entry else 0
                active = entry.get("active", 0) if entry else 0
            servers.append(dict(name=rs["name"], address=rs["address"], port=rport, status=status, weight=weight, active=active))
            if sub:
                servers[-1]["sub_service"] = sub
        out.append(dict(name=svc["name"], address=svc["address"], port=vport, protocol=protocol, layer=svc["layer"],
                        status=service_status([s["status"] for s in servers]), real_servers=servers))
    return out


def floating_addresses(state):
    """[(address, name)] of every floating address an applied state puts on the master."""
    names = {}
    for svc in sorted((state or {}).get("virtual_services", {}).values(), key=lambda s: s["name"]):
        names.setdefault(_endpoint_key(svc["address"]), []).append(svc["name"])
    for address, fip in sorted((state or {}).get("cluster", {}).get("floating_ips", {}).items()):
        names.setdefault(_endpoint_key(address.split("/")[0]), []).append(fip.get("name") or address)
    return sorted((address, ",".join(sorted(set(label)))) for address, label in names.items())


# --- the series (pure) ------------------------------------------------------------------------


def _escape(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _series(name, labels, value):
    return "%s{%s} %s" % (name, ",".join('%s="%s"' % (k, _escape(v)) for k, v in labels), value)


HELP = (
    ("lbkit_metrics_updated_timestamp_seconds", "gauge", "When lbkit-metrics last refreshed these series (Unix time)."),
    ("lbkit_vrrp_state", "gauge", "1 for this node's VRRP state (stopped: keepalived is not running), 0 for the others."),
    ("lbkit_vrrp_priority", "gauge", "This node's VRRP priority in the applied spec."),
    ("lbkit_floating_address_held", "gauge", "1 when this node holds the floating address (a VIP or a floating IP)."),
    ("lbkit_virtual_service_status", "gauge", "1 for the service's status: healthy, degraded (a real server down), down (none up), drained."),
    ("lbkit_real_server_status", "gauge", "1 for the real server's status: up, down (its health check fails), drained or halted."),
    ("lbkit_real_server_weight", "gauge", "The weight the engine gives the real server now."),
    ("lbkit_real_server_active_connections", "gauge", "The real server's connections now (IPVS active connections, HAProxy sessions)."),
)


def render(state, vrrp_state, held, services, now):
    """The text of the textfile collector's file: lbkit's series for one node."""
    cluster = (state or {}).get("cluster", {})
    base = [("cluster", cluster.get("name", "")), ("host", cluster.get("host", ""))]
    rows = dict((name, []) for name, dummy, dummy in HELP)
    rows["lbkit_metrics_updated_timestamp_seconds"].append(_series("lbkit_metrics_updated_timestamp_seconds", base, "%.3f" % now))
    for value in VRRP_STATES:
        rows["lbkit_vrrp_state"].append(_series("lbkit_vrrp_state", base + [("state", value)], int(value == vrrp_state)))
    if "priority" in cluster:
        rows["lbkit_vrrp_priority"].append(_series("lbkit_vrrp_priority", base, cluster["priority"]))
    for address, name in floating_addresses(state):
        rows["lbkit_floating_address_held"].append(
            _series("lbkit_floating_address_held", base + [("address", address), ("name", name)], int(address in held)))
    for svc in services:
        where = base + [("service", svc["name"]), ("address", svc["address"]), ("port", svc["port"]), ("protocol", svc["protocol"]),
                        ("layer", svc["layer"])]
        for value in SERVICE_STATUSES:
            rows["lbkit_virtual_service_status"].append(_series("lbkit_virtual_service_status", where + [("status", value)], int(value == svc["status"])))
        for rs in svc["real_servers"]:
            rs_where = base + [("service", svc["name"])] + ([("sub_service", rs["sub_service"])] if rs.get("sub_service") else []) + [
                ("real_server", rs["name"]), ("address", rs["address"]), ("port", rs["port"]), ("layer", svc["layer"])]
            for value in REAL_SERVER_STATUSES:
                rows["lbkit_real_server_status"].append(_series("lbkit_real_server_status", rs_where + [("status", value)], int(value == rs["status"])))
            rows["lbkit_real_server_weight"].append(_series("lbkit_real_server_weight", rs_where, rs["weight"]))
            rows["lbkit_real_server_active_connections"].append(_series("lbkit_real_server_active_connections", rs_where, rs["active"]))
    out = []
    for name, kind, text in HELP:
        out.append("# HELP %s %s" % (name, text))
        out.append("# TYPE %s %s" % (name, kind))
        out.extend(rows[name])
    return "\n".join(out) + "\n"


# --- reading the appliance (the lbkit-metrics program) -----------------------------------------


def _hex_endpoint(text):
    """'AC1E4D65:1F90' or '[20010DB8...]:0050' (/proc/net/ip_vs) -> ('172.30.77.101', 8080)."""
    host, port = text.rsplit(":", 1)
    host = host.strip("[]")
    if len(host) == 8:
        address = str(ipaddress.IPv4Address(int(host, 16)))
    else:
        address = str(ipaddress.IPv6Address(int(host.replace(":", ""), 16)))
    return address, int(port, 16)


# The firewall marks of layer-4 services with extra ports (IPVS schedules them by mark): 24 bits
# drawn from the service's protocol, address and port, above a prefix of lbkit's own.
FWMARK_BASE = 0x4C000000
FWMARK_SPAN = 1 << 24


def service_fwmark(protocol, address, port):
    """The firewall mark a layer-4 service with extra ports starts from (``marks_of`` settles coincidences)."""
    key = "%s %s %d" % (protocol, address, port)
    return FWMARK_BASE + zlib.crc32(key.encode("ascii")) % FWMARK_SPAN


def marks_of(services):
    """{key: mark} for the keys (protocol, address, port) of layer-4 services with extra ports.

    Each service keeps the mark its key gives as long as its protocol, address and port stay (a
    converge that changes its ports changes no mark); when two keys give the same mark, the later
    in sorted order takes the next free one.
    """
    out, taken = {}, set()
    for key in sorted(set(services), key=lambda k: (k[0], str(k[1]), k[2])):
        mark = service_fwmark(*key)
        while mark in taken:
            mark = FWMARK_BASE + (mark - FWMARK_BASE + 1) % FWMARK_SPAN
        taken.add(mark)
        out[key] = mark
    return out


def state_marks(state):
    """{mark: (protocol, address, port, ports)} of the layer-4 services with extra ports of a recorded
    state (what IPVS runs after that apply): how the IPVS table's firewall-mark services read."""
    services = {}
    for svc in (state or {}).get("virtual_services", {}).values():
        ports = sorted(set([svc["port"]] + list(svc.get("extra_ports") or [])))
        if svc.get("layer") == 4 and len(ports) > 1:
            services[(svc["protocol"], svc["address"], svc["port"])] = tuple(ports)
    return dict((mark, key + (services[key],)) for key, mark in marks_of(services).items())


def parse_proc_ip_vs(text, marks=None):
    """/proc/net/ip_vs -> {(protocol, vip, vport): {(rip, rport): {weight, active, inactive}}}.

    A firewall-mark service reads as the service ``marks`` ({mark: (protocol, address, port,
    ports)}, ``state_marks``) says it marks, its real servers on port 0 as on the service's port;
    one lbkit does not mark is left out.
    """
    table, current, port_of_zero = {}, None, None
    for line in (text or "").splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in ("TCP", "UDP", "SCTP"):
            address, port = _hex_endpoint(words[1])
            current, port_of_zero = table.setdefault((words[0].lower(), address, port), {}), None
        elif len(words) >= 2 and words[0] == "FWM":
            known = (marks or {}).get(int(words[1], 16)) if re.fullmatch("[0-9A-Fa-f]{1,8}", words[1]) else None
            current, port_of_zero = (table.setdefault(known[:3], {}), known[2]) if known else (None, None)
        elif len(words) >= 6 and words[0] == "->" and current is not None and words[1] != "RemoteAddress:Port":
            address, port = _hex_endpoint(words[1])
            port = port_of_zero if port == 0 and port_of_zero is not None else port
            current[(address, port)] = dict(weight=int(words[3]), active=int(words[4]), inactive=int(words[5]))
    return table


def parse_show_stat(text):
    """HAProxy's ``show stat`` CSV -> {(proxy, server): {status, weight, current_sessions}} for the servers."""
    out = {}
    reader = csv.reader(io.StringIO((text or "").lstrip("# ")))
    header = next(reader, None)
    if not header or "pxname" not in header or "svname" not in header:
        return out
    index = dict((name, header.index(name)) for name in ("pxname", "svname", "status", "weight", "scur") if name in header)
    for row in reader:
        if len(row) <= max(index.values()):
            continue
        name = row[index["svname"]]
        if name in ("FRONTEND", "BACKEND"):
            continue
        weight, scur = row[index["weight"]], row[index["scur"]]
        out[(row[index["pxname"]], name)] = dict(status=row[index["status"]], weight=int(weight) if weight.isdigit() else 0,
                                                 current_sessions=int(scur) if scur.isdigit() else 0)
    return out


def read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def unix_request(path, text, timeout):
    """Send one line to a Unix socket and return the whole answer (HAProxy's runtime API); raises OSError."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        sock.sendall(text.encode("ascii") + b"\n")
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    finally:
        sock.close()
    return b"".join(chunks).decode("utf-8", "replace")


def haproxy_stat(path, timeout=2.0):
    """HAProxy's servers from its admin socket, or None when it does not answer."""
    try:
        return parse_show_stat(unix_request(path, "show stat", timeout))
    except OSError:
        return None


def read_checks(directory, since):
    """{check_key: 'up' or 'down'} from keepalived's health-check notifications newer than ``since``
    (a file from before keepalived started describes a checker that no longer runs)."""
    out = {}
    try:
        names = os.listdir(directory)
    except OSError:
        return out
    for name in names:
        path = os.path.join(directory, name)
        try:
            if os.stat(path).st_mtime < since:
                continue
        except OSError:
            continue
        words = (read_text(path) or "").split()
        if words and words[0] in ("up", "down"):
            out[name] = words[0]
    return out


def keepalived_started(pid_file):
    """When the running keepalived started (its pid file's time), or None when it does not run."""
    try:
        pid = int((read_text(pid_file) or "").strip())
        os.kill(pid, 0)
        return os.stat(pid_file).st_mtime
    except (ValueError, OSError):
        return None


def vrrp_state(state, recorded, started):
    """This node's VRRP state: keepalived's last notification, 'stopped' when it does not run."""
    if started is None:
        return "stopped"
    if (state or {}).get("cluster", {}).get("mode") == "single":
        return "master"
    words = (recorded or "").split()
    return words[0].lower() if words and words[0].lower() in VRRP_STATES else "unknown"


def local_addresses(fib_trie, if_inet6):
    """The addresses of this node's interfaces, from /proc/net/fib_trie (IPv4: the entries marked
    'host LOCAL') and /proc/net/if_inet6 (IPv6), both of the node's own network namespace."""
    out = set()
    previous = None
    for line in (fib_trie or "").splitlines():
        words = line.split()
        if len(words) == 2 and words[0] in ("|--", "+--"):
            previous = words[1]
        elif previous and "/32 host LOCAL" in line:
            out.add(previous)
    for line in (if_inet6 or "").splitlines():
        words = line.split()
        if words and len(words[0]) == 32:
            try:
                out.add(str(ipaddress.IPv6Address(int(words[0], 16))))
            except ValueError:
                continue
    return out


def collect(args, now=None):
    """One refresh: the file's text from what the appliance holds now."""
    state = json.loads(read_text(args.state) or "null")
    started = keepalived_started(args.keepalived_pid)
    services = overview(
        state,
        ipvs=parse_proc_ip_vs(read_text(args.ip_vs), state_marks(state)),
        haproxy=haproxy_stat(args.haproxy_socket),
        checks=read_checks(args.checks, started) if started is not None else {},
    )
    held = local_addresses(read_text(args.fib_trie), read_text(args.if_inet6))
    return render(state, vrrp_state(state, read_text(args.vrrp_state), started), held, services, time.time() if now is None else now)


def write(path, text):
    """Replace ``path`` at once (the collector never reads half a file)."""
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="lbkit-metrics", description="Write lbkit's series for the node exporter's textfile collector.")
    parser.add_argument("--output", required=True, help="the .prom file to write")
    parser.add_argument("--state", default="/etc/lbkit/state.json")
    parser.add_argument("--vrrp-state", default="/run/lbkit/vrrp-lbkit.state")
    parser.add_argument("--checks", default="/run/lbkit/checks")
    parser.add_argument("--keepalived-pid", default="/run/keepalived.pid")
    parser.add_argument("--haproxy-socket", default="/run/haproxy/admin.sock")
    parser.add_argument("--ip-vs", default="/proc/net/ip_vs")
    parser.add_argument("--fib-trie", default="/proc/net/fib_trie")
    parser.add_argument("--if-inet6", default="/proc/net/if_inet6")
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--once", action="store_true", help="write once and exit")
    args = parser.parse_args(argv)
    while True:
        try:
            write(args.output, collect(args))
        except (OSError, ValueError) as exc:
            sys.stderr.write("lbkit-metrics: %s\n" % exc)
            sys.stderr.flush()
            if args.once:
                return 1
        if args.once:
            return 0
        time.sleep(args.interval)


if __name__ == "__main__":
    raise SystemExit(main())
