"""Alternate source addresses (layer7.source_addresses): HAProxy connects to each real server from
every address of the list, a server line per address, so the connections spread over them, each
with its own source ports. The molecule scenario l7_snat sends requests through such a service and
reads the addresses the real servers saw.
"""

import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend import haproxy_runtime
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.linux import LinuxAppliance
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._monitor import overview
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.state import desired_state
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import haproxy
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import check_spec, load_spec
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._verify.targets import targets
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.report import session_counts

from .specs import mutate
from . import test_appliance_module as appliance_tests
from .test_appliance_module import converge

SHOP = "/virtual_services/2"
# floating IPs of the test spec's internal side, for the appliance to connect from
SOURCES = {"/cluster/floating_ips": [{"name": "gw", "address": "10.0.1.1/24", "side": "internal", "gateway": True},
                                     {"name": "src-a", "address": "10.0.1.5/24", "side": "internal"},
                                     {"name": "src-b", "address": "10.0.1.6/24", "side": "internal"}],
           "/cluster/ha": {"mode": "single"}, "/cluster/nodes": [{"host": "lb1", "heartbeat_address": "192.168.10.11"}]}
root = appliance_tests.root


def sourced(addresses=("10.0.1.5", "10.0.1.6"), **more):
    """The test spec on a single appliance, shop (192.0.2.12:443, TLS) connecting from ``addresses``."""
    ops = dict(SOURCES, **{SHOP + "/layer7/source_addresses": list(addresses), SHOP + "/real_servers": [
        {"name": "web1", "address": "10.0.1.31", "port": 8443, "max_connections": 100}, {"name": "web2", "address": "10.0.1.32", "port": 8443}]})
    ops.update(more)
    return mutate(ops)


def errors(data):
    spec, found = check_spec(data)
    assert spec is None, "the spec was accepted"
    out = {}
    for e in found:
        out[e.path] = out.get(e.path, "") + str(e) + "\n"
    return out


def test_each_real_server_has_a_server_line_per_source_address():
    spec = load_spec(sourced(("10.0.1.5", "10.0.1.6", "192.0.2.12")))
    vs = spec.service("shop")
    assert haproxy.server_names(vs, vs.real_servers[0]) == ["web1", "web1_src2", "web1_src3"]
    cfg = haproxy.render(spec).content
    lines = [line.strip() for line in cfg.splitlines() if line.strip().startswith("server web1")]
    assert lines == [
        "server web1 10.0.1.31:8443 weight 100 maxconn 34 cookie web1 check inter 10s fall 2 rise 2 source 10.0.1.5",
        "server web1_src2 10.0.1.31:8443 weight 100 maxconn 33 cookie web1_src2 track vs_shop/web1 source 10.0.1.6",
        "server web1_src3 10.0.1.31:8443 weight 100 maxconn 33 cookie web1_src3 track vs_shop/web1 source 192.0.2.12",
    ]
    recorded = desired_state(spec, "lb1")["virtual_services"]["tcp/192.0.2.12/443"]["layer7"]["source_addresses"]
    assert recorded == ["10.0.1.5", "10.0.1.6", "192.0.2.12"]
    # without checks nothing is tracked; one address is one line
    cfg = haproxy.render(load_spec(sourced(("10.0.1.6",), **{SHOP + "/health_check": {"type": "none"}}))).content
    assert [line.strip() for line in cfg.splitlines() if "server web2" in line] == ["server web2 10.0.1.32:8443 weight 100 cookie web2 source 10.0.1.6"]


@pytest.mark.parametrize("more, path, message", [
    ({SHOP + "/layer7/source_addresses": ["10.0.1.7"]}, SHOP + "/layer7/source_addresses/0", "neither a VIP of the spec nor a floating IP"),
    ({SHOP + "/layer7/source_addresses": ["10.0.1.5", "10.0.1.5"]}, SHOP + "/layer7/source_addresses/1", "is listed twice"),
    ({SHOP + "/layer7/source_addresses": ["10.0.1.5", "2001:db8::5"]}, SHOP + "/layer7/source_addresses/1", "one family"),
    ({SHOP + "/layer7/source_addresses": []}, SHOP + "/layer7/source_addresses", "needs at least 1 item"),
    ({SHOP + "/layer7/source_addresses": ["10.0.1"]}, SHOP + "/layer7/source_addresses/0", "is not an IPv4 or IPv6 address"),
    ({SHOP + "/layer7/transparent": True}, SHOP + "/layer7/source_addresses", "connects from each client's own address"),
    ({SHOP + "/layer7/subnet_originating": False}, SHOP + "/layer7/subnet_originating", "source_addresses decide where the connections come from"),
    ({SHOP + "/real_servers/1/address": "2001:db8::32"}, SHOP + "/real_servers/1/address", "cannot reach an IPv6 real server"),
    ({SHOP + "/real_servers/1/name": "web1_src2"}, SHOP + "/real_servers/1/name", "is the name HAProxy gives web1's server for its source address 2"),
    ({SHOP + "/real_servers/0/max_connections": 1}, SHOP + "/real_servers/0/max_connections", "is shared out over the real server's 2 source"),
])
def test_source_addresses_are_refused_where_they_cannot_work(more, path, message):
    found = errors(sourced(**more))
    assert message in found[path], found


