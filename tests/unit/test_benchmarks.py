"""The benchmarks' pure parts: their specs, the per-object baseline cut from a rendered
haproxy.cfg, the figures computed from what a run recorded, and the report.

The benchmarks themselves (./benchmarks/run) are not part of the test command.
"""

import json
import os
import re
import time
from pathlib import Path

import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import haproxy
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import check_spec, load_spec
from benchmarks import baseline, bench, figures, lab, machine, report, specs

ROOT = Path(__file__).resolve().parents[2]

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")


def golden(name):
    with open(os.path.join(GOLDEN, name)) as handle:
        return handle.read()


# --- specs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("layer", [4, 7])
def test_scale_specs_are_valid_and_have_the_size_asked_for(layer):
    spec, errors = check_spec(specs.scale_spec(12, layer))
    assert errors == []
    assert len(spec.virtual_services) == 12
    assert all(len(vs.real_servers) == specs.FARM_SIZE and vs.layer == layer for vs in spec.virtual_services)
    assert len(set(vs.port for vs in spec.virtual_services)) == 12
    # every real server line of the rendered file is unique: the baseline edits it line by line
    names = [rs.name for vs in spec.virtual_services for rs in vs.real_servers]
    assert len(names) == len(set(names)) == 12 * specs.FARM_SIZE


def test_failover_specs_are_a_preempting_pair_with_the_advert_interval_asked_for():
    for advert_ms in (200, 10):
        spec, errors = check_spec(specs.failover_spec(advert_ms))
        assert errors == []
        assert spec.cluster.ha.mode == "pair" and spec.cluster.ha.preempt and spec.cluster.ha.advert_interval_ms == advert_ms
        assert [n.host for n in spec.cluster.nodes] == ["lb1", "lb2"]


def test_zero_loss_steps_change_one_thing_each_in_order():
    steps = specs.zero_loss_specs()
    labels = ["start", "add a service", "change weights", "add a real server", "drain a server", "remove the drained server"]
    assert [label for label, how, spec in steps] == labels
    models = []
    for label, how, spec in steps:
        model, errors = check_spec(spec)
        assert errors == [], label
        models.append(model)
    web = [m.virtual_services[0] for m in models]
    assert [len(m.virtual_services) for m in models] == [1, 2, 2, 2, 2, 2]
    assert [rs.weight for rs in web[2].real_servers] == [50, 100]
    assert [rs.name for rs in web[3].real_servers] == ["rs1", "rs2", "rs3"]
    assert [rs.state for rs in web[4].real_servers] == ["drained", "enabled", "enabled"]
    assert [rs.name for rs in web[5].real_servers] == ["rs2", "rs3"]
    assert [how for label, how, spec in steps] == ["converge", "converge", "converge", "converge", "drain", "converge"]


# --- the per-object baseline --------------------------------------------------------------------


def rebuild(variables):
    """The file the baseline's tasks build on an empty file, item after item, as the modules do."""
    marker = variables["baseline_marker"]
    lines = [marker.replace("{mark}", "BEGIN") % "head"] + variables["baseline_head"].splitlines() + [marker.replace("{mark}", "END") % "head"]
    for section in variables["baseline_sections"]:
        lines += [marker.replace("{mark}", "BEGIN") % section["name"]] + section["block"].splitlines()
        lines.append(marker.replace("{mark}", "END") % section["name"])
    for item in variables["baseline_servers"]:
        assert item["line"] not in lines, "lineinfile would find this line already there: %s" % item["line"]
        # lineinfile inserts after the last line the regular expression matches
        at = max(i for i, line in enumerate(lines) if re.search(item["after"], line))
        lines.insert(at + 1, item["line"])
    return "\n".join(lines) + "\n"


def test_the_baseline_builds_the_same_haproxy_cfg_as_lbkit():
    cfg = haproxy.render(load_spec(specs.scale_spec(3, 7)))
    text = cfg.content
    variables = baseline.baseline_vars(text, "# why\nnet.ipv4.ip_nonlocal_bind = 1\n")
    assert variables["baseline_sysctls"] == [{"name": "net.ipv4.ip_nonlocal_bind", "value": "1"}]
    assert baseline.same_config(rebuild(variables), text)
    sections = [s["name"] for s in variables["baseline_sections"]]
    assert sections == ["vs_vs0001", "vs_vs0002", "vs_vs0003", cfg.fingerprint]
    assert not [line for s in variables["baseline_sections"] for line in s["block"].splitlines() if line.split()[0] == "server"]
    assert len(variables["baseline_servers"]) == 3 * specs.FARM_SIZE
    assert baseline.objects(variables) == 1 + 1 + 4 + 3 * specs.FARM_SIZE


