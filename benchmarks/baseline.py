# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-object baseline: the haproxy.cfg lbkit renders, cut into the objects a vendor-style
collection converges one task at a time. Pure.

benchmarks/playbooks/baseline.yml applies them: one ``sysctl`` per kernel setting lbkit set
(HAProxy binds VIPs the node may not hold), one ``blockinfile`` per proxy section (its
header and options, between markers naming it), one ``lineinfile`` per real server (inserted
after the section's marker, or after the server before it, so the order is kept), then one
validation (``haproxy -c``) and one reload when anything changed. The file it builds holds the
same sections and lines as lbkit's; ``same_config`` proves it after a run.
"""

from __future__ import annotations

import re

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import sysctl

SECTIONS = ("frontend", "backend", "listen")
MARKER = "# {mark} lbkit-baseline %s"
HEAD = "head"


def sysctl_settings(text):
    """{key: value} of a sysctl.d file as a vendor-style task list would read it off the appliance."""
    out = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";")) and "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def _is_section(line):
    words = line.split()
    return bool(words) and not line[0].isspace() and words[0] in SECTIONS


def _is_server(line):
    words = line.split()
    return bool(words) and line[0].isspace() and words[0] == "server"


def split_config(text):
    """(head, [(name, header and option lines, server lines)]) of a rendered haproxy.cfg.

    The head is everything before the first proxy section (the comment, global, defaults).
    Comments and blank lines inside sections are dropped: they are not objects.
    """
    head, sections = [], []
    for line in text.splitlines():
        if _is_section(line):
            sections.append((line.split()[1], [line], []))
        elif not sections:
            head.append(line)
        elif line.strip() and not line.lstrip().startswith("#"):
            sections[-1][2 if _is_server(line) else 1].append(line)
    while head and not head[-1].strip():
        head.pop()
    return "\n".join(head), sections


def baseline_vars(text, sysctl_text=None):
    """The variables of benchmarks/playbooks/baseline.yml for one rendered haproxy.cfg and
    sysctl.d file."""
    head, sections = split_config(text)
    blocks, servers = [], []
    lines = [line for name, dummy, server_lines in sections for line in server_lines]
    twice = sorted(set(line for line in lines if lines.count(line) > 1))
    if twice:
        # lineinfile looks for its line in the whole file: it would see the second as present.
        raise ValueError("the per-object baseline cannot place a server line that appears twice: %s" % twice[0].strip())
    for name, lines, server_lines in sections:
        blocks.append({"name": name, "block": "\n".join(lines)})
        after = "^" + re.escape(MARKER.replace("{mark}", "END") % name) + "$"
        for line in server_lines:
            servers.append({"line": line, "after": after})
            after = "^" + re.escape(line) + "$"
    settings = [{"name": key, "value": value} for key, value in sorted(sysctl_settings(sysctl_text).items())]
    return {"baseline_marker": MARKER, "baseline_sysctl_file": sysctl.PATH, "baseline_sysctls": settings, "baseline_head": head,
            "baseline_sections": blocks, "baseline_servers": servers}


def objects(variables):
    """How many per-object tasks items one run of the baseline executes."""
    return len(variables["baseline_sysctls"]) + 1 + len(variables["baseline_sections"]) + len(variables["baseline_servers"])


def normalize(text):
    """A haproxy.cfg as HAProxy reads it: [(section line, [its lines])], comments and blanks out."""
    out = []
    for line in (text or "").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            out.append((line, []))
        elif out:
            out[-1][1].append(line.strip())
    return out


def same_config(first, second):
    """True when two haproxy.cfg files hold the same sections with the same lines in order."""
    return normalize(first) == normalize(second)
