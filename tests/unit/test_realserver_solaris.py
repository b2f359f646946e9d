"""Solaris real servers: parse -> plan -> argv, against captured ``ifconfig -a`` output.

The fixtures and where each came from: tests/unit/fixtures/realserver/README.md.
"""

import ipaddress

import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import NotImplementedOnPlatform, RealServerError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import core, solaris
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.actions import Action, RemoveFile, WriteFile

from .realserver_fixtures import fixture

TOOLS = {"ifconfig": "/usr/sbin/ifconfig"}
V10 = ipaddress.ip_address("192.0.2.10")
V11 = ipaddress.ip_address("192.0.2.11")
V12 = ipaddress.ip_address("192.0.2.12")
V13 = ipaddress.ip_address("192.0.2.13")


def plan(host, vips, state="present", persist=True):
    return solaris.plan(host, core.Request(vips=tuple(vips), state=state, persist=persist))


def argvs(actions):
    return [a.argv(TOOLS) for a in actions if a.argv(TOOLS) is not None]


def assert_converged(host, vips, state="present", persist=True):
    actions = plan(host, vips, state, persist)
    assert all(isinstance(a, Action) for a in actions)
    assert plan(core.simulate(host, actions), vips, state, persist) == []
    return actions


# --- parse ---------------------------------------------------------------------------------


def test_parse_logical_units_with_zones():
    found = solaris.parse_ifconfig_a(fixture("solaris-ifconfig-a.txt"))
    lo0 = [u for u in found if u.physical == "lo0"]
    assert [u.name for u in lo0] == ["lo0", "lo0:1", "lo0:2", "lo0:3", "lo0:4", "lo0:5"]
    assert [u.zone for u in lo0] == [None, "frcp00vpd0385", "frcp00vpd0388", "frcp00vpd0192", "frcp00vpd0192", "frcp00vpd0179"]
    assert str(lo0[4].address) == "128.1.1.192/16"
    assert all(u.family == 4 and u.up for u in lo0)
    assert [u.name for u in found if u.physical == "bnx3"] == ["bnx3", "bnx3:1", "bnx3:2", "bnx3:3"]
    assert str(found[-1].address) == "55.16.202.98/22"


def test_parse_units_holding_vips_down_unit_and_ipv6_loopback():
    found = solaris.parse_ifconfig_a(fixture("solaris-ifconfig-a-vips.txt"))
    six, seven = [u for u in found if u.name in ("lo0:6", "lo0:7")]
    assert (str(six.address), six.up, six.zone) == ("192.0.2.10/32", True, None)
    assert (str(seven.address), seven.up) == ("192.0.2.11/32", False)
    ipv6 = [u for u in found if u.family == 6]
    assert [(u.name, str(u.address)) for u in ipv6] == [("lo0", "::1/128")]


def test_parse_composite_output_of_many_interface_kinds():
    found = solaris.parse_ifconfig_a(fixture("solaris-ifconfig-a-ohai.txt"))
    by_name = dict(((u.name, u.family), u) for u in found)
    assert str(by_name[("lo0:3", 4)].address) == "127.0.0.1/8"
    assert str(by_name[("lo0", 4)].address) == "127.0.0.1/8"
    assert str(by_name[("ip.tun0:1", 6)].address) == "2::45/128"
    # "inet tunnel src ..." is not an address line; the tunnel's inet6 line is
    assert str(by_name[("ip.tun0", 6)].address) == "fe80::6d92:5539/10"
    assert str(by_name[("ip6.tun0", 4)].address) == "10.0.0.208/8"
    assert by_name[("ipmp0", 4)].unit == 0 and "IPMP" in by_name[("ipmp0", 4)].flags


def test_build_host_keeps_ipv4_loopback_units_only():
    host = solaris.build_host(fixture("solaris-ifconfig-a-vips.txt"))
    assert [u.name for u in host.units] == ["lo0", "lo0:1", "lo0:2", "lo0:3", "lo0:4", "lo0:5", "lo0:6", "lo0:7"]


def test_build_host_needs_the_loopback():
    with pytest.raises(RealServerError, match="no IPv4 lo0"):
        solaris.build_host("e1000g0: flags=1000843<UP,BROADCAST,RUNNING,MULTICAST,IPv4> mtu 1500 index 2\n")


