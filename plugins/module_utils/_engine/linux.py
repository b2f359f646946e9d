# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Linux appliance engine's pure half: what an appliance should hold, and the plan. Pure.

An appliance is converged through files (keepalived.conf, haproxy.cfg, the TLS files HAProxy
reads, a sysctl.d file, a modules-load.d file, keepalived's helper programs and its command
line in /etc/default/keepalived), the daemons that read them (running, and started at boot),
and HAProxy's runtime states. ``desired`` renders the files from the spec; ``plan`` compares them, and the
state lbkit recorded, with what ``read`` found, and lists the operations ``apply``
(``_backend/linux.py``) carries out: nothing else is written, reloaded or set.

State lbkit records after each apply (``state.json``): the semantic state (what the diff
compares) and, under ``engine``, the digest of every file it wrote and the fingerprint of the
haproxy.cfg HAProxy runs, so a later run tells a file edited by hand from one lbkit now renders
differently, and a rollback can prove HAProxy runs the restored file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Optional

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import SpecInvalid
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine.interface import Operation, Plan
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._net import ip
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.change import Change
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.diff import diff
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.state import desired_state, held_addresses, real_server_key
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import haproxy, keepalived, programs, sysctl
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import SpecError, join
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.host import check_host
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import HTTP_PORT

KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"
HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
STATE_DIR = "/etc/lbkit"
STATE_NAME = "state.json"
TLS_NAME = "tls"
KEEPALIVED = "keepalived"
HAPROXY = "haproxy"
KERNEL = "kernel"
# /etc/default/keepalived: keepalived's command line; a change restarts it (a reload keeps the old one).
KEEPALIVED_MODE = "keepalived-mode"
# keepalived's helper programs: in place before keepalived's check, which refuses a script it cannot find.
KEEPALIVED_HELPER = "keepalived-helper"
# Monitoring's daemons (the spec's monitoring section): the node exporter, and lbkit-metrics
# writing lbkit's series for it. Each reads its command line when it starts.
NODE_EXPORTER = "prometheus-node-exporter"
METRICS = "lbkit-metrics"
# HAProxy's unit drop-in and the program it runs to save the servers' states: read at the next
# reload or stop, so a change needs systemd to read the unit again, nothing more.
HAPROXY_STATE = "haproxy-state"
# lbkit's packet marks and policy routing (programs.NETFILTER; transparent layer-7 services, outbound
# NAT, layer-4 services with extra ports): a oneshot unit, restarted (everything taken away and
# loaded again) when the unit changes; a new table alone is reloaded, replacing the table in one
# transaction, so the marks of the ports that stay never go away.
NETFILTER = programs.NETFILTER
NETFILTER_RULES = "netfilter-rules"
# The daemon a rewritten file of each kind reloads: keepalived judges its helpers when it loads its
# config, and a defaults file rewritten without a change of mode costs it no more than a reload.
RELOADED_BY = {KEEPALIVED: KEEPALIVED, KEEPALIVED_HELPER: KEEPALIVED, KEEPALIVED_MODE: KEEPALIVED, HAPROXY: HAPROXY, NETFILTER_RULES: NETFILTER}
# ... or restarts (a restart, when both are due).
RESTARTED_BY = {NODE_EXPORTER: NODE_EXPORTER, METRICS: METRICS, NETFILTER: NETFILTER}
# What `systemctl is-enabled` answers for a unit that starts at boot (or that systemd starts
# without being enabled: static, generated): nothing to enable there.
STARTED_AT_BOOT = frozenset(["enabled", "enabled-runtime", "static", "generated", "alias"])
# The daemons, in the order they are started, reloaded or stopped.
SERVICES = (NETFILTER, KEEPALIVED, HAPROXY, NODE_EXPORTER, METRICS)
# Each daemon's own configuration checker, run on a candidate file before it goes into place.
CHECKS = {KEEPALIVED: ("keepalived", "--config-test", "-f"), HAPROXY: ("haproxy", "-c", "-f")}


