# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the appliance modules share: their common options, and the engine they drive."""

from __future__ import annotations

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.linux import LinuxAppliance
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine import linux as linux_engine
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import LbkitError, SpecInvalid
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import SpecError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import load_spec


def spec_argument(required=True):
    """The ``spec`` option: the whole cluster spec, kept out of the target's log."""
    return dict(spec=dict(type="dict", required=required, no_log=True))


def real_server_argument():
    """The ``service`` and ``real_server`` options of the runtime modules."""
    return dict(service=dict(type="str", required=True), real_server=dict(type="str", required=True))


def finish(module, call):
    """Run a module's one call: the spec's secrets masked, an ``LbkitError`` as ``fail_json``, the result as ``exit_json``."""
    from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.secrets import mask_only_secrets

    mask_only_secrets(module)
    try:
        result = call(module)
    except LbkitError as exc:
        module.fail_json(**exc.result())
    module.exit_json(**result)


def state_dir_argument():
    """The ``state_dir`` option of the modules that read or write lbkit's state on an appliance."""
    return dict(state_dir=dict(type="path", default=linux_engine.STATE_DIR))


def linux_appliance(module, **kwargs):
    """The Linux appliance engine for this module's host."""
    return LinuxAppliance(module, paths=linux_engine.Paths(state_dir=module.params.get("state_dir") or linux_engine.STATE_DIR), **kwargs)


def spec_for_host(module):
    """The module's spec as a model, with its host a node of the cluster (raises SpecInvalid)."""
    spec = load_spec(module.params["spec"])
    if spec.cluster.engine != "linux":
        raise SpecInvalid([SpecError("/cluster/engine", "is '%s'; this module converges a Linux appliance (keepalived, HAProxy)." % spec.cluster.engine,
                                     "converge a %s cluster with its own modules (lbkit.loadbalancer.%s)." % (spec.cluster.engine, spec.cluster.engine))])
    host = module.params.get("host")
    if host is not None and spec.cluster.node(host) is None:
        nodes = ", ".join(n.host for n in spec.cluster.nodes)
        raise SpecInvalid([SpecError("/cluster/nodes", "host '%s' is not a node of cluster '%s' (nodes: %s)." % (host, spec.cluster.name, nodes),
                                     "give host the appliance's inventory hostname, as /cluster/nodes lists it.")])
    return spec
