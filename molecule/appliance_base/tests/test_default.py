"""Checks for the appliance_base scenario (testinfra, run by molecule's verify step)."""

import json

import pytest
from testinfra.modules.ansible import AnsibleException

testinfra_hosts = ["ansible://lb1"]


@pytest.mark.parametrize("name", ["keepalived", "haproxy"])
def test_engine_package_installed(host, name):
    assert host.package(name).is_installed


def test_state_directory(host):
    state = host.file("/etc/lbkit")
    assert state.is_directory
    assert state.mode == 0o700
    assert state.user == "root"
    assert state.group == "root"


def test_systemd_is_pid1_and_booted(host):
    assert host.check_output("cat /proc/1/comm") == "systemd"
    # is-system-running exits non-zero when degraded: judge its output, not its exit code.
    state = host.run("systemctl is-system-running").stdout.strip()
    failed = ""
    if state == "degraded":
        failed = host.run("systemctl --failed --no-legend --plain").stdout
        print(f"failed units:\n{failed}")
    assert state in ("running", "degraded"), f"systemd state {state!r}\n{failed}"


def test_proc_sys_is_writable(host):
    # keepalived/HAProxy nodes need sysctls; the container entrypoint remounts /proc/sys rw.
    with host.sudo():
        result = host.run("sysctl -w net.ipv4.ip_nonlocal_bind=1")
    assert result.rc == 0, result.stderr
    assert host.file("/proc/sys/net/ipv4/ip_nonlocal_bind").content_string.strip() == "1"


def _preflight(host, vip):
    spec = {
        "cluster": {"name": "base", "nodes": [{"host": "lb1"}]},
        "virtual_services": [{"name": "web", "address": vip, "port": 80, "real_servers": [{"address": "172.31.250.21", "port": 8080}]}],
    }
    try:
        return host.ansible("lbkit.loadbalancer.appliance_preflight", "spec='%s' host=lb1" % json.dumps(spec), check=True)
    except AnsibleException as exc:
        return exc.result


def test_preflight_passes_and_reports_the_host(host):
    result = _preflight(host, "172.31.251.10")
    assert result["errors"] == [], result
    assert "172.31.250.10/24" in result["interfaces"]["eth0"]
    # This kernel has no IPVS; the preflight must say so rather than guess.
    assert result["ipvs"] == {"loaded": False, "available": False}


def test_preflight_refuses_a_vip_that_is_the_appliances_own_address(host):
    result = _preflight(host, "172.31.250.10")
    # (testinfra's runner drops the 'failed' key; the errors and the message are what count)
    assert [e["path"] for e in result["errors"]] == ["/virtual_services/0/address"]
    assert "172.31.250.10 is an address of interface eth0 on lb1" in result["msg"]


@pytest.mark.parametrize("name", ["ping-any", "vrrp-notify"])
def test_keepalived_helpers_are_roots_and_executable(host, name):
    # keepalived's script security runs them only so; the appliance module writes them.
    helper = host.file("/usr/local/libexec/lbkit/" + name)
    assert helper.is_file and helper.mode == 0o755
    assert helper.user == "root" and helper.group == "root"
    assert helper.content_string.startswith("#!/bin/sh\n# Installed by lbkit.loadbalancer.")


def test_keepalived_runs_vrrp_only_without_layer4_services(host):
    # The scenario's spec has layer-7 services only.
    assert host.file("/etc/default/keepalived").content_string == '# Managed by lbkit.loadbalancer.\nDAEMON_ARGS="--vrrp"\n'
    assert "--vrrp" in host.check_output("ps -o args= -C keepalived")


@pytest.mark.parametrize("name", ["keepalived", "haproxy"])
def test_the_engines_start_at_boot(host, name):
    assert host.service(name).is_enabled and host.service(name).is_running
