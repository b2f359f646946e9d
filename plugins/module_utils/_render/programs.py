# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The programs and the service settings an appliance needs beside its configuration files. Pure.

keepalived runs two helpers that lbkit installs (root-owned, mode 0755: keepalived's script
security refuses anything else): the ping-node check and the VRRP state recorder that
``appliance_info`` reads. And keepalived's command line (``/etc/default/keepalived``) says
whether it runs VRRP only (``--vrrp``, while there is no layer-4 service: keepalived with a
virtual server dies on a kernel without IPVS) or VRRP and IPVS. The appliance engine writes
all three in the same apply as the configuration, so check mode and diff report them too.
"""

from __future__ import annotations

import inspect
import re

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import UnsafeValue
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._monitor import overview, server_state
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import load_agent
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import haproxy
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec import values

DIRECTORY = "/usr/local/libexec/lbkit"
PING_ANY = DIRECTORY + "/ping-any"
VRRP_NOTIFY = DIRECTORY + "/vrrp-notify"
CHECK_NOTIFY = DIRECTORY + "/check-notify"
KEEPALIVED_DEFAULTS = "/etc/default/keepalived"
MODE = 0o755
# Where keepalived's notifications land (the helpers write them, appliance_info and lbkit-metrics read them).
VRRP_STATE = "/run/lbkit/vrrp-lbkit.state"
CHECKS_DIR = "/run/lbkit/checks"

# Monitoring (the spec's monitoring section): the node exporter on loopback, behind HAProxy's
# monitoring endpoint, and lbkit-metrics writing lbkit's series for its textfile collector.
METRICS_PROGRAM = DIRECTORY + "/metrics"
METRICS_UNIT = "/etc/systemd/system/lbkit-metrics.service"
NODE_EXPORTER_DROPIN = "/etc/systemd/system/prometheus-node-exporter.service.d/lbkit.conf"
NODE_EXPORTER_LISTEN = ("127.0.0.1", 9100)
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
METRICS_FILE = TEXTFILE_DIR + "/lbkit.prom"
METRICS_INTERVAL = 2
# The daemons whose state the node exporter's systemd collector reports.
WATCHED_UNITS = ("keepalived", "haproxy", "lbkit-metrics")
MONITORING_PACKAGES = ("prometheus-node-exporter",)

# HAProxy's server states across reloads and restarts (docs/engine-mapping.md): the unit's
# drop-in saves them before each reload and stop, haproxy.cfg loads them (server-state-file).
SERVER_STATE_PROGRAM = DIRECTORY + "/haproxy-server-state"
SERVER_STATE_FILE = haproxy.SERVER_STATE_FILE
HAPROXY_DROPIN = "/etc/systemd/system/haproxy.service.d/lbkit.conf"

PING_ANY_TEXT = """#!/bin/sh
# Installed by lbkit.loadbalancer. keepalived's ping-node check: succeeds when any of the
# addresses given as arguments answers one ping, so the node keeps the master role only
# while its network works.
for address in "$@"; do
    if ping -n -q -c 1 -W 1 "$address" >/dev/null 2>&1; then
        exit 0
    fi
