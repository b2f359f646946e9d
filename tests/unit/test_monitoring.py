"""Monitoring: the spec's section, the endpoint HAProxy serves, the daemons the appliance engine
manages for it, and the status overview both the metrics and the status playbook are built on."""

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine import linux as engine
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import UnsafeValue
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._monitor import overview
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.state import desired_state
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import haproxy, programs
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import check_spec, load_spec
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.secrets import secret_values
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.status import status_report

from . import test_appliance_module as appliance_tests
from .specs import mutate
from .test_appliance_module import BOOT, FakeHost, converge, read

# The appliance tests' fixture: a temporary root, nothing started at boot.
root = appliance_tests.root

PASSWORD = "s3cret#Pa55'word"
MONITORING = {"allowed_sources": ["192.168.10.0/24", "203.0.113.9"], "status_page": {"user": "operator", "password": PASSWORD}}
DROPIN = programs.NODE_EXPORTER_DROPIN
UNIT = programs.METRICS_UNIT
PROGRAM = programs.METRICS_PROGRAM


def monitored(**changes):
    spec = mutate({})
    spec["monitoring"] = dict(MONITORING, **changes)
    return spec


def follow(spec, root, host, **kwargs):
    """Converge ``spec`` on the appliance ``host`` converged before (its daemons still running)."""
    after = FakeHost(spec, **kwargs)
    after.active = set(host.active)
    return converge(spec, root, host=after)


def errors(spec):
    return [str(e) for e in check_spec(spec)[1]]


# --- the spec ---------------------------------------------------------------------------------


def test_the_section_is_optional_and_filled_in():
    assert load_spec(mutate({})).monitoring is None
    mon = load_spec(monitored()).monitoring
    assert mon.port == 9101 and [str(s) for s in mon.allowed_sources] == ["192.168.10.0/24", "203.0.113.9/32"]
    assert mon.status_page.user == "operator" and PASSWORD not in repr(mon)


@pytest.mark.parametrize("sources,message", [
    ([], "/monitoring/allowed_sources: needs at least 1 item"),
    (["10.0.0.1/24"], "/monitoring/allowed_sources/0: '10.0.0.1/24' has host bits set. Fix: write the network as 10.0.0.0/24."),
    (["10.0.0.0/33"], "/monitoring/allowed_sources/0: '10.0.0.0/33' is not a network with a prefix length from /0 to /32."),
    (["2001:db8::/64", "nowhere"], "/monitoring/allowed_sources/1: 'nowhere' is not in the expected form."),
])
def test_bad_sources_are_refused_with_their_path(sources, message):
    assert any(e.startswith(message) for e in errors(monitored(allowed_sources=sources))), errors(monitored(allowed_sources=sources))


def test_the_status_page_needs_a_user_without_colon_and_a_long_password():
    found = errors(monitored(status_page={"user": "a:b", "password": "short"}))
    assert any(e.startswith("/monitoring/status_page/user:") for e in found)
    assert any(e.startswith("/monitoring/status_page/password: must be at least 8 characters") for e in found)
    assert [e.split(":")[0] for e in errors(monitored(status_page={"user": "operator"}))] == ["/monitoring/status_page/password"]


def test_every_node_needs_an_address_for_its_endpoint():
    spec = monitored()
    del spec["cluster"]["nodes"][1]["heartbeat_address"]
    spec["cluster"]["ha"]["unicast"] = False
    assert errors(spec) == ["/cluster/nodes/1/management_address: is required with monitoring: node 'lb2' has no address for its metrics "
                            "endpoint (and no heartbeat address to use). Fix: give the node its address on the management network, "
                            "where Prometheus reaches it."]
    spec["cluster"]["nodes"][1]["management_address"] = "192.168.10.12"
    assert errors(spec) == []


def test_a_loadmaster_cluster_refuses_monitoring_with_the_reason():
    spec = monitored()
    spec["cluster"]["engine"] = "loadmaster"
    spec["cluster"]["ha"] = {"mode": "pair"}
    spec["cluster"]["floating_ips"] = []
    spec["virtual_services"] = []
    assert [e for e in errors(spec) if e.startswith("/monitoring:")] == [
        "/monitoring: the Kemp LoadMaster engine does not configure monitoring: a LoadMaster serves its own statistics (its SNMP agent and "
        "the REST API's statistics), which lbkit does not set up yet. Fix: remove monitoring from this cluster's spec, and read the "
        "LoadMaster's statistics with its SNMP agent."]


