# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The machine the figures come from, and how busy it was."""

from __future__ import annotations

import os
import platform
import subprocess
import threading
import time

from benchmarks.lab import ROOT


def _output(argv, merge=False):
    try:
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merge else subprocess.PIPE, text=True, check=False,
                                timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _memory_gib():
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024.0 / 1024.0, 1)
    except OSError:
        pass
    return None


def load_average():
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def _image_version(image, argv):
    # keepalived prints its version on standard error.
    out = _output(["docker", "run", "--rm", "--network", "none", "--entrypoint", argv[0], image] + argv[1:], merge=True)
    return out.splitlines()[0].strip() if out else None


def describe(image="lbkit/debian12-systemd:latest"):
    """CPU, cores, memory, kernel, Docker, ansible-core and the engines' versions in the image."""
    import ansible.release  # the venv's ansible-core

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "kernel": platform.release(),
        "os": _output(["sh", "-c", '. /etc/os-release && echo "$PRETTY_NAME"']),
        "python": platform.python_version(),
        "docker": _output(["docker", "version", "--format", "{{.Server.Version}}"]),
        "ansible_core": ansible.release.__version__,
        "image": _output(["docker", "image", "inspect", "--format", "{{index .Config.Labels \"org.lbkit.inputs-hash\"}}", image]),
        "keepalived": _image_version(image, ["keepalived", "--version"]),
        "haproxy": _image_version(image, ["haproxy", "-v"]),
        "commit": _output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "dirty": bool(_output(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])),
    }


def wait_quiet(limit_minutes, threshold=1.0, poll=60, say=print, sleep=time.sleep, loadavg=load_average):
    """Poll the load every ``poll`` seconds until the 1-minute average is under ``threshold``.

    Gives up after ``limit_minutes``. Returns {quiet, waited_s, samples}: what was seen.
    """
    samples = []
    waited = 0
    while True:
        load = loadavg()
        samples.append({"after_s": waited, "load": load})
        if load[0] < threshold:
            return {"quiet": True, "waited_s": waited, "threshold": threshold, "samples": samples}
        if waited >= limit_minutes * 60:
            return {"quiet": False, "waited_s": waited, "threshold": threshold, "samples": samples}
        say("load %.2f (1 min) is not under %.1f yet; waiting %d s (%d of %d min)" % (load[0], threshold, poll, waited // 60, limit_minutes))
        sleep(poll)
        waited += poll


class LoadSampler(object):
    """Samples the 1-minute load average every ``every`` seconds while a benchmark runs."""

    def __init__(self, every=30):
        self.every = every
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while True:
            self.samples.append(load_average()[0])
            if self._stop.wait(self.every):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False