def test_the_baseline_refuses_a_server_line_it_could_not_place():
    # the golden file repeats its servers in every service: lineinfile would find the line there
    with pytest.raises(ValueError, match="appears twice: server a 10.0.1.21:80"):
        baseline.baseline_vars(golden("layer7-all.haproxy.cfg"))


def test_same_config_sees_a_missing_or_moved_line_but_not_comments():
    text = golden("layer7-all.haproxy.cfg")
    lines = text.splitlines()
    server = next(i for i, line in enumerate(lines) if line.strip().startswith("server"))
    assert not baseline.same_config(text, "\n".join(lines[:server] + lines[server + 1:]))
    assert not baseline.same_config(text, "\n".join(lines[:server] + [lines[server + 1], lines[server]] + lines[server + 2:]))
    assert baseline.same_config(text, "# a comment\n\n" + text.replace("\n\n", "\n\n# between\n"))


# --- figures ------------------------------------------------------------------------------------


def test_distribution_and_ratio():
    assert figures.distribution([0.9, 0.7, 1.3, None]) == {"n": 3, "min": 0.7, "median": 0.9, "max": 1.3}
    assert figures.distribution([4, 1, 2, 3])["median"] == 2.5
    assert figures.distribution([]) == {"n": 0, "min": None, "median": None, "max": None}
    assert figures.ratio(130.0, 25.0) == 5.2
    assert figures.ratio(None, 3) is None and figures.ratio(3, 0) is None


def requests(pattern, start=1000.0, step=0.02):
    """One request every ``step`` s: '.' answered, 'x' failed."""
    return [{"at": start + i * step, "ok": c == ".", "server": "rs1" if c == "." else None} for i, c in enumerate(pattern)]


def test_the_client_outage_before_and_after_a_moment():
    load = requests("....xxxxx......x.....")
    over = figures.client_outage(load, until=1000.0 + 10 * 0.02)
    assert over["failed"] == 5 and over["recovered"]
    # from the last answered request (#3) to the first answered after (#9)
    assert over["longest_outage_s"] == pytest.approx(0.12)
    after = figures.client_outage(load, since=1000.0 + 10 * 0.02)
    assert after["failed"] == 1 and after["longest_outage_s"] == pytest.approx(0.04)
    assert figures.client_outage(load, since=2000.0)["requests"] == 0


def test_the_longest_wait_for_an_answer_counts_late_answers():
    load = requests("....xx.....")
    for r in load:
        r["took"] = 0.005
    # the requests after the outage were answered together, at 0.6 s
    for i in range(6, 11):
        load[i]["took"] = 0.6 - 0.02 * i
    assert figures.client_outage(load)["longest_outage_s"] == pytest.approx(0.06)
    assert figures.answer_gap(load) == pytest.approx(0.6 - 0.065)
    assert figures.answer_gap(load, until=1000.07) == pytest.approx(0.02)


def test_step_counts_split_the_requests_at_the_marks():
    load = requests("..x...x..")
    load[4]["server"] = "rs2"
    steps = figures.step_counts(load, [("before", 1000.0), ("one", 1000.05), ("two", 1000.11)], ("rs1", "rs2", "rs3"))
    assert [(s["step"], s["requests"], s["failed"]) for s in steps] == [("before", 3, 1), ("one", 3, 0), ("two", 3, 1)]
    assert steps[1]["answered"] == {"rs1": 2, "rs2": 1, "rs3": 0}
    load[2]["error"] = "TimeoutError: timed out"
    failures = figures.step_counts(load, [("before", 1000.0), ("one", 1000.05)])[0]["failures"]
    assert failures == [{"after_s": 0.04, "error": "TimeoutError: timed out"}]


