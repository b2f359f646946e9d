# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-playbook runs, timed: wall time, the controller's peak memory, the play recap."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from benchmarks import figures

ROOT = Path(__file__).resolve().parents[1]


CALLBACKS = ROOT / "benchmarks" / "callback_plugins"


def run(inventory, book, args, log, timeout=3600):
    """Run ansible-playbook; return {rc, seconds, controller_peak_rss_mb, recap, tasks, log}.

    ``tasks``: each task's name, play and duration (benchmarks/callback_plugins/lbkit_task_times.py).

    The peak memory is ``wait4``'s ru_maxrss: the largest of ansible-playbook and its workers
    (it reaps them all before it exits). coreutils' ``timeout`` ends a run that hangs (rc 124).
    """
    argv = ["timeout", "--kill-after=30", str(timeout), "ansible-playbook", "-i", str(inventory), str(book)] + [str(a) for a in args]
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    task_times = log.with_suffix(".tasks.json")
    if task_times.exists():
        task_times.unlink()
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", NO_COLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS),
               ANSIBLE_CALLBACKS_ENABLED="lbkit_task_times", LBKIT_BENCH_TASK_TIMES=str(task_times))
    with open(log, "w") as out:
        out.write("$ %s\n" % " ".join(argv))
        out.flush()
        started = time.monotonic()
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        dummy, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace")
    return {
        "rc": proc.returncode,
        "seconds": round(seconds, 2),
        "controller_peak_rss_mb": round(usage.ru_maxrss / 1024.0, 1),
        "recap": figures.recap(text),
        "tasks": json.loads(task_times.read_text()) if task_times.exists() else [],
        "log": str(log.relative_to(ROOT)) if log.is_relative_to(ROOT) else str(log),
    }