def digest(text):
    """The digest state.json records for a file lbkit wrote."""
    return None if text is None else "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Paths:
    """Where the files live on this appliance (``root`` prefixes them all, for tests)."""

    root: str = ""
    state_dir: str = STATE_DIR

    @property
    def keepalived(self):
        return self.root + KEEPALIVED_CONF

    @property
    def haproxy(self):
        return self.root + HAPROXY_CFG

    @property
    def sysctl(self):
        return self.root + sysctl.PATH

    @property
    def modules(self):
        return self.root + sysctl.MODULES_PATH

    @property
    def state(self):
        return self.root + self.state_dir + "/" + STATE_NAME

    @property
    def tls_dir(self):
        """The TLS directory as haproxy.cfg names it (without the test root)."""
        return self.state_dir + "/" + TLS_NAME

    @property
    def keepalived_defaults(self):
        return self.root + programs.KEEPALIVED_DEFAULTS

    def helpers(self):
        """{path: text} of keepalived's helper programs."""
        return dict((self.root + path, text) for path, text in sorted(programs.HELPERS.items()))

    @property
    def load_agent(self):
        return self.root + programs.LOAD_AGENT

    @property
    def node_exporter_dropin(self):
        return self.root + programs.NODE_EXPORTER_DROPIN

    @property
    def haproxy_dropin(self):
        return self.root + programs.HAPROXY_DROPIN

    @property
    def server_state_program(self):
        return self.root + programs.SERVER_STATE_PROGRAM

    @property
    def server_state(self):
        return self.root + programs.SERVER_STATE_FILE

    @property
    def metrics_program(self):
        return self.root + programs.METRICS_PROGRAM

    @property
    def metrics_unit(self):
        return self.root + programs.METRICS_UNIT

    @property
    def netfilter_unit(self):
        return self.root + programs.NETFILTER_UNIT

    @property
    def netfilter_rules(self):
        """lbkit's nftables file as its unit names it (without the test root)."""
        return self.state_dir + "/" + programs.NETFILTER_RULES_NAME

    def units(self):
        """The systemd unit files lbkit writes (systemd reads them again after a change)."""
        return (self.node_exporter_dropin, self.metrics_unit, self.haproxy_dropin, self.netfilter_unit)

    def monitoring(self):
        """The files of the spec's monitoring section: {daemon: the file whose presence says lbkit runs it}."""
        return {NODE_EXPORTER: self.node_exporter_dropin, METRICS: self.metrics_unit}

    def optional(self):
        """{daemon: the file whose presence says lbkit runs it} of the daemons only some specs have."""
        return dict(self.monitoring(), **{NETFILTER: self.netfilter_unit})

    def fixed(self):
        """The configuration files whose path does not depend on the spec (what ``state: rendered`` shows)."""
        return (self.keepalived, self.haproxy, self.modules, self.sysctl)

    def system(self):
        """The other files every appliance holds: keepalived's command line and helper programs, and
        those monitoring and HAProxy's server states add (read whether or not the spec has them, to
        remove them when they go)."""
        return (self.keepalived_defaults,) + tuple(sorted(self.helpers())) + (
            self.load_agent, self.node_exporter_dropin, self.metrics_program, self.metrics_unit, self.haproxy_dropin, self.server_state_program,
            self.server_state, self.netfilter_unit, self.root + self.netfilter_rules)


@dataclass(frozen=True)
class ManagedFile:
    """A file lbkit owns: its path, content (None: must not exist), mode and the engine reading it."""

    path: str
    content: Optional[str]
    mode: int
    engine: Optional[str] = None
    # The content as state: rendered shows it (secrets masked).
    shown: Optional[str] = None


@dataclass(frozen=True)
class Current:
    """What ``read`` found on the appliance."""

    state: Optional[dict]
    record: dict
    files: dict
    active: dict
    links: tuple
    servers: Optional[dict] = None
    # {path: permission bits} of the files read; {daemon: systemctl is-enabled's answer}.
    modes: dict = field(default_factory=dict)
    enabled: dict = field(default_factory=dict)
    # The kernel has IPVS or can load it (None: not asked, as when only rendering).
    ipvs: Optional[bool] = None