def test_the_password_is_a_secret_everywhere():
    assert PASSWORD in secret_values(monitored())
    state = desired_state(load_spec(monitored()), "lb1")
    assert PASSWORD not in json.dumps(state) and state["monitoring"]["status_page"]["password"].startswith("sha256:")


# --- the endpoint (haproxy.cfg) ---------------------------------------------------------------


def test_the_endpoint_serves_three_paths_to_the_allowed_sources_only():
    cfg = haproxy.render(load_spec(monitored()), host="lb1", node_exporter=("127.0.0.1", 9100))
    text = cfg.content
    assert "frontend lbkit_monitoring\n    bind 192.168.10.11:9101\n" in text
    assert "    acl lbkit_allowed src 192.168.10.0/24 203.0.113.9/32\n    acl lbkit_known path /metrics /node/metrics /stats\n" in text
    assert "    http-request deny deny_status 403 unless lbkit_allowed\n    http-request return status 404 unless lbkit_known\n" in text
    assert "    http-request use-service prometheus-exporter if { path /metrics }\n" in text
    # The password escaped for HAProxy's parser; the copy shown in diffs and renders masked.
    assert "    stats auth operator:s3cret\\#Pa55\\'word\n" in text
    assert PASSWORD not in cfg.masked and "stats auth operator:********" in cfg.masked
    assert ("backend lbkit_node_exporter\n    mode http\n    timeout server 30s\n    http-request set-path /metrics\n"
            "    server node_exporter 127.0.0.1:9100\n") in text
    assert ("192.168.10.11", 9101) in cfg.binds
    # Each node listens on its own address.
    assert "bind 192.168.10.12:9101" in haproxy.render(load_spec(monitored()), host="lb2", node_exporter=("127.0.0.1", 9100)).content


def test_without_a_status_page_there_is_no_stats_path_and_an_ipv6_management_address_is_bracketed():
    spec = monitored(port=9200)
    del spec["monitoring"]["status_page"]
    spec["cluster"]["nodes"][0]["management_address"] = "2001:db8::11"
    text = haproxy.render(load_spec(spec), host="lb1", node_exporter=("127.0.0.1", 9100)).content
    assert "bind [2001:db8::11]:9200" in text and "/stats" not in text and "stats auth" not in text


def test_monitoring_alone_makes_a_haproxy_cfg():
    spec = monitored()
    spec["virtual_services"] = [vs for vs in spec["virtual_services"] if vs["layer"] == 4]
    assert haproxy.render(load_spec(spec), host="lb1", node_exporter=("127.0.0.1", 9100)) is not None
    del spec["monitoring"]
    assert haproxy.render(load_spec(spec), host="lb1", node_exporter=("127.0.0.1", 9100)) is None


# --- the programs -----------------------------------------------------------------------------


def test_the_metrics_program_is_the_overview_module_itself():
    with open(overview.__file__) as handle:
        assert programs.metrics_program() == "#!/usr/bin/python3\n" + handle.read()


def test_the_units_name_only_safe_paths():
    unit = programs.metrics_unit("/etc/lbkit/state.json", "/run/haproxy/admin.sock")
    assert "ExecStart=/usr/bin/python3 /usr/local/libexec/lbkit/metrics --output /var/lib/prometheus/node-exporter/lbkit.prom --interval 2 \\\n" in unit
    assert "ExecStopPost=/bin/rm -f /var/lib/prometheus/node-exporter/lbkit.prom" in unit
    for bad in ("/etc/lb kit/state.json", "/etc/%n/state.json", 'x"'):
        with pytest.raises(UnsafeValue):
            programs.metrics_unit(bad, "/run/haproxy/admin.sock")
    dropin = programs.node_exporter_dropin()
    assert "ExecStart=\nExecStart=/usr/bin/prometheus-node-exporter --web.listen-address=127.0.0.1:9100 \\\n    --collector" in dropin
    assert "--collector.systemd.unit-include=(keepalived|haproxy|lbkit-metrics)[.]service" in dropin


