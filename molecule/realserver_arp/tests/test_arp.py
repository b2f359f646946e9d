"""realserver_arp: after the role only the appliance answers ARP for the VIP; without the fix
the real servers answer too (proved again here, not only in prepare)."""

import re

testinfra_hosts = ["ansible://arp-client"]

VIP = "172.31.247.100"


def other(host, name):
    return host.get_host("ansible://%s" % name, ansible_inventory=host.backend.ansible_inventory)


def mac(host):
    return host.check_output("cat /sys/class/net/eth0/address").strip().lower()


def answering_macs(client):
    """The MACs that answer "who has VIP" on the segment (arping broadcasts every request)."""
    result = client.run("arping -c 3 -i eth0 %s" % VIP)
    return set(re.findall(r"bytes from ([0-9a-f:]{17})", result.stdout.lower())), result.stdout


def rs_module(rs, state):
    return rs.ansible("lbkit.loadbalancer.realserver_linux", "vips=%s state=%s" % (VIP, state), check=False, become=True)


def test_only_the_appliance_answers_arp_for_the_vip(host):
    macs, out = answering_macs(host)
    assert macs == {mac(other(host, "arp-lb"))}, out


def test_the_real_servers_still_accept_the_vip(host):
    for name in ("arp-rs1", "arp-rs2"):
        rs = other(host, name)
        assert "%s/32" % VIP in rs.check_output("ip -o -4 addr show dev lo")
        assert rs.check_output("sysctl -n net.ipv4.conf.all.arp_ignore") == "1"


def test_without_the_fix_a_real_server_answers_and_the_module_fixes_it_again(host):
    rs1 = other(host, "arp-rs1")
    # undo lbkit's fix, then put the VIP back on lo by hand: the state before the role ran
    assert rs_module(rs1, "absent")["changed"]
    rs1.check_output("ip addr add %s/32 dev lo" % VIP)
    assert rs1.check_output("sysctl -n net.ipv4.conf.all.arp_ignore") == "0"
    macs, out = answering_macs(host)
    assert mac(rs1) in macs and mac(other(host, "arp-lb")) in macs, out
    result = rs_module(rs1, "present")
    assert result["changed"], result
    macs, out = answering_macs(host)
    assert macs == {mac(other(host, "arp-lb"))}, out
