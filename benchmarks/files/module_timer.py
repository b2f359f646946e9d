# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs one Ansible module under the host's Python and records what it cost.

Installed on a timed appliance behind ``ansible_python_interpreter`` (benchmarks/files/python).
Ansible hands it the module as a file argument, or on standard input when it pipelines; either
way the module runs unchanged in a child process, and one JSON line is appended to LOG: the
module's name, its wall time (from the child's start to its exit) and the peak resident memory
the kernel reports for it (``wait4``'s ru_maxrss: the module process or any program it ran,
such as ``haproxy -c``, whichever was largest), with its CPU times.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

PYTHON = "/usr/bin/python3"
LOG = "/var/log/lbkit-bench/modules.jsonl"
FQN = re.compile(rb"module_fqn='([^']+)'")


def module_name(payload):
    found = FQN.search(payload or b"")
    return found.group(1).decode().rsplit(".", 1)[-1] if found else "unknown"


def main(argv):
    if argv:
        with open(argv[0], "rb") as handle:
            payload, stdin = handle.read(), None
    else:
        payload = sys.stdin.buffer.read()
        stdin = payload
    started = time.monotonic()
    proc = subprocess.Popen([PYTHON] + argv, stdin=subprocess.PIPE if stdin is not None else None)
    if stdin is not None:
        proc.stdin.write(stdin)
        proc.stdin.close()
    dummy, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    record = {"module": module_name(payload), "seconds": round(seconds, 4), "maxrss_kb": usage.ru_maxrss,
              "user": round(usage.ru_utime, 3), "sys": round(usage.ru_stime, 3), "rc": proc.returncode, "at": round(time.time(), 3)}
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
    finally:
        os.close(fd)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
