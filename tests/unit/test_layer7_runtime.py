"""Layer 7: runtime states across HAProxy reloads (the server state file), slow start, Remote Desktop persistence."""

import os
import socket
import stat
import threading

import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._monitor import server_state
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.state import desired_state
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import haproxy, programs
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import check_spec, load_spec

from . import test_appliance_module as appliance_tests
from .specs import mutate
from .test_appliance_module import FakeHost, converge, read

root = appliance_tests.root

SHOP = "/virtual_services/2"
CONFIG = """global
    server-state-file /var/lib/haproxy/server-state

defaults
    load-server-state-from-file global

listen vs_web
    bind 192.0.2.10:80
    server web1 10.0.1.31:8080 weight 100 check
    server web2 10.0.1.32:8080 weight 100 check

listen vs_v6
    bind [2001:db8::10]:80
    server v6a [2001:db8::21]:80 weight 1

frontend lbkit_monitoring
    bind 192.168.10.11:9101
    default_backend lbkit_node_exporter

backend lbkit_node_exporter
    server node_exporter 127.0.0.1:9100
"""
HEADER = ("# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change "
          "srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn "
          "srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port")


def row(proxy, server, address, port, admin=0):
    return "2 %s 1 %s %s 2 %d 100 100 5 6 3 4 6 0 0 0 - %s - 0 0 - - 0" % (proxy, server, address, admin, port)


def errors(spec):
    return [str(e) for e in check_spec(spec)[1]]


# --- the state file -----------------------------------------------------------------------------


def test_the_configuration_names_each_server_at_its_address_and_port():
    assert server_state.configured_servers(CONFIG) == {
        ("vs_web", "web1"): ("10.0.1.31", "8080"),
        ("vs_web", "web2"): ("10.0.1.32", "8080"),
        ("vs_v6", "v6a"): ("2001:db8::21", "80"),
        ("lbkit_node_exporter", "node_exporter"): ("127.0.0.1", "9100"),
    }


def test_only_servers_the_next_configuration_keeps_in_place_are_saved():
    dump = "\n".join([
        "1", HEADER,
        row("vs_web", "web1", "10.0.1.31", 8080, admin=8),       # drained, unchanged: kept
        row("vs_web", "web2", "10.0.1.32", 9090, admin=1),       # the configuration moved its port: left out
        row("vs_web", "web3", "10.0.1.33", 8080, admin=1),       # gone from the configuration: left out
        row("vs_v6", "v6a", "2001:0db8:0:0::21", 80, admin=1),   # the same address, spelled otherwise: kept
        row("vs_old", "web1", "10.0.1.31", 8080),                # a proxy the configuration no longer has
        "",
    ])
    kept = server_state.kept(dump, server_state.configured_servers(CONFIG)).splitlines()
    assert kept[:2] == ["1", HEADER]
    assert [line.split()[3] + "@" + line.split()[1] for line in kept[2:]] == ["web1@vs_web", "v6a@vs_v6"]


@pytest.mark.parametrize("answer", ["", "Unknown command\n", "2\n# be_id\n", "1\n# be_id be_name\n2 vs_web\n"])
def test_an_answer_that_is_not_a_state_dump_saves_nothing(answer):
    assert server_state.kept(answer, {}) is None


