"""The LoadMaster engine end to end against lbkit's simulator of the LoadMaster API (tests/loadmaster_sim).

The simulator is this project's model of the published API documentation, not an appliance:
these tests prove that the engine speaks the documented API the way users rely on (one
converge, nothing on the second run, check mode touching nothing, the backup restored after a
failing write, the rate limit kept), over HTTPS with a validated certificate. The second half
runs ansible-playbook through the httpapi connection plugin against the simulator as a process.
"""

import copy
import datetime
import json
import os
import signal
import subprocess
import sys

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.loadmaster import LoadMaster
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.loadmaster_api import HttpsTransport, RateLimiter, credentials
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import ApplyFailed, RuntimeApiError, SpecInvalid
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import load_spec
from tests.loadmaster_sim import LoadMasterServer, Simulator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEY = "lbkit-test-api-key"
READS = frozenset(["get", "listvs", "listcert", "showiface", "showvs", "stats"])


def _tls_pair(name):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    return {
        "certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(),
    }


TLS = {"shop": _tls_pair("shop.example.com")}
TLS_ROTATED = {"shop": _tls_pair("shop.example.com")}

SPEC = {
    "cluster": {
        "name": "lm-pair",
        "engine": "loadmaster",
        "nodes": [{"host": "lm1", "priority": 150}, {"host": "lm2", "priority": 100}],
        "ha": {"mode": "pair", "virtual_router_id": 21, "advert_interval_ms": 1000, "preempt": True},
        "interfaces": {"external": "eth0", "internal": "eth1"},
        "floating_ips": [{"address": "192.0.2.5/24", "side": "external"}, {"address": "10.0.1.1/24", "side": "internal", "gateway": True}],
    },
    "virtual_services": [
        {
            "name": "web",
            "address": "192.0.2.10",
            "port": 80,
            "layer": 4,
            "forwarding": "dr",
            "persistence": {"mode": "source_ip", "timeout": "10m"},
            "health_check": {"type": "http", "url": "/health", "interval": 5, "timeout": 3, "retries": 2},
            "real_servers": [{"name": "web1", "address": "192.0.2.21"}, {"name": "web2", "address": "192.0.2.22"}],
        },
        {
            "name": "app",
            "address": "192.0.2.11",
            "port": 8080,
            "layer": 4,
            "forwarding": "nat",
            "scheduling": "least_connection",
            "real_servers": [{"name": "app1", "address": "10.0.1.21", "port": 80, "max_connections": 300}],
        },
        {
            "name": "shop",
            "address": "192.0.2.12",
            "port": 443,
            "layer": 7,
            "extra_ports": "8443",
            "persistence": {"mode": "active_cookie", "cookie": "SHOP", "timeout": "30m"},
            "layer7": {"x_forwarded_for": True, "tls": {"certificate": "files/shop.pem", "key": "files/shop.key"}},
            "real_servers": [{"name": "shop1", "address": "10.0.1.31", "port": 8080, "weight": 200},
                             {"name": "shop2", "address": "10.0.1.32", "port": 8080}],
        },
    ],
}


@pytest.fixture
def sim():
    """One appliance: an HA pair's active unit, the documented rate limit on, indexes renumbered by addcert."""
    simulator = Simulator(apikey=KEY)
    simulator.interfaces = {0: {"IPAddress": "192.0.2.2/24", "PartnerIPAddress": "192.0.2.3", "SharedIPAddress": "192.0.2.5"},
                            1: {"IPAddress": "10.0.1.2/24", "PartnerIPAddress": "10.0.1.3", "SharedIPAddress": "10.0.1.1"}}
    simulator.seed("set", param="hamode", value=1)
    server = LoadMasterServer(simulator).start()
    simulator.server = server
    # one limiter for every run against this appliance, as the play's persistent connection keeps one
    simulator.limiter = RateLimiter()
    yield simulator
    server.stop()
    assert not simulator.errors, "simulator bugs:\n" + "\n".join(simulator.errors)
    assert simulator.dropped == 0, "lbkit went over the rate limit: %d calls dropped" % simulator.dropped


def _engine(sim, tls=None, key=KEY):
    transport = HttpsTransport(sim.server.url, credentials(api_key=key), ca_path=sim.server.ca_path, limiter=sim.limiter)
    return LoadMaster(transport, host="lm-pair", tls_material=TLS if tls is None else tls, interfaces=("eth0", "eth1"))


