# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""site.yml on the embedded lab (inventory/lab: an HA pair, three real servers, a client): the
first run and the no-op rerun, verify included, each with its per-task breakdown.

The lab is made and removed by ./scripts/lab (up, down), as the README's step commands do; a
lab left up by someone else is refused rather than reused.
"""

from __future__ import annotations

import subprocess

from benchmarks import playbook
from benchmarks.lab import BenchError, docker

ROOT = playbook.ROOT
INVENTORY = ROOT / "inventory" / "lab"
SITE = ROOT / "site.yml"
LABEL = "org.lbkit.lab=lbkit-lab"


def _lab(command, log):
    with open(log, "w") as out:
        rc = subprocess.run([str(ROOT / "scripts" / "lab"), command], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, check=False, timeout=1800).returncode
    if rc != 0:
        raise BenchError("./scripts/lab %s failed (rc=%d); see %s" % (command, rc, log))


def run(workdir, keep=False, say=print, out=None):
    """site.yml twice on a fresh embedded lab; fills and returns ``out``."""
    out = {} if out is None else out
    workdir = workdir / "site"
    workdir.mkdir(parents=True, exist_ok=True)
    if docker("ps", "--all", "--quiet", "--filter", "label=" + LABEL).stdout.split():
        raise BenchError("the embedded lab is up already (./scripts/lab status); take it down first (./scripts/lab down)")
    say("site: the embedded lab up")
    _lab("up", workdir / "lab-up.log")
    try:
        reports = workdir / "reports"
        reports.mkdir(parents=True, exist_ok=True)
        for name in ("first", "noop"):
            say("site: site.yml, %s run" % name)
            vault = ["--vault-password-file", str(INVENTORY.parent / "lab-vault-password")]
            result = playbook.run(INVENTORY, SITE, vault + ["-e", "lbkit_report_dir=%s" % reports],
                                  workdir / ("site-%s.log" % name))
            if result["rc"] != 0:
                raise BenchError("site.yml failed (rc=%d); see %s" % (result["rc"], result["log"]))
            out[name] = {
                "wall_s": result["seconds"],
                "controller_peak_rss_mb": result["controller_peak_rss_mb"],
                "changed_tasks": sum(host.get("changed", 0) for host in result["recap"].values()),
                "hosts": len(result["recap"]),
                "tasks": result["tasks"],
                "log": result["log"],
            }
    finally:
        if not keep:
            say("site: the embedded lab down")
            _lab("down", workdir / "lab-down.log")
    return out
