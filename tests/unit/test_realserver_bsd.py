"""FreeBSD and macOS real servers: parse -> plan -> argv, against captured ifconfig output.

The fixtures and where each came from: tests/unit/fixtures/realserver/README.md.
"""

import ipaddress
import plistlib

import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import NotImplementedOnPlatform, RealServerError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import bsd, core
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.actions import Action, RemoveFile, WriteFile
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.vips import parse_vips

from .realserver_fixtures import fixture

TOOLS = {"ifconfig": "/sbin/ifconfig", "sysrc": "/usr/sbin/sysrc"}
V4 = ipaddress.ip_address("192.0.2.10")
V4B = ipaddress.ip_address("192.0.2.11")
V6 = ipaddress.ip_address("2001:db8::10")


def host_from(name, system=bsd.FREEBSD, rc=None, jobs=()):
    noarp, loopback = bsd.loopback_state(bsd.parse_ifconfig(fixture(name)))
    entries = bsd.parse_rc_conf(rc, bsd.RC_CONF) if rc is not None else []
    return bsd.BsdHost(system, noarp, tuple(loopback), rc_entries=tuple(entries), launchd_jobs=tuple(jobs))


def plan(host, vips, state="present", persist=True):
    return bsd.plan(host, core.Request(vips=tuple(vips), state=state, persist=persist))


def argvs(actions):
    return [a.argv(TOOLS) for a in actions if a.argv(TOOLS) is not None]


def assert_converged(host, vips, state="present", persist=True):
    """The plan, carried out, leaves nothing for a second run to do."""
    actions = plan(host, vips, state, persist)
    assert all(isinstance(a, Action) for a in actions)
    after = core.simulate(host, actions)
    assert plan(after, vips, state, persist) == []
    return actions


# --- parse ---------------------------------------------------------------------------------


def test_parse_freebsd_ifconfig_all_interfaces():
    found = bsd.parse_ifconfig(fixture("freebsd-ifconfig-a.txt"))
    assert sorted(found) == ["lo0", "vtnet0"]
    assert [str(a) for a in found["vtnet0"].addresses] == [
        "140.211.10.91/26", "fe80::f816:3eff:feba:3e25/64", "2605:bc80:3010:506:f816:3eff:feba:3e25/64"]
    assert [str(a) for a in found["lo0"].addresses] == ["127.0.0.1/8", "::1/128", "fe80::1/64"]
    assert "NOARP" not in found["lo0"].flags
    assert found["lo0"].flags == frozenset(["UP", "LOOPBACK", "RUNNING", "MULTICAST", "LOWER_UP"])


def test_parse_freebsd_lo0_with_vips_and_noarp():
    noarp, addresses = bsd.loopback_state(bsd.parse_ifconfig(fixture("freebsd-ifconfig-lo0-vips.txt")))
    assert noarp is True
    assert [str(a) for a in addresses] == [
        "127.0.0.1/8", "::1/128", "fe80::1/64", "192.0.2.10/32", "192.0.2.11/32", "2001:db8::10/128"]


def test_parse_darwin_ifconfig():
    found = bsd.parse_ifconfig(fixture("darwin-ifconfig-a.txt"))
    assert list(found) == ["lo0", "gif0", "stf0", "en1", "p2p0", "en0", "fw0", "utun0"]
    assert [str(a) for a in found["lo0"].addresses] == [
        "fe80::1/64", "127.0.0.1/8", "::1/128", "fd54:185f:37df:cad2:ba8d:12ff:fe3a:32de/128"]
    assert found["stf0"].addresses == () and found["stf0"].flags == frozenset()
    assert str(found["en1"].addresses[1]) == "10.20.10.144/24"


def test_parse_darwin_lo0_vip_without_noarp():
    noarp, addresses = bsd.loopback_state(bsd.parse_ifconfig(fixture("darwin-ifconfig-lo0-vip.txt")))
    assert noarp is False
    assert [str(a) for a in addresses][-2:] == ["192.0.2.10/32", "192.0.2.12/24"]


def test_parse_point_to_point_and_cidr_lines():
    text = ("tun0: flags=8051<UP,POINTOPOINT,RUNNING,MULTICAST> metric 0 mtu 1500\n"
            "\tinet 10.109.188.206 --> 10.109.188.206 netmask 0xffffe000\n"
            "\tinet 192.0.2.5/24 broadcast 192.0.2.255 flags 0x0\n"
            "\tinet6 2001:db8::5/64 flags 0\n")
    found = bsd.parse_ifconfig(text)["tun0"]
    assert [str(a) for a in found.addresses] == ["10.109.188.206/19", "192.0.2.5/24", "2001:db8::5/64"]


