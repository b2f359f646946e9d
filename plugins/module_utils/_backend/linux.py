# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Linux appliance engine's I/O half: read the appliance, apply a plan, runtime operations.

``apply`` carries out exactly the plan's operations (``_engine/linux.py``): every file is
written beside its target and checked by its engine's own checker (``keepalived --config-test``,
``haproxy -c``, keepalived's helpers and the TLS files in place first so the checks find them),
then moved into place; the kernel settings are set, the boot settings changed, the daemons
started or reloaded (restarted only for keepalived's new command line) and HAProxy proven to run
the new file (its fingerprint in ``show stat``); state.json is written last. On any failure the
previous files (with their permissions), kernel values and boot settings are put back, the
daemons the apply reached are reloaded (keepalived restarted for a command line put back), and
the restore is proven by reading again.
"""

from __future__ import annotations

import json
import os
import stat
import time

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend import haproxy_runtime, ipvs
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.host import Host, read_text, replace_file, write_beside
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine import linux as engine
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine.interface import Engine
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import (
    ApplyFailed,
    EngineRejected,
    HostCommandFailed,
    LbkitError,
    RuntimeApiError,
)
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._monitor import overview
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._net import ip
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.diagnosis import ipvs_diagnosis, owns
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.state import held_addresses
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import haproxy, programs, sysctl

VRRP_STATE = programs.VRRP_STATE
# keepalived's pid file (Debian's unit): its time is when the running keepalived started.
KEEPALIVED_PID = "/run/keepalived.pid"
# What appliance_info can read.
INFO_PARTS = frozenset(["vrrp", "ipvs", "haproxy"])
# Lines of an engine checker's output quoted in a rejection.
REASON_LINES = 12


def read_state(paths=engine.Paths()):
    """(semantic state, engine record) lbkit last applied, or (None, {})."""
    text = read_text(paths.state)
    if text is None:
        return None, {}
    try:
        stored = json.loads(text)
    except ValueError:
        return None, {}
    if not isinstance(stored, dict):
        return None, {}
    record = stored.pop("engine", None)
    return stored, record if isinstance(record, dict) else {}


def ipvs_availability(host, root=""):
    """{loaded, available}: the ip_vs module is loaded, or modprobe can load it."""
    loaded = os.path.exists(root + "/proc/net/ip_vs")
    available = loaded
    if not loaded and host.which("modprobe") is not None:
        rc, dummy, dummy = host.run(["modprobe", "--dry-run", "ip_vs"], check=False)
        available = rc == 0
    return {"loaded": loaded, "available": available}


def missing_packages(host, packages):
    """The packages dpkg does not report as installed, in the order given (all of them without dpkg-query)."""
    if not packages:
        return []
    if host.which("dpkg-query") is None:
        return list(packages)
    rc, out, dummy = host.run(["dpkg-query", "--show", "--showformat", "${Package}\\t${db:Status-Abbrev}\\n", "--"] + list(packages), check=False)
    installed = set()
    for line in out.splitlines():
        name, dummy, status = line.partition("\t")
        # The second letter is the package's state: i, installed (whatever is wanted of it: held, say).
        if status[1:2] == "i":
            installed.add(name.split(":", 1)[0])
    return [name for name in packages if name not in installed]


def _mode(path):
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None


def _mode_before(op, modes):
    """The permissions a file had before the apply (the operation's own when it did not exist)."""
    before = modes.get(op.path)
    return before if before is not None else getattr(op, "mode", 0o600)


def _reason(output, candidate, target):
    """An engine checker's complaint, quoted: its own lines, naming the target rather than the candidate."""
    lines = [line.strip() for line in (output or "").replace(candidate, target).splitlines() if line.strip()]
    shown = [line for line in lines if "ALERT" in line or "rror" in line] or lines
    return " / ".join(shown[:REASON_LINES]) or "no reason given"


def parse_listeners(text):
    """``ss -ltnpH`` -> [(address, port, process name or '')]."""
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 4 or ":" not in words[3]:
            continue
        address, port = words[3].rsplit(":", 1)
        if not port.isdigit():
            continue
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


class LinuxAppliance(Engine):
    """A Linux appliance: keepalived (VRRP, IPVS) and HAProxy, converged through their files."""

    name = "Linux appliance (keepalived, HAProxy)"

    def __init__(self, module, paths=engine.Paths(), tls_material=None, require_tls=True, verify=None, sleep=time.sleep, settle=10.0,
                 socket_path=haproxy_runtime.RUNTIME_SOCKET):
        self.host = Host(module)
        self.paths = paths
        self.tls_material = tls_material
        self.require_tls = require_tls
        self.sleep = sleep
        self.settle = settle
        self.socket_path = socket_path
        # daemon -> callable(fingerprint) raising unless the running daemon loaded that file
        self.verify = {engine.HAPROXY: self.haproxy_runs} if verify is None else verify

    # --- read --------------------------------------------------------------------------------

    def read(self):
        state, record = read_state(self.paths)
        paths = set(self.paths.fixed()) | set(self.paths.system()) | set(record.get("files", {}))
        tls_dir = self.paths.root + self.paths.tls_dir
        if os.path.isdir(tls_dir):
            paths.update(os.path.join(tls_dir, name) for name in os.listdir(tls_dir) if name.endswith(".pem"))
        active = dict((name, self.is_active(name)) for name in engine.SERVICES)
        files = dict((path, read_text(path)) for path in sorted(paths))
        return engine.Current(
            state=state,
            record=record,
            files=files,
            active=active,
            links=tuple(self.host.links()),
            servers=self._servers() if active.get(engine.HAPROXY) else None,
            modes=dict((path, _mode(path)) for path, text in files.items() if text is not None),
            enabled=self.enabled(),
            ipvs=ipvs_availability(self.host, self.paths.root)["available"],
        )

    def enabled(self):
        """{daemon: what ``systemctl is-enabled`` says} ('enabled', 'disabled', 'static', 'masked'...;
        '' for a unit systemd does not know)."""
        if self.host.which("systemctl") is None:
            return {}
        out = {}
        for name in engine.SERVICES:
            dummy, answer, dummy = self.host.run(["systemctl", "is-enabled", name], check=False)
            out[name] = answer.strip()
        return out

    def _servers(self):
        """{(proxy, server): spec state} of HAProxy's servers, or None when its runtime API does not answer."""
        if not os.path.exists(self.socket_path):
            return None
        try:
            stats = haproxy_runtime.parse_stat(haproxy_runtime.command("show stat", self.socket_path))
        except RuntimeApiError:
            return None
        return dict((key, haproxy_runtime.spec_state(entry)) for key, entry in stats.items())

    def is_active(self, name):
        """True when systemd says ``name`` is active.

        A Type=notify service that announces its own reloads, as HAProxy's master does, can
        still say "reloading" after ``systemctl reload`` returned: the master tells systemd
        once it has begun. That state is waited out (at most ``settle`` seconds, in steps of
        0.1 s); taken for "not running", it failed converges and rolled them back.
        """
        if self.host.which("systemctl") is None:
            return False
        for dummy in range(int(self.settle / 0.1) + 1):
            rc, out, err = self.host.run(["systemctl", "is-active", name], check=False)
            if out.strip() != "reloading":
                break
            self.sleep(0.1)
        return rc == 0 and out.strip() == "active"

    # --- plan (pure) -------------------------------------------------------------------------

    def desired(self, spec, host, current):
        return engine.desired(spec, host, current, self.paths, self.tls_material, need_tls=self.require_tls)

    def plan(self, desired, current):
        return engine.plan(desired, current)

    # --- apply -------------------------------------------------------------------------------

    def apply(self, plan):
        ops = plan.operations
        writes = [op for op in ops if isinstance(op, (engine.WriteFile, engine.RemoveFile))]
        previous = dict((op.path, read_text(op.path)) for op in writes)
        # and their permissions, which a refusal or a rollback puts back too
        modes = dict((op.path, _mode(op.path)) for op in writes)
        kernel = [op for op in ops if isinstance(op, engine.SetKernel)]
        kernel_before = dict((key, self._sysctl_read(key)) for op in kernel for key, dummy in op.settings)
        candidates, staged = self._validate(ops, writes, previous, modes)
        runtime = [op for op in ops if isinstance(op, engine.SetServerState)]
        # A daemon is disabled while its unit file is still there ('systemctl disable' needs it).
        disables = [op for op in ops if isinstance(op, engine.EnableService) and not op.enabled]
        units = [op for op in ops if isinstance(op, engine.ReloadSystemd)]
        reached = []
        try:
            for op in disables:
                reached.append(op)
                self.host.run(["systemctl", "disable", "--quiet", op.name])
            for op in writes:
                if op.path not in staged:
                    self._place(op, candidates.get(op.path))
            for op in ops:
                if isinstance(op, engine.SetKernel):
                    self._sysctl_write(op.settings)
                elif isinstance(op, engine.ReloadSystemd):
                    self.host.run(["systemctl", "daemon-reload"])
                elif isinstance(op, engine.Service):
                    reached.append(op)
                    self._service(op)
                elif isinstance(op, engine.EnableService) and op.enabled:
                    reached.append(op)
                    self.host.run(["systemctl", "enable", "--quiet", op.name])
                elif isinstance(op, engine.RecordState):
                    self._record(op.state)
        except (LbkitError, OSError) as exc:
            self._roll_back(str(exc), writes, previous, modes, kernel_before, reached, units)
        for op in runtime:
            try:
                haproxy_runtime.run_commands(haproxy_runtime.set_state_commands(op.proxy, op.server, op.state), self.socket_path)
            except RuntimeApiError as exc:
                raise RuntimeApiError("%s The new configuration is applied; set the state again with playbooks/real_server.yml." % exc) from None

    def _ensure_dirs(self, path):
        """lbkit's own directories (state, TLS) are root's only: 0700."""
        state_dir = self.paths.root + self.paths.state_dir
        for directory in (state_dir, state_dir + "/" + engine.TLS_NAME):
            if os.path.dirname(path) == directory and not os.path.isdir(directory):
                os.makedirs(directory, 0o700)
                os.chmod(directory, 0o700)

    def _validate(self, ops, writes, previous, modes):
        """Write every candidate and check it with its engine's checker: ({path: candidate}, the
        paths already in place). keepalived's helpers and the TLS files are put in place here (the
        checks read them from their paths: keepalived disables a script it cannot find, HAProxy
        refuses a certificate it cannot load); a refusal puts them back and leaves nothing changed."""
        candidates, staged = {}, []
        try:
            for op in writes:
                if isinstance(op, engine.WriteFile):
                    self._ensure_dirs(op.path)
                    candidates[op.path] = write_beside(op.path, op.content, op.mode)
            for op in writes:
                if op.engine == engine.KEEPALIVED_HELPER:
                    staged.append(op)
                    self._place(op, candidates.pop(op.path, None))
            for op in writes:
                if op.engine == engine.KEEPALIVED and op.path in candidates:
                    self._check(engine.KEEPALIVED, candidates[op.path], op.path)
            haproxy_ops = [op for op in writes if op.engine == engine.HAPROXY]
            if haproxy_ops:
                for op in haproxy_ops:
                    if op.path != self.paths.haproxy:
                        staged.append(op)
                        self._place(op, candidates.pop(op.path, None))
                config = candidates.get(self.paths.haproxy)
                if config is None and any(op.path == self.paths.haproxy for op in haproxy_ops):
                    config = None  # haproxy.cfg is removed: nothing for HAProxy to check
                elif config is None and read_text(self.paths.haproxy) is not None:
                    config = self.paths.haproxy
                if config is not None:
                    self._check(engine.HAPROXY, config, self.paths.haproxy)
            for op in ops:
                if isinstance(op, engine.CheckListeners):
                    self._check_listeners(op.binds)
        except (LbkitError, OSError) as exc:
            for tmp in candidates.values():
                if os.path.exists(tmp):
                    os.unlink(tmp)
            for op in staged:
                replace_file(op.path, previous[op.path], _mode_before(op, modes))
            raise EngineRejected("%s; nothing was changed on the appliance." % exc, restored=True) from None
        return candidates, set(op.path for op in staged)

    def _check(self, name, candidate, target):
        argv = list(engine.CHECKS[name]) + [candidate]
        rc, out, err = self.host.run(argv, check=False)
        if rc != 0:
            raise EngineRejected("%s rejected the new %s: %s" % (argv[0], target, _reason((err or "") + "\n" + (out or ""), candidate, target)))

    def _check_listeners(self, binds):
        rc, out, err = self.host.run(["ss", "-ltnpH"], check=False)
        clashes = foreign_listeners(binds, parse_listeners(out)) if rc == 0 else []
        if clashes:
            raise EngineRejected("HAProxy could not listen where the new %s says: %s" % (self.paths.haproxy, "; ".join(clashes)))

    def _place(self, op, candidate):
        if isinstance(op, engine.RemoveFile):
            replace_file(op.path, None, 0)
        elif candidate is not None:
            os.rename(candidate, op.path)
        else:
            self._ensure_dirs(op.path)
            replace_file(op.path, op.content, op.mode)

    def _sysctl_path(self, key):
        return self.paths.root + "/proc/sys/" + key.replace(".", "/")

    def _sysctl_read(self, key):
        return (read_text(self._sysctl_path(key)) or "").strip() or None

    def _sysctl_write(self, settings):
        """Set each key whose kernel value differs (an unchanged key is not touched at all)."""
        for key, value in settings:
            if value is None or self._sysctl_read(key) == str(value):
                continue
            if key.startswith(sysctl.IPVS_PREFIX) and not os.path.isdir(self.paths.root + "/proc/sys/net/ipv4/vs"):
                rc, out, err = self.host.run(["modprobe", sysctl.IPVS_MODULE], check=False)
                if rc != 0:
                    raise HostCommandFailed(["modprobe", sysctl.IPVS_MODULE], rc, "%s needs the %s kernel module (layer-4 services): %s"
                                            % (key, sysctl.IPVS_MODULE, (err or out).strip()))
            self.host.run(["sysctl", "-w", "%s=%s" % (key, value)])

    def _service(self, op):
        verb = op.verb
        self.host.run(["systemctl", verb, op.name])
        if verb == "stop":
            return
        if not self.is_active(op.name):
            raise ApplyFailed("%s is not running after 'systemctl %s %s' (see 'journalctl -u %s')" % (op.name, verb, op.name, op.name), restored=False)
        if op.fingerprint and op.name in self.verify:
            self.verify[op.name](op.fingerprint)

    def _record(self, state):
        self._ensure_dirs(self.paths.state)
        replace_file(self.paths.state, json.dumps(state, indent=1, sort_keys=True) + "\n", 0o600)

    def _roll_back(self, message, writes, previous, modes, kernel_before, reached, units=()):
        """Put back every file and kernel value the apply changed, bring the daemons it reached back
        to the last good files, and prove it by reading again; raise ApplyFailed either way."""
        try:
            for op in writes:
                replace_file(op.path, previous[op.path], _mode_before(op, modes))
            self._sysctl_write(sorted(kernel_before.items()))
            if units:
                self.host.run(["systemctl", "daemon-reload"])
            for op in reached:
                self._restore_service(op)
        except (LbkitError, OSError) as again:
            raise ApplyFailed("%s; restoring the previous configuration failed too: %s" % (message, again), restored=False) from None
        raise ApplyFailed("%s; the previous configuration was restored and is serving." % message, restored=True)

    def _restore_service(self, op):
        if isinstance(op, engine.EnableService):
            if op.was != op.enabled:
                self.host.run(["systemctl", "enable" if op.was else "disable", "--quiet", op.name])
            return
        config = dict({engine.HAPROXY: self.paths.haproxy, engine.KEEPALIVED: self.paths.keepalived}, **self.paths.optional())[op.name]
        wanted = read_text(config) is not None
        active = self.is_active(op.name)
        if not wanted:
            if active:
                self.host.run(["systemctl", "stop", op.name])
            return
        if op.verb == "start" and not active:
            return  # it was not running before this apply started it
        if op.verb == "restart":
            # Its previous command line (/etc/default/keepalived, restored above) takes a restart.
            self.host.run(["systemctl", "restart", op.name])
            if not self.is_active(op.name):
                raise ApplyFailed("%s is not running with the restored configuration" % op.name, restored=False)
            return
        self.host.run(["systemctl", "reload" if active else "start", op.name])
        if not self.is_active(op.name):
            raise ApplyFailed("%s is not running with the restored configuration" % op.name, restored=False)
        if op.previous and op.name in self.verify:
            self.verify[op.name](op.previous)

    def haproxy_runs(self, fingerprint, timeout=10.0):
        """Raise unless the running HAProxy loaded the file with ``fingerprint`` (its marker backend is live).

        A reload returns before the new workers start, and when they cannot (a port taken, say)
        the old ones go on serving: only the runtime API tells which configuration is live.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                seen = haproxy_runtime.proxies(haproxy_runtime.command("show stat", self.socket_path))
            except RuntimeApiError:
                seen = set()
            if fingerprint in seen:
                return
            if time.monotonic() >= deadline:
                raise ApplyFailed("HAProxy does not run the new configuration %.0f s after the reload (see 'journalctl -u haproxy')" % timeout,
                                  restored=False)
            self.sleep(0.2)

    # --- runtime operations ------------------------------------------------------------------

    def ipvs_available(self):
        return os.path.exists("/proc/net/ip_vs") and self.host.which("ipvsadm") is not None

    def server_state(self, vs, rs):
        """(state, current connections) of one real server as the engine runs it now."""
        if vs.layer == 7:
            stats = haproxy_runtime.parse_stat(haproxy_runtime.command("show stat", self.socket_path))
            entry = stats.get((haproxy.proxy_name(vs.name), rs.name))
            if entry is None:
                raise RuntimeApiError("HAProxy runs no server %s/%s: converge the appliance first." % (haproxy.proxy_name(vs.name), rs.name))
            # a real server with alternate source addresses has a server per address: their sessions together
            sessions = sum(stats.get((haproxy.proxy_name(vs.name), name), {}).get("current_sessions", 0) for name in haproxy.server_names(vs, rs))
            return haproxy_runtime.spec_state(entry), sessions
        dummy, listing, dummy = self.host.run(["ipvsadm", "-Ln"])
        for svc in ipvs.parse_services(listing, self._marks()):
            if (svc["protocol"], svc["address"], svc["port"]) == (vs.protocol, str(vs.address), vs.port):
                for dest in svc["real_servers"]:
                    if (dest["address"], dest["port"]) == (str(rs.address), rs.port):
                        return ("drained" if dest["weight"] == 0 else "enabled"), dest["active"]
                return "halted", 0
        raise RuntimeApiError("IPVS has no service %s: converge the appliance first." % ipvs.endpoint(vs.address, vs.port))

    def set_server_state(self, vs, rs, state, current):
        if vs.layer == 7:
            for proxy in haproxy.server_proxies(vs):
                for name in haproxy.server_names(vs, rs):
                    haproxy_runtime.run_commands(haproxy_runtime.set_state_commands(proxy, name, state), self.socket_path)
            return
        marks = dict((key[:3], mark) for mark, key in self._marks().items())
        for argv in ipvs.set_state_argv(vs, rs, state, present=current != "halted", mark=marks.get((vs.protocol, str(vs.address), vs.port))):
            self.host.run(argv)

    def _marks(self, state=None):
        """The firewall marks of the layer-4 services with extra ports IPVS runs (the last apply's state)."""
        return overview.state_marks(state if state is not None else read_state(self.paths)[0])

    # --- report ------------------------------------------------------------------------------

    def info(self, state, parts=INFO_PARTS):
        """VRRP role and addresses held, the IPVS table, HAProxy's servers, and the diagnoses
        (``parts``: which of ``INFO_PARTS`` to read; the others come back empty)."""
        vrrp = self._vrrp_info(state)
        ipvs_result, ipvs_diag = self._ipvs_info(state) if "ipvs" in parts else (dict(available=None, services=[], connection_states={}), [])
        haproxy_result, haproxy_diag = self._haproxy_info() if "haproxy" in parts else (dict(running=None, services={}), [])
        diagnosis = ipvs_diag + haproxy_diag
        if state is None:
            diagnosis.insert(0, "lbkit has not converged this appliance yet (no %s)." % self.paths.state)
        status = []
        if "ipvs" in parts and "haproxy" in parts:
            status = self._status(state, ipvs_result, haproxy_result)
        return dict(vrrp=vrrp, ipvs=ipvs_result, haproxy=haproxy_result, status=status, diagnosis=diagnosis)

    def _status(self, state, ipvs_result, haproxy_result):
        """Each virtual service and real server in the manuals' four states (``_monitor/overview.py``)."""
        table = {}
        for svc in ipvs_result["services"]:
            table[(svc["protocol"], svc["address"], svc["port"])] = dict(((rs["address"], rs["port"]), rs) for rs in svc["real_servers"])
        servers = None
        if haproxy_result["running"]:
            servers = dict(((haproxy.proxy_name(service), name), entry)
                           for service, entries in haproxy_result["services"].items() for name, entry in entries.items())
        started = overview.keepalived_started(self.paths.root + KEEPALIVED_PID)
        checks = overview.read_checks(self.paths.root + programs.CHECKS_DIR, started) if started is not None else {}
        return overview.overview(state, ipvs=table, haproxy=servers, checks=checks)

    def _vrrp_info(self, state):
        expected = held_addresses(state)
        addresses = set(str(a) for a in ip.all_addresses(self.host.links()))
        recorded = read_text(self.paths.root + VRRP_STATE)
        single = bool(state) and state.get("cluster", {}).get("mode") == "single"
        vrrp_state = recorded.split()[0] if recorded and recorded.split() else ("MASTER" if single and expected and set(expected) <= addresses else "unknown")
        return dict(
            running=self.is_active(engine.KEEPALIVED),
            state=vrrp_state,
            held=sorted(a for a in expected if a in addresses),
            expected=sorted(expected),
        )

    def _ipvs_info(self, state):
        out = dict(available=os.path.exists("/proc/net/ip_vs"), services=[], connection_states={})
        if not out["available"] or self.host.which("ipvsadm") is None:
            return out, []
        try:
            dummy, listing, dummy = self.host.run(["ipvsadm", "-Ln"])
            dummy, conns, dummy = self.host.run(["ipvsadm", "-Lnc"])
            dummy, stats, dummy = self.host.run(["ipvsadm", "-Ln", "--stats", "--exact"])
        except HostCommandFailed as exc:
            return out, ["ipvsadm could not read the IPVS table: %s" % exc]
        marks = self._marks(state)
        services = ipvs.parse_services(listing, marks)
        connections = ipvs.parse_connections(conns)
        totals = ipvs.parse_stats(stats, marks)
        out["services"] = services
        for svc in services:
            if svc["address"] is None:
                continue  # a firewall-mark service lbkit did not set up: listed as it is
            total = totals.get((svc["protocol"], svc["address"], svc["port"]), dict(connections=0, real_servers={}))
            svc["connections"] = total["connections"]
            for rs in svc["real_servers"]:
                rs["connections"] = total["real_servers"].get((rs["address"], rs["port"]), 0)
            key = "%s/%s/%d" % (svc["protocol"], svc["address"], svc["port"])
            counts = {}
            for c in connections:
                if owns(svc, c):
                    counts[c["state"]] = counts.get(c["state"], 0) + 1
            out["connection_states"][key] = counts
        forwarding = {}
        for svc in (state or {}).get("virtual_services", {}).values():
            forwarding[(svc["protocol"], svc["address"], svc["port"])] = svc["forwarding"]
        return out, ipvs_diagnosis(services, connections, forwarding)

    def _haproxy_info(self):
        out = dict(running=self.is_active(engine.HAPROXY), services={})
        if not out["running"] or not os.path.exists(self.socket_path):
            return out, []
        try:
            stats = haproxy_runtime.parse_stat(haproxy_runtime.command("show stat", self.socket_path))
        except RuntimeApiError as exc:
            return out, [str(exc)]
        diagnosis = []
        for (proxy, server), entry in sorted(stats.items()):
            service = haproxy.service_of_proxy(proxy)
            if service is None:
                continue
            out["services"].setdefault(service, {})[server] = entry
            # a real server's other lines (alternate source addresses) follow its first: one diagnosis for them all
            first, dummy, number = server.rpartition("_src")
            if number.isdigit() and (proxy, first) in stats:
                continue
            if entry["status"].upper().startswith("DOWN"):
                diagnosis.append("HAProxy: real server %s of %s is down (%s)." % (server, service, entry["check_status"] or "no check detail"))
        return out, diagnosis
