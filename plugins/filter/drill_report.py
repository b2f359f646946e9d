# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: drill_report
short_description: Report a failover drill, with the outage the client traffic saw
version_added: 0.1.0
description:
  - Shows each node's VRRP state and who held the VIP before the drill, while the master was failed and after
    it came back, and the outage measured by M(lbkit.loadbalancer.vip_probe) in load mode.
  - The drill passes when another node took over every floating address, the client traffic recovered, and the
    cluster is healthy afterwards (P(lbkit.loadbalancer.ha_report#filter)).
options:
  _input:
    description: The C(load) result of M(lbkit.loadbalancer.vip_probe) that ran through the drill.
    type: dict
    required: true
  spec:
    description: The lbkit spec of the cluster.
    type: dict
    required: true
  before:
    description: The appliance_info results by host before the failure.
    type: dict
    required: true
  during:
    description: The appliance_info results by host once another node had taken over.
    type: dict
    required: true
  after:
    description: The appliance_info results by host after the failed node came back.
    type: dict
    required: true
  failed:
    description: The inventory host that was failed.
    type: str
    required: true
  method:
    description: How it was failed, in words.
    type: str
    required: true
author:
  - lbkit developers (@lbkit)
"""

EXAMPLES = r"""
- name: Show the drill
  ansible.builtin.debug:
    msg: "{{ (load.load | lbkit.loadbalancer.drill_report(lbkit_spec, before, during, after, 'lb1', 'keepalived stopped')).text }}"
"""

RETURN = r"""
_value:
  description: C(steps), C(took_over), C(outage), C(problems), C(ok) when there is none, and C(text).
  type: dict
"""

from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.drill import drill_report
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.spec_filter import spec_filter


class FilterModule(object):
    def filters(self):
        return {"drill_report": spec_filter(drill_report)}
