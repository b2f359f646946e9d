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
  - lbkit.loadbalancer.attributes.STATE_DIR
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
  gather:
    description:
      - What to read. C(vrrp) alone (the VRRP role and the addresses held) is what a converge
        needs to order the nodes of a pair, and costs nothing that grows with the services;
        the IPVS table and HAProxy's servers, with their diagnoses, are read when named.
      - A part not gathered is returned empty (C(ipvs.services), C(haproxy.services)).
    type: list
    elements: str
    choices: [vrrp, ipvs, haproxy]
    default: [vrrp, ipvs, haproxy]
author:
  - lbkit developers (@lbkit)
"""

EXAMPLES = r"""
- name: Read every appliance
  lbkit.loadbalancer.appliance_info:
  register: lbkit_info

- name: Read only the VRRP role (cheap on an appliance with many services)
  lbkit.loadbalancer.appliance_info:
    gather: [vrrp]

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
      description: The kernel has IPVS loaded (null when O(gather) leaves C(ipvs) out).
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
status:
  description:
    - Each virtual service of the applied spec with its real servers, in the manuals' four states (docs/monitoring.md), as this node
      sees them; empty unless O(gather) reads both C(ipvs) and C(haproxy).
    - A service is V(healthy), V(degraded) (a real server down, another up), V(down) (none up, one down) or V(drained) (none up and
      none down); a real server is V(up), V(down) (its health check fails), V(drained) or V(halted), with its C(weight) and C(active)
      connections now.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "web", "address": "192.0.2.10", "port": 80, "protocol": "tcp", "layer": 7, "status": "healthy",
            "real_servers": [{"name": "web1", "address": "10.0.0.11", "port": 8080, "status": "up", "weight": 1, "active": 0}]}]
diagnosis:
  description: What looks wrong on this node, one sentence each; empty when healthy.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import LbkitError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner import appliance_info
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner.common import spec_argument, state_dir_argument
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.secrets import mask_only_secrets


def main():
    argument_spec = dict(host=dict(type="str"), gather=dict(type="list", elements="str", choices=["vrrp", "ipvs", "haproxy"],
                                                            default=["vrrp", "ipvs", "haproxy"]))
    argument_spec.update(spec_argument(required=False))
    argument_spec.update(state_dir_argument())
    module = AnsibleModule(argument_spec=argument_spec, required_by=dict(spec="host"), supports_check_mode=True)
    mask_only_secrets(module)
    try:
        result = appliance_info.info(module)
    except LbkitError as exc:
        module.fail_json(**exc.result())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
