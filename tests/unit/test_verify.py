"""Verification's pure core: what is sent where, the traffic report, the HA state, the drill.

The appliance_info results are built the way appliance_info returns them (HAProxy's
total_sessions per server, IPVS connections per real server, VRRP state and held addresses).
"""


import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import NotFound, SpecInvalid
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.changes import changes_table
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.drill import drill_report
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.ha import ha_report
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._verify.outage import outage
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.report import traffic_report
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.table import text_table
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._verify.targets import targets

from .specs import mutate

VIP7 = "192.0.2.12"
VIP4 = "192.0.2.10"


def spec(**changes):
    return mutate(changes)


def layer7_spec(**extra):
    """A pair with one layer-7 HTTP service, three real servers (as in the lab)."""
    data = spec()
    data["virtual_services"] = [
        dict({
            "name": "web", "address": VIP7, "port": 80, "layer": 7, "scheduling": "round_robin",
            "real_servers": [
                {"name": "rs1", "address": "10.0.1.21", "port": 8080},
                {"name": "rs2", "address": "10.0.1.22", "port": 8080},
                {"name": "rs3", "address": "10.0.1.23", "port": 8080},
            ],
        }, **extra)
    ]
    return data


def haproxy_info(state, held, sessions, status=None):
    status = status or {}
    return {
        "vrrp": {"running": True, "state": state, "held": held, "expected": [VIP7, "10.0.1.1"]},
        "haproxy": {"running": True, "services": {"web": dict(
            (name, {"status": status.get(name, "UP"), "weight": 1, "current_sessions": 0, "total_sessions": count, "check_status": "L7OK"})
            for name, count in sessions.items())}},
        "ipvs": {"available": False, "services": [], "connection_states": {}},
        "diagnosis": [],
    }


def pair(master_sessions, backup_sessions=None, status=None):
    backup_sessions = backup_sessions or dict((k, 0) for k in master_sessions)
    return {
        "lb1": haproxy_info("MASTER", [VIP7, "10.0.1.1"], master_sessions, status),
        "lb2": haproxy_info("BACKUP", [], backup_sessions, status),
    }


def requests(*answers, cookie_from=None):
    out = [{"n": n, "ok": a is not None, "status": 200 if a else None, "result": "200" if a else "timed out",
            "answer": a or "", "cookie": cookie_from is not None and n > cookie_from, "ms": 2}
           for n, a in enumerate(answers, 1)]
    return out


def probe(service, reqs):
    return [{"service": service, "vip": "%s:80/tcp" % VIP7, "scheme": "http", "note": "", "requests": reqs}]


# --- targets ---------------------------------------------------------------------------------


def test_targets_of_the_manuals_scenarios():
    found = dict((t.service, t) for t in targets(spec()))
    assert found["web-dr"].scheme == "tcp" and found["web-dr"].layer == 4 and found["web-dr"].spread
    assert found["shop"].scheme == "https" and found["shop"].sticky
    assert found["shop"].vip == "192.0.2.12:443/tcp"


@pytest.mark.parametrize(
    ("changes", "spread", "requests", "note"),
    [
        ({}, True, 6, ""),
        ({"/virtual_services/0/scheduling": "least_connection"}, True, 6, ""),
        ({"/virtual_services/0/scheduling": "weighted_round_robin",
          "/virtual_services/0/real_servers/0/weight": 100, "/virtual_services/0/real_servers/1/weight": 50,
          "/virtual_services/0/real_servers/2/weight": 50}, True, 8, ""),
        ({"/virtual_services/0/scheduling": "weighted_round_robin", "/virtual_services/0/real_servers/0/weight": 100,
          "/virtual_services/0/real_servers/1/weight": 1}, False, 3, "weights are too uneven"),
        ({"/virtual_services/0/scheduling": "source_ip_hash"}, False, 3, "source_ip_hash scheduling sends one client"),
        ({"/virtual_services/0/scheduling": "fixed_weighting"}, False, 3, "highest-weight"),
        ({"/virtual_services/0/persistence": {"mode": "source_ip"}}, False, 3, "source_ip persistence keeps one client"),
        ({"/virtual_services/0/real_servers/2/state": "drained"}, True, 4, ""),
        ({"/virtual_services/0/real_servers/0/state": "halted", "/virtual_services/0/real_servers/1/state": "halted",
          "/virtual_services/0/real_servers/2/state": "drained"}, False, 0, "no real server is enabled"),
    ],
)
def test_how_many_requests_reach_every_real_server(changes, spread, requests, note):
    data = mutate(changes, base=layer7_spec())
    found = targets(data)[0]
    assert (found.spread, found.requests) == (spread, requests)
    assert note in found.note


