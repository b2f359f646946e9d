# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runtime state of real servers (enabled, drained, halted) on the running engines.

Layer 7 goes through HAProxy's runtime API, layer 4 through ipvsadm; neither reloads anything.
"""

from __future__ import annotations

import os

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend import haproxy_runtime, ipvs
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render.haproxy import proxy_name


class Runtime(object):
    """Reads and sets real-server states through ``runner`` (run_command, get_bin_path)."""

    def __init__(self, runner, socket_path=haproxy_runtime.RUNTIME_SOCKET):
        self.runner = runner
        self.socket_path = socket_path

    def haproxy_available(self):
        return os.path.exists(self.socket_path)

    def ipvs_available(self):
        return os.path.exists("/proc/net/ip_vs") and self.runner.get_bin_path("ipvsadm") is not None

    def _ipvsadm(self, args):
        binary = self.runner.get_bin_path("ipvsadm", required=True)
        rc, out, err = self.runner.run_command([binary] + list(args))
        if rc != 0:
            raise haproxy_runtime.RuntimeError_("ipvsadm %s failed: %s" % (" ".join(args), (err or out).strip()))
        return out

    def read_layer7(self, pairs):
        """(state, current connections) of each layer-7 (vs, rs) of ``pairs``, or None for a
        server HAProxy does not run.

        One ``show stat`` answers for all: it lists every server, so asking it once per server
        would make reading N servers cost N times a listing of N servers.
        """
        stats = haproxy_runtime.parse_stat(haproxy_runtime.command("show stat", self.socket_path))
        out = []
        for vs, rs in pairs:
            entry = stats.get((proxy_name(vs), rs.name))
            out.append(None if entry is None else (haproxy_runtime.spec_state(entry), entry["current_sessions"]))
        return out

    def read(self, vs, rs):
        """(state, current connections) of one real server as the engine runs it now."""
        if vs.layer == 7:
            found = self.read_layer7([(vs, rs)])[0]
            if found is None:
                raise haproxy_runtime.RuntimeError_("HAProxy runs no server %s/%s: converge the appliance first." % (proxy_name(vs), rs.name))
            return found
        for svc in ipvs.parse_services(self._ipvsadm(["-Ln"])):
            if (svc["protocol"], svc["address"], svc["port"]) == (vs.protocol, str(vs.address), vs.port):
                for dest in svc["real_servers"]:
                    if (dest["address"], dest["port"]) == (str(rs.address), rs.port):
                        state = "drained" if dest["weight"] == 0 else "enabled"
                        return state, dest["active"]
                return "halted", 0
        raise haproxy_runtime.RuntimeError_("IPVS has no service %s: converge the appliance first." % ipvs.endpoint(vs.address, vs.port))

    def set(self, vs, rs, state, current):
        if vs.layer == 7:
            haproxy_runtime.run_commands(haproxy_runtime.set_state_commands(proxy_name(vs), rs.name, state), self.socket_path)
            return
        for argv in ipvs.set_state_argv(vs, rs, state, present=current != "halted"):
            self._ipvsadm(argv[1:])
