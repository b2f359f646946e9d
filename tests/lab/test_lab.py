"""The embedded lab end to end, through the README's command (scripts/lab), step by step.

up -> site.yml -> site.yml again (no change) -> a runtime drain the report shows and an
enable -> the failover drill -> down (nothing of the lab left). scripts/lab installs and starts
what it needs (venv, Docker engine, image), as on a fresh machine. Along the way the lab's real
Prometheus server (on the client) shows what each step did to the appliances' metrics.

The lab's names and addresses (lbkit-lab-*, 172.30.77.0/24, 172.30.78.0/24) differ from the
molecule scenarios', so both can run on one machine; a lab that is already up is left alone and
the test fails, saying so. Each step's output is kept in .cache/lab-test/<step>.log.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "scripts" / "lab"
LOGS = ROOT / ".cache" / "lab-test"
LABEL = "org.lbkit.lab=lbkit-lab"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
IPVS = os.path.exists("/proc/net/ip_vs")


def lab(step, *args, reports, timeout=1200):
    """Run scripts/lab; return (exit status, output). The output is also logged."""
    LOGS.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, LBKIT_LAB_REPORTS=str(reports), ANSIBLE_NOCOLOR="1", NO_COLOR="1")
    proc = subprocess.Popen([str(LAB), *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", start_new_session=True)
    try:
        out = proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        # the whole group: ansible-playbook and its workers too
        os.killpg(proc.pid, signal.SIGKILL)
        out = proc.communicate()[0] + "\n*** killed after %ds ***\n" % timeout
    (LOGS / ("%s.log" % step)).write_text(out)
    return proc.returncode, out


def tail(out, lines=80):
    return "\n".join(out.splitlines()[-lines:])


def recap(out):
    """{host: (ok, changed, unreachable, failed)} of the last PLAY RECAP in the output."""
    last = out.rsplit("PLAY RECAP", 1)[-1]
    return dict((m.group(1), tuple(int(m.group(i)) for i in range(2, 6))) for m in RECAP.finditer(last))


def docker(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout.split()


def in_container(name, *argv):
    """A command in one of the lab's containers: its standard output."""
    return subprocess.run(["docker", "exec", name, *argv], capture_output=True, text=True, check=True).stdout


def web_log(name, probe):
    """The client address a lab real server's web service logged for the request whose query is ``probe``
    (journald may write the line a moment after the answer)."""
    def logged():
        text = in_container(name, "journalctl", "-u", "lbkit-lab-web", "--no-pager", "-o", "cat")
        return [line for line in text.splitlines() if "?" + probe + " " in line]
    lines = until("%s's log of %s" % (name, probe), logged, timeout=30)
    assert len(lines) == 1, (probe, lines)
    return lines[0].split()[0]


def outbound_source(probe):
    """The source addresses the client's listener (the outbound NAT check) logged for ``probe``."""
    def logged():
        return [line.split()[0] for line in client("cat", "/tmp/outbound.log").splitlines() if "?" + probe + " " in line]
    return until("the client's log of " + probe, logged, timeout=30)


def client(*argv):
    """A command on the lab's client (its Prometheus server and its curl): its standard output."""
    return in_container("lbkit-lab-client", *argv)


def promql(query):
    """[(labels, value)] of an instant query to the lab's Prometheus server."""
    answer = json.loads(client("curl", "-s", "--get", "--data-urlencode", "query=" + query, "http://localhost:9090/api/v1/query"))
    assert answer["status"] == "success", answer
    return [(row["metric"], float(row["value"][1])) for row in answer["data"]["result"]]


def adaptive_weights(condition=None):
    """web-adaptive's weights on lb1 ({real server: weight}) as lbkit's series give them to Prometheus,
    when both real servers have one and ``condition`` holds for them; else None."""
    weights = dict((labels["real_server"], value) for labels, value in promql('lbkit_real_server_weight{host="lb1",service="web-adaptive"}'))
    return weights if len(weights) == 2 and (condition is None or condition(weights)) else None