def test_udp_is_listed_not_probed():
    data = spec(**{"/virtual_services/1/protocol": "udp"})
    found = dict((t.service, t) for t in targets(data))
    assert found["app-nat"].scheme == "" and found["app-nat"].requests == 0
    assert "does not implement a UDP probe" in found["app-nat"].note


def test_layer4_scheme_follows_the_health_check():
    data = spec(**{"/virtual_services/0/health_check": {"type": "http", "url": "/health", "host": "www.example.com"}})
    web = targets(data)[0]
    assert (web.scheme, web.host_header) == ("http", "www.example.com")


def test_unknown_service_and_invalid_spec_are_errors():
    with pytest.raises(NotFound, match="services: nope is not a virtual service of the spec"):
        targets(spec(), ["nope"])
    with pytest.raises(SpecInvalid):
        targets(spec(**{"/virtual_services/0/port": 0}))


# --- traffic report ----------------------------------------------------------------------------


def test_every_real_server_answered():
    before = pair({"rs1": 10, "rs2": 10, "rs3": 10})
    after = pair({"rs1": 12, "rs2": 12, "rs3": 12})
    report = traffic_report(probe("web", requests("rs1", "rs2", "rs3", "rs1", "rs2", "rs3")), layer7_spec(), before, after)
    assert report["ok"], report["problems"]
    rows = dict((rs["name"], (rs["sessions"], rs["answers"], rs["answered"])) for rs in report["services"][0]["real_servers"])
    assert rows == {"rs1": (2, 2, True), "rs2": (2, 2, True), "rs3": (2, 2, True)}
    text = report["text"]
    assert "web      192.0.2.12:80/tcp  1  new client  200     rs1" in text
    assert "Every enabled real server answered" in text
    assert all(line == line.rstrip() for line in text.splitlines())


def test_a_real_server_that_never_answers_is_a_problem():
    before = pair({"rs1": 0, "rs2": 0, "rs3": 0})
    after = pair({"rs1": 3, "rs2": 3, "rs3": 0}, status={"rs3": "DOWN"})
    report = traffic_report(probe("web", requests("rs1", "rs2", "rs1", "rs2", "rs1", "rs2")), layer7_spec(), before, after)
    assert report["problems"] == ["web (192.0.2.12:80/tcp): rs3 answered none of the 6 requests (health: DOWN)."]
    assert "PROBLEMS:" in report["text"]


@pytest.mark.parametrize(("status", "what"), [("DRAIN", "drained"), ("MAINT", "halted"), ("MAINT (resolution)", "halted")])
def test_a_server_set_aside_at_runtime_says_how_to_bring_it_back(status, what):
    before, after = pair({"rs1": 0, "rs2": 0, "rs3": 0}), pair({"rs1": 3, "rs2": 0, "rs3": 3}, status={"rs2": status})
    report = traffic_report(probe("web", requests("rs1", "rs3", "rs1", "rs3", "rs1", "rs3")), layer7_spec(), before, after)
    assert report["problems"] == [
        "web (192.0.2.12:80/tcp): rs2 is enabled in the spec but %s on the appliance, so it answered none of the 6 requests. "
        "Enable it (playbooks/real_server.yml -e state=enabled) or converge, or set its state in the spec." % what]


def test_counters_decide_where_responses_do_not_name_servers():
    before = pair({"rs1": 5, "rs2": 5, "rs3": 5})
    after = pair({"rs1": 7, "rs2": 5, "rs3": 9}, backup_sessions={"rs1": 0, "rs2": 1, "rs3": 0})
    report = traffic_report(probe("web", requests("hello", "hello", "hello", "hello", "hello", "hello")), layer7_spec(), before, after)
    servers = dict((rs["name"], rs) for rs in report["services"][0]["real_servers"])
    # rs2's session went through the backup's HAProxy: the counters are summed over the nodes
    assert [servers[n]["sessions"] for n in ("rs1", "rs2", "rs3")] == [2, 1, 4]
    assert all(servers[n]["answered"] and servers[n]["answers"] is None for n in servers)
    assert report["ok"]


