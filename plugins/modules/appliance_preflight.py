#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: appliance_preflight
short_description: Check an appliance against the lbkit spec before anything is changed
version_added: 0.1.0
description:
  - Validates the spec (schema and rules, every error at once) and then checks what only the
    appliance itself knows, reading its interfaces with C(ip -json address).
  - The host must be a node of the cluster; the interfaces the spec names must exist; its
    heartbeat address must be one of its addresses; and no VIP or floating IP may be one of
    the appliance's own interface addresses.
  - Addresses lbkit itself placed on the host (the VIPs and floating IPs of the state it last
    applied, held while this node is master) are not counted as the appliance's own.
  - Reports the interfaces and whether the kernel has IPVS (layer-4 services need it).
  - It never changes the host.
extends_documentation_fragment:
  - lbkit.loadbalancer.attributes
  - lbkit.loadbalancer.attributes.SPEC
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  host:
    description:
      - The appliance's inventory hostname, as listed in C(cluster.nodes[].host).
    type: str
    required: true
author:
  - lbkit developers (@lbkit)
"""

EXAMPLES = r"""
- name: Check the appliance before converging it
  lbkit.loadbalancer.appliance_preflight:
    spec: "{{ lbkit_spec }}"
    host: "{{ inventory_hostname }}"
  register: preflight

- name: Say whether layer-4 services can run here
  ansible.builtin.debug:
    msg: "IPVS available: {{ preflight.ipvs.available }}"
"""

RETURN = r"""
interfaces:
  description: The appliance's interfaces and their addresses with prefix length.
  returned: always
  type: dict
  sample: {"eth0": ["192.168.10.11/24"], "lo": ["127.0.0.1/8", "::1/128"]}
ipvs:
  description: Whether the kernel has IPVS.
  returned: always
  type: dict
  contains:
    loaded:
      description: The ip_vs module is loaded (C(/proc/net/ip_vs) exists).
      type: bool
      returned: always
    available:
      description: IPVS is loaded or C(modprobe) can load it.
      type: bool
      returned: always
errors:
  description: Every problem found, each with its JSON-pointer path into the spec and a fix.
  returned: always
  type: list
  elements: dict
  sample:
    - path: /virtual_services/0/address
      message: 192.168.10.11 is an address of interface eth0 on lb1; a VIP must not be an appliance's own address.
      fix: choose an unused address for the VIP.
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.linux import read_state
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.state import held_addresses
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import SpecInvalid
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.host import check_host, parse_ip_json
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import check_spec
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.secrets import spec_secrets


def _ipvs(module):
    loaded = os.path.exists("/proc/net/ip_vs")
    available = loaded
    if not loaded:
        modprobe = module.get_bin_path("modprobe")
        if modprobe:
            rc, dummy, dummy = module.run_command([modprobe, "--dry-run", "ip_vs"])
            available = rc == 0
    return {"loaded": loaded, "available": available}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            spec=dict(type="dict", required=True, no_log=True),
            host=dict(type="str", required=True),
        ),
        supports_check_mode=True,
    )
    # The spec stays out of the target's log (no_log); only its secret is masked in the result.
    module.no_log_values = spec_secrets(module.params["spec"])
    ip = module.get_bin_path("ip", required=True)
    rc, out, err = module.run_command([ip, "-json", "address", "show"])
    if rc != 0:
        module.fail_json(msg="'ip -json address show' failed: %s" % err.strip(), errors=[])
    interfaces = parse_ip_json(out)
    result = dict(
        changed=False,
        interfaces=dict((name, [str(a) for a in addrs]) for name, addrs in interfaces.items()),
        ipvs=_ipvs(module),
    )
    spec, errors = check_spec(module.params["spec"])
    if spec is not None:
        errors = check_host(spec, module.params["host"], interfaces, held_addresses(read_state()))
    result["errors"] = [e.as_dict() for e in errors]
    if errors:
        module.fail_json(msg=SpecInvalid(errors).summary(), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
