#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The module is win_realserver.ps1 (PowerShell, Ansible.Basic); this file carries its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
module: win_realserver
short_description: Solve the Direct Routing ARP problem on a Windows real server
version_added: 0.1.0
description:
  - In Direct Routing and tunnelling every real server must accept packets for the VIP but never
    answer ARP for it; only the load balancer may. On Windows this takes the four steps of the
    appliance manuals, each read first and changed only when it differs.
  - 1. A loopback adapter, found by its name O(loopback_name). When it is missing the module
    creates a Microsoft KM-TEST Loopback Adapter (driver C(%SystemRoot%\INF\netloop.inf),
    hardware id C(*MSLOOP)) with the SetupAPI calls C(devcon install) makes
    (SetupDiCreateDeviceInfo, SetupDiSetDeviceRegistryProperty, SetupDiCallClassInstaller
    DIF_REGISTERDEVICE, UpdateDriverForPlugAndPlayDevices), so neither devcon nor any module
    from the PowerShell Gallery is needed, and renames the new adapter to O(loopback_name).
  - 2. The VIPs on the loopback as host addresses (IPv4 /32, IPv6 /128) with C(SkipAsSource), so
    Windows never uses a VIP as the source of its own connections; DHCP is turned off on the
    loopback when an IPv4 VIP is wanted. A VIP already there with a wider prefix is replaced.
  - 3. Weak host receive on each of O(interfaces) and weak host receive and weak host send on the
    loopback (C(Set-NetIPInterface -WeakHostReceive Enabled -WeakHostSend Enabled), what
    C(netsh interface ipv4 set interface ... weakhostreceive=enabled weakhostsend=enabled) sets),
    for each address family a VIP uses.
  - 4. With O(firewall_port), an inbound allow rule C(lbkit-realserver-<protocol>-<port>)
    (group C(lbkit)) whose local addresses are the VIPs.
  - What lbkit itself turned on (the adapter it created, each weak host setting it enabled) is
    recorded under C(HKLM:\SOFTWARE\lbkit\loadbalancer\win_realserver). O(state=absent) removes
    the listed VIPs (and them from the firewall rule, which goes when none is left); once the
    loopback holds no VIP it disables the weak host settings lbkit enabled and removes the
    loopback adapter if lbkit created it. Settings and adapters lbkit found in place stay.
  - The module reads everything first, then plans the ordered steps from what it read, and only then
    (not in check mode) runs them, so check mode reports exactly the changes a real run makes and a
    second run plans none. It takes the options and returns the result shape of the other real-server
    modules (M(lbkit.loadbalancer.realserver_linux), M(lbkit.loadbalancer.realserver_bsd),
    M(lbkit.loadbalancer.realserver_solaris)), and refuses the same VIPs.
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
    platforms: [windows]
