"""realserver_linux: parse captured Debian 12 outputs, plan, argv, persisted files, check mode.

The pure layer (plugins/module_utils/_realserver/linux.py) is tested on its own; main() runs with
a fake run_command that answers the read commands with the captures in
fixtures/realserver_linux/ (README.md there says where each came from) and a temporary
directory standing in for /etc and /var/lib.
"""

import ipaddress
import json
import os

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import HostOutputUnreadable, RealServerError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import linux, listeners
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.actions import RemoveFile, WriteFile
from ansible_collections.lbkit.loadbalancer.plugins.modules import realserver_linux

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "realserver_linux")
TOOLS = {"ip": "/usr/sbin/ip", "sysctl": "/usr/sbin/sysctl", "nft": "/usr/sbin/nft", "systemctl": "/usr/bin/systemctl",
         "mkdir": "/usr/bin/mkdir", "ss": "/usr/bin/ss", "modprobe": "/usr/sbin/modprobe", "udevadm": "/usr/bin/udevadm"}
V1, V2 = ipaddress.ip_address("172.31.248.100"), ipaddress.ip_address("172.31.248.101")
V6 = ipaddress.ip_address("2001:db8:248::100")
ARP_KEYS_ETH0 = {"net.ipv4.conf.%s.%s" % (where, setting) for where in ("all", "eth0") for setting in ("arp_ignore", "arp_announce")}


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


def plain_host(**changes):
    interfaces, lo, addresses, dummy = linux.parse_ip_address(fixture("ip-address-plain.json"))
    host = linux.LinuxHost(interfaces, lo, addresses, linux.parse_sysctl(fixture("sysctl-defaults.txt")),
                           linux.parse_default_route(fixture("ip-route-default.json")))
    return linux.replace(host, **changes) if changes else host


def converge(host, request):
    """Plan, simulate; the second plan on the result must be empty (idempotence)."""
    actions = linux.plan(host, request)
    after = linux.apply_plan(host, actions)
    assert linux.plan(after, request) == [], "a second run must plan nothing"
    return actions, after


def argvs(actions):
    return [a.argv(TOOLS) for a in actions if not isinstance(a, (WriteFile, RemoveFile))]


# --- parsing ---------------------------------------------------------------------------------


def test_parse_ip_address_plain_and_with_vips():
    interfaces, lo, addresses, tunl0 = linux.parse_ip_address(fixture("ip-address-plain.json"))
    assert interfaces == ("veth-peer", "eth0") and tunl0 is None
    assert [str(a) for a in lo] == ["127.0.0.1/8"]
    assert ipaddress.ip_interface("172.31.248.21/24") in addresses
    dummy, lo, dummy2, dummy3 = linux.parse_ip_address(fixture("ip-address-vips.json"))
    assert [str(a) for a in lo] == ["127.0.0.1/8", "172.31.248.100/32", "172.31.248.101/32", "172.31.248.102/24"]


def test_parse_routes_sysctl_nft_ss():
    assert linux.parse_default_route(fixture("ip-route-default.json")) == linux.Route("172.31.248.1", "eth0")
    assert linux.parse_default_route(fixture("ip-route-default-none.json")) is None
    sysctls = linux.parse_sysctl(fixture("sysctl-defaults.txt"))
    assert sysctls["net.ipv4.conf.all.arp_ignore"] == "0" and sysctls["net.ipv6.conf.lo.accept_dad"] == "-1"
    assert linux.parse_nft(fixture("nft-ruleset-empty.json")) == (False, ())
    table, rules = linux.parse_nft(fixture("nft-ruleset-redirect.json"))
    # the inet filter table's accept rule is not lbkit's and is ignored
    assert table and rules == ((ipaddress.ip_address("172.31.248.110"), 2), (ipaddress.ip_address("172.31.248.111"), 3))
    assert listeners.parse_ss(fixture("ss-ltnH.txt")) == [("0.0.0.0", 8081), ("172.31.248.21", 8082), ("172.31.248.100", 8080), ("*", 8083)]


def test_bad_output_and_record_are_errors():
    with pytest.raises(HostOutputUnreadable, match="ip -json address"):
        linux.parse_ip_address("not json")
    with pytest.raises(RealServerError, match="realserver-linux.json"):
        linux.parse_record("{broken")


# --- loopback method -------------------------------------------------------------------------


def test_loopback_two_ipv4_vips_plan_argv_and_files():
    actions, after = converge(plain_host(record_dir=False), linux.Request((V1, V2), interfaces=("eth0",)))
    assert argvs(actions) == [
        ["/usr/sbin/ip", "addr", "add", "172.31.248.100/32", "dev", "lo"],
        ["/usr/sbin/ip", "addr", "add", "172.31.248.101/32", "dev", "lo"],
        ["/usr/sbin/sysctl", "-q", "-w", "net.ipv4.conf.all.arp_ignore=1"],
        ["/usr/sbin/sysctl", "-q", "-w", "net.ipv4.conf.all.arp_announce=2"],
        ["/usr/sbin/sysctl", "-q", "-w", "net.ipv4.conf.eth0.arp_ignore=1"],
        ["/usr/sbin/sysctl", "-q", "-w", "net.ipv4.conf.eth0.arp_announce=2"],
        ["/usr/bin/systemctl", "daemon-reload"],
        ["/usr/bin/systemctl", "enable", "lbkit-realserver-vips.service"],
        ["/usr/bin/mkdir", "-p", "-m", "0755", "/var/lib/lbkit"],
    ]
    files = after.files
    assert files[linux.SYSCTL_FILE].splitlines()[2:] == [
        "net.ipv4.conf.all.arp_ignore = 1", "net.ipv4.conf.all.arp_announce = 2",
        "net.ipv4.conf.eth0.arp_ignore = 1", "net.ipv4.conf.eth0.arp_announce = 2"]
    unit = files[linux.UNIT_FILE]
    assert "Type=oneshot\nRemainAfterExit=yes\n" in unit
    assert "ExecStart=/usr/sbin/ip addr replace 172.31.248.100/32 dev lo\nExecStart=/usr/sbin/ip addr replace 172.31.248.101/32 dev lo\n" in unit
    assert "WantedBy=multi-user.target" in unit and files.get(linux.NFT_FILE) is None
    record = json.loads(files[linux.RECORD_FILE])
    assert record["loopback"] == ["172.31.248.100", "172.31.248.101"]
    assert record["sysctls"] == {"net.ipv4.conf.all.arp_announce": "0", "net.ipv4.conf.all.arp_ignore": "0",
                                 "net.ipv4.conf.eth0.arp_announce": "0", "net.ipv4.conf.eth0.arp_ignore": "0"}
    assert isinstance(actions[-1], WriteFile) and actions[-1].mode == 0o600