def test_an_ha_pair_and_a_loadmaster_refuse_them_with_the_reason():
    pair = mutate({SHOP + "/layer7/source_addresses": ["192.0.2.12"]})
    found = errors(pair)
    assert "the backup node's checks would fail" in found[SHOP + "/layer7/source_addresses"]
    on_loadmaster = {"/cluster/engine": "loadmaster", "/cluster/floating_ips": [], "/cluster/nodes": [{"host": "lm1"}],
                     "/virtual_services/0/forwarding": "nat", "/virtual_services/0/real_servers/0/port": 80}
    loadmaster = sourced(("192.0.2.12",), **on_loadmaster)
    found = errors(loadmaster)
    assert "alternate source addresses are one list for the whole appliance" in found[SHOP + "/layer7/source_addresses"]


def test_a_runtime_state_is_set_on_every_line_of_the_real_server(root):
    host, first = converge(sourced(), root)
    assert first["changed"]
    servers = dict(((haproxy.proxy_name("shop"), name), "enabled") for name in ("web1", "web1_src2", "web2", "web2_src2"))
    again = appliance_tests.FakeHost(sourced(**{SHOP + "/real_servers/0/state": "drained"}), check_mode=True)
    again.active = set(host.active)
    again, predicted = converge(again.params["spec"], root, host=again, servers=servers)
    assert [op for op in predicted["operations"] if op.startswith("set HAProxy")] == [
        "set HAProxy server vs_shop/web1 drained", "set HAProxy server vs_shop/web1_src2 drained"]


STAT = """# pxname,svname,qcur,qmax,scur,smax,slim,stot,status,weight,check_status
vs_shop,web1,0,0,3,5,,40,UP,100,L7OK
vs_shop,web1_src2,0,0,4,6,,41,UP,100,
vs_shop,web2,0,0,1,2,,7,DRAIN,100,L7OK
vs_shop,web2_src2,0,0,0,1,,8,DRAIN,100,
vs_shop,BACKEND,0,0,8,9,,96,UP,400,
"""


def test_what_reads_a_real_server_back_counts_every_line(monkeypatch):
    monkeypatch.setattr(haproxy_runtime, "command", lambda text, path: STAT)
    spec = load_spec(sourced())
    vs = spec.service("shop")
    engine = LinuxAppliance(None, socket_path="/nonexistent")
    assert engine.server_state(vs, vs.real_servers[0]) == ("enabled", 7) and engine.server_state(vs, vs.real_servers[1]) == ("drained", 1)
    sent = []
    monkeypatch.setattr(haproxy_runtime, "run_commands", lambda commands, path: sent.extend(commands))
    engine.set_server_state(vs, vs.real_servers[1], "halted", "drained")
    assert [c.split(" state ")[0] for c in sent if " state " in c] == ["set server vs_shop/web2", "set server vs_shop/web2_src2"]
    state = desired_state(spec, "lb1")
    shop = next(s for s in overview.overview(state, {}, haproxy_runtime.parse_stat(STAT), {}) if s["name"] == "shop")
    assert [(rs["name"], rs["status"], rs["active"]) for rs in shop["real_servers"]] == [("web1", "up", 7), ("web2", "drained", 1)]
    (target,) = targets(sourced(), ["shop"])
    totals = (("web1", 40), ("web1_src2", 41), ("web2", 7), ("web2_src2", 8))
    info = {"lb1": {"haproxy": {"services": {"shop": dict((name, {"total_sessions": total}) for name, total in totals)}}}}
    assert session_counts(target, info) == {"web1": 81, "web2": 15}


def test_a_vip_of_another_service_may_be_a_source():
    data = sourced(("192.0.2.10",))
    data["virtual_services"].append({"name": "x", "address": "192.0.2.13", "port": 80, "real_servers": [{"address": "10.0.1.41"}]})
    spec, found = check_spec(data)
    assert not found, found


def test_a_real_server_down_is_one_diagnosis_for_all_its_lines(monkeypatch, tmp_path):
    down = STAT.replace("vs_shop,web2,0,0,1,2,,7,DRAIN,100,L7OK", "vs_shop,web2,0,0,1,2,,7,DOWN,100,L7STS").replace(
        "vs_shop,web2_src2,0,0,0,1,,8,DRAIN,100,", "vs_shop,web2_src2,0,0,0,1,,8,DOWN,100,")
    monkeypatch.setattr(haproxy_runtime, "command", lambda text, path: down)
    socket = tmp_path / "admin.sock"
    socket.write_text("")
    engine = LinuxAppliance(None, socket_path=str(socket))
    monkeypatch.setattr(engine, "is_active", lambda name: True)
    result, diagnosis = engine._haproxy_info()
    assert sorted(result["services"]["shop"]) == ["web1", "web1_src2", "web2", "web2_src2"]
    assert diagnosis == ["HAProxy: real server web2 of shop is down (L7STS)."]
