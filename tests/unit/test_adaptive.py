"""Resource based (adaptive) scheduling (docs/engine-mapping.md, docs/realservers-linux.md "The load
agent"): the agent's arithmetic and protocols (a real agent process on loopback, its CPU counters
written by the test), keepalived's query, the agent service's plan, the appliance's program, the
realserver role's facts and the LoadMaster mapping. The lab proves it with HAProxy and a loaded
real server; the IPVS tier with keepalived."""

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine import loadmaster
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import RealServerError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.state import desired_state
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import agent_service, load_agent
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import programs
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import load_spec
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.served import served

from . import test_appliance_module as appliance_tests
from .specs import mutate
from .test_appliance_module import FakeHost, converge, read

root = appliance_tests.root

AGENT = load_agent.__file__
VS0 = "/virtual_services/0"
VS2 = "/virtual_services/2"


# --- the arithmetic ---------------------------------------------------------------------------


@pytest.mark.parametrize("load,min_load,percent", [(0, 0, 100), (30, 0, 70), (30, 40, 100), (40, 40, 60), (99, 0, 1), (100, 0, 1), (100, 100, 1)])
def test_a_loaded_server_keeps_what_its_load_leaves_and_never_less_than_one_percent(load, min_load, percent):
    assert load_agent.weight_percent(load, min_load) == percent


@pytest.mark.parametrize("weight,percent,dynamic", [(100, 100, 100), (100, 1, 1), (50, 50, 25), (253, 100, 253), (1, 1, 1), (3, 50, 2)])
def test_keepalived_gets_the_share_of_the_configured_weight_between_1_and_253(weight, percent, dynamic):
    assert load_agent.dynamic_weight(weight, percent) == dynamic


def test_the_cgroup_counters_and_its_cpus():
    assert load_agent.parse_cpu_stat("usage_usec 1234\nuser_usec 1000\nsystem_usec 234\n") == 1234
    with pytest.raises(ValueError):
        load_agent.parse_cpu_stat("user_usec 1\n")
    assert load_agent.parse_cpu_max("max 100000\n", 4) == 4.0
    assert load_agent.parse_cpu_max("50000 100000\n", 4) == 0.5
    assert load_agent.parse_cpu_max("800000 100000\n", 2) == 2.0
    assert load_agent.parse_cfs_quota("-1\n", "100000\n", 4) == 4.0
    assert load_agent.parse_cfs_quota("25000\n", "100000\n", 4) == 0.25
    # user nice system idle iowait irq softirq steal guest guest_nice: guests are already in user
    assert load_agent.parse_proc_stat("cpu  10 0 5 80 5 0 0 0 7 0\ncpu0 1 2 3 4\n") == (15, 100)


@pytest.mark.parametrize("files,sample", [
    ({"cpu.stat": "usage_usec 700\n", "cpu.max": "50000 100000\n"}, (700, 5000000)),
    ({"cpu.stat": "usage_usec 700\n", "cpu.max": "max 100000\n"}, (700, 30000000)),
    ({"cpuacct/cpuacct.usage": "7000\n", "cpu/cpu.cfs_quota_us": "25000\n", "cpu/cpu.cfs_period_us": "100000\n"}, (7, 2500000)),
    ({"cpuacct.usage": "7000\n", "cpu.cfs_quota_us": "-1\n", "cpu.cfs_period_us": "100000\n"}, (7, 30000000)),
    ({}, (15, 100)),
])
def test_a_sample_is_the_cgroups_cpu_time_and_what_its_quota_allowed_else_the_hosts(tmp_path, monkeypatch, files, sample):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "stat").write_text("cpu  10 0 5 80 5 0 0 0 0 0\n")
    monkeypatch.setattr(load_agent.time, "monotonic", lambda: 10.0)
    meter = load_agent.Meter(str(tmp_path), 5, proc_stat=str(tmp_path / "stat"))
    meter.cpus = 3
    assert meter.sample() == sample


def test_the_load_between_two_samples_is_busy_over_possible_and_clamped():
    assert load_agent.load_between((0, 0), (50, 100)) == 50
    assert load_agent.load_between((0, 0), (500, 100)) == 100
    assert load_agent.load_between((10, 10), (10, 10)) == 0


