# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converge at scale: one appliance (a container) with N layer-7 virtual services x 10 real
servers, first converge and no-op rerun, lbkit beside the per-object baseline; and lbkit's
layer-4 rendering of the same services.

For each size a lab of three containers: ``lb1`` (converged by lbkit: playbooks/appliances.yml,
the appliance role and module), ``base`` (converged by the baseline, benchmarks/playbooks/
baseline.yml) and ``rs1``, which holds the ten real servers' addresses and answers their
health checks. lb1 and base run every module through the module timer (benchmarks/files).
"""

from __future__ import annotations

import json

from benchmarks import baseline, figures, specs
from benchmarks.lab import INTERPRETER, ROOT, Lab

HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
SYSCTL_FILE = "/etc/sysctl.d/60-lbkit.conf"
APPLIANCES = ROOT / "playbooks" / "appliances.yml"
BASELINE = ROOT / "benchmarks" / "playbooks" / "baseline.yml"
RENDER = ROOT / "benchmarks" / "playbooks" / "render.yml"
RUNS = ("first", "noop")


def _hosts():
    return [("lb1", specs.LB1, "appliances"), ("base", specs.BASELINE, "baseline"), ("rs1", specs.real_server_address(1), "servers")]


def _measure(lab, host, book, extra_vars, log):
    """One timed playbook run against ``host``: wall time, memory, its modules' records."""
    lab.module_records(host)  # empties the timer's log
    result = lab.run(book, "-e", "@%s" % extra_vars, "-e", "lbkit_bench_interpreter=" + INTERPRETER, log=log)
    records = lab.module_records(host)
    recap = result["recap"].get(host, {})
    return {
        "wall_s": result["seconds"],
        "controller_peak_rss_mb": result["controller_peak_rss_mb"],
        "changed_tasks": recap.get("changed"),
        "tasks": result["tasks"],
        "modules": figures.module_totals(records),
        "log": result["log"],
    }


def _write(path, data):
    path.write_text(json.dumps(data) + "\n")
    return path


def _prepare(lab):
    for host in ("lb1", "base"):
        lab.install_timer(host)
    for number in range(2, specs.FARM_SIZE + 1):
        lab.exec("rs1", ["ip", "address", "add", specs.real_server_address(number) + "/24", "dev", "eth0"])
    lab.serve("rs1", "farm")


def _baseline(lab, size, rendered, workdir, limit_s, previous, say):
    sysctls = lab.exec("lb1", ["cat", SYSCTL_FILE]).stdout
    variables = baseline.baseline_vars(rendered, sysctls)
    items = baseline.objects(variables)
    out = {"task_items_per_run": items}
    if limit_s <= 0:
        out["not_run"] = "--baseline-limit %d" % limit_s
        return out
    if previous:
        # Each run of the baseline executes every item, changed or not.
        projected = figures.projection(previous["items"], previous["seconds"], items)
        if projected is not None and projected > limit_s:
            out["not_run"] = ("projected at %.0f s per run, over the limit of %.0f s (--baseline-limit); "
                              "not measured" % (projected, limit_s))
            out["projection"] = {
                "first_s": projected,
                "noop_s": figures.projection(previous["items"], previous["noop_seconds"], items),
                "basis": "the per-item time of the baseline's measured %d-service runs (%.3f s first, %.3f s no-op) x %d items; "
                         "a lower bound, since every lineinfile and blockinfile item reads the whole file, which grows with the "
                         "services" % (previous["size"], previous["seconds"] / previous["items"], previous["noop_seconds"] / previous["items"], items),
            }
            return out
    extra = _write(workdir / ("baseline-%d.json" % size), variables)
    lab.exec("base", ["truncate", "-s", "0", HAPROXY_CFG])
    for run in RUNS:
        say("scale %d: baseline, %s run (%d task items)" % (size, run, items))
        out[run] = _measure(lab, "base", BASELINE, extra, workdir / ("baseline-%d-%s.log" % (size, run)))
    built = lab.exec("base", ["cat", HAPROXY_CFG]).stdout
    out["same_config_as_lbkit"] = baseline.same_config(rendered, built)
    out["haproxy_running"] = lab.exec("base", ["systemctl", "is-active", "haproxy"], check=False).stdout.strip() == "active"
    return out


def run(sizes, workdir, keep=False, baseline_limit_s=3600, say=print, results=None):
    """The scale benchmark for each size in ``sizes``; fills and returns ``results``."""
    results = {} if results is None else results
    results.update(real_servers_per_service=specs.FARM_SIZE, sizes=[])
    previous = None
    for size in sizes:
        entry = {"services": size, "real_servers": size * specs.FARM_SIZE}
        results["sizes"].append(entry)
        with Lab("scale-%d" % size, _hosts(), workdir, keep=keep, timed=("lb1", "base")) as lab:
            _prepare(lab)
            spec = _write(lab.workdir / "spec-l7.json", {"lbkit_spec": specs.scale_spec(size, 7)})
            entry["lbkit"] = {}
            for run_name in RUNS:
                say("scale %d: lbkit, %s converge" % (size, run_name))
                entry["lbkit"][run_name] = _measure(lab, "lb1", APPLIANCES, spec, lab.workdir / ("lbkit-%s.log" % run_name))
            rendered = lab.exec("lb1", ["cat", HAPROXY_CFG]).stdout
            entry["haproxy_cfg_bytes"] = len(rendered.encode())
            entry["baseline"] = _baseline(lab, size, rendered, lab.workdir, baseline_limit_s, previous, say)
            measured = entry["baseline"].get("first")
            if measured:
                previous = {"size": size, "items": entry["baseline"]["task_items_per_run"], "seconds": measured["wall_s"],
                            "noop_seconds": entry["baseline"]["noop"]["wall_s"]}
            say("scale %d: lbkit, layer-4 rendering" % size)
            spec4 = _write(lab.workdir / "spec-l4.json", {"lbkit_spec": specs.scale_spec(size, 4)})
            entry["layer4_render"] = _measure(lab, "lb1", RENDER, spec4, lab.workdir / "render-l4.log")
        entry["ratios"] = ratios(entry)
    return results


def ratios(entry):
    """Baseline over lbkit, for wall time and module time, first and no-op (measured runs only)."""
    out = {}
    for run_name in RUNS:
        ours = entry["lbkit"].get(run_name)
        theirs = entry["baseline"].get(run_name)
        if not ours or not theirs:
            continue
        out[run_name] = {
            "wall": figures.ratio(theirs["wall_s"], ours["wall_s"]),
            "modules": figures.ratio(theirs["modules"]["seconds"], ours["modules"]["seconds"]),
        }
    return out
