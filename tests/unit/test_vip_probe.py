"""vip_probe against servers on the loopback: requests, cookies, failures, load mode.

A small HTTP server on 127.0.0.1 plays the appliance: it answers new clients in turn with
rs1, rs2, rs3 and sets a persistence cookie naming the server, which later requests replay.
The module runs through its real AnsibleModule (patched arguments, its JSON output read back).
"""

import datetime
import http.server
import json
import socket
import ssl
import threading
import time

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend import probe
from ansible_collections.lbkit.loadbalancer.plugins.modules import vip_probe

from .specs import BASE


class Balancer(http.server.BaseHTTPRequestHandler):
    names = ["rs1", "rs2", "rs3"]

    def do_GET(self):  # noqa: N802 (http.server's name)
        server = self.server
        if server.failing:
            self.send_response(503)
            self.end_headers()
            return
        cookie = self.headers.get("Cookie", "")
        if cookie.startswith("LB="):
            name = cookie[3:]
        else:
            name = self.names[server.turn % 3]
            server.turn += 1
        server.hosts.append(self.headers.get("Host"))
        server.paths.append(self.path)
        self.send_response(200)
        self.send_header("Set-Cookie", "LB=%s; path=/" % name)
        self.end_headers()
        self.wfile.write(("\n%s\nmore\n" % name).encode())

    def log_message(self, *args):
        pass


