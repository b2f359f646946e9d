# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The appliance_info module's one call: the appliance's report, against its applied state or a given spec."""

from __future__ import annotations

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.linux import read_state
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.state import desired_state
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner.common import linux_appliance, spec_for_host


def info(module):
    engine = linux_appliance(module)
    if module.params["spec"] is None:
        state, dummy = read_state(engine.paths)
    else:
        state = desired_state(spec_for_host(module), module.params["host"])
    return dict(changed=False, **engine.info(state, parts=set(module.params.get("gather") or ())))
