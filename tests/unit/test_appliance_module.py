"""The appliance module and the Linux backend against a fake host in a temporary root.

The fake host answers the commands the backend runs (ip, the engines' config checks,
systemctl, sysctl) and records them, so plan, check mode, apply, reload-not-restart and the
rollback on failure are exercised without daemons; molecule scenarios run the real ones.
"""

import json
import os

import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend import haproxy_runtime, linux
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine import linux as engine
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import ApplyFailed, EngineRejected, SpecInvalid
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner import appliance

from .specs import mutate

IP_JSON = json.dumps(
    [
        {"ifname": "lo", "addr_info": [{"local": "127.0.0.1", "prefixlen": 8}]},
        {"ifname": "eth0", "addr_info": [{"local": "192.168.10.11", "prefixlen": 24}]},
        {"ifname": "eth1", "addr_info": [{"local": "10.0.1.11", "prefixlen": 24}]},
    ]
)


# The PEM material the appliance action plugin reads on the controller for the shop service.
TLS = {"shop": {"certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                "key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"}}
KEEPALIVED_CONF = engine.KEEPALIVED_CONF
HAPROXY_CFG = engine.HAPROXY_CFG
STATE_FILE = engine.STATE_DIR + "/state.json"
SHOP_PEM = engine.STATE_DIR + "/tls/shop.pem"
PING_ANY = "/usr/local/libexec/lbkit/ping-any"
VRRP_NOTIFY = "/usr/local/libexec/lbkit/vrrp-notify"
DEFAULTS = "/etc/default/keepalived"


# The daemons systemd starts at boot: on disk on a real host, so shared by every FakeHost of a test.
BOOT = set()
# Other answers of `systemctl is-enabled` for a unit ('static', 'masked'...).
UNIT_STATE = {}


class FakeHost(object):
    """What the module and the backend use of AnsibleModule, backed by a temporary root."""

    def __init__(self, spec, check_mode=False, diff=True, state="present"):
        self.params = {"spec": spec, "host": "lb1", "state": state, "tls": None, "interfaces": None, "state_dir": engine.STATE_DIR}
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
        self.root = None

    def verify_haproxy(self, fingerprint):
        """HAProxy 'loads' the file unless told to refuse (a port taken, say)."""
        if self.refuse_load:
            self.refuse_load -= 1
            raise ApplyFailed("HAProxy does not run the new configuration 10 s after the reload", restored=False)
        self.loaded = fingerprint

    def get_bin_path(self, name, required=False, opt_dirs=None):
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
        if words[:3] == ["keepalived", "--config-test", "-f"] and self.root is not None:
            # keepalived disables a track script it cannot find: the helpers must be in place first.
            with open(argv[3]) as handle:
                conf = handle.read()
            for helper in (PING_ANY, VRRP_NOTIFY):
                if helper in conf and not os.access(self.root + helper, os.X_OK):
                    return 1, "", "Disabling track script lbkit_ping since not found/accessible"
        if name == "systemctl":
            action, service = argv[1], argv[-1]
            if action == "is-enabled":
                if service in UNIT_STATE:
                    return (0 if UNIT_STATE[service] in engine.STARTED_AT_BOOT else 1), UNIT_STATE[service] + "\n", ""
                return (0, "enabled\n", "") if service in BOOT else (1, "disabled\n", "")
            if action in ("enable", "disable"):
                (BOOT.add if action == "enable" else BOOT.discard)(service)
                return 0, "", ""
            if action == "is-active":
                if self.reloading_left.get(service):
                    self.reloading_left[service] -= 1
                    return 0, "reloading\n", ""
                return (0, "active\n", "") if service in self.active else (3, "inactive\n", "")
            if action == "reload":
                self.reloading_left[service] = self.reloading.get(service, 0)
            if action in ("start", "reload", "restart"):
                self.active.add(service)
            if action == "stop":
                self.active.discard(service)
            return 0, "", ""
        return 0, "", ""

    def ran(self, *words):
        return [c for c in self.commands if [os.path.basename(c[0])] + list(c[1 : len(words)]) == list(words)]


@pytest.fixture
def root(tmp_path, monkeypatch):
    BOOT.clear()
    UNIT_STATE.clear()
    return str(tmp_path)


def converge(spec, root, host=None, servers=None, tls=None, **kwargs):
    """Run the appliance module's runner on the fake host; ``servers``: HAProxy's server states as read;
    ``tls``: the TLS material the action plugin hands over (default: TLS)."""
    tls = TLS if tls is None else tls
    host = host or FakeHost(spec, **kwargs)
    host.root = root
    rendering = host.params["state"] == "rendered"
    backend = linux.LinuxAppliance(host, paths=engine.Paths(root=root), tls_material=tls, require_tls=not rendering,
                                   verify={"haproxy": host.verify_haproxy}, sleep=host.sleeps.append)
    backend._servers = lambda: servers
    return host, appliance.converge(host, backend)


def read(root, path):
    with open(root + path) as handle:
        return handle.read()


def test_first_apply_writes_validates_starts_and_records(root):
    host, result = converge(mutate({}), root)
    assert result["changed"]
    assert "+ virtual service web-dr (192.0.2.10:80/tcp)" in result["summary"]
    assert "virtual_router_id 51" in read(root, KEEPALIVED_CONF)
    assert "listen vs_shop" in read(root, HAPROXY_CFG)
    assert oct(os.stat(root + KEEPALIVED_CONF).st_mode & 0o777) == "0o600"
    assert oct(os.stat(root + STATE_FILE).st_mode & 0o777) == "0o600"
    assert host.ran("keepalived", "--config-test", "-f") and host.ran("haproxy", "-c", "-f")
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
    assert second == {"changed": False, "changes": [], "summary": [], "operations": [], "diff": {"prepared": ""}}
    assert not host2.ran("systemctl", "reload")


def test_check_mode_reports_the_same_plan_and_touches_nothing(root):
    host, first = converge(mutate({}), root)
    changed_spec = mutate({"/virtual_services/0/real_servers/0/weight": 50, "/virtual_services/1": "x"})
    changed_spec["virtual_services"].pop(1)
    checker = FakeHost(changed_spec, check_mode=True)
    checker.active = set(host.active)
    before = read(root, KEEPALIVED_CONF)
    checker, predicted = converge(changed_spec, root, host=checker)
    assert read(root, KEEPALIVED_CONF) == before
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
    assert not runner.ran("systemctl", "restart") and runner.loaded in read(root, HAPROXY_CFG)


def test_a_service_that_stays_reloading_is_not_running(root):
    host, first = converge(mutate({}), root)
    stuck = FakeHost(mutate({"/virtual_services/2/real_servers/0/weight": 7}))
    stuck.active = set(host.active)
    stuck.reloading["haproxy"] = 1000
    with pytest.raises(ApplyFailed) as info:
        converge(stuck.params["spec"], root, host=stuck)
    assert "haproxy is not running after 'systemctl reload haproxy'" in str(info.value)
    assert len(stuck.sleeps) >= 100


def test_invalid_config_changes_nothing(root):
    host, first = converge(mutate({}), root)
    before = read(root, HAPROXY_CFG)
    bad = FakeHost(mutate({"/virtual_services/2/real_servers/0/weight": 7}))
    bad.active = set(host.active)
    bad.fail[("haproxy", "-c")] = (1, "", "[ALERT]    (42) : config : parsing [%s.tmp:12] : unknown keyword 'weigth'" % (root + HAPROXY_CFG))
    with pytest.raises(EngineRejected) as info:
        converge(bad.params["spec"], root, host=bad)
    # the engine's own reason is quoted
    assert "haproxy rejected the new %s%s: [ALERT]" % (root, HAPROXY_CFG) in str(info.value)
    assert "unknown keyword 'weigth'" in str(info.value) and "nothing was changed" in str(info.value)
    assert info.value.result()["restored"] is True
    assert read(root, HAPROXY_CFG) == before
    assert not bad.ran("systemctl", "reload")


def test_failed_reload_restores_the_last_good_config(root):
    host, first = converge(mutate({}), root)
    good = read(root, KEEPALIVED_CONF)
    state = read(root, STATE_FILE)
    bad = FakeHost(mutate({"/virtual_services/0/real_servers/0/weight": 5}))
    bad.active = set(host.active)
    bad.fail[("systemctl", "reload", "keepalived")] = (1, "", "Job failed")
    with pytest.raises(ApplyFailed) as info:
        converge(bad.params["spec"], root, host=bad)
    assert info.value.restored
    assert "the previous configuration was restored and is serving" in str(info.value)
    assert read(root, KEEPALIVED_CONF) == good
    assert read(root, STATE_FILE) == state
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
    with pytest.raises(ApplyFailed) as info:
        converge(bad.params["spec"], root, host=bad)
    assert not info.value.restored
    assert "restoring the previous configuration failed too: 'systemctl reload keepalived' failed (exit 1): still failing" in str(info.value)


def test_hand_edit_is_detected_and_rewritten(root):
    host, first = converge(mutate({}), root)
    with open(root + HAPROXY_CFG, "a") as handle:
        handle.write("# edited by hand\n")
    again = FakeHost(mutate({}), check_mode=True)
    again.active = set(host.active)
    again, result = converge(again.params["spec"], root, host=again)
    assert result["summary"] == ["! file %s%s (edited outside lbkit)" % (root, HAPROXY_CFG)]


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
    conf = result["rendered"][root + KEEPALIVED_CONF]
    assert "auth_pass ********" in conf and "pw123" not in json.dumps(result)
    assert not os.path.exists(root + KEEPALIVED_CONF)


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
    assert not os.path.exists(root + STATE_FILE)


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


def test_runtime_drain_is_undone_by_the_next_converge(root, monkeypatch):
    host, first = converge(mutate({}), root)
    sent = []
    monkeypatch.setattr(haproxy_runtime, "run_commands", lambda cmds, path: sent.extend(cmds))
    servers = {("vs_shop", "10.0.1.31:8443"): "drained"}
    checker = FakeHost(mutate({}), check_mode=True)
    checker.active = set(host.active)
    checker, predicted = converge(checker.params["spec"], root, host=checker, servers=servers)
    assert predicted["summary"] == ["~ runtime 10.0.1.31:8443 10.0.1.31:8443 in shop: state drained -> enabled"]
    assert predicted["operations"] == ["set HAProxy server vs_shop/10.0.1.31:8443 enabled"]
    assert sent == []
    again = FakeHost(mutate({}))
    again.active = set(host.active)
    again, applied = converge(again.params["spec"], root, host=again, servers=servers)
    assert applied["changes"] == predicted["changes"]
    assert sent == ["set server vs_shop/10.0.1.31:8443 state ready"]
    assert not again.ran("systemctl", "reload")


def test_one_show_stat_reads_every_layer7_server(root, monkeypatch):
    host, first = converge(mutate({}), root)
    sent = []
    monkeypatch.setattr(haproxy_runtime, "command", lambda text, path: sent.append(text) or "# pxname,svname,status,weight,scur,stot\n")
    socket = os.path.join(root, "admin.sock")
    open(socket, "w").close()
    again = FakeHost(mutate({}), check_mode=True)
    again.active = set(host.active)
    backend = linux.LinuxAppliance(again, paths=engine.Paths(root=root), tls_material=TLS, socket_path=socket)
    assert backend.read().servers == {}
    assert sent == ["show stat"]


def test_new_config_not_live_after_reload_rolls_back(root):
    host, first = converge(mutate({}), root)
    good = read(root, HAPROXY_CFG)
    bad = FakeHost(mutate({"/virtual_services/2/port": 8443}))
    bad.active = set(host.active)
    bad.refuse_load = 1
    with pytest.raises(ApplyFailed) as info:
        converge(bad.params["spec"], root, host=bad)
    assert info.value.restored and "does not run the new configuration" in str(info.value)
    assert read(root, HAPROXY_CFG) == good
    assert bad.loaded in good  # the restored file was reloaded and its fingerprint verified live


def test_marker_tracks_the_file():
    from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import haproxy
    from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import load_spec

    one = haproxy.render(load_spec(mutate({})))
    two = haproxy.render(load_spec(mutate({"/virtual_services/2/real_servers/0/weight": 7})))
    assert one.fingerprint.startswith("lbkit_config_") and one.fingerprint != two.fingerprint
    assert one.content.endswith("backend %s\n" % one.fingerprint)
    # a new certificate is a new file: its digest enters the fingerprint
    rotated = haproxy.render(load_spec(mutate({})), tls_digests={"shop": "0123456789abcdef"})
    assert rotated.fingerprint != one.fingerprint


SS_OUTPUT = """LISTEN 0      4096   192.0.2.12:443        0.0.0.0:*    users:(("haproxy",pid=985,fd=7))
LISTEN 0      5      192.0.2.12:8443       0.0.0.0:*    users:(("python3",pid=1004,fd=3))
LISTEN 0      4096   127.0.0.11:39035      0.0.0.0:*
LISTEN 0      128    [::]:22               [::]:*       users:(("sshd",pid=90,fd=4))
"""


def test_binds_and_listeners():
    from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import haproxy
    from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import load_spec

    cfg = haproxy.render(load_spec(mutate({"/virtual_services/2/extra_ports": "8443-8444"})))
    assert cfg.binds == (("192.0.2.12", 443), ("192.0.2.12", 8443), ("192.0.2.12", 8444))
    listeners = linux.parse_listeners(SS_OUTPUT)
    assert ("192.0.2.12", 8443, "python3") in listeners and ("::", 22, "sshd") in listeners
    assert linux.foreign_listeners([("192.0.2.12", 443), ("192.0.2.12", 8443), ("192.0.2.99", 22)], listeners) == [
        "192.0.2.12:8443 is in use by python3",
        "192.0.2.99:22 is in use by sshd",
    ]


def test_port_taken_by_another_program_is_refused_before_anything(root):
    host, first = converge(mutate({}), root)
    before = read(root, HAPROXY_CFG)
    bad = FakeHost(mutate({"/virtual_services/2/extra_ports": "8443"}))
    bad.active = set(host.active)
    bad.fail[("ss", "-ltnpH")] = (0, SS_OUTPUT, "")
    with pytest.raises(EngineRejected) as info:
        converge(bad.params["spec"], root, host=bad)
    assert "HAProxy could not listen where the new" in str(info.value) and "192.0.2.12:8443 is in use by python3" in str(info.value)
    assert "nothing was changed" in str(info.value)
    assert read(root, HAPROXY_CFG) == before


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
    good = read(root, KEEPALIVED_CONF)
    bad = FakeHost(mutate({}))
    bad.active = set(host.active)
    bad.fail[("sysctl", "-w", "net.ipv4.ip_forward=1")] = (255, "", 'sysctl: permission denied on key "net.ipv4.ip_forward"')
    with pytest.raises(ApplyFailed) as info:
        converge(bad.params["spec"], root, host=bad)
    assert info.value.restored
    assert "'sysctl -w net.ipv4.ip_forward=1' failed (exit 255)" in str(info.value)
    assert read(root, KEEPALIVED_CONF) == good
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
    loads = [argv for argv in host.ran("modprobe") if "--dry-run" not in argv]
    assert not loads and host.ran("sysctl", "-w", "net.ipv4.vs.expire_nodest_conn=1")


def test_ip_vs_that_cannot_load_fails_the_apply_and_restores(root):
    from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import sysctl

    only_l7 = mutate({})
    only_l7["virtual_services"] = [only_l7["virtual_services"][2]]
    host, first = converge(only_l7, root)
    good = read(root, KEEPALIVED_CONF)
    bad = FakeHost(mutate({}))
    bad.active = set(host.active)
    bad.fail[("modprobe", "ip_vs")] = (1, "", "modprobe: FATAL: Module ip_vs not found in directory /lib/modules/6.1.0")
    with pytest.raises(ApplyFailed) as info:
        converge(bad.params["spec"], root, host=bad)
    assert info.value.restored
    assert "net.ipv4.vs.expire_nodest_conn needs the ip_vs kernel module" in str(info.value) and "Module ip_vs not found" in str(info.value)
    assert read(root, KEEPALIVED_CONF) == good and not os.path.exists(root + sysctl.MODULES_PATH)
    assert not bad.ran("systemctl", "reload")


def test_tls_material_is_written_by_the_apply_0600_and_goes_with_its_service(root):
    host, first = converge(mutate({}), root)
    assert read(root, SHOP_PEM) == TLS["shop"]["certificate"] + TLS["shop"]["key"]
    assert oct(os.stat(root + SHOP_PEM).st_mode & 0o777) == "0o600"
    assert oct(os.stat(root + engine.STATE_DIR + "/tls").st_mode & 0o777) == "0o700"
    assert "ssl crt /etc/lbkit/tls/shop.pem" in read(root, HAPROXY_CFG)
    without = mutate({})
    without["virtual_services"].pop(2)
    again = FakeHost(without)
    again.active = set(host.active)
    again, result = converge(without, root, host=again)
    assert "remove %s%s" % (root, SHOP_PEM) in result["operations"]
    assert not os.path.exists(root + SHOP_PEM)


def test_a_broken_key_is_refused_by_haproxy_and_the_last_good_one_stays(root):
    host, first = converge(mutate({}), root)
    good_pem, good_cfg = read(root, SHOP_PEM), read(root, HAPROXY_CFG)
    broken = {"shop": dict(TLS["shop"], key="garbage")}
    bad = FakeHost(mutate({}))
    bad.active = set(host.active)
    bad.fail[("haproxy", "-c")] = (1, "", "[ALERT]    (7) : config : parsing [%s:31] : 'bind 192.0.2.12:443' : unable to load SSL private key "
                                          "from PEM file '/etc/lbkit/tls/shop.pem'." % (root + HAPROXY_CFG))
    with pytest.raises(EngineRejected) as info:
        converge(bad.params["spec"], root, host=bad, tls=broken)
    assert "unable to load SSL private key" in str(info.value) and "nothing was changed" in str(info.value)
    assert read(root, SHOP_PEM) == good_pem and read(root, HAPROXY_CFG) == good_cfg
    assert not bad.ran("systemctl", "reload")


def test_a_new_certificate_is_a_new_haproxy_cfg_reloaded_and_proven(root):
    host, first = converge(mutate({}), root)
    rotated = {"shop": dict(TLS["shop"], certificate="-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----")}
    again = FakeHost(mutate({}))
    again.active = set(host.active)
    again, result = converge(again.params["spec"], root, host=again, tls=rotated)
    assert result["changed"] and "reload haproxy" in result["operations"]
    assert result["summary"] == ["! file %s%s (this lbkit version renders it differently)" % (root, HAPROXY_CFG),
                                 "! file %s%s (this lbkit version renders it differently)" % (root, SHOP_PEM)]
    assert again.loaded in read(root, HAPROXY_CFG) and "MIIC" in read(root, SHOP_PEM)


def test_state_dir_moves_the_tls_files_and_haproxy_cfg_follows(root):
    host = FakeHost(mutate({}))
    host.params["state_dir"] = "/srv/lbkit"
    backend = linux.LinuxAppliance(host, paths=engine.Paths(root=root, state_dir="/srv/lbkit"), tls_material=TLS,
                                   verify={"haproxy": host.verify_haproxy}, sleep=host.sleeps.append)
    backend._servers = lambda: None
    appliance.converge(host, backend)
    assert "ssl crt /srv/lbkit/tls/shop.pem" in read(root, HAPROXY_CFG)
    assert os.path.exists(root + "/srv/lbkit/tls/shop.pem") and os.path.exists(root + "/srv/lbkit/state.json")


def test_tls_service_without_material_is_a_spec_error_with_its_path(root):
    with pytest.raises(SpecInvalid) as info:
        converge(mutate({}), root, tls={})
    assert [e.path for e in info.value.errors] == ["/virtual_services/2/layer7/tls"]
    assert not os.path.exists(root + STATE_FILE)


def test_a_failing_host_command_is_an_error_not_a_traceback(root):
    host = FakeHost(mutate({}))
    host.fail[("ip", "-json")] = (1, "", "Cannot open netlink socket: Permission denied")
    with pytest.raises(linux.HostCommandFailed) as info:
        converge(mutate({}), root, host=host)
    assert info.value.result()["msg"] == "'ip -json address show' failed (exit 1): Cannot open netlink socket: Permission denied"


def test_lbkit_rendering_anew_is_told_apart_from_a_hand_edit(root):
    host, first = converge(mutate({}), root)
    stored = json.loads(read(root, STATE_FILE))
    # as if an older lbkit had written the files: the recorded digests are of other contents
    stored["engine"]["files"][root + HAPROXY_CFG] = engine.digest("older rendering")
    with open(root + HAPROXY_CFG, "w") as handle:
        handle.write("older rendering")
    with open(root + STATE_FILE, "w") as handle:
        json.dump(stored, handle)
    again = FakeHost(mutate({}), check_mode=True)
    again.active = set(host.active)
    again, result = converge(again.params["spec"], root, host=again)
    assert result["summary"] == ["! file %s%s (this lbkit version renders it differently)" % (root, HAPROXY_CFG)]
    with open(root + HAPROXY_CFG, "a") as handle:
        handle.write("# by hand\n")
    again, result = converge(again.params["spec"], root, host=again)
    assert result["summary"] == ["! file %s%s (edited outside lbkit)" % (root, HAPROXY_CFG)]


# --- keepalived's helpers and command line, the daemons at boot -----------------------------


def layer7_only():
    spec = mutate({})
    spec["virtual_services"] = [vs for vs in spec["virtual_services"] if vs.get("layer") == 7]
    assert spec["virtual_services"]
    return spec


def mode_of(root, path):
    return "%04o" % (os.stat(root + path).st_mode & 0o7777)


def test_first_apply_installs_the_helpers_and_the_command_line_and_starts_at_boot(root):
    host, result = converge(layer7_only(), root)
    assert result["changed"]
    for path in (PING_ANY, VRRP_NOTIFY):
        assert read(root, path).startswith("#!/bin/sh\n# Installed by lbkit.loadbalancer.")
        assert mode_of(root, path) == "0755"
    assert read(root, DEFAULTS) == '# Managed by lbkit.loadbalancer.\nDAEMON_ARGS="--vrrp"\n'
    assert mode_of(root, DEFAULTS) == "0644"
    assert BOOT == {"keepalived", "haproxy"}
    assert "enable keepalived" in result["operations"] and "enable haproxy" in result["operations"]
    # Recorded like every file lbkit writes, so a hand edit shows as one.
    record = json.loads(read(root, STATE_FILE))["engine"]["files"]
    assert set([root + PING_ANY, root + VRRP_NOTIFY, root + DEFAULTS]) <= set(record)


def test_adding_the_first_layer4_service_restarts_keepalived_for_its_new_mode(root):
    host, first = converge(layer7_only(), root)
    checker = FakeHost(mutate({}), check_mode=True)
    checker.active = set(host.active)
    checker, predicted = converge(mutate({}), root, host=checker)
    assert "~ service keepalived: mode VRRP only -> VRRP and IPVS" in predicted["summary"]
    assert read(root, DEFAULTS).endswith('DAEMON_ARGS="--vrrp"\n') and not checker.ran("systemctl", "restart")
    runner = FakeHost(mutate({}))
    runner.active = set(host.active)
    runner, applied = converge(mutate({}), root, host=runner)
    assert applied["summary"] == predicted["summary"]
    assert read(root, DEFAULTS).endswith('DAEMON_ARGS=""\n')
    assert runner.ran("systemctl", "restart", "keepalived") and not runner.ran("systemctl", "reload", "keepalived")
    again = FakeHost(mutate({}))
    again.active = set(runner.active)
    again, second = converge(mutate({}), root, host=again)
    assert second["changed"] is False and not again.ran("systemctl", "restart")


def test_a_failed_restart_puts_the_old_command_line_back_and_restarts_again(root):
    host, first = converge(layer7_only(), root)
    bad = FakeHost(mutate({}))
    bad.active = set(host.active)
    bad.fail[("systemctl", "restart", "keepalived")] = (1, "", "Job for keepalived.service failed")
    with pytest.raises(ApplyFailed) as info:
        converge(mutate({}), root, host=bad)
    assert info.value.restored
    assert read(root, DEFAULTS).endswith('DAEMON_ARGS="--vrrp"\n')
    assert len(bad.ran("systemctl", "restart", "keepalived")) == 2


def test_a_helper_with_the_wrong_mode_is_fixed_and_keepalived_reloads_to_take_it(root):
    host, first = converge(mutate({}), root)
    os.chmod(root + PING_ANY, 0o644)
    checker = FakeHost(mutate({}), check_mode=True)
    checker.active = set(host.active)
    checker, predicted = converge(mutate({}), root, host=checker)
    assert predicted["summary"] == ["~ file %s: mode 0644 -> 0755" % (root + PING_ANY)]
    assert mode_of(root, PING_ANY) == "0644"
    runner = FakeHost(mutate({}))
    runner.active = set(host.active)
    runner, applied = converge(mutate({}), root, host=runner)
    assert mode_of(root, PING_ANY) == "0755" and applied["summary"] == predicted["summary"]
    # keepalived judges its scripts when it loads its config: only a reload makes it use the helper again
    assert runner.ran("systemctl", "reload", "keepalived") and not runner.ran("systemctl", "reload", "haproxy")
    assert not runner.ran("systemctl", "restart")


def test_a_hand_edited_helper_is_put_back_and_said_so(root):
    host, first = converge(mutate({}), root)
    with open(root + VRRP_NOTIFY, "a") as handle:
        handle.write("echo hello\n")
    runner = FakeHost(mutate({}))
    runner.active = set(host.active)
    runner, applied = converge(mutate({}), root, host=runner)
    assert applied["summary"] == ["! file %s (edited outside lbkit)" % (root + VRRP_NOTIFY)]
    assert "echo hello" not in read(root, VRRP_NOTIFY)
    assert runner.ran("systemctl", "reload", "keepalived") and not runner.ran("systemctl", "restart")


def test_haproxy_is_not_started_at_boot_without_layer7_services(root):
    spec = mutate({})
    spec["virtual_services"] = [vs for vs in spec["virtual_services"] if vs.get("layer", 4) == 4]
    BOOT.add("haproxy")
    host, result = converge(spec, root)
    assert "~ service haproxy: started at boot true -> false" in result["summary"]
    assert BOOT == {"keepalived"}
    assert read(root, DEFAULTS).endswith('DAEMON_ARGS=""\n')


def test_layer4_services_are_refused_without_ipvs_and_nothing_changes(root):
    host = FakeHost(mutate({}))
    host.fail[("modprobe", "--dry-run", "ip_vs")] = (1, "", "modprobe: FATAL: Module ip_vs not found")
    with pytest.raises(SpecInvalid) as info:
        converge(mutate({}), root, host=host)
    paths = [e.path for e in info.value.errors]
    assert paths == ["/virtual_services/0/layer", "/virtual_services/1/layer"], paths
    assert "kernel has no IPVS" in str(info.value)
    assert not os.path.exists(root + KEEPALIVED_CONF) and not host.ran("systemctl", "start")


def test_rendering_needs_no_ipvs(root):
    host = FakeHost(mutate({}), state="rendered")
    host.fail[("modprobe", "--dry-run", "ip_vs")] = (1, "", "modprobe: FATAL: Module ip_vs not found")
    host, result = converge(mutate({}), root, host=host)
    assert "virtual_server" in result["rendered"][root + KEEPALIVED_CONF]


def test_missing_packages_leave_the_appliance_alone_until_installed(root):
    host = FakeHost(mutate({}))
    host.params["packages"] = ["keepalived", "haproxy"]
    host.fail[("dpkg-query",)] = (1, "keepalived\tii \n", "dpkg-query: no packages found matching haproxy\n")
    host, result = converge(mutate({}), root, host=host)
    assert result["missing_packages"] == ["haproxy"]
    assert result["changed"] is False and result["operations"] == [] and result["diff"] == {"prepared": ""}
    assert not os.path.exists(root + KEEPALIVED_CONF) and not host.ran("systemctl", "start")
    # check mode still tells what the converge will do once they are there
    checker = FakeHost(mutate({}), check_mode=True)
    checker.params["packages"] = ["keepalived", "haproxy"]
    checker.fail[("dpkg-query",)] = (1, "keepalived\tii \n", "")
    checker, predicted = converge(mutate({}), root, host=checker)
    assert predicted["missing_packages"] == ["haproxy"] and predicted["changed"] is True
    assert "+ virtual service web-dr (192.0.2.10:80/tcp)" in predicted["summary"]
    # installed: the converge goes ahead
    runner = FakeHost(mutate({}))
    runner.params["packages"] = ["keepalived", "haproxy"]
    runner.fail[("dpkg-query",)] = (0, "keepalived\tii \nhaproxy\tii \n", "")
    runner, applied = converge(mutate({}), root, host=runner)
    assert applied["missing_packages"] == [] and applied["changed"] and applied["summary"] == predicted["summary"]
    assert os.path.exists(root + KEEPALIVED_CONF)


def test_keepalived_checks_the_new_config_with_its_helpers_in_place_and_a_refusal_takes_them_away(root):
    # a pair with ping nodes: keepalived.conf runs ping-any, and its check needs it there
    spec = mutate({"/cluster/ha/ping_nodes": ["192.168.10.1"]})
    host, result = converge(spec, root)
    assert result["changed"] and "ping-any 192.168.10.1" in read(root, KEEPALIVED_CONF)
    # a fresh appliance whose keepalived refuses the new file: the helpers placed for the check go again
    fresh = root + "/fresh"
    bad = FakeHost(spec)
    bad.fail[("keepalived", "--config-test")] = (1, "", "Configuration error")
    with pytest.raises(EngineRejected):
        converge(spec, fresh, host=bad)
    assert not os.path.exists(fresh + PING_ANY) and not os.path.exists(fresh + KEEPALIVED_CONF)


@pytest.mark.parametrize("answer", ["static", "generated", "alias", "enabled-runtime"])
def test_a_unit_systemd_starts_without_enabling_is_left_as_it_is(root, answer):
    UNIT_STATE["keepalived"] = answer
    host, first = converge(mutate({}), root)
    assert "enable keepalived" not in first["operations"]
    again = FakeHost(mutate({}))
    again.active = set(host.active)
    again, second = converge(mutate({}), root, host=again)
    assert second["changed"] is False


def test_a_masked_unit_is_enabled_and_the_failure_rolls_back(root):
    host, first = converge(mutate({}), root)
    UNIT_STATE["keepalived"] = "masked"
    bad = FakeHost(mutate({"/virtual_services/0/real_servers/0/weight": 7}))
    bad.active = set(host.active)
    bad.fail[("systemctl", "enable", "--quiet", "keepalived")] = (1, "", "Failed to enable unit: Unit file /etc/systemd/system/keepalived.service is masked.")
    before = read(root, KEEPALIVED_CONF)
    with pytest.raises(ApplyFailed) as info:
        converge(bad.params["spec"], root, host=bad)
    assert "is masked" in str(info.value) and info.value.restored
    assert read(root, KEEPALIVED_CONF) == before


def test_the_defaults_file_rewritten_without_a_change_of_mode_does_not_restart_keepalived(root):
    host, first = converge(layer7_only(), root)
    with open(root + DEFAULTS, "w") as handle:
        handle.write('# a comment\nDAEMON_ARGS="--vrrp"\n')
    runner = FakeHost(layer7_only())
    runner.active = set(host.active)
    runner, applied = converge(layer7_only(), root, host=runner)
    assert applied["summary"] == ["! file %s (edited outside lbkit)" % (root + DEFAULTS)]
    assert not runner.ran("systemctl", "restart") and runner.ran("systemctl", "reload", "keepalived")


def test_a_failed_apply_sets_the_boot_settings_back(root):
    host, first = converge(mutate({}), root)
    BOOT.discard("keepalived")
    bad = FakeHost(mutate({"/virtual_services/2/real_servers/0/weight": 7}))
    bad.active = set(host.active)
    bad.refuse_load = 1  # HAProxy does not run the new file: the apply fails after the boot settings
    with pytest.raises(ApplyFailed) as info:
        converge(bad.params["spec"], root, host=bad)
    assert info.value.restored
    assert bad.ran("systemctl", "enable", "--quiet", "keepalived") and bad.ran("systemctl", "disable", "--quiet", "keepalived")
    assert "keepalived" not in BOOT


def test_a_rollback_puts_each_file_back_with_its_own_permissions(root):
    host, first = converge(mutate({}), root)
    os.chmod(root + HAPROXY_CFG, 0o644)  # as a package or an operator left it
    bad = FakeHost(mutate({"/virtual_services/2/real_servers/0/weight": 7}))
    bad.active = set(host.active)
    bad.refuse_load = 1
    with pytest.raises(ApplyFailed):
        converge(bad.params["spec"], root, host=bad)
    assert mode_of(root, HAPROXY_CFG) == "0644"
