"""The IPVS data-plane scenarios: real packets through keepalived and the kernel's IPVS.

Each scenario builds its hosts (tests/ipvs/netlab.py), converges them with the collection itself
and returns *observations*: which real server answered each request, what the real servers
saw, what IPVS counted, what appliance_info said. tests/ipvs/test_ipvs.py judges them.

Driven by the collection, never by hand-written configurations:
- an appliance's keepalived.conf and sysctls are what ``lbkit.loadbalancer.appliance`` renders
  for the scenario's spec (``state: rendered``, run on the appliance host itself, so its host
  checks see the host's own interfaces); the scenario installs them where the module writes
  them and starts keepalived (there is no systemd here to start it);
- a real server is changed by ``lbkit.loadbalancer.realserver_linux`` (``persist: false``: no
  boot files in a lab), with the arguments the ``realserver`` role derives from the spec;
- runtime changes go through ``lbkit.loadbalancer.real_server``, diagnoses through
  ``lbkit.loadbalancer.appliance_info``.
Only the deliberate mistakes that reproduce a failure are made by hand, and say so.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
import traceback

from netlab import Lab, wait_for

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer.py")
NET = "10.77.0."
INTERNAL = "10.77.1."
VIP = NET + "100"
STICKY_VIP = NET + "101"
CLIENT = NET + "10"
SERVICE = VIP + ":80"
RS1, RS2 = NET + "21:80", NET + "22:80"
KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"
# The drain scenario's long request, and the HA pair's load runs (a new connection every 20 ms;
# the link is cut or restored CUT_AFTER seconds in).
HOLD_SECONDS = 15
LOAD_SECONDS = 12
LOAD_INTERVAL = 0.05
CUT_AFTER = 4


# --- specs -----------------------------------------------------------------------------------


def spec_for(forwarding="dr", real_port=80, appliances=("lb1",), service=None, cluster=None, extra=()):
    """The scenario's cluster spec: a layer-4 service "web" on VIP:80 with rs1 and rs2 (and
    ``extra`` services: (name, address, overrides) on the same real servers)."""
    nodes = [{"host": name, "heartbeat_address": NET + str(11 + i), "priority": 150 - 50 * i} for i, name in enumerate(appliances)]
    prefix = INTERNAL if forwarding == "nat" else NET
    vs = {
        "name": "web",
        "address": VIP,
        "port": 80,
        "layer": 4,
        "forwarding": forwarding,
        "scheduling": "round_robin",
        # A check that a stalled emulated guest does not fail: two seconds to connect, two retries.
        "health_check": {"type": "tcp", "interval": 3, "timeout": 2, "retries": 2},
        "real_servers": [
            {"name": "rs1", "address": prefix + "21", "port": real_port},
            {"name": "rs2", "address": prefix + "22", "port": real_port},
        ],
    }
    vs.update(service or {})
    services = [vs]
    for name, address, overrides in extra:
        services.append(dict(vs, name=name, address=address, **overrides))
    spec = {
        "cluster": {"name": "ipvs-lab", "nodes": nodes, "ha": {"mode": "pair" if len(appliances) == 2 else "single"}},
        "virtual_services": services,
    }
    if len(appliances) == 2:
        spec["cluster"]["ha"].update(virtual_router_id=77, preempt=True)
    for key, value in (cluster or {}).items():
        spec["cluster"][key] = value
    return spec


# --- bringing hosts up -----------------------------------------------------------------------


class ScenarioError(RuntimeError):
    """The scenario could not set up what it observes (a module failed, a daemon died)."""


def module(host, name, args):
    result = host.module(name, args)
    if result.get("failed"):
        raise ScenarioError("%s on %s failed: %s" % (name, host.name, result.get("msg")))
    return result


def render(host, spec):
    """What lbkit.loadbalancer.appliance renders for this host: {path: content or None}."""
    return module(host, "appliance", {"spec": spec, "host": host.name, "state": "rendered"})["rendered"]


def install(host, rendered):
    """Put rendered files where the appliance module writes them; apply the rendered sysctls.

    A modules-load.d file is not written (that directory is the machine's, not the lab host's):
    its modules are loaded, as the appliance module loads them before it writes the sysctls
    that need them (sorted paths put /etc/modules-load.d before /etc/sysctl.d).
    """
    for path, content in sorted(rendered.items()):
        if content is None:
            continue
        if path.startswith("/etc/modules-load.d/"):
            for name in [line.strip() for line in content.splitlines() if line.strip() and not line.startswith("#")]:
                host.run(["modprobe", name])
            continue
        host.write(path, content, 0o600 if path == KEEPALIVED_CONF else 0o644)
        if path.startswith("/etc/sysctl.d/"):
            host.run(["sysctl", "-q", "-p", path])


def reload_with(host, rendered):
    """A converge to other files: install them and reload keepalived, as the appliance module does."""
    install(host, rendered)
    os.kill(keepalived_pid(host), signal.SIGHUP)


def start_appliance(host, spec, rendered=None):
    """Install what the appliance module renders for this host and start keepalived on it."""
    rendered = rendered or render(host, spec)
    install(host, rendered)
    # The role runs keepalived this way (no --vrrp: there are layer-4 services).
    proc = host.spawn(["keepalived", "--dont-fork", "--log-console", "--log-detail", "-f", KEEPALIVED_CONF], "keepalived")
    services = len([vs for vs in spec["virtual_services"] if vs.get("layer") == 4])
    wait_for(lambda: proc.poll() is None and len(ipvs_services(host)) >= services, 30, what="keepalived loading the IPVS services on %s" % host.name)
    if proc.poll() is not None:
        raise ScenarioError("keepalived on %s exited %s; see %s" % (host.name, proc.returncode, proc.log_path))
    return rendered, proc


def start_server(host, name, port):
    """peer.py's HTTP server on ``port`` (or each of a list of ports)."""
    ports = list(port) if isinstance(port, (list, tuple)) else [port]
    # each server its own log: a second server on the same host must not add to the first one's requests
    proc = host.spawn_python([PEER, "serve", name, ",".join(str(p) for p in ports)], "-".join(["http"] + [str(p) for p in ports]))
    wait_for(lambda: all(":%d " % p in host.run(["ss", "-ltnH"]).stdout for p in ports), 30, what="%s listening on %s" % (name, ports))
    return proc


def checker_log(proc):
    """What keepalived (its process ``proc``) logged about failed checks and real servers it removed."""
    with open(proc.log_path, errors="replace") as handle:
        return [line.strip() for line in handle if "failed" in line or "Removing service" in line or "Adding service" in line]


def server_log(proc):
    """The requests (or datagrams) a real server logged: [{t, client, local, path or call_id}]."""
    with open(proc.log_path) as handle:
        return [line for line in (json.loads(text) for text in handle if text.startswith("{")) if "client" in line]


def fix_real_server(host, vips=(), ports=(), tunnel=False, gateway_from=None):
    """realserver_linux with what the realserver role passes for this host's services."""
    args = {"vips": list(vips), "persist": False, "listen_ports": list(ports)}
    if tunnel:
        args["tunnel"] = True
    if gateway_from:
        args["gateway_from"] = list(gateway_from)
    return module(host, "realserver_linux", args)


# --- observing -------------------------------------------------------------------------------


def client_get(client, count, url="http://%s/" % VIP, interval=0.0, timeout=3.0, parallel=False, source=None, ports=None):
    argv = [PEER, "get", url, str(count), "--interval", str(interval), "--timeout", str(timeout)]
    if parallel:
        argv.append("--parallel")
    if source:
        argv += ["--source", source]
    if ports:
        argv += ["--ports", ",".join(str(p) for p in ports)]
    return json.loads(client.python(argv, timeout=count * (timeout + interval) + 60).stdout)


def ipvs_services(host):
    return [line for line in host.run(["ipvsadm", "-Ln"], check=False).stdout.splitlines() if line.startswith(("TCP", "UDP"))]


def ipvs_table(host, service=SERVICE):
    """{"address:port": (weight, active connections)} of one IPVS service's real servers."""
    out, current = {}, None
    for line in host.run(["ipvsadm", "-Ln"]).stdout.splitlines():
        words = line.split()
        if words and words[0] in ("TCP", "UDP"):
            current = words[1]
        elif current == service and len(words) >= 6 and words[0] == "->" and words[1][0].isdigit():
            out[words[1]] = (int(words[3]), int(words[4]))
    return out


def ipvs_real_servers(host, service=SERVICE):
    """{"address:port": weight} of one IPVS service's real servers."""
    return dict((k, v[0]) for k, v in ipvs_table(host, service).items())


def ipvs_active(host, service=SERVICE):
    return dict((k, v[1]) for k, v in ipvs_table(host, service).items())


def stats_after(lb, before, answered, service=SERVICE):
    """IPVS's counters for ``service`` since ``before``, once they count the ``answered`` connections.

    The kernel folds its per-CPU counters into what ipvsadm shows every two seconds or so.
    """
    def delta():
        after = ipvs_stats(lb)
        return dict((k, after[service][k] - before.get(service, {}).get(k, 0)) for k in after[service])

    deadline = time.monotonic() + 10
    out = delta()
    while out["conns"] < answered and time.monotonic() < deadline:
        time.sleep(0.5)
        out = delta()
    return out  # a shortfall after 10 s is left for the test to name


def keepalived_pid(host):
    return int(host.read("/run/keepalived.pid").strip())


