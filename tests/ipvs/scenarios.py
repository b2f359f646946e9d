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

import copy
import json
import os
import re
import time

from netlab import Lab, wait_for

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer.py")
NET = "10.77.0."
INTERNAL = "10.77.1."
VIP = NET + "100"
CLIENT = NET + "10"
KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"


# --- specs -----------------------------------------------------------------------------------


def spec_for(forwarding="dr", real_port=80, appliances=("lb1",), service=None, cluster=None):
    """The scenario's cluster spec: one layer-4 service on VIP:80 with rs1 and rs2."""
    nodes = [{"host": name, "heartbeat_address": NET + str(11 + i), "priority": 150 - 50 * i} for i, name in enumerate(appliances)]
    prefix = INTERNAL if forwarding == "nat" else NET
    vs = {
        "name": "web",
        "address": VIP,
        "port": 80,
        "layer": 4,
        "forwarding": forwarding,
        "scheduling": "round_robin",
        "health_check": {"type": "tcp", "interval": 2, "timeout": 1, "retries": 1},
        "real_servers": [
            {"name": "rs1", "address": prefix + "21", "port": real_port},
            {"name": "rs2", "address": prefix + "22", "port": real_port},
        ],
    }
    vs.update(service or {})
    spec = {
        "cluster": {"name": "ipvs-lab", "nodes": nodes, "ha": {"mode": "pair" if len(appliances) == 2 else "single"}},
        "virtual_services": [vs],
    }
    if len(appliances) == 2:
        spec["cluster"]["ha"].update(virtual_router_id=77, preempt=True)
    for key, value in (cluster or {}).items():
        spec["cluster"][key] = value
    return spec


# --- bringing hosts up -----------------------------------------------------------------------


class ScenarioError(RuntimeError):
    """The scenario could not set up what it observes (a module failed, a daemon died)."""


def module(host, name, args, allow_failure=False):
    result = host.module(name, args)
    if result.get("failed") and not allow_failure:
        raise ScenarioError("%s on %s failed: %s" % (name, host.name, result.get("msg")))
    return result


def start_appliance(host, spec):
    """Install what the appliance module renders for this host and start keepalived on it."""
    rendered = module(host, "appliance", {"spec": spec, "host": host.name, "state": "rendered"})["rendered"]
    for path, content in sorted(rendered.items()):
        if content is None:
            continue
        host.write(path, content, 0o600 if path == KEEPALIVED_CONF else 0o644)
        if path.startswith("/etc/sysctl.d/"):
            host.run(["sysctl", "-q", "-p", path])
    proc = host.spawn(["keepalived", "--dont-fork", "--log-console", "--log-detail", "-f", KEEPALIVED_CONF], "keepalived")
    services = len([vs for vs in spec["virtual_services"] if vs.get("layer") == 4])
    wait_for(lambda: proc.poll() is None and len(ipvs_services(host)) >= services, 30, what="keepalived loading the IPVS services on %s" % host.name)
    if proc.poll() is not None:
        raise ScenarioError("keepalived on %s exited %s; see %s" % (host.name, proc.returncode, proc.log_path))
    return rendered, proc


def start_server(host, name, port):
    proc = host.spawn_python([PEER, "serve", name, str(port)], "http")
    wait_for(lambda: ":%d " % port in host.run(["ss", "-ltnH"]).stdout, 30, what="%s listening on %d" % (name, port))
    return proc


def server_log(proc):
    """The requests a real server logged: [{t, client, local, path}]."""
    with open(proc.log_path) as handle:
        return [line for line in (json.loads(text) for text in handle if text.startswith("{")) if "client" in line]


def fix_real_server(host, vips=(), gateway=None, ports=(), tunnel=False, method="loopback"):
    args = {"vips": list(vips), "persist": False, "listen_ports": list(ports), "method": method}
    if gateway:
        args["gateway"] = gateway
    if tunnel:
        args["tunnel"] = True
    return module(host, "realserver_linux", args)


