#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: real_server
short_description: Enable, drain or halt one real server at runtime, without a reload
version_added: 0.1.0
description:
  - Sets one real server of one virtual service to V(enabled), V(drained) or V(halted) on the
    running engines, without reloading them.
  - Layer 7 (HAProxy) uses the runtime API; layer 4 (IPVS) edits the server's weight with
    C(ipvsadm) (V(drained) is weight 0, V(halted) removes it from the table).
  - V(drained) lets existing connections finish and sends no new ones; V(halted) sends nothing
    and ends the server's connections.
  - This is a runtime operation; the spec still decides the state at the next converge (set
    C(state) in the spec to keep a server drained).
  - Can wait until the server has no connections left, up to O(wait_timeout).
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
  wait:
    description: Wait until the real server has no current connections (for V(drained) and V(halted)).
    type: bool
    default: false
  wait_timeout:
    description: How long to wait, in seconds; the module fails when connections remain after it.
    type: int
    default: 300
author:
  - lbkit developers (@lbkit)
"""

EXAMPLES = r"""
- name: Drain web1 and wait for its connections to finish
  lbkit.loadbalancer.real_server:
    spec: "{{ lbkit_spec }}"
    service: web
    real_server: web1
    state: drained
    wait: true
    wait_timeout: 600

- name: Put it back into service
  lbkit.loadbalancer.real_server:
    spec: "{{ lbkit_spec }}"
    service: web
    real_server: 10.0.0.11:80
    state: enabled

- name: Halt api1 in the api sub service of the shop service only (content switching)
  lbkit.loadbalancer.real_server:
    spec: "{{ lbkit_spec }}"
    service: shop:api
    real_server: api1
    state: halted
"""

RETURN = r"""
before:
  description: The real server's state on the engine before the call.
  returned: success
  type: str
  sample: enabled
after:
  description: The real server's state after the call.
  returned: success
  type: str
  sample: drained
connections:
  description: The real server's current connections when the module finished.
  returned: success
  type: int
  sample: 0
sub_services:
  description: The sub services (C(service:sub)) whose real server the call set, for a service with sub services.
  returned: when the service has sub services
  type: list
  elements: str
  sample: [shop:api, shop:www]
waited:
  description: Seconds spent waiting for connections to finish.
  returned: success
  type: float
  sample: 4.5
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner import real_server
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner.common import finish, real_server_argument, spec_argument


def main():
    argument_spec = dict(
        state=dict(type="str", required=True, choices=["enabled", "drained", "halted"]),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=300),
    )
    argument_spec.update(spec_argument())
    argument_spec.update(real_server_argument())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    finish(module, real_server.run)


if __name__ == "__main__":
    main()
