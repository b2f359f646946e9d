# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Records how long each task of a benchmark's playbook run took, for the per-task breakdown.

Enabled by benchmarks/playbook.py only (ANSIBLE_CALLBACK_PLUGINS and ANSIBLE_CALLBACKS_ENABLED);
writes one JSON list to the file LBKIT_BENCH_TASK_TIMES names: for each task, in the order the
tasks started, its name, the play's name and the seconds from its start to the start of the
next task (or the end of the run), which is what the task cost the run, all hosts together.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: lbkit_task_times
type: aggregate
short_description: Record each task's duration for lbkit's benchmarks
description:
  - Writes the tasks of the run with their durations to the file named by E(LBKIT_BENCH_TASK_TIMES).
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "lbkit_task_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.tasks = []
        self.play = None
        self.started = None

    def _close(self):
        if self.tasks and self.tasks[-1].get("seconds") is None:
            self.tasks[-1]["seconds"] = round(time.monotonic() - self.started, 3)

    def v2_playbook_on_play_start(self, play):
        self._close()
        self.play = play.get_name()

    def _start(self, task):
        self._close()
        self.started = time.monotonic()
        self.tasks.append({"play": self.play, "task": task.get_name(), "seconds": None})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._start(task)

    def v2_playbook_on_stats(self, stats):
        self._close()
        path = os.environ.get("LBKIT_BENCH_TASK_TIMES")
        if path:
            with open(path, "w") as handle:
                json.dump(self.tasks, handle)
