# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: status_report
short_description: The status overview of an appliance cluster, in the manuals' four states
version_added: 0.1.0
description:
  - Takes every appliance's M(lbkit.loadbalancer.appliance_info) result (read with every part) and shows each
    virtual service as V(healthy) (green), V(degraded) (yellow, a real server down), V(down) (red, none up) or
    V(drained) (blue, every real server drained or halted), each real server as V(up), V(down), V(drained) or
    V(halted), as the master sees them, and each node's VRRP state.
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
- name: Show the status overview
  ansible.builtin.debug:
    msg: "{{ (infos | lbkit.loadbalancer.status_report(lbkit_spec)).text }}"
"""

RETURN = r"""
_value:
  description: C(nodes), C(viewer) (the node whose view is shown), C(services) (appliance_info's C(status)),
    C(problems), C(ok) when there is none, and C(text), the overview as tables.
  type: dict
"""

from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.status import status_report
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.spec_filter import spec_filter


class FilterModule(object):
    def filters(self):
        return {"status_report": spec_filter(status_report)}
