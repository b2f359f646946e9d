"""playbooks/validate.yml as a CI gate: every error with its path, non-zero exit; 0 when valid."""

import os
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(ROOT, "playbooks", "validate.yml")
EXAMPLE = os.path.join(ROOT, "schemas", "examples", "ha-pair.yml")


def run_playbook(*args):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    return subprocess.run([playbook, PLAYBOOK] + list(args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_valid_spec_exits_zero():
    result = run_playbook("-e", "lbkit_spec_file=" + EXAMPLE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the spec is valid: 3 virtual services, 6 real servers." in result.stdout


def test_every_mistake_is_listed_with_its_path(tmp_path):
    with open(EXAMPLE) as handle:
        spec = yaml.safe_load(handle)
    spec["cluster"]["nodes"][1]["priority"] = 150
    spec["cluster"]["ha"]["auth_secret"] = "vrrp-pw"
    spec["virtual_services"][0]["real_servers"][0]["port"] = 8080
    spec["virtual_services"][1]["real_servers"][0]["min_connections"] = 5
    spec["virtual_services"][2]["persistence"] = {"mode": "udp_sip"}
    spec["virtual_services"][2]["protocl"] = "tcp"
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump(spec))
    result = run_playbook("-e", "lbkit_spec_file=%s" % bad)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "the spec has 6 errors:" in out
    for path in (
        "/cluster/ha/auth_secret:",
        "/cluster/nodes/1/priority:",
        "/virtual_services/0/real_servers/0/port:",
        "/virtual_services/1/real_servers/0/min_connections:",
        "/virtual_services/2/persistence/mode:",
        "/virtual_services/2/protocl:",
    ):
        assert path in out, path
    assert "vrrp-pw" not in out


def test_inventory_specs_are_validated(tmp_path):
    with open(EXAMPLE) as handle:
        spec = yaml.safe_load(handle)
    inventory = tmp_path / "hosts.yml"
    broken = dict(spec, virtual_services=[dict(spec["virtual_services"][0], port=0)])
    inventory.write_text(
        yaml.safe_dump(
            {
                "appliances": {
                    "hosts": {"lb1": {"lbkit_spec": spec}, "lb2": {"lbkit_spec": broken}},
                }
            }
        )
    )
    result = run_playbook("-i", str(inventory))
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "/virtual_services/0/port: 0 is out of range." in out
    assert "(item=lb1)" in out and "(item=lb2)" in out


def test_nothing_to_validate_is_an_error():
    result = run_playbook()
    assert result.returncode != 0
    assert "Nothing to validate" in result.stdout + result.stderr


def test_lab_spec_is_valid_with_and_without_layer_4():
    """The lab's spec as the lab templates it: layer 7 and the pair, plus layer 4 where the kernel has IPVS."""
    lab = os.path.join(ROOT, "inventory", "lab")
    for layer4, summary in (("false", "4 virtual services, 8 real servers"), ("true", "6 virtual services, 11 real servers")):
        result = run_playbook("-i", lab, "--vault-password-file", lab + "-vault-password", "-e", '{"lab_layer4": %s}' % layer4)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "lb1: the spec is valid: %s." % summary in result.stdout
