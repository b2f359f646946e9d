# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The programs and the service settings an appliance needs beside its configuration files. Pure.

keepalived runs two helpers that lbkit installs (root-owned, mode 0755: keepalived's script
security refuses anything else): the ping-node check and the VRRP state recorder that
``appliance_info`` reads. And keepalived's command line (``/etc/default/keepalived``) says
whether it runs VRRP only (``--vrrp``, while there is no layer-4 service: keepalived with a
virtual server dies on a kernel without IPVS) or VRRP and IPVS. The appliance engine writes
all three in the same apply as the configuration, so check mode and diff report them too.
"""

from __future__ import annotations

DIRECTORY = "/usr/local/libexec/lbkit"
PING_ANY = DIRECTORY + "/ping-any"
VRRP_NOTIFY = DIRECTORY + "/vrrp-notify"
KEEPALIVED_DEFAULTS = "/etc/default/keepalived"
MODE = 0o755

PING_ANY_TEXT = """#!/bin/sh
# Installed by lbkit.loadbalancer. keepalived's ping-node check: succeeds when any of the
# addresses given as arguments answers one ping, so the node keeps the master role only
# while its network works.
for address in "$@"; do
    if ping -n -q -c 1 -W 1 "$address" >/dev/null 2>&1; then
        exit 0
    fi
done
exit 1
"""

VRRP_NOTIFY_TEXT = """#!/bin/sh
# Installed by lbkit.loadbalancer. keepalived calls it on every VRRP state change
# (notify TYPE NAME STATE PRIORITY); lbkit.loadbalancer.appliance_info reads the result.
set -eu
mkdir -p /run/lbkit
tmp=$(mktemp /run/lbkit/.vrrp.XXXXXX)
printf '%s %s %s\\n' "$3" "${4:-0}" "$(date +%s)" > "$tmp"
mv "$tmp" "/run/lbkit/vrrp-$2.state"
"""

# {path: text} of the helper programs.
HELPERS = {PING_ANY: PING_ANY_TEXT, VRRP_NOTIFY: VRRP_NOTIFY_TEXT}


def keepalived_mode(spec):
    """'VRRP only' without a layer-4 service, else 'VRRP and IPVS'."""
    return "VRRP and IPVS" if any(vs.layer == 4 for vs in spec.virtual_services) else "VRRP only"


def keepalived_defaults(mode):
    """/etc/default/keepalived for a mode of ``keepalived_mode``."""
    return '# Managed by lbkit.loadbalancer.\nDAEMON_ARGS="%s"\n' % ("--vrrp" if mode == "VRRP only" else "")


def mode_of_defaults(text):
    """The mode an /etc/default/keepalived runs keepalived in (``None``, no such file: keepalived's
    default command line, VRRP and IPVS)."""
    for line in (text or "").splitlines():
        words = line.strip()
        if words.startswith("DAEMON_ARGS=") and "--vrrp" in words.split("#", 1)[0]:
            return "VRRP only"
    return "VRRP and IPVS"