def test_loopback_default_interfaces_are_every_real_one():
    host = plain_host()
    request = linux.Request((V1,), interfaces=linux.choose_interfaces((), host.interfaces))
    keys = [a.key for a in linux.plan(host, request) if isinstance(a, linux.SetSysctl)]
    assert "net.ipv4.conf.veth-peer.arp_ignore" in keys and "net.ipv4.conf.eth0.arp_announce" in keys


def test_ipv6_vip_turns_dad_off_on_lo():
    actions, after = converge(plain_host(), linux.Request((V1, V6), interfaces=("eth0",)))
    assert ["/usr/sbin/ip", "addr", "add", "2001:db8:248::100/128", "dev", "lo"] in argvs(actions)
    assert ["/usr/sbin/sysctl", "-q", "-w", "net.ipv6.conf.lo.dad_transmits=0"] in argvs(actions)
    assert ["/usr/sbin/sysctl", "-q", "-w", "net.ipv6.conf.lo.accept_dad=0"] in argvs(actions)
    assert "net.ipv6.conf.lo.accept_dad = 0" in after.files[linux.SYSCTL_FILE]
    assert "ip addr replace 2001:db8:248::100/128 dev lo" in after.files[linux.UNIT_FILE]
    # absent restores DAD to the kernel's values recorded before (-1 and 1 here)
    actions, restored = converge(after, linux.Request((V1, V6), state="absent"))
    assert restored.sysctls["net.ipv6.conf.lo.accept_dad"] == "-1" and restored.sysctls["net.ipv6.conf.lo.dad_transmits"] == "1"


def test_dad_goes_back_with_the_last_ipv6_vip_while_ipv4_vips_stay():
    dummy, after = converge(plain_host(), linux.Request((V1, V6), interfaces=("eth0",)))
    actions, partial = converge(after, linux.Request((V6,), state="absent"))
    assert ["/usr/sbin/sysctl", "-q", "-w", "net.ipv6.conf.lo.accept_dad=-1"] in argvs(actions)
    assert partial.sysctls["net.ipv6.conf.lo.dad_transmits"] == "1" and partial.sysctls["net.ipv4.conf.all.arp_ignore"] == "1"
    assert set(json.loads(partial.files[linux.RECORD_FILE])["sysctls"]) == ARP_KEYS_ETH0


def test_vip_with_a_wider_prefix_is_replaced_and_existing_vips_are_kept():
    dummy, lo, dummy2, dummy3 = linux.parse_ip_address(fixture("ip-address-vips.json"))
    host = plain_host(loopback=lo)
    actions, dummy = converge(host, linux.Request((V1, ipaddress.ip_address("172.31.248.102")), interfaces=("eth0",)))
    assert argvs(actions)[:2] == [["/usr/sbin/ip", "addr", "del", "172.31.248.102/24", "dev", "lo"],
                                  ["/usr/sbin/ip", "addr", "add", "172.31.248.102/32", "dev", "lo"]]


def test_absent_restores_recorded_sysctls_and_removes_only_lbkit_files():
    dummy, after = converge(plain_host(), linux.Request((V1, V2), interfaces=("eth0",)))
    half, partial = converge(after, linux.Request((V1,), state="absent"))
    # the unit changes (one ExecStart less): systemd must reread it
    assert argvs(half) == [["/usr/sbin/ip", "addr", "del", "172.31.248.100/32", "dev", "lo"], ["/usr/bin/systemctl", "daemon-reload"]]
    assert partial.sysctls["net.ipv4.conf.all.arp_ignore"] == "1", "another VIP still needs the ARP fix"
    assert "172.31.248.100" not in partial.files[linux.UNIT_FILE]
    actions, final = converge(partial, linux.Request((V2,), state="absent"))
    assert ["/usr/sbin/sysctl", "-q", "-w", "net.ipv4.conf.all.arp_ignore=0"] in argvs(actions)
    assert ["/usr/bin/systemctl", "disable", "lbkit-realserver-vips.service"] in argvs(actions)
    assert all(final.files[path] is None for path in (linux.SYSCTL_FILE, linux.UNIT_FILE, linux.RECORD_FILE))
    assert linux.snapshot(final)["vips"] == []
    # every key back to its captured value; eth0's were unreadable in the capture, so "0" (the kernel default)
    assert final.sysctls == dict(plain_host().sysctls, **{"net.ipv4.conf.eth0.arp_ignore": "0", "net.ipv4.conf.eth0.arp_announce": "0"})
    # a sysctl already at lbkit's value before it came is not "restored" to anything else
    pre = plain_host(sysctls=dict(plain_host().sysctls, **{"net.ipv4.conf.all.arp_ignore": "1"}))
    dummy, applied = converge(pre, linux.Request((V1,), interfaces=("eth0",)))
    dummy, undone = converge(applied, linux.Request((V1,), state="absent"))
    assert undone.sysctls["net.ipv4.conf.all.arp_ignore"] == "1"