def until(what, probe, timeout=90):
    """``probe()``'s first true answer, polled each second: Prometheus sees a change on its next scrapes."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            pytest.fail("%s: not seen within %d s (last answer: %r)" % (what, timeout, answer), pytrace=False)
        time.sleep(1)


def one(query):
    """The value of a query with one result (None while it has none)."""
    rows = promql(query)
    assert len(rows) <= 1, rows
    return rows[0][1] if rows else None


def steady(query):
    """The value once two reads three scrapes apart agree (nothing changing it)."""
    def probe():
        first = one(query)
        time.sleep(6)
        return (first,) if first is not None and one(query) == first else None
    return until("a steady value of %s" % query, probe)[0]


def firing(name):
    """The labels of each firing alert ``name`` of the lab's Prometheus server."""
    alerts = json.loads(client("curl", "-s", "http://localhost:9090/api/v1/alerts"))["data"]["alerts"]
    return [a["labels"] for a in alerts if a["labels"]["alertname"] == name and a["state"] == "firing"]


def status_password():
    """The status page's password, from the lab's vault."""
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-vault"), "view", "--vault-password-file", str(ROOT / "inventory" / "lab-vault-password"),
                          str(ROOT / "inventory" / "lab" / "group_vars" / "all" / "vault.yml")], capture_output=True, text=True, check=True).stdout
    return out.split("vault_lab_status_password:", 1)[1].strip()


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """A lab of the test's own, removed at the end whatever happened."""
    path = tmp_path_factory.mktemp("lab-reports")
    engine = subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0
    if engine and docker("ps", "-aq", "--filter", "label=" + LABEL):
        pytest.fail("a lab is already up (containers labelled %s); the test needs its own: ./scripts/lab down first" % LABEL,
                    pytrace=False)
    yield path
    lab("teardown", "down", reports=path, timeout=600)


def read(reports, name):
    with open(reports / name) as handle:
        return json.load(handle)