def test_keepalived_tells_each_check_result_to_the_overview():
    from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import keepalived
    from ansible_collections.lbkit.loadbalancer.plugins.module_utils._net import ip
    conf = keepalived.render(load_spec(mutate({})), "lb1", ip.by_name(ip.parse_links(json.dumps(
        [{"ifname": "eth0", "addr_info": [{"local": "192.168.10.11", "prefixlen": 24}]},
         {"ifname": "eth1", "addr_info": [{"local": "10.0.1.11", "prefixlen": 24}]}])))).content
    assert '        notify_up "/usr/local/libexec/lbkit/check-notify up tcp_192.0.2.10_80_192.168.10.21_80"\n' in conf
    assert '        notify_down "/usr/local/libexec/lbkit/check-notify down tcp_192.0.2.10_80_192.168.10.21_80"\n' in conf


def test_the_check_notify_helper_records_a_result_and_refuses_odd_keys(tmp_path):
    helper = tmp_path / "check-notify"
    helper.write_text(programs.CHECK_NOTIFY_TEXT.replace(programs.CHECKS_DIR, str(tmp_path / "checks")))
    helper.chmod(0o755)
    subprocess.run([str(helper), "down", "tcp_192.0.2.10_80_192.168.10.21_80"], check=True)
    assert (tmp_path / "checks" / "tcp_192.0.2.10_80_192.168.10.21_80").read_text().split()[0] == "down"
    for argv in (["sideways", "k"], ["up", "../escape"], ["up", ".hidden"], ["up", ""]):
        assert subprocess.run([str(helper)] + argv, check=False).returncode == 2
    assert sorted(os.listdir(tmp_path / "checks")) == ["tcp_192.0.2.10_80_192.168.10.21_80"]


# --- the engine -------------------------------------------------------------------------------


def test_monitoring_on_installs_and_starts_its_daemons(root):
    host, result = converge(monitored(), root)
    assert result["changed"]
    assert "+ monitoring endpoint 192.168.10.11:9101 (192.168.10.0/24, 203.0.113.9/32) with the status page" in result["summary"]
    assert read(root, DROPIN) == programs.node_exporter_dropin() and read(root, PROGRAM) == programs.metrics_program()
    assert "%04o" % (os.stat(root + PROGRAM).st_mode & 0o7777) == "0755"
    assert "--state /etc/lbkit/state.json" in read(root, UNIT)
    assert BOOT >= {"prometheus-node-exporter", "lbkit-metrics"}
    started = [c[1:] for c in host.commands if c[0].endswith("systemctl") and c[1] in ("daemon-reload", "start")]
    assert started.index(["daemon-reload"]) < started.index(["start", "prometheus-node-exporter"]) < started.index(["start", "lbkit-metrics"])
    # Secrets: the diff and the rendered file show no password.
    assert PASSWORD not in json.dumps(result) and "stats auth operator:" in read(root, engine.HAPROXY_CFG)
    host, again = follow(monitored(), root, host)
    assert not again["changed"] and again["operations"] == []


def test_a_new_source_reloads_haproxy_only_and_a_new_program_restarts_its_daemon(root):
    host, dummy = converge(monitored(), root)
    host, result = follow(monitored(allowed_sources=["192.168.10.0/24"]), root, host)
    assert result["summary"] == ["~ monitoring endpoint 192.168.10.11:9101 (192.168.10.0/24) with the status page: allowed_sources "
                                 "[192.168.10.0/24, 203.0.113.9/32] -> [192.168.10.0/24]"]
    assert result["operations"] == ["write %s" % (root + engine.HAPROXY_CFG), "reload haproxy", "record the applied state"]
    assert not host.ran("systemctl", "restart")
    with open(root + PROGRAM, "a") as handle:
        handle.write("# edited\n")
    host, result = follow(monitored(allowed_sources=["192.168.10.0/24"]), root, host)
    assert host.ran("systemctl", "restart", "lbkit-metrics") and not host.ran("systemctl", "restart", "prometheus-node-exporter")
    assert not host.ran("systemctl", "daemon-reload")