def test_vrrp_transitions_are_read_from_keepalived_log_lines():
    lines = [
        "1764460000.123 lb1 Keepalived_vrrp[301]: (lbkit) Entering BACKUP STATE (init)",
        "1764460001.456 lb1 Keepalived_vrrp[301]: (lbkit) received lower priority (100) advert from 172.30.90.12 - discarding",
        "1764460004.012 lb1 Keepalived_vrrp[301]: (lbkit) Entering MASTER STATE",
        "1764460009.000 lb1 Keepalived_vrrp[301]: (lbkit) Entering FAULT STATE",
    ]
    assert figures.transitions(lines) == [("lbkit", "BACKUP"), ("lbkit", "MASTER"), ("lbkit", "FAULT")]
    assert figures.transitions(["Keepalived_vrrp[301]: Sending gratuitous ARP on eth0 for 172.30.90.100"]) == []


def test_the_play_recap_of_the_last_play():
    out = ("PLAY RECAP ***\nlb1 : ok=3 changed=3 unreachable=0 failed=0\n"
           "PLAY RECAP ***\nlb1                        : ok=13   changed=0    unreachable=0    failed=0    skipped=2\n"
           "base                       : ok=4    changed=3    unreachable=0    failed=1    skipped=0\n")
    assert figures.recap(out) == {"lb1": {"ok": 13, "changed": 0, "unreachable": 0, "failed": 0},
                                  "base": {"ok": 4, "changed": 3, "unreachable": 0, "failed": 1}}


def test_module_totals_sum_time_and_keep_the_peak():
    records = [{"module": "lineinfile", "seconds": 0.3, "maxrss_kb": 25000}, {"module": "lineinfile", "seconds": 0.5, "maxrss_kb": 26624},
               {"module": "appliance", "seconds": 1.25, "maxrss_kb": 51200}]
    total = figures.module_totals(records)
    assert (total["processes"], total["seconds"], total["peak_rss_mb"]) == (3, 2.05, 50.0)
    assert total["modules"]["lineinfile"] == {"processes": 2, "seconds": 0.8, "peak_rss_mb": 26.0}
    assert figures.module_totals([])["peak_rss_mb"] == 0.0


def test_a_projection_scales_the_per_item_time():
    assert figures.projection(1103, 1200.0, 11003) == pytest.approx(11970.6, abs=0.1)
    assert figures.projection(0, 10.0, 100) is None


# --- waiting for a quiet machine, the inventory, the command line -------------------------------


def test_waiting_for_a_quiet_machine_polls_until_the_load_falls():
    loads = iter([[2.5, 2.0, 1.9], [1.4, 1.8, 1.9], [0.7, 1.5, 1.8]])
    slept = []
    seen = machine.wait_quiet(60, poll=60, say=lambda m: None, sleep=slept.append, loadavg=lambda: next(loads))
    assert seen["quiet"] and seen["waited_s"] == 120 and slept == [60, 60] and len(seen["samples"]) == 3


def test_waiting_for_a_quiet_machine_gives_up_and_says_what_it_saw():
    seen = machine.wait_quiet(2, poll=60, say=lambda m: None, sleep=lambda s: None, loadavg=lambda: [3.0, 3.0, 3.0])
    assert not seen["quiet"] and seen["waited_s"] == 120 and [s["load"][0] for s in seen["samples"]] == [3.0, 3.0, 3.0]


def test_the_benchmark_lab_is_its_own():
    inv = lab.inventory([("lb1", specs.LB1, "appliances"), ("client", specs.CLIENT, "clients")], "/tmp/x", timed=("lb1",))
    top = inv["all"]["vars"]
    network = {"name": "lbkit-bench-net", "subnet": "172.30.90.0/24", "gateway": "172.30.90.1"}
    assert top["lab_label"] == "lbkit-bench" and top["lab_docker_networks"] == [network]
    groups = inv["all"]["children"]["lab"]["children"]
    lb1 = groups["appliances"]["hosts"]["lb1"]
    assert lb1["ansible_host"] == "lbkit-bench-lb1" and lb1["lab_networks"] == [{"name": "lbkit-bench-net", "ipv4_address": "172.30.90.11"}]
    assert "lbkit_bench_interpreter" in lb1["ansible_python_interpreter"]
    assert "ansible_python_interpreter" not in groups["clients"]["hosts"]["client"]
    # real servers are not in the lab's 'realservers' group: the benchmarks run their own web service
    assert "realservers" not in groups


