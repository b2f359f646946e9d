"""A network of small hosts made of Linux namespaces, where the IPVS scenarios run.

Runs as root wherever the kernel has IPVS: inside the QEMU guest (tests/ipvs/runner.py boots
it) or on a host whose kernel has IPVS. Standard library only (the guest's Python 3.11).

A *host* is a network namespace plus a mount namespace of its own, in which the directories
the collection writes (/etc/keepalived, /etc/lbkit, /var/lib/lbkit, /run) are private tmpfs,
and /usr/local/libexec/lbkit holds keepalived's helper programs (as the appliance module writes them). So two appliances of
a pair, or two real servers, each keep their own configuration and state, and nothing is
written outside the lab. A *switch* is a bridge in the lab's own namespace; hosts plug into it
with veth pairs. Nothing is routed off the lab: its namespaces have no link to anything else.

Every command is an argv list, run through nsenter; each host's processes are stopped (by pid)
when the lab closes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

# Directories the collection writes on a host, made private to each host.
PRIVATE_DIRS = ("/etc/keepalived", "/etc/haproxy", "/etc/lbkit", "/etc/sysctl.d", "/var/lib/lbkit", "/run")
HELPERS_DIR = "/usr/local/libexec/lbkit"
BASE = "/run/lbkit-netlab"


class CommandError(RuntimeError):
    """A command the lab ran exited non-zero."""


def run(argv, check=True, timeout=60, stdin=None):
    """Run argv (never through a shell); return the CompletedProcess (text)."""
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise CommandError("%s exited %d: %s" % (" ".join(argv), proc.returncode, (proc.stderr or proc.stdout).strip()[-2000:]))
    return proc


class Lab(object):
    """Hosts and switches of one scenario; ``config`` says where the collection and Python are."""

    def __init__(self, name, config, log):
        self.name = name
        self.config = config
        self.log = log
        self.dir = os.path.join(BASE, name)
        self.hosts = {}
        self.switches = set()
        self.switch_ns = "lbkit-%s-sw" % name
        self._links = 0

    def __enter__(self):
        os.makedirs(os.path.join(self.dir, "mnt"), exist_ok=True)
        # The appliance module installs its helpers (keepalived's notify and ping-node scripts)
        # root-owned and executable; keepalived's script security insists on both.
        self.helpers = os.path.join(self.dir, "helpers")
        os.makedirs(self.helpers, mode=0o755)
        for name in os.listdir(self.config["helpers"]):
            with open(os.path.join(self.config["helpers"], name), "rb") as source:
                data = source.read()
            with open(os.path.join(self.helpers, name), "wb") as target:
                target.write(data)
            os.chmod(os.path.join(self.helpers, name), 0o755)
        # Mount namespaces are kept alive by bind mounts on files of a private mount.
        run(["mount", "--bind", self.dir, self.dir])
        run(["mount", "--make-private", self.dir])
        run(["ip", "netns", "add", self.switch_ns])
        run(["ip", "-n", self.switch_ns, "link", "set", "lo", "up"])
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        for host in list(self.hosts.values()):
            host.stop_all()
        for host in list(self.hosts.values()):
            run(["umount", "-l", host.mnt], check=False)
            run(["ip", "netns", "del", host.ns], check=False)
        run(["ip", "netns", "del", self.switch_ns], check=False)
        run(["umount", "-l", self.dir], check=False)
        run(["rm", "-rf", "--one-file-system", self.dir], check=False)
        self.hosts = {}

    def switch(self, name):
        """A bridge (an Ethernet segment) in the lab's namespace."""
        if name not in self.switches:
            run(["ip", "-n", self.switch_ns, "link", "add", name, "type", "bridge"])
            # Forward at once: no STP listening/learning delay on a fresh port.
            run(["ip", "-n", self.switch_ns, "link", "set", name, "type", "bridge", "forward_delay", "0", "stp_state", "0"])
            run(["ip", "-n", self.switch_ns, "link", "set", name, "up"])
            self.switches.add(name)
        return name

    def host(self, name):
        if name not in self.hosts:
            self.hosts[name] = Host(self, name)
        return self.hosts[name]

    def connect(self, host, ifname, switch, address=None):
        """Plug ``host`` into ``switch`` as ``ifname`` (with ``address``, CIDR); return (mac, switch port)."""
        self.switch(switch)
        self._links += 1
        port = "p%d" % self._links
        tmp = "lbkit%d" % os.getpid() + "x%d" % self._links
        run(["ip", "link", "add", tmp, "type", "veth", "peer", "name", port])
        run(["ip", "link", "set", port, "netns", self.switch_ns])
        run(["ip", "-n", self.switch_ns, "link", "set", port, "master", switch, "up"])
        run(["ip", "link", "set", tmp, "netns", host.ns])
        host.ip(["link", "set", tmp, "name", ifname])
        if address:
            host.ip(["address", "add", address, "dev", ifname])
        host.ip(["link", "set", ifname, "up"])
        mac = json.loads(host.ip(["-json", "link", "show", ifname]).stdout)[0]["address"]
        return mac, port

    def port_state(self, port, up):
        """Cut (or restore) a host's cable at the switch: a hard link failure for the host."""
        run(["ip", "-n", self.switch_ns, "link", "set", port, "up" if up else "down"])