def read_conf(host):
    return host.read(KEEPALIVED_CONF)


def holds(host, address):
    return any(a == address for dummy, a in host.addresses())


def link_rx_packets(host, ifname):
    link = json.loads(host.ip(["-json", "-s", "link", "show", ifname]).stdout)[0]
    return link["stats64"]["rx"]["packets"]


def ipvs_stats(host):
    """{service: {conns, in_packets, out_packets}} from ``ipvsadm -Ln --stats``."""
    out = {}
    for line in host.run(["ipvsadm", "-Ln", "--stats"]).stdout.splitlines():
        words = line.split()
        if len(words) == 7 and words[0] in ("TCP", "UDP"):
            out[words[1]] = {"conns": _count(words[2]), "in_packets": _count(words[3]), "out_packets": _count(words[4])}
    return out


def _count(text):
    units = {"K": 1000, "M": 1000 ** 2, "G": 1000 ** 3}
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


def only_lines(diagnosis, prefix):
    """The lines of appliance_info's diagnosis about one service (``VIP:port``)."""
    return [line for line in diagnosis if line.startswith(prefix)]


def arp_answers(client, address, ifname="eth0"):
    """The MAC addresses that answer an ARP request for ``address`` (arping, 3 requests)."""
    client.ip(["neigh", "flush", "dev", ifname])
    out = client.run(["arping", "-c", "3", "-w", "5", "-I", ifname, address], check=False).stdout
    return sorted(set(m.lower() for m in re.findall(r"from \S+ \[?([0-9A-Fa-f:]{17})\]?", out)))


def neighbour_mac(client, address):
    for entry in json.loads(client.ip(["-json", "neigh", "show", address]).stdout or "[]"):
        if entry.get("lladdr"):
            return entry["lladdr"].lower()
    return None


def capture_start(host, bpf, ifname="eth0"):
    proc = host.spawn(["tcpdump", "-i", ifname, "-e", "-n", "-l", "-s", "128", bpf], "tcpdump")
    wait_for(lambda: "listening on" in open(proc.log_path).read(), 30, what="tcpdump on %s" % host.name)
    return proc


def capture_source_macs(host, proc):
    """Stop the capture; the source MAC of every frame it saw."""
    time.sleep(0.5)
    host.stop(proc)
    with open(proc.log_path) as handle:
        return [line.split()[1].lower() for line in handle if re.match(r"^\d\d:\d\d:\d\d\.\d+ [0-9a-f:]{17} >", line)]


def info(host, spec):
    return module(host, "appliance_info", {"spec": spec, "host": host.name})


def statuses(host, spec):
    """{service: (status, {real server: status})} of appliance_info's status overview."""
    return dict((svc["name"], (svc["status"], dict((rs["name"], rs["status"]) for rs in svc["real_servers"])))
                for svc in info(host, spec)["status"])


def summary(results):
    """Per-request results -> {answered: {server: n}, failed: n, seen: {server: [client addresses]}}."""
    answered, seen = {}, {}
    for r in results:
        if r["ok"]:
            answered[r["server"]] = answered.get(r["server"], 0) + 1
            seen.setdefault(r["server"], set()).add(r["seen"])
    return {
        "answered": answered,
        "order": [r["server"] for r in results if r["ok"]],
        "failed": len([r for r in results if not r["ok"]]),
        "errors": sorted(set(r["error"] for r in results if not r["ok"]))[:5],
        "seen": dict((k, sorted(v)) for k, v in seen.items()),
    }


# --- labs and scenarios ----------------------------------------------------------------------
#
# Scenarios that can share hosts run one after another in one lab (a lab costs a few Python
# starts per host under emulation): each scenario function takes the lab's context and leaves
# it usable for the next one.


class Context(object):
    def __init__(self, lab, log):
        self.lab = lab
        self.log = log
        self.hosts, self.macs, self.ports, self.cables = {}, {}, {}, {}
        self.servers = {}
        self.keepalived = {}
        self.haproxy = {}
        self.spec = None
        self.fixed = False

    def __getitem__(self, name):
        return self.hosts[name]

    def plug(self, name, ifname, switch, address):
        self.hosts[name] = self.lab.host(name) if name not in self.hosts else self.hosts[name]
        mac, port = self.lab.connect(self.hosts[name], ifname, switch, address)
        self.macs.setdefault(name, mac)
        self.ports.setdefault(name, port)
        self.cables.setdefault(name, []).append(port)

    def serve(self, names, port):
        for name in names:
            self.servers[name] = start_server(self.hosts[name], name, port)

    def appliances(self, spec, names, rendered=None):
        self.spec = spec
        for name in names:
            self.keepalived[name] = start_appliance(self.hosts[name], spec, rendered)[1]


NUMBERS = {"client": 10, "client2": 13, "lb1": 11, "lb2": 12, "rs1": 21, "rs2": 22, "rs3": 23}


def flat_lab(ctx, names):
    """Hosts on one Ethernet segment, 10.77.0.0/24."""
    for name in names:
        ctx.plug(name, "eth0", "lan", "%s%d/24" % (NET, NUMBERS[name]))


# "web" spreads by round robin; "web-sticky", on a second VIP of the same real servers, keeps
# each client on one real server (source-IP persistence).
FLAT_SPEC = spec_for("dr", extra=[("web-sticky", STICKY_VIP, {"persistence": {"mode": "source_ip", "timeout": "5m"}})])
FLAT_VIPS = [VIP, STICKY_VIP]


def without_rs1(spec):
    """The spec with rs1 removed from the "web" service."""
    out = json.loads(json.dumps(spec))
    web = [vs for vs in out["virtual_services"] if vs["name"] == "web"][0]
    web["real_servers"] = [rs for rs in web["real_servers"] if rs["name"] != "rs1"]
    return out


# The udp scenario's services, added to the flat spec: a DNS-like request/answer service checked
# by keepalived's UDP check, and a SIP service with udp_sip persistence (the SIP Call-ID).
UDP_HEALTH = "health\n".encode().hex()
UDP_SPEC = dict(FLAT_SPEC, virtual_services=FLAT_SPEC["virtual_services"] + [
    dict(FLAT_SPEC["virtual_services"][0], name=name, port=port, protocol="udp",
         health_check={"type": "udp", "payload": UDP_HEALTH, "interval": 2, "timeout": 1, "retries": 1},
         real_servers=[{"name": "rs1", "address": NET + "21", "port": port}, {"name": "rs2", "address": NET + "22", "port": port}],
         **extra)
    for name, port, extra in (("dns", 53, {}), ("sip", 5060, {"persistence": {"mode": "udp_sip", "timeout": "5m"}}))
])
DNS_SERVICE, SIP_SERVICE = VIP + ":53", VIP + ":5060"
DNS_RS1 = NET + "21:53"


# The adaptive scenario's spec: "web" scheduled by its real servers' load, asked every 2 seconds.
ADAPTIVE_WEB = dict(FLAT_SPEC["virtual_services"][0], scheduling="adaptive", adaptive={"port": 3333, "interval": 2})
ADAPTIVE_SPEC = dict(FLAT_SPEC, virtual_services=[ADAPTIVE_WEB] + FLAT_SPEC["virtual_services"][1:])
# Each real server's cgroup may use a fifth of a CPU: one busy loop fills it without starving the
# emulated machine (where each of keepalived's adaptive checks starts a Python).
# web on more ports (one firewall-mark service), then a converge to another port set: 8080 goes, 9000 comes, 80 and 8081 stay.
EXTRA_WEB = dict(FLAT_SPEC["virtual_services"][0], extra_ports="8080-8081")
EXTRA_SPEC = dict(FLAT_SPEC, virtual_services=[EXTRA_WEB] + FLAT_SPEC["virtual_services"][1:])
EXTRA_MOVED_SPEC = dict(FLAT_SPEC, virtual_services=[dict(EXTRA_WEB, extra_ports="8081 9000")] + FLAT_SPEC["virtual_services"][1:])
EXTRA_PORTS = (8080, 8081, 9000)
NETFILTER_TABLE = "/etc/lbkit/netfilter.nft"
ADAPTIVE_QUOTA = 0.2
AGENT_MODULE = "ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.load_agent"


def setup_flat(ctx):
    """One appliance, two Direct Routing real servers (not yet fixed), two clients.

    The files of the flat spec without rs1 (the remove scenario) and with the UDP services (the
    udp scenario) are rendered before keepalived holds the VIPs (see setup_zero_loss).
    """
    flat_lab(ctx, ("client", "client2", "lb1", "rs1", "rs2"))
    ctx.serve(("rs1", "rs2"), 80)
    ctx.flat_files = render(ctx["lb1"], FLAT_SPEC)
    ctx.removed_files = render(ctx["lb1"], without_rs1(FLAT_SPEC))
    ctx.udp_files = render(ctx["lb1"], UDP_SPEC)
    ctx.adaptive_files = render(ctx["lb1"], ADAPTIVE_SPEC)
    ctx.extra_files = render(ctx["lb1"], EXTRA_SPEC)
    ctx.extra_moved_files = render(ctx["lb1"], EXTRA_MOVED_SPEC)
    ctx.appliances(FLAT_SPEC, ("lb1",), ctx.flat_files)