def converge(sim, data=None, check=False, tls=None):
    """One module run: read, plan, apply unless check; the plan."""
    engine = _engine(sim, tls)
    current = engine.read()
    desired = engine.desired(load_spec(copy.deepcopy(data or SPEC)), "lm-pair", current)
    plan = engine.plan(desired, current)
    if plan and not check:
        engine.apply(plan)
    return plan


def _writes(sim, since):
    return dict((cmd, n - since.get(cmd, 0)) for cmd, n in sim.calls_by_cmd.items() if cmd not in READS and n - since.get(cmd, 0))


def _config(sim):
    state = sim.dump_state()
    return json.dumps(state["config"], sort_keys=True), sorted(state["certs"])


def test_first_converge_then_nothing_to_do(sim):
    plan = converge(sim)
    assert len(plan.operations) == 1 + 3 + 5 + 2  # the certificate, 3 services, 5 real servers, HA preferred + timeout
    web = sim.find_vs("192.0.2.10", 80)
    assert (web["NickName"], web["Schedule"], web["Persist"], web["PersistTimeout"], web["CheckUrl"]) == ("lbkit-web", "wrr", "src", 600, "/health")
    assert sorted((rs["Addr"], rs["Forward"]) for rs in web["Rs"]) == [("192.0.2.21", "route"), ("192.0.2.22", "route")]
    shop = sim.find_vs("192.0.2.12", 443)
    assert (shop["Persist"], shop["Cookie"], shop["SSLAcceleration"], shop["ExtraPorts"]) == ("active-cookie", "SHOP", True, "8443")
    assert shop["CertFile"] in sim.certs
    assert sim.seed("get", param="havhid") == {"havhid": 21} and sim.seed("get", param="haprefered") == {"haprefered": 1}
    before = dict(sim.calls_by_cmd)
    again = converge(sim)
    assert not again and again.summary == [] and [op.describe() for op in again.operations] == []
    assert _writes(sim, before) == {}


def test_check_mode_reports_the_change_and_touches_nothing(sim):
    converge(sim)
    changed = copy.deepcopy(SPEC)
    changed["virtual_services"][0]["real_servers"][1]["weight"] = 50
    changed["virtual_services"][1]["real_servers"].append({"name": "app2", "address": "10.0.1.22", "port": 80})
    del changed["virtual_services"][2]
    before, calls = _config(sim), dict(sim.calls_by_cmd)
    plan = converge(sim, changed, check=True)
    assert plan.summary == [
        "- virtual service shop (192.0.2.12:443/tcp)",
        "~ real server web2 192.0.2.22:80 in web: weight 100 -> 50",
        "+ real server app2 10.0.1.22:80 in app",
    ]
    assert _config(sim) == before and _writes(sim, calls) == {}
    converge(sim, changed)
    assert sim.find_vs("192.0.2.12", 443) is None
    assert not converge(sim, changed)
    # the certificate no service uses any more went with it
    assert not [name for name in sim.certs if name.startswith("lbkit")]


def test_a_failing_write_restores_the_backup(sim):
    converge(sim)
    changed = copy.deepcopy(SPEC)
    changed["virtual_services"][0]["scheduling"] = "round_robin"
    changed["virtual_services"][0]["real_servers"].append({"name": "web3", "address": "192.0.2.23"})
    changed["virtual_services"][1]["real_servers"][0]["weight"] = 7
    before = _config(sim)
    sim.fail_next("modrs")
    with pytest.raises(ApplyFailed) as info:
        converge(sim, changed)
    assert info.value.restored is True
    assert "refused modrs" in str(info.value) and "backup was restored and read back" in str(info.value)
    assert sim.calls_by_cmd["restore"] == 1
    assert _config(sim) == before
    assert sim.find_vs("192.0.2.10", 80)["Schedule"] == "wrr"


def test_a_failure_answered_with_http_200_is_a_failure(sim):
    converge(sim)
    sim.fail_with_http_200 = True
    changed = copy.deepcopy(SPEC)
    changed["virtual_services"][1]["real_servers"][0]["max_connections"] = 10
    sim.fail_next("modrs", message="Invalid limit")
    with pytest.raises(ApplyFailed) as info:
        converge(sim, changed)
    assert "Invalid limit" in str(info.value) and info.value.restored is True
    assert sim.find_vs("192.0.2.11", 8080)["Rs"][0]["Limit"] == 300


def test_a_certificate_rotation_survives_renumbered_indexes(sim):
    converge(sim)
    old = sim.find_vs("192.0.2.12", 443)["CertFile"]
    renumbered = sim.renumbered
    plan = converge(sim, tls=TLS_ROTATED)
    assert [op.cmd for op in plan.operations] == ["addcert", "modvs", "delcert"]
    assert sim.renumbered > renumbered
    shop = sim.find_vs("192.0.2.12", 443)
    assert shop["CertFile"] != old and old not in sim.certs
    assert sim.find_vs("192.0.2.10", 80)["NickName"] == "lbkit-web"
    assert not converge(sim, tls=TLS_ROTATED)