def test_the_command_line_and_its_defaults():
    args = bench.parse([])
    assert (args.benchmark, args.sizes, args.trials, args.wait_quiet) == ("all", [10, 100, 1000], 10, 0)
    args = bench.parse(["scale", "--quick"])
    assert (args.benchmark, args.sizes, args.trials) == ("scale", [10], 2)
    assert bench.command_line(["scale", "--sizes", "10,100"]) == "./benchmarks/run scale --sizes 10,100"
    assert bench.parse(["scale,site, failover"]).chosen == ("scale", "site", "failover")
    assert bench.parse([]).chosen == bench.BENCHMARKS
    with pytest.raises(SystemExit):
        bench.parse(["scale,nope"])


# --- the report ---------------------------------------------------------------------------------


def measured(wall, seconds, changed=0):
    return {"wall_s": wall, "controller_peak_rss_mb": 60.0, "changed_tasks": changed,
            "modules": {"processes": 3, "seconds": seconds, "peak_rss_mb": 30.0,
                        "modules": {"appliance": {"processes": 1, "seconds": seconds / 2, "peak_rss_mb": 30.0}}}}


def test_the_report_labels_a_projection_as_one():
    entry = {"services": 1000, "lbkit": {"first": measured(60.0, 20.0, 8), "noop": measured(40.0, 10.0)},
             "baseline": {"task_items_per_run": 11013, "not_run": "projected at 11970 s per run",
                          "projection": {"first_s": 11970.0, "noop_s": 12000.0, "basis": "per-item time at 100 services"}}}
    small = {"services": 10, "lbkit": {"first": measured(25.0, 10.0, 8), "noop": measured(22.0, 7.0)},
             "baseline": {"task_items_per_run": 113, "first": measured(128.0, 40.0, 5), "noop": measured(132.0, 44.0),
                          "same_config_as_lbkit": True, "haproxy_running": True}}
    small["ratios"] = {"first": {"wall": 5.1, "modules": 4.0}, "noop": {"wall": 6.0, "modules": 6.3}}
    entry["ratios"] = {}
    text = report.markdown({"stamp": "S", "command": "./benchmarks/run scale", "machine": {},
                            "benchmarks": {"scale": {"real_servers_per_service": 10, "sizes": [small, entry]}}})
    assert "| 1000 × 10 | baseline | first | projection: 11970 s (not measured) |" in text
    assert "1000 × 10: the baseline was not run (projected at 11970 s per run). Projection basis: per-item time at 100 services." in text
    assert "| 10 × 10 | 5.1× | 4.0× | 6.0× | 6.3× |" in text
    assert "built the same haproxy.cfg as lbkit" in text
    assert "Command: `./benchmarks/run scale`" in text


def test_the_report_shows_failover_spreads_and_a_failed_benchmark():
    dist = figures.distribution
    interval = {"advert_interval_ms": 200, "quiet": {"seconds": 60, "requests": 2900, "failed": 0, "answer_gap_s": 0.031, "spurious_transitions": 0},
                "summary": {"failover_outage_s": dist([0.8, 0.9, 1.1]), "failover_failed_requests": dist([30, 35, 40]),
                            "failover_answer_gap_s": dist([0.9, 1.0, 1.2]), "failback_answer_gap_s": dist([0.02, 0.03, 0.05]),
                            "failback_outage_s": dist([0.0, 0.02, 0.04]), "failback_failed_requests": dist([0, 1, 1]), "all_recovered": True}}
    text = report.markdown({"stamp": "S", "command": "c", "machine": {}, "errors": {"zero_loss": "Traceback: boom"},
                            "benchmarks": {"failover": {"request_interval_s": 0.02, "intervals": [interval]}}})
    assert ("| 200 ms | 3 | 0.900 / 1.000 / 1.200 s | 0.800 / 0.900 / 1.100 s | 30 / 35 / 40 | 0.020 / 0.030 / 0.050 s "
            "| 0.000 / 0.020 / 0.040 s | 0 / 1 / 1 | yes |") in text
    assert "| 200 ms | 60 s | 2900 | 0 | 0.031 s | 0 |" in text
    assert "## zero_loss: FAILED" in text and "Traceback: boom" in text


