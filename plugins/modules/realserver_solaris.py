#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: realserver_solaris
short_description: Solve the Direct Routing ARP problem on a Solaris or illumos real server
version_added: 0.1.0
description:
  - In Direct Routing and tunnelling every real server must accept packets for the VIP but never
    answer ARP for it; only the load balancer may.
  - Puts each VIP on a logical loopback interface, as the appliance manuals describe
    (C(ifconfig lo0:N plumb), then C(ifconfig lo0:N VIP netmask 255.255.255.255 up)). N is the
    unit that already holds the VIP, or else the first unit that is neither plumbed nor named
    by an C(/etc/hostname.lo0:N) file.
  - Persists each VIP in C(/etc/hostname.lo0:N) with the content C(VIP netmask 255.255.255.255 up),
    which Solaris 10 and the illumos distributions read at boot. Oracle Solaris 11 no longer
    reads these files (ipadm holds persistent addresses), so there O(persist=true) with
    O(state=present) fails and says how to persist by hand.
  - With O(state=absent) the units holding the listed VIPs are unplumbed and the hostname files
    naming them removed; nothing else is touched. Units the global zone assigned to a
    non-global zone are never changed.
  - IPv4 only; an IPv6 VIP fails with a message saying so.
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
    platforms: [solaris]
options:
  vips:
    description:
      - The virtual services' IPv4 addresses the host must accept, each a bare address.
    type: list
    elements: str
    required: true
  state:
    description:
      - V(present) adds the VIPs, V(absent) removes them (and only them).
    type: str
    choices: [present, absent]
    default: present
  persist:
    description:
      - Also manage the C(/etc/hostname.lo0:N) files.
      - With V(false) only the running system changes and existing files are left as they are.
    type: bool
    default: true
  listen_ports:
    description:
      - TCP ports the service must listen on; checked with C(netstat -an -P tcp) (IPv4 and IPv6
        tables) after the change (in check mode too, as the check only reads). The module fails, naming
        each port, what listens on it and the VIPs, when nothing listens on it on a VIP or on all
        addresses (C(*)).
      - Ignored with O(state=absent).
    type: list
    elements: int
    default: []
notes:
  - Runs C(ifconfig -a) to read the interfaces and C(/etc/release) to recognise Oracle Solaris 11.
  - The service on the real server must listen on the VIP or on all addresses; O(listen_ports) checks it.
seealso:
  - module: lbkit.loadbalancer.realserver_bsd
  - module: lbkit.loadbalancer.win_realserver
author:
  - lbkit developers (@lbkit)
"""

EXAMPLES = r"""
- name: Accept the web VIPs on a Solaris 10 real server
  lbkit.loadbalancer.realserver_solaris:
    vips: [192.168.10.100, 192.168.10.101]
    listen_ports: [80]

- name: Oracle Solaris 11 - live change only (persist with ipadm by hand)
  lbkit.loadbalancer.realserver_solaris:
    vips: [192.168.10.100]
    persist: false
"""

RETURN = r"""
changes:
  description: The planned actions in order, each with the command it runs (none for files).
    The same in check mode.
  returned: always
  type: list
  elements: dict
  sample:
    - action: plumb lo0:1
      argv: [/usr/sbin/ifconfig, "lo0:1", plumb]
    - action: set 192.168.10.100/32 on lo0:1 and bring it up
      argv: [/usr/sbin/ifconfig, "lo0:1", 192.168.10.100, netmask, 255.255.255.255, up]
    - action: "write /etc/hostname.lo0:1"
listeners:
  description: For each of O(listen_ports), the addresses a fitting listener is bound to (C(*) for all addresses).
  returned: when O(listen_ports) is set and O(state=present)
  type: dict
  sample: {"80": ["192.168.10.100"]}
diff:
  description: The addresses on lo0's logical units and the hostname.lo0:N files, before and after.
  returned: always
  type: dict
  sample:
    before: {vips: [], persisted: []}
    after:
      vips: ["192.168.10.100/32 on lo0:1"]
      persisted: ["/etc/hostname.lo0:1: 192.168.10.100 netmask 255.255.255.255 up"]
"""

import platform

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import backend
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import listeners
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.actions import describe_plan
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.solaris import (
    HOSTNAME_DIR,
    apply_plan,
    build_host,
    check_persistence,
    hostname_file_unit,
    plan,
    snapshot,
)
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.vips import (
    NotImplementedOnPlatform,
    RealServerError,
    parse_vips,
)

RELEASE_FILE = "/etc/release"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            vips=dict(type="list", elements="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            persist=dict(type="bool", default=True),
            listen_ports=dict(type="list", elements="int", default=[]),
        ),
        supports_check_mode=True,
    )
    state, persist = module.params["state"], module.params["persist"]
    result = dict(changed=False, changes=[])
    try:
        if platform.system() != "SunOS":
            raise NotImplementedOnPlatform("realserver_solaris runs on Solaris and illumos (SunOS), not on %s." % platform.system())
        vips = parse_vips(module.params["vips"], families=(4,), platform="Solaris")
        check_persistence(backend.read_text(RELEASE_FILE) or "", state, persist)
        tools = {"ifconfig": backend.find_tool(module, "ifconfig")}
        files = backend.read_dir(HOSTNAME_DIR, lambda name: hostname_file_unit(name) is not None)
        host = build_host(backend.run(module, [tools["ifconfig"], "-a"]),
                          dict((name, content.decode("utf-8", errors="replace")) for name, content in files.items()), HOSTNAME_DIR)
        actions = plan(host, vips, state, persist)
        result.update(
            changed=bool(actions),
            changes=describe_plan(actions, tools),
            diff=dict(before=snapshot(host), after=snapshot(apply_plan(host, actions))),
        )
        if actions and not module.check_mode:
            backend.execute(module, actions, tools)
        if module.params["listen_ports"] and state == "present":
            sockets = listeners.parse_solaris_netstat(backend.run(module, [backend.find_tool(module, "netstat")] + list(listeners.SOLARIS_NETSTAT_ARGS)))
            found, missing = listeners.check_listeners(sockets, module.params["listen_ports"], vips)
            result["listeners"] = found
            if missing:
                raise RealServerError(listeners.listener_error(missing, sockets, vips))
    except RealServerError as exc:
        module.fail_json(msg=str(exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
