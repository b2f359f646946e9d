# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lbkit's load agent, for resource based (adaptive) scheduling. Standard library only.

One file, three uses (docs/realservers-linux.md, "The load agent"):

- ``serve``, on each real server (the realserver role installs this file as
  ``/usr/local/libexec/lbkit/load-agent`` and runs it as ``lbkit-load-agent.service``): measures
  the CPU load of the host, or of one cgroup, over the last few seconds and answers
  - an HTTP ``GET`` of its path with the load, 0 (idle) to 100 (saturated), as the LoadMaster's
    adaptive method asks for it;
  - any other line (HAProxy's ``agent-send``: ``lbkit-load min_load=N``) with the weight to use,
    as a percentage of the configured one (HAProxy's agent-check protocol): ``100%`` while the load
    is under ``min_load``, else ``100 - load`` percent, never under 1%, so a loaded server keeps a
    trickle of new connections and is never taken out by its load alone;
- ``query``, on the appliance (keepalived's ``MISC_CHECK`` with ``misc_dynamic``): asks a real
  server's agent and exits with 2 + the weight to use (keepalived sets it); when the agent cannot
  be asked, exits 0 (the weight stays as it is: the health check says whether the server is up).

The load of a cgroup is its CPU time (cgroup v2: ``cpu.stat``'s ``usage_usec``; v1: ``cpuacct.usage``)
over the CPU time it could have had: the wall time multiplied by its CPUs (its quota when it has one,
``cpu.max`` or ``cpu.cfs_quota_us``, else the CPUs the agent may run on). Without either, the host's
``/proc/stat``.
"""

from __future__ import annotations

import argparse
import inspect
import os
import socket
import socketserver
import sys
import threading
import time

# keepalived's misc_dynamic sets the weight to the exit code minus 2: 253 at most.
MAX_DYNAMIC_WEIGHT = 253
# The line HAProxy's agent check and the query send (agent-send), before its min_load word.
GREETING = "lbkit-load"
READ_LIMIT = 4096
# Where the appliance and the real servers install this program.
INSTALLED = "/usr/local/libexec/lbkit/load-agent"


def program_text(interpreter="/usr/bin/python3"):
    """This file as a program run by ``interpreter`` (what the appliance and the real servers install)."""
    return "#!%s\n" % interpreter + inspect.getsource(sys.modules[__name__])


# --- the load and the weight (pure) -----------------------------------------------------------


def weight_percent(load, min_load):
    """The share of its configured weight a real server at ``load`` (0-100) gets: all of it while
    the load is under ``min_load``, else what the load leaves, at least 1%."""
    if load < min_load:
        return 100
    return max(1, 100 - load)


def dynamic_weight(weight, percent):
    """keepalived's weight for a real server of configured ``weight`` at ``percent`` of it (1 to 253)."""
    return max(1, min(MAX_DYNAMIC_WEIGHT, int(round(weight * percent / 100.0))))


def parse_cpu_stat(text):
    """``usage_usec`` of a cgroup's cpu.stat, in microseconds."""
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "usage_usec":
            return int(words[1])
    raise ValueError("cpu.stat has no usage_usec line")


def parse_cpu_max(text, cpus):
    """The CPUs a cgroup may use: its quota (``cpu.max``: QUOTA PERIOD, or ``max``), at most ``cpus``."""
    words = text.split()
    if not words or words[0] == "max":
        return float(cpus)
    quota, period = int(words[0]), int(words[1]) if len(words) > 1 else 100000
    return min(float(cpus), quota / float(period)) if period > 0 and quota > 0 else float(cpus)


def parse_cfs_quota(quota_text, period_text, cpus):
    """The CPUs a cgroup v1 may use: ``cpu.cfs_quota_us`` over ``cpu.cfs_period_us`` (-1: no limit), at most ``cpus``."""
    quota, period = int(quota_text.split()[0]), int(period_text.split()[0])
    return min(float(cpus), quota / float(period)) if quota > 0 and period > 0 else float(cpus)


def parse_proc_stat(text):
    """(busy, total) jiffies of the host's ``/proc/stat`` ``cpu`` line (idle and iowait are not busy)."""
    for line in text.splitlines():
        words = line.split()
        if words and words[0] == "cpu":
            counts = [int(w) for w in words[1:]]
            # user nice system idle iowait irq softirq steal [guest guest_nice: already in user and nice]
            total = sum(counts[:8])
            idle = counts[3] + (counts[4] if len(counts) > 4 else 0)
            return total - idle, total
    raise ValueError("/proc/stat has no cpu line")


def load_between(first, last):
    """The load (0-100) between two (busy, total) samples."""
    busy, total = last[0] - first[0], last[1] - first[1]
    if total <= 0:
        return 0
    return max(0, min(100, int(round(100.0 * busy / total))))


def parse_request(line):
    """What a first line asks: ('http', method, path) or ('agent', min_load)."""
    words = line.split()
    if len(words) >= 2 and words[0] in ("GET", "HEAD"):
        return ("http", words[0], words[1])
    min_load = 0
    for word in words:
        if word.startswith("min_load="):
            try:
                min_load = max(0, min(100, int(word.split("=", 1)[1])))
            except ValueError:
                min_load = 0
    return ("agent", min_load)


def http_answer(method, path, paths, load):
    """The HTTP answer (bytes) to a request of ``path``: the load on the agent's paths, else 404."""
    if path.split("?", 1)[0] in paths:
        status, body = "200 OK", "%d\n" % load
    else:
        status, body = "404 Not Found", "not a load path of this agent\n"
    head = "HTTP/1.0 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n" % (status, len(body))
    return (head + (body if method == "GET" else "")).encode("ascii")


# --- measuring --------------------------------------------------------------------------------


class Meter(object):
    """The load over the last ``window`` seconds, sampled every second by a thread."""

    def __init__(self, cgroup, window, proc_stat="/proc/stat"):
        self.cgroup, self.window, self.proc_stat = cgroup, max(1, int(window)), proc_stat
        self.samples = []
        self.lock = threading.Lock()
        try:
            self.cpus = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            self.cpus = os.cpu_count() or 1

    def _read(self, path):
        with open(path, encoding="ascii") as handle:
            return handle.read()

    def _quota(self, parse, *names):
        try:
            return parse(*([self._read(name) for name in names] + [self.cpus]))
        except (OSError, ValueError, IndexError):
            return float(self.cpus)

    def sample(self):
        """(busy, total) now: the cgroup's CPU microseconds and the wall time's times its CPUs (cgroup
        v2, or v1's cpuacct and cpu controllers), else the host's jiffies."""
        if self.cgroup:
            join = os.path.join
            if os.path.exists(join(self.cgroup, "cpu.stat")):
                cpus = self._quota(parse_cpu_max, join(self.cgroup, "cpu.max"))
                return parse_cpu_stat(self._read(join(self.cgroup, "cpu.stat"))), int(time.monotonic() * 1e6 * cpus)
            # cgroup v1: the hierarchy's root (cpuacct/ and cpu/ in it), or one controller's directory
            for acct, cpu in ((join(self.cgroup, "cpuacct"), join(self.cgroup, "cpu")), (self.cgroup, self.cgroup)):
                if os.path.exists(join(acct, "cpuacct.usage")):
                    cpus = self._quota(parse_cfs_quota, join(cpu, "cpu.cfs_quota_us"), join(cpu, "cpu.cfs_period_us"))
                    return int(self._read(join(acct, "cpuacct.usage")).split()[0]) // 1000, int(time.monotonic() * 1e6 * cpus)
        return parse_proc_stat(self._read(self.proc_stat))

    def tick(self):
        taken = self.sample()
        with self.lock:
            self.samples.append(taken)
            del self.samples[:-(self.window + 1)]

    def load(self):
        with self.lock:
            if len(self.samples) < 2:
                return 0
            return load_between(self.samples[0], self.samples[-1])

    def run(self, stop):
        while not stop.wait(1.0):
            try:
                self.tick()
            except (OSError, ValueError) as exc:
                sys.stderr.write("lbkit-load-agent: cannot read the load: %s\n" % exc)
                sys.stderr.flush()


# --- serving ----------------------------------------------------------------------------------


def _read_line(conn, timeout):
    conn.settimeout(timeout)
    data = b""
    while b"\n" not in data and len(data) < READ_LIMIT:
        chunk = conn.recv(READ_LIMIT)
        if not chunk:
            break
        data += chunk
    return data


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            data = _read_line(self.request, 3.0)
            kind = parse_request(data.split(b"\n", 1)[0].decode("ascii", "replace"))
            load = self.server.meter.load()
            if kind[0] == "http":
                # the rest of the request, so that closing does not reset the answer away
                while b"\r\n\r\n" not in data and b"\n\n" not in data and len(data) < READ_LIMIT:
                    chunk = self.request.recv(READ_LIMIT)
                    if not chunk:
                        break
                    data += chunk
                answer = http_answer(kind[1], kind[2], self.server.paths, load)
            else:
                answer = ("%d%%\n" % weight_percent(load, kind[1])).encode("ascii")
            self.request.sendall(answer)
            self.request.shutdown(socket.SHUT_WR)
        except OSError:
            return


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address, family, meter, paths):
        self.address_family = family
        self.meter, self.paths = meter, tuple(paths)
        socketserver.TCPServer.__init__(self, address, Handler, bind_and_activate=False)
        if family == socket.AF_INET6:
            # one socket for both families where the host has IPv6
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        self.server_bind()
        self.server_activate()


def listen(address, port, meter, paths):
    """A server on ``address`` (None: every address, IPv6 and IPv4 when the host has IPv6)."""
    if address is None:
        try:
            return Server(("::", port), socket.AF_INET6, meter, paths)
        except OSError:
            address = "0.0.0.0"
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return Server((address, port), family, meter, paths)


def serve(args):
    meter = Meter(args.cgroup, args.window)
    meter.tick()
    stop = threading.Event()
    threading.Thread(target=meter.run, args=(stop,), daemon=True).start()
    servers = [listen(args.address, port, meter, args.path or ["/load"]) for port in args.port]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        servers[0].serve_forever()
    finally:
        stop.set()
    return 0


# --- asking (keepalived) ----------------------------------------------------------------------


def ask(address, port, min_load, timeout):
    """The weight percentage a real server's agent gives, or None when it cannot be asked."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect((address, port))
            conn.sendall(("%s min_load=%d\n" % (GREETING, min_load)).encode("ascii"))
            answer = _read_line(conn, timeout).decode("ascii", "replace").strip()
    except OSError:
        return None
    word = answer.split()[0] if answer.split() else ""
    if not word.endswith("%"):
        return None
    try:
        return max(0, min(100, int(word[:-1])))
    except ValueError:
        return None


def query(args):
    percent = ask(args.address, args.port, args.min_load, args.timeout)
    if percent is None:
        sys.stderr.write("lbkit-load-agent: no answer from %s port %d: the weight stays as it is\n" % (args.address, args.port))
        return 0
    weight = dynamic_weight(args.weight, percent)
    sys.stdout.write("%s: %d%% of %d: weight %d\n" % (args.address, percent, args.weight, weight))
    return 2 + weight


def main(argv=None):
    parser = argparse.ArgumentParser(prog="lbkit-load-agent", description="lbkit's load agent for resource based (adaptive) scheduling.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="answer the appliance with this host's load (on a real server)")
    run.add_argument("--port", type=int, action="append", required=True, help="a TCP port to listen on (repeat for more)")
    run.add_argument("--address", default=None, help="the address to listen on (default: all)")
    run.add_argument("--path", action="append", default=[], help="an HTTP path answered with the load (default /load; repeat for more)")
    run.add_argument("--cgroup", default="/sys/fs/cgroup",
                     help="the cgroup whose CPU load is measured: a v2 cgroup, v1's root or a v1 cpuacct directory (default: the root)")
    run.add_argument("--window", type=int, default=5, help="seconds the load is averaged over")
    ask_ = commands.add_parser("query", help="ask a real server's agent; exit 2 + the weight (keepalived's misc_dynamic)")
    ask_.add_argument("address")
    ask_.add_argument("port", type=int)
    ask_.add_argument("--weight", type=int, required=True, help="the real server's configured weight")
    ask_.add_argument("--min-load", type=int, default=0, help="under this load the weight stays whole")
    ask_.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return query(args)


if __name__ == "__main__":
    raise SystemExit(main())
