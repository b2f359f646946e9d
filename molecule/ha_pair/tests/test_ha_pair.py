"""ha_pair: the VIP follows the VRRP master; a hard failure fails over and back; split brain is diagnosed."""

import os
import shutil
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "collections"))
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.diagnosis import cluster_diagnosis  # noqa: E402

testinfra_hosts = ["ansible://client"]

VIP = "172.31.253.100"
URL = "http://%s/" % VIP
# One request about every 20 ms; each line: the time in ms and the HTTP code (000: failed).
LOAD = """rm -f /tmp/load.out /tmp/load.done
i=0
while [ $i -lt COUNT ]; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 0.5 URL)
  echo "$(date +%s%3N) $code" >> /tmp/load.out
  i=$((i+1)); sleep 0.02
done
touch /tmp/load.done
"""


def other(host, name):
    return host.get_host("ansible://" + name, ansible_inventory=host.backend.ansible_inventory)


def holds_vip(node):
    return (" %s/32 " % VIP) in node.check_output("ip -o address show")


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def start_load(host, count):
    script = LOAD.replace("COUNT", str(count)).replace("URL", URL)
    host.run("cat > /tmp/load.sh <<'EOF'\n%sEOF" % script)
    host.run("nohup sh /tmp/load.sh >/dev/null 2>&1 &")


def outage(host):
    """(longest run of failed requests in seconds, failed count, total) of the finished load."""
    assert wait_for(lambda: host.file("/tmp/load.done").exists, 120)
    rows = [line.split() for line in host.file("/tmp/load.out").content_string.splitlines()]
    longest, start, failed = 0.0, None, 0
    last_ok = int(rows[0][0])
    for stamp, code in rows:
        if code == "200":
            if start is not None:
                longest = max(longest, (int(stamp) - last_ok) / 1000.0)
                start = None
            last_ok = int(stamp)
        else:
            failed += 1
            start = start or int(stamp)
    assert start is None, "the service did not come back before the load ended"
    return longest, failed, len(rows)


def diagnose():
    """Run playbooks/diagnose.yml against the scenario's inventory, as a user would."""
    project = os.environ["MOLECULE_PROJECT_DIRECTORY"]
    result = subprocess.run(
        [shutil.which("ansible-playbook"), "-i", os.environ["MOLECULE_INVENTORY_FILE"], os.path.join(project, "playbooks", "diagnose.yml")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=project,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def info(node):
    return node.ansible("lbkit.loadbalancer.appliance_info", "", check=False)


@pytest.fixture
def lb1(host):
    return other(host, "lb1")


@pytest.fixture
def lb2(host):
    return other(host, "lb2")


def test_vip_on_the_master_only(lb1, lb2):
    assert holds_vip(lb1) and not holds_vip(lb2)
    one, two = info(lb1), info(lb2)
    assert (one["vrrp"]["state"], two["vrrp"]["state"]) == ("MASTER", "BACKUP")
    assert one["vrrp"]["held"] == [VIP] and two["vrrp"]["held"] == []
    assert cluster_diagnosis({"lb1": one, "lb2": two}) == []
    out = diagnose()
    assert "The cluster looks healthy." in out and "VRRP MASTER, holds %s" % VIP in out and "VRRP BACKUP, holds nothing" in out


def test_both_real_servers_answer_through_the_vip(host):
    answers = set(host.check_output("curl -sS --max-time 5 %s" % URL) for dummy in range(6))
    assert answers == {"rs1", "rs2"}


def test_hard_failure_of_the_master_fails_over_and_back(host, lb1, lb2):
    start_load(host, 500)
    time.sleep(1)
    lb1.run("ip link set eth0 down")
    try:
        assert wait_for(lambda: holds_vip(lb2)), "the backup did not take the VIP"
        time.sleep(3)
    finally:
        lb1.run("ip link set eth0 up")
    longest, failed, total = outage(host)
    print("failover: longest outage %.2f s, %d of %d requests failed" % (longest, failed, total))
    assert longest < 5.0
    # preempt: the preferred master takes the VIP back once its link is up.
    assert wait_for(lambda: holds_vip(lb1) and not holds_vip(lb2), 30), "no failback"
    start_load(host, 100)
    longest, failed, total = outage(host)
    print("after failback: longest outage %.2f s, %d of %d requests failed" % (longest, failed, total))
    assert failed == 0


def test_heartbeat_cut_is_reported_as_split_brain(lb1, lb2):
    lb2.run("nft add table inet lbkit_test")
    lb2.run("nft 'add chain inet lbkit_test input { type filter hook input priority 0; }'")
    lb2.run("nft add rule inet lbkit_test input ip protocol vrrp drop")
    try:
        assert wait_for(lambda: holds_vip(lb2)), "lb2 did not take over without heartbeats"
        diagnosis = cluster_diagnosis({"lb1": info(lb1), "lb2": info(lb2)})
        assert diagnosis == ["split brain: %s is held by lb1 and lb2 at once; the nodes do not hear each other's heartbeat." % VIP]
        assert "split brain: %s is held by lb1 and lb2 at once" % VIP in diagnose()
    finally:
        lb2.run("nft delete table inet lbkit_test")
    assert wait_for(lambda: holds_vip(lb1) and not holds_vip(lb2), 30)


def test_master_that_cannot_reach_its_ping_node_hands_over(lb1, lb2):
    lb1.run("nft add table inet lbkit_test")
    lb1.run("nft 'add chain inet lbkit_test output { type filter hook output priority 0; }'")
    lb1.run("nft add rule inet lbkit_test output ip daddr 172.31.253.30 icmp type echo-request drop")
    try:
        assert wait_for(lambda: holds_vip(lb2) and not holds_vip(lb1), 20), "lb1 kept the VIP without its ping node"
        assert info(lb1)["vrrp"]["state"] == "FAULT"
    finally:
        lb1.run("nft delete table inet lbkit_test")
    assert wait_for(lambda: holds_vip(lb1) and not holds_vip(lb2), 30), "lb1 did not take the VIP back"