def test_persist_false_touches_no_boot_file():
    actions, after = converge(plain_host(), linux.Request((V1,), persist=False, interfaces=("eth0",)))
    written = [a.path for a in actions if isinstance(a, WriteFile)]
    assert written == [linux.RECORD_FILE]
    assert not any(isinstance(a, linux.Systemctl) for a in actions)


def test_interfaces_option_errors_name_the_option_and_the_fix():
    with pytest.raises(RealServerError, match=r"interfaces\[0\]: the host has no interface 'eth9' that does ARP; use one of veth-peer, eth0"):
        linux.choose_interfaces(["eth9"], ("veth-peer", "eth0"))
    with pytest.raises(RealServerError, match=r"interfaces\[0\]: lo is the loopback"):
        linux.choose_interfaces(["lo"], ("eth0",))
    assert linux.sysctl_key("net.ipv4.conf", "eth0.100", "arp_ignore") == "net/ipv4/conf/eth0.100/arp_ignore"


def test_absent_without_vips_or_gateway_undoes_everything_recorded():
    gw = ipaddress.ip_address("172.31.248.254")
    dummy, looped = converge(plain_host(), linux.Request((V1, V6), interfaces=("eth0",)))
    dummy, redirected = converge(looped, linux.Request((V2,), method="redirect"))
    dummy, routed = converge(redirected, linux.Request(gateway=gw))
    assert json.loads(routed.files[linux.RECORD_FILE])["redirect"] == ["172.31.248.101"]
    actions, final = converge(routed, linux.Request(state="absent"))
    assert linux.snapshot(final)["vips"] == [] and final.nft_rules == () and not final.nft_table
    assert final.default_route == linux.Route("172.31.248.1", "eth0")
    assert all(content is None for content in final.files.values()) and not final.unit_enabled
    assert final.sysctls["net.ipv4.conf.all.arp_ignore"] == "0" and final.sysctls["net.ipv6.conf.lo.accept_dad"] == "-1"
    # absent for only the VIPs leaves the gateway alone
    actions, dummy = converge(routed, linux.Request((V1, V6, V2), state="absent"))
    assert not any(isinstance(a, (linux.ReplaceDefaultRoute, linux.DelDefaultRoute)) for a in actions)


# --- tunnelling (forwarding tun) ------------------------------------------------------------

ALL_RP, DEFAULT_RP, TUNL0_RP = "net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter", "net.ipv4.conf.tunl0.rp_filter"
TUNNEL_SETUP = [["/usr/sbin/modprobe", "ipip"], ["/usr/sbin/ip", "link", "set", "tunl0", "up"]]
ARP_ETH0 = [["/usr/sbin/sysctl", "-q", "-w", "net.ipv4.conf.%s.%s=%s" % (where, setting, value)]
            for where in ("all", "eth0") for setting, value in (("arp_ignore", "1"), ("arp_announce", "2"))]


def tunnel_host(all_rp="1", tunl0=None, tunl0_rp="2", **changes):
    """The plain host with reverse-path filtering set; new interfaces get 2 (systemd's default), tunl0 has tunl0_rp."""
    sysctls = dict(plain_host().sysctls, **{ALL_RP: all_rp, DEFAULT_RP: "2"})
    if tunl0 is not None:
        sysctls[TUNL0_RP] = tunl0_rp
    return plain_host(sysctls=sysctls, tunl0=tunl0, **changes)


def test_parse_noarp_links_get_no_arp_settings_and_tunl0_state():
    interfaces, dummy, dummy2, tunl0 = linux.parse_ip_address(fixture("ip-address-noarp.json"))
    assert interfaces == ("veth-peer", "eth0") and tunl0 is None, "ifb9 is NOARP"
    for name, state in (("ip-address-tunl0-down.json", "down"), ("ip-address-tunl0-up.json", "up")):
        interfaces, dummy, dummy2, tunl0 = linux.parse_ip_address(fixture(name))
        assert (interfaces, tunl0) == (("veth-peer", "eth0"), state)
    with pytest.raises(RealServerError, match=r"interfaces\[0\]: the host has no interface 'tunl0' that does ARP; use one of veth-peer, eth0"):
        linux.choose_interfaces(["tunl0"], interfaces)


@pytest.mark.parametrize("udev, settle", [(False, []), (True, [["/usr/bin/udevadm", "settle", "--timeout=60"]])])
def test_tunnel_first_run_loads_ipip_brings_tunl0_up_then_sets_the_sysctls(udev, settle):
    actions, after = converge(tunnel_host(udev=udev), linux.Request((V1,), interfaces=("eth0",), tunnel=True, persist=False))
    assert argvs(actions) == [["/usr/sbin/ip", "addr", "add", "172.31.248.100/32", "dev", "lo"]] + TUNNEL_SETUP[:1] + settle + TUNNEL_SETUP[1:] + ARP_ETH0 + [
        ["/usr/sbin/sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=2"],
        ["/usr/sbin/sysctl", "-q", "-w", "net.ipv4.conf.tunl0.rp_filter=0"],
    ]
    assert after.tunl0 == "up" and after.sysctls[TUNL0_RP] == "0"
    record = json.loads(after.files[linux.RECORD_FILE])
    assert record["tunnel"] == {"tunl0_was_up": False}
    # tunl0 did not exist: the value to restore is the one the kernel gives a new interface (default's)
    assert record["sysctls"][ALL_RP] == "1" and record["sysctls"][TUNL0_RP] == "2"


