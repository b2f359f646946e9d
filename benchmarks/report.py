# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmarks' results as Markdown tables, for people (results in, text out), and the
figures block of docs/benchmarks.md."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path


def table(headers, rows):
    """A Markdown table; None shows as '-'."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for dummy in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join("-" if cell is None else str(cell) for cell in row) + " |")
    return "\n".join(lines)


def seconds(value, digits=2):
    return None if value is None else "%.*f s" % (digits, value)


def spread(dist, unit=" s", digits=3):
    """'min / median / max' of a figures.distribution()."""
    if not dist or not dist.get("n"):
        return None
    return " / ".join("%.*f" % (digits, dist[k]) for k in ("min", "median", "max")) + unit


def times(value):
    return None if value is None else "%.1f×" % value


def machine_section(results):
    m = results.get("machine", {})
    rows = [
        ["CPU", "%s, %s cores" % (m.get("cpu"), m.get("cores"))],
        ["memory", "%s GiB" % m.get("memory_gib")],
        ["kernel / OS", "%s / %s" % (m.get("kernel"), m.get("os"))],
        ["Docker engine", m.get("docker")],
        ["ansible-core / Python", "%s / %s" % (m.get("ansible_core"), m.get("python"))],
        ["keepalived, HAProxy (image %s)" % m.get("image"), "%s; %s" % (m.get("keepalived"), m.get("haproxy"))],
        ["lbkit commit", "%s%s" % (m.get("commit"), " (with uncommitted changes)" if m.get("dirty") else "")],
    ]
    lines = ["## Machine", "", table(["what", "value"], rows), ""]
    wait = results.get("quiet_wait")
    if wait:
        last = wait["samples"][-1]["load"]
        if wait["quiet"]:
            lines.append("Before the run the load was waited for: 1-minute load average %.2f (under %.1f) after %d s of waiting." % (
                last[0], wait["threshold"], wait["waited_s"]))
        else:
            lines.append("The load never fell under %.1f within %d s of waiting (last 1-minute load average %.2f): the run went ahead on a busy machine." % (
                wait["threshold"], wait["waited_s"], last[0]))
    loads = [[name, "%.2f" % b["load_before"][0], spread(b.get("load_during"), "", 2), "%.2f" % b["load_after"][0], seconds(b.get("seconds"), 0)]
             for name, b in results.get("benchmarks", {}).items() if "load_before" in b]
    if loads:
        lines += ["", "The 1-minute load average (%s cores), sampled every 30 s while each benchmark ran:" % m.get("cores"), "",
                  table(["benchmark", "before", "during (min / median / max)", "after", "took"], loads)]
    lines.append("")
    return lines


def megabytes(value):
    return None if value is None else "%.1f MB" % value


def _run_row(size, tool, run, m):
    modules = m["modules"]
    appliance = modules["modules"].get("appliance", {})
    return [size, tool, run, seconds(m["wall_s"]), modules["processes"], seconds(modules["seconds"]), seconds(appliance.get("seconds")),
            megabytes(appliance.get("peak_rss_mb")), megabytes(modules["peak_rss_mb"]), megabytes(m["controller_peak_rss_mb"]), m["changed_tasks"]]


def scale_section(scale):
    lines = ["## Scale: converge one appliance, lbkit and the per-object baseline", ""]
    rows, ratio_rows, notes, render_rows = [], [], [], []
    for entry in scale["sizes"]:
        size = "%d × %d" % (entry["services"], scale["real_servers_per_service"])
        for run in ("first", "noop"):
            if run in entry.get("lbkit", {}):
                rows.append(_run_row(size, "lbkit", run, entry["lbkit"][run]))
        base = entry.get("baseline", {})
        for run in ("first", "noop"):
            if run in base:
                rows.append(_run_row(size, "baseline", run, base[run]))
        if "projection" in base:
            p = base["projection"]
            rows.append([size, "baseline", "first", "projection: %s (not measured)" % seconds(p["first_s"], 0)] + [None] * 7)
            rows.append([size, "baseline", "noop", "projection: %s (not measured)" % seconds(p["noop_s"], 0)] + [None] * 7)
            notes.append("%s: the baseline was not run (%s). Projection basis: %s." % (size, base["not_run"], p["basis"]))
        elif "not_run" in base:
            notes.append("%s: the baseline was not run (%s)." % (size, base["not_run"]))
        elif "same_config_as_lbkit" in base:
            notes.append("%s: the baseline's %d task items per run built %s haproxy.cfg as lbkit%s." % (
                size, base["task_items_per_run"], "the same" if base["same_config_as_lbkit"] else "a DIFFERENT",
                "" if base.get("haproxy_running") else "; HAProxy was NOT running afterwards"))
        r = entry.get("ratios", {})
        ratio_rows.append([size] + [times(r.get(run, {}).get(k)) for run in ("first", "noop") for k in ("wall", "modules")])
        l4 = entry.get("layer4_render")
        if l4:
            mod = l4["modules"]["modules"].get("appliance", {})
            render_rows.append([size, seconds(l4["wall_s"]), seconds(mod.get("seconds")), megabytes(mod.get("peak_rss_mb")),
                                megabytes(l4["controller_peak_rss_mb"])])
    lines.append(table(["services × real servers", "tool", "run", "wall", "module processes", "time in modules", "appliance module",
                        "its peak RSS", "largest module peak RSS", "controller peak RSS", "changed tasks"], rows))
    lines += ["", "Baseline ÷ lbkit (how many times longer the per-object way takes):", ""]
    lines.append(table(["services × real servers", "first: wall", "first: in modules", "no-op: wall", "no-op: in modules"], ratio_rows))
    if notes:
        lines += [""] + ["- " + n for n in notes]
    if render_rows:
        lines += ["", "Layer 4: `lbkit.loadbalancer.appliance` with `state: rendered` (keepalived.conf with IPVS virtual servers):", ""]
        lines.append(table(["services × real servers", "wall (playbook)", "appliance module", "its peak RSS", "controller peak RSS"],
                           render_rows))
    lines.append("")
    return lines


def _task_rows(runs, limit=None):
    """Rows [task, seconds per run...] of per-task breakdowns ({run: [{play, task, seconds}]}),
    tasks of the same play and name added up, in the order they first ran; the longest ``limit``
    of them (by their largest figure) and the rest as one row."""
    order, totals = [], {}
    for run, tasks in runs:
        for task in tasks or []:
            key = (task.get("play"), task.get("task"))
            if key not in totals:
                order.append(key)
                totals[key] = {}
            totals[key][run] = totals[key].get(run, 0.0) + (task.get("seconds") or 0.0)
    names = [run for run, dummy in runs]
    keep = order
    if limit is not None and len(order) > limit:
        longest = set(sorted(order, key=lambda k: -max(totals[k].values()))[:limit])
        keep = [k for k in order if k in longest]
    rows = [["%s: %s" % key] + [seconds(totals[key].get(run)) for run in names] for key in keep]
    rest = [k for k in order if k not in keep]
    if rest:
        rows.append(["(%d other tasks)" % len(rest)] + [seconds(sum(totals[k].get(run, 0.0) for k in rest)) for run in names])
    return rows


def task_section(scale):
    """Where each lbkit converge's time goes, task by task."""
    lines = []
    for entry in scale.get("sizes", []):
        runs = [(run, entry.get("lbkit", {}).get(run, {}).get("tasks")) for run in ("first", "noop")]
        if not any(tasks for dummy, tasks in runs):
            continue
        if not lines:
            lines = ["Where the time goes: each task of `playbooks/appliances.yml` (from its start to the next task's; "
                     "the rest of the wall time is ansible-playbook starting and reading the inventory and spec):", ""]
        lines.append("%d × %d:" % (entry["services"], scale["real_servers_per_service"]))
        lines += ["", table(["play: task", "first", "no-op"], _task_rows(runs)), ""]
    return lines