@dataclass(frozen=True)
class Desired:
    """What the appliance should hold: the semantic state, the files, the daemons and runtime states."""

    state: dict
    files: tuple
    services: dict
    settings: dict
    fingerprint: Optional[str]
    binds: tuple
    runtime: tuple = field(default=())
    # {daemon: started at boot}; keepalived's mode (programs.keepalived_mode).
    enabled: dict = field(default_factory=dict)
    mode: Optional[str] = None
    # The systemd unit files among ``files``.
    units: tuple = ()


# --- operations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteFile(Operation):
    path: str
    content: str
    mode: int
    engine: Optional[str]

    def describe(self):
        return "write %s" % self.path


@dataclass(frozen=True)
class RemoveFile(Operation):
    path: str
    engine: Optional[str]

    def describe(self):
        return "remove %s" % self.path


@dataclass(frozen=True)
class SetKernel(Operation):
    settings: tuple

    def describe(self):
        return "set %s" % ", ".join("%s=%s" % item for item in self.settings)


@dataclass(frozen=True)
class CheckListeners(Operation):
    """Before HAProxy reloads: no other program may listen where the new haproxy.cfg binds
    (haproxy -c cannot see that, and a reload that cannot bind pauses the listeners meanwhile)."""

    binds: tuple

    def describe(self):
        return "check that no other program listens on %s" % ", ".join("%s:%d" % b for b in self.binds)


@dataclass(frozen=True)
class Service(Operation):
    """Start, reload or stop a daemon (restart only keepalived, when its command line changes). ``fingerprint``: the haproxy.cfg it must then
    be running; ``previous``: the fingerprint a rollback must find running again."""

    verb: str
    name: str
    fingerprint: Optional[str] = None
    previous: Optional[str] = None

    def describe(self):
        return "%s %s" % (self.verb, self.name)


@dataclass(frozen=True)
class ReloadSystemd(Operation):
    """``systemctl daemon-reload`` after lbkit rewrote a unit file (and again by a rollback)."""

    units: tuple

    def describe(self):
        return "reload systemd's units (%s)" % ", ".join(self.units)


@dataclass(frozen=True)
class EnableService(Operation):
    """Start a daemon at boot (``systemctl enable``) or not (``disable``)."""

    name: str
    enabled: bool
    # Started at boot before: what a rollback sets back.
    was: bool = False

    def describe(self):
        return "%s %s" % ("enable" if self.enabled else "disable", self.name)


@dataclass(frozen=True)
class SetServerState(Operation):
    """A layer-7 real server's state through HAProxy's runtime API (after any reload)."""

    proxy: str
    server: str
    state: str

    def describe(self):
        return "set HAProxy server %s/%s %s" % (self.proxy, self.server, self.state)


@dataclass(frozen=True)
class RecordState(Operation):
    """Write state.json: the semantic state and what this apply wrote."""

    state: dict

    def describe(self):
        return "record the applied state"


# --- desired ------------------------------------------------------------------------------


def layer4_without_ipvs(spec, host_name):
    """An error at each layer-4 service when the appliance's kernel has no IPVS."""
    return [SpecError(join(vs.path, "layer"), "%s's kernel has no IPVS (ip_vs), which this layer-4 service needs." % host_name,
                      "run layer-4 services on a kernel with ip_vs (Debian's linux-image-amd64 or -cloud-amd64 have it), or make it layer 7.")
            for vs in spec.virtual_services if vs.layer == 4]


def packages(spec, given):
    """The OS packages an appliance needs: ``given`` (the engines') and those the spec adds (monitoring's)."""
    extra = programs.MONITORING_PACKAGES if spec.monitoring is not None else ()
    extra += programs.NETFILTER_PACKAGES if programs.netfilter_wanted(spec) else ()
    return list(given) + [name for name in extra if name not in given]


def pem(material):
    """The PEM file HAProxy reads for a service: the certificate (with its chain), then the key."""
    return material["certificate"].rstrip() + "\n" + material["key"].rstrip() + "\n"


