"""The listener check of every real-server module (and, by its rule, win_realserver): the
listening sockets of each system parsed (``ss`` on Linux, ``netstat`` on the BSDs and Solaris),
the one rule and message, and the BSD and Solaris modules' ``listen_ports``.

The netstat outputs are captures from real hosts, or derived from them (see the fixtures' README).
"""

import ipaddress
import platform

import pytest
from ansible.module_utils import basic

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import bsd, listeners, solaris
from ansible_collections.lbkit.loadbalancer.plugins.modules import realserver_bsd, realserver_solaris

from .realserver_fixtures import fixture
from .test_realserver_modules import Exited, commands, run

VIP = ipaddress.ip_address("192.0.2.10")
VIP6 = ipaddress.ip_address("2001:db8::10")
FREEBSD_NETSTAT = ("/usr/bin/netstat", "-a", "-n", "-W", "-p", "tcp")
SOLARIS_NETSTAT = ("/usr/bin/netstat", "-a", "-n", "-P", "tcp")

# --- parsers -------------------------------------------------------------------------------


def test_linux_ss_reads_ipv4_ipv6_wildcards_and_drops_the_bound_device():
    text = ("LISTEN 0      5             0.0.0.0:8081 0.0.0.0:*\n"
            "LISTEN 0      5                   *:8083       *:*\n"
            "LISTEN 0      4096    127.0.0.53%lo:53      0.0.0.0:*\n"
            "LISTEN 0      128              [::]:22         [::]:*\n"
            "LISTEN 0      5      [2001:db8::10]:8080       [::]:*\n"
            "LISTEN 0      5    [fe80::1%eth0]:631       [::]:*\n"
            "garbage\n")
    assert listeners.parse_ss(text) == [
        ("0.0.0.0", 8081), ("*", 8083), ("127.0.0.53", 53), ("::", 22), ("2001:db8::10", 8080), ("fe80::1", 631)]


def test_freebsd_netstat_lists_only_listening_sockets():
    assert listeners.parse_bsd_netstat(fixture("freebsd-netstat-an-p-tcp.txt")) == [
        ("127.0.0.1", 25), ("*", 80), ("*", 80), ("*", 22), ("*", 22), ("127.0.0.1", 5801), ("127.0.0.1", 5901),
    ]


def test_freebsd_netstat_with_vips_reads_ipv4_and_ipv6_addresses():
    parsed = listeners.parse_bsd_netstat(fixture("freebsd-netstat-an-p-tcp-vips.txt"))
    assert parsed[:3] == [("192.0.2.10", 8080), ("2001:db8::10", 8080), ("10.129.1.254", 8443)]
    # the established connection from the VIP's port is no listener
    assert parsed.count(("192.0.2.10", 8080)) == 1


def test_macos_netstat_verbose_columns_and_truncated_ipv6_are_handled():
    parsed = listeners.parse_bsd_netstat(fixture("darwin-netstat-anv-listen.txt"))
    assert len(parsed) == 15
    assert ("*", 49389) in parsed and ("127.0.0.1", 16107) in parsed
    # macOS cut this address short (no -W in the capture): kept as printed, it never fits a VIP
    assert ("fe80::aede:48ff:", 49164) in parsed


def test_solaris_netstat_reads_both_tcp_tables_and_skips_udp():
    parsed = listeners.parse_solaris_netstat(fixture("solaris-netstat-na.txt"))
    assert parsed == [
        ("127.0.0.1", 4999), ("*", 111), ("*", 111), ("*", 56771), ("*", 36196), ("*", 22),
        ("*", 111), ("*", 36196), ("*", 22),
    ]


def test_solaris_netstat_maps_ipv4_mapped_ipv6_to_ipv4():
    parsed = listeners.parse_solaris_netstat(fixture("solaris-netstat-an-P-tcp-vips.txt"))
    assert ("192.0.2.10", 8080) in parsed and ("172.31.15.139", 8443) in parsed
    assert ("192.0.2.11", 8081) in parsed


@pytest.mark.parametrize("local, expected", [
    ("*.80", ("*", 80)),
    ("192.0.2.10.8080", ("192.0.2.10", 8080)),
    ("2001:0db8:0::10.443", ("2001:db8::10", 443)),
    ("fe80::1%lo0.631", ("fe80::1", 631)),
    ("::ffff:192.0.2.11.8081", ("192.0.2.11", 8081)),
    ("*.*", None),
    ("localhost.smtp", None),
])
def test_split_address(local, expected):
    assert listeners.split_address(local) == expected


# --- the one rule: a VIP on the loopback, or all addresses --------------------------------


def test_the_rule_and_its_message():
    parsed = listeners.parse_bsd_netstat(fixture("freebsd-netstat-an-p-tcp-vips.txt"))
    found, missing = listeners.check_listeners(parsed, [80, 8080, 8443, 9000], [VIP, VIP6])
    assert found == {80: ["*"], 8080: ["192.0.2.10", "2001:db8::10"], 8443: [], 9000: []}
    assert missing == [8443, 9000]
    message = listeners.listener_error(missing, parsed, [VIP, VIP6])
    assert message == listeners.listener_error(missing, parsed, [VIP, VIP6], "loopback")
    assert message.startswith("listen_ports: port 8443: bound only to 10.129.1.254; port 9000: nothing listens.")
    assert "bind the service to the VIP (192.0.2.10, 2001:db8::10) or to all addresses" in message