def _load(path):
    root = Path(__file__).resolve().parents[1]
    try:
        return json.loads((root / path).read_text())
    except (OSError, ValueError):
        return None


def _appliance(measured, key):
    return measured["modules"]["modules"].get("appliance", {}).get(key) if measured else None


def previous_scale_section(scale, previous_path):
    """This run's lbkit figures beside the previous run's, so a regression shows."""
    if not previous_path:
        return []  # a run from before the report compared runs, or the first run
    before = (_load(previous_path) or {}).get("benchmarks", {}).get("scale", {})
    old = dict((e["services"], e.get("lbkit", {})) for e in before.get("sizes", []))
    rows = []
    for entry in scale.get("sizes", []):
        for run in ("first", "noop"):
            now, then = entry.get("lbkit", {}).get(run), old.get(entry["services"], {}).get(run)
            if not now:
                continue
            rows.append(["%d × %d" % (entry["services"], scale["real_servers_per_service"]), run, seconds(now["wall_s"]),
                         seconds(then["wall_s"]) if then else None, now["modules"]["processes"], then["modules"]["processes"] if then else None,
                         seconds(_appliance(now, "seconds")), seconds(_appliance(then, "seconds")),
                         megabytes(_appliance(now, "peak_rss_mb")), megabytes(_appliance(then, "peak_rss_mb"))])
    if not rows:
        return []
    return ["lbkit now and in the previous run (`%s`%s):" % (previous_path, "" if before else ", which cannot be read"), "",
            table(["services × real servers", "run", "wall", "before", "module processes", "before", "appliance module", "before",
                   "its peak RSS", "before"], rows), ""]