def test_tunnel_run_after_the_first_plans_nothing_although_tunl0_appeared():
    host = tunnel_host()
    dummy, after = converge(host, linux.Request((V1,), interfaces=linux.choose_interfaces((), host.interfaces), tunnel=True))
    # what the next run reads: ip -json address now lists tunl0, up and NOARP
    interfaces, dummy, addresses, tunl0 = linux.parse_ip_address(fixture("ip-address-tunl0-up.json"))
    again = linux.replace(after, interfaces=interfaces, addresses=addresses, tunl0=tunl0)
    request = linux.Request((V1,), interfaces=linux.choose_interfaces((), interfaces), tunnel=True)
    assert linux.plan(again, request) == [], "tunl0 must get no ARP sysctls"


@pytest.mark.parametrize("before, changed", [("0", False), ("2", False), ("1", True)])
def test_tunnel_makes_only_a_strict_all_rp_filter_loose(before, changed):
    host = tunnel_host(all_rp=before, tunl0="down", tunl0_rp="2")
    actions, after = converge(host, linux.Request((V1,), interfaces=("eth0",), tunnel=True))
    set_keys = [a.key for a in actions if isinstance(a, linux.SetSysctl)]
    assert (ALL_RP in set_keys) == changed and TUNL0_RP in set_keys
    assert after.sysctls[ALL_RP] == ("2" if changed else before)
    assert ("net.ipv4.conf.all.rp_filter = 2\n" in after.files[linux.SYSCTL_FILE]) == changed
    assert "net.ipv4.conf.tunl0.rp_filter = 0\n" in after.files[linux.SYSCTL_FILE]
    assert not any(isinstance(a, linux.LoadModule) for a in actions), "tunl0 exists: ipip is loaded"
    dummy, restored = converge(after, linux.Request(state="absent"))
    assert restored.sysctls[ALL_RP] == before and restored.sysctls[TUNL0_RP] == "2"


def test_absent_sets_tunl0_down_and_restores_rp_filter_without_unloading_ipip():
    dummy, after = converge(tunnel_host(), linux.Request((V1, V2), interfaces=("eth0",), tunnel=True))
    half, partial = converge(after, linux.Request((V2,), state="absent"))
    assert partial.tunl0 == "up" and "tunnel" in json.loads(partial.files[linux.RECORD_FILE]), "a VIP on lo still uses the tunnel"
    actions, final = converge(partial, linux.Request(state="absent"))
    assert argvs(actions)[:4] == [
        ["/usr/sbin/ip", "addr", "del", "172.31.248.100/32", "dev", "lo"],
        ["/usr/sbin/ip", "link", "set", "tunl0", "down"],
        ["/usr/sbin/sysctl", "-q", "-w", "net.ipv4.conf.all.arp_announce=0"],
        ["/usr/sbin/sysctl", "-q", "-w", "net.ipv4.conf.all.arp_ignore=0"],
    ]
    assert ["/usr/sbin/sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=1"] in argvs(actions)
    assert ["/usr/sbin/sysctl", "-q", "-w", "net.ipv4.conf.tunl0.rp_filter=2"] in argvs(actions)
    assert not any("modprobe" in argv[0] for argv in argvs(actions)), "the module stays loaded"
    assert final.tunl0 == "down" and final.sysctls[ALL_RP] == "1" and final.sysctls[TUNL0_RP] == "2"
    assert all(content is None for content in final.files.values()) and not final.unit_enabled


def test_tunl0_up_and_unfiltered_before_lbkit_is_left_so():
    host = tunnel_host(all_rp="0", tunl0="up", tunl0_rp="0")
    actions, after = converge(host, linux.Request((V1,), interfaces=("eth0",), tunnel=True, persist=False))
    assert argvs(actions) == [["/usr/sbin/ip", "addr", "add", "172.31.248.100/32", "dev", "lo"]] + ARP_ETH0
    record = json.loads(after.files[linux.RECORD_FILE])
    assert record["tunnel"] == {"tunl0_was_up": True} and ALL_RP not in record["sysctls"] and TUNL0_RP not in record["sysctls"]
    actions, final = converge(after, linux.Request(state="absent", persist=False))
    assert final.tunl0 == "up" and not any(isinstance(a, linux.SetTunnelLink) for a in actions)


def test_present_with_tunnel_false_undoes_only_the_tunnel():
    dummy, after = converge(tunnel_host(), linux.Request((V1,), interfaces=("eth0",), tunnel=True))
    actions, off = converge(after, linux.Request((V1,), interfaces=("eth0",)))
    assert argvs(actions) == [
        ["/usr/sbin/ip", "link", "set", "tunl0", "down"],
        ["/usr/sbin/sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=1"],
        ["/usr/sbin/sysctl", "-q", "-w", "net.ipv4.conf.tunl0.rp_filter=2"],
        ["/usr/bin/systemctl", "daemon-reload"],
    ]
    assert [a.path for a in actions if isinstance(a, RemoveFile)] == [linux.MODULES_FILE]
    assert "rp_filter" not in off.files[linux.SYSCTL_FILE] and "tunl0" not in off.files[linux.UNIT_FILE]
    assert linux.snapshot(off)["vips"] == ["172.31.248.100/32"] and off.sysctls["net.ipv4.conf.all.arp_ignore"] == "1"
    record = json.loads(off.files[linux.RECORD_FILE])
    assert "tunnel" not in record and set(record["sysctls"]) == ARP_KEYS_ETH0