options:
  vips:
    description:
      - The virtual services' addresses (IPv4 or IPv6) the host must accept, each a bare address, each
        listed once.
      - An address in a network that clients cannot reach a service on is refused, by the table the
        other real-server modules use (C(plugins/module_utils/_net/addresses.py)), the networks
        C(0.0.0.0/8), C(127.0.0.0/8), C(169.254.0.0/16), C(224.0.0.0/4), C(240.0.0.0/4), C(::/128), C(::1/128),
        C(::ffff:0:0/96), C(fe80::/10), C(ff00::/8).
    type: list
    elements: str
    required: true
  loopback_name:
    description:
      - The name (interface alias) of the loopback adapter that holds the VIPs.
      - Letters, digits, spaces, dots, underscores, parentheses, C(#), C(+), commas and hyphens; no
        wildcards or quotes.
    type: str
    default: lbkit-loopback
  create_loopback:
    description:
      - Create the loopback adapter when none has the name O(loopback_name). With V(false) a missing
        adapter fails the module.
    type: bool
    default: true
  interfaces:
    description:
      - The adapter(s) clients' packets arrive on, by name (for example V(Ethernet)), where weak host
        receive is enabled. Required with O(state=present); not needed with O(state=absent), where
        the module's records say which settings to revert.
      - Named as in M(lbkit.loadbalancer.realserver_linux), whose
        O(lbkit.loadbalancer.realserver_linux#module:interfaces) are the interfaces clients' packets
        arrive on too.
      - The alias O(nic) is the option's former name. It is deprecated and will be removed in
        lbkit.loadbalancer 0.3.0; use O(interfaces).
    type: list
    elements: str
    default: []
    aliases: [nic]
  firewall_port:
    description:
      - The service's port, to allow in through Windows Firewall on the VIPs. No rule is managed
        without it.
    type: int
  firewall_protocol:
    description:
      - The service's protocol for the firewall rule.
    type: str
    choices: [tcp, udp]
    default: tcp
  state:
    description:
      - V(present) adds the VIPs and the settings, V(absent) removes the VIPs and what lbkit added.
    type: str
    choices: [present, absent]
    default: present
  listen_ports:
    description:
      - TCP ports the service must listen on; checked with C(Get-NetTCPConnection -State Listen)
        after the change (in check mode too, as the check only reads). The module fails, naming each
        port, what listens on it and the VIPs, when nothing listens on it on a VIP or on all
        addresses (C(0.0.0.0), C(::)).
      - Ignored with O(state=absent).
    type: list
    elements: int
    default: []
notes:
  - The service must listen on the VIP or on all addresses; IIS needs a binding to the VIP or to
    All Unassigned. O(listen_ports) checks it.
  - Interface names are passed to the cmdlets as parameters, never pasted into a command line.
seealso:
  - module: lbkit.loadbalancer.realserver_linux
  - module: lbkit.loadbalancer.realserver_bsd
  - module: lbkit.loadbalancer.realserver_solaris
author:
  - lbkit developers (@lbkit)
"""

EXAMPLES = r"""
- name: Accept the web VIP on a Windows real server
  lbkit.loadbalancer.win_realserver:
    vips: [192.168.10.100]
    interfaces: [Ethernet]
    firewall_port: 443
    listen_ports: [443]

- name: Take the VIP away again
  lbkit.loadbalancer.win_realserver:
    vips: [192.168.10.100]
    firewall_port: 443
    state: absent
"""

RETURN = r"""
changes:
  description:
    - The planned changes in the order they run, each a mapping whose C(action) describes it; the same
      in check mode. The shape of the other real-server modules' C(changes), without their C(argv)
      (this module runs cmdlets, not commands).
  returned: always
  type: list
  elements: dict
  sample:
    - action: create the loopback adapter lbkit-loopback (netloop.inf, *MSLOOP)
    - action: disable DHCP on lbkit-loopback
    - action: add 192.168.10.100/32 to lbkit-loopback
    - action: enable WeakHostReceive on Ethernet (IPv4)
    - action: enable WeakHostReceive on lbkit-loopback (IPv4)
    - action: enable WeakHostSend on lbkit-loopback (IPv4)
diff:
  description:
    - Before and after, in the keys the real-server modules share, C(vips) (the service addresses on the
      loopback as C(ADDRESS/PREFIX)) and C(settings) (each weak host setting the module looked at, as
      C(<adapter> <family> <setting>) to its value), and Windows' own C(loopback) (whether the loopback
      adapter exists) and C(firewall) (the rule's name and local addresses, null without a rule).
    - Returned with C(--diff).
  returned: when diff mode is on
  type: dict
  sample:
    before: {loopback: false, vips: [], settings: {"Ethernet IPv4 WeakHostReceive": Disabled}, firewall: null}
    after:
      loopback: true
      vips: [192.168.10.100/32]
      settings:
        Ethernet IPv4 WeakHostReceive: Enabled
        lbkit-loopback IPv4 WeakHostReceive: Enabled
        lbkit-loopback IPv4 WeakHostSend: Enabled
      firewall: {name: lbkit-realserver-tcp-443, local_addresses: [192.168.10.100]}
listeners:
  description: For each of O(listen_ports), the addresses a fitting listener is bound to.
  returned: when O(listen_ports) is set and O(state=present)
  type: dict
  sample: {"443": ["0.0.0.0"]}
reboot_required:
  description: Windows asked for a reboot after installing the loopback driver.
  returned: when the loopback adapter was created and Windows asked for a reboot
  type: bool
  sample: true
"""