# --- observing -------------------------------------------------------------------------------


def client_get(client, count, url="http://%s/" % VIP, interval=0.0, timeout=3.0, parallel=False, source=None):
    argv = [PEER, "get", url, str(count), "--interval", str(interval), "--timeout", str(timeout)]
    if parallel:
        argv.append("--parallel")
    if source:
        argv += ["--source", source]
    return json.loads(client.python(argv, timeout=count * (timeout + interval) + 60).stdout)


def ipvs_services(host):
    return [line for line in host.run(["ipvsadm", "-Ln"], check=False).stdout.splitlines() if line.startswith(("TCP", "UDP"))]


def ipvs_real_servers(host):
    """{"address:port": weight} of the IPVS table's real servers (one service)."""
    out = {}
    for line in host.run(["ipvsadm", "-Ln"]).stdout.splitlines():
        words = line.split()
        if len(words) >= 6 and words[0] == "->" and words[1][0].isdigit():
            out[words[1]] = int(words[3])
    return out


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


# --- scenarios -------------------------------------------------------------------------------


def flat_lab(lab, appliances=("lb1",), real_servers=("rs1", "rs2"), clients=("client",)):
    """client(s), appliance(s) and real servers on one Ethernet segment (10.77.0.0/24)."""
    hosts, macs, ports = {}, {}, {}
    numbers = {"client": 10, "client2": 13, "lb1": 11, "lb2": 12, "rs1": 21, "rs2": 22}
    for name in tuple(clients) + tuple(appliances) + tuple(real_servers):
        hosts[name] = lab.host(name)
        macs[name], ports[name] = lab.connect(hosts[name], "eth0", "lan", "%s%d/24" % (NET, numbers[name]))
    return hosts, macs, ports


def scenario_dr(lab, log):
    """Direct Routing: the ARP problem reproduced and diagnosed, then fixed by realserver_linux."""
    hosts, macs, dummy = flat_lab(lab)
    client, lb, rs = hosts["client"], hosts["lb1"], [hosts["rs1"], hosts["rs2"]]
    spec = spec_for("dr")
    servers = [start_server(h, h.name, 80) for h in rs]
    rendered, dummy = start_appliance(lb, spec)
    obs = {"macs": macs, "keepalived_conf": rendered[KEEPALIVED_CONF]}

    log("dr: the real servers as they come, without the VIP")
    obs["unfixed"] = summary(client_get(client, 8, timeout=2, parallel=True))
    obs["unfixed_info"] = info(lb, spec)

    log("dr: the VIP on lo by hand, without the ARP settings (the common mistake)")
    for h in rs:
        h.ip(["address", "add", VIP + "/32", "dev", "lo"])
    obs["naive_arp"] = arp_answers(client, VIP)
    for h in rs:
        h.ip(["address", "del", VIP + "/32", "dev", "lo"])

    log("dr: realserver_linux on both real servers")
    obs["realserver"] = [fix_real_server(h, [VIP], ports=[80]) for h in rs]
    obs["realserver_again"] = [fix_real_server(h, [VIP], ports=[80])["changed"] for h in rs]
    obs["fixed_arp"] = arp_answers(client, VIP)
    capture = capture_start(client, "tcp and src host %s" % VIP)
    before = ipvs_stats(lb)
    obs["fixed"] = summary(client_get(client, 20))
    obs["reply_macs"] = sorted(set(capture_source_macs(client, capture)))
    after = ipvs_stats(lb)
    key = "%s:80" % VIP
    obs["ipvs_delta"] = dict((k, after[key][k] - before.get(key, {}).get(k, 0)) for k in after[key])
    obs["server_logs"] = dict((h.name, [e["client"] for e in server_log(p)]) for h, p in zip(rs, servers))
    obs["fixed_info"] = info(lb, spec)
    return obs


SCENARIOS = {
    "dr": scenario_dr,
}


def run(name, config, log):
    with Lab(name.replace("_", "-"), config, log) as lab:
        return SCENARIOS[name](lab, log)
