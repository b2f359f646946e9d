# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmarks' containers: a lab of their own, made and removed by the lab role
(playbooks/lab.yml) from an inventory written here, like ./scripts/lab does for the demo.

Names, label and network are the benchmarks' own (``lbkit-bench-*``, label
``org.lbkit.lab=lbkit-bench``, an internal network without masquerading), so they never meet
the embedded lab's or the molecule scenarios' containers, and the lab role refuses to touch a
container or network of the same name that it did not create.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from benchmarks import playbook, specs

ROOT = Path(__file__).resolve().parents[1]
LABEL = "lbkit-bench"
NETWORK = "lbkit-bench-net"
PREFIX = "lbkit-bench-"
# Programs the benchmarks put into their containers.
TOOLS = "/usr/local/lib/lbkit-bench"
PEER = TOOLS + "/peer.py"
INTERPRETER = "/usr/local/libexec/lbkit-bench/python"
TIMER_LOG = "/var/log/lbkit-bench/modules.jsonl"
LOAD_PID = "/run/lbkit-bench-load.pid"
# Runs peer.py with the given arguments and leaves its pid where stop() finds it. The script
# is constant: every argument reaches it as a positional parameter, never as shell text.
LOAD_SCRIPT = 'echo $$ > "$0"; exec python3 "$@"'


class BenchError(RuntimeError):
    """A benchmark could not set up or run what it measures."""


def inventory(hosts, lab_dir, timed=()):
    """The lab inventory for ``hosts`` [(name, address, group)]; ``timed`` hosts run modules
    through the module timer when the run sets ``lbkit_bench_interpreter``."""
    groups = {}
    for name, address, group in hosts:
        entry = {"ansible_host": PREFIX + name, "lab_networks": [{"name": NETWORK, "ipv4_address": address}]}
        if name in timed:
            entry["ansible_python_interpreter"] = "{{ lbkit_bench_interpreter | default('/usr/bin/python3') }}"
        groups.setdefault(group, {"hosts": {}})["hosts"][name] = entry
    return {
        "all": {
            "vars": {
                "lab_label": LABEL,
                "lab_docker_networks": [{"name": NETWORK, "subnet": specs.NETWORK, "gateway": specs.GATEWAY}],
                "lab_dir": str(lab_dir),
                "lab_tls_certificates": [],
            },
            "children": {"lab": {"vars": {"ansible_connection": "community.docker.docker"}, "children": groups}},
        }
    }