@pytest.fixture(name="balancer")
def fixture_balancer():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Balancer)
    server.turn, server.failing, server.hosts, server.paths = 0, False, [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# The VIP of the test spec; the requests go to the balancer on the loopback (connect_to).
VIP = "192.0.2.80"


def spec_for(port, **service):
    data = json.loads(json.dumps(BASE))
    data["virtual_services"] = [dict({
        "name": "web", "address": VIP, "port": port, "layer": 7, "scheduling": "round_robin",
        "persistence": {"mode": "active_cookie", "cookie": "LB"},
        "real_servers": [{"name": n, "address": "10.0.1.2%d" % i, "port": 8080} for i, n in enumerate(Balancer.names, 1)],
    }, **service)]
    return data


def run_module(args, capsys):
    args = dict({"connect_to": {VIP: "127.0.0.1"}}, **args)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            vip_probe.main()
    return json.loads(capsys.readouterr().out)


def test_probe_reaches_every_server_and_replays_the_cookie(balancer, capsys):
    result = run_module({"spec": spec_for(balancer.server_port)}, capsys)
    assert result["changed"] is False
    (web,) = result["probes"]
    assert (web["service"], web["vip"], web["scheme"]) == ("web", "%s:%d/tcp" % (VIP, balancer.server_port), "http")
    plain = [(r["n"], r["result"], r["answer"]) for r in web["requests"] if not r["cookie"]]
    assert plain == [(1, "200", "rs1"), (2, "200", "rs2"), (3, "200", "rs3"), (4, "200", "rs1"), (5, "200", "rs2"), (6, "200", "rs3")]
    assert [r["answer"] for r in web["requests"] if r["cookie"]] == ["rs1", "rs1", "rs1"]
    # the requests went to the loopback, and said the VIP in their Host header, as curl --connect-to does
    assert balancer.hosts == ["%s:%d" % (VIP, balancer.server_port)] * 9


def test_health_check_host_is_sent(balancer, capsys):
    data = spec_for(balancer.server_port, health_check={"type": "http", "host": "www.example.com"}, persistence={"mode": "none"})
    result = run_module({"spec": data, "requests": 1}, capsys)
    assert [r["answer"] for r in result["probes"][0]["requests"]] == ["rs1"]
    assert balancer.hosts == ["www.example.com"]


def test_each_sub_service_gets_a_request_its_content_rules_send_it(balancer, capsys):
    servers = [{"name": "rs1", "address": "10.0.1.21", "port": 8080}]
    data = spec_for(balancer.server_port, persistence=None, sub_services=[
        {"name": "api", "content_rules": [{"path": "/api/"}], "real_servers": servers},
        {"name": "static", "content_rules": [{"host": "static.example.com"}], "real_servers": servers},
        {"name": "beta", "content_rules": [{"header": "X-Beta", "value": "1"}], "real_servers": servers},
        {"name": "www", "real_servers": servers}])
    for key in ("real_servers", "persistence", "scheduling"):
        del data["virtual_services"][0][key]
    result = run_module({"spec": data, "requests": 1}, capsys)
    sent = dict((p["service"], (p["path"], len(p["requests"]))) for p in result["probes"])
    assert sent == {"web:api": ("/api/", 1), "web:static": ("/", 1), "web:beta": ("/", 0), "web:www": ("/", 1)}
    assert balancer.paths == ["/api/", "/", "/"]
    assert balancer.hosts == ["%s:%d" % (VIP, balancer.server_port), "static.example.com", "%s:%d" % (VIP, balancer.server_port)]


def test_a_service_that_is_not_probed_gets_no_request_whatever_the_count(capsys):
    data = spec_for(53, layer=4, protocol="udp", forwarding="nat", persistence={"mode": "none"}, health_check={"type": "none"})
    result = run_module({"spec": data, "requests": 3}, capsys)
    assert result["probes"][0]["requests"] == [] and "not probed" in result["probes"][0]["note"]


def test_load_mode_measures_an_outage(balancer, capsys):
    def outage_window():
        time.sleep(0.3)
        balancer.failing = True
        time.sleep(0.4)
        balancer.failing = False

    threading.Thread(target=outage_window, daemon=True).start()
    result = run_module({"spec": spec_for(balancer.server_port), "duration": 1.2, "interval_ms": 20, "timeout": 0.5}, capsys)
    load = result["load"]
    assert (load["service"], load["address"], load["interval_ms"]) == ("web", VIP, 20)
    found = load["outage"]
    assert found["recovered"] and len(found["windows"]) == 1 and found["failed"] > 0
    # loose: the server refused for 0.4 s
    assert 0.3 < found["longest_outage_s"] < 1.0
    assert set(found["answers"]) == {"rs1", "rs2", "rs3"}


def test_failures_say_what_happened(balancer):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    assert probe.request("http", "127.0.0.1", port)["result"] == "refused"
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        answer = probe.request("http", "127.0.0.1", silent.getsockname()[1], timeout=0.2)
    finally:
        silent.close()
    assert (answer["ok"], answer["result"]) == (False, "timed out")
    balancer.failing = True
    answer = probe.request("http", "127.0.0.1", balancer.server_port)
    assert (answer["ok"], answer["status"], answer["result"]) == (False, 503, "503")


def test_tcp_and_tls_services_show_the_greeting(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lbkit.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def serve(count):
        for number in range(count):
            conn, dummy = listener.accept()
            if number == 1:
                conn = context.wrap_socket(conn, server_side=True)
            conn.sendall(b"220 smtp.example.com ESMTP\r\n")
            conn.close()

    thread = threading.Thread(target=serve, args=(2,), daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    try:
        plain = probe.request("tcp", "127.0.0.1", port)
        tls = probe.request("tls", "127.0.0.1", port)
    finally:
        thread.join(5)
        listener.close()
    assert (plain["ok"], plain["result"], plain["answer"]) == (True, "connected", "220 smtp.example.com ESMTP")
    assert (tls["ok"], tls["answer"]) == (True, "220 smtp.example.com ESMTP")


def test_load_mode_needs_one_probed_service(capsys):
    data = spec_for(80)
    data["virtual_services"].append(dict(data["virtual_services"][0], name="other", port=81))
    result = run_module({"spec": data, "duration": 1, "services": ["web", "other"]}, capsys)
    assert result["failed"] and result["msg"].startswith("duration: load mode sends to exactly one probed service")
    result = run_module({"spec": data, "services": ["nope"]}, capsys)
    assert result["failed"] and result["msg"] == "services: nope is not a virtual service of the spec (it has: web, other)."
    data["virtual_services"][0]["port"] = 0
    result = run_module({"spec": data}, capsys)
    assert result["failed"] and "/virtual_services/0/port" in result["msg"]