def scenario_dr(ctx):
    """Direct Routing: the ARP problem reproduced and diagnosed, then fixed by realserver_linux."""
    client, lb, rs = ctx["client"], ctx["lb1"], [ctx["rs1"], ctx["rs2"]]
    obs = {"macs": ctx.macs, "keepalived_conf": read_conf(lb)}
    ctx.log("dr: the real servers as they come, without the VIP")
    obs["unfixed"] = summary(client_get(client, 8, timeout=2, parallel=True))
    obs["unfixed_info"] = info(lb, ctx.spec)

    ctx.log("dr: the VIP on lo by hand, without the ARP settings (the common mistake)")
    for h in rs:
        h.ip(["address", "add", VIP + "/32", "dev", "lo"])
    obs["naive_arp"] = arp_answers(client, VIP)
    for h in rs:
        h.ip(["address", "del", VIP + "/32", "dev", "lo"])

    ctx.log("dr: realserver_linux on both real servers")
    obs["realserver"] = [fix_real_server(h, FLAT_VIPS, ports=[80]) for h in rs]
    obs["realserver_again"] = [fix_real_server(h, FLAT_VIPS, ports=[80])["changed"] for h in rs]
    ctx.fixed = True
    obs["fixed_arp"] = arp_answers(client, VIP)
    capture = capture_start(client, "tcp and src host %s" % VIP)
    before = ipvs_stats(lb)
    obs["fixed"] = summary(client_get(client, 20))
    obs["checker_log"] = checker_log(ctx.keepalived["lb1"])
    obs["reply_macs"] = sorted(set(capture_source_macs(client, capture)))
    obs["ipvs_delta"] = stats_after(lb, before, sum(obs["fixed"]["answered"].values()))
    obs["server_clients"] = dict((name, sorted(set(e["client"] for e in server_log(proc)))) for name, proc in ctx.servers.items())
    obs["fixed_info"] = info(lb, ctx.spec)
    return obs


def ensure_fixed(ctx):
    """The Direct Routing real servers fixed by realserver_linux (the dr scenario does it first)."""
    if not ctx.fixed:
        for name in ("rs1", "rs2"):
            fix_real_server(ctx[name], FLAT_VIPS, ports=[80])
        ctx.fixed = True


def scenario_health(ctx):
    """A real server whose service stops leaves the table within the check's timing, and comes back."""
    client, lb = ctx["client"], ctx["lb1"]
    ensure_fixed(ctx)
    hc = ctx.spec["virtual_services"][0]["health_check"]
    obs = {"health_check": hc}
    ctx.log("health: stop rs1's service")
    ctx["rs1"].stop(ctx.servers.pop("rs1"))
    stopped = time.monotonic()
    dummy, obs["removed_after"] = wait_for(lambda: RS1 not in ipvs_real_servers(lb), 60, what="rs1 leaving the IPVS table")
    obs["removed_after"] = round(time.monotonic() - stopped, 2)
    obs["table_without"] = ipvs_real_servers(lb)
    obs["status_down"] = statuses(lb, ctx.spec)
    obs["while_down"] = summary(client_get(client, 10))
    ctx.log("health: start rs1's service again")
    ctx.serve(("rs1",), 80)
    started = time.monotonic()
    wait_for(lambda: RS1 in ipvs_real_servers(lb), 60, what="rs1 coming back to the IPVS table")
    obs["readded_after"] = round(time.monotonic() - started, 2)
    obs["after"] = summary(client_get(client, 10))
    return obs


def scenario_drain(ctx):
    """real_server drains (no new connections, the open one finishes), halts and enables at runtime."""
    client, lb = ctx["client"], ctx["lb1"]
    ensure_fixed(ctx)
    spec = ctx.spec
    obs = {}
    ctx.log("drain: a long request opens a connection")
    # The real server whose active connections rise is the one holding the long connection (an
    # earlier scenario's connection may still count as active on either server).
    before = ipvs_active(lb)
    hold = client.spawn_python([PEER, "hold", "http://%s/slow?s=%d" % (VIP, HOLD_SECONDS)], "hold")
    (held,), dummy = wait_for(lambda: [a for a, n in ipvs_active(lb).items() if n > before.get(a, 0)][:1], 30,
                              what="the long connection in the IPVS table")
    obs["active_before_hold"] = before
    name = {RS1: "rs1", RS2: "rs2"}[held]
    other = "rs2" if name == "rs1" else "rs1"
    obs["held_by"] = name
    reload_pid = keepalived_pid(lb)

    def set_state(state, **extra):
        args = dict({"spec": spec, "service": "web", "real_server": name, "state": state}, **extra)
        return module(lb, "real_server", args)

    obs["weights_before"] = ipvs_real_servers(lb)
    obs["drain"] = set_state("drained")
    obs["weights_drained"] = ipvs_real_servers(lb)
    obs["status_drained"] = statuses(lb, spec)
    obs["while_drained"] = summary(client_get(client, 10))
    obs["drain_wait"] = set_state("drained", wait=True, wait_timeout=HOLD_SECONDS + 30)
    hold.wait(timeout=HOLD_SECONDS + 60)
    with open(hold.log_path) as handle:
        obs["hold"] = json.loads(handle.read().strip().splitlines()[-1])[0]
    obs["halt"] = set_state("halted")
    obs["weights_halted"] = ipvs_real_servers(lb)
    obs["status_halted"] = statuses(lb, spec)
    obs["while_halted"] = summary(client_get(client, 10))
    obs["enable"] = set_state("enabled")
    obs["weights_enabled"] = ipvs_real_servers(lb)
    obs["after_enable"] = summary(client_get(client, 10))
    obs["other"] = other
    obs["keepalived_not_reloaded"] = keepalived_pid(lb) == reload_pid and ctx.keepalived["lb1"].poll() is None
    return obs


def scenario_persistence(ctx):
    """Source-IP persistence keeps each client on one real server; without it, requests spread."""
    ensure_fixed(ctx)
    obs = {"ipvs": ctx["lb1"].run(["ipvsadm", "-Ln"]).stdout}
    for name in ("client", "client2"):
        obs[name] = summary(client_get(ctx[name], 12, url="http://%s/" % STICKY_VIP))
        obs[name + "_without"] = summary(client_get(ctx[name], 6))
    return obs


def scenario_remove(ctx):
    """A real server removed by a converge: a client whose port last went to it is served at once.

    IPVS keeps a connection's entry for minutes after it closed; a client that reuses the port
    meets it. With net.ipv4.vs.expire_nodest_conn at 0 (the kernel's default) IPVS drops its SYNs
    silently once that entry's real server is gone; the appliance renders it as 1. Both are run:
    first with the kernel's default put back by hand, then as rendered.
    """
    client, lb = ctx["client"], ctx["lb1"]
    ensure_fixed(ctx)
    key = "net.ipv4.vs.expire_nodest_conn"
    obs = {"rendered": lb.run(["sysctl", "-n", key]).stdout.strip()}

    def converge(files, present, value):
        install(lb, files)  # applies the rendered sysctls: the value under test goes back after it
        lb.run(["sysctl", "-q", "-w", "%s=%s" % (key, value)])
        os.kill(keepalived_pid(lb), signal.SIGHUP)
        wait_for(lambda: (RS1 in ipvs_real_servers(lb)) == present, 30, what="rs1 %s the IPVS table" % ("in" if present else "out of"))

    for label, value, base in (("kernel_default", "0", 41000), ("as_rendered", obs["rendered"], 42000)):
        ctx.log("remove: %s=%s" % (key, value))
        first = client_get(client, 10, ports=range(base, base + 10))
        reused = [r["port"] for r in first if r["server"] == "rs1"]
        converge(ctx.removed_files, False, value)
        entries = len([line for line in lb.run(["ipvsadm", "-Lnc"]).stdout.splitlines() if RS1 in line])
        again = client_get(client, len(reused), ports=reused, timeout=2) if reused else []
        obs[label] = {"first": summary(first), "reused_ports": reused, "entries_of_removed": entries, "again": summary(again),
                      "again_took": [r["took"] for r in again]}
        converge(ctx.flat_files, True, obs["rendered"])
    return obs


def udp_get(client, port, count, call=None):
    argv = [PEER, "udp-get", VIP, str(port), str(count)] + (["--call-id", call] if call else [])
    return json.loads(client.python(argv, timeout=count * 3 + 60).stdout)


def start_udp_server(ctx, name):
    """A UDP service on the real server's own address (keepalived checks it there) and on the VIP
    it holds on lo (its answers must leave from the address the client asked)."""
    host = ctx[name]
    own = NET + str(NUMBERS[name])
    ctx.udp_servers[name] = host.spawn_python([PEER, "udp-serve", name, "53,5060", own, VIP], "udp")
    wait_for(lambda: ":5060 " in host.run(["ss", "-lunH"]).stdout, 30, what="%s's UDP service" % name)


