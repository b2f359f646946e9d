# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The figures the benchmarks report, computed from what they recorded. Pure.

Client requests are tests/ipvs/peer.py's ``load`` results: one dict per request with ``at``
(the wall-clock time it started), ``ok`` and ``server`` (the real server that answered).
"""

from __future__ import annotations

import re
import statistics

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._verify.outage import outage

# keepalived logs every VRRP state change as "(INSTANCE) Entering STATE STATE".
TRANSITION = re.compile(r"\((?P<instance>[^)]+)\) Entering (?P<state>MASTER|BACKUP|FAULT) STATE")
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def distribution(values):
    """{n, min, median, max} of ``values`` (None for an empty list)."""
    values = [v for v in values if v is not None]
    if not values:
        return {"n": 0, "min": None, "median": None, "max": None}
    return {"n": len(values), "min": min(values), "median": statistics.median(values), "max": max(values)}


def ratio(slow, fast):
    """How many times ``fast`` goes into ``slow``, to one decimal (None without both)."""
    if slow is None or not fast:
        return None
    return round(float(slow) / fast, 1)


def client_outage(requests, since=None, until=None):
    """vip_probe's outage summary of the requests that started in [since, until)."""
    chosen = [r for r in requests if (since is None or r["at"] >= since) and (until is None or r["at"] < until)]
    chosen.sort(key=lambda r: r["at"])
    if not chosen:
        return outage([])
    origin = chosen[0]["at"]
    return outage([(int(round((r["at"] - origin) * 1000)), r["ok"], r.get("server")) for r in chosen])


def answer_gap(requests, since=None, until=None):
    """The longest time between two answers arriving, for the requests started in [since, until).

    A request started during an outage may still be answered late (its packets waited for the
    address to move); the outage counts it as answered, this gap shows the wait.
    """
    arrived = sorted(r["at"] + r["took"] for r in requests
                     if r["ok"] and (since is None or r["at"] >= since) and (until is None or r["at"] < until))
    return round(max([b - a for a, b in zip(arrived, arrived[1:])] or [0.0]), 3)


def step_counts(requests, marks, servers=()):
    """Requests and failures between consecutive ``marks`` [(label, time)], per step.

    The last step runs to the end of the load. ``servers`` names the real servers whose
    answers are counted in each step.
    """
    steps = []
    for index, (label, start) in enumerate(marks):
        end = marks[index + 1][1] if index + 1 < len(marks) else None
        window = [r for r in requests if r["at"] >= start and (end is None or r["at"] < end)]
        steps.append({
            "step": label,
            "requests": len(window),
            "failed": len([r for r in window if not r["ok"]]),
            "failures": [{"after_s": round(r["at"] - start, 3), "error": r.get("error")} for r in window if not r["ok"]],
            "answered": dict((name, len([r for r in window if r.get("server") == name])) for name in servers),
        })
    return steps


def transitions(log_lines):
    """[(instance, state)] of the VRRP state changes in keepalived's log lines, in order."""
    out = []
    for line in log_lines:
        found = TRANSITION.search(line)
        if found:
            out.append((found.group("instance"), found.group("state")))
    return out


def recap(output):
    """{host: {ok, changed, unreachable, failed}} of the last PLAY RECAP in ansible-playbook's output."""
    last = output.rsplit("PLAY RECAP", 1)[-1]
    keys = ("ok", "changed", "unreachable", "failed")
    return dict((m.group(1), dict(zip(keys, (int(m.group(i)) for i in range(2, 6))))) for m in RECAP.finditer(last))


def module_totals(records):
    """Module processes of one playbook run: count, summed wall seconds and peak RSS, per module.

    ``records`` are the timer's lines: {module, seconds, maxrss_kb, ...}.
    """
    total = {"processes": len(records), "seconds": round(sum(r["seconds"] for r in records), 3),
             "peak_rss_mb": round(max([r["maxrss_kb"] for r in records] or [0]) / 1024.0, 1), "modules": {}}
    for record in records:
        entry = total["modules"].setdefault(record["module"], {"processes": 0, "seconds": 0.0, "peak_rss_mb": 0.0})
        entry["processes"] += 1
        entry["seconds"] = round(entry["seconds"] + record["seconds"], 3)
        entry["peak_rss_mb"] = max(entry["peak_rss_mb"], round(record["maxrss_kb"] / 1024.0, 1))
    return total


def projection(measured_items, measured_seconds, items):
    """Seconds for ``items`` task items at the per-item time of a measured run (a lower bound
    for per-object work whose every item reads the whole file, which grows with the items)."""
    if not measured_items:
        return None
    return round(measured_seconds / measured_items * items, 1)
