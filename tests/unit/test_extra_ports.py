"""Extra ports at layer 4: IPVS firewall-mark services.

lbkit's nftables table marks the packets to every port of a layer-4 service with extra ports,
keepalived's ``virtual_server fwmark`` schedules them, and everything that reads the IPVS table
(appliance_info, real_server, lbkit-metrics) reads a firewall-mark service back as the spec's
service. The ipvsadm listings below follow ipvsadm 1.31's output format (print_service_entry:
``FWM  %d`` and ``FWM  %d IPv6``; the kernel's /proc/net/ip_vs: ``FWM  %08X``); the IPVS
data-plane tier (scenario extra_ports) checks them against the real thing.
"""

import json
import os

import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend import ipvs
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.linux import LinuxAppliance
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine import linux as engine
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._monitor import overview
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.diagnosis import ipvs_diagnosis
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.state import desired_state
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import keepalived, programs
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import load_spec
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.served import served

from .specs import mutate
from . import test_appliance_module as appliance_tests
from .test_appliance_module import converge, read
from .test_render import host_interfaces
from .test_transparency import RULES, UNIT, follow

VS0, VS1 = "/virtual_services/0", "/virtual_services/1"
root = appliance_tests.root


def marked(**more):
    """The test spec with web-dr (DR, 192.0.2.10:80) on ports 80, 443, 8000-8001 and app-nat
    (NAT, 192.0.2.11:8080 to 10.0.1.21:80) on 8080-8081."""
    ops = {VS0 + "/extra_ports": "443 8000-8001", VS1 + "/extra_ports": "8081"}
    ops.update(more)
    return mutate(ops)


def test_a_service_with_extra_ports_is_a_firewall_mark_service_whose_ports_the_table_marks():
    spec = load_spec(marked())
    marks = programs.firewall_marks(spec)
    dr, nat = spec.virtual_services[0], spec.virtual_services[1]
    assert sorted(marks) == ["app-nat", "web-dr"] and len(set(marks.values())) == 2
    assert all(overview.FWMARK_BASE <= m < overview.FWMARK_BASE + overview.FWMARK_SPAN for m in marks.values())
    rules = programs.netfilter_rules(spec)
    assert "ip daddr 192.0.2.10 tcp dport { 80, 443, 8000-8001 } meta mark set 0x%08x" % marks["web-dr"] in rules
    assert "ip daddr 192.0.2.11 tcp dport { 8080-8081 } meta mark set 0x%08x" % marks["app-nat"] in rules
    # arriving packets and the appliance's own connections, both
    assert rules.count("meta mark set 0x%08x" % marks["web-dr"]) == 2 and "hook output" in rules
    conf = keepalived.render(spec, "lb1", host_interfaces(spec, "lb1")).content
    block = conf[conf.index("virtual_server fwmark %d {" % marks["web-dr"]):].split("\n}\n")[0]
    assert "    ip_family inet\n" in block and "protocol" not in block.split("real_server")[0]
    # on the service's port: each connection keeps the port the client asked for (IPVS port 0); checks still go to 80
    assert "real_server 192.168.10.21 0 {" in block and "connect_port 80" in block
    assert "check-notify up tcp_192.0.2.10_80_192.168.10.21_80" in block
    # NAT to another port: every port's connections on that port
    assert "real_server 10.0.1.21 80 {" in conf[conf.index("virtual_server fwmark %d {" % marks["app-nat"]):]
    assert keepalived.ipvs_port(dr, dr.real_servers[0]) == 0 and keepalived.ipvs_port(nat, nat.real_servers[0]) == 80
    assert dr.ports_at(dr.real_servers[0]) == (80, 443, 8000, 8001) and nat.ports_at(nat.real_servers[0]) == (80,)
    # a service with one port stays an address-and-port service
    assert programs.firewall_marks(load_spec(mutate({}))) == {} and not programs.netfilter_wanted(load_spec(mutate({})))


