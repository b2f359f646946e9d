# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Linux appliance backend: the only code that touches the host for the appliance module.

It reads what is applied (the managed files and the last applied state), and applies a plan:
write every file next to its target, validate it with the engine's own checker, move it into
place, reload (never restart) the engines, verify they run the new configuration, and on any
failure put the previous files back and reload them, so the last good configuration keeps
serving.

The host is reached through a small ``runner`` (what it uses of AnsibleModule: ``run_command``
and ``get_bin_path``), so the logic is tested with a fake host.
"""

from __future__ import annotations

import json
import os
import tempfile
import time

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend import haproxy_runtime
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import haproxy, keepalived, sysctl

KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"
HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
STATE_DIR = "/etc/lbkit"
STATE_FILE = STATE_DIR + "/state.json"


class ApplyError(Exception):
    """Applying failed; ``restored`` tells whether the previous configuration was put back."""

    def __init__(self, message, restored):
        self.restored = restored
        super(ApplyError, self).__init__(message)


class ManagedFile(object):
    """One file lbkit owns: where it goes, its content (None: must not exist), its mode."""

    def __init__(self, path, content, mode, service=None, check=None):
        self.path = path
        self.content = content
        self.mode = mode
        self.service = service
        self.check = check


def desired_files(spec, host, interfaces, root=""):
    """The files this appliance should have, rendered from the spec."""
    files = [
        # keepalived.conf may hold the VRRP secret: 0600.
        ManagedFile(root + KEEPALIVED_CONF, keepalived.render(spec, host, interfaces), 0o600, "keepalived", ["keepalived", "--config-test", "-f"]),
        ManagedFile(root + HAPROXY_CFG, haproxy.render(spec), 0o640, "haproxy", ["haproxy", "-c", "-q", "-f"]),
        ManagedFile(root + sysctl.MODULES_PATH, sysctl.modules(spec), 0o644),
        ManagedFile(root + sysctl.PATH, sysctl.render(spec), 0o644),
    ]
    return files


def read_text(path):
    try:
        with open(path) as handle:
            return handle.read()
    except IOError:
        return None


def read_state(root=""):
    """The state lbkit last applied successfully, or None."""
    text = read_text(root + STATE_FILE)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def file_drift(files):
    """The managed files whose content on disk is not what the spec renders."""
    return [f for f in files if read_text(f.path) != f.content]


def _write_private(path, content, mode):
    """Write content to a new file beside path (same filesystem, for an atomic rename)."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".lbkit", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
    except Exception:
        os.unlink(tmp)
        raise
    return tmp


def haproxy_runs(content, timeout=10.0, sleep=time.sleep):
    """Raise unless the running HAProxy loaded ``content`` (its fingerprint backend is live).

    A reload returns before the new workers start, and when they cannot (a port taken, say)
    the old ones go on serving: only the runtime API tells which configuration is live.
    """
    wanted = haproxy.marker(content)
    if wanted is None:
        return
    deadline = time.monotonic() + timeout
    seen = set()
    while True:
        try:
            seen = haproxy_runtime.proxies(haproxy_runtime.command("show stat"))
        except haproxy_runtime.RuntimeError_:
            seen = set()
        if wanted in seen:
            return
        if time.monotonic() >= deadline:
            raise RuntimeError("HAProxy does not run the new configuration %.0f s after the reload (see 'journalctl -u haproxy')" % timeout)
        sleep(0.2)


def haproxy_binds(content):
    """(address, port) of every listener in a rendered haproxy.cfg."""
    out = []
    for line in (content or "").splitlines():
        words = line.split()
        if len(words) < 2 or words[0] != "bind":
            continue
        for item in words[1].split(","):
            address, ports = item.rsplit(":", 1)
            start, dummy, end = ports.partition("-")
            for port in range(int(start), int(end or start) + 1):
                out.append((address.strip("[]"), port))
    return out