def test_a_new_password_is_a_hidden_change():
    before = desired_state(load_spec(monitored()), "lb1")
    after = desired_state(load_spec(monitored(status_page={"user": "operator", "password": "another-long-one"})), "lb1")
    from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.diff import diff
    lines = [c.line() for c in diff(before, after)]
    assert lines == ["~ monitoring endpoint 192.168.10.11:9101 (192.168.10.0/24, 203.0.113.9/32) with the status page: "
                     "status_page.password (hidden) -> (hidden)"]
    # A status page added whole shows its user, never its password's digest.
    without = monitored()
    del without["monitoring"]["status_page"]
    added = [c.line() for c in diff(desired_state(load_spec(without), "lb1"), before)]
    assert added == ["~ monitoring endpoint 192.168.10.11:9101 (192.168.10.0/24, 203.0.113.9/32) with the status page: "
                     "status_page (unset) -> {password: (hidden), user: operator}"], added


def test_monitoring_off_stops_disables_and_removes_what_it_installed(root):
    host, dummy = converge(monitored(), root)
    host, result = follow(mutate({}), root, host)
    assert "- monitoring endpoint 192.168.10.11:9101 (192.168.10.0/24, 203.0.113.9/32) with the status page" in result["summary"]
    for path in (DROPIN, UNIT, PROGRAM):
        assert not os.path.exists(root + path)
    assert not BOOT & {"prometheus-node-exporter", "lbkit-metrics"}
    assert "prometheus-node-exporter" not in host.active and "lbkit-metrics" not in host.active
    # 'systemctl disable' runs while the unit file is still there, before anything is written.
    disable = host.commands.index(next(c for c in host.commands if c[1:] == ["disable", "--quiet", "lbkit-metrics"]))
    reload_units = host.commands.index(next(c for c in host.commands if c[1:] == ["daemon-reload"]))
    assert disable < reload_units
    assert "frontend lbkit_monitoring" not in read(root, engine.HAPROXY_CFG)


def test_an_appliance_never_monitored_leaves_a_node_exporter_of_its_own_alone(root):
    BOOT.add("prometheus-node-exporter")
    host = FakeHost(mutate({}))
    host.active.add("prometheus-node-exporter")
    host, result = converge(mutate({}), root, host=host)
    assert not host.ran("systemctl", "stop", "prometheus-node-exporter") and not host.ran("systemctl", "disable")
    assert "prometheus-node-exporter" in BOOT


def test_a_failed_start_of_the_metrics_daemon_rolls_everything_back(root):
    host = FakeHost(monitored())
    host.fail[("systemctl", "start", "lbkit-metrics")] = (1, "", "Job for lbkit-metrics.service failed")
    with pytest.raises(Exception) as failure:
        converge(monitored(), root, host=host)
    assert "the previous configuration was restored" in str(failure.value)
    for path in (DROPIN, UNIT, PROGRAM):
        assert not os.path.exists(root + path)
    assert [c[1:] for c in host.commands if c[0].endswith("systemctl") and c[1] == "daemon-reload"] == [["daemon-reload"], ["daemon-reload"]]
    assert not BOOT & {"prometheus-node-exporter", "lbkit-metrics"}


def test_the_monitoring_package_is_asked_for_with_the_section():
    assert engine.packages(load_spec(monitored()), ["keepalived"]) == ["keepalived", "prometheus-node-exporter"]
    assert engine.packages(load_spec(mutate({})), ["keepalived"]) == ["keepalived"]


# --- the overview -----------------------------------------------------------------------------