def test_failed_requests_are_a_problem():
    before = after = pair({"rs1": 0, "rs2": 0, "rs3": 0})
    report = traffic_report(probe("web", requests("rs1", None, "rs3", "rs1", "rs2", "rs3")), layer7_spec(), before, after)
    assert report["problems"][0] == "web (192.0.2.12:80/tcp): 1 of 6 requests were not answered (first: timed out)."


def test_a_drained_server_must_not_answer_new_clients():
    data = mutate({"/virtual_services/0/real_servers/2/state": "drained"}, base=layer7_spec())
    before, after = pair({"rs1": 0, "rs2": 0, "rs3": 0}), pair({"rs1": 2, "rs2": 1, "rs3": 1})
    report = traffic_report(probe("web", requests("rs1", "rs2", "rs1", "rs3")), data, before, after)
    assert report["problems"] == ["web (192.0.2.12:80/tcp): rs3 is drained in the spec, yet it answered 1 requests."]


def test_pinned_services_judge_the_others_by_health_check():
    data = mutate({"/virtual_services/0/persistence": {"mode": "source_ip"}}, base=layer7_spec())
    before, after = pair({"rs1": 0, "rs2": 0, "rs3": 0}), pair({"rs1": 3, "rs2": 0, "rs3": 0})
    assert traffic_report(probe("web", requests("rs1", "rs1", "rs1")), data, before, after)["ok"]
    after = pair({"rs1": 3, "rs2": 0, "rs3": 0}, status={"rs2": "DOWN 1/2"})
    report = traffic_report(probe("web", requests("rs1", "rs1", "rs1")), data, before, after)
    assert report["problems"] == ["web (192.0.2.12:80/tcp): rs2 is not up on the appliance (health: DOWN 1/2)."]
    assert "source_ip persistence keeps one client on one real server" in report["text"]


def test_cookie_persistence_is_checked_with_the_cookie():
    data = mutate({"/virtual_services/0/persistence": {"mode": "active_cookie", "cookie": "LB"}}, base=layer7_spec())
    before, after = pair({"rs1": 0, "rs2": 0, "rs3": 0}), pair({"rs1": 5, "rs2": 2, "rs3": 2})
    held = requests("rs1", "rs2", "rs3", "rs1", "rs2", "rs3", "rs1", "rs1", "rs1", cookie_from=6)
    report = traffic_report(probe("web", held), data, before, after)
    assert report["ok"], report["problems"]
    assert "cookie persistence held: 3 requests with the cookie from rs1 all went to rs1" in report["text"]
    broken = requests("rs1", "rs2", "rs3", "rs1", "rs2", "rs3", "rs1", "rs2", "rs1", cookie_from=6)
    report = traffic_report(probe("web", broken), data, before, after)
    assert report["problems"] == [
        "web (192.0.2.12:80/tcp): cookie persistence did not hold: a client holding the cookie from rs1 was answered by rs1, rs2."
    ]


def test_layer4_counters_come_from_ipvs():
    data = spec()
    data["virtual_services"] = data["virtual_services"][:1]

    def info(conns):
        return {"vrrp": {"running": True, "state": "MASTER", "held": [VIP4], "expected": [VIP4]}, "haproxy": {"running": False, "services": {}},
                "ipvs": {"available": True, "services": [{"protocol": "tcp", "address": VIP4, "port": 80, "real_servers": [
                    {"address": "192.168.10.21", "port": 80, "weight": 100, "active": 0, "inactive": 0, "connections": conns[0]},
                    {"address": "192.168.10.22", "port": 80, "weight": 100, "active": 0, "inactive": 0, "connections": conns[1]}]}]}}

    reqs = [{"service": "web-dr", "requests": requests("", "", "", "")}]
    for item in reqs[0]["requests"]:
        item.update(ok=True, result="connected", status=None)
    report = traffic_report(reqs, data, {"lb1": info((7, 7))}, {"lb1": info((9, 9))})
    assert report["ok"], report["problems"]
    assert [(rs["name"], rs["sessions"], rs["health"]) for rs in report["services"][0]["real_servers"]] == [
        ("web1", 2, "in table, weight 100"), ("web2", 2, "in table, weight 100")]
    report = traffic_report(reqs, data, {"lb1": info((7, 7))}, {"lb1": info((11, 7))})
    assert report["problems"] == ["web-dr (192.0.2.10:80/tcp): web2 answered none of the 4 requests (health: in table, weight 100)."]


