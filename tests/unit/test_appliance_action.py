"""The appliance action plugin: the TLS material the spec names, read on the controller."""

import os

import pytest
from ansible.errors import AnsibleFileNotFound
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import VaultLib, VaultSecret

from ansible_collections.lbkit.loadbalancer.plugins.action.appliance import ActionModule


def action(tmp_path, vault=None):
    """The plugin with Ansible's own loader, looking for files as copy's src is looked for (here: tmp_path)."""
    plugin = ActionModule.__new__(ActionModule)
    plugin._loader = DataLoader()
    if vault is not None:
        plugin._loader.set_vault_secrets([("default", vault)])

    def find_needle(dirname, needle):
        path = needle if os.path.isabs(needle) else os.path.join(str(tmp_path), dirname, needle)
        if not os.path.exists(path):
            raise AnsibleFileNotFound("Could not find or access '%s'" % needle)
        return path

    plugin._find_needle = find_needle
    return plugin


def spec(tls):
    return {"virtual_services": [{"name": "web", "layer": 7}, {"name": "shop", "layer7": {"tls": tls}}, "junk", {"layer7": "x"}]}


def test_reads_certificate_and_key_from_files(tmp_path):
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "shop.pem").write_text("CERT\n")
    (tmp_path / "files" / "shop.key").write_text("KEY\n")
    material, problems = action(tmp_path).tls_material(spec({"certificate": "shop.pem", "key": "shop.key"}))
    assert problems == [] and material == {"shop": {"certificate": "CERT\n", "key": "KEY\n"}}


def test_a_vaulted_key_is_decrypted(tmp_path):
    secret = VaultSecret(b"pw")
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "shop.pem").write_text("CERT\n")
    (tmp_path / "files" / "shop.key").write_bytes(VaultLib([("default", secret)]).encrypt("PRIVATE KEY\n"))
    material, problems = action(tmp_path, secret).tls_material(spec({"certificate": "shop.pem", "key": "shop.key"}))
    assert problems == [] and material["shop"]["key"] == "PRIVATE KEY\n"


def test_a_missing_file_names_its_field_and_the_fix(tmp_path):
    material, problems = action(tmp_path).tls_material(spec({"certificate": "nope.pem", "key": "nope.key"}))
    assert material == {}
    assert problems[0].startswith("/virtual_services/1/layer7/tls/certificate: nope.pem cannot be read on the controller")
    assert "Fix: give the path of the PEM file" in problems[0] and len(problems) == 2


@pytest.mark.parametrize("data", [None, [], {"virtual_services": "x"}, {"virtual_services": [{"name": 1, "layer7": {"tls": {}}}]}])
def test_a_malformed_spec_is_left_to_the_module(tmp_path, data):
    assert action(tmp_path).tls_material(data) == ({}, [])


def test_a_spec_given_as_json_text_is_read_as_the_module_reads_it(tmp_path):
    import json

    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "shop.pem").write_text("CERT\n")
    (tmp_path / "files" / "shop.key").write_text("KEY\n")
    text = json.dumps(spec({"certificate": "shop.pem", "key": "shop.key"}))
    assert action(tmp_path).tls_material(text) == ({"shop": {"certificate": "CERT\n", "key": "KEY\n"}}, [])
    assert action(tmp_path).tls_material("{not json") == ({}, [])