def test_hostname_files():
    files = solaris.parse_hostname_files({
        "hostname.lo0:3": "192.0.2.12 netmask 255.255.255.255 up\n",
        "hostname.lo0:9": "# the mail VIP\n192.0.2.13/32 up\n",
        "hostname.lo0:4": "mailhost\n",
        "hostname.e1000g0": "rs1\n",
        "hostname.lo0": "",
        "hostname.lo0:x": "192.0.2.99\n",
    })
    assert [(f.unit, f.address, f.path) for f in files] == [
        (3, V12, "/etc/hostname.lo0:3"), (4, None, "/etc/hostname.lo0:4"), (9, V13, "/etc/hostname.lo0:9")]


def test_oracle_solaris_11_is_recognised_from_etc_release():
    assert solaris.hostname_files_ignored("                             Oracle Solaris 11.4 X86\n  Copyright (c) 1983, 2018\n")
    assert not solaris.hostname_files_ignored("                    Oracle Solaris 10 1/13 s10x_u11wos_24a X86\n")
    assert not solaris.hostname_files_ignored("  OmniOS v11 r151046\n")
    assert not solaris.hostname_files_ignored("")
    with pytest.raises(NotImplementedOnPlatform, match="Set persist: false and persist each VIP by hand"):
        solaris.check_persistence("Oracle Solaris 11.4 SPARC\n", "present", True)
    solaris.check_persistence("Oracle Solaris 11.4 SPARC\n", "present", False)
    solaris.check_persistence("Oracle Solaris 11.4 SPARC\n", "absent", True)


# --- plan and argv -------------------------------------------------------------------------


def test_first_free_unit_skips_units_of_zones():
    host = solaris.build_host(fixture("solaris-ifconfig-a.txt"))
    actions = assert_converged(host, [V10, V11])
    assert argvs(actions) == [
        ["/usr/sbin/ifconfig", "lo0:6", "plumb"],
        ["/usr/sbin/ifconfig", "lo0:6", "192.0.2.10", "netmask", "255.255.255.255", "up"],
        ["/usr/sbin/ifconfig", "lo0:7", "plumb"],
        ["/usr/sbin/ifconfig", "lo0:7", "192.0.2.11", "netmask", "255.255.255.255", "up"],
    ]
    files = [a for a in actions if isinstance(a, WriteFile)]
    assert [(f.path, f.content, f.mode) for f in files] == [
        ("/etc/hostname.lo0:6", b"192.0.2.10 netmask 255.255.255.255 up\n", 0o644),
        ("/etc/hostname.lo0:7", b"192.0.2.11 netmask 255.255.255.255 up\n", 0o644),
    ]


def test_unit_named_by_a_hostname_file_is_not_free():
    host = solaris.build_host(fixture("solaris-ifconfig-a.txt"), {"hostname.lo0:6": "198.51.100.6 up\n"})
    actions = plan(host, [V10])
    assert argvs(actions)[0] == ["/usr/sbin/ifconfig", "lo0:7", "plumb"]
    assert [a.path for a in actions if isinstance(a, WriteFile)] == ["/etc/hostname.lo0:7"]


def test_existing_unit_is_reused_and_a_down_unit_brought_up():
    files = {"hostname.lo0:6": solaris.hostname_content(V10)}
    host = solaris.build_host(fixture("solaris-ifconfig-a-vips.txt"), files)
    actions = assert_converged(host, [V10, V11])
    assert argvs(actions) == [["/usr/sbin/ifconfig", "lo0:7", "192.0.2.11", "netmask", "255.255.255.255", "up"]]
    assert [a.path for a in actions if isinstance(a, WriteFile)] == ["/etc/hostname.lo0:7"]


def test_nothing_to_do():
    files = {"hostname.lo0:6": solaris.hostname_content(V10), "hostname.lo0:7": solaris.hostname_content(V11)}
    text = fixture("solaris-ifconfig-a-vips.txt").replace("2001000848<LOOPBACK", "2001000849<UP,LOOPBACK")
    host = solaris.build_host(text, files)
    assert plan(host, [V10, V11]) == []


def test_file_of_the_live_unit_taken_by_another_address_moves_to_a_free_unit():
    files = {"hostname.lo0:6": "198.51.100.6 netmask 255.255.255.255 up\n"}
    host = solaris.build_host(fixture("solaris-ifconfig-a-vips.txt"), files)
    actions = assert_converged(host, [V10])
    assert actions == [WriteFile("/etc/hostname.lo0:8", b"192.0.2.10 netmask 255.255.255.255 up\n", 0o644)]


