"""l7_snat: HAProxy proxies the VIP to both real servers, with cookie persistence; runtime states
survive reloads and restarts; slow start; Remote Desktop persistence."""

import collections
import ipaddress
import json
import os
import shutil
import subprocess
import time

import pytest

testinfra_hosts = ["ansible://client"]

VIP = "http://172.31.252.100/"


def get(host, *args):
    url = VIP
    if args and args[0].startswith("http://"):
        url, args = args[0], args[1:]
    result = host.run("curl -sS --max-time 5 " + " ".join(args) + " " + url)
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


# 150 requests, one about every 20 ms, counting the ones that did not answer 200.
LOAD = """i=0; fail=0; rm -f /tmp/load.result
while [ $i -lt 150 ]; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 VIP)
  [ "$code" = 200 ] || fail=$((fail+1))
  i=$((i+1)); sleep 0.02
done
echo "$i $fail" > /tmp/load.result
""".replace("VIP", VIP)


_RENDERED = {}


def the_spec(lb1):
    """The scenario's spec as Ansible renders it (its TLS paths are templates), asked of Ansible once."""
    if "spec" not in _RENDERED:
        _RENDERED["spec"] = lb1.ansible("ansible.builtin.debug", "var=lbkit_spec")["lbkit_spec"]
    return _RENDERED["spec"]


def real_server(lb1, name, state, check=False, service="web", **extra):
    spec = the_spec(lb1)
    args = "spec='%s' service=%s real_server=%s state=%s" % (json.dumps(spec), service, name, state)
    args += "".join(" %s=%s" % item for item in extra.items())
    return lb1.ansible("lbkit.loadbalancer.real_server", args, check=check)


def test_drain_without_a_failed_request(host, lb1):
    host.run("rm -f /tmp/jar")
    sticky = get(host, "-c /tmp/jar -b /tmp/jar")
    other = "rs2" if sticky == "rs1" else "rs1"
    host.run("cat > /tmp/load.sh <<'EOF'\n%sEOF" % LOAD)
    host.run("nohup sh /tmp/load.sh >/dev/null 2>&1 &")
    time.sleep(0.5)
    predicted = real_server(lb1, sticky, "drained", check=True)
    assert predicted["changed"] and predicted["before"] == "enabled"
    drained = real_server(lb1, sticky, "drained", wait="true", wait_timeout=30)
    assert drained["changed"] and drained["after"] == "drained" and drained["connections"] == 0
    assert not real_server(lb1, sticky, "drained")["changed"]
    # No new client reaches the drained server; its persistent client still does.
    assert set(get(host) for dummy in range(10)) == {other}
    assert get(host, "-c /tmp/jar -b /tmp/jar") == sticky
    assert real_server(lb1, sticky, "enabled")["changed"]
    for dummy in range(60):
        if host.file("/tmp/load.result").exists:
            break
        time.sleep(0.5)
    done, failed = map(int, host.file("/tmp/load.result").content_string.split())
    assert (done, failed) == (150, 0)


def assert_both_answer(host, requests=10):
    """Both real servers take new connections again: what an enabled server means. (Not an exact
    split: where round robin stands after a server returns is HAProxy's affair.)"""
    answers = collections.Counter(get(host) for dummy in range(requests))
    assert set(answers) == {"rs1", "rs2"} and sum(answers.values()) == requests, answers


def test_next_converge_restores_the_spec_state(host, lb1):
    real_server(lb1, "rs2", "halted")
    assert set(get(host) for dummy in range(6)) == {"rs1"}
    spec = the_spec(lb1)
    result = lb1.ansible("lbkit.loadbalancer.appliance", "spec='%s' host=lb1" % json.dumps(spec), check=False)
    assert result["summary"] == ["~ runtime rs2 172.31.252.22:8080 in web: state halted -> enabled"]
    assert_both_answer(host)


