# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HAProxy's runtime API (the admin stats socket): read server states, drain, halt, enable.

Changing a server's state this way needs no reload: the running process applies it at once.
"""

from __future__ import annotations

import csv
import io

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import RuntimeApiError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._monitor import overview
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render.haproxy import RUNTIME_SOCKET

# HAProxy's word for each spec state.
STATE_COMMAND = {"enabled": "ready", "drained": "drain", "halted": "maint"}


def command(text, path=RUNTIME_SOCKET, timeout=5.0):
    """Send one command to the admin socket and return HAProxy's answer."""
    try:
        return overview.unix_request(path, text, timeout)
    except OSError as exc:
        raise RuntimeApiError("HAProxy's runtime API at %s did not answer %r: %s" % (path, text, exc)) from None


# The columns of 'show stat' lbkit reads (HAProxy has about a hundred).
COLUMNS = ("pxname", "svname", "status", "weight", "scur", "stot", "check_status")


def _rows(text):
    """Each row of ``show stat`` as {column: value} for COLUMNS only, one at a time: with
    thousands of servers, every column of every row at once took tens of megabytes."""
    reader = csv.reader(io.StringIO(text.lstrip("# ")))
    try:
        header = next(reader, None)
        if header is None:
            return
        wanted = [(name, header.index(name)) for name in COLUMNS if name in header]
        for row in reader:
            yield dict((name, row[index]) for name, index in wanted if index < len(row))
    except csv.Error as exc:
        raise RuntimeApiError("HAProxy's 'show stat' answer is not the CSV lbkit reads: %s" % exc) from None


def _count(text):
    return int(text) if text and text.isascii() and text.isdigit() else 0


def parse_stat(text):
    """``show stat`` CSV -> {(proxy, server): {status, weight, scur, ...}} for the servers."""
    out = {}
    for row in _rows(text):
        name = row.get("svname")
        if not name or name in ("FRONTEND", "BACKEND"):
            continue
        out[(row["pxname"], name)] = {
            "status": row.get("status", ""),
            "weight": _count(row.get("weight")),
            "current_sessions": _count(row.get("scur")),
            "total_sessions": _count(row.get("stot")),
            "check_status": row.get("check_status", ""),
        }
    return out


def proxies(text):
    """The proxy names in ``show stat`` output (frontends, backends, listens)."""
    return set(row["pxname"] for row in _rows(text) if row.get("pxname"))


def spec_state(entry):
    """The spec state a ``show stat`` server entry stands for.

    A server drained at runtime shows DRAIN; one drained by the config has weight 0.
    """
    status = entry["status"].upper()
    if status.startswith("MAINT"):
        return "halted"
    if status.startswith("DRAIN") or entry["weight"] == 0:
        return "drained"
    return "enabled"


def set_state_commands(proxy, server, state):
    """The commands that put one server in ``state``; halting also ends its sessions."""
    cmds = ["set server %s/%s state %s" % (proxy, server, STATE_COMMAND[state])]
    if state == "halted":
        cmds.append("shutdown sessions server %s/%s" % (proxy, server))
    return cmds


def run_commands(cmds, path=RUNTIME_SOCKET):
    for cmd in cmds:
        answer = command(cmd, path).strip()
        # Successful state changes answer with nothing; anything else is HAProxy's complaint.
        if answer:
            raise RuntimeApiError("HAProxy refused %r: %s" % (cmd, answer))