@pytest.mark.parametrize("transparent_default", [True, False])
def test_layer7_transparency_reads_back_whatever_the_default(sim, transparent_default):
    sim.transparent_default = transparent_default
    converge(sim)
    shop = sim.find_vs("192.0.2.12", 443)
    assert (shop["Transparent"], shop["SubnetOriginating"]) == (False, True)
    assert not converge(sim)


def test_many_services_stay_within_the_rate_limit(sim):
    data = copy.deepcopy(SPEC)
    data["virtual_services"] = [
        {"name": "svc%d" % n, "address": "192.0.2.%d" % (100 + n), "port": 80, "layer": 4, "forwarding": "dr",
         "real_servers": [{"address": "192.0.2.%d" % (200 + r)} for r in range(3)]}
        for n in range(12)
    ]
    plan = converge(sim, data)
    assert len(plan.operations) == 12 * 4 + 2
    assert sim.dropped == 0 and len(sim.find_vs("192.0.2.111", 80)["Rs"]) == 3


def test_services_lbkit_does_not_own_are_left_alone_and_block_their_address(sim):
    sim.seed("addvs", vs="192.0.2.50", port=25, prot="tcp", NickName="mail")
    sim.seed("addvs", vs="192.0.2.10", port=80, prot="tcp", NickName="intranet")
    before = _config(sim)
    with pytest.raises(SpecInvalid) as info:
        converge(sim)
    assert "/virtual_services/0/address" in str(info.value) and "set its nickname to lbkit-web" in str(info.value)
    assert _config(sim) == before
    sim.seed("delvs", vs="192.0.2.10", port=80, prot="tcp")
    converge(sim)
    data = copy.deepcopy(SPEC)
    data["virtual_services"] = data["virtual_services"][:1]
    converge(sim, data)
    assert sim.find_vs("192.0.2.50", 25)["NickName"] == "mail"


def test_drain_and_enable_a_real_server(sim):
    converge(sim)
    engine = _engine(sim)
    spec = load_spec(copy.deepcopy(SPEC))
    vs = spec.virtual_services[0]
    rs = vs.real_servers[1]
    sim.set_connections("192.0.2.22", 80, active=4)
    assert engine.server_state(vs, rs) == ("enabled", 4)
    engine.set_server_state(vs, rs, "drained", "enabled")
    assert [r["Enable"] for r in sim.find_vs("192.0.2.10", 80)["Rs"] if r["Addr"] == "192.0.2.22"] == [False]
    assert engine.server_state(vs, rs)[0] == "drained"
    # the spec says enabled: the next converge says so and enables it
    plan = converge(sim)
    assert plan.summary == ["~ real server web2 192.0.2.22:80 in web: state drained -> enabled"]
    with pytest.raises(RuntimeApiError) as info:
        engine.set_server_state(vs, rs, "halted", "enabled")
    assert "Use state drained" in str(info.value)


def test_wrong_credentials_and_old_firmware_are_named(sim):
    with pytest.raises(RuntimeApiError) as info:
        _engine(sim, key="not-the-key").read()
    assert "refused the credentials" in str(info.value)
    sim.version = "7.2.48.4.20034.RELEASE"
    with pytest.raises(RuntimeApiError) as info:
        _engine(sim).read()
    assert "7.2.52" in str(info.value)


def test_floating_ips_must_be_the_pair_s_shared_addresses(sim):
    sim.interfaces[1]["SharedIPAddress"] = "10.0.1.254"
    with pytest.raises(SpecInvalid) as info:
        converge(sim)
    assert "/cluster/floating_ips/1/address" in str(info.value) and "10.0.1.254" in str(info.value)
    assert sim.find_vs("192.0.2.10", 80) is None


def test_the_key_is_in_no_result(sim):
    plan = converge(sim)
    result = json.dumps(plan.result(diff=True))
    body = "".join(TLS["shop"]["key"].splitlines()[1:-1])
    assert body[:40] not in result and "PRIVATE KEY" not in result
    assert not [r for r in sim.requests if "apikey" in json.dumps(r)]


# --- ansible-playbook through the httpapi connection plugin ---------------------------------------


