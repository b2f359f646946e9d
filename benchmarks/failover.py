# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Failover: an HA pair converged by lbkit, its master hard-failed (link down) under a new
connection every 20 ms; the outage the client saw, the failback, and VRRP transitions while
nothing fails. For the default advert interval (200 ms) and the fastest VRRPv3 allows (10 ms).

The lab: lb1 and lb2 (the pair, preempt on), rs1 and rs2 (a web service each), a client. Each
trial: load starts, lb1's eth0 goes down (as a pulled cable) and comes back 3 s after lb2 took
the VIP; lb1 takes the VIP back once its health checks allow (preempt_delay); the load stops
2 s later. The failover outage is the longest gap without an answer before the link came
back, the failback outage the longest after.
"""

from __future__ import annotations

import json
import time

from benchmarks import figures, specs
from benchmarks.lab import ROOT, BenchError, Lab, Load, wait_for

APPLIANCES = ROOT / "playbooks" / "appliances.yml"
URL = "http://%s/" % specs.VIP
INTERVAL = 0.02
TIMEOUT = 1.0
# The default (cluster.ha.advert_interval_ms) among them; 200 ms was the default before 0.2.0.
ADVERT_INTERVALS_MS = (200, 100, 50, 10)
DEFAULT_MS = 100
DOWN_FOR = 3.0
LEAD, TAIL = 2.0, 2.0


def _hosts():
    return [("lb1", specs.LB1, "appliances"), ("lb2", specs.LB2, "appliances"), ("rs1", specs.real_server_address(1), "servers"),
            ("rs2", specs.real_server_address(2), "servers"), ("client", specs.CLIENT, "clients")]


def _healthy(lab):
    """lb1 (the preferred master) holds the VIP and lb2 does not."""
    return lab.holds("lb1") and not lab.holds("lb2")


def _transitions(lab, since, until):
    return dict((host, figures.transitions(lab.journal(host, "keepalived", since, until))) for host in ("lb1", "lb2"))


def _trial(lab, advert_ms, number, say):
    if not wait_for(lambda: _healthy(lab), 60):
        raise BenchError("trial %d: lb1 did not hold the VIP alone before the trial" % number)
    started = time.time()
    load = Load(lab, "client", URL, 3600, INTERVAL, TIMEOUT)
    time.sleep(LEAD)
    cut = time.time()
    lab.exec("lb1", ["ip", "link", "set", "eth0", "down"])
    moved = wait_for(lambda: lab.holds("lb2"), 30, interval=0.05)
    moved_s = time.time() - cut
    time.sleep(DOWN_FOR)
    restored = time.time()
    lab.exec("lb1", ["ip", "link", "set", "eth0", "up"])
    back = wait_for(lambda: _healthy(lab), 60, interval=0.05)
    back_s = time.time() - restored
    time.sleep(TAIL)
    requests = load.stop()
    ended = time.time()
    (lab.workdir / ("requests-%dms-%d.json" % (advert_ms, number))).write_text(json.dumps(requests) + "\n")
    over = figures.client_outage(requests, until=restored)
    again = figures.client_outage(requests, since=restored)
    say("  trial %d: failover outage %.3f s (%d failed, longest wait for an answer %.3f s), failback outage %.3f s (%d failed)"
        % (number, over["longest_outage_s"], over["failed"], figures.answer_gap(requests, until=restored), again["longest_outage_s"], again["failed"]))
    return {
        "trial": number,
        "requests": len(requests),
        "failover": {"outage_s": over["longest_outage_s"], "failed": over["failed"], "recovered": over["recovered"], "windows": over["windows"],
                     "answer_gap_s": figures.answer_gap(requests, until=restored), "vip_on_backup": moved, "vip_on_backup_polled_s": round(moved_s, 2)},
        "failback": {"outage_s": again["longest_outage_s"], "failed": again["failed"], "recovered": again["recovered"], "windows": again["windows"],
                     "answer_gap_s": figures.answer_gap(requests, since=restored), "vip_back": back, "vip_back_polled_s": round(back_s, 2)},
        "transitions": _transitions(lab, started, ended),
    }


def _quiet(lab, seconds):
    """Load for ``seconds`` with nothing failing: failed requests and VRRP transitions."""
    started = time.time()
    requests = Load(lab, "client", URL, seconds, INTERVAL, TIMEOUT).wait(seconds + 120)
    ended = time.time()
    found = _transitions(lab, started, ended)
    return {"seconds": seconds, "requests": len(requests), "failed": len([r for r in requests if not r["ok"]]),
            "answer_gap_s": figures.answer_gap(requests), "transitions": found, "spurious_transitions": sum(len(t) for t in found.values())}


def _interval(lab, advert_ms, trials, quiet_seconds, say):
    spec = lab.workdir / ("spec-%dms.json" % advert_ms)
    spec.write_text(json.dumps({"lbkit_spec": specs.failover_spec(advert_ms)}) + "\n")
    say("failover %d ms: converge the pair" % advert_ms)
    lab.run(APPLIANCES, "-e", "@%s" % spec, log=lab.workdir / ("converge-%dms.log" % advert_ms))
    if not wait_for(lambda: _healthy(lab), 60):
        raise BenchError("after the converge for %d ms adverts, lb1 does not hold the VIP alone" % advert_ms)
    time.sleep(5)
    say("failover %d ms: %d s of load with no failure" % (advert_ms, quiet_seconds))
    out = {"advert_interval_ms": advert_ms, "quiet": _quiet(lab, quiet_seconds), "trials": []}
    for number in range(1, trials + 1):
        out["trials"].append(_trial(lab, advert_ms, number, say))
    done = out["trials"]
    out["summary"] = {
        "failover_outage_s": figures.distribution([t["failover"]["outage_s"] for t in done]),
        "failover_failed_requests": figures.distribution([t["failover"]["failed"] for t in done]),
        "failover_answer_gap_s": figures.distribution([t["failover"]["answer_gap_s"] for t in done]),
        "failback_answer_gap_s": figures.distribution([t["failback"]["answer_gap_s"] for t in done]),
        "failback_outage_s": figures.distribution([t["failback"]["outage_s"] for t in done]),
        "failback_failed_requests": figures.distribution([t["failback"]["failed"] for t in done]),
        "all_recovered": all(t["failover"]["recovered"] and t["failback"]["recovered"] for t in done),
    }
    return out


def run(trials, workdir, keep=False, quiet_seconds=60, say=print, out=None, default_quiet_seconds=600):
    """The failover benchmark: ``trials`` trials per advert interval, and a quiet run each (for
    the default interval ``default_quiet_seconds`` long: spurious transitions are rare events)."""
    out = {} if out is None else out
    out.update(request_interval_s=INTERVAL, request_timeout_s=TIMEOUT, down_for_s=DOWN_FOR, intervals=[])
    with Lab("failover", _hosts(), workdir, keep=keep) as lab:
        lab.serve("rs1", "rs1")
        lab.serve("rs2", "rs2")
        for advert_ms in ADVERT_INTERVALS_MS:
            quiet = default_quiet_seconds if advert_ms == DEFAULT_MS else quiet_seconds
            out["intervals"].append(_interval(lab, advert_ms, trials, quiet, say))
    return out