STATE = {
    "cluster": {"name": "lab", "host": "lb1", "mode": "pair", "priority": 150,
                "floating_ips": {"10.0.1.1/24": {"name": "gw", "side": "internal", "gateway": True}}},
    "virtual_services": {
        "tcp/192.0.2.10/80": {"name": "web-dr", "address": "192.0.2.10", "port": 80, "protocol": "tcp", "layer": 4, "real_servers": {
            "192.168.10.21:80": {"name": "web1", "address": "192.168.10.21", "port": 80, "state": "enabled"},
            "192.168.10.22:80": {"name": "web2", "address": "192.168.10.22", "port": 80, "state": "enabled"},
            "192.168.10.23:80": {"name": "web3", "address": "192.168.10.23", "port": 80, "state": "enabled"},
            "192.168.10.24:80": {"name": "web4", "address": "192.168.10.24", "port": 80, "state": "halted"}}},
        "tcp/2001:db8::10/443": {"name": "v6", "address": "2001:db8::10", "port": 443, "protocol": "tcp", "layer": 4, "real_servers": {
            "[2001:db8::21]:443": {"name": "a", "address": "2001:db8::21", "port": 443, "state": "enabled"}}},
        "tcp/192.0.2.12/443": {"name": "shop", "address": "192.0.2.12", "port": 443, "protocol": "tcp", "layer": 7, "real_servers": {
            "10.0.1.31:8443": {"name": "s1", "address": "10.0.1.31", "port": 8443, "state": "enabled"},
            "10.0.1.32:8443": {"name": "s2", "address": "10.0.1.32", "port": 8443, "state": "enabled"}}},
        "tcp/192.0.2.12/80": {"name": "empty", "address": "192.0.2.12", "port": 80, "protocol": "tcp", "layer": 7, "real_servers": {}},
    },
}

# /proc/net/ip_vs as the kernel prints it (net/netfilter/ipvs/ip_vs_ctl.c: addresses in hex, IPv6 in
# full between brackets), here with web1 up, web2 drained, web3 out of the table after a failed check
# and web4 halted by the spec; a firewall-mark service, which the overview leaves out.
PROC_IP_VS = """IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  C000020A:0050 wrr
  -> C0A80A15:0050      Route   100    3          1
  -> C0A80A16:0050      Route   0      1          0
TCP  [2001:0db8:0000:0000:0000:0000:0000:0010]:01BB rr
  -> [2001:0db8:0000:0000:0000:0000:0000:0021]:01BB      Masq    1      0          0
FWM  00000001 rr
  -> C0A80A15:0000      Route   1      0          0
"""

SHOW_STAT = """# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight
vs_shop,FRONTEND,,,0,1,,4,,,,,,,,,,OPEN,
vs_shop,s1,0,0,2,2,,2,,,,,,,,0,0,UP,100
vs_shop,s2,0,0,0,1,,2,,,,,,,,0,0,MAINT,100
vs_shop,BACKEND,0,0,0,1,,4,,,,,,,,0,0,UP,100
"""


def test_proc_ip_vs_and_show_stat_parse_to_what_the_overview_reads():
    table = overview.parse_proc_ip_vs(PROC_IP_VS)
    assert table == {
        ("tcp", "192.0.2.10", 80): {("192.168.10.21", 80): {"weight": 100, "active": 3, "inactive": 1},
                                    ("192.168.10.22", 80): {"weight": 0, "active": 1, "inactive": 0}},
        ("tcp", "2001:db8::10", 443): {("2001:db8::21", 443): {"weight": 1, "active": 0, "inactive": 0}},
    }
    assert overview.parse_show_stat(SHOW_STAT) == {("vs_shop", "s1"): {"status": "UP", "weight": 100, "current_sessions": 2},
                                                   ("vs_shop", "s2"): {"status": "MAINT", "weight": 100, "current_sessions": 0}}
    assert overview.parse_show_stat("") == {} and overview.parse_proc_ip_vs(None) == {}


def test_the_overview_gives_each_server_and_service_its_state():
    checks = {overview.check_key("tcp", "192.0.2.10", 80, "192.168.10.23", 80): "down"}
    services = overview.overview(STATE, overview.parse_proc_ip_vs(PROC_IP_VS), overview.parse_show_stat(SHOW_STAT), checks)
    shown = dict((s["name"], (s["status"], [(r["name"], r["status"], r["weight"], r["active"]) for r in s["real_servers"]])) for s in services)
    assert shown == {
        "empty": ("drained", []),
        "shop": ("healthy", [("s1", "up", 100, 2), ("s2", "halted", 100, 0)]),
        "v6": ("healthy", [("a", "up", 1, 0)]),
        "web-dr": ("degraded", [("web1", "up", 100, 3), ("web2", "drained", 0, 1), ("web3", "down", 0, 0), ("web4", "halted", 0, 0)]),
    }
    # HAProxy not answering: every layer-7 server is down.
    shop = next(s for s in overview.overview(STATE, {}, None, {}) if s["name"] == "shop")
    assert (shop["status"], [r["status"] for r in shop["real_servers"]]) == ("down", ["down", "down"])


