# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The diagnoses across an appliance cluster, from every node's appliance_info result. Pure, controller-side."""

from __future__ import annotations


def cluster_diagnosis(infos):
    """Diagnoses across the nodes: ``infos`` maps each appliance to its appliance_info result."""
    out = []
    holders = {}
    expected = set()
    for host, info in sorted(infos.items()):
        vrrp = info.get("vrrp", {})
        expected.update(vrrp.get("expected", []))
        for address in vrrp.get("held", []):
            holders.setdefault(address, []).append(host)
        if not vrrp.get("running", False):
            out.append("%s: keepalived is not running, so it can neither hold nor take over the floating addresses." % host)
        out.extend("%s: %s" % (host, line) for line in info.get("diagnosis", []))
    for address in sorted(holders):
        if len(holders[address]) > 1:
            out.append(
                "split brain: %s is held by %s at once; the nodes do not hear each other's heartbeat." % (address, " and ".join(holders[address]))
            )
    for address in sorted(expected - set(holders)):
        out.append("%s is held by no node: clients cannot reach it." % address)
    return out