def desired(spec, host, current, paths=Paths(), tls_material=None, need_tls=True):
    """What ``host`` should hold. Raises ``SpecInvalid`` when the host does not fit the spec
    (it is not a node, an interface is missing, a VIP is one of its own addresses...).

    ``tls_material`` maps each layer-7 service with TLS to its ``certificate`` and ``key`` (PEM
    text, read on the controller by the appliance action plugin). ``need_tls=False`` renders
    without it (``state: rendered``): the fingerprint then leaves the certificates out.
    """
    interfaces = ip.by_name(current.links)
    errors = check_host(spec, host, interfaces, held_addresses(current.state))
    if current.ipvs is False:
        errors += layer4_without_ipvs(spec, host)
    if errors:
        raise SpecInvalid(errors)
    tls_material = tls_material or {}
    tls_files, digests, missing = [], {}, []
    for vs in spec.virtual_services:
        if vs.layer != 7 or vs.layer7.tls is None:
            continue
        material = tls_material.get(vs.name)
        if material is None:
            missing.append(vs)
            continue
        text = pem(material)
        digests[vs.name] = digest(text)[7:23]
        tls_files.append(ManagedFile(paths.root + haproxy.tls_pem_path(vs, paths.tls_dir), text, 0o600, HAPROXY))
    if missing and need_tls:
        raise SpecInvalid([SpecError(join(vs.path, "layer7", "tls"), "the module was given no certificate and key for service '%s'." % vs.name,
                                     "run it through the appliance role or action (which read the files named here on the controller),"
                                     " or pass them in the module's tls option.") for vs in missing])
    conf = keepalived.render(spec, host, interfaces)
    cfg = haproxy.render(spec, paths.tls_dir, digests, host, programs.NODE_EXPORTER_LISTEN)
    kernel = sysctl.render(spec)
    mode = programs.keepalived_mode(spec)
    files = (
        # keepalived.conf may hold the VRRP secret: 0600.
        ManagedFile(paths.keepalived, conf.content, 0o600, KEEPALIVED, conf.masked),
        ManagedFile(paths.haproxy, cfg.content if cfg else None, 0o640, HAPROXY, cfg.masked if cfg else None),
        ManagedFile(paths.modules, sysctl.modules(spec), 0o644, None, sysctl.modules(spec)),
        ManagedFile(paths.sysctl, kernel.content if kernel else None, 0o644, KERNEL, kernel.content if kernel else None),
    ) + tuple(tls_files) + (
        ManagedFile(paths.keepalived_defaults, programs.keepalived_defaults(mode), 0o644, KEEPALIVED_MODE),
    ) + tuple(ManagedFile(path, text, programs.MODE, KEEPALIVED_HELPER) for path, text in sorted(paths.helpers().items())) + (
        # keepalived's adaptive check asks the real servers' load agents with the agent's own program
        ManagedFile(paths.load_agent, programs.load_agent_program() if programs.adaptive_layer4(spec) else None, programs.MODE, KEEPALIVED_HELPER),
    )
    watched = spec.monitoring is not None
    files += (
        ManagedFile(paths.node_exporter_dropin, programs.node_exporter_dropin() if watched else None, 0o644, NODE_EXPORTER),
        ManagedFile(paths.metrics_program, programs.metrics_program() if watched else None, programs.MODE, METRICS),
        ManagedFile(paths.metrics_unit, programs.metrics_unit(paths.state_dir + "/" + STATE_NAME, haproxy.RUNTIME_SOCKET) if watched else None,
                    0o644, METRICS),
    )
    # HAProxy keeps its servers' runtime states across reloads and restarts; the saved states go with it.
    proxied = cfg is not None
    files += (
        ManagedFile(paths.haproxy_dropin, programs.haproxy_dropin(haproxy.RUNTIME_SOCKET) if proxied else None, 0o644, HAPROXY_STATE),
        ManagedFile(paths.server_state_program, programs.server_state_program() if proxied else None, programs.MODE, HAPROXY_STATE),
    ) + (() if proxied else (ManagedFile(paths.server_state, None, 0o600, HAPROXY_STATE),))
    # lbkit's packet marks, outbound NAT and policy routing (transparent layer-7 services, autonat, extra ports at layer 4).
    marked = programs.netfilter_wanted(spec)
    files += (
        ManagedFile(paths.netfilter_unit, programs.netfilter_unit(paths.netfilter_rules, programs.transparent_families(spec)) if marked else None,
                    0o644, NETFILTER),
        ManagedFile(paths.root + paths.netfilter_rules, programs.netfilter_rules(spec) if marked else None, 0o644, NETFILTER_RULES),
    )
    # Without monitoring (or packet marks), their daemons are lbkit's to stop only where lbkit set them up.
    wanted_optional = {NODE_EXPORTER: watched, METRICS: watched, NETFILTER: marked}
    monitored = dict((name, True if wanted_optional[name] else (False if current.files.get(path) is not None else None))
                     for name, path in paths.optional().items())
    # each group's (a sub service's, 'service:sub', has a backend of its own)
    runtime = tuple(
        (group, rs) for vs in spec.virtual_services if vs.layer == 7 for group in vs.groups() for rs in group.real_servers
    )
    return Desired(
        state=desired_state(spec, host),
        files=files,
        services=dict({KEEPALIVED: True, HAPROXY: cfg is not None}, **monitored),
        settings=kernel.settings if kernel else {},
        fingerprint=cfg.fingerprint if cfg else None,
        binds=cfg.binds if cfg else (),
        runtime=runtime,
        enabled=dict({KEEPALIVED: True, HAPROXY: cfg is not None}, **monitored),
        mode=mode,
        units=paths.units(),
    )


