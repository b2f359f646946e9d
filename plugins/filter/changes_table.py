# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: changes_table
short_description: Summarize what a converge changed on each host as a table
version_added: 0.1.0
description:
  - Takes each host's change lines (the appliance plan's summary, the real-server actions) and returns a text
    table with a count, for the end of a run or a merge request's check-mode log.
options:
  _input:
    description: The change lines by host; C(null) for a host that was not converged in this run.
    type: dict
    required: true
  check_mode:
    description: The run was in check mode, so the changes are what a run would do.
    type: bool
    default: false
author:
  - lbkit developers (@lbkit)
"""

EXAMPLES = r"""
- name: Summarize
  ansible.builtin.debug:
    msg: "{{ {'lb1': ['+ virtual service web (192.0.2.10:80/tcp)'], 'web1': []} | lbkit.loadbalancer.changes_table(ansible_check_mode) }}"
"""

RETURN = r"""
_value:
  description: The table as text.
  type: str
"""

from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.changes import changes_table


class FilterModule(object):
    def filters(self):
        return {"changes_table": changes_table}
