"""The HA pair's layer-4 connection synchronisation (ha.connection_sync)."""

import copy

import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine import loadmaster as lm
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.state import desired_state
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import keepalived
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import check_spec, load_spec

from .specs import mutate
from .test_render import host_interfaces
from . import test_loadmaster_engine as lm_tests


def conf(spec, host="lb1"):
    loaded = load_spec(spec)
    return keepalived.render(loaded, host, host_interfaces(loaded, host)).content


def errors(spec):
    return [str(e) for e in check_spec(spec)[1]]


def test_the_sync_daemon_follows_the_vrrp_instance_on_the_heartbeat_interface():
    text = conf(mutate({"/cluster/ha/connection_sync": True}))
    global_defs = text[text.index("global_defs {"):text.index("}\n")]
    assert "    lvs_sync_daemon eth0 lbkit id 51\n" in global_defs
    assert "lvs_sync_daemon" not in conf(mutate({}))
    assert desired_state(load_spec(mutate({"/cluster/ha/connection_sync": True})), "lb1")["cluster"]["connection_sync"] is True
    # off: the state recorded before the field existed stays equal
    assert "connection_sync" not in desired_state(load_spec(mutate({})), "lb1")["cluster"]


@pytest.mark.parametrize("changes, message", [
    ({"/cluster/ha/connection_sync": True, "/cluster/ha/mode": "single", "/cluster/nodes": [{"host": "lb1"}]},
     "/cluster/ha/connection_sync: synchronises connections between the two nodes of a pair"),
    ({"/cluster/ha/connection_sync": True,
      "/virtual_services": [{"name": "web", "address": "192.0.2.12", "port": 80, "layer": 7, "real_servers": [{"address": "10.0.1.31"}]}]},
     "/cluster/ha/connection_sync: synchronises IPVS (layer-4) connections, and this cluster has no layer-4 service"),
])
def test_connection_sync_needs_a_pair_with_layer_4_services(changes, message):
    found = errors(mutate(changes))
    assert any(e.startswith(message) for e in found), found


def test_a_loadmaster_pair_turns_on_its_l4_connection_updates():
    data = copy.deepcopy(lm_tests.SPEC)
    data["cluster"]["ha"]["connection_sync"] = True
    wanted = lm_tests._desired(data)
    assert wanted.ha["hal4update"] is True
    plan = lm.plan(wanted, lm_tests._converged(lm_tests._desired()))
    assert ("set", {"param": "hal4update", "value": True}) in [(op.cmd, op.arguments()) for op in plan.operations]
    assert lm.cluster_doc("lm", dict(lm_tests.HA, hal4update="yes"))["connection_sync"] is True