# --- HA state ----------------------------------------------------------------------------------


def test_healthy_pair():
    report = ha_report(pair({"rs1": 0, "rs2": 0, "rs3": 0}), layer7_spec())
    assert report["ok"] and report["master"] == "lb1"
    assert "Healthy: lb1 is master and holds every floating address; the backup is ready." in report["text"]
    assert "lb1   150       MASTER  192.0.2.12, 10.0.1.1  running     running" in report["text"]


def test_two_masters_and_a_missing_node_are_problems():
    infos = pair({"rs1": 0, "rs2": 0, "rs3": 0})
    infos["lb2"]["vrrp"].update(state="MASTER", held=[VIP7, "10.0.1.1"])
    report = ha_report(infos, layer7_spec())
    assert not report["ok"] and report["master"] is None
    assert "split brain: %s is held by lb1 and lb2 at once; the nodes do not hear each other's heartbeat." % VIP7 in report["problems"]
    assert "the pair: expected one BACKUP and one MASTER, found lb1 MASTER, lb2 MASTER." in report["problems"]
    del infos["lb2"]
    assert "lb2: not read (it is not in this run's results)." in ha_report(infos, layer7_spec())["problems"]


def test_a_real_server_down_makes_the_cluster_unhealthy():
    infos = pair({"rs1": 0, "rs2": 0, "rs3": 0})
    infos["lb1"]["diagnosis"] = ["HAProxy: real server rs3 of web is down (L4CON)."]
    assert ha_report(infos, layer7_spec())["problems"] == ["lb1: HAProxy: real server rs3 of web is down (L4CON)."]


# --- outage and drill --------------------------------------------------------------------------


def test_outage_windows():
    samples = [(0, True, "rs1"), (20, True, "rs2"), (40, False, ""), (560, False, ""), (1080, True, "rs1"), (1100, True, "rs2")]
    found = outage(samples)
    assert found["windows"] == [dict(start_s=0.02, end_s=1.08, failed=2, recovered=True, seconds=1.06)]
    assert (found["requests"], found["failed"], found["longest_outage_s"], found["recovered"]) == (6, 2, 1.06, True)
    assert found["answers"] == {"rs1": 2, "rs2": 2}
    assert outage([(0, True, "a"), (20, False, "")])["recovered"] is False
    assert outage([(0, True, "a"), (20, True, "a")])["longest_outage_s"] == 0.0
    assert outage([])["recovered"] is False


def drill_infos(lb1, lb2):
    base = pair({"rs1": 0, "rs2": 0, "rs3": 0})
    for name, (state, held) in (("lb1", lb1), ("lb2", lb2)):
        base[name]["vrrp"].update(state=state, held=held)
    return base


def load(samples):
    return dict(service="web", vip="%s:80/tcp" % VIP7, address=VIP7, interval_ms=20, timeout=0.5, outage=outage(samples))


ALL = [VIP7, "10.0.1.1"]


def run_drill(before, during, after, traffic, failed, method):
    return drill_report(traffic, layer7_spec(), before, during, after, failed, method)