def test_the_mark_follows_the_services_protocol_address_and_port_not_its_ports_or_place():
    one = programs.firewall_marks(load_spec(marked()))
    other_ports = programs.firewall_marks(load_spec(marked(**{VS0 + "/extra_ports": "9000-9100"})))
    assert one["web-dr"] == other_ports["web-dr"]
    swapped = mutate({VS0 + "/extra_ports": "443 8000-8001", VS1 + "/extra_ports": "8081"})
    swapped["virtual_services"][:2] = swapped["virtual_services"][1::-1]
    assert programs.firewall_marks(load_spec(swapped)) == one
    moved = programs.firewall_marks(load_spec(marked(**{VS0 + "/port": 81, VS0 + "/real_servers/1/port": 81})))
    assert moved["web-dr"] != one["web-dr"]


def test_two_services_whose_marks_coincide_get_two_marks(monkeypatch):
    keys = [("tcp", "192.0.2.%d" % i, 80) for i in range(1, 200)]
    first = overview.FWMARK_BASE + 5
    # every key starts from the same mark: each takes the next free one, in sorted order
    monkeypatch.setattr(overview, "service_fwmark", lambda protocol, address, port: first)
    marks = overview.marks_of(keys)
    assert sorted(marks.values()) == list(range(first, first + len(keys)))
    assert marks[("tcp", "192.0.2.1", 80)] == first and marks[("tcp", "192.0.2.10", 80)] == first + 1


def test_ipv6_and_udp_services_are_marked_in_their_family():
    spec = load_spec(mutate({VS0 + "/address": "2001:db8::10", VS0 + "/real_servers": [{"address": "2001:db8::21"}],
                             VS0 + "/protocol": "udp", VS0 + "/extra_ports": "5005-5010", VS0 + "/health_check": {"type": "icmp"}}))
    mark = programs.firewall_marks(spec)["web-dr"]
    assert "ip6 daddr 2001:db8::10 udp dport { 80, 5005-5010 } meta mark set 0x%08x" % mark in programs.netfilter_rules(spec)
    conf = keepalived.render(spec, "lb1", host_interfaces(spec, "lb1")).content
    assert "virtual_server fwmark %d {\n    ip_family inet6\n" % mark in conf
    vs = spec.virtual_services[0]
    assert ipvs.set_state_argv(vs, vs.real_servers[0], "drained", True, mark=mark) == [
        ["ipvsadm", "-e", "-f", str(mark), "-6", "-r", "[2001:db8::21]:0", "-g", "-w", "0"]]


IPVSADM_LN = """IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.0.2.12:443 wrr
  -> 10.0.1.31:8443               Masq    1      0          0
FWM  %(dr)d wrr
  -> 192.168.10.21:0              Route   100    2          1
  -> 192.168.10.22:0              Route   0      1          0
FWM  %(nat)d wrr persistent 300
  -> 10.0.1.21:80                 Masq    100    0          0
FWM  7 IPv6 rr
  -> [2001:db8::23]:0             Route   1      0          0
"""

IPVSADM_LNC = """IPVS connection entries
pro expire state       source             virtual            destination
TCP 00:59  SYN_RECV    192.168.10.30:40000 192.0.2.10:8001    192.168.10.21:8001
TCP 14:58  ESTABLISHED 192.168.10.31:40001 192.0.2.10:443     192.168.10.22:443
TCP 14:58  ESTABLISHED 192.168.10.31:40002 192.0.2.10:9999    192.168.10.22:9999
"""

IPVSADM_STATS = """IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
FWM  %(dr)d                               14       84        0     5432        0
  -> 192.168.10.21:0                      10       60        0     3880        0
  -> 192.168.10.22:0                       4       24        0     1552        0
FWM  7 IPv6                                3       18        0     1164        0
  -> [2001:db8::23]:0                      3       18        0     1164        0
"""


def _listing(spec, text):
    marks = programs.firewall_marks(spec)
    return text % dict(dr=marks["web-dr"], nat=marks["app-nat"])


