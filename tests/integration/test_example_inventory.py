"""The example GitOps inventory: it validates, its secrets are vaulted, it covers the manuals' scenarios."""

import subprocess

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .tools import REPO_ROOT, run, tool, tool_env

EXAMPLE = REPO_ROOT / "inventory" / "example"
PASSWORD = "lbkit-example"
VAULTED = ["group_vars/all/vault.yml", "files/shop.example.com.key"]


def validate(password):
    env = tool_env()
    env.pop("LBKIT_VAULT_PASSWORD", None)
    if password:
        env["LBKIT_VAULT_PASSWORD"] = password
    return run([tool("ansible-playbook"), "-i", EXAMPLE / "hosts.yml", REPO_ROOT / "playbooks" / "validate.yml",
                "--vault-password-file", EXAMPLE / "vault-password"], cwd=REPO_ROOT, env=env)


def test_example_inventory_validates():
    result = validate(PASSWORD)
    assert result.returncode == 0, result.stdout
    assert "lb1: the spec is valid: 3 virtual services, 6 real servers." in result.stdout
    assert "lb2: the spec is valid: 3 virtual services, 6 real servers." in result.stdout


def test_without_the_vault_password_it_says_what_to_set():
    result = validate(None)
    assert result.returncode != 0
    assert "set LBKIT_VAULT_PASSWORD" in result.stdout


def test_secrets_are_vaulted_and_decrypt_to_a_key_matching_the_certificate():
    for name in VAULTED:
        assert (EXAMPLE / name).read_text().startswith("$ANSIBLE_VAULT;1.1;AES256\n"), name
    key = subprocess.run(
        [tool("ansible-vault"), "view", "--vault-password-file", str(EXAMPLE / "vault-password"), str(EXAMPLE / VAULTED[1])],
        capture_output=True, check=True, env=tool_env(LBKIT_VAULT_PASSWORD=PASSWORD), cwd=REPO_ROOT,
    ).stdout
    private = serialization.load_pem_private_key(key, password=None)
    cert = x509.load_pem_x509_certificate((EXAMPLE / "files" / "shop.example.com.pem").read_bytes())
    assert cert.public_key().public_numbers() == private.public_key().public_numbers()
    assert b"PRIVATE KEY" not in (EXAMPLE / VAULTED[1]).read_bytes()


def test_spec_covers_the_manuals_scenarios():
    with open(EXAMPLE / "group_vars" / "all" / "lbkit_spec.yml") as handle:
        spec = yaml.safe_load(handle)["lbkit_spec"]
    kinds = set()
    for vs in spec["virtual_services"]:
        if vs["layer"] == 4:
            kinds.add("layer 4 " + vs["forwarding"])
        elif vs["persistence"]["mode"] == "active_cookie" and "tls" in vs["layer7"]:
            kinds.add("layer 7 cookie tls")
    assert kinds == {"layer 4 dr", "layer 4 nat", "layer 7 cookie tls"}
    cluster = spec["cluster"]
    assert cluster["ha"]["mode"] == "pair" and [f["gateway"] for f in cluster["floating_ips"]] == [True]
    assert cluster["ha"]["auth_secret"] == "{{ vault_vrrp_secret }}"


def test_pipeline_validates_plans_merge_requests_and_converges_main():
    with open(EXAMPLE / ".gitlab-ci.yml") as handle:
        jobs = yaml.safe_load(handle)
    assert jobs["stages"] == ["validate", "plan", "converge"]
    assert "lbkit.loadbalancer.validate" in jobs["validate"]["script"][0] and "rules" not in jobs["validate"]
    assert "--check --diff" in jobs["plan"]["script"][0]
    assert jobs["plan"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert "lbkit.loadbalancer.site" in jobs["converge"]["script"][0] and "--check" not in jobs["converge"]["script"][0]
    assert jobs["converge"]["rules"] == [{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}]


def test_the_loadmaster_pair_validates_with_its_own_spec_and_a_vaulted_api_key():
    result = validate(PASSWORD)
    assert result.returncode == 0, result.stdout
    assert "lm-pair: the spec is valid: 2 virtual services, 4 real servers." in result.stdout
    with open(EXAMPLE / "hosts.yml") as handle:
        host = yaml.safe_load(handle)["loadmasters"]["hosts"]["lm-pair"]
    assert host["ansible_loadmaster_api_key"] == "{{ vault_lm_api_key }}"
    assert host["ansible_network_os"] == "lbkit.loadbalancer.loadmaster" and host["ansible_httpapi_use_ssl"] is True
    with open(EXAMPLE / "host_vars" / "lm-pair" / "lbkit_spec.yml") as handle:
        cluster = yaml.safe_load(handle)["lbkit_spec"]["cluster"]
    assert cluster["engine"] == "loadmaster" and cluster["ha"]["mode"] == "pair"
