"""The appliance module and the Linux backend against a fake host in a temporary root.

The fake host answers the commands the backend runs (ip, the engines' config checks,
systemctl, sysctl) and records them, so plan, check mode, apply, reload-not-restart and the
rollback on failure are exercised without daemons; molecule scenarios run the real ones.
"""

import json
import os

import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend import linux
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import SpecInvalid
from ansible_collections.lbkit.loadbalancer.plugins.modules import appliance

from .specs import mutate

IP_JSON = json.dumps(
    [
        {"ifname": "lo", "addr_info": [{"local": "127.0.0.1", "prefixlen": 8}]},
        {"ifname": "eth0", "addr_info": [{"local": "192.168.10.11", "prefixlen": 24}]},
        {"ifname": "eth1", "addr_info": [{"local": "10.0.1.11", "prefixlen": 24}]},
    ]
)


class FakeHost(object):
    """What the module and the backend use of AnsibleModule, backed by a temporary root."""

    def __init__(self, spec, check_mode=False, diff=True, state="present"):
        self.params = {"spec": spec, "host": "lb1", "state": state}
        self.check_mode = check_mode
        self._diff = diff
        self.commands = []
        self.sleeps = []
        self.active = set()
        self.fail = {}
        self.loaded = None
        self.refuse_load = 0
        # how many times is-active answers "reloading" after a reload (HAProxy announces its own)
        self.reloading = {}
        self.reloading_left = {}

    def verify_haproxy(self, content):
        """HAProxy 'loads' the file unless told to refuse (a port taken, say)."""
        if self.refuse_load:
            self.refuse_load -= 1
            raise RuntimeError("HAProxy does not run the new configuration 10 s after the reload")
        self.loaded = content

    def get_bin_path(self, name, required=False):
        return "/usr/bin/" + name

    def run_command(self, argv):
        self.commands.append(argv)
        name = os.path.basename(argv[0])
        words = [name] + list(argv[1:])
        for prefix, answer in list(self.fail.items()):
            if words[: len(prefix)] == list(prefix):
                del self.fail[prefix]  # fails once: the next attempt (the rollback) works
                return answer
        if name == "ip":
            return 0, IP_JSON, ""
        if name == "systemctl":
            action, service = argv[1], argv[2]
            if action == "is-active":
                if self.reloading_left.get(service):
                    self.reloading_left[service] -= 1
                    return 0, "reloading\n", ""
                return (0, "active\n", "") if service in self.active else (3, "inactive\n", "")
            if action == "reload":
                self.reloading_left[service] = self.reloading.get(service, 0)
            if action in ("start", "reload"):
                self.active.add(service)
            if action == "stop":
                self.active.discard(service)
            return 0, "", ""
        return 0, "", ""

    def ran(self, *words):
        return [c for c in self.commands if [os.path.basename(c[0])] + list(c[1 : len(words)]) == list(words)]


@pytest.fixture
def root(tmp_path, monkeypatch):
    return str(tmp_path)


class NoRuntime(object):
    """No HAProxy runtime socket on the fake host."""

    def haproxy_available(self):
        return False


def converge(spec, root, host=None, runtime=None, **kwargs):
    host = host or FakeHost(spec, **kwargs)
    backend = linux.LinuxAppliance(host, root=root, verify={"haproxy": host.verify_haproxy}, sleep=host.sleeps.append)
    return host, appliance.converge(host, backend, runtime or NoRuntime())


def read(root, path):
    with open(root + path) as handle:
        return handle.read()


def test_first_apply_writes_validates_starts_and_records(root):
    host, result = converge(mutate({}), root)
    assert result["changed"]
    assert "+ virtual service web-dr (192.0.2.10:80/tcp)" in result["summary"]
    assert "virtual_router_id 51" in read(root, linux.KEEPALIVED_CONF)
    assert "listen vs_shop" in read(root, linux.HAPROXY_CFG)
    assert oct(os.stat(root + linux.KEEPALIVED_CONF).st_mode & 0o777) == "0o600"
    assert oct(os.stat(root + linux.STATE_FILE).st_mode & 0o777) == "0o600"
    assert host.ran("keepalived", "--config-test", "-f") and host.ran("haproxy", "-c", "-q", "-f")
    assert host.ran("systemctl", "start", "keepalived") and host.ran("systemctl", "start", "haproxy")
    assert host.ran("sysctl", "-w", "net.ipv4.ip_nonlocal_bind=1") and host.ran("sysctl", "-w", "net.ipv4.ip_forward=1")
    # Nothing left behind but the managed files.
    leftovers = [n for d, s, names in os.walk(root) for n in names if n.endswith(".lbkit")]
    assert leftovers == []


