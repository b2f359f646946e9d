"""l7_snat: HAProxy proxies the VIP to both real servers, with cookie persistence."""

import collections

import pytest

testinfra_hosts = ["ansible://client"]

VIP = "http://172.31.252.100/"


def get(host, *args):
    result = host.run("curl -sS --max-time 5 " + " ".join(args) + " " + VIP)
    assert result.rc == 0, result.stderr
    return result.stdout.strip()


def test_scheduler_spreads_new_clients_over_both_real_servers(host):
    answers = collections.Counter(get(host) for dummy in range(20))
    # weighted round robin with equal weights: strict alternation
    assert answers == {"rs1": 10, "rs2": 10}, answers


def test_active_cookie_keeps_a_client_on_one_real_server(host):
    host.run("rm -f /tmp/jar")
    first = get(host, "-c /tmp/jar -b /tmp/jar")
    answers = [get(host, "-c /tmp/jar -b /tmp/jar") for dummy in range(10)]
    assert answers == [first] * 10
    assert "LBKIT" in host.file("/tmp/jar").content_string


@pytest.fixture
def lb1(host):
    return host.get_host("ansible://lb1", ansible_inventory=host.backend.ansible_inventory)


def test_engines_and_files(lb1):
    assert lb1.service("haproxy").is_running
    assert lb1.service("keepalived").is_running
    state = lb1.file("/etc/lbkit/state.json")
    assert state.mode == 0o600
    assert "172.31.252.100/32" in lb1.check_output("ip -o address show dev eth0")
