"""The realserver role's own logic, evaluated by Ansible's templating on the role's files as they are:
what the served filter finds in a spec (through the model), and the expressions and conditions of
the tasks that decide about tunnelling (no play runs: the modules have tests of their own).
"""

import json
import os

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles", "realserver")

SPEC = {
    "cluster": {"name": "t", "nodes": [{"host": "lb1"}], "interfaces": {"external": "eth0", "internal": "eth1"},
                "floating_ips": [{"address": "10.1.0.1/24", "side": "internal", "gateway": True}]},
    "virtual_services": [
        {"name": "web", "address": "10.0.0.100", "port": 80, "layer": 4, "forwarding": "dr",
         "real_servers": [{"address": "10.0.0.21"}, {"address": "10.0.0.22"}]},
        {"name": "api", "address": "10.0.0.101", "port": 8080, "layer": 4, "forwarding": "tun",
         "real_servers": [{"address": "10.0.0.21"}, {"name": "rs3", "address": "10.0.0.23"}]},
        {"name": "api6", "address": "2001:db8::101", "port": 8080, "layer": 4, "forwarding": "tun",
         "real_servers": [{"address": "2001:db8::23"}]},
    ],
}


def read(*path):
    with open(os.path.join(ROLE, *path), encoding="utf-8") as handle:
        return handle.read()


def templar(**variables):
    return Templar(loader=DataLoader(), variables=variables)


def task(tasks_file, name):
    return next(t for t in yaml.safe_load(read("tasks", tasks_file)) if t["name"] == name)


def holds(tasks_file, name, **variables):
    """Whether every condition of the task is true for ``variables``."""
    conditions = task(tasks_file, name)["when"]
    return all(templar(**variables).evaluate_conditional(trust_as_template(c)) for c in conditions)


def served(addresses, hostname="other", spec=None):
    expression = task("main.yml", "Find what this host serves in the spec")["ansible.builtin.set_fact"]["__realserver_served"]
    return templar(realserver_spec=spec or SPEC, __realserver_addresses=addresses, inventory_hostname=hostname).template(
        trust_as_template(expression))


@pytest.mark.parametrize("addresses, hostname, vips, tunnel_vips", [
    (["10.0.0.22"], "other", ["10.0.0.100"], []),
    (["10.0.0.21"], "other", ["10.0.0.100", "10.0.0.101"], ["10.0.0.101"]),
    ([], "rs3", ["10.0.0.101"], ["10.0.0.101"]),
    (["10.0.0.23", "2001:db8::23"], "other", ["10.0.0.101", "2001:db8::101"], ["10.0.0.101", "2001:db8::101"]),
    (["10.0.0.99"], "other", [], []),
])
def test_served_lists_the_tunnelled_vips_apart(addresses, hostname, vips, tunnel_vips):
    result = served(addresses, hostname)
    assert (result["vips"], result["tunnel_vips"]) == (vips, tunnel_vips)


def test_tunnel_follows_the_spec_unless_realserver_tunnel_says_otherwise():
    expression = task("main.yml", "Settle the VIPs, the gateway and the ports")["ansible.builtin.set_fact"]["__realserver_tunnel"]
    assert templar(__realserver_served=served(["10.0.0.21"])).template(trust_as_template(expression)) is True
    assert templar(__realserver_served=served(["10.0.0.22"])).template(trust_as_template(expression)) is False
    assert templar(__realserver_served=served(["10.0.0.21"]), realserver_tunnel=False).template(trust_as_template(expression)) is False
    module_args = task("linux.yml", "Accept the VIPs without answering ARP for them, and route NAT replies through the appliance")
    assert module_args["lbkit.loadbalancer.realserver_linux"]["tunnel"] == "{{ __realserver_tunnel }}"


@pytest.mark.parametrize("system, tunnel, state, refused", [
    ("FreeBSD", True, "present", True),
    ("Darwin", True, "present", True),
    ("SunOS", True, "present", True),
    ("Win32NT", True, "present", True),
    ("FreeBSD", False, "present", False),
    ("FreeBSD", True, "absent", False),
    ("Linux", True, "present", False),
])
def test_tunnelling_is_refused_on_every_system_but_linux(system, tunnel, state, refused):
    name = "Refuse tunnelling real servers other than Linux"
    variables = {"ansible_facts": {"system": system}, "__realserver_tunnel": tunnel, "realserver_state": state}
    assert holds("main.yml", name, **variables) == refused
    message = templar(inventory_hostname="rs1", __realserver_served=served(["10.0.0.21"]), **variables).template(
        trust_as_template(task("main.yml", name)["ansible.builtin.fail"]["msg"]))
    assert "10.0.0.101" in message and "for Linux only" in message and "runs %s" % system in message


def test_linux_refuses_tunnelled_ipv6_vips_only():
    name = "Refuse tunnelled IPv6 services"
    common = {"__realserver_tunnel": True, "realserver_state": "present"}
    assert holds("linux.yml", name, __realserver_served=served(["10.0.0.23", "2001:db8::23"]), **common)
    assert not holds("linux.yml", name, __realserver_served=served(["10.0.0.21"]), **common)


def test_served_compares_addresses_not_spellings():
    # the facts write IPv6 compressed; the spec may not
    spec = json.loads(json.dumps(SPEC))
    spec["virtual_services"][2]["real_servers"] = [{"address": "2001:DB8:0:0::23", "port": 8080}]
    spec["virtual_services"][2]["forwarding"] = "dr"
    spec["virtual_services"][2]["address"] = "2001:db8:0::101"
    assert served(["2001:db8::23"], spec=spec)["vips"] == ["2001:db8::101"]
    assert served(["2001:db8:0000::23"], spec=spec)["vips"] == ["2001:db8::101"]


def test_served_reads_the_defaults_from_the_model():
    # layer defaults to 7 (nothing to do on a real server), forwarding at layer 4 to dr, a real server's port to the service's
    spec = json.loads(json.dumps(SPEC))
    spec["virtual_services"].append({"name": "l7", "address": "10.0.0.102", "port": 443, "real_servers": [{"address": "10.0.0.21"}]})
    spec["virtual_services"].append({"name": "nat", "address": "10.0.0.103", "port": 80, "layer": 4, "forwarding": "nat",
                                     "real_servers": [{"address": "10.1.0.21", "port": 8080}]})
    assert served(["10.0.0.21"], spec=spec)["vips"] == ["10.0.0.100", "10.0.0.101"]
    assert served(["10.1.0.21"], spec=spec) == dict(vips=[], tunnel_vips=[], ports=[8080], nat_services=["nat"], transparent_services=[],
                                                    gateways=["10.1.0.1/24"], load_agent=dict(ports=[], paths=[]))


def test_served_fails_on_an_invalid_spec_with_the_path():
    from ansible.errors import AnsibleError

    spec = json.loads(json.dumps(SPEC))
    spec["virtual_services"][0]["port"] = "eighty"
    with pytest.raises(AnsibleError, match="/virtual_services/0/port"):
        served(["10.0.0.21"], spec=spec)