def scenario_udp(ctx):
    """UDP at layer 4: datagrams spread over the real servers, keepalived's UDP check takes a silent
    one out and back, and udp_sip persistence keeps each SIP call (its Call-ID) on one real server."""
    client, lb = ctx["client"], ctx["lb1"]
    ensure_fixed(ctx)
    ctx.udp_servers = {}
    for name in ("rs1", "rs2"):
        start_udp_server(ctx, name)
    ctx.log("udp: converge the spec with the UDP services")
    reload_with(lb, ctx.udp_files)
    for service in (DNS_SERVICE, SIP_SERVICE):
        wait_for(lambda: len(ipvs_real_servers(lb, service)) == 2, 60, what="both real servers in %s" % service)
    conf = read_conf(lb)
    obs = {"ipvs": ipvs_services(lb), "dns_conf": conf[conf.index("virtual_server %s 53 {" % VIP):].split("\n}\n")[0]}
    obs["spread"] = summary(udp_get(client, 53, 10))
    ctx.log("udp: SIP calls through udp_sip persistence")
    calls = ["call-%s@client" % letter for letter in "abcd"]
    obs["calls"] = dict((call, summary(udp_get(client, 5060, 5, call))) for call in calls)
    obs["same_call_without_persistence"] = summary(udp_get(client, 53, 6, calls[0]))
    obs["sip_templates"] = [line for line in lb.run(["ipvsadm", "-Lnc"]).stdout.splitlines() if ":5060" in line and "NONE" in line]
    obs["call_ids_seen"] = dict((name, sorted(set(e["call_id"] for e in server_log(proc) if e["local"].endswith(":5060") and e["call_id"])))
                                for name, proc in ctx.udp_servers.items())
    ctx.log("udp: stop rs1's UDP service")
    ctx["rs1"].stop(ctx.udp_servers.pop("rs1"))
    wait_for(lambda: DNS_RS1 not in ipvs_real_servers(lb, DNS_SERVICE), 60, what="rs1 leaving %s" % DNS_SERVICE)
    obs["table_down"] = ipvs_real_servers(lb, DNS_SERVICE)
    obs["while_down"] = summary(udp_get(client, 53, 10))
    ctx.log("udp: start it again")
    start_udp_server(ctx, "rs1")
    wait_for(lambda: DNS_RS1 in ipvs_real_servers(lb, DNS_SERVICE), 60, what="rs1 back in %s" % DNS_SERVICE)
    obs["after"] = summary(udp_get(client, 53, 10))
    # leave the lab as the flat spec has it
    reload_with(lb, ctx.flat_files)
    for name in list(ctx.udp_servers):
        ctx[name].stop(ctx.udp_servers.pop(name))
    return obs


def cgroup_of(host, quota):
    """A cgroup of its own for a real server (cgroup v2 mounted in its mount namespace), limited to
    ``quota`` of a CPU as a container's CPU limit is: the load its agent measures."""
    host.run(["sh", "-c", "mountpoint -q /sys/fs/cgroup || mount -t cgroup2 cgroup2 /sys/fs/cgroup"])
    host.run(["sh", "-c", "grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu > /sys/fs/cgroup/cgroup.subtree_control"])
    path = "/sys/fs/cgroup/lbkit-%s" % host.name
    host.run(["mkdir", "-p", path])
    host.run(["sh", "-c", "echo '%d 100000' > %s/cpu.max" % (int(quota * 100000), path)])
    return path


def weights_when(lb, condition):
    """web's IPVS weights of both real servers ({"address:port": weight}) when ``condition`` holds for them, else None."""
    weights = ipvs_real_servers(lb)
    return weights if len(weights) == 2 and condition(weights) else None


def scenario_adaptive(ctx):
    """Adaptive scheduling at layer 4: keepalived asks each real server's load agent (MISC_CHECK
    misc_dynamic) and IPVS's weights follow; rs1 made busy gets fewer new connections, then its
    weight back. The agents run as lbkit-load-agent.service runs them (no systemd here), each
    measuring its real server's own cgroup."""
    client, lb = ctx["client"], ctx["lb1"]
    ensure_fixed(ctx)
    agents, busy = {}, []
    obs = {}
    for name in ("rs1", "rs2"):
        group = cgroup_of(ctx[name], ADAPTIVE_QUOTA)
        agents[name] = ctx[name].spawn_python(["-m", AGENT_MODULE, "serve", "--port", "3333", "--cgroup", group, "--window", "3"], "agent")
        wait_for(lambda: ":3333 " in ctx[name].run(["ss", "-ltnH"]).stdout, 30, what="%s's load agent" % name)
    try:
        ctx.log("adaptive: converge the spec with web scheduled by load")
        reload_with(lb, ctx.adaptive_files)
        conf = read_conf(lb)
        obs["conf"] = conf[conf.index("virtual_server %s 80 {" % VIP):].split("\n}\n")[0]
        obs["idle"] = wait_for(lambda: weights_when(lb, lambda w: min(w.values()) >= 90), 60, what="both real servers at their whole weight")[0]
        ctx.log("adaptive: rs1 busy (a CPU loop in its cgroup, which may use %s of a CPU)" % ADAPTIVE_QUOTA)
        busy.append(ctx["rs1"].spawn(["sh", "-c", "echo $$ > /sys/fs/cgroup/lbkit-rs1/cgroup.procs && exec python3 -c 'while True: pass'"], "busy"))
        obs["busy_weights"], obs["busy_after"] = wait_for(lambda: weights_when(lb, lambda w: 2 * w[RS1] <= w[RS2]), 90,
                                                          what="rs1's weight lowered by its load")
        obs["busy_after"] = round(obs["busy_after"], 1)
        obs["busy"] = summary(client_get(client, 20))
        obs["agent_says"] = dict((name, ctx[name].python(["-m", AGENT_MODULE, "query", "127.0.0.1", "3333", "--weight", "100"], check=False).stdout.strip())
                                 for name in ("rs1", "rs2"))
    finally:
        for proc in busy:
            ctx["rs1"].stop(proc)
    try:
        ctx.log("adaptive: rs1 idle again")
        obs["recovered"] = wait_for(lambda: weights_when(lb, lambda w: w[RS1] >= 90), 90, what="rs1 back at its whole weight")[0]
        obs["checker_log"] = checker_log(ctx.keepalived["lb1"])
    finally:
        # leave the lab as the flat spec has it
        reload_with(lb, ctx.flat_files)
        for name, proc in agents.items():
            ctx[name].stop(proc)
    return obs


def reload_with_table(host, rendered):
    """A converge to files with lbkit's nftables table, in the apply's order: the files, the table loaded as
    lbkit-netfilter.service loads (and reloads) it (the file replaces the whole table in one transaction),
    then keepalived's reload."""
    install(host, rendered)
    host.run(["nft", "-f", NETFILTER_TABLE])
    os.kill(keepalived_pid(host), signal.SIGHUP)


def back_to(ctx, rendered, servers):
    """Leave lb1 as the files ``rendered`` have it (without lbkit's table, as lbkit-netfilter.service
    leaves it when it stops) and stop ``servers`` ({host: process})."""
    ctx["lb1"].run(["nft", "delete", "table", "inet", "lbkit"], check=False)
    reload_with(ctx["lb1"], rendered)
    for name, proc in servers.items():
        ctx[name].stop(proc)


def fwmark_block(conf):
    return conf[conf.index("virtual_server fwmark "):].split("\n}\n")[0]


def ports_seen(proc, since):
    """{local port: {requests, clients}} of the requests a real server logged after ``since``."""
    out = {}
    for entry in server_log(proc):
        if entry["t"] >= since:
            seen = out.setdefault(entry["port"], {"requests": 0, "clients": set()})
            seen["requests"] += 1
            seen["clients"].add(entry["client"])
    return dict((port, dict(seen, clients=sorted(seen["clients"]))) for port, seen in out.items())


def load_results(client, proc):
    """Stop a ``peer.py load`` (SIGTERM: it stops starting requests) and read its results."""
    client.stop(proc, timeout=120)
    with open(proc.log_path) as handle:
        return json.loads(handle.read().strip().splitlines()[-1])


def scenario_extra_ports(ctx):
    """Extra ports at layer 4: one firewall-mark service over the ports 80 and 8080-8081 (lbkit's
    nftables table marks them, keepalived's virtual_server fwmark schedules them), each connection
    reaching a Direct Routing real server on the port the client asked for; then a converge to the
    ports 80, 8081 and 9000 under load on the ports that stay."""
    client, lb = ctx["client"], ctx["lb1"]
    ensure_fixed(ctx)
    obs = {}
    extra = dict((name, start_server(ctx[name], name, EXTRA_PORTS)) for name in ("rs1", "rs2"))
    try:
        ctx.log("extra_ports: web on 80 and 8080-8081")
        reload_with_table(lb, ctx.extra_files)
        wait_for(lambda: "FWM" in lb.run(["ipvsadm", "-Ln"]).stdout and len(re.findall(r"-> \S+:0 ", lb.run(["ipvsadm", "-Ln"]).stdout)) == 2, 60,
                 what="web as a firewall-mark service with both real servers")
        obs["ipvsadm"] = lb.run(["ipvsadm", "-Ln"]).stdout
        obs["conf"] = fwmark_block(read_conf(lb))
        obs["table"] = lb.run(["nft", "list", "table", "inet", "lbkit"]).stdout
        since = time.time()
        obs["before"] = dict((port, summary(client_get(client, 10, url="http://%s:%d/" % (VIP, port)))) for port in (80,) + EXTRA_PORTS)
        obs["ports_seen"] = dict((name, ports_seen(proc, since)) for name, proc in list(extra.items()))
        obs["ports_seen_80"] = dict((name, ports_seen(ctx.servers[name], since)) for name in ("rs1", "rs2"))
        obs["statuses"] = statuses(lb, EXTRA_SPEC)
        web = [svc for svc in info(lb, EXTRA_SPEC)["ipvs"]["services"] if svc["address"] == VIP and svc["port"] == 80][0]
        obs["info_web"] = dict((k, web[k]) for k in ("fwmark", "ports", "connections", "real_servers"))
        ctx.log("extra_ports: converge to 80, 8081 and 9000 under load on 80 and 8081")
        loads = dict((port, client.spawn_python([PEER, "load", "http://%s:%d/" % (VIP, port), "600", "--interval", "0.1", "--timeout", "2"], "load-%d" % port))
                     for port in (80, 8081))
        time.sleep(5)
        changed_at = time.time()
        reload_with_table(lb, ctx.extra_moved_files)
        time.sleep(5)
        results = dict((port, load_results(client, proc)) for port, proc in loads.items())
        obs["under_load"] = dict((port, {"requests": len(r), "failed": len([x for x in r if not x["ok"]]),
                                         "after_change": len([x for x in r if x["at"] >= changed_at]),
                                         "answered_after_change": len([x for x in r if x["at"] >= changed_at and x["ok"]]),
                                         "refused": len([x for x in r if not x["ok"] and "Refused" in (x["error"] or "")]),
                                         # seconds from the converge of each failure (a slow emulated machine times out, a missing mark is refused)
                                         "failed_at": [round(x["at"] - changed_at, 2) for x in r if not x["ok"]][:40],
                                         "errors": sorted(set(x["error"] for x in r if not x["ok"]))[:5],
                                         "answered": summary(r)["answered"]}) for port, r in results.items())
        obs["moved_table"] = lb.run(["nft", "list", "table", "inet", "lbkit"]).stdout
        obs["after"] = dict((port, summary(client_get(client, 6, url="http://%s:%d/" % (VIP, port), timeout=2))) for port in (80,) + EXTRA_PORTS)
        obs["checker_log"] = checker_log(ctx.keepalived["lb1"])
    finally:
        back_to(ctx, ctx.flat_files, extra)  # the lab as the flat spec has it
    return obs