def playbook(*extra):
    """Run playbooks/real_server.yml against the scenario's inventory, as a user would."""
    project = os.environ["MOLECULE_PROJECT_DIRECTORY"]
    argv = [shutil.which("ansible-playbook"), "-i", os.environ["MOLECULE_INVENTORY_FILE"], os.path.join(project, "playbooks", "real_server.yml")]
    for item in extra:
        argv += ["-e", item]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, cwd=project)
    return result.returncode, result.stdout + result.stderr


def test_operations_playbook_drains_and_enables(host):
    rc, out = playbook("service=web", "real_server=rs2", "state=halted", "wait=true", "wait_timeout=30")
    assert rc == 0, out
    assert set(get(host) for dummy in range(6)) == {"rs1"}
    rc, out = playbook("service=web", "real_server=rs2", "state=enabled")
    assert rc == 0, out
    assert_both_answer(host)
    rc, out = playbook("service=web", "real_server=rs2")
    assert rc != 0 and "Give -e service=NAME" in out


# --- runtime states across reloads and restarts ----------------------------------------------------


def test_a_runtime_drain_survives_reloads_and_restarts_lbkit_did_not_start(host, lb1):
    assert real_server(lb1, "rs2", "drained")["changed"]
    for verb in ("reload", "restart"):
        lb1.run_expect([0], "systemctl %s haproxy" % verb)
        # what HAProxy's runtime API says of rs2 now, and where new clients go
        assert real_server(lb1, "rs2", "drained", check=True)["before"] == "drained", verb
        assert set(get(host) for dummy in range(6)) == {"rs1"}, verb
    saved = lb1.file("/var/lib/haproxy/server-state")
    assert saved.mode == 0o600 and " vs_web " in saved.content_string
    assert real_server(lb1, "rs2", "enabled")["changed"]
    assert_both_answer(host)


# --- slow start ---------------------------------------------------------------------------------

STAT = """import csv, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect("/run/haproxy/admin.sock")
s.sendall(b"show stat\\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
for row in csv.DictReader(data.decode().lstrip("# ").splitlines()):
    if (row["pxname"], row["svname"]) == (sys.argv[1], sys.argv[2]):
        print(row["status"], row["weight"])
"""


def server_stat(lb1, proxy, server):
    """(status, effective weight) of a server, from HAProxy's runtime API."""
    lb1.run("cat > /tmp/stat.py <<'EOF'\n%sEOF" % STAT)
    status, weight = lb1.check_output("python3 /tmp/stat.py %s %s" % (proxy, server)).rsplit(" ", 1)
    return status, int(weight)


def test_a_returning_real_server_takes_its_share_gradually(host, lb1):
    assert server_stat(lb1, "vs_ramp", "rs2") == ("UP", 100), "slow start never applies when HAProxy starts"
    assert real_server(lb1, "rs2", "halted", service="ramp")["changed"]
    assert real_server(lb1, "rs2", "enabled", service="ramp")["changed"]
    status, first = server_stat(lb1, "vs_ramp", "rs2")
    assert status.startswith("UP") and 0 < first < 100, (status, first)
    # New clients favour rs1 while rs2 ramps up over its two minutes...
    answers = collections.Counter(get(host, "http://172.31.252.100:81/") for dummy in range(20))
    assert answers["rs1"] > answers["rs2"] and sum(answers.values()) == 20, answers
    # ...and rs2's weight grows at its health checks (every 2 s).
    for dummy in range(30):
        if server_stat(lb1, "vs_ramp", "rs2")[1] > first:
            break
        time.sleep(1)
    assert server_stat(lb1, "vs_ramp", "rs2")[1] > first


# --- Remote Desktop -----------------------------------------------------------------------------

