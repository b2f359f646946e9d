"""The real servers' outbound connections through the appliance (docs/appliance.md): autonat
masquerades them on the external interface, use_for_server_nat gives them a service's VIP.
Validation, rendering, the plan and the LoadMaster mapping here; the lab proves both with traffic."""

import dataclasses

import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine import linux as engine
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine import loadmaster
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import UnsafeValue
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.state import desired_state
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import programs, sysctl
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import check_spec, load_spec

from . import test_appliance_module as appliance_tests
from .specs import DELETE, mutate
from .test_appliance_module import BOOT, converge, read

root = appliance_tests.root

NAT = "/virtual_services/1"
SHOP = "/virtual_services/2"


def errors(spec):
    return [str(e) for e in check_spec(spec)[1]]


def test_autonat_masquerades_the_gateway_subnets_on_the_external_interface():
    spec = load_spec(mutate({"/cluster/autonat": True}))
    rules = programs.netfilter_rules(spec)
    assert 'ip saddr 10.0.1.0/24 oifname "eth0" masquerade' in rules
    assert "type nat hook postrouting priority srcnat" in rules and "transparent" not in rules
    assert ("net.ipv4.ip_forward", "1") in sysctl.render(spec).settings.items()
    assert desired_state(spec, "lb1")["cluster"]["autonat"] is True
    assert "autonat" not in desired_state(load_spec(mutate({})), "lb1")["cluster"]


def test_server_nat_comes_before_autonat_and_each_real_server_leaves_from_its_vip():
    spec = load_spec(mutate({"/cluster/autonat": True, NAT + "/use_for_server_nat": True, SHOP + "/use_for_server_nat": True}))
    lines = [line.strip() for line in programs.netfilter_rules(spec).splitlines() if "saddr" in line]
    assert lines == [
        'ip saddr 10.0.1.21 oifname "eth0" snat ip to 192.0.2.11',
        'ip saddr 10.0.1.31 oifname "eth0" snat ip to 192.0.2.12',
        'ip saddr 10.0.1.0/24 oifname "eth0" masquerade',
    ]
    assert desired_state(spec, "lb1")["virtual_services"]["tcp/192.0.2.11/8080"]["use_for_server_nat"] is True
    assert programs.netfilter_wanted(spec) and not programs.netfilter_wanted(load_spec(mutate({})))


@pytest.mark.parametrize("ops,path,fragment", [
    ({"/cluster/autonat": True, "/cluster/floating_ips": []}, "/cluster/autonat", "no real server routes through the appliance"),
    ({"/cluster/autonat": True, "/cluster/interfaces/external": DELETE}, "/cluster/autonat", "masquerades on the external interface"),
    ({"/virtual_services/0/use_for_server_nat": True}, "/virtual_services/0/use_for_server_nat", "Direct Routing and tunnelling real servers"),
    ({SHOP + "/use_for_server_nat": True, SHOP + "/real_servers/0/address": "172.16.0.5"}, SHOP + "/real_servers/0/address",
     "not in the subnet of any gateway floating IP"),
    ({SHOP + "/use_for_server_nat": True, NAT + "/use_for_server_nat": True, SHOP + "/real_servers/0/address": "10.0.1.21"},
     SHOP + "/real_servers/0/address", "10.0.1.21 already leaves from 192.0.2.11"),
])
def test_what_cannot_work_is_refused_with_its_path(ops, path, fragment):
    spec, found = check_spec(mutate(ops))
    assert spec is None
    assert any(e.path == path and fragment in str(e) for e in found), [str(e) for e in found]


def test_the_loadmaster_sets_its_vip_for_server_nat_and_refuses_autonat():
    vs = load_spec(mutate({NAT + "/use_for_server_nat": True})).virtual_services[1]
    assert loadmaster.vs_params(vs)["UseforSnat"] is True
    refused = errors(mutate({"/cluster/engine": "loadmaster", "/cluster/autonat": True}))
    assert any(e.startswith("/cluster/autonat: a Kemp LoadMaster translates its real servers' outbound connections") for e in refused), refused


def test_an_interface_name_nftables_could_misread_is_never_written():
    spec = load_spec(mutate({"/cluster/autonat": True}))
    odd = dataclasses.replace(spec.cluster, interfaces=dataclasses.replace(spec.cluster.interfaces, external='eth0" accept'))
    with pytest.raises(UnsafeValue):
        programs.netfilter_rules(dataclasses.replace(spec, cluster=odd))


def test_autonat_installs_lbkits_table_without_the_transparency_routing(root):
    spec = mutate({"/cluster/autonat": True})
    host, result = converge(spec, root)
    unit = read(root, programs.NETFILTER_UNIT)
    assert "nft -f /etc/lbkit/netfilter.nft" in unit and "ip -4 rule" not in unit
    assert "masquerade" in read(root, engine.STATE_DIR + "/" + programs.NETFILTER_RULES_NAME)
    assert programs.NETFILTER in BOOT and host.ran("systemctl", "start", programs.NETFILTER)
    assert engine.packages(load_spec(spec), ["keepalived"]) == ["keepalived", "nftables"]
