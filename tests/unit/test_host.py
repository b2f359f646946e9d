"""Host-side rules: against a captured `ip -json address show` of an appliance.

fixtures/ip-address-appliance.json is the output of `ip -json address show` (iproute2 6.1,
Debian 12) in an appliance container with two interfaces, its addresses replaced by the
documentation ones the tests use; 192.168.10.100/32 on eth0 is a VIP keepalived holds.
"""

import os

import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import HostOutputUnreadable
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._net import ip
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.host import check_host
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import load_spec

from .specs import mutate

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "ip-address-appliance.json")
VS0 = "/virtual_services/0"


def interfaces():
    with open(FIXTURE) as handle:
        return ip.by_name(ip.parse_links(handle.read()))


def paths(errors):
    return [e.path for e in errors]


def test_parse_links():
    found = interfaces()
    assert sorted(found) == ["eth0", "eth1", "lo"]
    assert [str(a) for a in found["eth0"]] == ["192.168.10.11/24", "192.168.10.100/32"]
    assert [str(a) for a in found["lo"]] == ["127.0.0.1/8", "::1/128"]


def test_clean_host_passes():
    spec = load_spec(mutate({}))
    assert check_host(spec, "lb1", interfaces(), managed=["192.168.10.100"]) == []


def test_vip_equal_to_interface_address_is_refused():
    spec = load_spec(mutate({VS0 + "/address": "10.0.1.11", VS0 + "/real_servers": [{"address": "10.0.1.50"}]}))
    errors = check_host(spec, "lb1", interfaces())
    assert paths(errors) == [VS0 + "/address"]
    assert "10.0.1.11 is an address of interface eth1 on lb1" in str(errors[0])
    assert errors[0].fix


def test_address_lbkit_manages_is_not_the_hosts_own():
    spec = load_spec(mutate({VS0 + "/address": "192.168.10.100"}))
    assert check_host(spec, "lb1", interfaces(), managed=["192.168.10.100"]) == []
    errors = check_host(spec, "lb1", interfaces(), managed=[])
    assert paths(errors) == [VS0 + "/address"]


def test_floating_ip_equal_to_interface_address_is_refused():
    spec = load_spec(mutate({"/cluster/floating_ips/0/address": "10.0.1.11/24"}))
    errors = check_host(spec, "lb1", interfaces())
    assert paths(errors) == ["/cluster/floating_ips/0/address"]


def test_host_must_be_a_node():
    spec = load_spec(mutate({}))
    errors = check_host(spec, "lb9", interfaces())
    assert paths(errors) == ["/cluster/nodes"]
    assert "host 'lb9' is not a node of cluster 'lb-prod' (nodes: lb1, lb2)" in str(errors[0])


def test_heartbeat_address_must_be_the_nodes_own():
    spec = load_spec(mutate({}))
    errors = check_host(spec, "lb2", interfaces())
    assert paths(errors) == ["/cluster/nodes/1/heartbeat_address"]
    assert "192.168.10.12 is not an address of lb2" in str(errors[0])


def test_named_interfaces_must_exist():
    spec = load_spec(mutate({"/cluster/interfaces/internal": "eth7", "/cluster/ha/track_interfaces": ["eth0", "bond0"]}))
    errors = check_host(spec, "lb1", interfaces())
    assert paths(errors) == ["/cluster/interfaces/internal", "/cluster/ha/track_interfaces/1"]
    assert "use one of: eth0, eth1, lo." in str(errors[0])


def test_empty_listing():
    assert ip.by_name(ip.parse_links("")) == {}


@pytest.mark.parametrize("text", ["not json", "{}", "[1, 2]", '{"ifname": "eth0"}'])
def test_output_that_is_not_a_listing_is_an_error_not_a_traceback(text):
    with pytest.raises(HostOutputUnreadable, match="cannot read the output of 'ip -json address show'"):
        ip.parse_links(text)


def test_links_carry_flags_and_skip_what_does_not_parse():
    links = ip.parse_links('[{"ifname": "tunl0", "flags": ["NOARP", "UP"], "link_type": "ipip", "addr_info": ['
                           '{"family": "inet", "local": "not-an-address", "prefixlen": 24}, {"family": "link", "local": "x"},'
                           ' {"family": "inet6", "local": "2001:db8::1"}]}, {"addr_info": []}]')
    assert [(link.name, link.up, link.loopback) for link in links] == [("tunl0", True, False)]
    assert [str(a) for a in links[0].addresses] == ["2001:db8::1/128"]