done
exit 1
"""

VRRP_NOTIFY_TEXT = """#!/bin/sh
# Installed by lbkit.loadbalancer. keepalived calls it on every VRRP state change
# (notify TYPE NAME STATE PRIORITY); lbkit.loadbalancer.appliance_info reads the result.
set -eu
mkdir -p /run/lbkit
tmp=$(mktemp /run/lbkit/.vrrp.XXXXXX)
printf '%s %s %s\\n' "$3" "${4:-0}" "$(date +%s)" > "$tmp"
mv "$tmp" "/run/lbkit/vrrp-$2.state"
"""

CHECK_NOTIFY_TEXT = """#!/bin/sh
# Installed by lbkit.loadbalancer. keepalived calls it when a real server's health check
# passes or fails (check-notify up|down KEY); the status overview and lbkit-metrics read it
# to tell a layer-4 real server that is down from one halted by the operator.
set -eu
case "$1" in up|down) ;; *) exit 2 ;; esac
case "$2" in ""|.*|*/*) exit 2 ;; esac
mkdir -p %(dir)s
tmp=$(mktemp %(dir)s/.check.XXXXXX)
printf '%%s %%s\\n' "$1" "$(date +%%s)" > "$tmp"
mv "$tmp" "%(dir)s/$2"
""" % dict(dir=CHECKS_DIR)

# Adaptive scheduling's load agent (_realserver/load_agent.py): on the real servers it serves their
# load (the realserver role installs it); on the appliance keepalived's adaptive check asks it.
LOAD_AGENT = load_agent.INSTALLED

# {path: text} of the helper programs.
HELPERS = {PING_ANY: PING_ANY_TEXT, VRRP_NOTIFY: VRRP_NOTIFY_TEXT, CHECK_NOTIFY: CHECK_NOTIFY_TEXT}


def metrics_program():
    """The lbkit-metrics program: the overview module's own source, run by the appliance's python3."""
    return "#!/usr/bin/python3\n" + inspect.getsource(overview)


def load_agent_program():
    """The load agent: the load_agent module's own source."""
    return load_agent.program_text("/usr/bin/python3")


def adaptive_layer4(spec):
    """Whether keepalived asks load agents (a layer-4 service with adaptive scheduling)."""
    return any(vs.layer == 4 and vs.scheduling == "adaptive" for vs in spec.virtual_services)


def server_state_program():
    """The haproxy-server-state program: the server_state module's own source."""
    return "#!/usr/bin/python3\n" + inspect.getsource(server_state)


_UNIT_WORD = re.compile(r"/[A-Za-z0-9_./-]+", re.ASCII)


def _unit_path(path):
    """A path as one word of a systemd unit's command line (no specifier, quote or blank to escape)."""
    if not _UNIT_WORD.fullmatch(path):
        raise UnsafeValue("%r cannot be written into a systemd unit as one path: only letters, digits and _ . / - can be. Nothing was written." % path)
    return path


def metrics_unit(state_path, haproxy_socket):
    """The lbkit-metrics service: a refresh of lbkit's series every few seconds, as root (it reads
    lbkit's state and HAProxy's admin socket); its series go when it stops."""
    state_path, haproxy_socket = _unit_path(state_path), _unit_path(haproxy_socket)
    return """# Managed by lbkit.loadbalancer (monitoring).
[Unit]
Description=lbkit's series for the node exporter (VRRP state, floating addresses, service and real-server status)
After=keepalived.service haproxy.service

[Service]
ExecStartPre=/bin/mkdir -p %(textfile)s
ExecStart=/usr/bin/python3 %(program)s --output %(output)s --interval %(interval)d \\
    --state %(state)s --vrrp-state %(vrrp)s --checks %(checks)s --haproxy-socket %(socket)s
ExecStopPost=/bin/rm -f %(output)s
Restart=always
RestartSec=2
NoNewPrivileges=yes

[Install]
WantedBy=multi-user.target
""" % dict(textfile=TEXTFILE_DIR, program=METRICS_PROGRAM, output=METRICS_FILE, interval=METRICS_INTERVAL, state=state_path, vrrp=VRRP_STATE,
           checks=CHECKS_DIR, socket=haproxy_socket)


def node_exporter_dropin():
    """Debian's node exporter, listening on loopback only (HAProxy serves it to the allowed sources),
    with the textfile collector reading lbkit's series and the systemd collector watching the daemons."""
    return """# Managed by lbkit.loadbalancer (monitoring): the node exporter listens on loopback only; the
# appliance's monitoring endpoint (HAProxy) serves it to the allowed sources at /node/metrics.
[Service]
ExecStart=
ExecStart=/usr/bin/prometheus-node-exporter --web.listen-address=%(address)s:%(port)d \\
    --collector.textfile.directory=%(textfile)s --collector.systemd --collector.systemd.unit-include=(%(units)s)[.]service
""" % dict(address=NODE_EXPORTER_LISTEN[0], port=NODE_EXPORTER_LISTEN[1], textfile=TEXTFILE_DIR, units="|".join(WATCHED_UNITS))


def haproxy_dropin(haproxy_socket):
    """HAProxy's unit, saving the servers' states before each reload and stop. Debian's two
    ExecReload lines (check the file, then signal the master) are restated around the save:
    a drop-in's ExecReload lines would otherwise run after them."""
    save = "-/usr/bin/python3 %s --socket %s --config $CONFIG --output %s" % (SERVER_STATE_PROGRAM, _unit_path(haproxy_socket), SERVER_STATE_FILE)
    return """# Managed by lbkit.loadbalancer: HAProxy keeps its servers' runtime states (drained, halted) across
# reloads and restarts, whoever runs them. The states are saved before each reload and stop, for the
# configuration about to run; haproxy.cfg loads them (server-state-file) when HAProxy starts (before
# the first start, the file is created with no state).
[Service]
ExecReload=
ExecReload=/usr/sbin/haproxy -Ws -f $CONFIG -c -q $EXTRAOPTS
ExecReload=%(save)s
ExecReload=/bin/kill -USR2 $MAINPID
ExecStop=%(save)s
ExecStartPre=-/usr/bin/python3 %(program)s --init --output %(file)s
""" % dict(save=save, program=SERVER_STATE_PROGRAM, file=SERVER_STATE_FILE)


# lbkit's packet marks, outbound NAT and policy routing (lbkit-netfilter.service): one nftables
# table, loaded and taken away as a whole. For transparent layer-7 services (TPROXY), the packets
# of the real servers' replies, addressed to a client, go to HAProxy's socket on the appliance: the
# table marks the packets of a transparent socket's connections, the mark's routing table delivers
# them locally. Autonat and use_for_server_nat translate the real servers' outbound connections.
# A layer-4 service with extra ports is an IPVS firewall-mark service: the table marks its packets.
NETFILTER = "lbkit-netfilter"
NETFILTER_UNIT = "/etc/systemd/system/lbkit-netfilter.service"
NETFILTER_RULES_NAME = "netfilter.nft"
NETFILTER_TABLE = "lbkit"
NETFILTER_PACKAGES = ("nftables",)
TPROXY_MARK = 0x4C42
# The routing table and the rule's priority (ip rule pref) of the TPROXY mark: a number no Debian default uses.
TPROXY_ROUTES = 4242


def transparent_families(spec):
    """The address families (4, 6) of the spec's transparent layer-7 services."""
    return sorted(set(vs.address.version for vs in spec.virtual_services if vs.layer == 7 and vs.layer7.transparent))


def netfilter_wanted(spec):
    """Whether the appliance needs lbkit's nftables table (a transparent layer-7 service, outbound
    NAT, a layer-4 service with extra ports)."""
    return bool(transparent_families(spec)) or bool(outbound_nat(spec)) or bool(firewall_marks(spec))


def firewall_marks(spec):
    """{service name: firewall mark} of the spec's layer-4 services with extra ports."""
    marked = [vs for vs in spec.virtual_services if vs.marked]
    marks = overview.marks_of((vs.protocol, str(vs.address), vs.port) for vs in marked)
    return dict((vs.name, marks[(vs.protocol, str(vs.address), vs.port)]) for vs in marked)


def outbound_nat(spec):
    """[(nft family word, source, translation)] of the real servers' outbound connections, in the
    order nftables must try them: each use_for_server_nat real server to its VIP, then autonat's
    gateway subnets to the external interface's address (``None``: masquerade)."""
    out, seen = [], set()
    for vs in spec.virtual_services:
        if not vs.use_for_server_nat:
            continue
        for rs in vs.real_servers:
            if rs.address not in seen:
                seen.add(rs.address)
                out.append(("ip6" if rs.address.version == 6 else "ip", str(rs.address), str(vs.address)))
    if spec.cluster.autonat:
        for gateway in spec.cluster.gateways():
            network = gateway.address.network
            out.append(("ip6" if network.version == 6 else "ip", str(network), None))
    return out


_NFT_IFNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,14}", re.ASCII)


def _nft_ifname(name, path):
    """An interface name as an nftables string (the spec's pattern, checked again: nothing else is written)."""
    if not isinstance(name, str) or not _NFT_IFNAME.fullmatch(name):
        raise UnsafeValue("%s: %r cannot be written into lbkit's nftables table as an interface name. Nothing was written." % (path, name))
    return '"%s"' % name


def netfilter_rules(spec):
    """lbkit's nftables table for ``spec``, replayed as a whole: the table is emptied, then filled."""
    chains = []
    translations = outbound_nat(spec)
    if translations:
        external = _nft_ifname(spec.cluster.interfaces.external, "/cluster/interfaces/external")
        rules = []
        for family, source, vip in translations:
            action = "snat %s to %s" % (family, vip) if vip else "masquerade"
            rules.append("        %s saddr %s oifname %s %s" % (family, source, external, action))
        chains.append("""    # the real servers' outbound connections to the external side: from a VIP (use_for_server_nat),
    # else from the appliance's external address (autonat); the first rule that matches wins
    chain outbound_nat {
        type nat hook postrouting priority srcnat; policy accept;
%s
    }""" % "\n".join(rules))
    marks = firewall_marks(spec)
    if marks:
        rules = []
        for vs in spec.virtual_services:
            if vs.name in marks:
                ports = ", ".join(values.port_ranges(vs.ports))
                rules.append("        %s daddr %s %s dport { %s } meta mark set 0x%08x"
                             % ("ip6" if vs.address.version == 6 else "ip", vs.address, vs.protocol, ports, marks[vs.name]))
        rules = "\n".join(rules)
        chains.append("""    # layer-4 services with extra ports: a packet to any of a service's ports gets the service's
    # firewall mark, which IPVS schedules by (keepalived's virtual_server fwmark); arriving packets,
    # and the appliance's own connections to a VIP
    chain fwmark_services {
        type filter hook prerouting priority mangle; policy accept;
%s
    }
    chain fwmark_local {
        type route hook output priority mangle; policy accept;
%s
    }""" % (rules, rules))
    if transparent_families(spec):
        chains.append("""    # transparent layer-7 services: the packets of connections HAProxy opened from a client's
    # address (a transparent socket) are marked; the mark's routing table delivers them to HAProxy
    chain transparent_replies {
        type filter hook prerouting priority mangle; policy accept;
        meta l4proto tcp socket transparent 1 meta mark set 0x%x accept
    }""" % TPROXY_MARK)
    return """# Managed by lbkit.loadbalancer: its packet marks and outbound NAT (lbkit-netfilter.service loads this table).
table inet %(table)s
delete table inet %(table)s
table inet %(table)s {
%(chains)s
}
""" % dict(table=NETFILTER_TABLE, chains="\n".join(chains))


def netfilter_unit(rules_path, families):
    """The lbkit-netfilter service: loads lbkit's nftables table and, for each address family
    (``families``: 4, 6) of the transparent services, the policy routing of the TPROXY mark;
    takes all of it away when it stops."""
    rules_path = _unit_path(rules_path)
    start, stop = [], []
    for family in families:
        anywhere = "::/0" if family == 6 else "0.0.0.0/0"
        rule = "/usr/sbin/ip -%d rule del pref %d" % (family, TPROXY_ROUTES)
        start.append("ExecStartPre=-" + rule)
        start.append("ExecStart=/usr/sbin/ip -%d rule add pref %d fwmark 0x%x lookup %d" % (family, TPROXY_ROUTES, TPROXY_MARK, TPROXY_ROUTES))
        start.append("ExecStart=/usr/sbin/ip -%d route replace local %s dev lo table %d" % (family, anywhere, TPROXY_ROUTES))
        stop.append("ExecStop=-" + rule)
        stop.append("ExecStop=-/usr/sbin/ip -%d route flush table %d" % (family, TPROXY_ROUTES))
    return """# Managed by lbkit.loadbalancer: its packet marks, outbound NAT and policy routing.
[Unit]
Description=lbkit's packet marks, outbound NAT and policy routing
After=network.target
Before=haproxy.service keepalived.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft -f %(rules)s
%(start)s
# The table file replaces the whole table in one transaction: no packet meets it half loaded.
ExecReload=/usr/sbin/nft -f %(rules)s
ExecStop=-/usr/sbin/nft delete table inet %(table)s

[Install]
WantedBy=multi-user.target
""" % dict(rules=rules_path, start="\n".join(start + stop), table=NETFILTER_TABLE)


def keepalived_mode(spec):
    """'VRRP only' without a layer-4 service, else 'VRRP and IPVS'."""
    return "VRRP and IPVS" if any(vs.layer == 4 for vs in spec.virtual_services) else "VRRP only"


def keepalived_defaults(mode):
    """/etc/default/keepalived for a mode of ``keepalived_mode``."""
    return '# Managed by lbkit.loadbalancer.\nDAEMON_ARGS="%s"\n' % ("--vrrp" if mode == "VRRP only" else "")


def mode_of_defaults(text):
    """The mode an /etc/default/keepalived runs keepalived in (``None``, no such file: keepalived's
    default command line, VRRP and IPVS)."""
    for line in (text or "").splitlines():
        words = line.strip()
        if words.startswith("DAEMON_ARGS=") and "--vrrp" in words.split("#", 1)[0]:
            return "VRRP only"
    return "VRRP and IPVS"
