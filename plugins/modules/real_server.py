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
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  service:
    description: The virtual service's name in the spec.
    type: str
    required: true
  real_server:
    description: The real server, by its name in the spec or as C(address:port).
    type: str
    required: true
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
waited:
  description: Seconds spent waiting for connections to finish.
  returned: success
  type: float
  sample: 4.5
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.haproxy_runtime import RuntimeError_
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.runtime import Runtime
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import SpecInvalid
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import check_spec
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.secrets import spec_secrets


def find(spec, service, name):
    vs = spec.service(service)
    if vs is None:
        raise ValueError("no virtual service named %r in the spec (services: %s)." % (service, ", ".join(v.name for v in spec.virtual_services)))
    for rs in vs.real_servers:
        if name in (rs.name, "%s:%d" % (rs.address, rs.port), "[%s]:%d" % (rs.address, rs.port)):
            return vs, rs
    raise ValueError("virtual service %r has no real server %r (real servers: %s)." % (service, name, ", ".join(r.name for r in vs.real_servers)))


def run(module, runtime, clock=time.monotonic, sleep=time.sleep):
    params = module.params
    spec, errors = check_spec(params["spec"])
    if errors:
        raise SpecInvalid(errors)
    vs, rs = find(spec, params["service"], params["real_server"])
    before, connections = runtime.read(vs, rs)
    wanted = params["state"]
    result = dict(changed=before != wanted, before=before, after=wanted, connections=connections, waited=0.0)
    if module._diff:
        result["diff"] = dict(before="state: %s\n" % before, after="state: %s\n" % wanted)
    if module.check_mode:
        return result
    if result["changed"]:
        runtime.set(vs, rs, wanted, before)
    if params["wait"] and wanted != "enabled":
        started = clock()
        while True:
            state, connections = runtime.read(vs, rs)
            if connections == 0 or clock() - started >= params["wait_timeout"]:
                break
            sleep(0.5)
        result["waited"] = round(clock() - started, 1)
        result["connections"] = connections
        if connections:
            raise TimeoutError("%s still has %d connections after %ds." % (rs.name, connections, params["wait_timeout"]))
    else:
        result["connections"] = runtime.read(vs, rs)[1]
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            spec=dict(type="dict", required=True, no_log=True),
            service=dict(type="str", required=True),
            real_server=dict(type="str", required=True),
            state=dict(type="str", required=True, choices=["enabled", "drained", "halted"]),
            wait=dict(type="bool", default=False),
            wait_timeout=dict(type="int", default=300),
        ),
        supports_check_mode=True,
    )
    # The spec stays out of the target's log (no_log); only its secret is masked in the result.
    module.no_log_values = spec_secrets(module.params["spec"])
    try:
        result = run(module, Runtime(module))
    except SpecInvalid as exc:
        result = dict(failed=True, msg=exc.summary(), errors=[e.as_dict() for e in exc.errors])
    except (ValueError, RuntimeError_, TimeoutError) as exc:
        result = dict(failed=True, msg=str(exc))
    if result.get("failed"):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