@pytest.mark.parametrize("entry,check,spec_state,status", [
    ({"weight": 5}, None, "enabled", "up"),
    ({"weight": 0}, "up", "enabled", "drained"),
    (None, "down", "enabled", "down"),
    (None, "down", "drained", "down"),
    (None, "up", "enabled", "halted"),   # taken out at runtime while its check passes
    (None, None, "enabled", "halted"),
    (None, "down", "halted", "halted"),
])
def test_layer4_status(entry, check, spec_state, status):
    assert overview.layer4_status(entry, check, spec_state) == status


@pytest.mark.parametrize("entry,status", [
    ({"status": "UP", "weight": 1}, "up"), ({"status": "UP 1/2", "weight": 1}, "up"), ({"status": "no check", "weight": 1}, "up"),
    ({"status": "DRAIN", "weight": 1}, "drained"), ({"status": "UP", "weight": 0}, "drained"), ({"status": "DOWN", "weight": 1}, "down"),
    ({"status": "DOWN 1/2", "weight": 1}, "down"), ({"status": "NOLB", "weight": 1}, "down"), ({"status": "MAINT (via x/y)", "weight": 1}, "halted"),
    (None, "down"),
])
def test_layer7_status(entry, status):
    assert overview.layer7_status(entry) == status


@pytest.mark.parametrize("statuses,status", [
    (["up", "up"], "healthy"), (["up", "drained", "halted"], "healthy"), (["up", "down"], "degraded"), (["down", "drained"], "down"),
    (["down"], "down"), (["drained", "halted"], "drained"), ([], "drained"),
])
def test_service_status(statuses, status):
    assert overview.service_status(statuses) == status


def test_the_series_are_one_hot_escaped_and_complete():
    services = overview.overview(STATE, overview.parse_proc_ip_vs(PROC_IP_VS), overview.parse_show_stat(SHOW_STAT), {})
    text = overview.render(dict(STATE, cluster=dict(STATE["cluster"], name='a"b\\c')), "backup", {"2001:db8::10"}, services, 1700000000.5)
    lines = text.splitlines()
    assert 'lbkit_vrrp_state{cluster="a\\"b\\\\c",host="lb1",state="backup"} 1' in lines
    assert sum(1 for line in lines if line.startswith("lbkit_vrrp_state{") and line.endswith(" 1")) == 1
    assert 'lbkit_floating_address_held{cluster="a\\"b\\\\c",host="lb1",address="2001:db8::10",name="v6"} 1' in lines
    assert 'lbkit_floating_address_held{cluster="a\\"b\\\\c",host="lb1",address="192.0.2.12",name="empty,shop"} 0' in lines
    assert 'lbkit_floating_address_held{cluster="a\\"b\\\\c",host="lb1",address="10.0.1.1",name="gw"} 0' in lines
    web = [line for line in lines if line.startswith("lbkit_real_server_status{") and 'real_server="web2"' in line]
    assert [line.rsplit(" ", 1)[1] for line in web] == ["0", "0", "1", "0"] and 'status="drained"' in web[2]
    for name, kind, dummy in overview.HELP:
        assert "# TYPE %s %s" % (name, kind) in lines
    assert "lbkit_metrics_updated_timestamp_seconds" in text and "1700000000.500" in text


