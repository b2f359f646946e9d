#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: loadmaster_real_server
short_description: Enable or drain one real server on a Kemp LoadMaster at runtime
version_added: 0.1.0
description:
  - Sets one real server of one virtual service to V(enabled) or V(drained) on the LoadMaster
    (C(modrs) with C(enable)), through the C(lbkit.loadbalancer.loadmaster) httpapi connection.
  - On a LoadMaster, disabling a real server is the drain - existing connections (and sessions
    persisting on it) finish within the appliance's drain time, no new ones arrive - so
    V(halted) is refused with that reason.
  - This is a runtime operation; the spec still decides the state at the next converge.
extends_documentation_fragment:
  - lbkit.loadbalancer.attributes
  - lbkit.loadbalancer.attributes.SPEC
  - lbkit.loadbalancer.attributes.REAL_SERVER
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  state:
    description: The state to put the real server in.
    type: str
    choices: [enabled, drained, halted]
    required: true
author:
  - lbkit developers (@lbkit)
"""

EXAMPLES = r"""
- name: Drain web1 on the LoadMaster
  lbkit.loadbalancer.loadmaster_real_server:
    spec: "{{ lbkit_spec }}"
    service: web
    real_server: web1
    state: drained
"""

RETURN = r"""
before:
  description: The real server's state before the call.
  returned: success
  type: str
after:
  description: The real server's state after the call.
  returned: success
  type: str
connections:
  description: The real server's active connections (the appliance's statistics) before the call.
  returned: success
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner import loadmaster
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner.common import finish, real_server_argument, spec_argument


def main():
    argument_spec = dict(
        state=dict(type="str", required=True, choices=["enabled", "drained", "halted"]),
    )
    argument_spec.update(spec_argument())
    argument_spec.update(real_server_argument())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    finish(module, loadmaster.real_server)


if __name__ == "__main__":
    main()