NAT_SPEC = spec_for(
    "nat",
    real_port=8080,
    cluster={
        "interfaces": {"external": "eth0", "internal": "eth1"},
        "floating_ips": [{"name": "gateway", "address": INTERNAL + "1/24", "side": "internal", "gateway": True}],
    },
)


# NAT with extra ports: "web" on 80 and 81 to the real servers' 8080 (every port to the real
# server's port), "multi" on 8080-8082 to real servers on 8080 (each connection keeps its port).
NAT_EXTRA_SPEC = dict(NAT_SPEC, virtual_services=[
    dict(NAT_SPEC["virtual_services"][0], extra_ports="81"),
    dict(NAT_SPEC["virtual_services"][0], name="multi", address=STICKY_VIP, port=8080, extra_ports="8081-8082"),
])


def setup_nat(ctx):
    """Two-arm NAT: the client outside (10.77.0.0/24), the real servers inside (10.77.1.0/24)."""
    ctx.plug("client", "eth0", "ext", CLIENT + "/24")
    ctx.plug("lb1", "eth0", "ext", NET + "11/24")
    ctx.plug("lb1", "eth1", "int", INTERNAL + "2/24")
    for name in ("rs1", "rs2"):
        ctx.plug(name, "eth0", "int", "%s%d/24" % (INTERNAL, NUMBERS[name]))
    ctx.serve(("rs1", "rs2"), [8080, 8081, 8082])
    ctx.nat_files = render(ctx["lb1"], NAT_SPEC)
    ctx.nat_extra_files = render(ctx["lb1"], NAT_EXTRA_SPEC)
    ctx.appliances(NAT_SPEC, ("lb1",), ctx.nat_files)


def scenario_nat(ctx):
    """NAT works only with the real servers' default gateway at the appliance."""
    client, lb, rs = ctx["client"], ctx["lb1"], [ctx["rs1"], ctx["rs2"]]
    obs = {"keepalived_conf": read_conf(lb), "ip_forward": lb.run(["sysctl", "-n", "net.ipv4.ip_forward"]).stdout.strip()}
    ctx.log("nat: the real servers without a route back to the client")
    obs["unfixed"] = summary(client_get(client, 8, timeout=2, parallel=True))
    obs["unfixed_info"] = info(lb, ctx.spec)
    ctx.log("nat: realserver_linux with the gateway floating IP")
    gateways = [f["address"] for f in NAT_SPEC["cluster"]["floating_ips"] if f.get("gateway")]
    obs["realserver"] = [fix_real_server(h, ports=[8080], gateway_from=gateways) for h in rs]
    ctx.fixed = True
    before = ipvs_stats(lb)
    obs["fixed"] = summary(client_get(client, 20))
    obs["checker_log"] = checker_log(ctx.keepalived["lb1"])
    obs["ipvs_delta"] = stats_after(lb, before, sum(obs["fixed"]["answered"].values()))
    obs["server_clients"] = dict((name, sorted(set(e["client"] for e in server_log(proc)))) for name, proc in ctx.servers.items())
    obs["fixed_info"] = info(lb, ctx.spec)
    return obs


def scenario_nat_extra_ports(ctx):
    """NAT firewall-mark services (after the nat scenario set the real servers' gateway): every port
    of "web" reaches the real servers' 8080; each port of "multi" reaches the same port of a real server."""
    client, lb = ctx["client"], ctx["lb1"]
    obs = {}
    if not ctx.fixed:
        gateways = [f["address"] for f in NAT_SPEC["cluster"]["floating_ips"] if f.get("gateway")]
        for name in ("rs1", "rs2"):
            fix_real_server(ctx[name], ports=[8080], gateway_from=gateways)
        ctx.fixed = True
    ctx.log("nat_extra_ports: web on 80-81, multi on 8080-8082")
    try:
        reload_with_table(lb, ctx.nat_extra_files)
        wait_for(lambda: lb.run(["ipvsadm", "-Ln"]).stdout.count("FWM") == 2 and lb.run(["ipvsadm", "-Ln"]).stdout.count("Masq") == 4, 60,
                 what="two firewall-mark services with both real servers each")
        obs["ipvsadm"] = lb.run(["ipvsadm", "-Ln"]).stdout
        since = time.time()
        obs["web"] = dict((port, summary(client_get(client, 6, url="http://%s:%d/" % (VIP, port)))) for port in (80, 81))
        obs["multi"] = dict((port, summary(client_get(client, 6, url="http://%s:%d/" % (STICKY_VIP, port)))) for port in (8080, 8081, 8082))
        obs["ports_seen"] = dict((name, ports_seen(proc, since)) for name, proc in ctx.servers.items())
        obs["statuses"] = statuses(lb, NAT_EXTRA_SPEC)
    finally:
        back_to(ctx, ctx.nat_files, {})
    return obs


TUN_EXTRA_SPEC = spec_for("tun", service={"extra_ports": "8080"})


def setup_tun(ctx):
    """IP-in-IP: the appliance tunnels each packet to a real server, which replies straight to the client."""
    flat_lab(ctx, ("client", "lb1", "rs1", "rs2"))
    ctx.serve(("rs1", "rs2"), 80)
    ctx.tun_files = render(ctx["lb1"], spec_for("tun"))
    ctx.tun_extra_files = render(ctx["lb1"], TUN_EXTRA_SPEC)
    ctx.appliances(spec_for("tun"), ("lb1",), ctx.tun_files)


def scenario_tun(ctx):
    client, lb, rs = ctx["client"], ctx["lb1"], [ctx["rs1"], ctx["rs2"]]
    obs = {"keepalived_conf": read_conf(lb)}
    ctx.log("tun: real servers with the Direct Routing fix only (no tunnel interface)")
    obs["dr_only"] = [fix_real_server(h, [VIP], ports=[80]) for h in rs]
    obs["unfixed"] = summary(client_get(client, 8, timeout=2, parallel=True))
    obs["unfixed_info"] = info(lb, ctx.spec)
    ctx.log("tun: realserver_linux with tunnel: true")
    obs["realserver"] = [fix_real_server(h, [VIP], ports=[80], tunnel=True) for h in rs]
    obs["realserver_again"] = [fix_real_server(h, [VIP], ports=[80], tunnel=True)["changed"] for h in rs]
    ctx.fixed = True
    tunl0_before = dict((h.name, link_rx_packets(h, "tunl0")) for h in rs)
    before = ipvs_stats(lb)
    obs["fixed"] = summary(client_get(client, 20))
    obs["checker_log"] = checker_log(ctx.keepalived["lb1"])
    obs["ipvs_delta"] = stats_after(lb, before, sum(obs["fixed"]["answered"].values()))
    obs["tunl0_rx"] = dict((h.name, link_rx_packets(h, "tunl0") - tunl0_before[h.name]) for h in rs)
    obs["rp_filter"] = dict((h.name, h.run(["sysctl", "-n", "net.ipv4.conf.tunl0.rp_filter"]).stdout.strip()) for h in rs)
    obs["server_clients"] = dict((name, sorted(set(e["client"] for e in server_log(proc)))) for name, proc in ctx.servers.items())
    return obs


