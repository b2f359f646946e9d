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

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import linux
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.actions import RemoveFile, WriteFile
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.vips import RealServerError
from ansible_collections.lbkit.loadbalancer.plugins.modules import realserver_linux

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "realserver_linux")
TOOLS = {"ip": "/usr/sbin/ip", "sysctl": "/usr/sbin/sysctl", "nft": "/usr/sbin/nft", "systemctl": "/usr/bin/systemctl",
         "mkdir": "/usr/bin/mkdir", "ss": "/usr/bin/ss"}
V1, V2 = ipaddress.ip_address("172.31.248.100"), ipaddress.ip_address("172.31.248.101")
V6 = ipaddress.ip_address("2001:db8:248::100")


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


def plain_host(**changes):
    interfaces, lo, addresses = linux.parse_ip_address(fixture("ip-address-plain.json"))
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
    interfaces, lo, addresses = linux.parse_ip_address(fixture("ip-address-plain.json"))
    assert interfaces == ("veth-peer", "eth0")
    assert [str(a) for a in lo] == ["127.0.0.1/8"]
    assert ipaddress.ip_interface("172.31.248.21/24") in addresses
    dummy, lo, dummy2 = linux.parse_ip_address(fixture("ip-address-vips.json"))
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
    assert linux.parse_listeners(fixture("ss-ltnH.txt")) == [("0.0.0.0", 8081), ("172.31.248.21", 8082), ("172.31.248.100", 8080), ("*", 8083)]


def test_bad_output_and_record_are_errors():
    with pytest.raises(RealServerError, match="ip -json address"):
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


def test_vip_with_a_wider_prefix_is_replaced_and_existing_vips_are_kept():
    interfaces, lo, addresses = linux.parse_ip_address(fixture("ip-address-vips.json"))
    host = plain_host(lo_addresses=lo)
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
    assert linux.snapshot(final)["lo_vips"] == []
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
    with pytest.raises(RealServerError, match=r"interfaces\[0\]: the host has no interface 'eth9'; use one of veth-peer, eth0"):
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
    assert linux.snapshot(final)["lo_vips"] == [] and final.nft_rules == () and not final.nft_table
    assert final.default_route == linux.Route("172.31.248.1", "eth0")
    assert all(content is None for content in final.files.values()) and not final.unit_enabled
    assert final.sysctls["net.ipv4.conf.all.arp_ignore"] == "0" and final.sysctls["net.ipv6.conf.lo.accept_dad"] == "-1"
    # absent for only the VIPs leaves the gateway alone
    actions, dummy = converge(routed, linux.Request((V1, V6, V2), state="absent"))
    assert not any(isinstance(a, (linux.ReplaceDefaultRoute, linux.DelDefaultRoute)) for a in actions)


# --- redirect method -------------------------------------------------------------------------


def test_redirect_plan_argv_and_nft_file():
    actions, after = converge(plain_host(), linux.Request((V1, V2), method="redirect"))
    assert argvs(actions)[:3] == [
        ["/usr/sbin/nft", "add", "table", "ip", "lbkit_realserver", ";", "add", "chain", "ip", "lbkit_realserver", "prerouting",
         "{", "type", "nat", "hook", "prerouting", "priority", "dstnat", ";", "policy", "accept", ";", "}"],
        ["/usr/sbin/nft", "add", "rule", "ip", "lbkit_realserver", "prerouting", "ip", "daddr", "172.31.248.100", "redirect"],
        ["/usr/sbin/nft", "add", "rule", "ip", "lbkit_realserver", "prerouting", "ip", "daddr", "172.31.248.101", "redirect"],
    ]
    assert not any(isinstance(a, (linux.SetSysctl, linux.AddLoAddress)) for a in actions), "redirect needs no ARP sysctls"
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


def test_gateway_from_picks_the_floating_ip_of_the_host_subnet():
    addresses = plain_host().addresses
    assert str(linux.choose_gateway(None, ["10.0.1.1/24", "172.31.248.254/24"], addresses)) == "172.31.248.254"
    with pytest.raises(RealServerError, match="gateway_from: none of 10.0.1.1/24 is in a subnet"):
        linux.choose_gateway(None, ["10.0.1.1/24"], addresses)
    with pytest.raises(RealServerError, match="gateway: 'nope' is not an IP address"):
        linux.choose_gateway("nope", None, addresses)


# --- listeners -------------------------------------------------------------------------------


def test_listener_check_accepts_vip_and_wildcards_and_names_missing_ports():
    listeners = linux.parse_listeners(fixture("ss-ltnH.txt"))
    found, missing = linux.check_listeners(listeners, [8080, 8081, 8082, 8083, 9000], [V1], (), "loopback")
    assert found[8080] == ["172.31.248.100"] and found[8081] == ["0.0.0.0"] and found[8083] == ["*"]
    assert missing == [8082, 9000]
    message = linux.listener_error(missing, listeners, [V1], "loopback")
    assert "port 8082: bound only to 172.31.248.21" in message and "port 9000: nothing listens" in message
    assert "Fix: bind the service to the VIP (172.31.248.100) or to all addresses" in message
    # redirect delivers to the receiving interface's own address: a listener there fits
    found, missing = linux.check_listeners(listeners, [8082], [V1], plain_host().addresses, "redirect")
    assert missing == [] and found[8082] == ["172.31.248.21"]


# --- the module's main() ---------------------------------------------------------------------


class Exited(Exception):
    """exit_json / fail_json was called; args[0] is the result."""


@pytest.fixture(name="fake")
def fixture_fake(monkeypatch, tmp_path):
    """A fake Debian 12 host: read commands answer with the captures, files live under tmp_path."""
    state = {"calls": [], "route": fixture("ip-route-default.json"), "ss": fixture("ss-ltnH.txt")}
    paths = {name: str(tmp_path / os.path.basename(getattr(linux, name))) for name in ("SYSCTL_FILE", "NFT_FILE", "UNIT_FILE", "RECORD_FILE")}
    for name, path in paths.items():
        monkeypatch.setattr(linux, name, path)
    monkeypatch.setattr(linux, "RECORD_DIR", str(tmp_path))
    monkeypatch.setattr(linux, "UNIT_WANTS_LINK", str(tmp_path / "wants-link"))

    def run_command(self, args, **kwargs):
        assert isinstance(args, list), "commands are argv lists, never strings"
        state["calls"].append(list(args))
        if args[1:3] == ["-json", "address"]:
            return 0, fixture("ip-address-plain.json"), ""
        if args[1:3] == ["-json", "route"]:
            return 0, state["route"], ""
        if args[1] == "-e":
            return 0, fixture("sysctl-defaults.txt"), ""
        if args[1:3] == ["-j", "list"]:
            return 0, fixture("nft-ruleset-empty.json"), ""
        if args[1] == "-ltnH":
            return 0, state["ss"], ""
        if args[1:3] == ["route", "replace"]:
            state["route"] = json.dumps([{"dst": "default", "gateway": args[5], "dev": "eth0"}])
        return 0, "", ""

    def atomic_move(self, src, dest, **kwargs):
        os.rename(src, dest)

    def exit_json(self, **result):
        raise Exited(dict(result, failed=False))

    def fail_json(self, msg, **result):
        raise Exited(dict(result, msg=msg, failed=True))

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, required=False, opt_dirs=None: TOOLS.get(name))
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
    assert all(call[1] in ("-json", "-e", "-j", "-ltnH") for call in fake["calls"]), fake["calls"]
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
