"""The plan: semantic changes between the last applied state and the desired one."""

import json

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.diff import diff as plan
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.state import desired_state, held_addresses
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import load_spec

from .specs import DELETE, Append, mutate

VS0 = "/virtual_services/0"


def state(ops=None, host="lb1"):
    return desired_state(load_spec(mutate(ops or {})), host)


def lines(before, after):
    return [str(c) for c in plan(before, after)]


def test_same_state_plans_nothing():
    assert plan(state(), state()) == []


def test_state_is_plain_json():
    text = json.dumps(state(), sort_keys=True)
    assert json.loads(text) == state()


def test_first_apply_adds_everything():
    out = lines(None, state())
    assert "+ virtual service web-dr (192.0.2.10:80/tcp)" in out
    assert "+ real server web1 192.168.10.21:80 in web-dr" in out
    assert sum(1 for line in out if line.startswith("+ real server")) == 4


def test_weight_change():
    assert lines(state(), state({VS0 + "/real_servers/0/weight": 50})) == ["~ real server web1 192.168.10.21:80 in web-dr: weight 100 -> 50"]


def test_real_server_added_and_removed():
    after = state({VS0 + "/real_servers/1": DELETE, VS0 + "/real_servers": Append({"name": "web3", "address": "192.168.10.23"})})
    assert lines(state(), after) == [
        "- real server web2 192.168.10.22:80 in web-dr",
        "+ real server web3 192.168.10.23:80 in web-dr",
    ]


def test_renaming_a_real_server_is_a_change_not_a_replacement():
    assert lines(state(), state({VS0 + "/real_servers/0/name": "web-one"})) == [
        "~ real server web-one 192.168.10.21:80 in web-dr: name web1 -> web-one"
    ]


def test_service_removed_and_fields_changed():
    after = state(
        {"/virtual_services/1": DELETE, VS0 + "/scheduling": "least_connection", VS0 + "/persistence": {"mode": "source_ip", "timeout": "10m"}}
    )
    assert lines(state(), after) == [
        "- virtual service app-nat (192.0.2.11:8080/tcp)",
        "~ virtual service web-dr (192.0.2.10:80/tcp): persistence.mode none -> source_ip",
        "~ virtual service web-dr (192.0.2.10:80/tcp): persistence.timeout (unset) -> 600",
        "~ virtual service web-dr (192.0.2.10:80/tcp): scheduling weighted_round_robin -> least_connection",
    ]


def test_secret_change_is_detected_but_hidden():
    v2 = {"/cluster/ha/vrrp_version": 2, "/cluster/ha/advert_interval_ms": 1000}
    before = state(dict(v2, **{"/cluster/ha/auth_secret": "old-pw"}))
    after = state(dict(v2, **{"/cluster/ha/auth_secret": "new-pw"}))
    changes = plan(before, after)
    assert [str(c) for c in changes] == ["~ cluster lb-prod: auth_secret (hidden) -> (hidden)"]
    dumped = json.dumps([c.as_dict() for c in changes]) + json.dumps(after)
    assert "old-pw" not in dumped and "new-pw" not in dumped


def test_each_node_has_its_own_priority_and_peer():
    lb1, lb2 = state(host="lb1"), state(host="lb2")
    assert lb1["cluster"]["priority"] == 150 and lb2["cluster"]["priority"] == 100
    assert lb1["cluster"]["unicast_peers"] == ["192.168.10.12"]
    assert lb2["cluster"]["unicast_peers"] == ["192.168.10.11"]


def test_change_as_dict():
    change = plan(state(), state({VS0 + "/real_servers/0/state": "drained"}))[0]
    assert change.as_dict() == {
        "action": "change",
        "kind": "real server",
        "key": "tcp/192.0.2.10/80/192.168.10.21:80",
        "label": "web1 192.168.10.21:80 in web-dr",
        "field": "state",
        "before": "enabled",
        "after": "drained",
    }


def test_held_addresses_lists_a_shared_vip_once():
    # shop on 192.0.2.12:443 and a second service on the same VIP, port 80
    extra = {"name": "shop-http", "address": "192.0.2.12", "port": 80, "layer": 7, "real_servers": [{"address": "10.0.1.31", "port": 8080}]}
    state = desired_state(load_spec(mutate({"/virtual_services": Append(extra)})), "lb1")
    assert held_addresses(state) == ["192.0.2.10", "192.0.2.11", "192.0.2.12", "10.0.1.1"]


def test_first_apply_names_the_cluster_once():
    out = lines(None, state())
    assert out[0] == "+ cluster lb-prod (HA pair: lb1 with priority 150, peer 192.168.10.12, VRRP router 51)"
    assert not [line for line in out if line.startswith("~ cluster ")]
    single = desired_state(load_spec(mutate({"/cluster/ha": {"mode": "single"}, "/cluster/nodes/1": DELETE})), "lb1")
    assert lines(None, single)[0] == "+ cluster lb-prod (single appliance lb1)"