def scenario_tun_extra_ports(ctx):
    """A tunnelling firewall-mark service (after the tun scenario fixed the real servers): ports 80
    and 8080 tunnelled to both real servers, each getting the port the client asked for."""
    client, lb = ctx["client"], ctx["lb1"]
    if not ctx.fixed:
        for name in ("rs1", "rs2"):
            fix_real_server(ctx[name], [VIP], ports=[80], tunnel=True)
        ctx.fixed = True
    extra = dict((name, start_server(ctx[name], name, [8080])) for name in ("rs1", "rs2"))
    obs = {}
    try:
        ctx.log("tun_extra_ports: web on 80 and 8080, tunnelled")
        reload_with_table(lb, ctx.tun_extra_files)
        wait_for(lambda: len(re.findall(r"-> \S+:0 +Tunnel", lb.run(["ipvsadm", "-Ln"]).stdout)) == 2, 60,
                 what="web as a tunnelling firewall-mark service with both real servers")
        obs["ipvsadm"] = lb.run(["ipvsadm", "-Ln"]).stdout
        since = time.time()
        obs["ports"] = dict((port, summary(client_get(client, 6, url="http://%s:%d/" % (VIP, port)))) for port in (80, 8080))
        obs["ports_seen"] = dict((name, ports_seen(proc, since)) for name, proc in extra.items())
    finally:
        back_to(ctx, ctx.tun_files, extra)
    return obs


# --- IPv6 end to end -------------------------------------------------------------------------
#
# One HA pair serving both families: web4 (Direct Routing, IPv4), web6 (Direct Routing, IPv6: the
# VIP as /128 on the real servers' lo), nat6 (two-arm NAT, IPv6: rs3 on the back network behind
# the IPv6 gateway floating IP) and web6-proxy (layer 7, HAProxy, IPv6). The heartbeat is IPv4, so
# the VRRPv3 adverts carry web4's VIP and the IPv6 addresses move with the instance.
NET6, INTERNAL6 = "fd77::", "fd77:1::"
VIP6, NAT_VIP6, PROXY_VIP6 = NET6 + "100", NET6 + "102", NET6 + "110"
GATEWAY6 = INTERNAL6 + "1/64"
FLOATING6 = (VIP, VIP6, NAT_VIP6, PROXY_VIP6, INTERNAL6 + "1")
IPV6_SPEC = spec_for("dr", appliances=("lb1", "lb2"), cluster={
    "interfaces": {"external": "eth0", "internal": "eth1"},
    "floating_ips": [{"name": "gateway6", "address": GATEWAY6, "side": "internal", "gateway": True}],
})
IPV6_SPEC["virtual_services"][0]["name"] = "web4"
IPV6_SPEC["virtual_services"] += [
    dict(IPV6_SPEC["virtual_services"][0], name="web6", address=VIP6,
         real_servers=[{"name": "rs1", "address": NET6 + "21", "port": 80}, {"name": "rs2", "address": NET6 + "22", "port": 80}]),
    dict(IPV6_SPEC["virtual_services"][0], name="nat6", address=NAT_VIP6, forwarding="nat",
         real_servers=[{"name": "rs3", "address": INTERNAL6 + "23", "port": 8080}]),
    {"name": "web6-proxy", "address": PROXY_VIP6, "port": 80, "layer": 7, "scheduling": "round_robin",
     "health_check": {"type": "tcp", "interval": 3, "timeout": 2, "retries": 2},
     "real_servers": [{"name": "rs1", "address": NET6 + "21", "port": 80}, {"name": "rs2", "address": NET6 + "22", "port": 80}]},
]


def add6(host, ifname, address):
    """An IPv6 address without duplicate address detection (a lab segment has no duplicates to find)."""
    host.ip(["address", "add", address, "dev", ifname, "nodad"])


def setup_ipv6(ctx):
    """The pair, two dual-stack Direct Routing real servers and an IPv6-only NAT real server."""
    flat_lab(ctx, ("client", "lb1", "lb2", "rs1", "rs2"))
    for name in ("client", "lb1", "lb2", "rs1", "rs2"):
        add6(ctx[name], "eth0", "%s%d/64" % (NET6, NUMBERS[name]))
    for name in ("lb1", "lb2"):
        ctx.plug(name, "eth1", "back", None)
        add6(ctx[name], "eth1", "%s%d/64" % (INTERNAL6, NUMBERS[name]))
    ctx.plug("rs3", "eth0", "back", None)
    add6(ctx["rs3"], "eth0", INTERNAL6 + "23/64")
    ctx.serve(("rs1", "rs2"), 80)
    ctx.serve(("rs3",), 8080)
    ctx.ipv6_realserver = [fix_real_server(ctx[name], [VIP, VIP6], ports=[80]) for name in ("rs1", "rs2")]
    ctx.ipv6_realserver.append(fix_real_server(ctx["rs3"], ports=[8080], gateway_from=[GATEWAY6]))
    ctx.appliances(IPV6_SPEC, ("lb1", "lb2"))
    for name in ("lb1", "lb2"):
        # HAProxy as its unit runs it (no systemd here), on the haproxy.cfg the appliance module rendered
        ctx[name].run(["mkdir", "-p", "/run/haproxy"])
        ctx.haproxy[name] = ctx[name].spawn(["haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"], "haproxy")
    wait_for(lambda: all(holds(ctx["lb1"], a) for a in FLOATING6), 60, what="lb1 holding the floating addresses")
    wait_for(lambda: all(":80 " in ctx[name].run(["ss", "-ltnH"]).stdout for name in ("lb1", "lb2")), 60, what="HAProxy listening on both nodes")


def neighbour(client, address):
    """The MAC address ``client`` resolved ``address`` to (IPv6 neighbour discovery), or None."""
    for entry in json.loads(client.ip(["-6", "-json", "neigh", "show", address]).stdout or "[]"):
        if entry.get("lladdr"):
            return entry["lladdr"]
    return None


def scenario_ipv6(ctx):
    """Both families through one pair: Direct Routing over IPv6 and IPv4, NAT over IPv6, and the
    IPv6 floating addresses moving to the backup when the master's link is cut."""
    client, lb1, lb2 = ctx["client"], ctx["lb1"], ctx["lb2"]
    conf = read_conf(lb1)
    obs = {"keepalived_conf": conf, "ipvs": ipvs_services(lb1), "realserver": ctx.ipv6_realserver, "macs": ctx.macs,
           "lo": dict((name, [a for ifname, a in ctx[name].addresses() if ifname == "lo"]) for name in ("rs1", "rs2")),
           "lo_dad": ctx["rs1"].run(["sysctl", "-n", "net.ipv6.conf.lo.dad_transmits", "net.ipv6.conf.lo.accept_dad"]).stdout.split(),
           "rs3_route": ctx["rs3"].ip(["-6", "route", "show", "default"]).stdout.strip(),
           "forwarding6": lb1.run(["sysctl", "-n", "net.ipv6.conf.all.forwarding"]).stdout.strip()}
    ctx.log("ipv6: Direct Routing over IPv6 and IPv4, NAT over IPv6")
    obs["dr6"] = summary(client_get(client, 20, url="http://[%s]/" % VIP6))
    obs["dr4"] = summary(client_get(client, 20))
    obs["nat6"] = summary(client_get(client, 10, url="http://[%s]/" % NAT_VIP6))
    obs["proxy6"] = summary(client_get(client, 10, url="http://[%s]/" % PROXY_VIP6))
    obs["haproxy_cfg"] = lb1.read("/etc/haproxy/haproxy.cfg")
    obs["vip6_neighbour"] = neighbour(client, VIP6)
    obs["checker_log"] = checker_log(ctx.keepalived["lb1"])
    ctx.log("ipv6: the master's link cut")
    ctx.lab.port_state(ctx.ports["lb1"], False)
    try:
        dummy, took = wait_for(lambda: all(holds(lb2, a) for a in FLOATING6), 60, interval=0.1, what="lb2 holding the floating addresses")
        obs["moved_after"] = round(took, 2)
        obs["lb1_holds"] = [a for a in FLOATING6 if holds(lb1, a)]
        obs["after_proxy6"] = summary(client_get(client, 6, url="http://[%s]/" % PROXY_VIP6))
        obs["after_dr6"] = summary(client_get(client, 10, url="http://[%s]/" % VIP6))
        obs["after_nat6"] = summary(client_get(client, 6, url="http://[%s]/" % NAT_VIP6))
        obs["after_dr4"] = summary(client_get(client, 6))
        obs["after_neighbour"] = neighbour(client, VIP6)
        obs["vrrp"] = dict((h.name, info(h, ctx.spec)["vrrp"]) for h in (lb1, lb2))
    finally:
        ctx.lab.port_state(ctx.ports["lb1"], True)
    return obs


PAIR_SPEC = spec_for("dr", appliances=("lb1", "lb2"))
# The same pair with connection synchronisation (the sync scenario converges to it).
SYNC_SPEC = json.loads(json.dumps(PAIR_SPEC))
SYNC_SPEC["cluster"]["ha"]["connection_sync"] = True
SESSION_SECONDS = 24
SESSION_INTERVAL = 0.2


def setup_pair(ctx):
    """An HA pair (VRRP, unicast heartbeat) in front of two Direct Routing real servers.

    The files of the pair with connection synchronisation (the sync scenario) are rendered
    before keepalived holds the VIP (see setup_zero_loss)."""
    flat_lab(ctx, ("client", "lb1", "lb2", "rs1", "rs2"))
    ctx.serve(("rs1", "rs2"), 80)
    for name in ("rs1", "rs2"):
        fix_real_server(ctx[name], [VIP], ports=[80])
    ctx.sync_files = dict((name, render(ctx[name], SYNC_SPEC)) for name in ("lb1", "lb2"))
    ctx.appliances(PAIR_SPEC, ("lb1", "lb2"))
    wait_for(lambda: holds(ctx["lb1"], VIP) and not holds(ctx["lb2"], VIP), 60, what="lb1 becoming the master")


