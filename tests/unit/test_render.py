"""Rendered engine configs against golden files.

A golden file changes only with a reason in the commit message. To rewrite them after an
intended change: LBKIT_UPDATE_GOLDEN=1 ./scripts/test tests/unit/test_render.py, then review
the diff. tests/integration/test_engine_configs.py checks every golden file with the engines'
own config tests (haproxy -c, keepalived --config-test).
"""

import glob
import ipaddress
import os

import pytest
import yaml

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import SpecInvalid, UnsafeValue
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import haproxy, keepalived, programs, words
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import load_spec

from .specs import mutate

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")
SPECS = sorted(glob.glob(os.path.join(GOLDEN, "*.spec.yml")))


def host_interfaces(spec, host):
    """The interfaces the golden appliances have: eth0 with the heartbeat address, eth1 inside."""
    node = spec.cluster.node(host)
    index = [n.host for n in spec.cluster.nodes].index(host)
    eth0 = ipaddress.ip_interface("%s/24" % (node.heartbeat_address or "192.168.10.%d" % (11 + index)))
    return {
        "lo": [ipaddress.ip_interface("127.0.0.1/8")],
        "eth0": [eth0],
        "eth1": [ipaddress.ip_interface("10.0.1.%d/24" % (11 + index))],
    }


def rendered(path):
    """{golden file name: text} for one golden spec."""
    with open(path) as handle:
        spec = load_spec(yaml.safe_load(handle))
    base = os.path.basename(path)[: -len(".spec.yml")]
    out = {}
    if spec.monitoring is None:
        cfg = haproxy.render(spec)
        if cfg is not None:
            out[base + ".haproxy.cfg"] = cfg.content
    else:
        # Each node's monitoring endpoint listens on its own address: one haproxy.cfg each.
        for node in spec.cluster.nodes:
            out["%s.%s.haproxy.cfg" % (base, node.host)] = haproxy.render(spec, host=node.host, node_exporter=programs.NODE_EXPORTER_LISTEN).content
    for node in spec.cluster.nodes:
        out["%s.%s.keepalived.conf" % (base, node.host)] = keepalived.render(spec, node.host, host_interfaces(spec, node.host)).content
    if programs.netfilter_wanted(spec):
        out[base + ".netfilter.nft"] = programs.netfilter_rules(spec)
    return out


CASES = [(os.path.basename(s), name, text) for s in SPECS for name, text in sorted(rendered(s).items())]


@pytest.mark.parametrize("spec,name,text", CASES, ids=[c[1] for c in CASES])
def test_golden(spec, name, text):
    path = os.path.join(GOLDEN, name)
    if os.environ.get("LBKIT_UPDATE_GOLDEN"):
        with open(path, "w") as handle:
            handle.write(text)
    assert os.path.exists(path), "no golden file %s: run with LBKIT_UPDATE_GOLDEN=1 and review it" % name
    with open(path) as handle:
        assert text == handle.read(), "%s differs from its golden file" % name


def test_every_golden_file_has_a_spec():
    produced = set(c[1] for c in CASES)
    for path in glob.glob(os.path.join(GOLDEN, "*")):
        name = os.path.basename(path)
        if not name.endswith(".spec.yml"):
            assert name in produced, "stale golden file " + name


def test_secret_only_in_the_keepalived_config():
    with open(os.path.join(GOLDEN, "vrrp2-auth.spec.yml")) as handle:
        spec = load_spec(yaml.safe_load(handle))
    conf = keepalived.render(spec, "lb1", host_interfaces(spec, "lb1"))
    assert "auth_pass s3cr3t" in conf.content
    assert "auth_pass ********" in conf.masked and "s3cr3t" not in conf.masked
    assert conf.masked == conf.content.replace("auth_pass s3cr3t", "auth_pass ********")
    assert "s3cr3t" not in repr(spec)


def test_no_layer7_service_no_haproxy_config():
    assert haproxy.render(load_spec(mutate({}))) is not None
    only_l4 = dict(mutate({}))
    only_l4["virtual_services"] = only_l4["virtual_services"][:2]
    assert haproxy.render(load_spec(only_l4)) is None


def test_unknown_heartbeat_interface_is_a_render_error():
    spec = load_spec(mutate({}))
    interfaces = {"lo": [ipaddress.ip_interface("127.0.0.1/8")], "eth0": [ipaddress.ip_interface("192.168.10.99/24")]}
    with pytest.raises(SpecInvalid) as info:
        keepalived.render(spec, "lb1", interfaces)
    assert info.value.errors[0].path == "/cluster/nodes/0/heartbeat_address"


def test_pair_without_floating_addresses_has_no_vrrp_instance():
    data = mutate({})
    data["virtual_services"] = []
    data["cluster"]["floating_ips"] = []
    spec = load_spec(data)
    text = keepalived.render(spec, "lb1", host_interfaces(spec, "lb1")).content
    assert "vrrp_instance" not in text
    assert "No floating address yet" in text


