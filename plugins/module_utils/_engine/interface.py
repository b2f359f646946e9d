# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The contract every engine keeps (docs/architecture.md, "The engine interface").

An engine converges one appliance to the spec:

- ``read()``: the appliance's current state, in the model's vocabulary (what lbkit applied,
  what runs, the runtime states of the real servers), never in the engine's.
- ``desired(spec, host, current)``: what the appliance should hold, pure; it may refuse a spec
  the appliance cannot take (``SpecInvalid``, with the paths).
- ``plan(desired, current)``: pure; the one ``Plan`` that decides ``changed``, the diff, check
  mode and what ``apply`` does. Nothing is applied that is not in the plan.
- ``apply(plan)``: carry out the plan's operations: write or call, validate with the engine's
  own checker, reload gracefully, verify by reading back; on any failure restore the last good
  state and prove it by reading again, then raise ``ApplyFailed``.

Runtime operations (a real server drained or halted without a reload) and the appliance's
report are part of the contract too: ``server_state``, ``set_server_state``, ``info``.
"""

from __future__ import annotations

import abc


class Operation(abc.ABC):
    """One step of an apply, in the engine's own vocabulary (write a file, reload a daemon, call an API)."""

    @abc.abstractmethod
    def describe(self):
        """The step as a line of text, for the module's ``operations`` result."""


class Plan(object):
    """What a converge changes (``changes``, for people) and how (``operations``, for ``apply``).

    ``changes`` are ``Change`` objects in the model's vocabulary, plus the engine-level lines a
    user must see (a file edited by hand, a daemon started). ``operations`` are the engine's
    steps, in the order ``apply`` runs them. The plan is empty when there is no operation.
    """

    def __init__(self, changes, operations):
        self.changes = tuple(changes)
        self.operations = tuple(operations)

    def __bool__(self):
        return bool(self.operations)

    __nonzero__ = __bool__

    @property
    def summary(self):
        return [change.line() for change in self.changes]

    def result(self, diff=False):
        """What a module returns for this plan (the same in check mode and in a real run)."""
        out = dict(
            changed=bool(self),
            changes=[change.as_dict() for change in self.changes],
            summary=self.summary,
            operations=[operation.describe() for operation in self.operations],
        )
        if diff:
            out["diff"] = dict(prepared="".join(line + "\n" for line in self.summary))
        return out


class Engine(abc.ABC):
    """An appliance engine: the Linux appliance (keepalived, HAProxy), the LoadMaster API..."""

    #: The engine's name as messages and docs/engine-mapping.md write it.
    name = None

    @abc.abstractmethod
    def read(self):
        """The appliance's current state."""

    @abc.abstractmethod
    def desired(self, spec, host, current):
        """What ``host`` should hold for ``spec`` (pure; raises ``SpecInvalid``)."""

    @abc.abstractmethod
    def plan(self, desired, current):
        """The ``Plan`` from ``current`` to ``desired`` (pure)."""

    @abc.abstractmethod
    def apply(self, plan):
        """Carry out ``plan``; on failure restore the last good state, prove it, raise ``ApplyFailed``."""

    @abc.abstractmethod
    def server_state(self, vs, rs):
        """(state, current connections) of real server ``rs`` of ``vs`` on the running appliance."""

    @abc.abstractmethod
    def set_server_state(self, vs, rs, state, current):
        """Put ``rs`` in ``state`` (enabled, drained, halted) at runtime, without a reload."""

    @abc.abstractmethod
    def info(self, state):
        """The appliance's report: HA role, addresses held, servers and their health, diagnoses."""