def test_missing_loopback_is_an_error():
    with pytest.raises(RealServerError, match="no lo0 interface"):
        bsd.loopback_state(bsd.parse_ifconfig("em0: flags=8843<UP> mtu 1500\n"))


def test_parse_rc_conf_keeps_other_lines_out_and_reads_every_quoting():
    text = fixture("freebsd-rc.conf") + "ifconfig_lo0_alias5='inet 192.0.2.50 netmask 255.255.255.255'\n" \
        "ifconfig_lo0_alias6=inet6\n# ifconfig_lo0_alias7=\"inet 192.0.2.70\"\n" \
        'ifconfig_lo0_alias1="inet 192.0.2.10 netmask 255.255.255.255 -arp"  # VIP\n'
    entries = bsd.parse_rc_conf(text, "/etc/rc.conf")
    assert [(e.name, e.value, e.number) for e in entries] == [
        ("ifconfig_lo0_alias0", "inet 198.51.100.7 netmask 255.255.255.255", 0),
        ("ifconfig_lo0_alias3", "inet6 2001:db8::10 prefixlen 128", 3),
        ("ifconfig_lo0_alias5", "inet 192.0.2.50 netmask 255.255.255.255", 5),
        ("ifconfig_lo0_alias6", "inet6", 6),
        # assigned twice: the last assignment is the one rc sees
        ("ifconfig_lo0_alias1", "inet 192.0.2.10 netmask 255.255.255.255 -arp", 1),
    ]
    assert entries[0].addresses == (ipaddress.ip_address("198.51.100.7"),)
    assert entries[3].addresses == ()


def test_rc_value_addresses_of_lists_and_legacy_values():
    assert bsd.rc_value_addresses("inet 192.0.2.1/32 inet 192.0.2.2/32 inet6 2001:db8::1/128") == tuple(
        ipaddress.ip_address(a) for a in ("192.0.2.1", "192.0.2.2", "2001:db8::1"))
    # network.subr still takes an IPv4 alias without "inet" (and warns)
    assert bsd.rc_value_addresses("192.0.2.9 netmask 255.255.255.255") == (ipaddress.ip_address("192.0.2.9"),)


def test_launchd_names_round_trip():
    assert bsd.launchd_label(V6) == "com.lbkit.loadbalancer.vip.2001-db8--10"
    assert bsd.launchd_address("com.lbkit.loadbalancer.vip.2001-db8--10.plist") == V6
    assert bsd.launchd_address("com.lbkit.loadbalancer.vip.192.0.2.10.plist") == V4
    assert bsd.launchd_address("com.example.other.plist") is None
    assert bsd.launchd_address("com.lbkit.loadbalancer.vip.nonsense.plist") is None


def test_launchd_plist_runs_the_same_argv_without_a_shell():
    job = plistlib.loads(bsd.render_launchd_plist(V4))
    assert job == {
        "Label": "com.lbkit.loadbalancer.vip.192.0.2.10",
        "ProgramArguments": ["/sbin/ifconfig", "lo0", "alias", "192.0.2.10", "netmask", "255.255.255.255", "-arp", "up"],
        "RunAtLoad": True,
    }
    assert plistlib.loads(bsd.render_launchd_plist(V6))["ProgramArguments"] == [
        "/sbin/ifconfig", "lo0", "inet6", "2001:db8::10", "prefixlen", "128", "alias"]


# --- plan and argv -------------------------------------------------------------------------


def test_add_two_ipv4_and_one_ipv6_vip_on_freebsd():
    host = host_from("freebsd-ifconfig-a.txt", rc="")
    actions = assert_converged(host, [V4, V4B, V6])
    assert argvs(actions) == [
        ["/sbin/ifconfig", "lo0", "alias", "192.0.2.10", "netmask", "255.255.255.255", "-arp", "up"],
        ["/sbin/ifconfig", "lo0", "alias", "192.0.2.11", "netmask", "255.255.255.255", "-arp", "up"],
        ["/sbin/ifconfig", "lo0", "inet6", "2001:db8::10", "prefixlen", "128", "alias"],
        ["/usr/sbin/sysrc", "-f", "/etc/rc.conf", "ifconfig_lo0_alias0=inet 192.0.2.10 netmask 255.255.255.255 -arp"],
        ["/usr/sbin/sysrc", "-f", "/etc/rc.conf", "ifconfig_lo0_alias1=inet 192.0.2.11 netmask 255.255.255.255 -arp"],
        ["/usr/sbin/sysrc", "-f", "/etc/rc.conf", "ifconfig_lo0_alias2=inet6 2001:db8::10 prefixlen 128"],
    ]