def test_sysctls_follow_the_spec():
    from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import sysctl

    keys = [k for k, v, w in sysctl.settings(load_spec(mutate({})))]
    assert keys == ["net.ipv4.ip_nonlocal_bind", "net.ipv4.vs.expire_nodest_conn", "net.ipv4.ip_forward"]
    only_dr = mutate({})
    only_dr["virtual_services"] = only_dr["virtual_services"][:1]
    # layer 4: IPVS expires a removed real server's connections, and ip_vs is loaded at boot before sysctl.d
    assert sysctl.render(load_spec(only_dr)).settings == {"net.ipv4.vs.expire_nodest_conn": "1"}
    assert sysctl.modules(load_spec(only_dr)).splitlines()[-1] == "ip_vs"
    only_l7 = mutate({})
    only_l7["virtual_services"] = only_l7["virtual_services"][2:]
    assert sysctl.render(load_spec(only_l7)).settings == {"net.ipv4.ip_nonlocal_bind": "1"}
    assert sysctl.modules(load_spec(only_l7)) is None
    v6 = mutate({"/virtual_services/2/address": "2001:db8::12"})
    assert "net.ipv6.ip_nonlocal_bind = 1" in sysctl.render(load_spec(v6)).content


def _preempt_line(data):
    spec = load_spec(data)
    lines = [line.strip() for line in keepalived.render(spec, "lb1", host_interfaces(spec, "lb1")).content.splitlines()]
    return [line for line in lines if "preempt" in line]


def test_a_returning_master_waits_for_its_health_checks():
    # The slowest check here: interval 10 s x 3 retries + 4 s timeout (defaults, retries raised).
    data = mutate({"/cluster/ha/preempt": True, "/virtual_services/0/health_check": {"type": "tcp", "retries": 3}})
    assert _preempt_line(data) == ["preempt_delay 34"]
    assert _preempt_line(mutate({"/cluster/ha/preempt": False})) == ["nopreempt"]


def test_preempt_without_health_checks_needs_no_delay_and_the_delay_is_capped():
    data = mutate({"/cluster/ha/preempt": True})
    for vs in data["virtual_services"]:
        vs["health_check"] = {"type": "none"}
    assert _preempt_line(data) == []
    slow = mutate({"/cluster/ha/preempt": True, "/virtual_services/0/health_check": {"type": "tcp", "interval": "1h", "timeout": 30, "retries": 10}})
    assert _preempt_line(slow) == ["preempt_delay 1000"]


@pytest.mark.parametrize("value", ["a b", "a\nb", "a\"b", "{", "}", "$_PWD", "a\\b", "", "caf\u00e9"])
def test_keepalived_refuses_what_is_not_one_word(value):
    with pytest.raises(UnsafeValue) as info:
        words.keepalived_word(value, "/cluster/ha/auth_secret")
    assert info.value.result()["msg"].startswith("/cluster/ha/auth_secret: ")


def test_keepalived_escapes_its_comment_characters():
    assert words.keepalived_word("a#b!c", "/x") == "a\\#b\\!c"
    assert words.keepalived_quoted("/usr/bin/check 192.0.2.1 80", "/x") == "/usr/bin/check 192.0.2.1 80"


@pytest.mark.parametrize("value,written", [("/health#x", "/health\\#x"), ("it's", "it\\'s"), ('a"b', 'a\\"b'), ("a\\b", "a\\\\b")])
def test_haproxy_escapes_quotes_backslashes_and_comments(value, written):
    assert words.haproxy_word(value, "/x") == written


@pytest.mark.parametrize("value", ["a b", "a\tb", "a\nb", "x\u2028y", ""])
def test_haproxy_refuses_blanks_and_line_breaks(value):
    with pytest.raises(UnsafeValue):
        words.haproxy_word(value, "/x")


@pytest.mark.parametrize("value", ["a,b", "a)b", "a'b", "a#b"])
def test_sample_fetch_arguments_take_token_characters_only(value):
    with pytest.raises(UnsafeValue):
        words.haproxy_sample_arg(value, "/virtual_services/0/persistence/cookie")


def test_the_renderer_refuses_a_value_the_model_let_through():
    """Defence in depth: a model built by other code than the spec's checks cannot inject a line."""
    import dataclasses

    spec = load_spec(mutate({}))
    shop = spec.service("shop")
    bad = dataclasses.replace(shop, health_check=dataclasses.replace(shop.health_check, type="http", url="/ok\n    option injected"))
    evil = dataclasses.replace(spec, virtual_services=(bad,))
    with pytest.raises(UnsafeValue) as info:
        haproxy.render(evil)
    assert "/virtual_services/2/health_check/url" in str(info.value)