def test_fitting_addresses_and_another_method():
    parsed = listeners.parse_bsd_netstat(fixture("freebsd-netstat-an-p-tcp-vips.txt"))
    # further addresses that fit (Linux's redirect method: the receiving interface's own)
    found, missing = listeners.check_listeners(parsed, [8443], [VIP], [ipaddress.ip_address("10.129.1.254")])
    assert found == {8443: ["10.129.1.254"]} and missing == []
    # a method other than the loopback does not name the VIP as a place to bind to
    message = listeners.listener_error([9000], parsed, [VIP], "redirect")
    assert message.endswith("Fix: bind the service to all addresses (0.0.0.0 / [::]); a service bound elsewhere never sees the VIP's packets.")


def test_a_listener_on_loopback_only_does_not_fit():
    parsed = listeners.parse_solaris_netstat(fixture("solaris-netstat-na.txt"))
    found, missing = listeners.check_listeners(parsed, [22, 4999], [VIP])
    assert found == {22: ["*"], 4999: []}
    assert missing == [4999]
    assert "port 4999: bound only to 127.0.0.1" in listeners.listener_error(missing, parsed, [VIP])


# --- the modules ---------------------------------------------------------------------------


@pytest.fixture(name="host")
def fixture_host(monkeypatch):
    """A fake host as in test_realserver_modules: ``answers`` maps argv tuples to (rc, out, err)."""
    state = {"answers": {}, "calls": [], "bins": {"ifconfig": "/sbin/ifconfig"}}

    def run_command(self, args, **kwargs):
        assert isinstance(args, list), "commands are argv lists, never strings"
        state["calls"].append(list(args))
        return state["answers"].get(tuple(args), (0, "", ""))

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return state["bins"].get(name)

    def exit_json(self, **result):
        raise Exited(dict(result, failed=False))

    def fail_json(self, msg, **result):
        raise Exited(dict(result, msg=msg, failed=True))

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", get_bin_path)
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    return state


@pytest.fixture(name="freebsd")
def fixture_freebsd(host, monkeypatch, tmp_path):
    monkeypatch.setattr(platform, "system", lambda: "FreeBSD")
    monkeypatch.setattr(bsd, "RC_CONF_FILES", (str(tmp_path / "rc.conf"), str(tmp_path / "rc.conf.local")))
    host["bins"]["netstat"] = "/usr/bin/netstat"
    host["answers"][("/sbin/ifconfig", "lo0")] = (0, fixture("freebsd-ifconfig-lo0-vips.txt"), "")
    host["answers"][FREEBSD_NETSTAT] = (0, fixture("freebsd-netstat-an-p-tcp-vips.txt"), "")
    return host


def test_bsd_module_returns_listeners_and_runs_netstat_as_argv(freebsd):
    result = run(realserver_bsd.main, {"vips": ["192.0.2.10"], "persist": False, "listen_ports": [80, 8080]})
    assert result["failed"] is False, result.get("msg")
    assert result["listeners"] == {80: ["*"], 8080: ["192.0.2.10"]}
    assert list(FREEBSD_NETSTAT) in commands(freebsd)


def test_bsd_module_fails_naming_the_port_the_vip_and_the_fix_also_in_check_mode(freebsd):
    result = run(realserver_bsd.main, {"vips": ["192.0.2.10"], "persist": False, "listen_ports": [8443]}, check_mode=True)
    assert result["failed"] is True
    assert result["msg"].startswith("listen_ports: port 8443: bound only to 10.129.1.254. Fix: bind the service to the VIP (192.0.2.10)")
    assert "or to all addresses" in result["msg"]
    assert result["listeners"] == {8443: []}


def test_bsd_module_without_listen_ports_or_when_absent_reads_no_sockets(freebsd):
    run(realserver_bsd.main, {"vips": ["192.0.2.10"], "persist": False})
    run(realserver_bsd.main, {"vips": ["192.0.2.10"], "persist": False, "state": "absent", "listen_ports": [9000]})
    assert not any("netstat" in call[0] for call in freebsd["calls"])


@pytest.fixture(name="sunos")
def fixture_sunos(host, monkeypatch, tmp_path):
    monkeypatch.setattr(platform, "system", lambda: "SunOS")
    (tmp_path / "release").write_text("                    Oracle Solaris 10 1/13 s10x_u11wos_24a X86\n")
    monkeypatch.setattr(solaris, "HOSTNAME_DIR", str(tmp_path))
    monkeypatch.setattr(solaris, "RELEASE_FILE", str(tmp_path / "release"))
    host["bins"].update(ifconfig="/usr/sbin/ifconfig", netstat="/usr/bin/netstat")
    host["answers"][("/usr/sbin/ifconfig", "-a")] = (0, fixture("solaris-ifconfig-a-vips.txt"), "")
    host["answers"][SOLARIS_NETSTAT] = (0, fixture("solaris-netstat-an-P-tcp-vips.txt"), "")
    return host


def test_solaris_module_accepts_a_vip_listener_and_an_ipv4_mapped_one(sunos):
    result = run(realserver_solaris.main, {"vips": ["192.0.2.10", "192.0.2.11"], "persist": False, "listen_ports": [8080, 8081, 22]})
    assert result["failed"] is False, result.get("msg")
    assert result["listeners"] == {8080: ["192.0.2.10"], 8081: ["192.0.2.11"], 22: ["*"]}
    assert list(SOLARIS_NETSTAT) in commands(sunos)


def test_solaris_module_fails_when_the_service_is_bound_to_the_hosts_own_address(sunos):
    result = run(realserver_solaris.main, {"vips": ["192.0.2.10"], "persist": False, "listen_ports": [8443, 4999]}, check_mode=True)
    assert result["failed"] is True
    assert result["msg"].startswith("listen_ports: port 8443: bound only to 172.31.15.139; port 4999: bound only to 127.0.0.1. Fix:")
    assert "bind the service to the VIP (192.0.2.10) or to all addresses" in result["msg"]