def test_nothing_to_do_when_vips_and_rc_conf_are_in_place():
    host = host_from("freebsd-ifconfig-lo0-vips.txt", rc=fixture("freebsd-rc.conf"))
    assert plan(host, [V4, V6]) == []


def test_new_rc_entry_takes_the_lowest_free_number_and_leaves_other_lines():
    host = host_from("freebsd-ifconfig-lo0-vips.txt", rc=fixture("freebsd-rc.conf"))
    actions = plan(host, [V4, V4B, V6])
    # alias0, alias1 and alias3 are taken: the gap at 2 is filled
    assert actions == [bsd.SetRcVar("/etc/rc.conf", "ifconfig_lo0_alias2", "inet 192.0.2.11 netmask 255.255.255.255 -arp")]
    after = bsd.snapshot(core.simulate(host, actions))["persisted"]
    assert list(after.items()) == [
        ("/etc/rc.conf ifconfig_lo0_alias0", "inet 198.51.100.7 netmask 255.255.255.255"),
        ("/etc/rc.conf ifconfig_lo0_alias1", "inet 192.0.2.10 netmask 255.255.255.255 -arp"),
        ("/etc/rc.conf ifconfig_lo0_alias3", "inet6 2001:db8::10 prefixlen 128"),
        ("/etc/rc.conf ifconfig_lo0_alias2", "inet 192.0.2.11 netmask 255.255.255.255 -arp"),
    ]


def test_numbers_used_in_rc_conf_local_are_taken_too():
    host = host_from("freebsd-ifconfig-a.txt", rc="")
    local = bsd.parse_rc_conf('ifconfig_lo0_alias0="inet 198.51.100.9/32"\n', bsd.RC_CONF_LOCAL)
    host = bsd.BsdHost(host.system, host.noarp, host.loopback, rc_entries=tuple(local))
    assert [a for a in plan(host, [V4]) if isinstance(a, bsd.SetRcVar)] == [
        bsd.SetRcVar("/etc/rc.conf", "ifconfig_lo0_alias1", "inet 192.0.2.10 netmask 255.255.255.255 -arp")]


def test_rc_entry_for_the_vip_without_arp_flag_is_rewritten_in_place():
    rc = 'ifconfig_lo0_alias4="inet 192.0.2.10 netmask 255.255.255.0"\n'
    host = host_from("freebsd-ifconfig-lo0-vips.txt", rc=rc)
    assert assert_converged(host, [V4]) == [
        bsd.SetRcVar("/etc/rc.conf", "ifconfig_lo0_alias4", "inet 192.0.2.10 netmask 255.255.255.255 -arp")]


def test_vip_in_an_aliases_list_counts_as_persisted_but_cannot_be_removed():
    rc = 'ifconfig_lo0_aliases="inet 192.0.2.10/32 inet 192.0.2.99/32"\n'
    host = host_from("freebsd-ifconfig-lo0-vips.txt", rc=rc)
    assert plan(host, [V4]) == []
    with pytest.raises(RealServerError, match="persisted in ifconfig_lo0_aliases in /etc/rc.conf"):
        plan(host, [V4], "absent")


def test_vip_with_a_wider_prefix_is_replaced_by_the_host_alias():
    host = host_from("darwin-ifconfig-lo0-vip.txt", system=bsd.DARWIN)
    twelve = ipaddress.ip_address("192.0.2.12")
    actions = assert_converged(host, [twelve], persist=False)
    assert argvs(actions) == [
        ["/sbin/ifconfig", "lo0", "inet", "192.0.2.12", "-alias"],
        ["/sbin/ifconfig", "lo0", "alias", "192.0.2.12", "netmask", "255.255.255.255", "-arp", "up"],
    ]


def test_vip_present_but_lo0_without_noarp_only_sets_noarp():
    host = host_from("darwin-ifconfig-lo0-vip.txt", system=bsd.DARWIN)
    actions = assert_converged(host, [V4], persist=False)
    assert argvs(actions) == [["/sbin/ifconfig", "lo0", "-arp"]]