@pytest.mark.lab
@pytest.mark.slow
def test_lab_up_converge_twice_drain_drill_down(reports):
    rc, out = lab("up", "up", reports=reports, timeout=2400)
    assert rc == 0, tail(out)
    names = sorted(docker("ps", "--filter", "label=" + LABEL, "--format", "{{.Names}}"))
    assert names == ["lbkit-lab-client", "lbkit-lab-lb1", "lbkit-lab-lb2", "lbkit-lab-rs1", "lbkit-lab-rs2", "lbkit-lab-rs3"]

    # site.yml: validate, appliances (backup first), real servers, the change table, verify.
    rc, out = lab("converge-1", "converge", reports=reports)
    assert rc == 0, tail(out)
    first = recap(out)
    assert set(first) >= {"lb1", "lb2", "rs1", "rs2", "rs3", "client", "localhost"}
    assert all(failed == 0 and unreachable == 0 for ok, changed, unreachable, failed in first.values()), first
    assert first["lb1"][1] > 0 and first["lb2"][1] > 0, first
    assert "+ virtual service web (172.30.77.100:80/tcp)" in out and "Changes made by this run" in out

    verify = read(reports, "verify.json")
    traffic, ha = verify["traffic"], verify["ha"]
    services = dict((s["service"], s) for s in traffic["services"])
    assert sorted(services) == sorted(["web", "web-transparent", "web-adaptive", "shop"] + (["web-dr", "app-nat"] if IPVS else []))
    assert traffic["ok"] and traffic["problems"] == []
    for svc in traffic["services"]:
        assert svc["requests"] and all(r["ok"] for r in svc["requests"]), svc
        for rs in svc["real_servers"]:
            # every enabled real server answered, named by its own responses...
            assert rs["state"] == "enabled" and rs["answered"] and rs["answers"] > 0, (svc["service"], rs)
            # ...and the appliances' counters saw exactly those requests (nothing else runs in the lab)
            assert rs["sessions"] == rs["answers"], (svc["service"], rs)
    assert sorted(services["web"]["real_servers"][i]["name"] for i in range(3)) == ["rs1", "rs2", "rs3"]
    sticky = [r["answer"] for r in services["shop"]["requests"] if r["cookie"]]
    assert len(sticky) == 3 and len(set(sticky)) == 1
    assert ha["ok"] and sorted(n["state"] for n in ha["nodes"]) == ["BACKUP", "MASTER"]
    master = ha["master"]
    assert master == "lb1", "a fresh pair converges its preferred master (lb1, priority 150) first, so it is the master: %s" % ha
    assert set(next(n for n in ha["nodes"] if n["node"] == master)["holds"]) == {"172.30.77.100", "172.30.78.254"} | (
        {"172.30.77.101", "172.30.77.102"} if IPVS else set())
    note = verify["notes"][0]
    assert note.startswith("Layer 4: included.") if IPVS else note.startswith("Layer 4: left out. This kernel has no IPVS")
    assert "Requests through the VIPs" in out and "HA state (HA pair)" in out and note.split(".")[0] in out

    # Transparency: rs3 (on the back network) sees the client's own address and answers it through the
    # gateway floating IP; rs3 itself, a client on the real servers' subnet, is proxied from the master's own address.
    assert client("curl", "-s", "http://172.30.77.100:81/?transparent-probe").strip() == "rs3"
    assert web_log("lbkit-lab-rs3", "transparent-probe") == "172.30.77.30"
    assert in_container("lbkit-lab-rs3", "curl", "-s", "http://172.30.77.100:81/?local-probe").strip() == "rs3"
    assert web_log("lbkit-lab-rs3", "local-probe") == "172.30.78.11"
    routes = in_container("lbkit-lab-lb1", "ip", "rule", "show")
    assert "fwmark 0x4c42 lookup 4242" in routes, routes

    # Outbound NAT: rs3's own connections to the front network leave from web-transparent's VIP
    # (use_for_server_nat); another address on the back network leaves from the master's front
    # address (autonat). The client listens; without the translation it could not answer (its
    # network has no route to the back one).
    subprocess.run(["docker", "exec", "-d", "lbkit-lab-client", "sh", "-c",
                    "exec python3 -m http.server 8000 --bind 172.30.77.30 --directory /srv > /tmp/outbound.log 2>&1"], check=True)
    until("the client's listener", lambda: client("sh", "-c", "ss -ltn | grep -c 172.30.77.30:8000 || true").strip() == "1", timeout=30)
    assert in_container("lbkit-lab-rs3", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
                        "http://172.30.77.30:8000/?server-nat-probe") == "200"
    in_container("lbkit-lab-rs3", "ip", "address", "add", "172.30.78.24/24", "dev", "eth0")
    try:
        assert in_container("lbkit-lab-rs3", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", "--interface", "172.30.78.24",
                            "http://172.30.77.30:8000/?autonat-probe") == "200"
    finally:
        in_container("lbkit-lab-rs3", "ip", "address", "del", "172.30.78.24/24", "dev", "eth0")
    assert outbound_source("server-nat-probe") == ["172.30.77.100"]
    assert outbound_source("autonat-probe") == ["172.30.77.11"]

    # Adaptive scheduling: the realserver role runs the load agent on web-adaptive's real servers only.
    # rs1 made busy (given a CPU limit, as a container often has, and a CPU loop that fills it) gets a
    # smaller share of new connections than idle rs2, and its whole weight back once idle again.
    assert in_container("lbkit-lab-rs1", "systemctl", "is-active", "lbkit-load-agent").strip() == "active"
    assert subprocess.run(["docker", "exec", "lbkit-lab-rs3", "systemctl", "is-active", "lbkit-load-agent"], capture_output=True,
                          check=False).returncode != 0
    until("rs1 and rs2 at their whole weight", lambda: adaptive_weights(lambda w: min(w.values()) >= 90))
    docker("update", "--cpu-period", "100000", "--cpu-quota", "25000", "lbkit-lab-rs1")
    subprocess.run(["docker", "exec", "-d", "lbkit-lab-rs1", "sh", "-c", "echo $$ > /run/lbkit-lab-busy.pid; exec timeout 300 python3 -c 'while True: pass'"],
                   check=True)
    try:
        busy = until("rs1's weight lowered by its load", lambda: adaptive_weights(lambda w: 2 * w["rs1"] <= w["rs2"]))
        answers = client("sh", "-c", "for i in $(seq 20); do curl -s --max-time 10 http://172.30.77.100:82/; done").split()
        assert len(answers) == 20 and set(answers) <= {"rs1", "rs2"}, answers
        assert answers.count("rs1") < answers.count("rs2"), (answers, busy)
    finally:
        in_container("lbkit-lab-rs1", "sh", "-c", "kill $(cat /run/lbkit-lab-busy.pid); rm -f /run/lbkit-lab-busy.pid")
        docker("update", "--cpu-quota", "-1", "lbkit-lab-rs1")
    until("rs1 back at its whole weight", lambda: adaptive_weights(lambda w: w["rs1"] >= 90))

    # Monitoring: the client's Prometheus scrapes both appliances' endpoints; each serves the allowed
    # source only, its status page only with the vault's password.
    until("every scrape target up", lambda: sorted((r["job"], r["instance"], v) for r, v in promql('up{job=~"lbkit-.*"}')) == [
        ("lbkit-haproxy", "172.30.77.11:9101", 1.0), ("lbkit-haproxy", "172.30.77.12:9101", 1.0),
        ("lbkit-node", "172.30.77.11:9101", 1.0), ("lbkit-node", "172.30.77.12:9101", 1.0)])
    for page in ("/metrics", "/node/metrics"):
        status = subprocess.run(["docker", "exec", "lbkit-lab-rs1", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://172.30.77.11:9101" + page],
                                capture_output=True, text=True, check=False).stdout
        assert status == "403", "a source the spec does not allow read %s: %s" % (page, status)
    assert client("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://172.30.77.11:9101/stats") == "401"
    password = status_password()
    page = client("curl", "-s", "-u", "operator:" + password, "http://172.30.77.11:9101/stats")
    assert "vs_web" in page and "Statistics Report" in page
    # No credential in any series: the status page's password appears nowhere in what is scraped.
    for page in ("/metrics", "/node/metrics"):
        scraped = client("curl", "-s", "http://172.30.77.11:9101" + page)
        assert "lbkit_vrrp_state" in scraped or "haproxy_process" in scraped
        assert password not in scraped, page
    # The TLS service offers HTTP/2 (ALPN) and still speaks HTTP/1.1.
    for flag, version in (("--http2", "2"), ("--http1.1", "1")):
        got = client("curl", "-sk", flag, "-o", "/dev/null", "-w", "%{http_version}", "https://172.30.77.100/")
        assert got.split(".")[0] == version, (flag, got)
    # The counters follow the traffic: 20 requests through web's VIP, 20 more responses.
    base = steady('sum(haproxy_backend_http_responses_total{proxy="vs_web"})')
    client("sh", "-c", "for i in $(seq 20); do curl -s -o /dev/null http://172.30.77.100/; done")
    until("20 more responses of web", lambda: (one('sum(haproxy_backend_http_responses_total{proxy="vs_web"})') or 0) >= base + 20)
    assert steady('sum(haproxy_backend_http_responses_total{proxy="vs_web"})') == base + 20
    master_view = '{cluster="lab",host="lb1",service="web",real_server="rs2"}'
    assert one('lbkit_real_server_status%s' % master_view.replace("}", ',status="up"}')) == 1
    assert one('lbkit_vrrp_state{host="lb1",state="master"}') == 1 and one('lbkit_vrrp_state{host="lb2",state="backup"}') == 1

    # A second run changes nothing.
    rc, out = lab("converge-2", "converge", reports=reports)
    assert rc == 0, tail(out)
    second = recap(out)
    assert set(second) == set(first)
    assert [h for h, (ok, changed, unreachable, failed) in second.items() if changed or failed or unreachable] == [], second
    assert "0 changes on 0 of 5 hosts." in out

    # Operations: drain rs2 at runtime; the report names it; enable it; the report is clean again.
    rc, out = lab("drain", "run", "playbooks/real_server.yml", "-e", "service=web", "-e", "real_server=rs2", "-e", "state=drained",
                  reports=reports)
    assert rc == 0, tail(out)
    rc, out = lab("report-drained", "report", reports=reports)
    assert rc != 0
    problems = read(reports, "verify.json")["traffic"]["problems"]
    assert problems == ["web (172.30.77.100:80/tcp): rs2 is enabled in the spec but drained on the appliance, so it answered none of "
                        "the 6 requests. Enable it (playbooks/real_server.yml -e state=enabled) or converge, or set its state in the spec."]
    # The drain in the metrics (lbkit's and HAProxy's own) and in the status overview, in check mode.
    until("rs2 drained in lbkit's metrics", lambda: one('lbkit_real_server_status%s' % master_view.replace("}", ',status="drained"}')) == 1)
    assert one('haproxy_server_status{instance="172.30.77.11:9101",proxy="vs_web",server="rs2",state="DRAIN"}') == 1
    rc, out = lab("status-drained", "run", "playbooks/status.yml", "--check", reports=reports)
    assert rc == 0, tail(out)
    status = read(reports, "status.json")
    web = next(svc for svc in status["services"] if svc["name"] == "web")
    assert status["viewer"] == "lb1" and web["status"] == "healthy"
    assert [(rs["name"], rs["status"]) for rs in web["real_servers"]] == [("rs1", "up"), ("rs2", "drained"), ("rs3", "up")]
    assert "drained (blue)" in out
    rc, out = lab("enable", "run", "playbooks/real_server.yml", "-e", "service=web", "-e", "real_server=rs2", "-e", "state=enabled",
                  reports=reports)
    assert rc == 0, tail(out)
    rc, out = lab("report", "report", reports=reports)
    assert rc == 0, tail(out)
    until("rs2 up again in lbkit's metrics", lambda: one('lbkit_real_server_status%s' % master_view.replace("}", ',status="up"}')) == 1)

    # The failover drill: the master's link cut under client traffic.
    rc, out = lab("drill", "drill", reports=reports)
    assert rc == 0, tail(out)
    drill = read(reports, "drill.json")
    backup = "lb2" if master == "lb1" else "lb1"
    assert (drill["drill"]["failed"], drill["drill"]["took_over"]) == (master, backup)
    assert drill["drill"]["steps"][1][1:] == (["FAULT", "MASTER", backup] if master == "lb1" else ["MASTER", "FAULT", backup])
    assert drill["drill"]["served"] > 0
    # the backup served every service while the master was down
    assert drill["serving"]["ok"] and all(s["requests"] for s in drill["serving"]["services"])
    outage = drill["drill"]["outage"]
    # A hard failure: some requests fail; the bound is loose, the ha_pair scenario measures ~1 s.
    assert outage["recovered"] and outage["failed"] > 0 and 0 < outage["longest_outage_s"] < 10, outage
    assert drill["ha_after"]["ok"] and drill["ha_after"]["master"] == backup
    assert "Measured outage: %.2f s" % outage["longest_outage_s"] in out
    # The VRRP metrics follow: the backup is master and holds the floating addresses, the old master is
    # backup again and holds none, and the failover alert fires.
    roles = ('lbkit_vrrp_state{host="%s",state="master"}' % backup, 'lbkit_vrrp_state{host="%s",state="backup"}' % master)
    until("the VRRP metrics after the failover", lambda: (one(roles[0]), one(roles[1])) == (1, 1))
    held = dict((r["host"], v) for r, v in promql('lbkit_floating_address_held{address="172.30.77.100"}'))
    assert held == {backup: 1, master: 0}, held
    until("the failover alert", lambda: firing("LbkitFailover") == [{"alertname": "LbkitFailover", "cluster": "lab", "severity": "info"}])

    rc, out = lab("down", "down", reports=reports, timeout=600)
    assert rc == 0, tail(out)
    assert docker("ps", "-aq", "--filter", "label=" + LABEL) == []
    assert [n for n in docker("network", "ls", "--format", "{{.Name}}") if n.startswith("lbkit-lab-")] == []
    assert not (ROOT / ".cache" / "lab").exists()