def test_tunnel_persistence_modules_load_sysctl_and_unit():
    actions, after = converge(tunnel_host(), linux.Request((V1,), interfaces=("eth0",), tunnel=True))
    written = [a.path for a in actions if isinstance(a, WriteFile)]
    assert written == [linux.MODULES_FILE, linux.SYSCTL_FILE, linux.UNIT_FILE, linux.RECORD_FILE]
    assert after.files[linux.MODULES_FILE] == linux.HEADER + "# IP-in-IP tunnelling: the real server decapsulates on tunl0.\nipip\n"
    assert after.files[linux.SYSCTL_FILE].splitlines()[-3:] == [
        "# IP-in-IP tunnelling: no reverse-path filter on tunl0 (the kernel applies the higher of all and tunl0).",
        "net.ipv4.conf.all.rp_filter = 2", "net.ipv4.conf.tunl0.rp_filter = 0"]
    execs = [line for line in after.files[linux.UNIT_FILE].splitlines() if line.startswith("ExecStart=")]
    assert execs == ["ExecStart=/usr/sbin/ip addr replace 172.31.248.100/32 dev lo", "ExecStart=/usr/sbin/ip link set tunl0 up"]
    dummy, volatile = converge(tunnel_host(), linux.Request((V1,), interfaces=("eth0",), tunnel=True, persist=False))
    assert volatile.files.get(linux.MODULES_FILE) is None and volatile.files.get(linux.SYSCTL_FILE) is None


def test_tunnel_with_redirect_is_refused_naming_the_option_and_the_fix():
    with pytest.raises(RealServerError, match=r"^tunnel: IP-in-IP tunnelling needs method: loopback\. .* Set method: loopback, or tunnel: false\.$"):
        linux.plan(tunnel_host(), linux.Request((V1,), method="redirect", tunnel=True))


# --- redirect method -------------------------------------------------------------------------


def test_redirect_plan_argv_and_nft_file():
    actions, after = converge(plain_host(), linux.Request((V1, V2), method="redirect"))
    assert argvs(actions)[:3] == [
        ["/usr/sbin/nft", "add", "table", "ip", "lbkit_realserver", ";", "add", "chain", "ip", "lbkit_realserver", "prerouting",
         "{", "type", "nat", "hook", "prerouting", "priority", "dstnat", ";", "policy", "accept", ";", "}"],
        ["/usr/sbin/nft", "add", "rule", "ip", "lbkit_realserver", "prerouting", "ip", "daddr", "172.31.248.100", "redirect"],
        ["/usr/sbin/nft", "add", "rule", "ip", "lbkit_realserver", "prerouting", "ip", "daddr", "172.31.248.101", "redirect"],
    ]
    assert not any(isinstance(a, (linux.SetSysctl, linux.AddVip)) for a in actions), "redirect needs no ARP sysctls"
    nft = after.files[linux.NFT_FILE]
    assert "table ip lbkit_realserver\ndelete table ip lbkit_realserver\n" in nft
    assert "type nat hook prerouting priority dstnat; policy accept;\n        ip daddr 172.31.248.100 redirect\n" in nft
    assert "ExecStart=/usr/sbin/nft -f /etc/lbkit-realserver.nft" in after.files[linux.UNIT_FILE]
    assert after.files.get(linux.SYSCTL_FILE) is None


def test_redirect_existing_rules_from_capture_and_absent():
    table, rules = linux.parse_nft(fixture("nft-ruleset-redirect.json"))
    v10, v11 = ipaddress.ip_address("172.31.248.110"), ipaddress.ip_address("172.31.248.111")
    host = plain_host(nft_table=table, nft_rules=rules, record={"redirect": ["172.31.248.110", "172.31.248.111"]})
    actions, dummy = converge(host, linux.Request((v10, v11), method="redirect", persist=False))
    assert argvs(actions) == []
    actions, after = converge(host, linux.Request((v10,), method="redirect", state="absent", persist=False))
    assert argvs(actions) == [["/usr/sbin/nft", "delete", "rule", "ip", "lbkit_realserver", "prerouting", "handle", "2"]]
    actions, dummy = converge(after, linux.Request((v11,), method="redirect", state="absent", persist=False))
    assert argvs(actions) == [["/usr/sbin/nft", "delete", "table", "ip", "lbkit_realserver"]]


# --- NAT gateway -----------------------------------------------------------------------------


def test_gateway_replaces_and_absent_restores_the_recorded_route():
    gw = ipaddress.ip_address("172.31.248.254")
    actions, after = converge(plain_host(), linux.Request(gateway=gw))
    assert argvs(actions)[0] == ["/usr/sbin/ip", "route", "replace", "default", "via", "172.31.248.254"]
    assert json.loads(after.files[linux.RECORD_FILE])["previous_default_route"] == {"gateway": "172.31.248.1", "dev": "eth0"}
    assert "ExecStart=/usr/sbin/ip route replace default via 172.31.248.254" in after.files[linux.UNIT_FILE]
    assert "After=network-online.target" in after.files[linux.UNIT_FILE]
    actions, restored = converge(after, linux.Request(gateway=gw, state="absent"))
    assert argvs(actions)[0] == ["/usr/sbin/ip", "route", "replace", "default", "via", "172.31.248.1", "dev", "eth0"]
    assert restored.files[linux.RECORD_FILE] is None and restored.files[linux.UNIT_FILE] is None