def scenario_ha_pair(ctx):
    """A hard failure of the master (its link cut) moves the VIP to the backup; failback follows."""
    client, lb1, lb2 = ctx["client"], ctx["lb1"], ctx["lb2"]
    conf = read_conf(lb1)
    obs = {
        "advert_int": float(re.search(r"advert_int (\S+)", conf).group(1)),
        "preempt_delay": int(re.search(r"preempt_delay (\d+)", conf).group(1)) if "preempt_delay" in conf else 0,
        "load_interval": LOAD_INTERVAL,
        "before": summary(client_get(client, 6)),
    }
    obs["info_before"] = dict((h.name, info(h, ctx.spec)["vrrp"]) for h in (lb1, lb2))
    for phase, up in (("failover", False), ("failback", True)):
        ctx.log("ha_pair: %s under load" % phase)
        load = client.spawn_python([PEER, "load", "http://%s/" % VIP, str(LOAD_SECONDS), "--interval", str(LOAD_INTERVAL), "--timeout", "1"], phase)
        time.sleep(CUT_AFTER)
        ctx.lab.port_state(ctx.ports["lb1"], up)
        holder = lb1 if up else lb2
        dummy, took = wait_for(lambda: holds(holder, VIP), 30, interval=0.05, what="%s holding the VIP" % holder.name)
        load.wait(timeout=LOAD_SECONDS + 120)
        with open(load.log_path) as handle:
            results = json.loads(handle.read().strip().splitlines()[-1])
        obs[phase] = {
            "vip_moved_after": round(took, 2),
            "requests": [[r["start"], r["ok"], r["server"], r["took"], (r["error"] or "")[:60]] for r in results],
            "info": dict((h.name, info(h, ctx.spec)["vrrp"]) for h in (lb1, lb2)),
        }
    return obs


def connection_entries(host, port, client=CLIENT):
    """IPVS's entries on ``host`` for the client's connection from ``port`` (``ipvsadm -Lnc``)."""
    return [line for line in host.run(["ipvsadm", "-Lnc"]).stdout.splitlines() if (" %s:%d " % (client, port)) in line]


def session_port(proc):
    """The client port the session process reports when it has connected."""
    with open(proc.log_path) as handle:
        for text in handle:
            if text.startswith('{"session_port"'):
                return json.loads(text)["session_port"]
    return None


def scenario_sync(ctx):
    """A long-lived connection across a failover: reset without connection synchronisation,
    carried on by the new master with it (keepalived's lvs_sync_daemon, the spec's
    ha.connection_sync)."""
    client, lb1, lb2 = ctx["client"], ctx["lb1"], ctx["lb2"]
    obs = {}
    for label in ("without", "with"):
        if label == "with":
            ctx.log("sync: converge the pair with connection_sync")
            for host in (lb1, lb2):
                reload_with(host, ctx.sync_files[host.name])
            wait_for(lambda: "master sync daemon" in lb1.run(["ipvsadm", "-L", "--daemon"]).stdout
                     and "backup sync daemon" in lb2.run(["ipvsadm", "-L", "--daemon"]).stdout, 30, what="the sync daemons")
        wait_for(lambda: holds(lb1, VIP) and not holds(lb2, VIP), 60, what="lb1 the master")
        daemons = dict((h.name, h.run(["ipvsadm", "-L", "--daemon"]).stdout.strip()) for h in (lb1, lb2))
        ctx.log("sync: a long-lived connection, %s synchronisation" % label)
        session = client.spawn_python([PEER, "session", "http://%s/" % VIP, str(SESSION_SECONDS), "--interval", str(SESSION_INTERVAL),
                                       "--timeout", "8"], "session-" + label)
        port, dummy = wait_for(lambda: session_port(session), 60, what="the session connected")
        wait_for(lambda: [e for e in connection_entries(lb1, port) if "ESTABLISHED" in e], 30, what="the session in lb1's table")
        if label == "with":
            # the backup learns the connection from the master's sync daemon
            wait_for(lambda: [e for e in connection_entries(lb2, port) if "ESTABLISHED" in e], 20, what="the session in lb2's table")
        backup_entries = connection_entries(lb2, port)
        cut_at = time.time()
        ctx.lab.port_state(ctx.ports["lb1"], False)
        dummy, took = wait_for(lambda: holds(lb2, VIP), 30, interval=0.05, what="lb2 holding the VIP")
        session.wait(timeout=SESSION_SECONDS + 60)
        with open(session.log_path) as handle:
            results = json.loads(handle.read().strip().splitlines()[-1])
        ctx.lab.port_state(ctx.ports["lb1"], True)
        obs[label] = {
            "daemons": daemons,
            "backup_entries_before_cut": backup_entries,
            "cut_after": round(cut_at - results[0]["at"], 2) if results else None,
            "vip_moved_after": round(took, 2),
            "requests": [[round(r["at"] - cut_at, 2), r["ok"], r["server"], (r["error"] or "")[:80]] for r in results],
        }
    # back to the pair as setup_pair left it (preempt: lb1 takes the VIP back)
    wait_for(lambda: holds(lb1, VIP), 60, what="lb1 the master again")
    return obs


# --- benchmarks (benchmarks/, not the test tier) ----------------------------------------------


def zero_loss_steps():
    """(what changes, spec) in the order the zero-loss benchmark converges them."""
    base = spec_for("dr", service={"scheduling": "weighted_round_robin"})
    web = base["virtual_services"][0]
    added = json.loads(json.dumps(base))
    added["virtual_services"].append(dict(web, name="web-2", address=STICKY_VIP))
    weights = json.loads(json.dumps(added))
    weights["virtual_services"][0]["real_servers"][0]["weight"] = 50
    grown = json.loads(json.dumps(weights))
    grown["virtual_services"][0]["real_servers"].append({"name": "rs3", "address": NET + "23", "port": 80})
    drained = json.loads(json.dumps(grown))
    drained["virtual_services"][0]["real_servers"][0]["state"] = "drained"
    removed = json.loads(json.dumps(drained))
    removed["virtual_services"][0]["real_servers"].pop(0)
    return [("start", base), ("add a service", added), ("change weights", weights), ("add a real server", grown),
            ("drain a server", drained), ("remove the drained server", removed)]


def setup_zero_loss(ctx):
    """One appliance, three Direct Routing real servers; every step's files rendered up front.

    Rendering needs the appliance's host checks, which refuse a VIP the host already holds
    unless the state file of an apply says lbkit holds it; the lab has no apply (no systemd),
    so each step's files are rendered before keepalived takes the VIPs.
    """
    flat_lab(ctx, ("client", "lb1", "rs1", "rs2", "rs3"))
    ctx.serve(("rs1", "rs2", "rs3"), 80)
    for name in ("rs1", "rs2", "rs3"):
        fix_real_server(ctx[name], [VIP, STICKY_VIP], ports=[80])
    ctx.steps = [(label, spec, render(ctx["lb1"], spec)) for label, spec in zero_loss_steps()]
    label, spec, rendered = ctx.steps[0]
    ctx.appliances(spec, ("lb1",), rendered)


def scenario_zero_loss(ctx):
    """Converge one change after another under a steady load; count the failed requests in each step."""
    client, lb = ctx["client"], ctx["lb1"]
    settle = 5.0
    load = client.spawn_python([PEER, "load", "http://%s/" % VIP, "600", "--interval", str(LOAD_INTERVAL), "--timeout", "2"], "zero-loss")
    marks = [("before any change", time.time())]
    time.sleep(settle + 2)  # the load's Python starts, then a quiet stretch before the first change
    for label, spec, rendered in ctx.steps[1:]:
        ctx.log("zero_loss: %s" % label)
        marks.append((label, time.time()))
        if label == "drain a server":
            # At runtime, as an operator drains: real_server, no reload; the spec then says drained.
            module(lb, "real_server", {"spec": spec, "service": "web", "real_server": "rs1", "state": "drained"})
            drained_at = time.time()
        else:
            install(lb, rendered)
            os.kill(keepalived_pid(lb), signal.SIGHUP)
        time.sleep(settle)
    client.stop(load, timeout=120)  # SIGTERM: the load stops starting requests and reports
    with open(load.log_path) as handle:
        results = json.loads(handle.read().strip().splitlines()[-1])
    steps = []
    for index, (label, at) in enumerate(marks):
        end = marks[index + 1][1] if index + 1 < len(marks) else float("inf")
        window = [r for r in results if at <= r["at"] < end]
        steps.append({
            "step": label,
            "requests": len(window),
            "failed": len([r for r in window if not r["ok"]]),
            "failures": [{"after_s": round(r["at"] - at, 3), "error": r["error"], "port": r.get("port"),
                          "port_before": [(round(e["at"] - r["at"], 1), e["server"]) for e in results if e.get("port") == r.get("port") and e["at"] < r["at"]]}
                         for r in window if not r["ok"]],
            "answered": dict((name, len([r for r in window if r["server"] == name])) for name in ("rs1", "rs2", "rs3")),
        })
    return {"steps": steps, "total": len(results), "failed": len([r for r in results if not r["ok"]]), "interval": LOAD_INTERVAL,
            "client_ports_used_again": len(results) - len(set(r.get("port") for r in results)),
            "drained_server_after_drain": len([r for r in results if r["at"] >= drained_at and r["server"] == "rs1"]),
            "table": lb.run(["ipvsadm", "-Ln"]).stdout}