@pytest.fixture
def sim_process(tmp_path):
    """The simulator as its own process, as a playbook meets it."""
    process = subprocess.Popen([sys.executable, "-m", "tests.loadmaster_sim", "--state-dir", str(tmp_path / "sim"), "--apikey", KEY],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        yield json.loads(process.stdout.readline())
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def _inventory(tmp_path, info, spec):
    files = tmp_path / "files"
    files.mkdir(exist_ok=True)
    (files / "shop.pem").write_text(TLS["shop"]["certificate"])
    (files / "shop.key").write_text(TLS["shop"]["key"])
    (files / "shop.key").chmod(0o600)
    spec = copy.deepcopy(spec)
    for vs in spec["virtual_services"]:
        if vs.get("layer7", {}).get("tls"):
            vs["layer7"]["tls"] = {"certificate": str(files / "shop.pem"), "key": str(files / "shop.key")}
    inventory = {
        "loadmasters": {
            "hosts": {
                "lm": {
                    "ansible_host": "127.0.0.1",
                    "ansible_connection": "ansible.netcommon.httpapi",
                    "ansible_network_os": "lbkit.loadbalancer.loadmaster",
                    "ansible_httpapi_use_ssl": True,
                    "ansible_httpapi_port": info["port"],
                    "ansible_httpapi_ca_path": info["ca_path"],
                    "ansible_loadmaster_api_key": KEY,
                    "lbkit_spec": spec,
                }
            }
        }
    }
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def _single(spec):
    data = copy.deepcopy(spec)
    data["cluster"] = {"name": "lm", "engine": "loadmaster", "nodes": [{"host": "lm"}], "ha": {"mode": "single"}}
    data["virtual_services"] = [vs for vs in data["virtual_services"] if vs["forwarding" if "forwarding" in vs else "layer"] != "nat"]
    return data


def playbook(tmp_path, inventory, name, *args):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_PERSISTENT_COMMAND_TIMEOUT="60")
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory), os.path.join(ROOT, "playbooks", name)]
    result = subprocess.run(command + list(args), cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600, check=False)
    return result.returncode, result.stdout + result.stderr


def test_playbook_converges_then_changes_nothing_and_check_diff_touches_nothing(tmp_path, sim_process):
    spec = _single(SPEC)
    inventory = _inventory(tmp_path, sim_process, spec)
    # the main entry point: validate, converge (no Linux appliance, no real server here), the table of changes, verify
    code, out = playbook(tmp_path, inventory, "site.yml")
    assert code == 0, out
    assert "+ virtual service shop (192.0.2.12:443/tcp)" in out and "changed=1" in out
    assert "lm: the spec is valid: 2 virtual services, 4 real servers." in out
    assert "Fail unless every enabled real server is up and the HA state is healthy" in out
    assert TLS["shop"]["key"].splitlines()[1] not in out and KEY not in out
    code, out = playbook(tmp_path, inventory, "loadmasters.yml")
    assert code == 0 and "changed=0" in out, out
    changed = copy.deepcopy(spec)
    changed["virtual_services"][0]["real_servers"][0]["weight"] = 30
    inventory = _inventory(tmp_path, sim_process, changed)
    code, out = playbook(tmp_path, inventory, "loadmasters.yml", "--check", "--diff")
    assert code == 0 and "changed=1" in out, out
    assert "~ real server web1 192.0.2.21:80 in web: weight 100 -> 30" in out
    code, out = playbook(tmp_path, inventory, "diagnose.yml")
    assert code == 0, out
    assert "web (tcp/192.0.2.10/80)" in out
    # check mode changed nothing: the unchanged spec still has nothing to do
    inventory = _inventory(tmp_path, sim_process, spec)
    code, out = playbook(tmp_path, inventory, "loadmasters.yml")
    assert code == 0 and "changed=0" in out, out
    code, out = playbook(tmp_path, inventory, "real_server.yml", "-e", "service=web", "-e", "real_server=web2", "-e", "state=drained")
    assert code == 0 and "changed=1" in out, out
    code, out = playbook(tmp_path, inventory, "loadmasters.yml", "--check", "--diff")
    assert "~ real server web2 192.0.2.22:80 in web: state drained -> enabled" in out, out
    # the appliance's certificate is validated: without the CA that signed it, nothing is sent
    bare = yaml.safe_load(inventory.read_text())
    del bare["loadmasters"]["hosts"]["lm"]["ansible_httpapi_ca_path"]
    inventory.write_text(yaml.safe_dump(bare))
    code, out = playbook(tmp_path, inventory, "loadmasters.yml")
    assert code != 0 and "CERTIFICATE_VERIFY_FAILED" in out, out
