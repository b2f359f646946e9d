# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: ha_report
short_description: Report an appliance cluster's HA state and whether it is healthy
version_added: 0.1.0
description:
  - Takes every appliance's M(lbkit.loadbalancer.appliance_info) result and shows each node's VRRP state, the
    floating addresses it holds and whether keepalived and HAProxy run.
  - Healthy means every node of the spec was read and runs keepalived, a pair has one MASTER and one BACKUP
    (a single appliance is MASTER), every floating address is held by exactly one node, and
    P(lbkit.loadbalancer.cluster_diagnosis#filter) finds nothing.
options:
  _input:
    description: The appliance_info results by inventory host.
    type: dict
    required: true
  spec:
    description: The lbkit spec of the cluster.
    type: dict
    required: true
author:
  - lbkit developers (@lbkit)
"""

EXAMPLES = r"""
- name: Show the HA state
  ansible.builtin.debug:
    msg: "{{ (infos | lbkit.loadbalancer.ha_report(lbkit_spec)).text }}"
"""

RETURN = r"""
_value:
  description: C(nodes) (C(node), C(priority), C(state), C(holds), C(keepalived), C(haproxy)), C(master),
    C(problems), C(ok) when there is none, and C(text), the report as a table.
  type: dict
"""

from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.ha import ha_report
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.spec_filter import spec_filter


class FilterModule(object):
    def filters(self):
        return {"ha_report": spec_filter(ha_report)}
