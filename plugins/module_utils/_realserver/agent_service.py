# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The load agent as a service on a Linux real server (the ``load_agent`` module): its files, and
the plan from what the host has to what adaptive scheduling asks. Pure except ``read``/``apply``.

The agent is ``load_agent.py`` itself, installed as ``/usr/local/libexec/lbkit/load-agent``, run by
``lbkit-load-agent.service`` as ``nobody`` (it reads the CPU counters anyone may read, and listens
on the ports the spec's adaptive services give).
"""

from __future__ import annotations

import hashlib
import os
import re

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import RealServerError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import load_agent

PROGRAM = load_agent.INSTALLED
UNIT_NAME = "lbkit-load-agent.service"
UNIT = "/etc/systemd/system/" + UNIT_NAME
PROGRAM_MODE = 0o755
UNIT_MODE = 0o644
# What may be written into the unit's command line as one word: no specifier (%), quote or blank.
_UNIT_WORD = re.compile(r"/[A-Za-z0-9_./~-]*", re.ASCII)


def _word(value, option):
    if not isinstance(value, str) or not _UNIT_WORD.fullmatch(value):
        raise RealServerError("%s: %r cannot be written into the agent's unit as one path (letters, digits and _ . / ~ - only). Nothing was changed."
                              % (option, value))
    return value


def program(interpreter):
    """The agent program for ``interpreter`` (the shebang; the rest is load_agent.py itself)."""
    return load_agent.program_text(interpreter)


def unit(interpreter, ports, paths, cgroup, window):
    """The agent's systemd unit."""
    if not ports:
        raise RealServerError("ports: the agent needs at least one port to listen on.")
    for port in ports:
        if not 1 <= int(port) <= 65535:
            raise RealServerError("ports: %r is not a TCP port (1-65535)." % (port,))
    if not 1 <= int(window) <= 3600:
        raise RealServerError("window: %r is outside 1 to 3600 seconds." % (window,))
    words = [_word(interpreter, "interpreter"), PROGRAM, "serve"]
    for port in sorted(set(int(p) for p in ports)):
        words += ["--port", str(port)]
    for path in sorted(set(paths)) or ["/load"]:
        words += ["--path", _word(path, "paths")]
    words += ["--cgroup", _word(cgroup, "cgroup"), "--window", str(int(window))]
    low = min(int(p) for p in ports) < 1024
    return """# Managed by lbkit.loadbalancer (realserver role): the load agent of adaptive scheduling.
[Unit]
Description=lbkit's load agent (adaptive scheduling: the appliance asks this host's load)
After=network.target

[Service]
ExecStart=%(command)s
User=nobody
NoNewPrivileges=yes
%(caps)sRestart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
""" % dict(command=" ".join(words), caps="AmbientCapabilities=CAP_NET_BIND_SERVICE\n" if low else "")


def digest(text):
    return None if text is None else "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def read(module, systemctl):
    """{program, unit, modes, enabled, active} of the host (files None when missing)."""
    found = {"files": {}, "modes": {}}
    for path in (PROGRAM, UNIT):
        try:
            with open(path, encoding="utf-8") as handle:
                found["files"][path] = handle.read()
            found["modes"][path] = os.stat(path).st_mode & 0o7777
        except FileNotFoundError:
            found["files"][path] = None
        except (OSError, UnicodeDecodeError) as exc:
            raise RealServerError("cannot read %s: %s" % (path, exc))
    found["enabled"] = found["active"] = False
    if systemctl and found["files"][UNIT] is not None:
        found["enabled"] = module.run_command([systemctl, "is-enabled", UNIT_NAME])[0] == 0
        found["active"] = module.run_command([systemctl, "is-active", UNIT_NAME])[0] == 0
    return found


def plan(current, wanted):
    """[(verb, argument)] taking ``current`` (``read``'s answer) to ``wanted`` ({path: text}, or None: no agent).

    Verbs: write PATH, remove PATH, systemctl VERB (daemon-reload, enable, disable, start, stop, restart).
    """
    steps = []
    files, modes = current["files"], current["modes"]
    if wanted is None:
        if files.get(UNIT) is not None:
            if current["active"]:
                steps.append(("systemctl", "stop"))
            if current["enabled"]:
                steps.append(("systemctl", "disable"))
        for path in (UNIT, PROGRAM):
            if files.get(path) is not None:
                steps.append(("remove", path))
        if files.get(UNIT) is not None:
            steps.append(("systemctl", "daemon-reload"))
        return steps
    rewritten = False
    for path, mode in ((PROGRAM, PROGRAM_MODE), (UNIT, UNIT_MODE)):
        if files.get(path) != wanted[path] or modes.get(path) != mode:
            steps.append(("write", path))
            rewritten = rewritten or files.get(path) != wanted[path]
    if files.get(UNIT) != wanted[UNIT]:
        steps.append(("systemctl", "daemon-reload"))
    if not current["enabled"]:
        steps.append(("systemctl", "enable"))
    if not current["active"]:
        steps.append(("systemctl", "start"))
    elif rewritten:
        steps.append(("systemctl", "restart"))
    return steps


def snapshot(current):
    """What the diff shows: the unit's text, the program's digest, whether it is enabled and running."""
    return {
        "unit": current["files"].get(UNIT),
        "program": digest(current["files"].get(PROGRAM)),
        "enabled": current["enabled"],
        "active": current["active"],
    }


def simulate(current, wanted, steps):
    """The host after ``steps`` (the diff's "after")."""
    files = dict(current["files"])
    after = {"files": files, "modes": dict(current["modes"]), "enabled": current["enabled"], "active": current["active"]}
    for verb, arg in steps:
        if verb == "write":
            files[arg] = wanted[arg]
        elif verb == "remove":
            files[arg] = None
        elif arg in ("enable", "disable"):
            after["enabled"] = arg == "enable"
        elif arg in ("start", "stop", "restart"):
            after["active"] = arg != "stop"
    return after


def describe(step):
    verb, arg = step
    return "%s %s" % (verb, arg if verb != "systemctl" or arg == "daemon-reload" else "%s %s" % (arg, UNIT_NAME))


def apply(module, systemctl, wanted, steps):
    """Run ``steps``; raises RealServerError naming the one that failed."""
    for verb, arg in steps:
        if verb == "write":
            os.makedirs(os.path.dirname(arg), exist_ok=True)
            tmp = "%s.lbkit-tmp" % arg
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(wanted[arg])
            os.chmod(tmp, PROGRAM_MODE if arg == PROGRAM else UNIT_MODE)
            os.rename(tmp, arg)
        elif verb == "remove":
            os.unlink(arg)
        else:
            argv = [systemctl, arg] + ([] if arg == "daemon-reload" else [UNIT_NAME])
            rc, out, err = module.run_command(argv)
            if rc != 0:
                raise RealServerError("%s failed (exit %d): %s" % (" ".join(argv), rc, (err or out).strip()))
