"""Runtime state of real servers: HAProxy's show stat, ipvsadm listings and argv, real_server.

fixtures/haproxy-show-stat.csv is `show stat` captured from HAProxy 2.6.12 (Debian 12) in the appliance
image: rs1 plain, rs2 drained at runtime (`set server ... state drain`), rs3 `disabled`, rs4
`weight 0`, rs5 with a failing check. The ipvsadm listings follow
ipvsadm 1.31's output format (`--stats --exact`: print_service_entry and print_largenum in
ipvsadm.c; a firewall-mark service lbkit did not set up is skipped: test_extra_ports.py reads its own); the IPVS data-plane
tier checks them against the real thing.
"""

import os

import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend import haproxy_runtime, ipvs
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.linux import LinuxAppliance
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import NotFound, RuntimeApiError, WaitTimedOut
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner import real_server
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import load_spec

from .specs import mutate
from .test_render import host_interfaces

with open(os.path.join(os.path.dirname(__file__), "fixtures", "haproxy-show-stat.csv")) as _handle:
    HAPROXY_STAT = _handle.read()

IPVSADM_LN = """IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.0.2.10:80 wrr persistent 300
  -> 192.168.10.21:80             Route   100    3          10
  -> 192.168.10.22:80             Route   0      1          4
UDP  [2001:db8::10]:53 rr
  -> [2001:db8::21]:53            Masq    1      0          0
"""

IPVSADM_LNC = """IPVS connection entries
pro expire state       source             virtual            destination
TCP 00:59  SYN_RECV    192.168.10.30:40000 192.0.2.10:80     192.168.10.21:80
TCP 14:58  ESTABLISHED 192.168.10.31:40001 192.0.2.10:80     192.168.10.22:80
"""

IPVSADM_LN_STATS = """IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  192.0.2.10:80                        14       84        0     5432        0
  -> 192.168.10.21:80                     10       60        0     3880        0
  -> 192.168.10.22:80                      4       24        0     1552        0
UDP  [2001:db8::10]:53              1234567890     2000     2000   130000   250000
  -> [2001:db8::21]:53              1234567890     2000     2000   130000   250000
FWM  7                                     3       18        0     1164        0
  -> 192.168.10.23:0                       3       18        0     1164        0
"""


def test_parse_stat():
    stats = haproxy_runtime.parse_stat(HAPROXY_STAT)
    assert sorted(stats) == [("vs_web", "rs%d" % i) for i in range(1, 6)]
    assert stats[("vs_web", "rs5")]["check_status"] == "L4CON"
    assert stats[("vs_web", "rs1")]["current_sessions"] == 0 and stats[("vs_web", "rs1")]["weight"] == 100
    states = [haproxy_runtime.spec_state(stats[("vs_web", "rs%d" % i)]) for i in range(1, 6)]
    # rs2 drained at runtime, rs3 'disabled', rs4 'weight 0' (drained by the config), rs5 down but enabled
    assert states == ["enabled", "drained", "halted", "drained", "enabled"]


def test_layer7_server_states_come_from_show_stat(monkeypatch):
    sent = []

    def command(text, path):
        sent.append(text)
        return HAPROXY_STAT

    monkeypatch.setattr(haproxy_runtime, "command", command)
    spec = load_spec(mutate({"/virtual_services/2/name": "web", "/virtual_services/2/real_servers": [
        {"name": "rs%d" % i, "address": "10.0.1.%d" % (30 + i), "port": 80} for i in (1, 2, 3, 9)]}))
    vs = spec.virtual_services[2]
    engine = LinuxAppliance(None, socket_path="/nonexistent")
    assert [engine.server_state(vs, rs) for rs in vs.real_servers[:3]] == [("enabled", 0), ("drained", 0), ("halted", 0)]
    assert sent == ["show stat"] * 3
    with pytest.raises(RuntimeApiError, match="HAProxy runs no server vs_web/rs9"):
        engine.server_state(vs, vs.real_servers[3])


def test_haproxy_commands():
    assert haproxy_runtime.set_state_commands("vs_web", "rs1", "drained") == ["set server vs_web/rs1 state drain"]
    assert haproxy_runtime.set_state_commands("vs_web", "rs1", "halted") == [
        "set server vs_web/rs1 state maint",
        "shutdown sessions server vs_web/rs1",
    ]
    assert haproxy_runtime.set_state_commands("vs_web", "rs1", "enabled") == ["set server vs_web/rs1 state ready"]


def test_unreachable_socket_is_a_clear_error(tmp_path):
    with pytest.raises(RuntimeApiError) as info:
        haproxy_runtime.command("show stat", str(tmp_path / "none.sock"))
    assert "did not answer 'show stat'" in str(info.value)