# --- the lab demo's layer-4 part (scripts/lab layer4; tests/ipvs/demo.py prints it) ------------
#
# The Loadbalancer.org manual's HTTP-Cluster example on an HA pair: a VIP, two real servers with
# weight 100 and no connection limits, Direct Routing; beside it a two-arm NAT service whose real
# server sits behind the appliances.

DEMO_NAT_VIP = NET + "101"
DEMO_SPEC = {
    "cluster": {
        "name": "lab-layer4",
        "nodes": [{"host": "lb1", "heartbeat_address": NET + "11", "priority": 150}, {"host": "lb2", "heartbeat_address": NET + "12", "priority": 100}],
        "ha": {"mode": "pair", "virtual_router_id": 77, "preempt": True},
        "interfaces": {"external": "eth0", "internal": "eth1"},
        "floating_ips": [{"name": "gateway", "address": INTERNAL + "1/24", "side": "internal", "gateway": True}],
    },
    "virtual_services": [
        {"name": "HTTP-Cluster", "address": VIP, "port": 80, "layer": 4, "forwarding": "dr", "scheduling": "weighted_round_robin",
         "health_check": {"type": "tcp", "interval": 3, "timeout": 2, "retries": 2},
         "real_servers": [{"name": "Web1", "address": NET + "21", "port": 80, "weight": 100, "min_connections": 0, "max_connections": 0},
                          {"name": "Web2", "address": NET + "22", "port": 80, "weight": 100, "min_connections": 0, "max_connections": 0}]},
        {"name": "HTTP-NAT", "address": DEMO_NAT_VIP, "port": 80, "layer": 4, "forwarding": "nat", "scheduling": "weighted_round_robin",
         "health_check": {"type": "tcp", "interval": 3, "timeout": 2, "retries": 2},
         "real_servers": [{"name": "Web3", "address": INTERNAL + "23", "port": 8080, "weight": 100}]},
    ],
}
DEMO_FLOATING = [VIP, DEMO_NAT_VIP, INTERNAL + "1"]


def setup_demo(ctx):
    """The pair (front 10.77.0.0/24, back 10.77.1.0/24), Web1 and Web2 in front (Direct Routing,
    not fixed yet), Web3 behind (NAT, its default route not yet via the appliances), two clients."""
    flat_lab(ctx, ("client", "client2", "lb1", "lb2", "rs1", "rs2"))
    for name in ("lb1", "lb2"):
        ctx.plug(name, "eth1", "back", "%s%d/24" % (INTERNAL, NUMBERS[name]))
    ctx.plug("rs3", "eth0", "back", INTERNAL + "23/24")
    # each real server answers with its name in the spec
    for host, name, port in (("rs1", "Web1", 80), ("rs2", "Web2", 80), ("rs3", "Web3", 8080)):
        ctx.servers[host] = start_server(ctx[host], name, port)
    ctx.appliances(DEMO_SPEC, ("lb1", "lb2"))
    wait_for(lambda: all(holds(ctx["lb1"], a) for a in DEMO_FLOATING), 60, what="lb1 holding the floating addresses")


def roles(ctx):
    """{appliance: the floating addresses it holds}."""
    return dict((name, [a for a in DEMO_FLOATING if holds(ctx[name], a)]) for name in ("lb1", "lb2"))


def answers(clients, url, rounds):
    """``rounds`` requests from each client in turn: [[client, server or None, the address the server saw, error]]."""
    out = []
    for dummy in range(rounds):
        for name, host in clients:
            r = client_get(host, 1, url=url, timeout=2)[0]
            out.append([name, r["server"], r["seen"], None if r["ok"] else r["error"]])
    return out


def scenario_lab_layer4(ctx):
    """The lab demo's layer-4 story: the ARP problem and its diagnosis, the realserver fix, two
    clients answered by different real servers, a halted real server and the traffic moving,
    two-arm NAT without and with the real server's gateway, the master powered off."""
    client, client2, lb1, lb2 = ctx["client"], ctx["client2"], ctx["lb1"], ctx["lb2"]
    clients = [("client", client), ("client2", client2)]
    url, nat_url = "http://%s/" % VIP, "http://%s/" % DEMO_NAT_VIP
    obs = {"spec": DEMO_SPEC, "roles_start": roles(ctx), "ipvsadm_start": lb1.run(["ipvsadm", "-Ln"]).stdout}
    ctx.log("lab_layer4: the ARP problem")
    obs["arp_problem"] = summary(client_get(client, 6, url=url, timeout=2, parallel=True))
    obs["syn_recv"] = len([line for line in lb1.run(["ipvsadm", "-Lnc"]).stdout.splitlines() if "SYN_RECV" in line and "%s:80" % VIP in line])
    obs["arp_diagnosis"] = only_lines(info(lb1, DEMO_SPEC)["diagnosis"], VIP + ":80")
    ctx.log("lab_layer4: the realserver role's fix on Web1 and Web2")
    obs["fix"] = dict((name, [c["action"] for c in fix_real_server(ctx[name], [VIP], ports=[80])["changes"]]) for name in ("rs1", "rs2"))
    obs["fix_arp"] = arp_answers(client, VIP)
    obs["macs"] = dict((name, ctx.macs[name]) for name in ("lb1", "lb2", "rs1", "rs2"))
    obs["two_clients"] = answers(clients, url, 2)
    ctx.log("lab_layer4: Web1 halted at runtime")
    module(lb1, "real_server", {"spec": DEMO_SPEC, "service": "HTTP-Cluster", "real_server": "Web1", "state": "halted"})
    obs["halted_table"] = ipvs_real_servers(lb1)
    obs["halted"] = answers(clients, url, 2)
    module(lb1, "real_server", {"spec": DEMO_SPEC, "service": "HTTP-Cluster", "real_server": "Web1", "state": "enabled"})
    obs["enabled_table"] = ipvs_real_servers(lb1)
    obs["enabled"] = answers(clients, url, 1)
    ctx.log("lab_layer4: two-arm NAT without the real server's gateway")
    obs["nat_unfixed"] = summary(client_get(client, 6, url=nat_url, timeout=2, parallel=True))
    obs["nat_diagnosis"] = only_lines(info(lb1, DEMO_SPEC)["diagnosis"], DEMO_NAT_VIP + ":80")
    ctx.log("lab_layer4: the realserver role's NAT gateway on Web3")
    fixed = fix_real_server(ctx["rs3"], ports=[8080], gateway_from=[INTERNAL + "1/24"])
    obs["nat_fix"] = {"changes": [c["action"] for c in fixed["changes"]], "default_gateway": fixed.get("default_gateway")}
    obs["nat_fixed"] = answers(clients, nat_url, 1)
    ctx.log("lab_layer4: lb1 powered off")
    obs["before_power_off"] = roles(ctx)
    # the power gone: no packet leaves lb1 any more (its cables dead first, so keepalived's
    # goodbye adverts never reach lb2), then nothing runs on it
    started = time.monotonic()
    for port in ctx.cables["lb1"]:
        ctx.lab.port_state(port, False)
    lb1.stop(ctx.keepalived["lb1"])
    wait_for(lambda: all(holds(lb2, a) for a in DEMO_FLOATING), 30, interval=0.05, what="lb2 holding every floating address")
    obs["takeover_s"] = round(time.monotonic() - started, 2)
    obs["after_power_off"] = roles(ctx)
    obs["after_dr"] = answers(clients, url, 1)
    obs["after_nat"] = answers(clients, nat_url, 1)
    obs["lb2_table"] = lb2.run(["ipvsadm", "-Ln"]).stdout
    return obs


GROUPS = {
    "flat": (setup_flat, ("dr", "health", "drain", "persistence", "remove", "udp", "adaptive", "extra_ports")),
    "nat": (setup_nat, ("nat", "nat_extra_ports")),
    "tun": (setup_tun, ("tun", "tun_extra_ports")),
    "pair": (setup_pair, ("ha_pair", "sync")),
    "ipv6": (setup_ipv6, ("ipv6",)),
    "lab-layer4": (setup_demo, ("lab_layer4",)),
}
BENCHMARK_GROUPS = {
    "zero-loss": (setup_zero_loss, ("zero_loss",)),
}
SCENARIOS = dict((name, (group, globals()["scenario_" + name])) for group, (dummy, names) in GROUPS.items() for name in names)
BENCHMARKS = dict((name, (group, globals()["scenario_" + name])) for group, (dummy, names) in BENCHMARK_GROUPS.items() for name in names)


def run(names, config, log):
    """Run the scenarios ``names`` (in their groups' order); yield (name, ok, observations or error)."""
    everything = dict(SCENARIOS, **BENCHMARKS)
    for group, (setup, members) in list(GROUPS.items()) + list(BENCHMARK_GROUPS.items()):
        wanted = [n for n in members if n in names]
        if not wanted:
            continue
        with Lab(group, config, log) as lab:
            ctx = Context(lab, log)
            try:
                setup(ctx)
            except Exception:
                error = traceback.format_exc()[-4000:]
                for name in wanted:
                    yield name, False, "the %s lab could not be set up:\n%s" % (group, error), 0.0
                continue
            for name in wanted:
                started = time.monotonic()
                log("scenario %s: start" % name)
                try:
                    yield name, True, everything[name][1](ctx), time.monotonic() - started
                except Exception:
                    yield name, False, traceback.format_exc()[-4000:], time.monotonic() - started
