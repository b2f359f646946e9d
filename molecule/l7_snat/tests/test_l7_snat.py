"""l7_snat: HAProxy proxies the VIP to both real servers, with cookie persistence."""

import collections
import json
import os
import shutil
import subprocess
import time

import pytest

testinfra_hosts = ["ansible://client"]

VIP = "http://172.31.252.100/"


def get(host, *args):
    result = host.run("curl -sS --max-time 5 " + " ".join(args) + " " + VIP)
    assert result.rc == 0, result.stderr
    return result.stdout.strip()


def test_scheduler_spreads_new_clients_over_both_real_servers(host):
    answers = collections.Counter(get(host) for dummy in range(20))
    # weighted round robin with equal weights: strict alternation
    assert answers == {"rs1": 10, "rs2": 10}, answers


def test_active_cookie_keeps_a_client_on_one_real_server(host):
    host.run("rm -f /tmp/jar")
    first = get(host, "-c /tmp/jar -b /tmp/jar")
    answers = [get(host, "-c /tmp/jar -b /tmp/jar") for dummy in range(10)]
    assert answers == [first] * 10
    assert "LBKIT" in host.file("/tmp/jar").content_string


@pytest.fixture
def lb1(host):
    return host.get_host("ansible://lb1", ansible_inventory=host.backend.ansible_inventory)


def test_engines_and_files(lb1):
    assert lb1.service("haproxy").is_running
    assert lb1.service("keepalived").is_running
    state = lb1.file("/etc/lbkit/state.json")
    assert state.mode == 0o600
    assert "172.31.252.100/32" in lb1.check_output("ip -o address show dev eth0")


# 150 requests, one about every 20 ms, counting the ones that did not answer 200.
LOAD = """i=0; fail=0; rm -f /tmp/load.result
while [ $i -lt 150 ]; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 VIP)
  [ "$code" = 200 ] || fail=$((fail+1))
  i=$((i+1)); sleep 0.02
done
echo "$i $fail" > /tmp/load.result
""".replace("VIP", VIP)


def real_server(lb1, name, state, check=False, **extra):
    spec = lb1.ansible.get_variables()["lbkit_spec"]
    args = "spec='%s' service=web real_server=%s state=%s" % (json.dumps(spec), name, state)
    args += "".join(" %s=%s" % item for item in extra.items())
    return lb1.ansible("lbkit.loadbalancer.real_server", args, check=check)


def test_drain_without_a_failed_request(host, lb1):
    host.run("rm -f /tmp/jar")
    sticky = get(host, "-c /tmp/jar -b /tmp/jar")
    other = "rs2" if sticky == "rs1" else "rs1"
    host.run("cat > /tmp/load.sh <<'EOF'\n%sEOF" % LOAD)
    host.run("nohup sh /tmp/load.sh >/dev/null 2>&1 &")
    time.sleep(0.5)
    predicted = real_server(lb1, sticky, "drained", check=True)
    assert predicted["changed"] and predicted["before"] == "enabled"
    drained = real_server(lb1, sticky, "drained", wait="true", wait_timeout=30)
    assert drained["changed"] and drained["after"] == "drained" and drained["connections"] == 0
    assert not real_server(lb1, sticky, "drained")["changed"]
    # No new client reaches the drained server; its persistent client still does.
    assert set(get(host) for dummy in range(10)) == {other}
    assert get(host, "-c /tmp/jar -b /tmp/jar") == sticky
    assert real_server(lb1, sticky, "enabled")["changed"]
    for dummy in range(60):
        if host.file("/tmp/load.result").exists:
            break
        time.sleep(0.5)
    done, failed = map(int, host.file("/tmp/load.result").content_string.split())
    assert (done, failed) == (150, 0)


def assert_both_answer(host, requests=10):
    """Both real servers take new connections again: what an enabled server means. (Not an exact
    split: where round robin stands after a server returns is HAProxy's affair.)"""
    answers = collections.Counter(get(host) for dummy in range(requests))
    assert set(answers) == {"rs1", "rs2"} and sum(answers.values()) == requests, answers


def test_next_converge_restores_the_spec_state(host, lb1):
    real_server(lb1, "rs2", "halted")
    assert set(get(host) for dummy in range(6)) == {"rs1"}
    spec = lb1.ansible.get_variables()["lbkit_spec"]
    result = lb1.ansible("lbkit.loadbalancer.appliance", "spec='%s' host=lb1" % json.dumps(spec), check=False)
    assert result["summary"] == ["~ runtime rs2 172.31.252.22:8080 in web: state halted -> enabled"]
    assert_both_answer(host)


def playbook(*extra):
    """Run playbooks/real_server.yml against the scenario's inventory, as a user would."""
    project = os.environ["MOLECULE_PROJECT_DIRECTORY"]
    argv = [shutil.which("ansible-playbook"), "-i", os.environ["MOLECULE_INVENTORY_FILE"], os.path.join(project, "playbooks", "real_server.yml")]
    for item in extra:
        argv += ["-e", item]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, cwd=project)
    return result.returncode, result.stdout + result.stderr


def test_operations_playbook_drains_and_enables(host):
    rc, out = playbook("service=web", "real_server=rs2", "state=halted", "wait=true", "wait_timeout=30")
    assert rc == 0, out
    assert set(get(host) for dummy in range(6)) == {"rs1"}
    rc, out = playbook("service=web", "real_server=rs2", "state=enabled")
    assert rc == 0, out
    assert_both_answer(host)
    rc, out = playbook("service=web", "real_server=rs2")
    assert rc != 0 and "Give -e service=NAME" in out
