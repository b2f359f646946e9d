# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: cluster_diagnosis
short_description: Diagnose an appliance cluster from every node's appliance_info
version_added: 0.1.0
description:
  - Takes a mapping of each appliance to its M(lbkit.loadbalancer.appliance_info) result and
    returns the diagnoses across the nodes, one sentence each.
  - A floating address held by two nodes at once is reported as split brain; one held by none
    as unreachable; a node whose keepalived is not running, too. Each node's own diagnoses
    (the IPVS SYN_RECV symptom, HAProxy servers down) follow, prefixed with its name.
options:
  _input:
    description: The appliance_info results by inventory host.
    type: dict
    required: true
author:
  - lbkit developers (@lbkit)
"""

EXAMPLES = r"""
- name: Diagnose the pair
  ansible.builtin.debug:
    msg: "{{ dict(groups['appliances'] | zip(groups['appliances'] | map('extract', hostvars, 'lbkit_info')))
             | lbkit.loadbalancer.cluster_diagnosis }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: The diagnoses; empty when the cluster is healthy.
  type: list
  elements: str
"""

from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.diagnosis import cluster_diagnosis


class FilterModule(object):
    def filters(self):
        return {"cluster_diagnosis": cluster_diagnosis}
