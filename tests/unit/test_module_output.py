"""Module results show the spec's names and addresses, and mask only its secret.

Runs the modules' real AnsibleModule (its exit_json/fail_json and their masking), with only
the commands they run answered by the test.
"""

import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.secrets import spec_secrets
from ansible_collections.lbkit.loadbalancer.plugins.modules import appliance_preflight

from .specs import mutate

IP_JSON = json.dumps(
    [
        {"ifname": "lo", "addr_info": [{"local": "127.0.0.1", "prefixlen": 8}, {"local": "fe80::1", "prefixlen": 64}]},
        {"ifname": "eth0", "addr_info": [{"local": "192.168.10.11", "prefixlen": 24}]},
        {"ifname": "eth1", "addr_info": [{"local": "10.0.1.11", "prefixlen": 24}]},
    ]
)


def run_module(main, args, monkeypatch, capsys):
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, argv, **kw: (0, IP_JSON, ""))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, required=False, opt_dirs=None: "/usr/bin/" + name)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            main()
    return json.loads(capsys.readouterr().out)


def test_names_and_addresses_are_not_masked(monkeypatch, capsys):
    spec = mutate({"/cluster/ha/vrrp_version": 2, "/cluster/ha/advert_interval_ms": 1000, "/cluster/ha/auth_secret": "pw123"})
    result = run_module(appliance_preflight.main, {"spec": spec, "host": "lb9"}, monkeypatch, capsys)
    assert result["failed"]
    assert "host 'lb9' is not a node of cluster 'lb-prod' (nodes: lb1, lb2)" in result["msg"]
    assert result["interfaces"]["lo"] == ["127.0.0.1/8", "fe80::1/64"]
    assert "********" not in json.dumps(result)


def test_the_secret_is_masked_wherever_it_appears(monkeypatch, capsys):
    # A secret that is also part of an address shows how far the masking reaches.
    spec = mutate({"/cluster/ha/vrrp_version": 2, "/cluster/ha/advert_interval_ms": 1000, "/cluster/ha/auth_secret": "10.0.1.1"})
    result = run_module(appliance_preflight.main, {"spec": spec, "host": "lb1"}, monkeypatch, capsys)
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
def test_spec_secrets(data, secrets):
    assert spec_secrets(data) == secrets