def test_ipv6_only_vips_do_not_touch_noarp():
    host = host_from("freebsd-ifconfig-a.txt", rc="")
    actions = plan(host, [V6], persist=False)
    assert argvs(actions) == [["/sbin/ifconfig", "lo0", "inet6", "2001:db8::10", "prefixlen", "128", "alias"]]


def test_absent_removes_listed_vips_and_their_rc_lines_only():
    host = host_from("freebsd-ifconfig-lo0-vips.txt", rc=fixture("freebsd-rc.conf"))
    actions = assert_converged(host, [V4, V6], "absent")
    assert argvs(actions) == [
        ["/sbin/ifconfig", "lo0", "inet", "192.0.2.10", "-alias"],
        ["/sbin/ifconfig", "lo0", "inet6", "2001:db8::10", "-alias"],
        ["/usr/sbin/sysrc", "-f", "/etc/rc.conf", "-x", "ifconfig_lo0_alias1"],
        ["/usr/sbin/sysrc", "-f", "/etc/rc.conf", "-x", "ifconfig_lo0_alias3"],
    ]
    after = bsd.snapshot(core.simulate(host, actions))
    assert after["vips"] == ["192.0.2.11/32"]
    assert after["persisted"] == {"/etc/rc.conf ifconfig_lo0_alias0": "inet 198.51.100.7 netmask 255.255.255.255"}
    # a loopback never sends ARP: the flag stays, absent only takes away what it names
    assert after["settings"] == {"lo0 NOARP": True}


def test_absent_when_already_absent_is_a_no_op():
    host = host_from("freebsd-ifconfig-a.txt", rc=fixture("freebsd-rc.conf"))
    assert plan(host, [V4B], "absent") == []


def test_absent_without_persist_leaves_rc_conf():
    host = host_from("freebsd-ifconfig-lo0-vips.txt", rc=fixture("freebsd-rc.conf"))
    assert plan(host, [V4], "absent", persist=False) == [bsd.RemoveVip(V4)]


def test_absent_refuses_a_shared_rc_entry():
    rc = 'ifconfig_lo0_alias0="inet 192.0.2.10 netmask 255.255.255.255 inet 192.0.2.20 netmask 255.255.255.255"\n'
    host = host_from("freebsd-ifconfig-a.txt", rc=rc)
    with pytest.raises(RealServerError, match="together with other addresses"):
        plan(host, [V4], "absent")


def test_macos_writes_one_launchd_job_per_vip():
    host = host_from("darwin-ifconfig-a.txt", system=bsd.DARWIN)
    actions = assert_converged(host, [V4, V6])
    files = [a for a in actions if isinstance(a, WriteFile)]
    assert [(f.path, f.mode) for f in files] == [
        ("/Library/LaunchDaemons/com.lbkit.loadbalancer.vip.192.0.2.10.plist", 0o644),
        ("/Library/LaunchDaemons/com.lbkit.loadbalancer.vip.2001-db8--10.plist", 0o644),
    ]
    assert files[0].content == bsd.render_launchd_plist(V4)
    after = bsd.snapshot(core.simulate(host, actions))
    assert after["persisted"] == {
        "/Library/LaunchDaemons/com.lbkit.loadbalancer.vip.192.0.2.10.plist": "/sbin/ifconfig lo0 alias 192.0.2.10 netmask 255.255.255.255 -arp up",
        "/Library/LaunchDaemons/com.lbkit.loadbalancer.vip.2001-db8--10.plist": "/sbin/ifconfig lo0 inet6 2001:db8::10 prefixlen 128 alias",
    }
    assert after["settings"] == {"lo0 NOARP": True}


def test_macos_rewrites_an_edited_job_and_removes_jobs_on_absent():
    path = "/Library/LaunchDaemons/com.lbkit.loadbalancer.vip.192.0.2.10.plist"
    other = "/Library/LaunchDaemons/com.lbkit.loadbalancer.vip.192.0.2.11.plist"
    jobs = bsd.parse_launchd_jobs({
        "com.lbkit.loadbalancer.vip.192.0.2.10.plist": b"edited by hand",
        "com.lbkit.loadbalancer.vip.192.0.2.11.plist": bsd.render_launchd_plist(V4B),
        "org.example.unrelated.plist": b"<plist/>",
    })
    assert [j.path for j in jobs] == [path, other]
    host = host_from("darwin-ifconfig-lo0-vip.txt", system=bsd.DARWIN, jobs=jobs)
    assert bsd.snapshot(host)["persisted"][path] == "(unreadable job file)"
    assert [a for a in plan(host, [V4]) if isinstance(a, WriteFile)] == [WriteFile(path, bsd.render_launchd_plist(V4), 0o644)]
    assert plan(host, [V4], "absent") == [bsd.RemoveVip(V4), RemoveFile(path)]


