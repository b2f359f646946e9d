"""The lab demo's layer-4 part (``./scripts/lab layer4``, and a step of ``./scripts/lab demo``).

It runs the IPVS tier's ``lab_layer4`` scenario (tests/ipvs/scenarios.py) where IPVS is: in the
QEMU guest the tier boots when this kernel has no IPVS, else in network namespaces on this host
(runner.run chooses, as for the tier), and prints what happened as tables. The scenario is also
part of the tier, where tests/ipvs/test_ipvs.py judges its observations and prints these tables
from them, so the demo's story is checked on every test run.
"""

from __future__ import annotations

import json
import os
import sys
import time

try:
    from . import runner
except ImportError:  # run as a program: its own directory is on the path
    import runner

SCENARIO = "lab_layer4"
HOSTS = {"rs1": "Web1", "rs2": "Web2", "rs3": "Web3"}
FORWARDING = {"dr": "Direct Routing", "nat": "NAT (two-arm)", "tun": "tunnelling"}


def table(header, rows, indent="  "):
    """Rows of strings under ``header``, each column as wide as its widest cell."""
    cells = [list(header)] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(indent + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def _held(roles):
    return "; ".join("%s holds %s" % (name, ", ".join(addresses) if addresses else "nothing") for name, addresses in sorted(roles.items()))


def _outcome(summary):
    answered = sum(summary["answered"].values())
    out = "%d answered, %d failed" % (answered, summary["failed"])
    if summary["errors"]:
        out += " (%s)" % "; ".join(summary["errors"])
    return out


def _answers(rows):
    return table(("request", "client", "answered by", "the server saw"),
                 [(i + 1, client, server or "nobody (%s)" % error, seen) for i, (client, server, seen, error) in enumerate(rows)])


def _ipvs_table(weights):
    return table(("real server", "IPVS weight"), sorted(weights.items())) if weights else "  (no real server in the table)"


def report(obs, how):
    """The demo's text for the scenario's observations ``obs`` and runner.run's ``how``."""
    spec = obs["spec"]
    where = "a QEMU guest (this kernel has no IPVS)" if how["mode"] == "guest" else "network namespaces on this host"
    out = ["Layer 4: keepalived and IPVS, the HA pair and its real servers, in %s." % where, ""]
    for vs in spec["virtual_services"]:
        out.append("%s %s:%d/tcp  %s, %s" % (vs["name"], vs["address"], vs["port"], FORWARDING[vs["forwarding"]], vs["scheduling"].replace("_", " ")))
        out.append(table(("real server", "address", "weight", "min conns", "max conns"),
                         [(rs["name"], "%s:%d" % (rs["address"], rs["port"]), rs.get("weight", 100), rs.get("min_connections", 0), rs.get("max_connections", 0))
                          for rs in vs["real_servers"]]))
    out.append("  appliances: %s" % _held(obs["roles_start"]))
    names = dict((mac, name) for name, mac in obs["macs"].items())

    out += ["", "--- 1. The ARP problem: Web1 and Web2 do not hold the VIP yet (Direct Routing delivers them packets for it)"]
    out.append("  6 connections to %s:80: %s" % (spec["virtual_services"][0]["address"], _outcome(obs["arp_problem"])))
    out.append("  IPVS on lb1: %d connections stuck in SYN_RECV" % obs["syn_recv"])
    out += ["  appliance_info: " + line for line in obs["arp_diagnosis"]]

    out += ["", "--- 2. The realserver role's fix on Web1 and Web2 (the VIP on lo, arp_ignore=1, arp_announce=2)"]
    for host, changes in sorted(obs["fix"].items()):
        out += ["  %s: %s" % (HOSTS[host], change) for change in changes]
    out.append("  who answers ARP for the VIP now: %s" % (", ".join(names.get(mac, mac) for mac in obs["fix_arp"]) or "nobody"))

    out += ["", "--- 3. Two clients, answered by different real servers (weighted round robin, equal weights)"]
    out.append(_answers(obs["two_clients"]))

    out += ["", "--- 4. Web1 halted at runtime (the real_server module: out of the IPVS table, keepalived not reloaded)"]
    out.append(_ipvs_table(obs["halted_table"]))
    out.append(_answers(obs["halted"]))
    out.append("  Web1 enabled again:")
    out.append(_ipvs_table(obs["enabled_table"]))
    out.append(_answers(obs["enabled"]))

    out += ["", "--- 5. Two-arm NAT: Web3 behind the appliances"]
    out.append("  without the appliances as Web3's gateway, 6 connections: %s" % _outcome(obs["nat_unfixed"]))
    out += ["  appliance_info: " + line for line in obs["nat_diagnosis"]]
    out.append("  the realserver role on Web3: %s" % "; ".join(obs["nat_fix"]["changes"]))
    out.append(_answers(obs["nat_fixed"]))

    out += ["", "--- 6. lb1 powered off (its links dead, nothing running on it)"]
    out.append("  before: %s" % _held(obs["before_power_off"]))
    out.append("  after %.2f s: %s" % (obs["takeover_s"], _held(obs["after_power_off"])))
    out.append(_answers(obs["after_dr"] + obs["after_nat"]))
    return "\n".join(out) + "\n"


def main(argv):
    started = time.monotonic()
    log = os.path.join(runner.ROOT, ".cache", "lab", "layer4-console.log")
    try:
        results, how = runner.run([SCENARIO], log_path=log, timeout=900)
    except runner.RunnerError as exc:
        sys.stderr.write("scripts/lab layer4: %s\n" % exc)
        return 1
    result = results[SCENARIO]
    if not result["ok"]:
        sys.stderr.write("scripts/lab layer4: the scenario stopped:\n%s\nconsole log: %s\n" % (result.get("error"), log))
        return 1
    sys.stdout.write(report(result["observations"], how))
    reports = os.environ.get("LBKIT_LAB_REPORTS")
    if reports:
        os.makedirs(reports, exist_ok=True)
        with open(os.path.join(reports, "layer4.json"), "w") as handle:
            json.dump({"how": how, "observations": result["observations"]}, handle, indent=1, sort_keys=True)
    sys.stdout.write("\nlayer 4 done in %.0f s (%s, console log %s)\n" % (time.monotonic() - started, how["mode"], log))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