def site_section(site):
    lines = ["## site.yml on the embedded lab: two appliances (an HA pair), three real servers, a client", ""]
    rows = []
    for run in ("first", "noop"):
        r = site.get(run)
        if r:
            rows.append([run, seconds(r["wall_s"]), r["changed_tasks"], r["hosts"], megabytes(r["controller_peak_rss_mb"])])
    lines += [table(["run", "wall (verify included)", "changed tasks (all hosts)", "hosts", "controller peak RSS"], rows), ""]
    runs = [(run, site.get(run, {}).get("tasks")) for run in ("first", "noop")]
    if any(tasks for dummy, tasks in runs):
        lines += ["The tasks that took longest (from each task's start to the next task's, all hosts together):", "",
                  table(["play: task", "first", "no-op"], _task_rows(runs, limit=20)), ""]
    return lines


def failover_section(failover):
    lines = ["## Failover: the master's link cut under a new connection every %d ms" % round(failover.get("request_interval_s", 0) * 1000), ""]
    rows, quiet_rows = [], []
    for entry in failover.get("intervals", []):
        if "summary" not in entry:
            continue  # a run that stopped during this interval's trials
        s = entry["summary"]
        rows.append(["%d ms" % entry["advert_interval_ms"], s["failover_outage_s"]["n"], spread(s.get("failover_answer_gap_s")),
                     spread(s["failover_outage_s"]), spread(s["failover_failed_requests"], "", 0), spread(s.get("failback_answer_gap_s")),
                     spread(s["failback_outage_s"]), spread(s["failback_failed_requests"], "", 0), "yes" if s["all_recovered"] else "NO"])
        q = entry["quiet"]
        quiet_rows.append(["%d ms" % entry["advert_interval_ms"], "%d s" % q["seconds"], q["requests"], q["failed"], seconds(q.get("answer_gap_s"), 3),
                           q["spurious_transitions"]])
    lines.append(table(["advert interval", "trials", "failover: longest wait for an answer", "outage by request start", "failed requests",
                        "failback: longest wait for an answer", "outage by request start", "failed requests", "always recovered"], rows))
    lines += ["", "Each cell: min / median / max over the trials. Longest wait for an answer: the longest time the client went "
              "without any answer arriving, the outage it felt. Outage by request start: from the last request answered before the "
              "failure to the first request answered after it, by the time requests started, as the failover drill measures it; it "
              "can be shorter, because a request whose first SYN was lost is answered by the SYN's retransmission 1 s later, just "
              "past the client's 1 s timeout, and counts as answered, splitting the window.", ""]
    lines += ["", "No failure, load only (VRRP state changes in keepalived's log on both nodes are spurious):", ""]
    lines.append(table(["advert interval", "load", "requests", "failed", "longest wait for an answer", "spurious transitions"], quiet_rows))
    lines.append("")
    return lines


def _step_rows(steps, servers, extra=()):
    rows = []
    for step in steps:
        rows.append([step["step"]] + [step.get(k) for k in extra] + [step["requests"], step["failed"]]
                    + [step["answered"].get(name, 0) for name in servers])
    return rows


def _failures(steps):
    """One line per failed request: its step, when in the step it started, what the client saw."""
    return ["- %s, %.2f s into the step: %s" % (step["step"], f["after_s"], f["error"]) for step in steps for f in step.get("failures", [])]


def zero_loss_section(zero):
    lines = ["## Zero loss: changes converged one after another under load", ""]
    l7 = zero.get("layer7")
    if l7:
        servers = ("rs1", "rs2", "rs3")
        rows = [[r[0], r[1], seconds(r[2], 1)] + r[3:] for r in _step_rows(l7["steps"], servers, ("how", "converge_s"))]
        lines.append("Layer 7 (containers, HAProxy): a new connection every %d ms, %d requests, **%d failed**; the drained server answered %d "
                     "requests after the drain." % (round(l7["interval_s"] * 1000), l7["total"], l7["failed"], l7["drained_server_answered_after_drain"]))
        lines += ["", table(["step", "how", "took", "requests", "failed"] + ["answered by %s" % s for s in servers], rows), ""]
        lines += _failures(l7["steps"]) + ([""] if _failures(l7["steps"]) else [])
    l4 = zero.get("layer4")
    if l4 and l4.get("observations"):
        o = l4["observations"]
        servers = ("rs1", "rs2", "rs3")
        lines.append("Layer 4 (keepalived and IPVS, `tests/ipvs/runner.py zero_loss`, %s mode: %s): a new connection every %d ms, %d requests, "
                     "**%d failed**; the drained server answered %d requests after the drain." % (
                         l4["how"]["mode"], l4["how"]["why"], round(o["interval"] * 1000), o["total"], o["failed"], o["drained_server_after_drain"]))
        lines += ["", table(["step", "requests", "failed"] + ["answered by %s" % s for s in servers], _step_rows(o["steps"], servers)), ""]
        lines += _failures(o["steps"]) + ([""] if _failures(o["steps"]) else [])
    elif l4:
        lines += ["Layer 4: the IPVS tier's scenario did not run to its end: %s" % (l4.get("error") or "no observations"), ""]
    return lines


