"""What the modules return, run the way Ansible runs them (a real AnsibleModule, its output
masking included): the spec's values read as written, only its secrets are masked.

The spec option is ``no_log`` (never logged whole on the target); without narrowing, Ansible
masks every value of it in the result: names, addresses, even letters inside other words.
"""

import json
import os
import subprocess
import sys

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.secrets import secret_values
from ansible_collections.lbkit.loadbalancer.plugins.modules import appliance_preflight

from .specs import mutate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MASK = "********"

# The rendering is asked for these interfaces (the module's interfaces option), so it needs
# nothing of the machine the test runs on.
INTERFACES = {"eth0": ["192.0.2.1/24"]}
SPEC = {
    "cluster": {
        "name": "t",
        "nodes": [
            {"host": "lb1", "heartbeat_address": "192.0.2.1", "priority": 150},
            {"host": "lb2", "heartbeat_address": "192.0.2.2", "priority": 100},
        ],
        "ha": {"mode": "pair", "virtual_router_id": 51, "vrrp_version": 2, "advert_interval_ms": 1000, "auth_secret": "s3cr3t"},
    },
    "virtual_services": [
        {"name": "web", "address": "10.77.0.100", "port": 80, "layer": 4, "forwarding": "dr", "real_servers": [{"name": "rs1", "address": "10.77.0.21"}]},
    ],
}


def run_module(name, args):
    """Run plugins/modules/<name>.py as Ansible's module debugging entry does (arguments on stdin)."""
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "collections"))
    proc = subprocess.run(
        [sys.executable, "-m", "ansible_collections.lbkit.loadbalancer.plugins.modules." + name],
        input=json.dumps({"ANSIBLE_MODULE_ARGS": args}),
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout)


def test_rendered_config_reads_as_written_with_the_secret_masked():
    result = run_module("appliance", {"spec": SPEC, "host": "lb1", "state": "rendered", "interfaces": INTERFACES})
    assert not result.get("failed"), result
    conf = result["rendered"]["/etc/keepalived/keepalived.conf"]
    assert "# Managed by lbkit.loadbalancer (cluster t, node lb1)" in conf
    assert "virtual_server 10.77.0.100 80 {" in conf
    assert "real_server 10.77.0.21 80 {" in conf
    assert "auth_pass ********" in conf
    assert "s3cr3t" not in json.dumps(result)


def test_interfaces_are_for_rendering_only():
    result = run_module("appliance", {"spec": SPEC, "host": "lb1", "interfaces": INTERFACES})
    assert result["failed"] and result["msg"].startswith("interfaces: only state=rendered takes the interfaces as an option")


def test_errors_name_the_spec_values():
    spec = mutate({"/cluster/nodes/0/heartbeat_address": "192.0.2.250"}, SPEC)
    result = run_module("appliance_preflight", {"spec": spec, "host": "lb1"})
    assert result.get("failed"), result
    assert "192.0.2.250" in result["msg"], result["msg"]
    assert MASK not in result["msg"]


def test_secret_values_finds_secrets_at_any_depth():
    assert secret_values(SPEC) == {"s3cr3t"}
    assert secret_values({"a": [{"auth_secret": 12345678}], "auth_secret": None}) == {"12345678"}
    assert secret_values(None) == set()


def test_appliance_info_reads_the_expected_addresses_from_a_given_spec():
    result = run_module("appliance_info", {"spec": SPEC, "host": "lb1"})
    assert not result.get("failed"), result
    assert result["vrrp"]["expected"] == ["10.77.0.100"]
    assert "lbkit has not converged this appliance yet (no /etc/lbkit/state.json)." not in result["diagnosis"]


def test_appliance_info_refuses_a_host_that_is_not_a_node():
    result = run_module("appliance_info", {"spec": SPEC, "host": "lb9"})
    assert result.get("failed")
    assert result["errors"][0]["path"] == "/cluster/nodes"
    assert "host 'lb9' is not a node of cluster 't' (nodes: lb1, lb2)." in result["msg"]
    assert run_module("appliance_info", {"spec": SPEC}).get("failed"), "spec needs host"


# --- in process, with the commands answered by the test ------------------------------------

IP_JSON = json.dumps(
    [
        {"ifname": "lo", "addr_info": [{"local": "127.0.0.1", "prefixlen": 8}, {"local": "fe80::1", "prefixlen": 64}]},
        {"ifname": "eth0", "addr_info": [{"local": "192.168.10.11", "prefixlen": 24}]},
        {"ifname": "eth1", "addr_info": [{"local": "10.0.1.11", "prefixlen": 24}]},
    ]
)


def run_main(main, args, monkeypatch, capsys):
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, argv, **kw: (0, IP_JSON, ""))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, required=False, opt_dirs=None: "/usr/bin/" + name)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            main()
    return json.loads(capsys.readouterr().out)


def test_names_and_addresses_are_not_masked_in_process(monkeypatch, capsys):
    spec = mutate({"/cluster/ha/vrrp_version": 2, "/cluster/ha/advert_interval_ms": 1000, "/cluster/ha/auth_secret": "pw123"})
    result = run_main(appliance_preflight.main, {"spec": spec, "host": "lb9"}, monkeypatch, capsys)
    assert result["failed"]
    assert "host 'lb9' is not a node of cluster 'lb-prod' (nodes: lb1, lb2)" in result["msg"]
    assert result["interfaces"]["lo"] == ["127.0.0.1/8", "fe80::1/64"]
    assert "********" not in json.dumps(result)


def test_the_secret_is_masked_wherever_it_appears(monkeypatch, capsys):
    # A secret that is also part of an address shows how far the masking reaches.
    spec = mutate({"/cluster/ha/vrrp_version": 2, "/cluster/ha/advert_interval_ms": 1000, "/cluster/ha/auth_secret": "10.0.1.1"})
    result = run_main(appliance_preflight.main, {"spec": spec, "host": "lb1"}, monkeypatch, capsys)
    assert "10.0.1.1" not in json.dumps(result)
    assert result["interfaces"]["eth1"] == ["********1/24"]
    assert result["interfaces"]["eth0"] == ["192.168.10.11/24"]


@pytest.mark.parametrize(
    ("data", "secrets"),
    [
        ({"cluster": {"ha": {"auth_secret": "s3cret"}}}, {"s3cret"}),
        ({"cluster": {"ha": {"mode": "pair"}}}, set()),
        ({"cluster": {"ha": {"auth_secret": ""}}}, set()),
        ({"cluster": {"ha": "pair"}}, set()),
        ({"cluster": None}, set()),
        ([], set()),
        (None, set()),
    ],
)
def test_secret_values_of_partial_specs(data, secrets):
    assert secret_values(data) == secrets
