# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The traffic report: which real servers answered the requests sent through each VIP.

Two witnesses, both from real traffic:

- the appliances' counters (HAProxy's sessions per server, IPVS's connections per real
  server), read before and after the requests and summed over the nodes: every appliance
  application works with them, but they also count other clients' traffic in between;
- the responses themselves, when their first line names a real server of the service (the
  lab's real servers answer with their name): then each request's server is known.

A real server counts as answering when a response named it, or, where no response names a
server, when its counter went up.
"""

from __future__ import annotations

from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.table import text_table, verdict
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._verify.targets import targets


def session_counts(target, infos):
    """Sessions (layer 7) or connections (layer 4) per real server name, summed over the appliances."""
    by_endpoint = dict(((rs.address, rs.port), rs.name) for rs in target.real_servers)
    out = {}
    lines = target.line_names()
    for info in (infos or {}).values():
        if target.layer == 7:
            servers = (((info or {}).get("haproxy") or {}).get("services") or {}).get(target.service) or {}
            for name, entry in servers.items():
                name = lines.get(name, name)
                out[name] = out.get(name, 0) + int(entry.get("total_sessions", 0))
            continue
        for svc in ((info or {}).get("ipvs") or {}).get("services", []):
            if (svc["protocol"], svc["address"], svc["port"]) != (target.protocol, target.address, target.port):
                continue
            for rs in svc["real_servers"]:
                name = by_endpoint.get((rs["address"], rs["port"]), "%s:%s" % (rs["address"], rs["port"]))
                out[name] = out.get(name, 0) + int(rs.get("connections", 0))
    return out


def _serving_node(target, infos):
    """The appliance holding the service's VIP, else the first that reports anything."""
    names = sorted(infos or {})
    for name in names:
        if target.address in (((infos[name] or {}).get("vrrp") or {}).get("held") or []):
            return name
    return names[0] if names else None


def health(target, infos):
    """{real server name: (healthy, text)} as the appliance holding the VIP sees them."""
    node = _serving_node(target, infos)
    info = (infos or {}).get(node) or {}
    out = {}
    if target.layer == 7:
        servers = ((info.get("haproxy") or {}).get("services") or {}).get(target.service) or {}
        for rs in target.real_servers:
            entry = servers.get(rs.name)
            if entry is None:
                out[rs.name] = (False, "not in HAProxy")
                continue
            status = entry.get("status") or "?"
            out[rs.name] = (status.upper().startswith("UP") or status.lower() == "no check", status)
        return out
    table = {}
    for svc in (info.get("ipvs") or {}).get("services", []):
        if (svc["protocol"], svc["address"], svc["port"]) == (target.protocol, target.address, target.port):
            table = dict(((rs["address"], rs["port"]), rs) for rs in svc["real_servers"])
    for rs in target.real_servers:
        entry = table.get((rs.address, rs.port))
        if entry is None:
            out[rs.name] = (False, "not in the IPVS table")
        else:
            out[rs.name] = (entry["weight"] > 0, "in table, weight %d" % entry["weight"])
    return out


def _set_aside(status):
    """'drained' or 'halted' when an appliance's status says a runtime operation set the server aside."""
    status = status.upper()
    if status.startswith("DRAIN") or status.endswith("WEIGHT 0"):
        return "drained"
    if status.startswith("MAINT"):
        return "halted"
    return None


def _answers(target, requests):
    """Requests per real server named by the responses, or None when no response names one."""
    names = set(rs.name for rs in target.real_servers)
    counts = dict((name, 0) for name in names)
    named = False
    for request in requests:
        if request.get("ok") and request.get("answer") in names:
            counts[request["answer"]] += 1
            named = True
    return counts if named else None


def service_report(target, probe, before, after):
    """The report of one virtual service: its real servers, the requests and the problems."""
    requests = (probe or {}).get("requests") or []
    plain = [r for r in requests if not r.get("cookie")]
    sticky = [r for r in requests if r.get("cookie")]
    start, end = session_counts(target, before), session_counts(target, after)
    answers = _answers(target, requests)
    seen = health(target, after)
    problems = []
    where = "%s (%s)" % (target.service, target.vip)
    failed = [r for r in requests if not r.get("ok")]
    if failed:
        problems.append("%s: %d of %d requests were not answered (first: %s)." % (where, len(failed), len(requests), failed[0].get("result")))
    servers = []
    for rs in target.real_servers:
        sessions = end.get(rs.name, 0) - start.get(rs.name, 0)
        answered = (answers[rs.name] > 0) if answers is not None else sessions > 0
        healthy, status = seen.get(rs.name, (False, "unknown"))
        servers.append(
            dict(name=rs.name, address="%s:%d" % (rs.address, rs.port), state=rs.state, health=status, healthy=healthy,
                 sessions=sessions, answers=None if answers is None else answers[rs.name], answered=answered)
        )
        if not target.requests:
            continue
        if rs.state != "enabled":
            if answers is not None and answers[rs.name] > 0:
                problems.append("%s: %s is %s in the spec, yet it answered %d requests." % (where, rs.name, rs.state, answers[rs.name]))
        elif target.spread and not answered and _set_aside(status):
            problems.append("%s: %s is enabled in the spec but %s on the appliance, so it answered none of the %d requests. "
                            "Enable it (playbooks/real_server.yml -e state=enabled) or converge, or set its state in the spec."
                            % (where, rs.name, _set_aside(status), len(plain)))
        elif target.spread and not answered:
            problems.append("%s: %s answered none of the %d requests (health: %s)." % (where, rs.name, len(plain), status))
        elif not target.spread and not healthy:
            problems.append("%s: %s is not up on the appliance (health: %s)." % (where, rs.name, status))
    notes = [target.note] if target.note else []
    if target.sticky and sticky:
        first = next((r.get("answer") for r in plain if r.get("ok")), None)
        stayed = [r.get("answer") for r in sticky]
        if answers is None:
            notes.append("cookie persistence not checked: the responses do not name the real server")
        elif any(answer != first for answer in stayed):
            problems.append("%s: cookie persistence did not hold: a client holding the cookie from %s was answered by %s."
                            % (where, first, ", ".join(sorted(set(str(a) for a in stayed)))))
        else:
            notes.append("cookie persistence held: %d requests with the cookie from %s all went to %s" % (len(sticky), first, first))
    return dict(
        service=target.service, vip=target.vip, layer=target.layer, scheme=target.scheme or None,
        spread=target.spread, requests=requests, real_servers=servers, named=answers is not None,
        notes=notes, problems=problems, ok=not problems,
    )


def traffic_report(probes, data, before, after):
    """The traffic report over every virtual service of the raw spec ``data``.

    ``probes`` is vip_probe's ``probes``; ``before`` and ``after`` map each appliance to its
    appliance_info result read around the requests. (The order suits the filter of that name.)
    """
    by_service = dict((p["service"], p) for p in probes or [])
    reports = [service_report(t, by_service.get(t.service), before, after) for t in targets(data)]
    problems = [p for r in reports for p in r["problems"]]
    report = dict(services=reports, problems=problems, ok=not problems)
    report["text"] = traffic_text(report)
    return report


def traffic_text(report):
    """The traffic report as a person reads it: the requests, then the real servers, then the verdict."""
    request_rows = []
    server_rows = []
    notes = []
    for svc in report["services"]:
        for r in svc["requests"]:
            request_rows.append([svc["service"], svc["vip"], r["n"], "with cookie" if r.get("cookie") else "new client",
                                 r.get("result"), r.get("answer") or "-"])
        for rs in svc["real_servers"]:
            sessions = "%+d" % rs["sessions"]
            server_rows.append([svc["service"], rs["name"], rs["address"], rs["state"], rs["health"], sessions,
                                rs["answers"], "yes" if rs["answered"] else "no"])
        notes.extend("%s: %s." % (svc["service"], note) for note in svc["notes"])
    lines = ["Requests through the VIPs (one new connection each; answer: the response's first line)", ""]
    lines.append(text_table(["service", "VIP", "#", "client", "result", "answer"], request_rows, group=2) if request_rows else "(no requests sent)")
    lines += ["", "Real servers (sessions: the appliances' counters during the requests, all clients; answers: responses naming the server)", ""]
    lines.append(text_table(["service", "real server", "address", "spec", "health", "sessions", "answers", "answered"], server_rows, group=1))
    if notes:
        lines += [""] + notes
    lines.append("")
    lines += verdict(report["problems"], "Every enabled real server answered where the scheduler spreads clients; every request was answered.")
    return "\n".join(lines)