def serve_once(path, answer):
    """A Unix socket that answers one request with ``answer``, as HAProxy's admin socket does."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    asked = []

    def run():
        conn, dummy = listener.accept()
        asked.append(conn.recv(4096))
        conn.sendall(answer.encode())
        conn.close()
        listener.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, asked


def test_the_program_saves_the_states_readable_by_root_only(tmp_path):
    config = tmp_path / "haproxy.cfg"
    config.write_text(CONFIG)
    sock, output = str(tmp_path / "admin.sock"), tmp_path / "server-state"
    thread, asked = serve_once(sock, "1\n%s\n%s\n\n" % (HEADER, row("vs_web", "web1", "10.0.1.31", 8080, admin=8)))
    assert server_state.main(["--socket", sock, "--config", str(config), "--output", str(output)]) == 0
    thread.join()
    assert asked == [b"show servers state\n"]
    assert output.read_text() == "1\n%s\n%s\n" % (HEADER, row("vs_web", "web1", "10.0.1.31", 8080, admin=8))
    assert stat.S_IMODE(os.stat(output).st_mode) == 0o600


def test_without_haproxy_the_last_saved_states_stay(tmp_path, capsys):
    config, output = tmp_path / "haproxy.cfg", tmp_path / "server-state"
    config.write_text(CONFIG)
    output.write_text("1\nearlier\n")
    assert server_state.main(["--socket", str(tmp_path / "none.sock"), "--config", str(config), "--output", str(output)]) == 1
    assert output.read_text() == "1\nearlier\n"
    assert "left as it was" in capsys.readouterr().err


def test_before_the_first_start_the_file_is_created_empty_and_never_overwritten(tmp_path):
    output = tmp_path / "server-state"
    assert server_state.main(["--init", "--output", str(output)]) == 0
    assert output.read_text() == "1\n" and stat.S_IMODE(os.stat(output).st_mode) == 0o600
    output.write_text("1\nsaved\n")
    assert server_state.main(["--init", "--output", str(output)]) == 0
    assert output.read_text() == "1\nsaved\n"


def test_the_installed_program_is_the_module_itself():
    assert programs.server_state_program() == "#!/usr/bin/python3\n" + open(server_state.__file__.replace(".pyc", ".py")).read()


def test_the_unit_saves_before_each_reload_and_stop_and_keeps_debians_reload():
    dropin = programs.haproxy_dropin(haproxy.RUNTIME_SOCKET)
    reload_lines = [line for line in dropin.splitlines() if line.startswith("ExecReload=")]
    save = ("-/usr/bin/python3 /usr/local/libexec/lbkit/haproxy-server-state --socket /run/haproxy/admin.sock --config $CONFIG"
            " --output /var/lib/haproxy/server-state")
    assert reload_lines == ["ExecReload=", "ExecReload=/usr/sbin/haproxy -Ws -f $CONFIG -c -q $EXTRAOPTS", "ExecReload=" + save,
                            "ExecReload=/bin/kill -USR2 $MAINPID"]
    assert "ExecStop=" + save in dropin.splitlines()
    assert "ExecStartPre=-/usr/bin/python3 /usr/local/libexec/lbkit/haproxy-server-state --init --output /var/lib/haproxy/server-state" in dropin.splitlines()


def test_haproxy_cfg_loads_the_saved_states():
    text = haproxy.render(load_spec(mutate({}))).content
    assert "    server-state-file /var/lib/haproxy/server-state\n" in text
    assert "    load-server-state-from-file global\n" in text


# --- the engine ---------------------------------------------------------------------------------


def test_layer_7_installs_the_drop_in_and_the_program_and_reloads_systemd(root):
    host, result = converge(mutate({}), root)
    assert read(root, programs.HAPROXY_DROPIN) == programs.haproxy_dropin(haproxy.RUNTIME_SOCKET)
    assert read(root, programs.SERVER_STATE_PROGRAM) == programs.server_state_program()
    assert stat.S_IMODE(os.stat(root + programs.SERVER_STATE_PROGRAM).st_mode) == 0o755
    commands = [c[1:] for c in host.commands if c[0].endswith("systemctl")]
    assert commands.index(["daemon-reload"]) < commands.index(["start", "haproxy"])


def saved_states(root):
    os.makedirs(os.path.dirname(root + programs.SERVER_STATE_FILE), exist_ok=True)
    return open(root + programs.SERVER_STATE_FILE, "w")


def test_without_layer_7_the_drop_in_the_program_and_the_saved_states_go(root):
    host, dummy = converge(mutate({}), root)
    with saved_states(root) as handle:
        handle.write("1\n# be_id\n")
    only_l4 = mutate({})
    only_l4["virtual_services"] = [vs for vs in only_l4["virtual_services"] if vs.get("layer") == 4]
    after = FakeHost(only_l4)
    after.active = set(host.active)
    host, result = converge(only_l4, root, host=after)
    for path in (programs.HAPROXY_DROPIN, programs.SERVER_STATE_PROGRAM, programs.SERVER_STATE_FILE):
        assert not os.path.exists(root + path), path
    assert host.ran("systemctl", "daemon-reload") and host.ran("systemctl", "stop", "haproxy")


def test_a_new_program_reloads_no_daemon(root):
    host, dummy = converge(mutate({}), root)
    with open(root + programs.SERVER_STATE_PROGRAM, "a") as handle:
        handle.write("# edited\n")
    after = FakeHost(mutate({}))
    after.active = set(host.active)
    host, result = converge(mutate({}), root, host=after)
    assert result["operations"] == ["write %s" % (root + programs.SERVER_STATE_PROGRAM), "record the applied state"]


def test_the_saved_states_are_never_read_as_a_change(root):
    host, dummy = converge(mutate({}), root)
    with saved_states(root) as handle:
        handle.write("1\n# be_id\n")
    after = FakeHost(mutate({}))
    after.active = set(host.active)
    host, result = converge(mutate({}), root, host=after)
    assert not result["changed"] and os.path.exists(root + programs.SERVER_STATE_FILE)


# --- slow start ---------------------------------------------------------------------------------


def test_slow_start_ramps_every_real_server_of_the_service():
    data = mutate({SHOP + "/slow_start": "2m"})
    data["virtual_services"][2]["real_servers"].append({"address": "10.0.1.32", "port": 8443})
    spec = load_spec(data)
    section = haproxy.render_service(spec.virtual_services[2])
    assert [line.endswith(" slowstart 120s") for line in section.splitlines() if line.lstrip().startswith("server ")] == [True, True]
    assert desired_state(spec, "lb1")["virtual_services"]["tcp/192.0.2.12/443"]["slow_start"] == 120
    # off: neither in the file nor in the state (so a state recorded before slow start existed stays equal)
    plain = load_spec(mutate({}))
    assert "slowstart" not in haproxy.render_service(plain.virtual_services[2])
    assert "slow_start" not in desired_state(plain, "lb1")["virtual_services"]["tcp/192.0.2.12/443"]


@pytest.mark.parametrize("changes, message", [
    ({SHOP + "/slow_start": "2h"}, "/virtual_services/2/slow_start: 2h is outside 0 to 1h."),
    ({SHOP + "/slow_start": "1m", SHOP + "/health_check": {"type": "none"}}, "/virtual_services/2/slow_start: slow start begins when"),
    ({SHOP + "/slow_start": "10s"}, "/virtual_services/2/slow_start: 10s is not longer than the health check's interval (10s)"),
    ({SHOP + "/slow_start": "1m", SHOP + "/scheduling": "source_ip_hash"}, "ramps the weights of dynamic scheduling methods only"),
    ({"/virtual_services/0/slow_start": "1m"}, "/virtual_services/0/slow_start: keepalived/IPVS (layer 4) has no slow start"),
    ({SHOP + "/slow_start": -5}, "/virtual_services/2/slow_start"),
])
def test_slow_start_is_refused_where_it_cannot_work(changes, message):
    found = errors(mutate(changes))
    assert any(e.startswith(message) or message in e for e in found), found


def test_a_loadmaster_refuses_slow_start_per_service():
    spec = mutate({SHOP + "/slow_start": "1m", "/cluster/engine": "loadmaster"})
    assert any("slow start is one setting for the whole appliance" in e for e in errors(spec))


# --- Remote Desktop -----------------------------------------------------------------------------


def rdp(mode, **layer7):
    return mutate({SHOP + "/persistence": {"mode": mode, "timeout": "1h"}, SHOP + "/layer7": dict({"mode": "tcp"}, **layer7)})


def test_the_remote_desktop_modes_read_the_connection_request():
    for mode in ("rdp_cookie", "rdp_cookie_or_source_ip", "rdp_session_broker"):
        section = haproxy.render_service(load_spec(rdp(mode)).virtual_services[2])
        assert "    tcp-request inspect-delay 5s\n    tcp-request content accept if RDP_COOKIE\n" in section
        assert "    stick-table type string len 128 size 1m expire 3600s\n    stick on req.rdp_cookie(mstshash)\n" in section
        assert ("persist rdp-cookie" in section) == (mode == "rdp_session_broker")
        assert ("stick on src table lbkit_src_shop" in section) == (mode == "rdp_cookie_or_source_ip")


@pytest.mark.parametrize("spec, message", [
    (mutate({SHOP + "/persistence": {"mode": "rdp_cookie"}}), "rdp_cookie reads the Remote Desktop client's connection request, so it needs"),
    (rdp("rdp_session_broker", tls={"certificate": "a.pem", "key": "a.key"}), "the appliance must not terminate TLS"),
    (rdp("rdp_cookie", server_initiating="other"), "Remote Desktop is not server-initiating"),
    (mutate({"/virtual_services/0/persistence": {"mode": "rdp_cookie"}}), "/virtual_services/0/persistence/mode: rdp_cookie reads"),
])
def test_the_remote_desktop_modes_need_a_tcp_proxy_without_tls(spec, message):
    found = errors(spec)
    assert any(message in e for e in found), found


def test_granularity_groups_clients_of_the_source_ip_fallback():
    spec = rdp("rdp_cookie_or_source_ip")
    spec["virtual_services"][2]["persistence"]["granularity"] = "/24"
    assert errors(spec) == []
    assert "stick on src,ipmask(24) table lbkit_src_shop" in haproxy.render_service(load_spec(spec).virtual_services[2])
    spec["virtual_services"][2]["persistence"]["mode"] = "rdp_cookie"
    assert any("granularity: applies to the source IP modes only" in e for e in errors(spec))


def test_a_service_named_like_a_helper_table_is_a_service_of_its_own():
    # The client-address table of an "or source IP" mode is named so that no service's proxy can be:
    # a service "shop_src" beside "shop" is reported, and both render.
    spec = rdp("rdp_cookie_or_source_ip")
    twin = dict(spec["virtual_services"][2], name="shop_src", port=3390, persistence={"mode": "source_ip"})
    spec["virtual_services"].append(twin)
    assert errors(spec) == []
    cfg = haproxy.render(load_spec(spec)).content
    assert "\nbackend lbkit_src_shop\n" in cfg and "\nlisten vs_shop_src\n" in cfg
    assert haproxy.service_of_proxy("vs_shop_src") == "shop_src" and haproxy.service_of_proxy("lbkit_src_shop") is None
