# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Zero loss: under a steady load, converge one change after another and count the requests
that failed in each step: add a service, change weights, add a real server, drain a server,
remove the drained server.

Layer 7 runs in containers: one appliance converged by the appliance role (HAProxy's seamless
reload), the drain through playbooks/real_server.yml (the runtime API, no reload), a new
connection every 20 ms from a client. Layer 4 runs the IPVS tier's ``zero_loss`` scenario
(tests/ipvs/runner.py: keepalived and IPVS, in a QEMU guest where this kernel has no IPVS).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from benchmarks import figures, specs
from benchmarks.lab import ROOT, Lab, Load

APPLIANCES = ROOT / "playbooks" / "appliances.yml"
REAL_SERVER = ROOT / "playbooks" / "real_server.yml"
URL = "http://%s/" % specs.VIP
INTERVAL = 0.02
TIMEOUT = 1.0
SETTLE = 5.0
SERVERS = ("rs1", "rs2", "rs3")


def _hosts():
    hosts = [("lb1", specs.LB1, "appliances"), ("client", specs.CLIENT, "clients")]
    return hosts + [(name, specs.real_server_address(n), "servers") for n, name in enumerate(SERVERS, 1)]


def _apply(lab, index, label, how, spec):
    path = lab.workdir / ("step-%d.json" % index)
    path.write_text(json.dumps({"lbkit_spec": spec}) + "\n")
    log = lab.workdir / ("step-%d.log" % index)
    if how == "drain":
        return lab.run(REAL_SERVER, "-e", "@%s" % path, "-e", "service=web", "-e", "real_server=" + specs.DRAINED, "-e", "state=drained",
                       log=log)
    return lab.run(APPLIANCES, "-e", "@%s" % path, log=log)


def layer7(workdir, keep=False, say=print):
    steps = specs.zero_loss_specs()
    with Lab("zero-loss", _hosts(), workdir, keep=keep) as lab:
        for name in SERVERS:
            lab.serve(name, name)
        label, how, spec = steps[0]
        _apply(lab, 0, label, how, spec)
        time.sleep(SETTLE)
        load = Load(lab, "client", URL, 3600, INTERVAL, TIMEOUT)
        marks = [("before any change", time.time())]
        time.sleep(SETTLE + 2)
        runs = []
        drained_at = None
        for index, (label, how, spec) in enumerate(steps[1:], 1):
            say("zero loss, layer 7: %s" % label)
            marks.append((label, time.time()))
            result = _apply(lab, index, label, how, spec)
            if how == "drain":
                drained_at = time.time()
            runs.append({"step": label, "how": "playbooks/real_server.yml (runtime API)" if how == "drain" else "playbooks/appliances.yml",
                         "seconds": result["seconds"], "changed_tasks": result["recap"].get("lb1", {}).get("changed")})
            time.sleep(SETTLE)
        requests = load.stop()
    steps_out = figures.step_counts(requests, marks, SERVERS)
    for step in steps_out:
        for entry in runs:
            if entry["step"] == step["step"]:
                step.update(converge_s=entry["seconds"], how=entry["how"], changed_tasks=entry["changed_tasks"])
    return {
        "interval_s": INTERVAL,
        "timeout_s": TIMEOUT,
        "settle_s": SETTLE,
        "steps": steps_out,
        "total": len(requests),
        "failed": len([r for r in requests if not r["ok"]]),
        "drained_server_answered_after_drain": len([r for r in requests if drained_at and r["at"] >= drained_at and r.get("server") == specs.DRAINED]),
    }


def layer4(workdir, say=print):
    """The IPVS tier's zero_loss scenario (tests/ipvs/runner.py), its observations as they are."""
    say("zero loss, layer 4: tests/ipvs/runner.py zero_loss")
    log = workdir / "ipvs-console.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "ipvs" / "runner.py"), "zero_loss", "--log", str(log)],
                          capture_output=True, text=True, check=False, cwd=ROOT, timeout=3600)
    try:
        out = json.loads(proc.stdout)
    except ValueError:
        return {"ok": False, "error": "tests/ipvs/runner.py zero_loss (rc=%d): %s" % (proc.returncode, (proc.stderr or proc.stdout)[-3000:])}
    result = out["results"]["zero_loss"]
    return {"ok": result["ok"], "how": out["how"], "seconds": result.get("seconds"),
            "observations": result.get("observations"), "error": result.get("error")}


def run(workdir, keep=False, say=print, out=None):
    out = {} if out is None else out
    out["layer7"] = layer7(workdir, keep, say)
    out["layer4"] = layer4(workdir, say)
    return out