class Host(object):
    """A network namespace with private directories; commands run inside it."""

    def __init__(self, lab, name):
        self.lab = lab
        self.name = name
        self.ns = "lbkit-%s-%s" % (lab.name, name)
        self.mnt = os.path.join(lab.dir, "mnt", name)
        self.processes = []
        run(["ip", "netns", "add", self.ns])
        open(self.mnt, "w").close()
        # nsenter (not `ip netns exec`, which makes a mount namespace of its own) leaves unshare
        # in the lab's mount namespace, where the new namespace's bind mount must land.
        run(["nsenter", "--net=/run/netns/" + self.ns, "--", "unshare", "--mount=" + self.mnt, "--propagation", "private", "true"])
        for directory in PRIVATE_DIRS + (HELPERS_DIR,):
            os.makedirs(directory, exist_ok=True)
        # The helpers first: they live under /run, which the next mounts hide.
        self.run(["mount", "--bind", lab.helpers, HELPERS_DIR])
        for directory in PRIVATE_DIRS:
            self.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", directory])
        # sysfs mounted from inside the network namespace shows this host's interfaces.
        self.run(["mount", "-t", "sysfs", "sysfs", "/sys"])
        self.ip(["link", "set", "lo", "up"])

    def _argv(self, argv):
        return ["nsenter", "--net=/run/netns/" + self.ns, "--mount=" + self.mnt, "--"] + list(argv)

    def run(self, argv, check=True, timeout=60, stdin=None):
        return run(self._argv(argv), check=check, timeout=timeout, stdin=stdin)

    def ip(self, args, check=True):
        return self.run(["ip"] + list(args), check=check)

    def write(self, path, content, mode=0o644):
        """Write a file as this host sees it (its private directories included)."""
        self.run(["install", "-D", "-m", "%o" % mode, "/dev/stdin", path], stdin=content)

    def read(self, path):
        proc = self.run(["cat", path], check=False)
        return proc.stdout if proc.returncode == 0 else None

    def spawn(self, argv, log_name):
        """Start a long-running process in this host; its output goes to the lab's log directory."""
        log_path = os.path.join(self.lab.dir, "%s-%s.log" % (self.name, log_name))
        handle = open(log_path, "ab")
        proc = subprocess.Popen(self._argv(argv), stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        handle.close()
        proc.log_path = log_path
        self.processes.append(proc)
        return proc

    def stop(self, proc, timeout=10):
        """End a process this host started (by its pid's session) and wait for it."""
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc in self.processes:
            self.processes.remove(proc)

    def stop_all(self):
        for proc in list(self.processes):
            self.stop(proc)

    def python(self, argv, timeout=120, stdin=None, check=True):
        """Run the lab's Python (with the collection importable) in this host."""
        env = ["env", "PYTHONPATH=" + os.pathsep.join(self.lab.config["pythonpath"]), "PYTHONDONTWRITEBYTECODE=1"]
        return self.run(env + [self.lab.config["python"]] + list(argv), timeout=timeout, stdin=stdin, check=check)

    def spawn_python(self, argv, log_name):
        env = ["env", "PYTHONPATH=" + os.pathsep.join(self.lab.config["pythonpath"]), "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"]
        return self.spawn(env + [self.lab.config["python"]] + list(argv), log_name)

    def module(self, name, args, check_mode=False):
        """Run the collection's module ``name`` here as Ansible runs it on a target; return its result."""
        started = time.monotonic()
        payload = dict(args)
        if check_mode:
            payload["_ansible_check_mode"] = True
        proc = self.python(
            ["-m", "ansible_collections.lbkit.loadbalancer.plugins.modules." + name],
            stdin=json.dumps({"ANSIBLE_MODULE_ARGS": payload}),
            check=False,
        )
        try:
            result = json.loads(proc.stdout)
        except ValueError:
            raise CommandError("module %s on %s printed no result (rc=%d): %s" % (name, self.name, proc.returncode, (proc.stderr or proc.stdout)[-2000:]))
        outcome = "failed: " + result.get("msg", "") if result.get("failed") else "changed" if result.get("changed") else "ok"
        self.lab.log("%s: %s -> %s (%.1f s)" % (self.name, name, outcome, time.monotonic() - started))
        return result

    def addresses(self):
        out = []
        for link in json.loads(self.ip(["-json", "address", "show"]).stdout):
            for info in link.get("addr_info", []):
                out.append((link["ifname"], info["local"]))
        return out


def wait_for(predicate, timeout, interval=0.2, what="a condition"):
    """Poll ``predicate`` until it returns a true value; return it and the seconds it took."""
    started = time.monotonic()
    while True:
        value = predicate()
        if value:
            return value, time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise TimeoutError("%s did not happen within %.0f s" % (what, timeout))
        time.sleep(interval)