def test_parse_ipvsadm():
    services = ipvs.parse_services(IPVSADM_LN)
    assert [(s["protocol"], s["address"], s["port"], s["scheduler"], s["persistent"]) for s in services] == [
        ("tcp", "192.0.2.10", 80, "wrr", 300),
        ("udp", "2001:db8::10", 53, "rr", None),
    ]
    assert services[0]["real_servers"][1] == dict(address="192.168.10.22", port=80, forwarding="dr", weight=0, active=1, inactive=4)
    assert services[1]["real_servers"][0]["forwarding"] == "nat"
    stats = ipvs.parse_stats(IPVSADM_LN_STATS)
    assert stats == {
        ("tcp", "192.0.2.10", 80): dict(connections=14, real_servers={("192.168.10.21", 80): 10, ("192.168.10.22", 80): 4}),
        ("udp", "2001:db8::10", 53): dict(connections=1234567890, real_servers={("2001:db8::21", 53): 1234567890}),
    }
    conns = ipvs.parse_connections(IPVSADM_LNC)
    assert [c["state"] for c in conns] == ["SYN_RECV", "ESTABLISHED"]
    assert conns[0]["destination"] == ("192.168.10.21", 80)


def test_ipvsadm_argv():
    spec = load_spec(mutate({"/virtual_services/0/real_servers/0/max_connections": 500, "/virtual_services/0/real_servers/0/min_connections": 400}))
    vs = spec.service("web-dr")
    rs = vs.real_servers[0]
    assert ipvs.set_state_argv(vs, rs, "drained", True) == [
        ["ipvsadm", "-e", "-t", "192.0.2.10:80", "-r", "192.168.10.21:80", "-g", "-w", "0", "-x", "500", "-y", "400"]
    ]
    assert ipvs.set_state_argv(vs, rs, "halted", True) == [["ipvsadm", "-d", "-t", "192.0.2.10:80", "-r", "192.168.10.21:80"]]
    assert ipvs.set_state_argv(vs, rs, "halted", False) == []
    assert ipvs.set_state_argv(vs, rs, "enabled", False)[0][:2] == ["ipvsadm", "-a"]
    assert "100" in ipvs.set_state_argv(vs, rs, "enabled", False)[0]


def test_an_enable_at_runtime_sets_the_weight_keepalived_conf_has():
    from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import keepalived

    for scheduling, weight in (("round_robin", "1"), ("least_connection", "1"), ("weighted_round_robin", "100")):
        spec = load_spec(mutate({"/virtual_services/0/scheduling": scheduling}))
        vs = spec.service("web-dr")
        argv = ipvs.set_state_argv(vs, vs.real_servers[0], "enabled", True)[0]
        assert argv[argv.index("-w") + 1] == weight, scheduling
        conf = keepalived.render(spec, "lb1", host_interfaces(spec, "lb1")).content
        block = conf[conf.index("real_server 192.168.10.21 80"):]
        assert block.splitlines()[1].split() == ["weight", weight], scheduling


class FakeModule(object):
    def __init__(self, params, check_mode=False):
        self.params = dict(dict(wait=False, wait_timeout=300), **params)
        self.check_mode = check_mode
        self._diff = True


class FakeEngine(object):
    """The runtime half of an engine: a server's state and connections, and the state changes made."""

    def __init__(self, state, connections):
        self.state = state
        self.connections = list(connections)
        self.calls = []

    def server_state(self, vs, rs):
        return self.state, self.connections.pop(0) if len(self.connections) > 1 else self.connections[0]

    def set_server_state(self, vs, rs, state, current):
        self.calls.append((vs.name, rs.name, state, current))
        self.state = state


def params(**extra):
    return dict(spec=mutate({}), service="shop", real_server="10.0.1.31:8443", **extra)


def test_real_server_check_mode_predicts_and_changes_nothing():
    runtime = FakeEngine("enabled", [2])
    result = real_server.run(FakeModule(params(state="drained"), check_mode=True), runtime)
    assert result["changed"] and result["before"] == "enabled" and result["after"] == "drained"
    assert result["diff"] == {"before": "state: enabled\n", "after": "state: drained\n"}
    assert runtime.calls == []


def test_real_server_drains_and_waits():
    runtime = FakeEngine("enabled", [2, 2, 1, 0])
    clock = iter(range(100)).__next__
    result = real_server.run(FakeModule(params(state="drained", wait=True)), runtime, clock=clock, sleep=lambda s: None)
    assert runtime.calls == [("shop", "10.0.1.31:8443", "drained", "enabled")]
    assert result["connections"] == 0 and result["waited"] > 0


def test_real_server_wait_times_out():
    runtime = FakeEngine("enabled", [5])
    ticks = iter([0, 0, 400, 400])
    with pytest.raises(WaitTimedOut) as info:
        real_server.run(FakeModule(params(state="halted", wait=True, wait_timeout=300)), runtime, clock=lambda: next(ticks), sleep=lambda s: None)
    assert "still has 5 connections after 300s" in str(info.value)


def test_real_server_idempotent():
    runtime = FakeEngine("drained", [0])
    assert real_server.run(FakeModule(params(state="drained")), runtime)["changed"] is False
    assert runtime.calls == []


def test_real_server_unknown_names():
    with pytest.raises(NotFound) as info:
        real_server.run(FakeModule(dict(params(state="drained"), service="nope")), FakeEngine("enabled", [0]))
    assert "no virtual service named 'nope'" in str(info.value) and "web-dr" in str(info.value)
    with pytest.raises(NotFound) as info:
        real_server.run(FakeModule(dict(params(state="drained"), real_server="web9")), FakeEngine("enabled", [0]))
    assert "has no real server 'web9'" in str(info.value)