# A Remote Desktop client's first packet, laid out as [MS-RDPBCGR] 2.2.1.1 gives it: a TPKT header,
# an X.224 connection request carrying the cookie line, then an RDP negotiation request.
RDP_CLIENT = """import socket, sys
port, cookie = int(sys.argv[1]), sys.argv[2].encode()
tpdu = bytes([0xE0, 0, 0, 0, 0, 0]) + (cookie + b"\\r\\n" if cookie else b"") + bytes([1, 0, 8, 0, 3, 0, 0, 0])
packet = bytes([3, 0]) + (5 + len(tpdu)).to_bytes(2, "big") + bytes([len(tpdu)]) + tpdu
conn = socket.create_connection(("172.31.252.100", port), timeout=4)
conn.sendall(packet)
print(conn.recv(100).decode().strip())
"""
RS_ADDRESS = {"rs1": "172.31.252.21", "rs2": "172.31.252.22"}


def rdp(host, port, cookie=""):
    """The real server that answers a Remote Desktop connection request through the VIP."""
    host.run("cat > /tmp/rdp.py <<'EOF'\n%sEOF" % RDP_CLIENT)
    result = host.run("python3 /tmp/rdp.py %d '%s'" % (port, cookie))
    assert result.rc == 0, result.stderr
    return result.stdout.strip()


def routing_token(name, port=3389):
    """The Connection Broker's routing token for a session host: its address and port, each in
    network byte order read as a little-endian number, then a reserved field."""
    address = int.from_bytes(ipaddress.ip_address(RS_ADDRESS[name]).packed, "little")
    return "Cookie: msts=%d.%d.0000" % (address, int.from_bytes(port.to_bytes(2, "big"), "little"))


def test_each_remote_desktop_user_stays_on_one_server(host):
    for port in (3389, 3390):
        first = dict((user, rdp(host, port, "Cookie: mstshash=%s%d" % (user, port))) for user in ("ann", "bob", "cid", "dee"))
        assert set(first.values()) == {"rs1", "rs2"}, "new users spread: %s" % first
        again = dict((user, rdp(host, port, "Cookie: mstshash=%s%d" % (user, port))) for user in first)
        assert again == first


def test_the_connection_brokers_routing_token_picks_the_server(host):
    own = rdp(host, 3389, "Cookie: mstshash=eve")
    other = "rs2" if own == "rs1" else "rs1"
    # Redirected by the broker, the client comes back with the token of the server holding its session.
    assert [rdp(host, 3389, routing_token(other)) for dummy in range(4)] == [other] * 4
    assert [rdp(host, 3389, routing_token(own)) for dummy in range(4)] == [own] * 4
    # rdp_cookie (no broker) keeps no server by token: those connections follow the scheduler.
    assert set(rdp(host, 3390, routing_token("rs1", 3389)) for dummy in range(4)) == {"rs1", "rs2"}


def test_a_request_without_a_cookie_is_not_held_back(host):
    # answered within the client's 4 s, though HAProxy inspects up to 5 s for a cookie
    assert rdp(host, 3389) in ("rs1", "rs2")


# --- TLS: HTTP/2 and the HTTP redirect -------------------------------------------------------------


def test_plain_http_is_redirected_to_the_same_url_over_https(host):
    result = host.run("curl -sS --max-time 5 -o /dev/null -w '%{http_code} %{redirect_url}' 'http://172.31.252.101/some/page?q=1'")
    assert result.rc == 0 and result.stdout == "301 https://172.31.252.101/some/page?q=1", result.stdout + result.stderr


def test_the_tls_service_speaks_http2_and_still_http1(host):
    host.run("rm -f /tmp/portal.jar")
    # HTTP/2 when the client offers it; HTTP/1 otherwise (in the version the real server answered with)
    for flag, version in (("--http2", "2"), ("--http1.1", "1")):
        result = host.run("curl -sSk --max-time 5 -c /tmp/portal.jar -b /tmp/portal.jar %s -w ' %%{http_version}' https://172.31.252.101/" % flag)
        assert result.rc == 0, result.stderr
        name, got = result.stdout.split()
        assert name in ("rs1", "rs2") and got.split(".")[0] == version, result.stdout
    # the active cookie's name carries the service's port
    assert "\tLBKIT_443\t" in host.file("/tmp/portal.jar").content_string