def test_second_run_changes_nothing(root):
    host, first = converge(mutate({}), root)
    host2 = FakeHost(mutate({}))
    host2.active = set(host.active)
    host2, second = converge(mutate({}), root, host=host2)
    assert second == {"changed": False, "changes": [], "summary": [], "diff": {"prepared": ""}}
    assert not host2.ran("systemctl", "reload")


def test_check_mode_reports_the_same_plan_and_touches_nothing(root):
    host, first = converge(mutate({}), root)
    changed_spec = mutate({"/virtual_services/0/real_servers/0/weight": 50, "/virtual_services/1": "x"})
    changed_spec["virtual_services"].pop(1)
    checker = FakeHost(changed_spec, check_mode=True)
    checker.active = set(host.active)
    before = read(root, linux.KEEPALIVED_CONF)
    checker, predicted = converge(changed_spec, root, host=checker)
    assert read(root, linux.KEEPALIVED_CONF) == before
    assert not checker.ran("systemctl", "reload")
    runner = FakeHost(changed_spec)
    runner.active = set(host.active)
    runner, applied = converge(changed_spec, root, host=runner)
    assert predicted["changes"] == applied["changes"]
    assert predicted["changed"] is True and applied["changed"] is True
    assert predicted["summary"] == [
        "- virtual service app-nat (192.0.2.11:8080/tcp)",
        "~ real server web1 192.168.10.21:80 in web-dr: weight 100 -> 50",
    ]
    assert runner.ran("systemctl", "reload", "keepalived")
    assert not runner.ran("systemctl", "restart")


def test_a_service_still_reloading_after_the_reload_is_waited_for(root):
    host, first = converge(mutate({}), root)
    runner = FakeHost(mutate({"/virtual_services/2/real_servers/0/weight": 7}))
    runner.active = set(host.active)
    # systemctl reload has returned, HAProxy's master says RELOADING=1 a moment later
    runner.reloading["haproxy"] = 3
    runner, applied = converge(runner.params["spec"], root, host=runner)
    assert applied["changed"] and runner.ran("systemctl", "reload", "haproxy")
    assert runner.sleeps == [0.1, 0.1, 0.1]
    assert not runner.ran("systemctl", "restart") and runner.loaded == read(root, linux.HAPROXY_CFG)


def test_a_service_that_stays_reloading_is_not_running(root):
    host, first = converge(mutate({}), root)
    stuck = FakeHost(mutate({"/virtual_services/2/real_servers/0/weight": 7}))
    stuck.active = set(host.active)
    stuck.reloading["haproxy"] = 1000
    with pytest.raises(linux.ApplyError) as info:
        converge(stuck.params["spec"], root, host=stuck)
    assert "haproxy is not running after the change" in str(info.value)
    assert len(stuck.sleeps) >= 100


def test_invalid_config_changes_nothing(root):
    host, first = converge(mutate({}), root)
    before = read(root, linux.HAPROXY_CFG)
    bad = FakeHost(mutate({"/virtual_services/2/real_servers/0/weight": 7}))
    bad.active = set(host.active)
    bad.fail[("haproxy", "-c")] = (1, "", "[ALERT] parsing error")
    with pytest.raises(linux.ApplyError) as info:
        converge(bad.params["spec"], root, host=bad)
    assert "haproxy rejected the new" in str(info.value) and "nothing was changed" in str(info.value)
    assert read(root, linux.HAPROXY_CFG) == before
    assert not bad.ran("systemctl", "reload")


