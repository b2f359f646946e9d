#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: load_agent
short_description: Run lbkit's load agent on a Linux real server (adaptive scheduling)
version_added: 0.1.0
description:
  - Resource based (adaptive) scheduling lowers the weight of a loaded real server. The appliance
    asks an agent on each real server for the load; this module installs lbkit's agent and runs it
    as C(lbkit-load-agent.service) (user C(nobody)).
  - The agent measures the CPU load of the host (the root cgroup, or O(cgroup)) averaged over
    O(window) seconds, and answers on each of O(ports) in two ways. To a line starting with
    C(lbkit-load) (HAProxy's agent check, keepalived's adaptive check) it answers the share of the
    configured weight to use, C(NN%), 100% while the load is under the asker's C(min_load), else 100
    minus the load, at least 1%. To an HTTP C(GET) of one of O(paths) (a LoadMaster's adaptive
    method) it answers the load, 0 (idle) to 100.
  - The realserver role calls it with the ports and paths of the adaptive services the host serves,
    and with O(state=absent) when it serves none.
  - See C(docs/realservers-linux.md), "The load agent".
extends_documentation_fragment:
  - lbkit.loadbalancer.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
  platform:
    description: Target operating systems.
    support: full
    platforms: [linux]
options:
  state:
    description:
      - V(present) installs, enables and starts the agent (restarting it when its program or unit
        changes); V(absent) stops it and removes its program and unit.
    type: str
    choices: [present, absent]
    default: present
  ports:
    description:
      - The TCP ports the agent listens on, on every address (the spec's C(adaptive.port)). Required with O(state=present).
    type: list
    elements: int
    default: []
  paths:
    description:
      - The HTTP paths answered with the load (the spec's C(adaptive.path), a LoadMaster's "Adaptive URL").
    type: list
    elements: str
    default: [/load]
  cgroup:
    description:
      - The cgroup whose CPU load the agent measures, a cgroup v2 directory, or with cgroup v1 the
        hierarchy's root (holding C(cpuacct/) and C(cpu/)) or a C(cpuacct) directory. The default, the
        root, is the whole host (or the whole container, under a private cgroup namespace). With
        neither, the agent reads C(/proc/stat).
    type: str
    default: /sys/fs/cgroup
  window:
    description:
      - The seconds the load is averaged over (1-3600).
    type: int
    default: 5
author:
  - lbkit developers (@lbkit)
"""

EXAMPLES = r"""
- name: Serve this host's load on port 3333 (what the realserver role does for adaptive services)
  lbkit.loadbalancer.load_agent:
    ports: [3333]

- name: Measure the application's own slice instead of the whole host
  lbkit.loadbalancer.load_agent:
    ports: [3333]
    cgroup: /sys/fs/cgroup/system.slice/app.service
"""

RETURN = r"""
changes:
  description: What the module did (or would do in check mode), one entry per step.
  returned: always
  type: list
  elements: str
  sample: ["write /usr/local/libexec/lbkit/load-agent", "write /etc/systemd/system/lbkit-load-agent.service",
           "systemctl daemon-reload", "systemctl enable lbkit-load-agent.service", "systemctl start lbkit-load-agent.service"]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import LbkitError, RealServerError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import agent_service


def _interpreter(module):
    for candidate in ("/usr/bin/python3", module.get_bin_path("python3")):
        if candidate and os.path.isfile(candidate):
            return candidate
    raise RealServerError("the agent needs python3 on the real server, and none was found: install python3.")


def run(module):
    params = module.params
    wanted = None
    if params["state"] == "present":
        interpreter = _interpreter(module)
        wanted = {
            agent_service.PROGRAM: agent_service.program(interpreter),
            agent_service.UNIT: agent_service.unit(interpreter, params["ports"], params["paths"], params["cgroup"], params["window"]),
        }
    systemctl = module.get_bin_path("systemctl")
    current = agent_service.read(module, systemctl)
    steps = agent_service.plan(current, wanted)
    if any(step[0] == "systemctl" for step in steps) and not systemctl:
        raise RealServerError("the agent runs as a systemd service, and this host has no systemctl: run lbkit's agent"
                              " (%s serve --port N) with the host's own service manager." % agent_service.PROGRAM)
    result = dict(
        changed=bool(steps),
        changes=[agent_service.describe(step) for step in steps],
        diff=dict(before=agent_service.snapshot(current), after=agent_service.snapshot(agent_service.simulate(current, wanted, steps))),
    )
    if steps and not module.check_mode:
        agent_service.apply(module, systemctl, wanted, steps)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            ports=dict(type="list", elements="int", default=[]),
            paths=dict(type="list", elements="str", default=["/load"]),
            cgroup=dict(type="str", default="/sys/fs/cgroup"),
            window=dict(type="int", default=5),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except (LbkitError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
