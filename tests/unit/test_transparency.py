"""Layer-7 transparency (docs/engine-mapping.md, docs/appliance.md): HAProxy connects from the
client's own address, the clients on the real servers' subnets go through a second backend from
the appliance's address, and the appliance's policy routing (the lbkit-netfilter unit) hands the
real servers' replies to HAProxy. Rendering, plan and apply here; the lab proves it with traffic."""

import os

import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine import linux as engine
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import haproxy, programs
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import load_spec
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.served import served

from . import test_appliance_module as appliance_tests
from .specs import mutate
from .test_appliance_module import BOOT, FakeHost, converge, read

root = appliance_tests.root

VS2 = "/virtual_services/2"
UNIT = programs.NETFILTER_UNIT
RULES = engine.STATE_DIR + "/" + programs.NETFILTER_RULES_NAME


def transparent(**layer7):
    return mutate({VS2 + "/layer7": dict({"transparent": True}, **layer7)})


def follow(spec, root, host, **kwargs):
    after = FakeHost(spec, **kwargs)
    after.active = set(host.active)
    return converge(spec, root, host=after)


def section(cfg, header):
    """The lines of one section of a haproxy.cfg."""
    lines = cfg.splitlines()
    start = lines.index(header)
    out = []
    for line in lines[start + 1:]:
        if not line.startswith("    "):
            break
        out.append(line.strip())
    return out


def test_a_transparent_service_is_a_frontend_and_two_backends():
    spec = load_spec(transparent())
    vs = spec.virtual_services[2]
    cfg = haproxy.render(spec).content
    name, local = haproxy.proxy_name(vs.name), haproxy.local_proxy_name(vs.name)
    networks = " ".join(str(n) for n in haproxy.local_networks(vs, spec.cluster))
    assert networks and "listen %s" % name not in cfg
    front = section(cfg, "frontend %s" % name)
    assert front[-2:] == ["use_backend %s if { src %s }" % (local, networks), "default_backend %s" % name]
    main, second = section(cfg, "backend %s" % name), section(cfg, "backend %s" % local)
    servers = [line for line in main if line.startswith("server ")]
    assert servers and all(line.endswith("source 0.0.0.0 usesrc clientip") for line in servers)
    followers = [line for line in second if line.startswith("server ")]
    assert [line.split()[1] for line in followers] == [line.split()[1] for line in servers]
    assert all(" track %s/%s" % (name, line.split()[1]) in line and "usesrc" not in line and " check" not in line for line in followers)
    # HAProxy keeps its privileges: usesrc needs them.
    assert "    user haproxy\n" not in cfg and "    group haproxy\n" not in cfg
    # The proxies lbkit reports on are the service's own; the second backend follows the first.
    assert haproxy.service_of_proxy(local) is None and haproxy.server_proxies(vs) == [name]
    assert "    user haproxy\n" in haproxy.render(load_spec(mutate({}))).content


def test_the_second_backend_keeps_its_entries_in_the_first_backends_tables():
    spec = load_spec(mutate({VS2 + "/layer7": {"transparent": True, "mode": "tcp"}, VS2 + "/persistence": {"mode": "ssl_session_id"}}))
    vs = spec.virtual_services[2]
    cfg = haproxy.render(spec).content
    name, local = haproxy.proxy_name(vs.name), haproxy.local_proxy_name(vs.name)
    second = section(cfg, "backend %s" % local)
    assert not [line for line in second if line.startswith("stick-table")]
    assert "stick on req.payload_lv(43,1) table %s if lbkit_clienthello" % name in second
    assert "stick store-response res.payload_lv(43,1) table %s if lbkit_serverhello" % name in second


