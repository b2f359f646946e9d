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
  description: lo0's service addresses, its NOARP flag and the persisted entries, before and after.
  returned: always
  type: dict
  sample:
    before: {vips: [], noarp: false, persisted: []}
    after:
      vips: [192.168.10.100/32]
      noarp: true
      persisted: ['/etc/rc.conf: ifconfig_lo0_alias0="inet 192.168.10.100 netmask 255.255.255.255 -arp"']
"""

import platform

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import backend
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import listeners
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.actions import describe_plan
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.bsd import (
    FREEBSD,
    LAUNCHD_DIR,
    RC_CONF_FILES,
    BsdHost,
    SetRcVar,
    UnsetRcVar,
    apply_plan,
    check_system,
    launchd_address,
    loopback_state,
    parse_ifconfig,
    parse_launchd_jobs,
    parse_rc_conf,
    plan,
    snapshot,
)
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.vips import RealServerError, parse_vips


def read_host(module, system, tools):
    noarp, addresses = loopback_state(parse_ifconfig(backend.run(module, [tools["ifconfig"], "lo0"])))
    if system == FREEBSD:
        entries = []
        for path in RC_CONF_FILES:
            entries += parse_rc_conf(backend.read_text(path) or "", path)
        return BsdHost(system, noarp, tuple(addresses), rc_entries=tuple(entries), rc_conf=RC_CONF_FILES[0])
    files = backend.read_dir(LAUNCHD_DIR, lambda name: launchd_address(name) is not None)
    return BsdHost(system, noarp, tuple(addresses), launchd_jobs=tuple(parse_launchd_jobs(files, LAUNCHD_DIR)), launchd_dir=LAUNCHD_DIR)


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
    system = platform.system()
    result = dict(changed=False, system=system, changes=[])
    try:
        check_system(system)
        vips = parse_vips(module.params["vips"], platform=system)
        tools = {"ifconfig": backend.find_tool(module, "ifconfig")}
        host = read_host(module, system, tools)
        actions = plan(host, vips, module.params["state"], module.params["persist"])
        if any(isinstance(a, (SetRcVar, UnsetRcVar)) for a in actions):
            tools["sysrc"] = backend.find_tool(module, "sysrc")
        result.update(
            changed=bool(actions),
            changes=describe_plan(actions, tools),
            diff=dict(before=snapshot(host), after=snapshot(apply_plan(host, actions))),
        )
        if actions and not module.check_mode:
            backend.execute(module, actions, tools)
        if module.params["listen_ports"] and module.params["state"] == "present":
            sockets = listeners.parse_bsd_netstat(backend.run(module, [backend.find_tool(module, "netstat")] + list(listeners.BSD_NETSTAT_ARGS)))
            found, missing = listeners.check_listeners(sockets, module.params["listen_ports"], vips)
            result["listeners"] = found
            if missing:
                raise RealServerError(listeners.listener_error(missing, sockets, vips))
    except RealServerError as exc:
        module.fail_json(msg=str(exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