def rendered(desired, paths=Paths()):
    """{path: content as shown} of the configuration files (secrets masked; the TLS files, keys, left out),
    and lbkit's nftables table when the spec has one."""
    fixed = paths.fixed()
    table = paths.root + paths.netfilter_rules
    out = dict((f.path, f.shown) for f in desired.files if f.path in fixed)
    out.update((f.path, f.content) for f in desired.files if f.path == table and f.content is not None)
    return out


def state_binds(state):
    """(address, port) of every layer-7 listener and the monitoring endpoint of an applied state: the binds HAProxy holds now."""
    out = []
    for svc in (state or {}).get("virtual_services", {}).values():
        if svc.get("layer") == 7:
            ports = [svc["port"]] + [p for p in svc.get("extra_ports", []) if p != svc["port"]]
            if ((svc.get("layer7") or {}).get("tls") or {}).get("redirect_http") and HTTP_PORT not in ports:
                ports.append(HTTP_PORT)
            out.extend((svc["address"], port) for port in ports)
    monitoring = (state or {}).get("monitoring")
    if monitoring:
        out.append((monitoring["address"], monitoring["port"]))
    return out


# --- plan ---------------------------------------------------------------------------------


def _file_change(managed, now, recorded, semantic):
    """The line a user sees for a file the plan rewrites, or None when the spec's changes explain it."""
    hand_edited = recorded is not None and now is not None and digest(now) != recorded
    if hand_edited or (not semantic and recorded is None):
        return Change("rewrite", "file", managed.path, "%s (edited outside lbkit)" % managed.path)
    if not semantic:
        return Change("rewrite", "file", managed.path, "%s (this lbkit version renders it differently)" % managed.path)
    return None


def _running_mode(desired, current):
    """The mode keepalived's command line (its defaults file, as read) gives it now."""
    path = next(f.path for f in desired.files if f.engine == KEEPALIVED_MODE)
    return programs.mode_of_defaults(current.files.get(path))