# --- content switching --------------------------------------------------------------------------

SHOP = "http://172.31.252.100:82"


def answers(host, path="/", *args, count=6):
    return collections.Counter(get(host, SHOP + path, *args) for dummy in range(count))


def test_content_rules_send_each_request_to_its_sub_service(host):
    # the path: /api/ is rs1's alone
    assert answers(host, "/api/") == {"rs1": 6}
    # the host name, in any case and with the port; or the header
    assert answers(host, "/", "-H 'Host: static.l7.test'") == {"rs2": 6}
    assert answers(host, "/", "-H 'Host: STATIC.L7.test:82'") == {"rs2": 6}
    assert answers(host, "/", "-H 'X-Static: yes'") == {"rs2": 6}
    # what no rule matches goes to www, over both real servers
    rest = answers(host, "/", "-H 'Host: www.l7.test'", count=10)
    assert set(rest) == {"rs1", "rs2"} and sum(rest.values()) == 10, rest
    # a header value the rule does not name is no match
    assert set(answers(host, "/", "-H 'X-Static: no'", count=10)) == {"rs1", "rs2"}


def test_a_real_server_is_halted_in_one_sub_service_only(host, lb1):
    result = real_server(lb1, "rs1", "halted", service="shop:www")
    assert result["changed"] and result["sub_services"] == ["shop:www"]
    assert answers(host) == {"rs2": 6}
    # rs1 still serves the api sub service
    assert answers(host, "/api/") == {"rs1": 6}
    both = real_server(lb1, "rs1", "halted", check=True, service="shop")
    assert both["before"] == "enabled in shop:api, halted in shop:www" and both["sub_services"] == ["shop:api", "shop:www"]
    assert real_server(lb1, "rs1", "enabled", service="shop:www")["changed"]
    assert set(answers(host, count=10)) == {"rs1", "rs2"}


def test_the_status_names_each_sub_services_real_servers(lb1):
    info = lb1.ansible("lbkit.loadbalancer.appliance_info", "", check=False)
    shop = next(s for s in info["status"] if s["name"] == "shop")
    rows = sorted((rs.get("sub_service"), rs["name"], rs["status"]) for rs in shop["real_servers"])
    assert rows == [("api", "rs1", "up"), ("static", "rs2", "up"), ("www", "rs1", "up"), ("www", "rs2", "up")], rows
    assert shop["status"] == "healthy"
    assert sorted(k for k in info["haproxy"]["services"] if k.startswith("shop")) == ["shop:api", "shop:static", "shop:www"]


# --- alternate source addresses -----------------------------------------------------------------


def test_the_real_servers_see_the_connections_come_from_each_source_address(host, lb1):
    token = "pool%d" % int(time.time() * 1000)
    answers = collections.Counter(get(host, "http://172.31.252.100:83/?%s=%d" % (token, n)) for n in range(12))
    assert set(answers) == {"rs1", "rs2"} and sum(answers.values()) == 12, answers
    for name in ("rs1", "rs2"):
        rs = lb1.get_host("ansible://%s" % name, ansible_inventory=lb1.backend.ansible_inventory)
        # python's http.server logs each request's client address first
        log = rs.check_output("journalctl -u lbkit-test-web --no-pager -o cat")
        sources = collections.Counter(line.split()[0] for line in log.splitlines() if token in line)
        assert set(sources) == {"172.31.252.110", "172.31.252.111"} and sum(sources.values()) == answers[name], (name, sources)
    # one real server is one real server to the operator: both of its servers drained together
    assert real_server(lb1, "rs2", "drained", service="pool")["changed"]
    assert set(get(host, "http://172.31.252.100:83/") for dummy in range(6)) == {"rs1"}
    assert real_server(lb1, "rs2", "enabled", service="pool")["changed"]
