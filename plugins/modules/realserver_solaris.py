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
      - At least one; an empty list is refused.
    type: list
    elements: str
    default: []
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
  description:
    - Before and after, in the keys every real-server module shares - C(vips) (the service addresses on lo0's own
      logical units, C(ADDRESS/PREFIX)), C(settings) (each of those units, C(lo0:N), to its address and C(up) or C(down))
      and C(persisted) (each C(/etc/hostname.lo0:N) file to its content). Units of non-global zones are left out.
  returned: always
  type: dict
  sample:
    before: {vips: [], settings: {}, persisted: {}}
    after:
      vips: [192.168.10.100/32]
      settings: {"lo0:1": 192.168.10.100/32 up}
      persisted: {"/etc/hostname.lo0:1": 192.168.10.100 netmask 255.255.255.255 up}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import LbkitError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import core
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.solaris import SolarisPlatform


def main():
    module = AnsibleModule(argument_spec=core.argument_spec(), supports_check_mode=True)
    try:
        result = core.run(module, SolarisPlatform())
    except LbkitError as exc:
        module.fail_json(**exc.result())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
