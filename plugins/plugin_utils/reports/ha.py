# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HA state of a cluster from every node's appliance_info: who is master, who holds what."""

from __future__ import annotations

from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.diagnosis import cluster_diagnosis
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import load_spec
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.table import text_table, verdict


def ha_report(infos, data):
    """Rows per node, the master, and the problems (empty when the cluster is healthy), from
    ``infos``, every appliance's appliance_info result by host, and the raw spec ``data``.

    Healthy: every node was read and runs keepalived; a pair has one MASTER and one BACKUP, a
    single node is MASTER; every floating address is held by exactly one node; and no node has
    a diagnosis of its own (appliance_info's, such as a real server down).
    """
    spec = load_spec(data)
    infos = infos or {}
    nodes, problems = node_rows(spec, infos)
    read = dict((host, infos[host]) for host in (n["node"] for n in nodes))
    problems.extend(cluster_diagnosis(read))
    states = sorted(n["state"] for n in nodes)
    wanted = ["BACKUP", "MASTER"] if spec.cluster.ha.mode == "pair" else ["MASTER"]
    if len(nodes) == len(spec.cluster.nodes) and states != wanted:
        problems.append("%s: expected %s, found %s." % (
            "the pair" if spec.cluster.ha.mode == "pair" else "the appliance",
            " and ".join("one %s" % s for s in wanted),
            ", ".join("%s %s" % (n["node"], n["state"]) for n in nodes)))
    masters = [n["node"] for n in nodes if n["state"] == "MASTER"]
    report = dict(mode=spec.cluster.ha.mode, nodes=nodes, master=masters[0] if len(masters) == 1 else None,
                  problems=problems, ok=not problems)
    report["text"] = ha_text(report)
    return report


def node_rows(spec, infos):
    """([{node, priority, state, holds, keepalived, haproxy}] of the nodes read, [a problem for each node not read])."""
    nodes, problems = [], []
    for node in spec.cluster.nodes:
        info = infos.get(node.host)
        if info is None:
            problems.append("%s: not read (it is not in this run's results)." % node.host)
            continue
        vrrp = info.get("vrrp") or {}
        nodes.append(dict(
            node=node.host, priority=node.priority, state=vrrp.get("state", "unknown"), holds=list(vrrp.get("held") or []),
            keepalived=bool(vrrp.get("running")), haproxy=bool((info.get("haproxy") or {}).get("running")),
        ))
    return nodes, problems


def ha_text(report):
    rows = [[n["node"], n["priority"], n["state"], ", ".join(n["holds"]) or "nothing",
             "running" if n["keepalived"] else "stopped", "running" if n["haproxy"] else "stopped"] for n in report["nodes"]]
    lines = ["HA state (%s)" % ("HA pair" if report["mode"] == "pair" else "single appliance"), ""]
    lines.append(text_table(["node", "priority", "VRRP", "holds", "keepalived", "haproxy"], rows))
    lines.append("")
    lines += verdict(report["problems"], "Healthy: %s is master and holds every floating address%s." % (
        report["master"], "; the backup is ready" if report["mode"] == "pair" else ""))
    return "\n".join(lines)
