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
  - Reports the interfaces and whether the kernel has IPVS; a layer-4 service on a kernel without
    IPVS is an error at its C(layer).
  - Reports which services are layer 4 and which layer 7.
  - Reports which of the OS packages named in O(packages) are not installed (C(dpkg-query)), so
    the role runs the package manager only when one is missing.
  - It never changes the host.
extends_documentation_fragment:
  - lbkit.loadbalancer.attributes
  - lbkit.loadbalancer.attributes.STATE_DIR
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
  packages:
    description:
      - OS packages the appliance needs; those C(dpkg-query) does not report as installed are
        returned in RV(missing_packages). Nothing is installed by this module.
    type: list
    elements: str
    default: []
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
services:
  description: The names of the spec's layer-4 and layer-7 virtual services.
  returned: always
  type: dict
  sample: {"layer4": ["web-dr"], "layer7": ["shop"]}
missing_packages:
  description: The packages of O(packages) that are not installed (all of them where C(dpkg-query) is not available).
  returned: always
  type: list
  elements: str
  sample: ["haproxy"]
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import LbkitError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner import preflight
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner.common import spec_argument, state_dir_argument
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.secrets import mask_only_secrets


def main():
    argument_spec = dict(host=dict(type="str", required=True), packages=dict(type="list", elements="str", default=[]))
    argument_spec.update(spec_argument())
    argument_spec.update(state_dir_argument())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    mask_only_secrets(module)
    try:
        result = preflight.preflight(module)
    except LbkitError as exc:
        module.fail_json(**exc.result())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
