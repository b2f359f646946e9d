#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: loadmaster_info
short_description: Report a Kemp LoadMaster's services, real servers, HA state and diagnoses
version_added: 0.1.0
description:
  - Reads one LoadMaster (or a pair's shared address) through its REST API and changes nothing -
    the firmware, the HA status (C(Active), C(Standby), or not configured) and mode, lbkit's
    virtual services with each real server's status (C(Up)/C(Down)), enabled flag and weight, the
    appliance's other services by address, port and protocol, and diagnoses (a real server down,
    a service with no real server up and enabled, a service of the spec missing from the
    appliance, a spec asking for a pair on an appliance that is not in one, a pair reached through
    a unit that is not the active one).
  - Runs over the C(lbkit.loadbalancer.loadmaster) httpapi connection plugin.
extends_documentation_fragment:
  - lbkit.loadbalancer.attributes
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
    description: The lbkit spec, to diagnose against (optional).
    type: dict
author:
  - lbkit developers (@lbkit)
"""

EXAMPLES = r"""
- name: Read the LoadMaster
  lbkit.loadbalancer.loadmaster_info:
    spec: "{{ lbkit_spec }}"
  register: lbkit_info
"""

RETURN = r"""
version:
  description: The firmware.
  returned: always
  type: str
ha:
  description: C(status) (the appliance's hastatus) and C(mode) (0 not HA, 1 and 2 the units of a pair).
  returned: always
  type: dict
services:
  description: lbkit's virtual services by name, with C(key), C(status) and C(real_servers) (status, enabled, weight).
  returned: always
  type: dict
other_services:
  description: The appliance's virtual services lbkit does not own (protocol/address/port).
  returned: always
  type: list
  elements: str
table:
  description: The services, their real servers (status, enabled, weight) and the HA state, as text for people.
  returned: always
  type: str
diagnosis:
  description: What looks wrong, one sentence each; empty when healthy.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner import loadmaster
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner.common import finish, spec_argument


def main():
    module = AnsibleModule(argument_spec=spec_argument(required=False), supports_check_mode=True)
    finish(module, loadmaster.info)


if __name__ == "__main__":
    main()
