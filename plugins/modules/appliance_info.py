#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: appliance_info
short_description: Report an appliance's VRRP role, IPVS table and HAProxy servers, with a diagnosis
version_added: 0.1.0
description:
  - Reads what one appliance is doing now and changes nothing.
  - B(VRRP) - whether keepalived runs, the role keepalived last reported (C(MASTER), C(BACKUP),
    C(FAULT)) and which floating addresses this node holds. Across the nodes,
    P(lbkit.loadbalancer.cluster_diagnosis#filter) reports an address held by both as split brain.
  - B(IPVS) - where the kernel has it, the virtual services, their real servers (weight, active and
    inactive connections) and the connection states. Many C(SYN_RECV) connections on a
    Direct Routing service are diagnosed as the ARP problem on the real servers; on NAT, as
    real servers whose default gateway is not the appliance.
  - B(HAProxy) - each layer-7 server's state, weight, check status and session counters.
extends_documentation_fragment:
  - lbkit.loadbalancer.attributes
attributes:
  check_mode:
    support: full
    details: It never changes anything.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  spec:
    description:
      - Diagnose against this spec instead of the state lbkit last applied here (C(/etc/lbkit/state.json)).
        The expected floating addresses and each layer-4 service's forwarding method then come from it.
      - For an appliance converged by other means, or to check what a spec expects before converging.
        Needs O(host).
    type: dict
  host:
    description:
      - The appliance's inventory hostname, as listed in C(cluster.nodes[].host); used with O(spec).
    type: str
author:
  - lbkit developers (@lbkit)
"""

EXAMPLES = r"""
- name: Read every appliance
  lbkit.loadbalancer.appliance_info:
  register: lbkit_info

- name: Diagnose against the spec rather than the last applied state
  lbkit.loadbalancer.appliance_info:
    spec: "{{ lbkit_spec }}"
    host: "{{ inventory_hostname }}"

- name: Diagnose the cluster
  ansible.builtin.debug:
    msg: "{{ dict(groups['appliances'] | zip(groups['appliances'] | map('extract', hostvars, 'lbkit_info')))
             | lbkit.loadbalancer.cluster_diagnosis }}"
  run_once: true
"""

RETURN = r"""
vrrp:
  description: keepalived's VRRP view from this node.
  returned: always
  type: dict
  contains:
    running:
      description: keepalived is running.
      type: bool
      returned: always
    state:
      description: The state keepalived last reported (V(MASTER), V(BACKUP), V(FAULT)), or V(unknown).
      type: str
      returned: always
    held:
      description: The floating addresses (VIPs and floating IPs of the applied spec) this node holds.
      type: list
      elements: str
      returned: always
    expected:
      description: Every floating address of the applied spec.
      type: list
      elements: str
      returned: always
ipvs:
  description: The kernel's IPVS table, where the kernel has IPVS.
  returned: always
  type: dict
  contains:
    available:
      description: The kernel has IPVS loaded.
      type: bool
      returned: always
    services:
      description:
        - Virtual services with their real servers, weights and connection counts.
        - C(active) and C(inactive) count the connections now; C(connections) counts every
          connection since the service was added (C(ipvsadm --stats)), on the service and on each
          real server.
      type: list
      elements: dict
      returned: always
    connection_states:
      description: Connection counts by state, per virtual service (C(tcp/192.0.2.10/80)).
      type: dict
      returned: always
haproxy:
  description: HAProxy's servers by virtual service, from its runtime API.
  returned: always
  type: dict
  sample: {"running": true, "services": {"web": {"web1": {"status": "UP", "weight": 100, "current_sessions": 2, "total_sessions": 310,
                                                         "check_status": "L7OK"}}}}
diagnosis:
  description: What looks wrong on this node, one sentence each; empty when healthy.
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend import haproxy_runtime, ipvs, linux
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.diagnosis import ipvs_diagnosis
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.state import desired_state, held_addresses
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import SpecError, SpecInvalid
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.host import parse_ip_json
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import check_spec
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.secrets import mask_only_secrets

VRRP_STATE = "/run/lbkit/vrrp-lbkit.state"


def _active(module, name):
    systemctl = module.get_bin_path("systemctl")
    if systemctl is None:
        return False
    rc, out, dummy = module.run_command([systemctl, "is-active", name])
    return rc == 0 and out.strip() == "active"