def loadmaster_section(figures):
    """The LoadMaster engine against the simulator with the documented rate limit."""
    rows = []
    for size, entry in sorted(figures["sizes"].items(), key=lambda item: int(item[0])):
        for name, label in (("first", "first converge"), ("noop", "no-op rerun"), ("one_change", "one weight")):
            run = entry["runs"].get(name)
            if run is None:
                continue
            rows.append(["%s x %d" % (size, entry["real_servers"]), label, seconds(run["wall_s"], 1), run["calls"],
                         run["operations"], seconds(run["rate_wait_s"], 1), entry["dropped"]])
    limit = next(iter(figures["sizes"].values()))["rate_limit"]
    return ["## LoadMaster engine (against lbkit's API simulator)", "",
            "The simulator drops the connection of more than %d calls in %g s, as the API documentation says; "
            "lbkit spaces its calls to 25 in any 3 s. A simulator answers faster than an appliance." % tuple(limit), "",
            table(["services x real servers", "run", "wall", "API calls", "writes planned", "waited for the rate limit", "dropped"], rows), ""]


def _shift(lines, depth):
    """Headings one level per ``depth`` deeper (for a report inside another document)."""
    return [("#" * depth + line) if line.startswith("#") else line for line in lines]


def markdown(results, depth=0):
    """The whole report: command, machine, then each benchmark that ran; ``depth`` lowers
    every heading by that many levels."""
    lines = ["# lbkit benchmarks, %s%s" % (results.get("stamp"), " (--quick: not for quoting)" if results.get("quick") else ""), "",
             "Command: `%s`" % results.get("command"), ""]
    lines += machine_section(results)
    benchmarks = results.get("benchmarks", {})
    previous = results.get("previous", {})
    if benchmarks.get("scale", {}).get("sizes"):
        lines += scale_section(benchmarks["scale"])
        lines += previous_scale_section(benchmarks["scale"], previous.get("scale"))
        lines += task_section(benchmarks["scale"])
    if benchmarks.get("site", {}).get("first"):
        lines += site_section(benchmarks["site"])
    if "failover" in benchmarks:
        lines += failover_section(benchmarks["failover"])
    if "zero_loss" in benchmarks:
        lines += zero_loss_section(benchmarks["zero_loss"])
    if benchmarks.get("loadmaster", {}).get("sizes"):
        lines += loadmaster_section(benchmarks["loadmaster"])
    for name, error in sorted(results.get("errors", {}).items()):
        lines += ["## %s: FAILED" % name, "", "```", error.rstrip(), "```", ""]
    return "\n".join(_shift(lines, depth))


DOC_BEGIN = "<!-- BEGIN figures of %s: generated by python -m benchmarks.report, do not edit by hand -->"
DOC_END = "<!-- END figures -->"
DOC_BLOCK = re.compile(r"<!-- BEGIN figures of (\S+): .*?-->\n.*?<!-- END figures -->", re.S)


def doc_block(results_path, results):
    """The figures block of docs/benchmarks.md for one results file."""
    return "%s\n%s\n%s" % (DOC_BEGIN % results_path, markdown(results, depth=2).rstrip(), DOC_END)


def quoted_results(doc_text):
    """The results files docs/benchmarks.md quotes, in the order of its figures blocks."""
    return [found.group(1) for found in DOC_BLOCK.finditer(doc_text)]


def main(argv):
    """python -m benchmarks.report RESULTS_JSON: put its figures into docs/benchmarks.md, in place of
    the block that quotes a run of the same benchmarks."""
    root = Path(__file__).resolve().parents[1]
    results_path = Path(argv[0]).resolve().relative_to(root)
    results = json.loads((root / results_path).read_text())
    doc = root / "docs" / "benchmarks.md"
    text = doc.read_text()
    kinds = set(results.get("benchmarks", {}))
    for found in DOC_BLOCK.finditer(text):
        quoted = json.loads((root / found.group(1)).read_text()) if (root / found.group(1)).is_file() else {}
        if set(quoted.get("benchmarks", {})) == kinds:
            doc.write_text(text[:found.start()] + doc_block(str(results_path), results) + text[found.end():])
            sys.stdout.write("docs/benchmarks.md now quotes %s\n" % results_path)
            return 0
    raise SystemExit("docs/benchmarks.md has no figures block of a run of %s (%s ... %s): add one where it belongs"
                     % (", ".join(sorted(kinds)), DOC_BEGIN % "FILE", DOC_END))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
