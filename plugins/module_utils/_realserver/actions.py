# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File actions shared by the real-server plans (the command actions live with their platform).

A plan is a list of actions; an action either renders an argv list (``argv(tools)``) or is one
of these file actions, which the backend writes atomically or removes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WriteFile:
    """Create or replace ``path`` with ``content`` (owned by root, ``mode``)."""

    path: str
    content: bytes
    mode: int = 0o644

    def describe(self):
        return "write %s" % self.path


@dataclass(frozen=True)
class RemoveFile:
    """Delete ``path``."""

    path: str

    def describe(self):
        return "remove %s" % self.path


def describe_plan(actions, tools):
    """The plan as the module reports it: one entry per action, with its argv when it runs one."""
    out = []
    for action in actions:
        entry = {"action": action.describe()}
        if not isinstance(action, (WriteFile, RemoveFile)):
            entry["argv"] = action.argv(tools)
        out.append(entry)
    return out
