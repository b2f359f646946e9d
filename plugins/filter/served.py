# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: served
short_description: What a host serves as a real server of an lbkit spec
version_added: 0.1.0
description:
  - Reads the spec through lbkit's model (defaults filled in, addresses compared as addresses) and
    returns what the host serves in its layer-4 services, for the realserver role.
  - A host serves a real server when the real server's address is one of the host's addresses, or
    when the real server's name is the host's inventory hostname.
  - An invalid spec fails the task with every error and its path.
options:
  _input:
    description: The lbkit spec.
    type: dict
    required: true
  addresses:
    description: The host's addresses (for example C(ansible_facts.all_ipv4_addresses + ansible_facts.all_ipv6_addresses)).
    type: list
    elements: str
    required: true
  hostname:
    description: The host's inventory hostname.
    type: str
    required: true
author:
  - lbkit developers (@lbkit)
"""

EXAMPLES = r"""
- name: Find what this host serves
  ansible.builtin.set_fact:
    served: "{{ lbkit_spec | lbkit.loadbalancer.served(ansible_facts.all_ipv4_addresses, inventory_hostname) }}"
"""

RETURN = r"""
_value:
  description:
    - C(vips) (the VIPs of its Direct Routing and tunnelling services), C(tunnel_vips) (those of the
      tunnelling ones), C(ports) (the ports its services listen on), C(nat_services), C(transparent_services)
      and C(gateways) (the cluster's gateway floating IPs, C(ADDRESS/PREFIX), when it serves a NAT or
      transparent layer-7 service), and C(load_agent) (C(ports) and C(paths) its adaptive services ask
      its load agent on; empty lists when it serves none).
  type: dict
"""

from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.served import served
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.spec_filter import spec_filter


class FilterModule(object):
    def filters(self):
        return {"served": spec_filter(served)}