def docker(*argv, check=True, timeout=120, **kwargs):
    """Run the docker CLI; return the CompletedProcess (text)."""
    result = subprocess.run(["docker"] + list(argv), capture_output=True, text=True, check=False, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise BenchError("docker %s failed (rc=%d): %s" % (" ".join(argv[:3]), result.returncode, (result.stderr or result.stdout).strip()[-2000:]))
    return result


def leftover_containers():
    """The ids of the benchmarks' containers (label ``org.lbkit.lab=lbkit-bench``) that exist now."""
    return docker("ps", "--all", "--quiet", "--filter", "label=org.lbkit.lab=" + LABEL).stdout.split()


class Lab(object):
    """One benchmark's containers; ``with Lab(...)`` creates them and removes them after."""

    def __init__(self, name, hosts, workdir, keep=False, timed=()):
        self.name = name
        self.hosts = dict((host, (address, group)) for host, address, group in hosts)
        self.workdir = Path(workdir) / name
        self.keep = keep
        self.inventory_path = self.workdir / "hosts.yml"
        self.workdir.mkdir(parents=True, exist_ok=True)
        # JSON is YAML: the inventory plugin reads it as it is.
        self.inventory_path.write_text(json.dumps(inventory(hosts, self.workdir / "lab", timed), indent=1) + "\n")

    def __enter__(self):
        self.up()
        return self

    def __exit__(self, *exc):
        if not self.keep:
            self.down()
        return False

    def run(self, book, *args, log=None, timeout=3600):
        """ansible-playbook against this lab; raises unless it passed."""
        result = playbook.run(self.inventory_path, book, args, log or self.workdir / (Path(book).stem + ".log"), timeout=timeout)
        if result["rc"] != 0:
            raise BenchError("%s failed (rc=%d); see %s" % (book, result["rc"], result["log"]))
        return result

    def up(self):
        # A lab starts from fresh containers: one left by an interrupted or --keep run would be
        # restarted as it is by the lab role, with lbkit's files, packages and config already on it.
        left = leftover_containers()
        if left:
            docker("rm", "--force", *left)
        self.run(ROOT / "playbooks" / "lab.yml", "-e", "lab_state=present", log=self.workdir / "lab-up.log", timeout=1800)

    def down(self):
        self.run(ROOT / "playbooks" / "lab.yml", "-e", "lab_state=absent", log=self.workdir / "lab-down.log", timeout=600)

    def exec(self, host, argv, check=True, timeout=120):
        return docker("exec", PREFIX + host, *argv, check=check, timeout=timeout)

    def put(self, host, source, target, mode="0755"):
        self.exec(host, ["mkdir", "-p", str(Path(target).parent)])
        docker("cp", str(source), "%s%s:%s" % (PREFIX, host, target))
        self.exec(host, ["chmod", mode, target])

    def serve(self, host, name, port=specs.REAL_SERVER_PORT):
        """A web service answering "NAME CLIENT" (tests/ipvs/peer.py), restarted if it dies."""
        self.put(host, ROOT / "tests" / "ipvs" / "peer.py", PEER, "0644")
        self.exec(host, ["systemd-run", "--unit", "lbkit-bench-peer", "--property", "Restart=always",
                         "python3", PEER, "serve", name, str(port)])

    def install_timer(self, host):
        """Make INTERPRETER the module timer (benchmarks/files) in front of the host's Python."""
        self.put(host, ROOT / "benchmarks" / "files" / "module_timer.py", TOOLS + "/module_timer.py", "0644")
        self.put(host, ROOT / "benchmarks" / "files" / "python", INTERPRETER)
        self.exec(host, ["mkdir", "-p", str(Path(TIMER_LOG).parent)])

    def module_records(self, host):
        """The module timer's records on ``host`` since the last call (the log is emptied)."""
        text = self.exec(host, ["sh", "-c", 'cat "$0" 2>/dev/null; : > "$0"', TIMER_LOG]).stdout
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def holds(self, host, address=specs.VIP):
        """True when ``host`` has ``address`` on one of its interfaces."""
        out = self.exec(host, ["ip", "-o", "-4", "address", "show"], check=False).stdout
        return (" %s/" % address) in out

    def journal(self, host, unit, since, until):
        """``unit``'s journal lines on ``host`` between two wall-clock times."""
        out = self.exec(host, ["journalctl", "--no-pager", "-o", "short-unix", "-u", unit,
                               "--since", "@%d" % int(since), "--until", "@%d" % (int(until) + 1)], check=False).stdout
        lines = []
        for line in out.splitlines():
            stamp = line.split(" ", 1)[0]
            try:
                at = float(stamp)
            except ValueError:
                continue
            if since <= at <= until:
                lines.append(line)
        return lines


class Load(object):
    """A new connection every ``interval`` seconds from ``host`` to ``url`` (peer.py load)."""

    def __init__(self, lab, host, url, seconds, interval=0.02, timeout=1.0):
        self.lab, self.host = lab, host
        self.lab.put(host, ROOT / "tests" / "ipvs" / "peer.py", PEER, "0644")
        argv = ["docker", "exec", PREFIX + host, "sh", "-c", LOAD_SCRIPT, LOAD_PID, PEER, "load", url, str(seconds),
                "--interval", str(interval), "--timeout", str(timeout)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait(self, timeout=None):
        """The requests, once the load has ended: [{at, ok, server, error, ...}]."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise BenchError("the client load did not end in time")
        lines = [line for line in out.splitlines() if line.strip()]
        if self.proc.returncode != 0 or not lines:
            raise BenchError("the client load failed (rc=%d): %s" % (self.proc.returncode, err.strip()[-2000:]))
        return json.loads(lines[-1])

    def stop(self, timeout=60):
        """End the load now (SIGTERM: it stops starting requests and reports)."""
        pid = self.lab.exec(self.host, ["cat", LOAD_PID]).stdout.strip()
        self.lab.exec(self.host, ["kill", "-TERM", pid])
        return self.wait(timeout)


def wait_for(predicate, timeout, interval=0.1):
    """Poll ``predicate`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