def test_ipvsadm_reads_a_firewall_mark_service_as_the_service_it_marks():
    spec = load_spec(marked())
    state_marks = overview.state_marks(desired_state(spec, "lb1"))
    assert sorted(state_marks) == sorted(programs.firewall_marks(spec).values())
    services = ipvs.parse_services(_listing(spec, IPVSADM_LN), state_marks)
    dr, nat, foreign = services[1], services[2], services[3]
    assert (dr["protocol"], dr["address"], dr["port"], dr["ports"]) == ("tcp", "192.0.2.10", 80, [80, 443, 8000, 8001])
    assert [(r["address"], r["port"], r["weight"], r["active"]) for r in dr["real_servers"]] == [("192.168.10.21", 80, 100, 2), ("192.168.10.22", 80, 0, 1)]
    assert (nat["address"], nat["port"], nat["persistent"], nat["real_servers"][0]["port"]) == ("192.0.2.11", 8080, 300, 80)
    # one lbkit does not mark: listed as it is, matching no service
    assert (foreign["fwmark"], foreign["address"], foreign["port"], foreign["scheduler"]) == (7, None, None, "rr")
    stats = ipvs.parse_stats(_listing(spec, IPVSADM_STATS), state_marks)
    assert stats == {("tcp", "192.0.2.10", 80): {"connections": 14, "real_servers": {("192.168.10.21", 80): 10, ("192.168.10.22", 80): 4}}}
    # without the marks (no state): nothing is taken for a service it is not
    assert all(s["address"] is None for s in ipvs.parse_services(_listing(spec, IPVSADM_LN))[1:])


def test_the_connections_of_every_port_belong_to_the_service_and_are_diagnosed_with_it():
    spec = load_spec(marked())
    services = ipvs.parse_services(_listing(spec, IPVSADM_LN), overview.state_marks(desired_state(spec, "lb1")))
    connections = ipvs.parse_connections(IPVSADM_LNC)
    stuck = [dict(connections[0], client=("192.168.10.30", 40000 + i)) for i in range(6)]
    out = ipvs_diagnosis(services, stuck + connections[1:], {("tcp", "192.0.2.10", 80): "dr"})
    # 6 stuck and the one on 443; the one on 9999, a port the service does not have, is not its
    assert len(out) == 1 and out[0].startswith("192.0.2.10:80/tcp: 6 of 7 connections are stuck in SYN_RECV; ") and "ARP problem" in out[0]


def test_proc_ip_vs_reads_a_firewall_mark_service_for_the_metrics():
    spec = load_spec(marked())
    marks = programs.firewall_marks(spec)
    text = ("IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n"
            "  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n"
            "FWM  %08X wrr \n  -> C0A80A15:0000      Route   100    2          1         \n"
            "FWM  00000007 rr \n  -> C0A80A17:0000      Route   1      0          0         \n" % marks["web-dr"])
    table = overview.parse_proc_ip_vs(text, overview.state_marks(desired_state(spec, "lb1")))
    assert table == {("tcp", "192.0.2.10", 80): {("192.168.10.21", 80): {"weight": 100, "active": 2, "inactive": 1}}}
    assert overview.parse_proc_ip_vs(text) == {}


class IpvsHost(object):
    """What the backend's host uses of a module: ipvsadm's listing, and the commands run."""

    def __init__(self, listing):
        self.listing = listing
        self.commands = []

    def get_bin_path(self, name, opt_dirs=None):
        return "/usr/sbin/" + name

    def run_command(self, argv):
        self.commands.append([os.path.basename(argv[0])] + argv[1:])
        return 0, self.listing if self.commands[-1] == ["ipvsadm", "-Ln"] else "", ""


def test_real_server_reads_and_sets_a_server_of_a_firewall_mark_service(tmp_path):
    spec = load_spec(marked())
    paths = engine.Paths(root=str(tmp_path))
    os.makedirs(os.path.dirname(paths.state))
    with open(paths.state, "w") as handle:
        json.dump(desired_state(spec, "lb1"), handle)
    host = IpvsHost(_listing(spec, IPVSADM_LN))
    appliance = LinuxAppliance(host, paths=paths)
    vs = spec.virtual_services[0]
    assert [appliance.server_state(vs, rs) for rs in vs.real_servers] == [("enabled", 2), ("drained", 1)]
    appliance.set_server_state(vs, vs.real_servers[0], "halted", "enabled")
    mark = str(programs.firewall_marks(spec)["web-dr"])
    assert host.commands[-1] == ["ipvsadm", "-d", "-f", mark, "-r", "192.168.10.21:0"]
    appliance.set_server_state(vs, vs.real_servers[0], "enabled", "halted")
    assert host.commands[-1] == ["ipvsadm", "-a", "-f", mark, "-r", "192.168.10.21:0", "-g", "-w", "100"]
    nat = spec.virtual_services[1]
    appliance.set_server_state(nat, nat.real_servers[0], "drained", "enabled")
    assert host.commands[-1][:6] == ["ipvsadm", "-e", "-f", str(programs.firewall_marks(spec)["app-nat"]), "-r", "10.0.1.21:80"]