def vrrp_info(module, state):
    expected = held_addresses(state)
    rc, out, err = module.run_command([module.get_bin_path("ip", required=True), "-json", "address", "show"])
    addresses = set()
    if rc == 0:
        for addrs in parse_ip_json(out).values():
            addresses.update(str(a.ip) for a in addrs)
    recorded = linux.read_text(VRRP_STATE)
    single = bool(state) and state.get("cluster", {}).get("mode") == "single"
    vrrp_state = recorded.split()[0] if recorded else ("MASTER" if single and expected and set(expected) <= addresses else "unknown")
    return dict(
        running=_active(module, "keepalived"),
        state=vrrp_state,
        held=sorted(a for a in expected if a in addresses),
        expected=sorted(expected),
    )


def ipvs_info(module, state):
    out = dict(available=os.path.exists("/proc/net/ip_vs"), services=[], connection_states={})
    binary = module.get_bin_path("ipvsadm")
    if not out["available"] or binary is None:
        return out, []
    rc, listing, err = module.run_command([binary, "-Ln"])
    rc2, conns, err2 = module.run_command([binary, "-Lnc"])
    rc3, stats, err3 = module.run_command([binary, "-Ln", "--stats", "--exact"])
    if rc != 0 or rc2 != 0 or rc3 != 0:
        return out, ["ipvsadm could not read the IPVS table: %s" % (err or err2 or err3).strip()]
    services = ipvs.parse_services(listing)
    connections = ipvs.parse_connections(conns)
    totals = ipvs.parse_stats(stats)
    out["services"] = services
    for svc in services:
        total = totals.get((svc["protocol"], svc["address"], svc["port"]), dict(connections=0, real_servers={}))
        svc["connections"] = total["connections"]
        for rs in svc["real_servers"]:
            rs["connections"] = total["real_servers"].get((rs["address"], rs["port"]), 0)
        key = "%s/%s/%d" % (svc["protocol"], svc["address"], svc["port"])
        counts = {}
        for c in connections:
            if (c["protocol"], c["virtual"][0], c["virtual"][1]) == (svc["protocol"], svc["address"], svc["port"]):
                counts[c["state"]] = counts.get(c["state"], 0) + 1
        out["connection_states"][key] = counts
    forwarding = {}
    for svc in (state or {}).get("virtual_services", {}).values():
        forwarding[(svc["protocol"], svc["address"], svc["port"])] = svc["forwarding"]
    return out, ipvs_diagnosis(services, connections, forwarding)


def haproxy_info(module, state):
    out = dict(running=_active(module, "haproxy"), services={})
    diagnosis = []
    if not out["running"] or not os.path.exists(haproxy_runtime.RUNTIME_SOCKET):
        return out, diagnosis
    try:
        stats = haproxy_runtime.parse_stat(haproxy_runtime.command("show stat"))
    except haproxy_runtime.RuntimeError_ as exc:
        return out, [str(exc)]
    for (proxy, server), entry in sorted(stats.items()):
        if not proxy.startswith("vs_"):
            continue
        out["services"].setdefault(proxy[3:], {})[server] = entry
        if entry["status"].upper().startswith("DOWN"):
            diagnosis.append("HAProxy: real server %s of %s is down (%s)." % (server, proxy[3:], entry["check_status"] or "no check detail"))
    return out, diagnosis


def spec_state(module):
    """The state the given spec means for this host (raises SpecInvalid)."""
    spec, errors = check_spec(module.params["spec"])
    if errors:
        raise SpecInvalid(errors)
    host = module.params["host"]
    if spec.cluster.node(host) is None:
        nodes = ", ".join(n.host for n in spec.cluster.nodes)
        message = "host '%s' is not a node of cluster '%s' (nodes: %s)." % (host, spec.cluster.name, nodes)
        raise SpecInvalid([SpecError("/cluster/nodes", message, "give host the appliance's inventory hostname.")])
    return desired_state(spec, host)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            spec=dict(type="dict", no_log=True),
            host=dict(type="str"),
        ),
        required_by=dict(spec="host"),
        supports_check_mode=True,
    )
    mask_only_secrets(module)
    if module.params["spec"] is None:
        state = linux.read_state()
    else:
        try:
            state = spec_state(module)
        except SpecInvalid as exc:
            module.fail_json(msg=exc.summary(), errors=[e.as_dict() for e in exc.errors])
    vrrp = vrrp_info(module, state)
    ipvs_result, ipvs_diag = ipvs_info(module, state)
    haproxy_result, haproxy_diag = haproxy_info(module, state)
    diagnosis = ipvs_diag + haproxy_diag
    if state is None:
        diagnosis.insert(0, "lbkit has not converged this appliance yet (no /etc/lbkit/state.json).")
    module.exit_json(changed=False, vrrp=vrrp, ipvs=ipvs_result, haproxy=haproxy_result, diagnosis=diagnosis)


if __name__ == "__main__":
    main()