def test_the_report_names_each_failed_request_of_a_zero_loss_step():
    steps = [{"step": "before any change", "requests": 100, "failed": 0, "failures": [], "answered": {"rs1": 50, "rs2": 50}},
             {"step": "remove the drained server", "requests": 109, "failed": 1, "answered": {"rs2": 54, "rs3": 54},
              "failures": [{"after_s": 1.234, "error": "TimeoutError: timed out"}]}]
    layer4 = {"how": {"mode": "guest", "why": "no IPVS here"},
              "observations": {"interval": 0.05, "total": 209, "failed": 1, "drained_server_after_drain": 0, "steps": steps}}
    text = report.markdown({"stamp": "S", "command": "c", "machine": {}, "benchmarks": {"zero_loss": {"layer4": layer4}}})
    assert "a new connection every 50 ms, 209 requests, **1 failed**" in text
    assert "| remove the drained server | 109 | 1 | 0 | 54 | 54 |" in text
    assert "- remove the drained server, 1.23 s into the step: TimeoutError: timed out" in text


def test_the_report_shows_the_load_around_and_during_each_benchmark():
    scale = {"load_before": [0.6, 1.2, 1.9], "load_during": figures.distribution([0.9, 1.4, 2.2]), "load_after": [1.1, 1.3, 1.8], "seconds": 3000.0}
    text = report.markdown({"stamp": "S", "command": "c", "machine": {"cores": 2}, "benchmarks": {"scale": scale},
                            "quiet_wait": {"quiet": True, "waited_s": 120, "threshold": 1.0, "samples": [{"load": [0.6, 1.2, 1.9]}]}})
    assert "| scale | 0.60 | 0.90 / 1.40 / 2.20 | 1.10 | 3000 s |" in text
    assert "1-minute load average 0.60 (under 1.0) after 120 s of waiting" in text
    assert "(2 cores)" in text


def test_the_load_sampler_samples_until_it_is_left():
    with machine.LoadSampler(every=0.01) as sampler:
        time.sleep(0.05)
    count = len(sampler.samples)
    assert count >= 2 and all(isinstance(x, float) for x in sampler.samples)
    time.sleep(0.03)
    assert len(sampler.samples) == count


def test_docs_quote_a_committed_run_of_every_benchmark_as_it_was_measured():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "docs", "benchmarks.md")) as handle:
        doc = handle.read()
    measured = set()
    for quoted in report.quoted_results(doc):
        assert quoted.startswith("benchmarks/results/") and quoted.endswith(".json"), quoted
        with open(os.path.join(root, quoted)) as handle:
            results = json.load(handle)
        # the tables are the file's, as benchmarks/report.py writes them: regenerate with python -m benchmarks.report FILE
        assert report.doc_block(quoted, results) in doc
        assert not results["quick"] and not results["errors"] and results["command"] in doc
        measured |= set(results["benchmarks"])
    every = {"scale", "site", "failover", "zero_loss", "loadmaster"}
    assert measured == every, "docs/benchmarks.md quotes no committed run of %s" % sorted(every - measured)


def test_a_lab_comes_up_on_fresh_containers_only(monkeypatch, tmp_path):
    calls = []

    def fake_docker(*argv, **kwargs):
        calls.append(argv)

        class Done(object):
            stdout = "0a1b2c\n3d4e5f\n" if argv[0] == "ps" else ""
        return Done()

    monkeypatch.setattr(lab, "docker", fake_docker)
    monkeypatch.setattr(lab.Lab, "run", lambda self, book, *args, **kwargs: calls.append(("playbook", os.path.basename(str(book))) + args))
    lab.Lab("scale-10", [("lb1", specs.LB1, "appliances")], tmp_path).up()
    # the benchmarks' leftovers (their label) go before the lab role brings the lab up
    assert calls[0] == ("ps", "--all", "--quiet", "--filter", "label=org.lbkit.lab=lbkit-bench")
    assert calls[1] == ("rm", "--force", "0a1b2c", "3d4e5f")
    assert calls[2] == ("playbook", "lab.yml", "-e", "lab_state=present")