def test_other_systems_are_refused():
    host = bsd.BsdHost("OpenBSD", False, ())
    with pytest.raises(NotImplementedOnPlatform, match="FreeBSD and Darwin only, not on OpenBSD"):
        plan(host, [V4])


def test_unknown_state_is_refused():
    with pytest.raises(RealServerError, match="state must be present or absent"):
        plan(host_from("freebsd-ifconfig-a.txt"), [V4], "merged")


def test_describe_plan_reports_argv_for_commands_only():
    host = host_from("darwin-ifconfig-a.txt", system=bsd.DARWIN)
    described = core.describe(plan(host, [V4]), TOOLS)
    assert described == [
        {"action": "add 192.0.2.10/32 to lo0",
         "argv": ["/sbin/ifconfig", "lo0", "alias", "192.0.2.10", "netmask", "255.255.255.255", "-arp", "up"]},
        {"action": "write /Library/LaunchDaemons/com.lbkit.loadbalancer.vip.192.0.2.10.plist"},
    ]


def test_snapshot_lists_service_addresses_only():
    host = host_from("freebsd-ifconfig-lo0-vips.txt", rc=fixture("freebsd-rc.conf"))
    assert bsd.snapshot(host) == {
        "vips": ["192.0.2.10/32", "192.0.2.11/32", "2001:db8::10/128"],
        "settings": {"lo0 NOARP": True},
        "persisted": {
            "/etc/rc.conf ifconfig_lo0_alias0": "inet 198.51.100.7 netmask 255.255.255.255",
            "/etc/rc.conf ifconfig_lo0_alias1": "inet 192.0.2.10 netmask 255.255.255.255 -arp",
            "/etc/rc.conf ifconfig_lo0_alias3": "inet6 2001:db8::10 prefixlen 128",
        },
    }


def test_macos_host_takes_its_job_files_as_the_file_actions_simulate_them():
    host = host_from("darwin-ifconfig-a.txt", system=bsd.DARWIN)
    path = bsd.launchd_path(V4)
    written = WriteFile(path, bsd.render_launchd_plist(V4)).simulate(host)
    assert written.launchd_jobs == (bsd.LaunchdJob(path, V4, bsd.render_launchd_plist(V4)),)
    assert RemoveFile(path).simulate(written).launchd_jobs == ()
    with pytest.raises(ValueError, match="not a launchd job file"):
        host.with_file("/etc/rc.conf", b"")


def test_an_ipv4_alias_brings_noarp_an_ipv6_one_does_not():
    host = host_from("freebsd-ifconfig-a.txt", rc="")
    assert bsd.AddVip(V6).simulate(host).noarp is False
    after = bsd.AddVip(V4).simulate(host)
    assert after.noarp is True and after.loopback[-1] == ipaddress.ip_interface("192.0.2.10/32")
    assert bsd.RemoveVip(V4).simulate(after).loopback == host.loopback


# --- the VIP list --------------------------------------------------------------------------


@pytest.mark.parametrize(("values", "message"), [
    ([], "vips is empty"),
    (["192.0.2.10/32"], r"vips\[0\]: '192.0.2.10/32' has a prefix length"),
    (["web"], r"vips\[0\]: 'web' is not an IP address"),
    (["127.0.0.5"], "is a loopback address"),
    (["224.0.0.18"], "is a multicast address"),
    (["0.0.0.0"], r"0\.0\.0\.0 is in 0\.0\.0\.0/8 \('this network', which includes the unspecified address"),
    (["::"], ":: is the unspecified address"),
    (["255.255.255.255"], "which includes the broadcast address"),
    (["fe80::1"], "is a link-local address"),
    (["192.0.2.10", "192.0.2.10"], r"vips\[1\]: 192.0.2.10 is already listed as vips\[0\]"),
])
def test_bad_vip_lists_are_refused_with_the_index(values, message):
    with pytest.raises(RealServerError, match=message):
        parse_vips(values)


def test_vip_family_not_implemented_names_the_platform():
    with pytest.raises(NotImplementedOnPlatform, match="IPv6 VIP, which lbkit does not implement on Solaris"):
        parse_vips(["2001:db8::1"], families=(4,), platform="Solaris")


def test_vips_keep_their_order():
    assert parse_vips([" 2001:db8::10", "192.0.2.10"]) == [V6, V4]