def test_drill_that_fails_over_and_recovers():
    after = drill_infos(("BACKUP", []), ("MASTER", ALL))
    after["lb2"]["haproxy"]["services"]["web"]["rs1"]["total_sessions"] = 40
    report = run_drill(
        drill_infos(("MASTER", ALL), ("BACKUP", [])), drill_infos(("FAULT", []), ("MASTER", ALL)),
        after, load([(0, True, "rs1"), (20, False, ""), (1000, True, "rs2")]), "lb1", "link down on eth0")
    assert report["ok"], report["problems"]
    assert (report["took_over"], report["served"]) == ("lb2", 40)
    assert report["steps"] == [["before the drill", "MASTER", "BACKUP", "lb1"], ["lb1 failed (link down on eth0)", "FAULT", "MASTER", "lb2"],
                               ["lb1 back", "BACKUP", "MASTER", "lb2"]]
    assert "Measured outage: 1.00 s" in report["text"]
    assert "lb2 took over and served 40 sessions (its own counters) while lb1 was down and after." in report["text"]
    report = run_drill(
        drill_infos(("MASTER", ALL), ("BACKUP", [])), drill_infos(("FAULT", []), ("MASTER", ALL)),
        drill_infos(("BACKUP", []), ("MASTER", ALL)), load([(0, True, "rs1"), (20, True, "rs2")]), "lb1", "keepalived stopped")
    assert report["problems"] == ["lb2 holds the floating addresses but served no session during the drill."]


def test_drill_without_takeover_or_recovery_fails():
    report = run_drill(
        drill_infos(("MASTER", ALL), ("BACKUP", [])), drill_infos(("FAULT", []), ("BACKUP", [])),
        drill_infos(("FAULT", []), ("BACKUP", [])), load([(0, True, "rs1"), (20, False, "")]), "lb1", "keepalived stopped")
    assert report["took_over"] is None
    assert report["problems"][:2] == [
        "no other node took over every floating address (10.0.1.1, 192.0.2.12) while lb1 was failed.",
        "the client traffic to web had not recovered when the drill ended.",
    ]
    assert "after the drill: the pair: expected one BACKUP and one MASTER, found lb1 FAULT, lb2 BACKUP." in report["problems"]


# --- the filters -------------------------------------------------------------------------------


def test_filters_report_an_invalid_spec_with_its_paths():
    from ansible.errors import AnsibleFilterError

    from ansible_collections.lbkit.loadbalancer.plugins.filter.drill_report import FilterModule as Drill
    from ansible_collections.lbkit.loadbalancer.plugins.filter.ha_report import FilterModule as HA
    from ansible_collections.lbkit.loadbalancer.plugins.filter.traffic_report import FilterModule as Traffic

    bad = spec(**{"/virtual_services/0/port": 0})
    calls = [
        (Traffic().filters()["traffic_report"], ([], bad, {}, {})),
        (HA().filters()["ha_report"], ({}, bad)),
        (Drill().filters()["drill_report"], ({}, bad, {}, {}, {}, "lb1", "keepalived stopped")),
    ]
    for function, args in calls:
        with pytest.raises(AnsibleFilterError, match="/virtual_services/0/port: 0 is out of range"):
            function(*args)
    assert HA().filters()["ha_report"](pair({"rs1": 0, "rs2": 0, "rs3": 0}), layer7_spec())["ok"]


# --- tables ------------------------------------------------------------------------------------


def test_text_table_groups_and_never_ends_a_line_in_a_space():
    text = text_table(["a", "bb", "c"], [["x", "1", None], ["x", "2", ""], ["y", "2", True]], group=1)
    assert text.splitlines() == ["a  bb  c", "-  --  ---", "x  1   -", "   2", "y  2   yes"]


def test_changes_table():
    text = changes_table({"lb2": ["+ virtual service web (192.0.2.12:80/tcp)", "+ real server rs1 10.0.1.21:8080 in web"], "rs1": []})
    assert text.splitlines() == [
        "Changes made by this run", "",
        "host  change",
        "----  " + "-" * len("+ virtual service web (192.0.2.12:80/tcp)"),
        "lb2   + virtual service web (192.0.2.12:80/tcp)",
        "      + real server rs1 10.0.1.21:8080 in web",
        "rs1   (no change)",
        "", "2 changes on 1 of 2 hosts.",
    ]
    assert changes_table({"lb1": []}, check_mode=True).splitlines()[0] == "Changes this run would make (check mode)"
    limited = changes_table({"lb1": ["> service haproxy"], "lb2": None}).splitlines()
    assert limited[-4:] == ["lb1   > service haproxy", "lb2   (not in this run)", "", "1 change on 1 of 1 hosts."]
