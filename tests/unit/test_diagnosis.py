"""The manuals' diagnoses: SYN_RECV on DR and NAT services, split brain, unheld addresses."""

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend import ipvs
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.diagnosis import ipvs_diagnosis
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.diagnosis import cluster_diagnosis

SERVICES = ipvs.parse_services("""TCP  192.0.2.10:80 wrr
  -> 192.168.10.21:80             Route   100    0          0
TCP  192.0.2.11:80 wrr
  -> 10.0.1.21:80                 Masq    100    0          0
""")


def conns(vip, state, count, dest="192.168.10.21:80"):
    lines = ["TCP 00:59  %s %s 192.168.10.%d:%d %s %s" % ("", state, 30, 40000 + i, vip, dest) for i in range(count)]
    return ipvs.parse_connections("\n".join(line.replace("  ", " ") for line in lines))


FORWARDING = {("tcp", "192.0.2.10", 80): "dr", ("tcp", "192.0.2.11", 80): "nat"}


def test_many_syn_recv_on_dr_is_the_arp_problem():
    out = ipvs_diagnosis(SERVICES, conns("192.0.2.10:80", "SYN_RECV", 8), FORWARDING)
    assert len(out) == 1
    assert out[0].startswith("192.0.2.10:80/tcp: 8 of 8 connections are stuck in SYN_RECV")
    assert "ARP problem" in out[0] and "arp_ignore=1" in out[0]


def test_many_syn_recv_on_nat_is_the_gateway():
    out = ipvs_diagnosis(SERVICES, conns("192.0.2.11:80", "SYN_RECV", 6, "10.0.1.21:80"), FORWARDING)
    assert len(out) == 1 and "default gateway must be the appliance's internal floating IP" in out[0]


def test_healthy_or_few_half_open_connections_are_fine():
    assert ipvs_diagnosis(SERVICES, conns("192.0.2.10:80", "ESTABLISHED", 50), FORWARDING) == []
    assert ipvs_diagnosis(SERVICES, conns("192.0.2.10:80", "SYN_RECV", 4), FORWARDING) == []
    mixed = conns("192.0.2.10:80", "SYN_RECV", 6) + conns("192.0.2.10:80", "ESTABLISHED", 20)
    assert ipvs_diagnosis(SERVICES, mixed, FORWARDING) == []


def info(held, running=True, expected=("192.0.2.10", "10.0.1.1"), diagnosis=()):
    return {"vrrp": {"running": running, "held": list(held), "expected": list(expected)}, "diagnosis": list(diagnosis)}


def test_healthy_pair():
    assert cluster_diagnosis({"lb1": info(["192.0.2.10", "10.0.1.1"]), "lb2": info([])}) == []


def test_split_brain():
    out = cluster_diagnosis({"lb1": info(["192.0.2.10", "10.0.1.1"]), "lb2": info(["192.0.2.10", "10.0.1.1"])})
    assert out == [
        "split brain: 10.0.1.1 is held by lb1 and lb2 at once; the nodes do not hear each other's heartbeat.",
        "split brain: 192.0.2.10 is held by lb1 and lb2 at once; the nodes do not hear each other's heartbeat.",
    ]


def test_nobody_holds_and_keepalived_down():
    out = cluster_diagnosis(
        {"lb1": info([], running=False), "lb2": info(["192.0.2.10"], diagnosis=["HAProxy: real server web1 of web is down (L4CON)."])}
    )
    assert out == [
        "lb1: keepalived is not running, so it can neither hold nor take over the floating addresses.",
        "lb2: HAProxy: real server web1 of web is down (L4CON).",
        "10.0.1.1 is held by no node: clients cannot reach it.",
    ]