def test_gateway_without_a_previous_route_is_deleted_on_absent():
    gw = ipaddress.ip_address("172.31.248.254")
    dummy, after = converge(plain_host(default_route=None), linux.Request(gateway=gw, persist=False))
    actions, dummy = converge(after, linux.Request(state="absent", persist=False))
    assert argvs(actions) == [["/usr/sbin/ip", "route", "del", "default"]]


def test_an_ipv6_gateway_replaces_the_ipv6_default_route_only_and_absent_restores_it():
    gw = ipaddress.ip_address("2001:db8:248::254")
    before = plain_host(default_route6=linux.Route("fe80::1", "eth0"))
    actions, after = converge(before, linux.Request(gateway=gw))
    assert argvs(actions)[0] == ["/usr/sbin/ip", "-6", "route", "replace", "default", "via", "2001:db8:248::254"]
    assert after.default_route == before.default_route and after.default_route6.gateway == "2001:db8:248::254"
    assert json.loads(after.files[linux.RECORD_FILE])["previous_default_route"] == {"gateway": "fe80::1", "dev": "eth0"}
    assert "ExecStart=/usr/sbin/ip -6 route replace default via 2001:db8:248::254" in after.files[linux.UNIT_FILE]
    assert linux.snapshot(after)["default_gateway6"] == "2001:db8:248::254"
    actions, restored = converge(after, linux.Request(gateway=gw, state="absent"))
    assert argvs(actions)[0] == ["/usr/sbin/ip", "-6", "route", "replace", "default", "via", "fe80::1", "dev", "eth0"]
    dummy, after = converge(plain_host(), linux.Request(gateway=gw, persist=False))
    actions, dummy = converge(after, linux.Request(state="absent", persist=False))
    assert argvs(actions) == [["/usr/sbin/ip", "-6", "route", "del", "default"]]


def test_main_ipv6_gateway_from_reports_and_verifies_the_ipv6_default_route(fake):
    fake["links"][-1]["addr_info"].append({"family": "inet6", "local": "2001:db8:248::21", "prefixlen": 64, "scope": "global"})
    result = run_main({"gateway_from": ["172.16.9.1/24", "2001:db8:248::1/64"], "persist": False})
    assert not result["failed"], result.get("msg")
    assert result["default_gateway6"] == "2001:db8:248::1" and result["default_gateway"] == "172.31.248.1"
    assert ["/usr/sbin/ip", "-6", "route", "replace", "default", "via", "2001:db8:248::1"] in fake["calls"]
    assert not run_main({"gateway_from": ["2001:db8:248::1/64"], "persist": False})["changed"]


def test_gateway_from_picks_the_floating_ip_of_the_host_subnet():
    addresses = plain_host().addresses
    assert str(linux.choose_gateway(None, ["10.0.1.1/24", "172.31.248.254/24"], addresses)) == "172.31.248.254"
    with pytest.raises(RealServerError, match="gateway_from: none of 10.0.1.1/24 is in a subnet"):
        linux.choose_gateway(None, ["10.0.1.1/24"], addresses)
    with pytest.raises(RealServerError, match="gateway: 'nope' is not an IP address"):
        linux.choose_gateway("nope", None, addresses)


# --- listeners -------------------------------------------------------------------------------


def test_listener_check_accepts_vip_and_wildcards_and_names_missing_ports():
    sockets = listeners.parse_ss(fixture("ss-ltnH.txt"))
    found, missing = listeners.check_listeners(sockets, [8080, 8081, 8082, 8083, 9000], [V1])
    assert found[8080] == ["172.31.248.100"] and found[8081] == ["0.0.0.0"] and found[8083] == ["*"]
    assert missing == [8082, 9000]
    message = listeners.listener_error(missing, sockets, [V1], "loopback")
    assert "port 8082: bound only to 172.31.248.21" in message and "port 9000: nothing listens" in message
    assert "Fix: bind the service to the VIP (172.31.248.100) or to all addresses" in message
    # redirect delivers to the receiving interface's own address: a listener there fits
    found, missing = listeners.check_listeners(sockets, [8082], [V1], [a.ip for a in plain_host().addresses])
    assert missing == [] and found[8082] == ["172.31.248.21"]


# --- the module's main() ---------------------------------------------------------------------


class Exited(Exception):
    """exit_json / fail_json was called; args[0] is the result."""


