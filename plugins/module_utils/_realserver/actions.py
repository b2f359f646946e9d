# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The actions of a real-server plan: the base every platform's actions derive from, and the file actions.

An action describes itself, names the one command it runs (``argv``, None for a file action)
and ``simulate``s itself on a host; each platform's host knows how a file lands in it
(``with_file``), so the pure code never tells actions apart by their type. Only the I/O edge
(``backend.execute``) does, to write or remove the file actions' files.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass


class Action(abc.ABC):
    """One step of a real-server plan."""

    @abc.abstractmethod
    def describe(self):
        """The step as the module reports it."""

    def argv(self, tools):
        """The command the step runs (an argv list), or None for a file step."""
        return None

    @abc.abstractmethod
    def simulate(self, host):
        """The host after this step (pure)."""


@dataclass(frozen=True)
class WriteFile(Action):
    """Create or replace ``path`` with ``content`` (owned by root, ``mode``)."""

    path: str
    content: bytes
    mode: int = 0o644

    def describe(self):
        return "write %s" % self.path

    def simulate(self, host):
        return host.with_file(self.path, self.content)


@dataclass(frozen=True)
class RemoveFile(Action):
    """Delete ``path``."""

    path: str

    def describe(self):
        return "remove %s" % self.path

    def simulate(self, host):
        return host.with_file(self.path, None)
