# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The failover drill's report: who held the VIPs at each step, and the outage the client saw."""

from __future__ import annotations

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import load_spec
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.ha import ha_report
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.report import session_counts
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.table import text_table, verdict
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._verify.targets import target


def _state(infos, host):
    info = (infos or {}).get(host) or {}
    vrrp = info.get("vrrp") or {}
    return vrrp.get("state", "unknown") if vrrp.get("running", False) else "stopped"


def _holders(infos, address):
    return sorted(h for h, info in (infos or {}).items() if address in (((info or {}).get("vrrp") or {}).get("held") or []))


def drill_report(load, data, before, during, after, failed, method):
    """The drill on the raw spec ``data``: ``failed`` is the master that was failed by ``method``.

    ``before``, ``during`` and ``after`` map each appliance to its appliance_info result: before
    the failure, once the other node had taken over, and after the failed node came back.
    ``load`` is vip_probe's ``load`` result for the client traffic that ran through it all.
    """
    spec = load_spec(data)
    hosts = [n.host for n in spec.cluster.nodes]
    others = [h for h in hosts if h != failed]
    vip = (load or {}).get("address")
    steps = []
    for moment, infos in (("before the drill", before), ("%s failed (%s)" % (failed, method), during), ("%s back" % failed, after)):
        steps.append([moment] + [_state(infos, h) for h in hosts] + [", ".join(_holders(infos, vip)) or "nobody"])
    problems = []
    expected = sorted(set(a for info in (before or {}).values() for a in ((info or {}).get("vrrp") or {}).get("expected", [])))
    took_over = None
    for other in others:
        held = set((((during or {}).get(other) or {}).get("vrrp") or {}).get("held") or [])
        if expected and held >= set(expected):
            took_over = other
    served = 0
    if took_over is None:
        problems.append("no other node took over every floating address (%s) while %s was failed." % (", ".join(expected), failed))
    else:
        # The sessions (connections at layer 4) the node that took over handled during the drill.
        for group in (group for vs in spec.virtual_services for group in vs.groups()):
            start = session_counts(target(group), {took_over: (before or {}).get(took_over)})
            end = session_counts(target(group), {took_over: (after or {}).get(took_over)})
            served += sum(end.values()) - sum(start.values())
        if served <= 0:
            problems.append("%s holds the floating addresses but served no session during the drill." % took_over)
    outage = (load or {}).get("outage") or {}
    if not outage.get("recovered"):
        problems.append("the client traffic to %s had not recovered when the drill ended." % (load or {}).get("service"))
    final = ha_report(after, data)
    problems.extend("after the drill: " + p for p in final["problems"])
    report = dict(failed=failed, method=method, took_over=took_over, served=served, steps=steps, outage=outage,
                  service=(load or {}).get("service"), vip=(load or {}).get("vip"), problems=problems, ok=not problems)
    report["text"] = drill_text(report, hosts, load or {})
    return report


def drill_text(report, hosts, load):
    outage = report["outage"]
    lines = ["Failover drill: %s failed by %s" % (report["failed"], report["method"]), ""]
    lines.append(text_table(["step"] + hosts + ["VIP %s held by" % (load.get("address") or "?")], report["steps"]))
    lines.append("")
    if report["took_over"]:
        lines.append("%s took over and served %d sessions (its own counters) while %s was down and after." % (
            report["took_over"], report["served"], report["failed"]))
    lines.append("Client traffic to %s (%s): %d requests, one every %d ms, each with a %.1f s timeout; %d failed." % (
        report["service"], report["vip"], outage.get("requests", 0), load.get("interval_ms", 0), load.get("timeout", 0.0),
        outage.get("failed", 0)))
    windows = outage.get("windows") or []
    if windows:
        rows = [["%.2f s" % w["start_s"], "%.2f s" % w["end_s"], "%.2f s" % w["seconds"], w["failed"], "yes" if w["recovered"] else "NO"]
                for w in windows]
        lines += ["", text_table(["from", "to", "outage", "failed requests", "recovered"], rows), ""]
        lines.append("Measured outage: %.2f s (the longest time without an answer)." % outage.get("longest_outage_s", 0.0))
    else:
        lines.append("Measured outage: none; every request was answered.")
    lines.append("")
    lines += verdict(report["problems"], "The drill passed: the backup took over, the service came back, and the pair is healthy again.")
    return "\n".join(lines)