@pytest.fixture(name="fake")
def fixture_fake(monkeypatch, tmp_path):
    """A fake Debian 12 host: read commands answer with the captures, files live under tmp_path.

    The commands that change the host change what the next read shows: addresses on lo, sysctls,
    the default route, and the ipip module creating tunl0 (whose sysctls exist only from then on).
    """
    sysctls = linux.parse_sysctl(fixture("sysctl-defaults.txt"))
    # a host with strict reverse-path filtering; new interfaces get loose (systemd's default)
    sysctls.update({linux.ALL_RP_FILTER: "1", linux.DEFAULT_RP_FILTER: "2"})
    state = {"calls": [], "route": fixture("ip-route-default.json"), "route6": "[]", "ss": fixture("ss-ltnH.txt"), "bins": dict(TOOLS),
             "links": json.loads(fixture("ip-address-plain.json")), "sysctls": sysctls}
    paths = {name: str(tmp_path / os.path.basename(getattr(linux, name)))
             for name in ("MODULES_FILE", "SYSCTL_FILE", "NFT_FILE", "UNIT_FILE", "RECORD_FILE")}
    for name, path in paths.items():
        monkeypatch.setattr(linux, name, path)
    monkeypatch.setattr(linux, "RECORD_DIR", str(tmp_path))
    monkeypatch.setattr(linux, "UNIT_WANTS_LINK", str(tmp_path / "wants-link"))
    monkeypatch.setattr(linux, "UDEV_CONTROL", str(tmp_path / "udev-control"))

    def link(name):
        return next((entry for entry in state["links"] if entry["ifname"] == name), None)

    def change(tool, rest):
        if rest[:2] == ["-q", "-w"]:
            key, value = rest[2].split("=", 1)
            if key.startswith("net.ipv4.conf.tunl0.") and link("tunl0") is None:
                return 255, "", "sysctl: cannot stat /proc/sys/%s: No such file or directory" % key.replace(".", "/")
            state["sysctls"][key] = value
        elif tool == "modprobe" and rest == ["ipip"] and link("tunl0") is None:
            state["links"].append(json.loads(fixture("ip-address-tunl0-down.json"))[-1])
            state["sysctls"][linux.TUNNEL_RP_FILTER] = state["sysctls"][linux.DEFAULT_RP_FILTER]
        elif rest[:3] == ["link", "set", "tunl0"]:
            if link("tunl0") is None:
                return 1, "", 'Cannot find device "tunl0"'
            link("tunl0")["flags"] = ["NOARP", "UP", "LOWER_UP"] if rest[3] == "up" else ["NOARP"]
        elif rest[:1] == ["addr"] and rest[-2:] == ["dev", "lo"]:
            address, prefix = rest[2].split("/")
            infos = [i for i in link("lo")["addr_info"] if i["local"] != address]
            if rest[1] == "add":
                infos.append({"family": "inet6" if ":" in address else "inet", "local": address, "prefixlen": int(prefix), "scope": "host"})
            link("lo")["addr_info"] = infos
        elif rest[:2] == ["route", "replace"]:
            state["route"] = json.dumps([{"dst": "default", "gateway": rest[4], "dev": "eth0"}])
        elif rest[:3] == ["-6", "route", "replace"]:
            state["route6"] = json.dumps([{"dst": "default", "gateway": rest[5], "dev": "eth0"}])
        elif rest[:3] == ["-6", "route", "del"]:
            state["route6"] = "[]"
        elif tool == "systemctl" and rest[0] == "enable":
            open(linux.UNIT_WANTS_LINK, "w", encoding="utf-8").close()
        elif tool == "systemctl" and rest[0] == "disable":
            os.remove(linux.UNIT_WANTS_LINK)
        return 0, "", ""

    def run_command(self, args, **kwargs):
        assert isinstance(args, list), "commands are argv lists, never strings"
        state["calls"].append(list(args))
        tool, rest = os.path.basename(args[0]), args[1:]
        if rest[:2] == ["-json", "address"]:
            return 0, json.dumps(state["links"]), ""
        if rest[:2] == ["-json", "route"]:
            return 0, state["route"], ""
        if rest[:3] == ["-6", "-json", "route"]:
            return 0, state["route6"], ""
        if rest[:1] == ["-e"]:
            return 0, "".join("%s = %s\n" % (key, state["sysctls"][key]) for key in rest[1:] if key in state["sysctls"]), ""
        if rest[:2] == ["-j", "list"]:
            return 0, fixture("nft-ruleset-empty.json"), ""
        if rest[:1] == ["-ltnH"]:
            return 0, state["ss"], ""
        return change(tool, rest)

    def atomic_move(self, src, dest, **kwargs):
        os.rename(src, dest)

    def exit_json(self, **result):
        raise Exited(dict(result, failed=False))

    def fail_json(self, msg, **result):
        raise Exited(dict(result, msg=msg, failed=True))

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, required=False, opt_dirs=None: state["bins"].get(name))
    monkeypatch.setattr(basic.AnsibleModule, "atomic_move", atomic_move)
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    monkeypatch.setattr(os, "chown", lambda *args: None)
    state["paths"] = paths
    return state


def run_main(args, check_mode=False):
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    with patch_module_args(args):
        with pytest.raises(Exited) as exited:
            realserver_linux.main()
    return exited.value.args[0]


def test_main_check_mode_reports_the_same_and_runs_only_reads(fake):
    args = {"vips": ["172.31.248.100"], "interfaces": ["eth0"], "listen_ports": [8080]}
    checked = run_main(args, check_mode=True)
    assert checked["changed"] and not checked["failed"]
    assert not changes_made(fake), fake["calls"]
    assert not os.path.exists(fake["paths"]["UNIT_FILE"])
    applied = run_main(args)
    assert applied["changed"] == checked["changed"] and applied["changes"] == checked["changes"]
    assert applied["diff"] == checked["diff"]
    assert ["/usr/sbin/ip", "addr", "add", "172.31.248.100/32", "dev", "lo"] in fake["calls"]
    assert applied["listeners"] == {8080: ["172.31.248.100"]}
    assert "ip addr replace 172.31.248.100/32 dev lo" in open(fake["paths"]["UNIT_FILE"], encoding="utf-8").read()
    assert oct(os.stat(fake["paths"]["RECORD_FILE"]).st_mode & 0o777) == "0o600"


