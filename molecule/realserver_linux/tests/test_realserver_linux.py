"""realserver_linux: what the role changed on each real server, that the boot unit restores it,
and that state: absent puts each host back as it was (the last tests, they undo the converge)."""

import json

import pytest

testinfra_hosts = ["ansible://rl-rs1", "ansible://rl-rs2", "ansible://rl-rs3"]

VIPS = {"rl-rs1": ["172.31.248.100/32", "172.31.248.101/32"], "rl-rs2": [], "rl-rs3": []}
ARP = ["net.ipv4.conf.all.arp_ignore", "net.ipv4.conf.all.arp_announce", "net.ipv4.conf.eth0.arp_ignore", "net.ipv4.conf.eth0.arp_announce"]
FILES = [
    "/etc/sysctl.d/60-lbkit-realserver.conf",
    "/etc/lbkit-realserver.nft",
    "/etc/systemd/system/lbkit-realserver-vips.service",
    "/var/lib/lbkit/realserver-linux.json",
]


def name(host):
    return host.backend.get_hostname()


def lo_vips(host):
    return sorted(a for a in host.check_output("ip -o -4 addr show dev lo | awk '{print $4}'").split() if not a.startswith("127."))


def sysctl(host, key):
    return host.check_output("sysctl -n %s" % key)


def redirects(host):
    result = host.run("nft -j list table ip lbkit_realserver")
    if result.rc != 0:
        return []
    rules = [i["rule"] for i in json.loads(result.stdout)["nftables"] if "rule" in i]
    return [r["expr"][0]["match"]["right"] for r in rules]


def default_gateway(host):
    routes = json.loads(host.check_output("ip -json route show default"))
    return routes[0].get("gateway") if routes else None


def test_vips_on_lo(host):
    assert lo_vips(host) == VIPS[name(host)]


def test_arp_sysctls_only_where_the_loopback_method_runs(host):
    wanted = {"rl-rs1": ["1", "2", "1", "2"]}.get(name(host), ["0", "0", "0", "0"])
    assert [sysctl(host, key) for key in ARP] == wanted


def test_redirect_rule(host):
    assert redirects(host) == (["172.31.248.110"] if name(host) == "rl-rs2" else [])


def test_nat_default_gateway(host):
    if name(host) == "rl-rs3":
        assert default_gateway(host) == "172.31.248.254"
    else:
        assert default_gateway(host) != "172.31.248.254"


def test_persisted_files(host):
    present = [path for path in FILES if host.file(path).exists]
    assert (
        present
        == {
            "rl-rs1": [FILES[0], FILES[2], FILES[3]],
            "rl-rs2": [FILES[1], FILES[2], FILES[3]],
            "rl-rs3": [FILES[2], FILES[3]],
        }[name(host)]
    )
    assert host.service("lbkit-realserver-vips").is_enabled
    assert host.file(FILES[3]).mode == 0o600
    unit = host.file(FILES[2]).content_string
    assert "Type=oneshot" in unit and "RemainAfterExit=yes" in unit


def test_the_boot_unit_and_sysctl_d_put_everything_back(host):
    """What a reboot does: systemd-sysctl and the unit re-apply the settings from the files."""
    if name(host) == "rl-rs1":
        host.check_output("ip addr flush dev lo scope global && sysctl -qw net.ipv4.conf.all.arp_ignore=0")
    elif name(host) == "rl-rs2":
        host.check_output("nft delete table ip lbkit_realserver")
    else:
        host.check_output("ip route del default")
    host.check_output("systemctl restart systemd-sysctl lbkit-realserver-vips")
    test_vips_on_lo(host)
    test_arp_sysctls_only_where_the_loopback_method_runs(host)
    test_redirect_rule(host)
    test_nat_default_gateway(host)


def test_the_service_answers_on_the_vip_through_lo_or_the_redirect(host):
    if name(host) == "rl-rs1":
        assert host.check_output("curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://172.31.248.100:8080/") == "200"


def test_check_mode_of_the_module_plans_nothing_after_converge(host):
    args = {"rl-rs1": "vips=172.31.248.100,172.31.248.101", "rl-rs2": "vips=172.31.248.110 method=redirect", "rl-rs3": "gateway=172.31.248.254"}[
        name(host)
    ]
    result = host.ansible("lbkit.loadbalancer.realserver_linux", args, check=True, become=True)
    assert result["changed"] is False, result["changes"]


def test_a_listener_missing_on_the_port_fails_naming_it(host):
    if name(host) != "rl-rs1":
        pytest.skip("one host is enough")
    # ansible-core 2.19's --tree output (what testinfra reads) carries no "failed" key, so
    # testinfra cannot raise on a failure; the module returns "msg" only from fail_json.
    try:
        result = host.ansible("lbkit.loadbalancer.realserver_linux", "vips=172.31.248.100 listen_ports=8080,8099", check=True, become=True)
    except host.ansible.AnsibleException as failed:
        result = failed.result
    assert result.get("msg", "").startswith("listen_ports: port 8099: nothing listens. Fix: bind the service to the VIP"), result
    assert result["listeners"] == {"8080": ["0.0.0.0"], "8099": []}


def test_absent_restores_the_host(host):
    result = host.ansible("lbkit.loadbalancer.realserver_linux", "state=absent", check=False, become=True)
    assert result["changed"] is True, result
    assert lo_vips(host) == []
    assert [sysctl(host, key) for key in ARP] == ["0", "0", "0", "0"]
    assert redirects(host) == [] and host.run("nft list table ip lbkit_realserver").rc != 0
    # the default route Docker gave the container (via the bridge) is back
    assert default_gateway(host) == "172.31.248.1"
    assert [path for path in FILES if host.file(path).exists] == []
    assert not host.file("/etc/systemd/system/multi-user.target.wants/lbkit-realserver-vips.service").exists
    again = host.ansible("lbkit.loadbalancer.realserver_linux", "state=absent", check=False, become=True)
    assert again["changed"] is False, again["changes"]