def test_a_real_server_on_the_services_port_listens_on_every_port():
    got = served(marked(), ["192.168.10.21", "10.0.1.21"], "elsewhere")
    assert got["ports"] == [80, 443, 8000, 8001] and got["vips"] == ["192.0.2.10"]
    nat = served(marked(**{VS1 + "/real_servers/0/port": 8080}), ["10.0.1.21"], "elsewhere")
    assert nat["ports"] == [8080, 8081]


def test_a_new_port_set_reloads_the_table_and_keepalived_and_restarts_nothing(root):
    host, result = converge(marked(), root)
    assert result["changed"] and read(root, RULES) == programs.netfilter_rules(load_spec(marked()))
    assert "ExecReload=/usr/sbin/nft -f " in read(root, UNIT)
    started = [c[1:] for c in host.commands if c[0].endswith("systemctl") and c[1] in ("start", "reload", "restart")]
    assert started.index(["start", programs.NETFILTER]) < started.index(["reload", "keepalived"]) if ["reload", "keepalived"] in started \
        else started.index(["start", programs.NETFILTER]) < started.index(["start", "keepalived"])
    changed = marked(**{VS0 + "/extra_ports": "443 9000"})
    host, again = follow(changed, root, host)
    ran = [c[1:] for c in host.commands if c[0].endswith("systemctl") and c[1] in ("start", "reload", "restart", "stop")]
    # the table is replaced in one transaction (nft -f), never taken away and loaded again
    assert ["reload", programs.NETFILTER] in ran and ["restart", programs.NETFILTER] not in ran
    assert ["reload", "keepalived"] in ran
    assert "tcp dport { 80, 443, 9000 }" in read(root, RULES)
    host, same = follow(changed, root, host)
    assert not same["changed"] and same["operations"] == []
    # back to one port: the table and its unit go
    host, single = follow(mutate({}), root, host)
    assert not os.path.exists(root + RULES) and host.ran("systemctl", "stop", programs.NETFILTER)


def test_a_new_unit_restarts_the_table_even_when_the_table_changed_too(root):
    host, dummy = converge(marked(), root)
    both = mutate({VS0 + "/extra_ports": "444", "/virtual_services/2/layer7/transparent": True})
    host, result = follow(both, root, host)
    ran = [c[1:] for c in host.commands if c[0].endswith("systemctl") and c[1] in ("reload", "restart")]
    assert ["restart", programs.NETFILTER] in ran and ["reload", programs.NETFILTER] not in ran


@pytest.mark.parametrize("forwarding", ["dr", "tun", "nat"])
def test_every_forwarding_method_takes_extra_ports(forwarding):
    ops = {VS1 + "/extra_ports": "8081-8090", VS1 + "/forwarding": forwarding}
    if forwarding != "nat":
        ops[VS1 + "/real_servers/0/port"] = 8080
    spec = load_spec(mutate(ops))
    conf = keepalived.render(spec, "lb1", host_interfaces(spec, "lb1")).content
    assert "lb_kind %s" % forwarding.upper() in conf[conf.index("virtual_server fwmark"):]


def test_state_rendered_shows_the_table_when_the_spec_has_one(root):
    host, result = converge(marked(), root, state="rendered")
    assert result["rendered"][root + RULES] == programs.netfilter_rules(load_spec(marked()))
    assert not os.path.exists(root + RULES)
    host, plain = converge(mutate({}), root, state="rendered")
    assert root + RULES not in plain["rendered"]