def test_failed_reload_restores_the_last_good_config(root):
    host, first = converge(mutate({}), root)
    good = read(root, linux.KEEPALIVED_CONF)
    state = read(root, linux.STATE_FILE)
    bad = FakeHost(mutate({"/virtual_services/0/real_servers/0/weight": 5}))
    bad.active = set(host.active)
    bad.fail[("systemctl", "reload", "keepalived")] = (1, "", "Job failed")
    with pytest.raises(linux.ApplyError) as info:
        converge(bad.params["spec"], root, host=bad)
    assert info.value.restored
    assert "the previous configuration was restored and is serving" in str(info.value)
    assert read(root, linux.KEEPALIVED_CONF) == good
    assert read(root, linux.STATE_FILE) == state
    # The restored file was reloaded again, so the running keepalived has the last good config.
    assert len(bad.ran("systemctl", "reload", "keepalived")) == 2


def test_failing_rollback_says_so(root):
    host, first = converge(mutate({}), root)
    bad = FakeHost(mutate({"/virtual_services/0/real_servers/0/weight": 5}))
    bad.active = set(host.active)
    bad.fail[("systemctl", "reload", "keepalived")] = (1, "", "Job failed")
    original = bad.run_command

    def run(argv):
        if argv[1:3] == ["reload", "keepalived"] and bad.ran("systemctl", "reload", "keepalived"):
            bad.commands.append(argv)
            return 1, "", "still failing"
        return original(argv)

    bad.run_command = run
    with pytest.raises(linux.ApplyError) as info:
        converge(bad.params["spec"], root, host=bad)
    assert not info.value.restored
    assert "restoring the previous configuration failed too: systemctl reload keepalived failed: still failing" in str(info.value)


def test_hand_edit_is_detected_and_rewritten(root):
    host, first = converge(mutate({}), root)
    with open(root + linux.HAPROXY_CFG, "a") as handle:
        handle.write("# edited by hand\n")
    again = FakeHost(mutate({}), check_mode=True)
    again.active = set(host.active)
    again, result = converge(again.params["spec"], root, host=again)
    assert result["summary"] == ["! file %s%s (edited outside lbkit)" % (root, linux.HAPROXY_CFG)]


def test_stopped_engine_is_a_change(root):
    host, first = converge(mutate({}), root)
    again = FakeHost(mutate({}))
    again.active = {"keepalived"}
    again, result = converge(again.params["spec"], root, host=again)
    assert result["summary"] == ["> service haproxy"]
    assert again.ran("systemctl", "start", "haproxy")


def test_rendered_touches_nothing_and_masks_secrets(root):
    spec = mutate({"/cluster/ha/vrrp_version": 2, "/cluster/ha/advert_interval_ms": 1000, "/cluster/ha/auth_secret": "pw123"})
    host, result = converge(spec, root, state="rendered")
    assert result["changed"] is False
    conf = result["rendered"][root + linux.KEEPALIVED_CONF]
    assert "auth_pass ********" in conf and "pw123" not in json.dumps(result)
    assert not os.path.exists(root + linux.KEEPALIVED_CONF)


def test_secret_change_shows_hidden(root):
    v2 = {"/cluster/ha/vrrp_version": 2, "/cluster/ha/advert_interval_ms": 1000}
    host, first = converge(mutate(dict(v2, **{"/cluster/ha/auth_secret": "old1"})), root)
    again = FakeHost(mutate(dict(v2, **{"/cluster/ha/auth_secret": "new2"})), check_mode=True)
    again.active = set(host.active)
    again, result = converge(again.params["spec"], root, host=again)
    assert result["summary"] == ["~ cluster lb-prod: auth_secret (hidden) -> (hidden)"]
    assert "old1" not in json.dumps(result) and "new2" not in json.dumps(result)


def test_vip_on_the_hosts_own_address_is_refused_before_anything(root):
    with pytest.raises(SpecInvalid) as info:
        converge(mutate({"/virtual_services/1/address": "10.0.1.11", "/virtual_services/1/real_servers/0/address": "10.0.1.21"}), root)
    assert info.value.errors[0].path == "/virtual_services/1/address"
    assert not os.path.exists(root + linux.STATE_FILE)


