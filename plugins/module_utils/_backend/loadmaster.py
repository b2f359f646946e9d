# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kemp LoadMaster engine's I/O half: read the appliance in one batch, apply a plan of API
calls, and roll back to the appliance's own backup.

``read`` makes a handful of calls whatever the number of services (``get version``, one
``listvs``, ``listcert``, the HA parameters, ``showiface`` for the interfaces the spec's floating
IPs are on). ``apply`` takes the appliance's backup first,
makes the plan's calls in order, checks that each write's answer reads back what was sent (a
documented default that disagrees, a write that hit another object), and reads the whole
appliance again at the end: what it holds must be what the plan wanted. On any failure it
restores the backup (virtual services and real servers), sets back the HA parameters it changed,
reads again and says whether the appliance is back where it was.
"""

from __future__ import annotations

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.loadmaster_api import encode
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine import loadmaster as engine
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine.interface import Engine
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import ApplyFailed, LbkitError, NotFound, RuntimeApiError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.state import real_server_key

HA_PARAMS = ("hamode", "havhid", "haprefered", "hatimeout", "hal4update")
# restore type 2: the virtual service configuration (services, SubVSs, real servers)
RESTORE_VS = 2


def _matches(answer, key):
    address, port, protocol = engine._vs_address(key)
    return (str(engine._field(answer, "VSAddress", "")) == address[1] and str(engine._field(answer, "VSPort", "")) == str(port[1])
            and str(engine._field(answer, "Protocol", "")).lower() == protocol[1])


class LoadMaster(Engine):
    """One LoadMaster, or the shared address of an HA pair, through ``transport`` (``call(cmd, params)``)."""

    name = "Kemp LoadMaster"

    def __init__(self, transport, host="", tls_material=None, interfaces=()):
        self.api = transport
        self.host = host
        # the interfaces (ethN) whose addresses the spec's floating IPs must be
        self.interfaces = tuple(sorted(set(engine.interface_number(name) for name in interfaces)))
        self.tls_material = tls_material
        self._planned = None

    # --- read --------------------------------------------------------------------------------

    def read(self):
        version = str(self.api.call("get", {"param": "version"}).get("version", ""))
        services, foreign = self._services()
        certificates = tuple(str(engine._field(c, "name", "")) for c in self.api.call("listcert").get("cert", []) or [])
        ha = {}
        for param in HA_PARAMS:
            ha[param] = self.api.call("get", {"param": param}).get(param)
        interfaces = {}
        for number in self.interfaces:
            iface = engine._field(self.api.call("showiface", {"interface": number}), "Interface", {}) or {}
            interfaces[number] = (str(engine._field(iface, "IPAddress", "") or ""), str(engine._field(iface, "SharedIPAddress", "") or ""))
        return engine.Current(version=version, services=services, foreign=foreign, certificates=certificates, ha=ha, host=self.host,
                              interfaces=interfaces)

    def _services(self):
        """({key: listing entry} of lbkit's services, {key: nickname} of the others), from one listvs."""
        owned, foreign = {}, {}
        for entry in self.api.call("listvs").get("VS", []) or []:
            if not engine._field(entry, "VSAddress"):
                continue  # a SubVS: reached through its parent, which says whose it is
            key = engine.service_key(engine._field(entry, "Protocol", "tcp"), engine._field(entry, "VSAddress"), engine._field(entry, "VSPort"))
            name = str(engine._field(entry, "NickName", "") or "")
            if name.startswith(engine.OWNED):
                owned[key] = entry
            else:
                foreign[key] = name or "(no nickname)"
        return owned, foreign

    # --- plan (pure) -------------------------------------------------------------------------

    def desired(self, spec, host, current):
        return engine.desired(spec, host or self.host, current, self.tls_material)

    def plan(self, desired, current):
        # apply verifies against what this plan wanted, and rolls back to what it started from
        self._planned = (desired, current)
        return engine.plan(desired, current)

    # --- apply -------------------------------------------------------------------------------

    def apply(self, plan):
        wanted, before = self._planned
        backup = self.api.call("backup").get("data")
        if not backup:
            raise ApplyFailed("the LoadMaster gave no backup; nothing was changed on the appliance.", restored=True)
        done_ha = []
        try:
            for op in plan.operations:
                args = op.arguments()
                if op.cmd == "addcert":
                    args["data"] = encode(args["data"])
                answer = self.api.call(op.cmd, args)
                self._check(op, answer)
                if op.cmd == "set":
                    done_ha.append(args["param"])
            self._verify(wanted)
        except LbkitError as exc:
            self._roll_back(str(exc), backup, before, done_ha)

    def _check(self, op, answer):
        """The answer of a write reads back what was sent, on the object it was meant for."""
        params = op.arguments()
        if op.cmd in ("addvs", "modvs"):
            key = engine.service_key(params["prot"], params["vs"], params["port"])
            if not _matches(answer, key):
                raise ApplyFailed("%s answered for another virtual service (%s:%s), not %s." % (
                    op.describe(), engine._field(answer, "VSAddress"), engine._field(answer, "VSPort"), key), restored=False)
        subject = answer
        if op.cmd in ("addrs", "modrs"):
            found = [rs for rs in engine._field(answer, "Rs", []) or [] if engine._rs_key(rs) == (str(params["rs"]), int(params["rsport"]))]
            if not found:
                return  # the answer carries no real server: the final read checks it
            subject = found[0]
        for name, value in op.check:
            got = engine._field(subject, name)
            if got is not None and not engine.same(name, got, value):
                raise ApplyFailed("%s: the LoadMaster reads %s %s after lbkit set %s." % (op.describe(), name, got, value), restored=False)

    def _verify(self, wanted):
        """The whole appliance, read again, holds what the plan wanted."""
        services, dummy = self._services()
        have = dict(wanted.read(entry) for entry in services.values())
        want = wanted.state["virtual_services"]
        for key in sorted(set(have) | set(want)):
            if have.get(key) != want.get(key):
                fields = sorted(k for k in set(have.get(key) or {}) | set(want.get(key) or {})
                                if (have.get(key) or {}).get(k) != (want.get(key) or {}).get(k))
                raise ApplyFailed("read back after the changes, %s is not what lbkit wrote (%s)." % (key, ", ".join(fields) or "missing"), restored=False)

    def _roll_back(self, message, backup, before, done_ha):
        try:
            self.api.call("restore", {"data": backup, "type": RESTORE_VS})
            for param in done_ha:
                self.api.call("set", {"param": param, "value": before.ha.get(param)})
            services, dummy = self._services()
            restored = (dict(engine.service_doc(e) for e in services.values()) == dict(engine.service_doc(e) for e in before.services.values())
                        and sorted(services) == sorted(before.services))
        except LbkitError as again:
            raise ApplyFailed("%s; restoring the LoadMaster's backup failed too: %s" % (message, again), restored=False) from None
        if not restored:
            raise ApplyFailed("%s; the LoadMaster's backup was restored, but its services read back differently from before." % message, restored=False)
        raise ApplyFailed("%s; the LoadMaster's backup was restored and read back: its services are as they were." % message, restored=True)

    # --- runtime operations ------------------------------------------------------------------

    def _rs(self, vs, rs):
        key = engine.service_key(vs.protocol, vs.address, vs.port)
        answer = self.api.call("showvs", dict(engine._vs_address(key)))
        for entry in engine._field(answer, "Rs", []) or []:
            if engine._rs_key(entry) == (str(rs.address), rs.port):
                return key, entry
        raise NotFound("the LoadMaster's %s has no real server %s: converge it first." % (key, real_server_key(rs)))

    def server_state(self, vs, rs):
        key, entry = self._rs(vs, rs)
        state = "enabled" if engine._bool(engine._field(entry, "Enable", True)) else "drained"
        stats = self.api.call("stats")
        connections = 0
        for item in engine._field(stats, "Rs", []) or []:
            if engine._rs_key(item) == (str(rs.address), rs.port) and str(engine._field(item, "VSIndex")) == str(engine._field(entry, "VSIndex")):
                connections = engine._int(engine._field(item, "ActivConns"))
        return state, connections

    def set_server_state(self, vs, rs, state, current):
        if state == "halted":
            raise RuntimeApiError("a LoadMaster has no halted state apart from drained: disabling a real server lets its connections finish "
                                  "within the appliance's drain time. Use state drained.")
        key = engine.service_key(vs.protocol, vs.address, vs.port)
        self.api.call("modrs", dict(engine._vs_address(key) + (("rs", str(rs.address)), ("rsport", rs.port), ("Enable", state == "enabled"))))

    # --- report ------------------------------------------------------------------------------

    def info(self, state=None):
        """The appliance's services and real servers with their status, its HA role, a table for
        people, and the diagnoses (against ``state``, the spec as a model, when given)."""
        spec = state
        version = str(self.api.call("get", {"param": "version"}).get("version", ""))
        hastatus = str(self.api.call("get", {"param": "hastatus"}).get("hastatus", "") or "")
        hamode = engine._int(self.api.call("get", {"param": "hamode"}).get("hamode"))
        services, foreign = self._services()
        out, diagnosis, table = {}, [], []
        for key, entry in sorted(services.items()):
            dummy, doc = engine.service_doc(entry)
            status = str(engine._field(entry, "Status", "") or "")
            servers = {}
            table.append("%s (%s): %s" % (doc["name"], key, status or "no status"))
            for rs in engine._field(entry, "Rs", []) or []:
                name = real_server_key(engine._Rs(*engine._rs_key(rs)))
                rstatus = str(engine._field(rs, "Status", "") or "")
                enabled = engine._bool(engine._field(rs, "Enable", True))
                servers[name] = {"status": rstatus, "enabled": enabled, "weight": engine._int(engine._field(rs, "Weight"))}
                table.append("  %-24s %-6s %-8s weight %s" % (name, rstatus or "-", "enabled" if enabled else "disabled", servers[name]["weight"]))
                if enabled and rstatus.lower() == "down":
                    diagnosis.append("real server %s of %s is down (its health check fails)." % (name, doc["name"]))
            if not any(s["enabled"] and s["status"].lower() != "down" for s in servers.values()):
                diagnosis.append("%s (%s) has no real server up and enabled: clients get nothing (or the fallback server)." % (doc["name"], key))
            out[doc["name"]] = {"key": key, "status": status, "real_servers": servers}
        ha = "HA %s (mode %d)" % (hastatus, hamode) if hamode in (1, 2) else "not in an HA pair"
        table.append(ha)
        if spec is not None:
            if spec.cluster.ha.mode == "pair" and hamode not in (1, 2):
                diagnosis.append("the spec asks for an HA pair, but this LoadMaster is not in one (hamode %d)." % hamode)
            if spec.cluster.ha.mode == "pair" and hamode in (1, 2) and hastatus.lower() != "active":
                diagnosis.append("the address lbkit talks to is the pair's %s unit, not the active one: use the pair's shared address." % (
                    hastatus or "unknown"))
            for vs in spec.virtual_services:
                key = engine.service_key(vs.protocol, vs.address, vs.port)
                if key not in services:
                    diagnosis.append("%s (%s) of the spec is not on the LoadMaster: converge it." % (vs.name, key))
        return dict(version=version, ha=dict(status=hastatus or "HA not configured", mode=hamode), services=out,
                    other_services=sorted(foreign), diagnosis=diagnosis, table="\n".join(table))