def plan(desired, current):
    """The plan from ``current`` to ``desired``: semantic changes, engine lines, operations."""
    changes = diff(current.state, desired.state)
    semantic = bool(changes)
    recorded = current.record.get("files", {})
    operations = []
    touched = set()
    wanted_paths = set(f.path for f in desired.files)
    # Files lbkit wrote that the spec no longer has (a TLS file of a removed service).
    gone = [ManagedFile(path, None, 0o600, HAPROXY) for path in sorted(recorded) if path not in wanted_paths and current.files.get(path) is not None]
    for managed in tuple(desired.files) + tuple(gone):
        now = current.files.get(managed.path)
        mode_now = current.modes.get(managed.path)
        if now == managed.content:
            if now is None or mode_now is None or mode_now == managed.mode:
                continue
            # Same content, wrong permissions (a helper keepalived would refuse to run, a secret readable).
            # keepalived judges its scripts when it loads its config: a helper put right takes a reload.
            reader = KEEPALIVED_HELPER if managed.engine == KEEPALIVED_HELPER else None
            operations.append(WriteFile(managed.path, managed.content, managed.mode, reader))
            touched.add(reader)
            changes.append(Change("change", "file", managed.path, managed.path, "mode", "%04o" % mode_now, "%04o" % managed.mode))
            continue
        touched.add(managed.engine)
        if managed.content is None:
            operations.append(RemoveFile(managed.path, managed.engine))
        else:
            operations.append(WriteFile(managed.path, managed.content, managed.mode, managed.engine))
        line = _file_change(managed, now, recorded.get(managed.path), semantic)
        if line is not None:
            changes.append(line)
    if HAPROXY in touched and desired.binds:
        held = set(state_binds(current.state))
        new = tuple(b for b in desired.binds if b not in held)
        if new:
            operations.append(CheckListeners(new))
    if KERNEL in touched and desired.settings:
        operations.append(SetKernel(tuple(sorted(desired.settings.items()))))
    rewritten_units = tuple(op.path for op in operations if isinstance(op, (WriteFile, RemoveFile)) and op.path in desired.units)
    if rewritten_units:
        operations.append(ReloadSystemd(rewritten_units))
    # Boot settings before the daemons: a refusal (a masked unit) stops the apply before any
    # daemon is restarted or reloaded, and a later failure sets them back (the rollback).
    for name in SERVICES:
        wanted = desired.enabled.get(name)
        if wanted is None:
            continue
        now = current.enabled.get(name)
        at_boot = now in STARTED_AT_BOOT
        # Disabled only from what 'systemctl disable' undoes: a static unit stays as it is.
        if (wanted and not at_boot) or (not wanted and now in ("enabled", "enabled-runtime")):
            operations.append(EnableService(name, wanted, at_boot))
            changes.append(Change("change", "service", name, name, "started at boot", at_boot, wanted))
    previous = current.record.get("fingerprint")
    running_mode = _running_mode(desired, current)
    reloads = set(RELOADED_BY[reader] for reader in touched if reader in RELOADED_BY)
    restarts = set(RESTARTED_BY[reader] for reader in touched if reader in RESTARTED_BY)
    for name in SERVICES:
        wanted, active = desired.services.get(name, False), current.active.get(name, False)
        if wanted is None:
            continue
        fingerprint = desired.fingerprint if name == HAPROXY else None
        previous_here = previous if name == HAPROXY else None
        if wanted and not active:
            operations.append(Service("start", name, fingerprint, previous_here))
            changes.append(Change("start", "service", name, name))
        elif wanted and name == KEEPALIVED and running_mode != desired.mode:
            # keepalived reads its command line only when it starts.
            operations.append(Service("restart", name))
            changes.append(Change("change", "service", name, name, "mode", running_mode, desired.mode))
        elif wanted and name in restarts:
            operations.append(Service("restart", name))
        elif wanted and name in reloads:
            operations.append(Service("reload", name, fingerprint, previous_here))
        elif not wanted and active:
            operations.append(Service("stop", name))
    runtime, runtime_changes = [], []
    if current.state is not None and current.servers is not None:
        for vs, rs in desired.runtime:
            running = current.servers.get((haproxy.proxy_name(vs.name), rs.name))
            if running is not None and running != rs.state:
                label = "%s %s in %s" % (rs.name, real_server_key(rs), vs.name)
                runtime_changes.append(Change("change", "runtime", vs.name + "/" + rs.name, label, "state", running, rs.state))
                runtime.extend(SetServerState(proxy, name, rs.state) for proxy in haproxy.server_proxies(vs) for name in haproxy.server_names(vs, rs))
    if operations or semantic:
        files = dict((f.path, digest(f.content)) for f in desired.files if f.content is not None)
        record = dict(files=files, fingerprint=desired.fingerprint)
        operations.append(RecordState(dict(desired.state, engine=record)))
    # Runtime states last: a reload resets HAProxy's servers to the file, and the file is the
    # last good configuration by then (a runtime refusal does not undo it).
    return Plan(changes + runtime_changes, operations + runtime)