def test_without_checks_nothing_is_tracked_and_runtime_states_go_to_both_backends():
    spec = load_spec(mutate({VS2 + "/layer7": {"transparent": True}, VS2 + "/health_check": {"type": "none"}}))
    vs = spec.virtual_services[2]
    cfg = haproxy.render(spec).content
    assert " track " not in cfg
    assert haproxy.server_proxies(vs) == [haproxy.proxy_name(vs.name), haproxy.local_proxy_name(vs.name)]


def test_subnet_originating_off_connects_from_the_vip():
    spec = load_spec(transparent(subnet_originating=False))
    vs = spec.virtual_services[2]
    cfg = haproxy.render(spec).content
    second = section(cfg, "backend %s" % haproxy.local_proxy_name(vs.name))
    assert all(line.endswith(" source %s" % vs.address) for line in second if line.startswith("server "))


def test_the_real_servers_of_a_transparent_service_get_the_gateway():
    spec = transparent()
    rs = load_spec(spec).virtual_services[2].real_servers[0]
    got = served(spec, [str(rs.address)], "elsewhere")
    assert got["transparent_services"] == [load_spec(spec).virtual_services[2].name] and rs.port in got["ports"]
    assert got["gateways"] == [str(g.address) for g in load_spec(spec).cluster.gateways()]
    assert served(mutate({}), [str(rs.address)], "elsewhere")["gateways"] == []


def test_the_unit_loads_the_mark_and_the_routing_of_each_family_and_takes_them_away():
    unit = programs.netfilter_unit(RULES, [4])
    assert "ExecStart=/usr/sbin/nft -f %s" % RULES in unit
    assert "ExecStart=/usr/sbin/ip -4 rule add pref 4242 fwmark 0x4c42 lookup 4242" in unit
    assert "ExecStart=/usr/sbin/ip -4 route replace local 0.0.0.0/0 dev lo table 4242" in unit
    assert "ExecStop=-/usr/sbin/nft delete table inet lbkit" in unit and " -6 " not in unit
    assert "ExecStart=/usr/sbin/ip -6 route replace local ::/0 dev lo table 4242" in programs.netfilter_unit(RULES, [4, 6])
    rules = programs.netfilter_rules(load_spec(transparent()))
    assert "socket transparent 1 meta mark set 0x4c42" in rules and rules.index("delete table inet lbkit") < rules.index("chain transparent_replies")
    with pytest.raises(Exception):
        programs.netfilter_unit("/etc/lbkit/a file", [4])


def test_transparency_installs_and_starts_its_routing_before_haproxy(root):
    host, result = converge(transparent(), root)
    assert result["changed"]
    assert read(root, UNIT) == programs.netfilter_unit(RULES, [4]) and read(root, RULES) == programs.netfilter_rules(load_spec(transparent()))
    assert programs.NETFILTER in BOOT
    started = [c[1:] for c in host.commands if c[0].endswith("systemctl") and c[1] in ("daemon-reload", "start")]
    assert started.index(["daemon-reload"]) < started.index(["start", programs.NETFILTER]) < started.index(["start", "haproxy"])
    assert engine.packages(load_spec(transparent()), ["haproxy"]) == ["haproxy", "nftables"]
    host, again = follow(transparent(), root, host)
    assert not again["changed"] and again["operations"] == []


def test_transparency_off_stops_disables_and_removes_the_routing(root):
    host, dummy = converge(transparent(), root)
    host, result = follow(mutate({}), root, host)
    for path in (UNIT, RULES):
        assert not os.path.exists(root + path)
    assert programs.NETFILTER not in BOOT and programs.NETFILTER not in host.active
    assert host.ran("systemctl", "stop", programs.NETFILTER)
    assert engine.packages(load_spec(mutate({})), ["haproxy"]) == ["haproxy"]


def test_an_appliance_never_transparent_leaves_any_unit_of_that_name_alone(root):
    host = FakeHost(mutate({}))
    host.active.add(programs.NETFILTER)
    host, result = converge(mutate({}), root, host=host)
    assert not host.ran("systemctl", "stop", programs.NETFILTER)
