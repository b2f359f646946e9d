#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: realserver_linux
short_description: Prepare a Linux real server for Direct Routing, tunnelling or NAT
version_added: 0.1.0
description:
  - In Direct Routing and tunnelling every real server must accept packets for the VIP but never
    answer ARP for it; only the load balancer may (the appliance manuals' "ARP problem").
  - O(method=loopback) puts each VIP on C(lo) as a host address (C(ip addr add VIP/32 dev lo), IPv6 C(/128))
    and sets C(net.ipv4.conf.all.arp_ignore=1) and C(arp_announce=2) (also on each real interface);
    for IPv6 VIPs C(net.ipv6.conf.lo.dad_transmits=0) and C(accept_dad=0).
  - O(method=redirect) adds an nftables rule C(ip daddr VIP redirect) in the C(nat) C(prerouting) chain of lbkit's own
    table C(ip lbkit_realserver), so the VIP is never a local address. IPv4 only, and the service
    sees the packets as sent to the receiving interface's own address (no IP-based virtual hosting).
  - O(tunnel=true) (IP-in-IP tunnelling, the spec's C(forwarding=tun)) also loads the C(ipip) kernel module
    (C(modprobe ipip), which creates C(tunl0)), brings C(tunl0) up, sets C(net.ipv4.conf.tunl0.rp_filter=0)
    and changes C(net.ipv4.conf.all.rp_filter) from 1 (strict) to 2 (loose), since the kernel applies the higher of the two.
  - O(gateway) (NAT real servers) replaces the default route of its address family with one via the appliance's internal
    floating IP and checks that it took effect; the previous default route is recorded. An IPv6 gateway changes the IPv6
    default route only (C(ip -6 route replace default via ...)).
  - With O(persist=true) the settings survive a reboot through C(/etc/sysctl.d/60-lbkit-realserver.conf),
    C(/etc/lbkit-realserver.nft), C(/etc/modules-load.d/lbkit-realserver.conf) (tunnelling) and the oneshot
    unit C(lbkit-realserver-vips.service).
  - What lbkit changed (previous sysctl values, the previous default route, the VIPs it manages, whether it
    brought C(tunl0) up) is kept in C(/var/lib/lbkit/realserver-linux.json); O(state=absent) uses it to restore exactly that.
  - See C(docs/realservers-linux.md).
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
  vips:
    description:
      - The virtual services' addresses the host must accept, each a bare address (IPv4 or IPv6;
        IPv4 only with O(method=redirect)).
      - May be empty for a NAT real server that only needs O(gateway).
    type: list
    elements: str
    default: []
  method:
    description:
      - How the host accepts the VIPs without answering ARP for them.
    type: str
    choices: [loopback, redirect]
    default: loopback
  state:
    description:
      - V(present) adds the VIPs (and the gateway), V(absent) removes the listed VIPs and restores
        what lbkit recorded once none is left; with no O(vips) and no O(gateway) it removes everything lbkit recorded.
    type: str
    choices: [present, absent]
    default: present
  persist:
    description:
      - Also write the boot configuration (the sysctl.d file, the nftables file, the systemd unit).
        With V(false) only the running system changes.
    type: bool
    default: true
  interfaces:
    description:
      - The real interfaces ARP requests arrive on, for the per-interface C(arp_ignore)/C(arp_announce)
        settings. Default every interface C(ip address) shows that does ARP (not the loopback, and no
        link flagged C(NOARP) such as C(tunl0) or a WireGuard interface).
    type: list
    elements: str
    default: []
  gateway:
    description:
      - NAT real servers - the default gateway, the appliance's internal floating IP (IPv4 or IPv6).
      - With O(state=absent) the previous default route is restored.
    type: str
  gateway_from:
    description:
      - Several candidate gateways as C(ADDRESS/PREFIX) (the cluster's floating IPs with C(gateway=true));
        the first whose subnet holds one of the host's addresses becomes O(gateway).
    type: list
    elements: str
  listen_ports:
    description:
      - TCP ports the service must listen on; checked with C(ss -ltnH) after the change. The module
        fails, naming the port, when nothing listens on it on a VIP or on all addresses.
    type: list
    elements: int
    default: []
  tunnel:
    description:
      - Also receive IP-in-IP tunnelled packets (IPVS tunnelling, the spec's C(forwarding=tun)) - load the
        C(ipip) module if C(tunl0) does not exist, bring C(tunl0) up, set C(rp_filter=0) on C(tunl0) and
        C(2) on C(all) where it is C(1). The VIPs stay on C(lo) with the ARP settings, as for Direct Routing.
      - Only with O(method=loopback). IPv4 VIPs only (IPIP); an IPv6 tunnelled service needs C(ip6_tunnel), which lbkit does not set up.
      - V(false) with O(state=present) undoes what an earlier O(tunnel=true) changed (C(tunl0) down again
        if lbkit brought it up, the C(rp_filter) values back); so does O(state=absent) once no VIP is left on C(lo).
        The C(ipip) module stays loaded.
    type: bool
    default: false
notes:
  - Commands run as argument lists (C(ip), C(sysctl), C(nft), C(systemctl), C(ss), C(modprobe), C(udevadm)), never through a shell.
  - When C(ipip) is loaded while udevd runs, the module waits (C(udevadm settle)) until udev has applied sysctl.d
    to the new C(tunl0), so that its own values come last.
seealso:
  - module: lbkit.loadbalancer.realserver_bsd
  - module: lbkit.loadbalancer.realserver_solaris
  - module: lbkit.loadbalancer.win_realserver
author:
  - lbkit developers (@lbkit)
"""

EXAMPLES = r"""
- name: Accept the web VIPs on a Linux real server (Direct Routing)
  become: true
  lbkit.loadbalancer.realserver_linux:
    vips: [192.168.10.100, 2001:db8:10::100]
    listen_ports: [80]

- name: The same with an nftables redirect instead of the loopback
  become: true
  lbkit.loadbalancer.realserver_linux:
    vips: [192.168.10.100]
    method: redirect

- name: A tunnelling (LVS-TUN) real server decapsulates on tunl0
  become: true
  lbkit.loadbalancer.realserver_linux:
    vips: [192.168.10.100]
    tunnel: true
    listen_ports: [80]

- name: A NAT real server routes through the appliance's floating IP
  become: true
  lbkit.loadbalancer.realserver_linux:
    gateway: 10.0.1.1

- name: Undo everything lbkit did on this host
  become: true
  lbkit.loadbalancer.realserver_linux:
    state: absent
"""

RETURN = r"""
changes:
  description: The planned actions in order, each with the command it runs (none for files). The same in check mode.
  returned: always
  type: list
  elements: dict
  sample:
    - action: add 192.168.10.100/32 to lo
      argv: [/usr/sbin/ip, addr, add, 192.168.10.100/32, dev, lo]
diff:
  description:
    - Before and after, in the keys every real-server module shares - C(vips) (the service addresses on C(lo)),
      C(settings) (the sysctls lbkit reads), C(persisted) (the files lbkit manages, with O(persist)) - and Linux's own
      C(tunl0), C(redirects), C(default_gateway), C(default_gateway6) (when there is an IPv6 default route or gateway) and C(unit_enabled).
  returned: always
  type: dict
listeners:
  description: For each of O(listen_ports), the addresses a fitting listener is bound to.
  returned: when O(listen_ports) is set
  type: dict
  sample: {"80": ["0.0.0.0"]}
default_gateway:
  description: The IPv4 default gateway after the run (null when there is no default route).
  returned: always
  type: str
  sample: 10.0.1.1
default_gateway6:
  description: The IPv6 default gateway after the run (null when there is none).
  returned: when the host has an IPv6 default route, or O(gateway) is IPv6
  type: str
  sample: fd00:1::1
record:
  description: What lbkit records on the host after the run (the VIPs per method, the sysctls it changed with their previous values, the gateway,
    and while tunnelling is on whether tunl0 was up before lbkit).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import LbkitError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import core
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.linux import METHODS, LinuxPlatform


def main():
    module = AnsibleModule(
        argument_spec=core.argument_spec(
            method=dict(type="str", choices=list(METHODS), default="loopback"),
            interfaces=dict(type="list", elements="str", default=[]),
            gateway=dict(type="str"),
            gateway_from=dict(type="list", elements="str"),
            tunnel=dict(type="bool", default=False),
        ),
        mutually_exclusive=[("gateway", "gateway_from")],
        supports_check_mode=True,
    )
    try:
        result = core.run(module, LinuxPlatform())
    except LbkitError as exc:
        module.fail_json(**exc.result())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