def test_hostname_file_with_other_content_for_the_vip_is_rewritten():
    files = {"hostname.lo0:6": "192.0.2.10/32 up\n"}
    host = solaris.build_host(fixture("solaris-ifconfig-a-vips.txt"), files)
    assert plan(host, [V10]) == [WriteFile("/etc/hostname.lo0:6", b"192.0.2.10 netmask 255.255.255.255 up\n", 0o644)]


def test_without_persist_no_file_is_written():
    host = solaris.build_host(fixture("solaris-ifconfig-a.txt"))
    actions = plan(host, [V10], persist=False)
    assert not [a for a in actions if isinstance(a, (WriteFile, RemoveFile))]


def test_absent_unplumbs_the_units_and_removes_the_files_of_the_listed_vips_only():
    files = {
        "hostname.lo0:6": solaris.hostname_content(V10),
        "hostname.lo0:7": solaris.hostname_content(V11),
        "hostname.lo0:9": "198.51.100.9 netmask 255.255.255.255 up\n",
    }
    host = solaris.build_host(fixture("solaris-ifconfig-a-vips.txt"), files)
    actions = assert_converged(host, [V10, V11], "absent")
    assert argvs(actions) == [["/usr/sbin/ifconfig", "lo0:6", "unplumb"], ["/usr/sbin/ifconfig", "lo0:7", "unplumb"]]
    assert [a.path for a in actions if isinstance(a, RemoveFile)] == ["/etc/hostname.lo0:6", "/etc/hostname.lo0:7"]
    after = solaris.snapshot(core.simulate(host, actions))
    assert after == {"vips": [], "settings": {}, "persisted": {"/etc/hostname.lo0:9": "198.51.100.9 netmask 255.255.255.255 up"}}


def test_absent_never_touches_a_zone_unit():
    host = solaris.build_host(fixture("solaris-ifconfig-a.txt"))
    assert plan(host, [ipaddress.ip_address("128.1.1.192")], "absent") == []


def test_present_refuses_a_vip_held_by_a_zone():
    host = solaris.build_host(fixture("solaris-ifconfig-a.txt"))
    with pytest.raises(RealServerError, match="held by lo0:4, which belongs to zone frcp00vpd0192"):
        plan(host, [ipaddress.ip_address("128.1.1.192")])


def test_ipv6_vips_are_refused():
    host = solaris.build_host(fixture("solaris-ifconfig-a.txt"))
    with pytest.raises(NotImplementedOnPlatform, match="IPv6 VIPs on Solaris"):
        plan(host, [ipaddress.ip_address("2001:db8::10")])


def test_snapshot():
    files = {"hostname.lo0:6": solaris.hostname_content(V10)}
    host = solaris.build_host(fixture("solaris-ifconfig-a-vips.txt"), files)
    assert solaris.snapshot(host) == {
        "vips": ["192.0.2.10/32", "192.0.2.11/32"],
        "settings": {"lo0:6": "192.0.2.10/32 up", "lo0:7": "192.0.2.11/32 down"},
        "persisted": {"/etc/hostname.lo0:6": "192.0.2.10 netmask 255.255.255.255 up"},
    }
    # the zones' units are on the loopback too, but no VIP of this zone's
    assert [str(a) for a in host.loopback][-4:] == ["128.1.1.192/16", "127.0.0.1/8", "192.0.2.10/32", "192.0.2.11/32"]


def test_host_takes_its_hostname_files_as_the_file_actions_simulate_them():
    host = solaris.build_host(fixture("solaris-ifconfig-a.txt"), {"hostname.lo0:6": "198.51.100.6 up\n"})
    written = WriteFile("/etc/hostname.lo0:6", solaris.hostname_content(V10).encode("ascii")).simulate(host)
    assert [(f.unit, f.address) for f in written.hostname_files] == [(6, V10)]
    assert RemoveFile("/etc/hostname.lo0:6").simulate(written).hostname_files == ()
    with pytest.raises(ValueError, match="not a hostname.lo0:N file"):
        host.with_file("/etc/hostname.e1000g0", b"rs1\n")


def test_unit_actions_simulate_themselves():
    host = solaris.build_host(fixture("solaris-ifconfig-a.txt"))
    plumbed = solaris.PlumbUnit(6).simulate(host)
    assert plumbed.units[-1].name == "lo0:6" and not plumbed.units[-1].up and plumbed.units[-1].address is None
    configured = solaris.AddVip(6, V10).simulate(plumbed)
    assert configured.units[-1].up and str(configured.units[-1].address) == "192.0.2.10/32"
    assert configured.loopback[-1] == ipaddress.ip_interface("192.0.2.10/32")
    assert solaris.RemoveVip(6).simulate(configured) == host
