# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: traffic_report
short_description: Tell which real servers answered the requests sent through each VIP
version_added: 0.1.0
description:
  - Takes the O(_input) of M(lbkit.loadbalancer.vip_probe) and the appliances' M(lbkit.loadbalancer.appliance_info)
    results read before and after the requests, and reports per virtual service which real servers answered.
  - A real server answered when a response's first line names it (applications that say who they are), or,
    where no response names a server, when its counter on the appliances went up (HAProxy sessions at layer 7,
    IPVS connections at layer 4, summed over the nodes; other clients' traffic counts too).
  - Where the scheduler spreads new clients (round robin, least connection, weighted ones with weights that a
    few dozen requests cover) and persistence does not pin the client, every enabled real server must answer.
    Elsewhere (hash schedulers, fixed weighting, source-IP persistence) one client reaches one server by
    design, and the enabled real servers must be up on the appliance's health check instead.
  - With active-cookie persistence, requests replaying the appliance's cookie must all reach the server that set it.
  - Every request must be answered, and a drained or halted real server must not answer new clients.
options:
  _input:
    description: The C(probes) of M(lbkit.loadbalancer.vip_probe).
    type: list
    elements: dict
    required: true
  spec:
    description: The lbkit spec the requests were sent for.
    type: dict
    required: true
  before:
    description: Each appliance's appliance_info result (by inventory host) before the requests.
    type: dict
    required: true
  after:
    description: Each appliance's appliance_info result (by inventory host) after the requests.
    type: dict
    required: true
author:
  - lbkit developers (@lbkit)
"""

EXAMPLES = r"""
- name: Show the traffic report
  ansible.builtin.debug:
    msg: "{{ (probe.probes | lbkit.loadbalancer.traffic_report(lbkit_spec, before, after)).text }}"
"""

RETURN = r"""
_value:
  description:
    - C(services) (per virtual service its C(requests), C(real_servers) with C(sessions), C(answers),
      C(health) and C(answered), C(notes) and C(problems)), C(problems) over all, C(ok) when there is none,
      and C(text), the report as tables.
  type: dict
"""

from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.report import traffic_report
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.spec_filter import spec_filter


class FilterModule(object):
    def filters(self):
        return {"traffic_report": spec_filter(traffic_report)}