def test_vips_lbkit_placed_are_not_the_hosts_own(root):
    host, first = converge(mutate({}), root)
    held = json.loads(IP_JSON)
    held[1]["addr_info"].append({"local": "192.0.2.10", "prefixlen": 32})
    again = FakeHost(mutate({}), check_mode=True)
    again.active = set(host.active)
    original = again.run_command

    def run(argv):
        if argv[0].endswith("/ip"):
            again.commands.append(argv)
            return 0, json.dumps(held), ""
        return original(argv)

    again.run_command = run
    again, result = converge(again.params["spec"], root, host=again)
    assert result["changed"] is False


class FakeRuntime(object):
    """HAProxy's runtime API as a dict of server states."""

    def __init__(self, states):
        self.states = states
        self.calls = []
        self.reads = 0

    def haproxy_available(self):
        return True

    def read_layer7(self, pairs):
        self.reads += 1
        return [(self.states.get(rs.name, rs.state), 0) for vs, rs in pairs]

    def set(self, vs, rs, state, current):
        self.calls.append((vs.name, rs.name, state))
        self.states[rs.name] = state


def test_runtime_drain_is_undone_by_the_next_converge(root):
    host, first = converge(mutate({}), root)
    runtime = FakeRuntime({"10.0.1.31:8443": "drained"})
    checker = FakeHost(mutate({}), check_mode=True)
    checker.active = set(host.active)
    checker, predicted = converge(checker.params["spec"], root, host=checker, runtime=runtime)
    assert predicted["summary"] == ["~ runtime 10.0.1.31:8443 10.0.1.31:8443 in shop: state drained -> enabled"]
    assert runtime.calls == []
    # one listing of HAProxy's servers for all of them, not one per server
    assert runtime.reads == 1
    again = FakeHost(mutate({}))
    again.active = set(host.active)
    again, applied = converge(again.params["spec"], root, host=again, runtime=runtime)
    assert applied["changes"] == predicted["changes"]
    assert runtime.calls == [("shop", "10.0.1.31:8443", "enabled")]
    assert not again.ran("systemctl", "reload")


def test_new_config_not_live_after_reload_rolls_back(root):
    host, first = converge(mutate({}), root)
    good = read(root, linux.HAPROXY_CFG)
    bad = FakeHost(mutate({"/virtual_services/2/port": 8443}))
    bad.active = set(host.active)
    bad.refuse_load = 1
    with pytest.raises(linux.ApplyError) as info:
        converge(bad.params["spec"], root, host=bad)
    assert info.value.restored and "does not run the new configuration" in str(info.value)
    assert read(root, linux.HAPROXY_CFG) == good
    assert bad.loaded == good  # the restored file was reloaded and verified live


def test_marker_tracks_the_file():
    from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import haproxy
    from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import load_spec

    one = haproxy.render(load_spec(mutate({})))
    two = haproxy.render(load_spec(mutate({"/virtual_services/2/real_servers/0/weight": 7})))
    assert haproxy.marker(one).startswith("lbkit_config_") and haproxy.marker(one) != haproxy.marker(two)


SS_OUTPUT = """LISTEN 0      4096   192.0.2.12:443        0.0.0.0:*    users:(("haproxy",pid=985,fd=7))
LISTEN 0      5      192.0.2.12:8443       0.0.0.0:*    users:(("python3",pid=1004,fd=3))
LISTEN 0      4096   127.0.0.11:39035      0.0.0.0:*
LISTEN 0      128    [::]:22               [::]:*       users:(("sshd",pid=90,fd=4))
"""


def test_binds_and_listeners():
    assert linux.haproxy_binds("    bind 192.0.2.12:443,192.0.2.12:8443-8444 ssl crt x\n    bind [2001:db8::1]:80\n") == [
        ("192.0.2.12", 443),
        ("192.0.2.12", 8443),
        ("192.0.2.12", 8444),
        ("2001:db8::1", 80),
    ]
    listeners = linux.parse_listeners(SS_OUTPUT)
    assert ("192.0.2.12", 8443, "python3") in listeners and ("::", 22, "sshd") in listeners
    assert linux.foreign_listeners([("192.0.2.12", 443), ("192.0.2.12", 8443), ("192.0.2.99", 22)], listeners) == [
        "192.0.2.12:8443 is in use by python3",
        "192.0.2.99:22 is in use by sshd",
    ]