def parse_listeners(text):
    """``ss -ltnpH`` -> [(address, port, process name or '')]."""
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 4:
            continue
        address, port = words[3].rsplit(":", 1)
        process = ""
        if len(words) > 5 and words[5].startswith('users:(("'):
            process = words[5].split('"')[1]
        out.append((address.strip("[]").split("%")[0], int(port), process))
    return out


def foreign_listeners(binds, listeners, own="haproxy"):
    """The wanted binds another program already listens on (HAProxy would fail to reload)."""
    clashes = []
    for address, port in binds:
        for laddr, lport, process in listeners:
            if lport == port and process != own and laddr in (address, "0.0.0.0", "*", "::"):
                clashes.append("%s:%d is in use by %s" % (address, port, process or "another program"))
    return sorted(set(clashes))


class LinuxAppliance(object):
    """Applies rendered files to a Linux appliance through ``runner``."""

    def __init__(self, runner, root="", verify=None, sleep=time.sleep, settle=10.0):
        self.runner = runner
        self.root = root
        self.sleep = sleep
        self.settle = settle
        # service name -> callable(content) raising unless the running daemon loaded it
        self.verify = {"haproxy": haproxy_runs} if verify is None else verify
        self.touched = set()

    def _run(self, argv):
        binary = self.runner.get_bin_path(argv[0], required=True)
        rc, out, err = self.runner.run_command([binary] + list(argv[1:]))
        return rc, out, err

    def _service(self, action, name):
        rc, out, err = self._run(["systemctl", action, name])
        if rc != 0:
            raise RuntimeError("systemctl %s %s failed: %s" % (action, name, (err or out).strip()))

    def is_active(self, name):
        """True when systemd says ``name`` is active.

        A Type=notify service that announces its own reloads, as HAProxy's master does, can
        still say "reloading" after ``systemctl reload`` returned: the master tells systemd
        once it has begun. That state is waited out (at most ``settle`` seconds, in steps of
        0.1 s); taken for "not running", it failed converges and rolled them back.
        """
        for dummy in range(int(self.settle / 0.1) + 1):
            rc, out, err = self._run(["systemctl", "is-active", name])
            if out.strip() != "reloading":
                break
            self.sleep(0.1)
        return rc == 0 and out.strip() == "active"

    def validate(self, managed, candidate):
        """Run the engine's config check on the candidate file; raise with its output."""
        if managed.check is None or managed.content is None:
            return
        rc, out, err = self._run(managed.check + [candidate])
        if rc != 0:
            raise ValueError("%s rejected the new %s: %s" % (managed.check[0], managed.path, (err or out).strip()))
        if managed.service == "haproxy":
            # haproxy -c does not see ports taken by other programs; a reload that cannot bind
            # fails, and HAProxy pauses its listeners meanwhile: refuse it before it starts.
            rc, out, err = self._run(["ss", "-ltnpH"])
            # Binds of the running file are HAProxy's own (its workers' sockets may show no
            # process name to a root without CAP_SYS_PTRACE, as in containers).
            running = set(haproxy_binds(read_text(managed.path)))
            wanted = [b for b in haproxy_binds(managed.content) if b not in running]
            clashes = foreign_listeners(wanted, parse_listeners(out)) if rc == 0 else []
            if clashes:
                raise ValueError("HAProxy could not listen where the new %s says: %s" % (managed.path, "; ".join(clashes)))

    def apply(self, files, state):
        """Write, validate, reload and verify; on failure restore the previous files."""
        changed = [f for f in files if read_text(f.path) != f.content]
        candidates = {}
        try:
            for managed in changed:
                if managed.content is not None:
                    candidates[managed.path] = _write_private(managed.path, managed.content, managed.mode)
                    self.validate(managed, candidates[managed.path])
        except Exception as exc:
            for tmp in candidates.values():
                os.unlink(tmp)
            raise ApplyError("%s; nothing was changed on the appliance." % exc, restored=True)
        previous = dict((f.path, read_text(f.path)) for f in changed)
        kernel = self._sysctl_snapshot(files, previous)
        self.touched = set()
        try:
            self._install(changed, candidates)
            self._activate(files, changed)
        except Exception as exc:
            message = str(exc)
            try:
                self._restore(files, changed, previous)
                self._sysctl_write(kernel)
            except Exception as again:
                raise ApplyError("%s; restoring the previous configuration failed too: %s" % (message, again), restored=False)
            raise ApplyError("%s; the previous configuration was restored and is serving." % message, restored=True)
        self.write_state(state)

    def _install(self, changed, candidates):
        for managed in changed:
            if managed.content is None:
                if os.path.exists(managed.path):
                    os.unlink(managed.path)
            else:
                os.rename(candidates[managed.path], managed.path)

    def _sysctl_path(self, key):
        return self.root + "/proc/sys/" + key.replace(".", "/")

    def _sysctl_snapshot(self, files, previous):
        """The kernel's current value of every key the old or new sysctl file sets."""
        keys = set()
        for managed in files:
            if managed.path == self.root + sysctl.PATH:
                keys.update(sysctl.parse(managed.content))
                keys.update(sysctl.parse(previous.get(managed.path)))
        return dict((key, (read_text(self._sysctl_path(key)) or "").strip() or None) for key in keys)

    def _sysctl_write(self, values):
        """Write the keys whose kernel value differs (unchanged keys are not touched at all)."""
        for key, value in sorted(values.items()):
            if value is None or (read_text(self._sysctl_path(key)) or "").strip() == str(value):
                continue
            if key.startswith(sysctl.IPVS_PREFIX) and not os.path.isdir(self.root + "/proc/sys/net/ipv4/vs"):
                rc, out, err = self._run(["modprobe", sysctl.IPVS_MODULE])
                if rc != 0:
                    raise RuntimeError("%s needs the %s kernel module (layer-4 services), and modprobe %s failed: %s"
                                       % (key, sysctl.IPVS_MODULE, sysctl.IPVS_MODULE, (err or out).strip()))
            rc, out, err = self._run(["sysctl", "-w", "%s=%s" % (key, value)])
            if rc != 0:
                raise RuntimeError("sysctl -w %s=%s failed: %s" % (key, value, (err or out).strip()))

    def _activate(self, files, changed, services=None):
        """Apply sysctls, then start, reload or stop each engine whose file changed.

        ``services`` limits the engines touched (a restore reloads only those the failed
        apply had reloaded); every engine acted on is recorded in ``self.touched``.
        """
        paths = set(f.path for f in changed)
        for managed in files:
            if managed.path == self.root + sysctl.PATH and managed.path in paths and managed.content is not None:
                self._sysctl_write(sysctl.parse(managed.content))
        for managed in files:
            if managed.service is None or (services is not None and managed.service not in services):
                continue
            self.touched.add(managed.service)
            wanted = managed.content is not None
            active = self.is_active(managed.service)
            if not wanted:
                if active:
                    self._service("stop", managed.service)
                continue
            if not active:
                self._service("start", managed.service)
            elif managed.path in paths:
                self._service("reload", managed.service)
            if not self.is_active(managed.service):
                raise RuntimeError("%s is not running after the change" % managed.service)
            if managed.service in self.verify and (managed.path in paths or not active):
                self.verify[managed.service](managed.content)

    def _restore(self, files, changed, previous):
        for managed in changed:
            text = previous[managed.path]
            if text is None:
                if os.path.exists(managed.path):
                    os.unlink(managed.path)
            else:
                os.rename(_write_private(managed.path, text, managed.mode), managed.path)
        restored = [ManagedFile(f.path, previous.get(f.path, f.content) if f in changed else f.content, f.mode, f.service, f.check) for f in files]
        # Only the engines the failed apply reached run anything but the last good files.
        reached = set(self.touched)
        self.touched = set()
        self._activate(restored, changed, services=reached)

    def write_state(self, state):
        path = self.root + STATE_FILE
        tmp = _write_private(path, json.dumps(state, indent=1, sort_keys=True) + "\n", 0o600)
        os.rename(tmp, path)