def test_the_program_writes_its_file_once(tmp_path):
    state = tmp_path / "state.json"
    state.write_text(json.dumps(STATE))
    vrrp = tmp_path / "vrrp.state"
    vrrp.write_text("BACKUP 100 1700000000\n")
    pid = tmp_path / "keepalived.pid"
    pid.write_text("%d\n" % os.getpid())
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / overview.check_key("tcp", "192.0.2.10", 80, "192.168.10.21", 80)).write_text("down 1\n")
    ip_vs = tmp_path / "ip_vs"
    ip_vs.write_text(PROC_IP_VS)
    out = tmp_path / "lbkit.prom"
    program = tmp_path / "metrics"
    program.write_text(programs.metrics_program())
    program.chmod(0o755)
    rc = subprocess.run([sys.executable, str(program), "--once", "--output", str(out), "--state", str(state), "--vrrp-state", str(vrrp),
                         "--keepalived-pid", str(pid), "--checks", str(checks), "--ip-vs", str(ip_vs), "--haproxy-socket", str(tmp_path / "none")],
                        capture_output=True, text=True, check=False)
    assert rc.returncode == 0, rc.stderr
    text = out.read_text()
    assert 'lbkit_vrrp_state{cluster="lab",host="lb1",state="backup"} 1' in text
    # no failed check recorded for web3: out of the table, it was taken out at runtime
    assert 'real_server="web3",address="192.168.10.23",port="80",layer="4",status="halted"} 1' in text
    assert 'service="shop",address="192.0.2.12",port="443",protocol="tcp",layer="7",status="down"} 1' in text
    assert oct(out.stat().st_mode & 0o777) == "0o644" and [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    # keepalived stopped: the node says so, and check results from before are not trusted.
    pid.write_text("999999999\n")
    subprocess.run([sys.executable, str(program), "--once", "--output", str(out), "--state", str(state), "--vrrp-state", str(vrrp),
                    "--keepalived-pid", str(pid), "--checks", str(checks), "--ip-vs", str(ip_vs)], check=True)
    assert 'lbkit_vrrp_state{cluster="lab",host="lb1",state="stopped"} 1' in out.read_text()


FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 172.30.77.0/24 2 0 2
        +-- 172.30.77.0/26 2 0 2
           |-- 172.30.77.0
              /24 link UNICAST
           |-- 172.30.77.11
              /32 host LOCAL
        |-- 172.30.77.100
           /32 host LOCAL
        |-- 172.30.77.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 172.30.77.11
        /32 host LOCAL
"""
IF_INET6 = """00000000000000000000000000000001 01 80 10 80       lo
20010db8000000000000000000000010 02 80 00 80     eth0
"""


def test_the_addresses_held_come_from_the_kernel_tables():
    assert overview.local_addresses(FIB_TRIE, IF_INET6) == {"172.30.77.11", "172.30.77.100", "::1", "2001:db8::10"}
    assert overview.local_addresses(None, None) == set()


def test_check_results_from_before_keepalived_started_are_ignored(tmp_path):
    (tmp_path / "old").write_text("down 1\n")
    (tmp_path / "new").write_text("up 2\n")
    os.utime(tmp_path / "old", (1000, 1000))
    assert overview.read_checks(str(tmp_path), 2000) == {"new": "up"}
    assert overview.read_checks(str(tmp_path / "missing"), 0) == {}


# --- the status overview ----------------------------------------------------------------------


def test_the_status_report_shows_the_masters_view_and_names_the_problems():
    spec = mutate({})
    services = overview.overview(STATE, overview.parse_proc_ip_vs(PROC_IP_VS), overview.parse_show_stat(SHOW_STAT),
                                 {overview.check_key("tcp", "192.0.2.10", 80, "192.168.10.23", 80): "down"})
    infos = {
        "lb1": {"vrrp": {"state": "BACKUP", "held": [], "running": True}, "haproxy": {"running": True}, "status": []},
        "lb2": {"vrrp": {"state": "MASTER", "held": ["192.0.2.10"], "running": True}, "haproxy": {"running": True}, "status": services},
    }
    report = status_report(infos, spec)
    assert report["viewer"] == "lb2" and not report["ok"]
    assert report["problems"] == ["virtual service empty is drained (blue).", "virtual service web-dr is degraded (yellow).",
                                  "real server web3 of web-dr is down."]
    assert "web-dr   192.0.2.10:80/tcp" in report["text"] and "degraded (yellow)" in report["text"] and "halted (blue)" in report["text"]
    assert "lb2   MASTER  192.0.2.10" in report["text"]
    infos["lb1"]["vrrp"]["state"] = "MASTER"
    assert "the cluster has 2 masters: lb1, lb2." in status_report(infos, spec)["problems"]