def test_port_taken_by_another_program_is_refused_before_anything(root):
    host, first = converge(mutate({}), root)
    before = read(root, linux.HAPROXY_CFG)
    bad = FakeHost(mutate({"/virtual_services/2/extra_ports": "8443"}))
    bad.active = set(host.active)
    bad.fail[("ss", "-ltnpH")] = (0, SS_OUTPUT, "")
    with pytest.raises(linux.ApplyError) as info:
        converge(bad.params["spec"], root, host=bad)
    assert "HAProxy could not listen where the new" in str(info.value) and "192.0.2.12:8443 is in use by python3" in str(info.value)
    assert "nothing was changed" in str(info.value)
    assert read(root, linux.HAPROXY_CFG) == before


def test_sysctl_failure_after_install_restores_files_and_kernel(root):
    proc = os.path.join(root, "proc/sys/net/ipv4")
    os.makedirs(proc)
    for key, value in (("ip_nonlocal_bind", "1"), ("ip_forward", "0")):
        with open(os.path.join(proc, key), "w") as handle:
            handle.write(value + "\n")
    only_l7 = mutate({})
    only_l7["virtual_services"] = [only_l7["virtual_services"][2]]
    host, first = converge(only_l7, root)
    assert not host.ran("sysctl", "-w", "net.ipv4.ip_nonlocal_bind=1")  # already 1: not written
    good = read(root, linux.KEEPALIVED_CONF)
    bad = FakeHost(mutate({}))
    bad.active = set(host.active)
    bad.fail[("sysctl", "-w", "net.ipv4.ip_forward=1")] = (255, "", 'sysctl: permission denied on key "net.ipv4.ip_forward"')
    with pytest.raises(linux.ApplyError) as info:
        converge(bad.params["spec"], root, host=bad)
    assert info.value.restored
    assert "sysctl -w net.ipv4.ip_forward=1 failed" in str(info.value)
    assert read(root, linux.KEEPALIVED_CONF) == good
    assert "ip_forward" not in read(root, "/etc/sysctl.d/60-lbkit.conf")
    # nothing was reloaded: the failure came before the engines
    assert not bad.ran("systemctl", "reload")


def test_layer4_loads_ip_vs_before_its_sysctl_and_at_boot(root):
    from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import sysctl

    host, result = converge(mutate({}), root)
    modprobe = [i for i, c in enumerate(host.commands) if c[1:] == ["ip_vs"] and c[0].endswith("modprobe")]
    write = [i for i, c in enumerate(host.commands) if c[1:] == ["-w", "net.ipv4.vs.expire_nodest_conn=1"]]
    assert modprobe and write and modprobe[0] < write[0]
    assert read(root, sysctl.MODULES_PATH).splitlines()[-1] == "ip_vs"
    assert oct(os.stat(root + sysctl.MODULES_PATH).st_mode & 0o777) == "0o644"
    assert "net.ipv4.vs.expire_nodest_conn = 1" in read(root, sysctl.PATH)


def test_ip_vs_already_loaded_is_not_loaded_again(root):
    os.makedirs(os.path.join(root, "proc/sys/net/ipv4/vs"))
    host, result = converge(mutate({}), root)
    assert not host.ran("modprobe") and host.ran("sysctl", "-w", "net.ipv4.vs.expire_nodest_conn=1")


def test_ip_vs_that_cannot_load_fails_the_apply_and_restores(root):
    from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import sysctl

    only_l7 = mutate({})
    only_l7["virtual_services"] = [only_l7["virtual_services"][2]]
    host, first = converge(only_l7, root)
    good = read(root, linux.KEEPALIVED_CONF)
    bad = FakeHost(mutate({}))
    bad.active = set(host.active)
    bad.fail[("modprobe", "ip_vs")] = (1, "", "modprobe: FATAL: Module ip_vs not found in directory /lib/modules/6.1.0")
    with pytest.raises(linux.ApplyError) as info:
        converge(bad.params["spec"], root, host=bad)
    assert info.value.restored
    assert "net.ipv4.vs.expire_nodest_conn needs the ip_vs kernel module" in str(info.value) and "Module ip_vs not found" in str(info.value)
    assert read(root, linux.KEEPALIVED_CONF) == good and not os.path.exists(root + sysctl.MODULES_PATH)
    assert not bad.ran("systemctl", "reload")