def test_main_fails_naming_the_port_when_nothing_listens_on_the_vip(fake):
    result = run_main({"vips": ["172.31.248.100"], "interfaces": ["eth0"], "listen_ports": [8082]}, check_mode=True)
    assert result["failed"]
    assert result["msg"].startswith("listen_ports: port 8082: bound only to 172.31.248.21. Fix: bind the service to the VIP")


def test_main_gateway_reports_and_verifies_the_default_route(fake):
    result = run_main({"gateway": "172.31.248.254", "persist": False})
    assert not result["failed"] and result["default_gateway"] == "172.31.248.254"
    assert ["/usr/sbin/ip", "route", "replace", "default", "via", "172.31.248.254"] in fake["calls"]


def test_main_refuses_ipv6_with_redirect_and_bad_vips(fake):
    result = run_main({"vips": ["2001:db8::1"], "method": "redirect"}, check_mode=True)
    assert result["failed"] and "IPv6 VIP, which lbkit does not implement on Linux with method redirect" in result["msg"]
    result = run_main({"vips": ["10.0.0.1/32"]}, check_mode=True)
    assert result["failed"] and result["msg"].startswith("vips[0]: '10.0.0.1/32' has a prefix length")


READS = ("-json", "-e", "-j", "-ltnH")
# what the IPVS data-plane tier runs on a real server's network namespace
TUNNEL_ARGS = {"vips": ["172.31.248.100"], "tunnel": True, "persist": False, "listen_ports": [80]}


def changes_made(fake):
    return [call for call in fake["calls"] if call[1] not in READS and call[1:3] != ["-6", "-json"]]


def test_main_tunnel_without_systemd_check_mode_run_and_second_run(fake):
    del fake["bins"]["systemctl"]
    fake["ss"] = "LISTEN 0      5             0.0.0.0:80 0.0.0.0:*\n"
    checked = run_main(TUNNEL_ARGS, check_mode=True)
    assert checked["changed"] and not checked["failed"], checked.get("msg")
    assert changes_made(fake) == []
    applied = run_main(TUNNEL_ARGS)
    assert not applied["failed"], applied.get("msg")
    assert (applied["changed"], applied["changes"], applied["diff"]) == (checked["changed"], checked["changes"], checked["diff"])
    assert changes_made(fake) == [["/usr/sbin/ip", "addr", "add", "172.31.248.100/32", "dev", "lo"]] + TUNNEL_SETUP + [
        ["/usr/sbin/sysctl", "-q", "-w", "net.ipv4.conf.%s.%s=%s" % (where, setting, value)]
        for where in ("all", "eth0", "veth-peer") for setting, value in (("arp_ignore", "1"), ("arp_announce", "2"))
    ] + [["/usr/sbin/sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=2"], ["/usr/sbin/sysctl", "-q", "-w", "net.ipv4.conf.tunl0.rp_filter=0"]]
    assert (applied["diff"]["before"]["tunl0"], applied["diff"]["after"]["tunl0"]) == (None, "up")
    assert applied["listeners"] == {80: ["0.0.0.0"]}
    # the host now lists tunl0 (NOARP): the next run must find nothing to do, in check mode or not
    fake["calls"].clear()
    for check_mode in (True, False):
        again = run_main(TUNNEL_ARGS, check_mode=check_mode)
        assert (again["changed"], again["changes"]) == (False, []) and again["diff"]["before"] == again["diff"]["after"]
    assert changes_made(fake) == []


def test_main_tunnel_persisted_with_udev_then_absent_restores(fake):
    open(linux.UDEV_CONTROL, "w", encoding="utf-8").close()
    args = {"vips": ["172.31.248.100"], "interfaces": ["eth0"], "tunnel": True}
    applied = run_main(args)
    made = changes_made(fake)
    assert made[1:4] == [["/usr/sbin/modprobe", "ipip"], ["/usr/bin/udevadm", "settle", "--timeout=60"], ["/usr/sbin/ip", "link", "set", "tunl0", "up"]]
    with open(fake["paths"]["MODULES_FILE"], encoding="utf-8") as handle:
        assert handle.read().endswith("\nipip\n")
    assert applied["diff"]["after"]["persisted"][fake["paths"]["MODULES_FILE"]].endswith("\nipip\n")
    assert run_main(args)["changed"] is False
    fake["calls"].clear()
    checked = run_main({"state": "absent"}, check_mode=True)
    removed = run_main({"state": "absent"})
    assert removed["changed"] and (removed["changes"], removed["diff"]) == (checked["changes"], checked["diff"])
    assert ["/usr/sbin/ip", "link", "set", "tunl0", "down"] in changes_made(fake)
    assert not any(call[0] == "/usr/sbin/modprobe" for call in fake["calls"])
    assert fake["sysctls"][linux.ALL_RP_FILTER] == "1" and fake["sysctls"][linux.TUNNEL_RP_FILTER] == "2"
    assert not any(os.path.exists(path) for path in fake["paths"].values())
    assert run_main({"state": "absent"})["changed"] is False


def test_main_refuses_tunnel_with_redirect_before_any_command(fake):
    result = run_main({"vips": ["172.31.248.100"], "method": "redirect", "tunnel": True}, check_mode=True)
    assert result["failed"] and result["msg"].startswith("tunnel: IP-in-IP tunnelling needs method: loopback.")
    assert fake["calls"] == []


def test_main_tunnel_without_modprobe_says_what_to_install(fake):
    del fake["bins"]["modprobe"]
    result = run_main({"vips": ["172.31.248.100"], "tunnel": True, "persist": False}, check_mode=True)
    assert result["failed"] and result["msg"].startswith("tunnel: the host has no tunl0 and no modprobe")