def test_the_report_breaks_each_converge_down_by_task_and_sets_it_beside_the_previous_run(tmp_path, monkeypatch):
    tasks = [{"play": "Find", "task": "Read", "seconds": 0.5}, {"play": "Converge", "task": "appliance", "seconds": 1.25},
             {"play": "Converge", "task": "appliance", "seconds": 0.25}]
    now = {"services": 10, "lbkit": {"first": dict(measured(3.0, 1.5, 1), tasks=tasks), "noop": dict(measured(2.0, 0.7), tasks=tasks[:2])},
           "baseline": {"not_run": "--baseline-limit 0"}}
    before = {"benchmarks": {"scale": {"real_servers_per_service": 10, "sizes": [
        {"services": 10, "lbkit": {"first": measured(17.0, 6.0, 8), "noop": measured(16.0, 5.0)}}]}}}
    old = tmp_path / "old.json"
    old.write_text(json.dumps(before))
    monkeypatch.setattr(report, "_load", lambda path: json.loads(old.read_text()) if path == "benchmarks/results/old.json" else None)
    text = report.markdown({"stamp": "S", "command": "c", "machine": {}, "previous": {"scale": "benchmarks/results/old.json"},
                            "benchmarks": {"scale": {"real_servers_per_service": 10, "sizes": [now]}}})
    assert "lbkit now and in the previous run (`benchmarks/results/old.json`):" in text
    assert "| 10 × 10 | noop | 2.00 s | 16.00 s | 3 | 3 | 0.35 s | 2.50 s | 30.0 MB | 30.0 MB |" in text
    # a task that runs twice is added up; the order is the order of the run
    assert "| Find: Read | 0.50 s | 0.50 s |\n| Converge: appliance | 1.50 s | 1.25 s |" in text
    # an older results file, without a previous run: no comparison (its quoted tables stay as they were)
    assert "previous run" not in report.markdown({"stamp": "S", "command": "c", "machine": {},
                                                  "benchmarks": {"scale": {"real_servers_per_service": 10, "sizes": [now]}}})


def test_the_site_report_shows_both_runs_and_the_longest_tasks():
    tasks = [{"play": "P", "task": "t%02d" % n, "seconds": n / 10.0} for n in range(30)]
    site = {"first": {"wall_s": 7.7, "changed_tasks": 2, "hosts": 7, "controller_peak_rss_mb": 60.7, "tasks": tasks},
            "noop": {"wall_s": 6.4, "changed_tasks": 0, "hosts": 7, "controller_peak_rss_mb": 60.5, "tasks": tasks}}
    text = report.markdown({"stamp": "S", "command": "c", "machine": {}, "benchmarks": {"site": site}})
    assert "| noop | 6.40 s | 0 | 7 | 60.5 MB |" in text
    assert "| P: t29 | 2.90 s | 2.90 s |" in text and "| P: t09 |" not in text
    assert "| (10 other tasks) | 4.50 s | 4.50 s |" in text


def test_the_task_times_callback_writes_each_tasks_duration(tmp_path, monkeypatch):
    import importlib.util
    spec = importlib.util.spec_from_file_location("lbkit_task_times", str(ROOT / "benchmarks" / "callback_plugins" / "lbkit_task_times.py"))
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    clock = iter([10.0, 10.5, 12.0, 12.25])
    monkeypatch.setattr(plugin.time, "monotonic", lambda: next(clock))
    out = tmp_path / "tasks.json"
    monkeypatch.setenv("LBKIT_BENCH_TASK_TIMES", str(out))

    class Named(object):
        def __init__(self, name):
            self.name = name

        def get_name(self):
            return self.name

    callback = plugin.CallbackModule()
    callback.v2_playbook_on_play_start(Named("play one"))
    callback.v2_playbook_on_task_start(Named("first"), False)
    callback.v2_playbook_on_task_start(Named("second"), False)
    callback.v2_playbook_on_play_start(Named("play two"))
    callback.v2_playbook_on_stats(None)
    assert json.loads(out.read_text()) == [{"play": "play one", "task": "first", "seconds": 0.5},
                                           {"play": "play one", "task": "second", "seconds": 0.25}]