def test_a_first_line_is_an_http_request_or_an_agent_greeting():
    assert load_agent.parse_request("GET /load HTTP/1.1\r\n") == ("http", "GET", "/load")
    assert load_agent.parse_request("lbkit-load min_load=15") == ("agent", 15)
    assert load_agent.parse_request("lbkit-load min_load=500") == ("agent", 100)
    assert load_agent.parse_request("lbkit-load min_load=x") == ("agent", 0)
    assert load_agent.parse_request("") == ("agent", 0)
    ok = load_agent.http_answer("GET", "/load", ("/load",), 42).decode()
    assert ok.startswith("HTTP/1.0 200 OK\r\n") and ok.endswith("\r\n\r\n42\n")
    assert load_agent.http_answer("GET", "/other", ("/load",), 42).decode().startswith("HTTP/1.0 404")
    assert load_agent.http_answer("HEAD", "/load", ("/load",), 42).decode().endswith("\r\n\r\n")


# --- a real agent on loopback -----------------------------------------------------------------


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _agent_line(port, min_load):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"lbkit-load min_load=%d\n" % min_load)
        return conn.recv(100).decode()


def _http_load(port, path="/load"):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as answer:
        return int(answer.read())


def _until(predicate, what, limit=30):
    """Poll until ``predicate()`` is true (the agent samples once a second); the limit is generous."""
    deadline = time.monotonic() + limit
    while True:
        try:
            if predicate():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("never: " + what)
        time.sleep(0.2)


# Where each cgroup version keeps the usage counter, and how it writes microseconds of CPU.
COUNTERS = {"v2": ("cpu.stat", "usage_usec %d\n", 1), "v1": ("cpuacct/cpuacct.usage", "%d\n", 1000)}


@pytest.fixture(params=sorted(COUNTERS))
def agent(tmp_path, request):
    """An agent on 127.0.0.1 measuring a cgroup directory (v2, or v1's root) the test writes."""
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    if request.param == "v2":
        (cgroup / "cpu.max").write_text("50000 100000\n")
    else:
        for name, text in (("cpu/cpu.cfs_quota_us", "-1\n"), ("cpu/cpu.cfs_period_us", "100000\n")):
            (cgroup / name).parent.mkdir(exist_ok=True)
            (cgroup / name).write_text(text)
    counter = Counter(cgroup, request.param)
    counter.write(0)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, AGENT, "serve", "--port", str(port), "--address", "127.0.0.1", "--cgroup", str(cgroup),
                             "--window", "1", "--path", "/load", "--path", "/agent/load"], stderr=subprocess.PIPE)
    try:
        _until(lambda: _http_load(port) == 0, "the agent answers")
        yield port, counter
    finally:
        proc.terminate()
        proc.wait(10)


class Counter(object):
    """A cgroup's CPU usage counter, written by the test; ``run`` makes it use far more CPU than the
    cgroup has (the agent's load clamps at 100) until ``stop`` is set."""

    def __init__(self, cgroup, version):
        self.path = cgroup / COUNTERS[version][0]
        self.path.parent.mkdir(exist_ok=True)
        self.text, self.scale = COUNTERS[version][1:]
        self.stop, self.used = threading.Event(), 0

    def write(self, usec):
        tmp = self.path.parent / (self.path.name + ".tmp")
        tmp.write_text(self.text % (usec * self.scale))
        os.rename(str(tmp), str(self.path))

    def run(self):
        while not self.stop.wait(0.05):
            self.used += 10 * 1000000
            self.write(self.used)


