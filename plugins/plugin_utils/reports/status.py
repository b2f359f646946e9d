# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The status overview of a cluster (the manuals' System Overview): every virtual service and real
server in its state and colour, as the master sees them, and each node's HA state."""

from __future__ import annotations

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import load_spec
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.ha import node_rows
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.table import text_table, verdict

# The manuals' colours for each state (docs/monitoring.md).
COLOUR = {
    "healthy": "green", "degraded": "yellow", "down": "red", "drained": "blue",
    "up": "green", "halted": "blue",
}


def _endpoint(address, port, protocol=None):
    text = "[%s]:%s" % (address, port) if ":" in str(address) else "%s:%s" % (address, port)
    return text + ("/" + protocol if protocol else "")


def status_report(infos, data):
    """{nodes, viewer, services, problems, ok, text} from ``infos`` (every appliance's appliance_info
    result by host, read with every part) and the raw spec ``data``.

    The services are the master's view (the first node read when there is no master): both nodes
    run the health checks, but only the master's decide where traffic goes.
    """
    spec = load_spec(data)
    infos = infos or {}
    nodes, problems = node_rows(spec, infos)
    masters = [n["node"] for n in nodes if n["state"] == "MASTER"]
    viewer = masters[0] if masters else (nodes[0]["node"] if nodes else None)
    if nodes and len(masters) != 1:
        problems.append("the cluster has %s." % ("no master" if not masters else "%d masters: %s" % (len(masters), ", ".join(masters))))
    services = list((infos.get(viewer) or {}).get("status") or []) if viewer else []
    for svc in services:
        if svc["status"] != "healthy":
            problems.append("virtual service %s is %s (%s)." % (svc["name"], svc["status"], COLOUR[svc["status"]]))
        for rs in svc["real_servers"]:
            if rs["status"] == "down":
                problems.append("real server %s of %s is down." % (rs["name"], _group(svc, rs)))
    report = dict(nodes=nodes, viewer=viewer, services=services, problems=problems, ok=not problems)
    report["text"] = status_text(spec.cluster.name, report)
    return report


def _group(svc, rs):
    """The service, or the sub service ('service:sub'), a real server's row belongs to."""
    return svc["name"] if not rs.get("sub_service") else "%s:%s" % (svc["name"], rs["sub_service"])


def status_text(cluster, report):
    rows = []
    for svc in report["services"]:
        head = [svc["name"], _endpoint(svc["address"], svc["port"], svc["protocol"]), svc["layer"], "%s (%s)" % (svc["status"], COLOUR[svc["status"]])]
        if not svc["real_servers"]:
            rows.append(head + ["-", "-", "-", "-", "-"])
        for rs in svc["real_servers"]:
            name = rs["name"] if not rs.get("sub_service") else "%s (%s)" % (rs["name"], rs["sub_service"])
            rows.append(head + [name, _endpoint(rs["address"], rs["port"]), "%s (%s)" % (rs["status"], COLOUR[rs["status"]]),
                                rs["weight"], rs["active"]])
    lines = ["Status of cluster %s%s" % (cluster, " (as %s sees it)" % report["viewer"] if report["viewer"] else ""), ""]
    lines.append(text_table(["service", "VIP", "layer", "status", "real server", "address", "status", "weight", "connections"], rows, group=4))
    lines.append("")
    lines.append(text_table(["node", "VRRP", "holds", "keepalived", "haproxy"],
                            [[n["node"], n["state"], ", ".join(n["holds"]) or "nothing", "running" if n["keepalived"] else "stopped",
                              "running" if n["haproxy"] else "stopped"] for n in report["nodes"]]))
    lines.append("")
    lines += verdict(report["problems"], "All green: every virtual service is healthy and the HA state is sound.")
    return "\n".join(lines)
