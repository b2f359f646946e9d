# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one real-server core: the vocabulary every platform speaks, and the one runner.

A real server is prepared the same way on every system (docs/architecture.md, "Real servers"):

- ``Platform.read`` turns the host's own outputs into a host object (pure parsers; the host's
  VIP addresses are always ``loopback``, its boot files ``files``);
- ``Platform.plan(host, request)`` lists the ``Action``s that take it where the ``Request``
  asks, empty when nothing differs; each action describes itself, names the one command it
  runs (``argv``) and ``simulate``s itself on a host, so the diff's "after" and the proof that
  a second run plans nothing come from the same actions the apply runs;
- ``run`` is what every module calls: read, plan, simulate, report, apply (``execute``) unless
  in check mode, then the listener check. Every module returns the same shape: ``changed``,
  ``changes`` (``{action, argv}``), ``diff`` (``vips``, ``settings``, ``persisted`` and the
  platform's own keys) and ``listeners``.

The Windows module (PowerShell) keeps the same vocabulary: options, result shape, and the
VIP rules of ``_net/addresses.py``, of which it carries a generated copy.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import LbkitError, RealServerError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver import backend
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.listeners import check_listeners, listener_error


@dataclass(frozen=True)
class Request:
    """What every real-server module is asked: the VIPs, present or absent, persisted or not, the ports to check."""

    vips: tuple = ()
    state: str = "present"
    persist: bool = True
    listen_ports: tuple = ()


def simulate(host, actions):
    """The host after ``actions``: the diff's "after", and what a second plan starts from."""
    for action in actions:
        host = action.simulate(host)
    return host


def describe(actions, tools):
    """The plan as the module reports it: one entry per action, with its argv when it runs one."""
    out = []
    for action in actions:
        entry = {"action": action.describe()}
        argv = action.argv(tools)
        if argv is not None:
            entry["argv"] = argv
        out.append(entry)
    return out


def argument_spec(**extra):
    """The options every real-server module takes, and the platform's own."""
    spec = dict(
        vips=dict(type="list", elements="str", default=[]),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        persist=dict(type="bool", default=True),
        listen_ports=dict(type="list", elements="int", default=[]),
    )
    spec.update(extra)
    return spec


class Platform(abc.ABC):
    """One system's way of accepting VIPs without answering ARP for them."""

    @abc.abstractmethod
    def request(self, params):
        """The module's options as a Request (raises RealServerError naming the option)."""

    @abc.abstractmethod
    def tools(self, module, request):
        """{name: absolute path} of the tools the read needs."""

    @abc.abstractmethod
    def read(self, module, tools, request):
        """The host, from its own outputs and files."""

    @abc.abstractmethod
    def plan(self, host, request):
        """The actions taking ``host`` where ``request`` asks (pure)."""

    @abc.abstractmethod
    def snapshot(self, host, request):
        """What the diff shows of ``host``: ``vips``, ``settings``, ``persisted`` and the platform's own keys."""

    @abc.abstractmethod
    def listeners(self, module, tools):
        """[(local address, port)] of the host's listening TCP sockets."""

    def more_tools(self, module, tools, actions):
        """Find the tools only some actions need (sysrc, systemctl...), or say what to install."""

    def fitting(self, host, request):
        """Addresses besides the VIPs and the wildcards a listener may be bound to."""
        return ()

    def listener_target(self, request):
        """What the listener error tells to bind the service to: 'loopback' names the VIPs too."""
        return "loopback"

    def extras(self, before, after, request):
        """The platform's own result keys."""
        return {}

    def verify(self, module, tools, request, result):
        """After the apply: check what the commands cannot prove themselves (a default route)."""


def run(module, platform):
    """Read, plan, report; apply unless in check mode; check the listeners. Raises LbkitError
    carrying what was found so far."""
    params = module.params
    result = dict(changed=False, changes=[])
    try:
        request = platform.request(params)
        tools = platform.tools(module, request)
        host = platform.read(module, tools, request)
        actions = platform.plan(host, request)
        platform.more_tools(module, tools, actions)
        after = simulate(host, actions)
        result.update(
            changed=bool(actions),
            changes=describe(actions, tools),
            diff=dict(before=platform.snapshot(host, request), after=platform.snapshot(after, request)),
        )
        result.update(platform.extras(host, after, request))
        if actions and not module.check_mode:
            backend.execute(module, actions, tools)
            platform.verify(module, tools, request, result)
        if request.listen_ports and request.state == "present":
            sockets = platform.listeners(module, tools)
            found, missing = check_listeners(sockets, request.listen_ports, request.vips, platform.fitting(host, request))
            result["listeners"] = found
            if missing:
                raise RealServerError(listener_error(missing, sockets, request.vips, platform.listener_target(request)))
    except LbkitError as exc:
        for key, value in result.items():
            exc.details.setdefault(key, value)
        raise
    return result