def test_an_idle_server_gets_its_whole_weight_and_a_saturated_one_one_percent(agent):
    port, busy = agent
    assert _agent_line(port, 0) == "100%\n"
    assert _http_load(port, "/agent/load") == 0
    with pytest.raises(urllib.error.HTTPError) as info:
        _http_load(port, "/elsewhere")
    assert info.value.code == 404
    thread = threading.Thread(target=busy.run)
    thread.start()
    try:
        _until(lambda: _http_load(port) == 100, "the agent reports the saturated cgroup")
        assert _agent_line(port, 0) == "1%\n"
        assert _agent_line(port, 100) == "1%\n"
        # keepalived's query: 2 + 1% of weight 80 (at least 1)
        done = subprocess.run([sys.executable, AGENT, "query", "127.0.0.1", str(port), "--weight", "80"], capture_output=True, text=True, check=False)
        assert done.returncode == 3, done.stdout + done.stderr
    finally:
        busy.stop.set()
        thread.join()
    # the counters stand still again: idle after the window
    _until(lambda: _http_load(port) == 0, "the agent reports the idle cgroup again")
    done = subprocess.run([sys.executable, AGENT, "query", "127.0.0.1", str(port), "--weight", "80", "--min-load", "10"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 82 and "100% of 80: weight 80" in done.stdout


def test_a_query_nobody_answers_leaves_the_weight_as_it_is():
    done = subprocess.run([sys.executable, AGENT, "query", "127.0.0.1", str(_free_port()), "--weight", "80", "--timeout", "1"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "the weight stays as it is" in done.stderr


# --- the agent as a service on a real server ----------------------------------------------------

PY = "/usr/bin/python3"


def _host(files=None, enabled=False, active=False, modes=None):
    files = dict({agent_service.PROGRAM: None, agent_service.UNIT: None}, **(files or {}))
    modes = modes or dict((path, agent_service.PROGRAM_MODE if path == agent_service.PROGRAM else agent_service.UNIT_MODE)
                          for path, text in files.items() if text is not None)
    return {"files": files, "modes": modes, "enabled": enabled, "active": active}


def _wanted(ports=(3333,), paths=("/load",)):
    return {agent_service.PROGRAM: agent_service.program(PY), agent_service.UNIT: agent_service.unit(PY, list(ports), list(paths), "/sys/fs/cgroup", 5)}


def test_the_unit_runs_the_agent_as_nobody_on_the_spec_ports():
    unit = agent_service.unit(PY, [3334, 3333, 3333], ["/load"], "/sys/fs/cgroup", 5)
    assert ("ExecStart=/usr/bin/python3 /usr/local/libexec/lbkit/load-agent serve --port 3333 --port 3334 --path /load"
            " --cgroup /sys/fs/cgroup --window 5") in unit
    assert "User=nobody" in unit and "CAP_NET_BIND_SERVICE" not in unit
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE" in agent_service.unit(PY, [333], ["/load"], "/sys/fs/cgroup", 5)
    assert agent_service.program(PY).startswith("#!/usr/bin/python3\n") and "def weight_percent" in agent_service.program(PY)


@pytest.mark.parametrize("ports,paths,cgroup,window,fragment", [
    ([], ["/load"], "/sys/fs/cgroup", 5, "at least one port"),
    ([70000], ["/load"], "/sys/fs/cgroup", 5, "not a TCP port"),
    ([3333], ["/load %n"], "/sys/fs/cgroup", 5, "paths: '/load %n' cannot be written"),
    ([3333], ["/load"], "/sys/fs/cgroup/a b", 5, "cgroup:"),
    ([3333], ["/load"], "/sys/fs/cgroup", 0, "window: 0 is outside"),
])
def test_what_cannot_go_into_the_unit_is_refused(ports, paths, cgroup, window, fragment):
    with pytest.raises(RealServerError) as info:
        agent_service.unit(PY, ports, paths, cgroup, window)
    assert fragment in str(info.value)


def test_a_new_agent_is_written_enabled_and_started_and_a_second_run_plans_nothing():
    wanted = _wanted()
    steps = agent_service.plan(_host(), wanted)
    assert [agent_service.describe(s) for s in steps] == [
        "write " + agent_service.PROGRAM, "write " + agent_service.UNIT, "systemctl daemon-reload",
        "systemctl enable lbkit-load-agent.service", "systemctl start lbkit-load-agent.service"]
    after = agent_service.simulate(_host(), wanted, steps)
    after["modes"] = {agent_service.PROGRAM: agent_service.PROGRAM_MODE, agent_service.UNIT: agent_service.UNIT_MODE}
    assert agent_service.plan(after, wanted) == []
    assert agent_service.snapshot(after)["program"] == agent_service.digest(wanted[agent_service.PROGRAM])


def test_a_new_port_rewrites_the_unit_and_restarts_the_agent():
    running = _host(_wanted(), enabled=True, active=True)
    steps = agent_service.plan(running, _wanted(ports=(3333, 4000)))
    assert steps == [("write", agent_service.UNIT), ("systemctl", "daemon-reload"), ("systemctl", "restart")]


def test_a_wrong_mode_is_put_right_without_a_restart():
    running = _host(_wanted(), enabled=True, active=True, modes={agent_service.PROGRAM: 0o777, agent_service.UNIT: agent_service.UNIT_MODE})
    assert agent_service.plan(running, _wanted()) == [("write", agent_service.PROGRAM)]


def test_absent_stops_disables_and_removes_the_agent_and_nothing_when_there_is_none():
    running = _host(_wanted(), enabled=True, active=True)
    assert agent_service.plan(running, None) == [("systemctl", "stop"), ("systemctl", "disable"), ("remove", agent_service.UNIT),
                                                 ("remove", agent_service.PROGRAM), ("systemctl", "daemon-reload")]
    assert agent_service.plan(_host(), None) == []


# --- the spec's other readers ----------------------------------------------------------------------


def _adaptive(ops=None):
    return mutate(dict({VS0 + "/scheduling": "adaptive", VS2 + "/scheduling": "adaptive", VS2 + "/adaptive": {"port": 4000, "path": "/agent"}},
                       **(ops or {})))


def test_the_real_servers_of_adaptive_services_of_either_layer_run_the_agent():
    spec = _adaptive()
    # web1 (layer 4, dr), and 10.0.1.31 (layer 7, proxied: nothing else to set up there)
    assert served(spec, ["192.168.10.21"], "web1")["load_agent"] == {"ports": [3333], "paths": ["/load"]}
    assert served(spec, ["10.0.1.31"], "shop1")["load_agent"] == {"ports": [4000], "paths": ["/agent"]}
    assert served(mutate({}), ["192.168.10.21"], "web1")["load_agent"] == {"ports": [], "paths": []}


def test_the_recorded_state_carries_the_agent_settings_of_adaptive_services_only():
    state = desired_state(load_spec(_adaptive()), "lb1")["virtual_services"]
    assert state["tcp/192.0.2.10/80"]["adaptive"] == {"port": 3333, "path": "/load", "interval": 7, "min_load": 0}
    assert "adaptive" not in state["tcp/192.0.2.11/8080"]


def test_the_appliance_installs_the_query_for_keepalived_only_while_a_layer4_service_is_adaptive(root):
    host, dummy = converge(_adaptive(), root)
    assert read(root, programs.LOAD_AGENT) == programs.load_agent_program()
    assert os.stat(root + programs.LOAD_AGENT).st_mode & 0o777 == 0o755
    assert "misc_dynamic" in read(root, "/etc/keepalived/keepalived.conf")
    after = FakeHost(mutate({VS2 + "/scheduling": "adaptive"}))
    after.active = set(host.active)
    host, result = converge(after.params["spec"], root, host=after)
    assert result["changed"]
    assert not os.path.exists(root + programs.LOAD_AGENT)


def test_the_loadmaster_sets_the_agent_per_service_and_reads_it_back():
    vs = load_spec(_adaptive()).virtual_services[2]
    params = loadmaster.vs_params(vs)
    assert (params["Schedule"], params["AdaptivePort"], params["AdaptiveURL"], params["AdaptiveInterval"], params["AdaptiveMinPercent"]) == (
        "adaptive", 4000, "/agent", 7, 0)
    key, doc = loadmaster.service_doc(loadmaster.listing_entry(vs))
    assert doc["adaptive"] == {"port": 4000, "path": "/agent", "interval": 7, "min_load": 0}
    assert "AdaptivePort" not in loadmaster.vs_params(load_spec(mutate({})).virtual_services[2])
    # firmware before 7.2.60 has no per-service agent settings: neither sent nor compared
    assert "AdaptivePort" not in loadmaster.listing_entry(vs, check_timing=False)
