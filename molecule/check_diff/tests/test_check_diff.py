"""check_diff: check mode predicts exactly what the run does, and touches nothing."""

import copy
import json

import pytest

testinfra_hosts = ["ansible://client"]

VIP = "172.31.254.100"
FILES = "/etc/keepalived/keepalived.conf /etc/haproxy/haproxy.cfg /etc/lbkit/state.json"
EXPECTED = [
    "- virtual service old (172.31.254.100:9000/tcp)",
    "~ real server rs1 172.31.254.21:8080 in web: weight 100 -> 50",
    "+ real server rs2 172.31.254.22:8080 in api",
    "+ virtual service admin (172.31.254.100:8081/tcp)",
    "+ real server rs2 172.31.254.22:8080 in admin",
]


@pytest.fixture
def lb1(host):
    return host.get_host("ansible://lb1", ansible_inventory=host.backend.ansible_inventory)


def changed_spec(lb1):
    spec = copy.deepcopy(lb1.ansible.get_variables()["lbkit_spec"])
    services = spec["virtual_services"]
    services[0]["real_servers"][0]["weight"] = 50
    services[1]["real_servers"].append({"name": "rs2", "address": "172.31.254.22", "port": 8080})
    services.pop(2)
    services.append(
        {"name": "admin", "address": VIP, "port": 8081, "layer": 7, "real_servers": [{"name": "rs2", "address": "172.31.254.22", "port": 8080}]}
    )
    return spec


def converge(lb1, spec, check):
    return lb1.ansible("lbkit.loadbalancer.appliance", "spec='%s' host=lb1" % json.dumps(spec), check=check)


def answers(host, port):
    return host.run("curl -sS --max-time 3 http://%s:%d/" % (VIP, port))


def test_check_mode_predicts_exactly_and_changes_nothing(host, lb1):
    spec = changed_spec(lb1)
    before = lb1.check_output("sha256sum " + FILES)
    pid = lb1.check_output("systemctl show -p MainPID --value haproxy")
    predicted = converge(lb1, spec, check=True)
    assert predicted["changed"] is True
    assert predicted["summary"] == EXPECTED
    assert lb1.check_output("sha256sum " + FILES) == before
    assert lb1.check_output("systemctl show -p MainPID --value haproxy") == pid
    assert answers(host, 9000).rc == 0 and answers(host, 8081).rc != 0

    applied = converge(lb1, spec, check=False)
    assert applied["changed"] is True, applied
    assert applied["changes"] == predicted["changes"]
    assert answers(host, 9000).rc != 0
    assert answers(host, 8081).stdout.strip() == "rs2"
    # A reload, not a restart: the master process is the same.
    assert lb1.check_output("systemctl show -p MainPID --value haproxy") == pid

    again = converge(lb1, spec, check=False)
    assert again["changed"] is False and again["summary"] == []
    assert converge(lb1, spec, check=True)["changed"] is False
