#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: realserver_bsd
short_description: Solve the Direct Routing ARP problem on a FreeBSD or macOS real server
version_added: 0.1.0
description:
  - In Direct Routing and tunnelling every real server must accept packets for the VIP but never
    answer ARP for it; only the load balancer may.
  - Puts each VIP on the loopback as a host alias, as the appliance manuals describe
    (C(ifconfig lo0 alias VIP netmask 255.255.255.255 -arp up); IPv6
    C(ifconfig lo0 inet6 VIP prefixlen 128 alias)). A VIP already on C(lo0) with a wider
    prefix is replaced by the host alias.
  - On FreeBSD the alias is persisted as C(ifconfig_lo0_aliasN="inet VIP netmask 255.255.255.255 -arp")
    (IPv6 C(inet6 VIP prefixlen 128)) in C(/etc/rc.conf), written with C(sysrc); N is the lowest
    number no C(ifconfig_lo0_aliasN) in C(/etc/rc.conf) or C(/etc/rc.conf.local) uses.
  - On macOS, which has no rc.conf, each VIP gets a launchd job
    C(/Library/LaunchDaemons/com.lbkit.loadbalancer.vip.<VIP>.plist) (C(:) written as C(-) for IPv6)
    that runs the same C(ifconfig) command at boot.
  - With O(state=absent) the listed VIPs leave C(lo0) and their C(ifconfig_lo0_aliasN) variables or
    launchd jobs are removed; nothing else is touched. The NOARP flag stays on C(lo0).
  - Other BSDs are refused (they persist aliases elsewhere). See C(docs/realservers-unix-windows.md).
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
    platforms: [freebsd, darwin]
options:
  vips:
    description:
      - The virtual services' addresses (IPv4 or IPv6) the host must accept, each a bare address.
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
      - Also manage the boot configuration (rc.conf variables on FreeBSD, launchd jobs on macOS).
      - With V(false) only the running system changes and persisted entries are left as they are.
    type: bool
    default: true
  listen_ports:
    description:
      - TCP ports the service must listen on; checked with C(netstat -anW -p tcp) after the change
        (in check mode too, as the check only reads). The module fails, naming each port, what listens
        on it and the VIPs, when nothing listens on it on a VIP or on all addresses (C(*)).
      - Ignored with O(state=absent).
    type: list
    elements: int
    default: []
notes:
  - Runs C(ifconfig lo0) to read the loopback, then C(ifconfig) and C(sysrc) with argument lists.
  - The service on the real server must listen on the VIP or on all addresses; O(listen_ports) checks it.
seealso:
  - module: lbkit.loadbalancer.realserver_solaris
  - module: lbkit.loadbalancer.win_realserver
author:
  - lbkit developers (@lbkit)
"""

EXAMPLES = r"""
- name: Accept the web VIPs on a FreeBSD real server
  become: true
  lbkit.loadbalancer.realserver_bsd:
    vips:
      - 192.168.10.100
      - 2001:db8:10::100
    listen_ports: [80]

- name: Take a VIP away again (live and at boot)
  become: true
  lbkit.loadbalancer.realserver_bsd:
    vips: [192.168.10.100]
    state: absent
"""

RETURN = r"""
system:
  description: The operating system the module acted on (C(uname -s)).
  returned: always
  type: str
  sample: FreeBSD
changes:
  description: The planned actions in order, each with the command it runs (none for files).
    The same in check mode.
  returned: always
  type: list
  elements: dict
  sample:
    - action: add 192.168.10.100/32 to lo0
      argv: [/sbin/ifconfig, lo0, alias, 192.168.10.100, netmask, 255.255.255.255, -arp, up]
    - action: set ifconfig_lo0_alias0="inet 192.168.10.100 netmask 255.255.255.255 -arp" in /etc/rc.conf
      argv: [/usr/sbin/sysrc, -f, /etc/rc.conf, ifconfig_lo0_alias0=inet 192.168.10.100 netmask 255.255.255.255 -arp]
listeners:
  description: For each of O(listen_ports), the addresses a fitting listener is bound to (C(*) for all addresses).
  returned: when O(listen_ports) is set and O(state=present)
  type: dict
  sample: {"80": ["*"]}
diff:
  description:
    - Before and after, in the keys every real-server module shares - C(vips) (the service addresses on C(lo0),
      C(ADDRESS/PREFIX)), C(settings) (C(lo0 NOARP), whether C(lo0) carries the NOARP flag) and C(persisted)
      (the boot configuration - on FreeBSD C(<rc file> <variable>) to its value, on macOS each job file to the command it runs,
      or C((unreadable job file))).
  returned: always
  type: dict
  sample:
    before: {vips: [], settings: {lo0 NOARP: false}, persisted: {}}
    after:
      vips: [192.168.10.100/32]
      settings: {lo0 NOARP: true}
      persisted: {/etc/rc.conf ifconfig_lo0_alias0: inet 192.168.10.100 netmask 255.255.255.255 -arp}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import LbkitError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import core
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.bsd import BsdPlatform


def main():
    module = AnsibleModule(argument_spec=core.argument_spec(), supports_check_mode=True)
    try:
        result = core.run(module, BsdPlatform())
    except LbkitError as exc:
        module.fail_json(**exc.result())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
