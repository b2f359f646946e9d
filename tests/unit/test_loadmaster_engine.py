"""The LoadMaster engine's pure half: the refusals, the parameters, the state document and the plan.

The appliance side here is the engine's own listing entries, typed the way the API documents
them (strings, Y/N); the simulator tier (test_loadmaster_scenarios.py) drives the real backend.
"""

import copy

import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine import loadmaster as lm
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import SpecInvalid
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import check_spec, load_spec

PEM = {"certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----"}

SPEC = {
    "cluster": {
        "name": "lm",
        "engine": "loadmaster",
        "nodes": [{"host": "lm1", "priority": 150}, {"host": "lm2", "priority": 100}],
        "ha": {"mode": "pair", "virtual_router_id": 12, "advert_interval_ms": 2000, "preempt": True},
        "interfaces": {"external": "eth0", "internal": "eth1"},
        "floating_ips": [{"address": "192.0.2.5/24", "side": "external"}, {"address": "10.0.1.1/24", "side": "internal", "gateway": True}],
    },
    "virtual_services": [
        {
            "name": "web",
            "address": "192.0.2.10",
            "port": 80,
            "layer": 4,
            "forwarding": "dr",
            "persistence": {"mode": "source_ip", "timeout": "10m"},
            "real_servers": [{"name": "web1", "address": "192.0.2.21"}, {"name": "web2", "address": "192.0.2.22", "state": "drained"}],
        },
        {
            "name": "shop",
            "address": "192.0.2.11",
            "port": 443,
            "extra_ports": "8443-8444",
            "persistence": {"mode": "active_cookie", "cookie": "SHOP", "timeout": "30m"},
            "health_check": {"type": "http", "url": "/health", "host": "shop.example.com", "expected_codes": "200-299 301"},
            "layer7": {"tls": {"certificate": "files/shop.pem", "key": "files/shop.key"}},
            "real_servers": [{"name": "app1", "address": "10.0.1.31", "port": 8080, "weight": 200, "max_connections": 500}],
        },
    ],
}
HA = {"hamode": 1, "havhid": 12, "haprefered": 1, "hatimeout": 2, "hal4update": "no"}
IFACES = {0: ("192.0.2.2/24", "192.0.2.5"), 1: ("10.0.1.2/24", "10.0.1.1")}


def _current(services=None, foreign=None, certificates=(), ha=None, version="7.2.60.0.22386", interfaces=None):
    return lm.Current(version=version, services=services or {}, foreign=foreign or {}, certificates=tuple(certificates),
                      ha=dict(HA if ha is None else ha), interfaces=dict(IFACES if interfaces is None else interfaces))


def _desired(data=None, current=None, tls=True):
    spec = load_spec(copy.deepcopy(data or SPEC))
    return lm.desired(spec, "lm", current or _current(), {"shop": PEM, "shop2": PEM} if tls else None)


def _as_appliance(entry):
    """A listing entry as the appliance answers it: Y/N for booleans, numbers as strings, indexes, status."""
    def typed(value):
        if isinstance(value, bool):
            return "Y" if value else "N"
        return str(value)

    out = dict((k, typed(v)) for k, v in entry.items() if k != "Rs")
    out["Index"] = "7"
    out["Status"] = "Up"
    out["Rs"] = [dict(((k, typed(v)) for k, v in rs.items()), RsIndex=str(n), Status="Up") for n, rs in enumerate(entry["Rs"], 1)]
    return out


def _converged(desired):
    return _current(services=dict((k, _as_appliance(e)) for k, e in desired.services.items()), certificates=desired.certificates)


def _ops(plan):
    return [op.describe() for op in plan.operations]


def _errors(data):
    dummy, errors = check_spec(data)
    return dict((e.path, str(e)) for e in errors)


def _mutated(**changes):
    data = copy.deepcopy(SPEC)
    for pointer, value in changes.items():
        node = data
        parts = pointer.split("__")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(parts[-1]) if parts[-1].isdigit() else parts[-1]] = value
    return data


# --- the refusals -----------------------------------------------------------------------------------


def test_the_spec_is_valid_for_a_loadmaster():
    assert _errors(SPEC) == {}


@pytest.mark.parametrize(
    "pointer, value, path, words",
    [
        ("virtual_services__0__name", "web:80", "/virtual_services/0/name", "letters, digits and . @ - _"),
        ("virtual_services__0__persistence", {"mode": "source_ip", "timeout": "90s"}, "/virtual_services/0/persistence/timeout", "whole minutes"),
        ("virtual_services__0__persistence", {"mode": "source_ip", "granularity": "/24"}, "/virtual_services/0/persistence/granularity",
         "no per-service granularity"),
        ("virtual_services__1__health_check", {"type": "http", "expected_codes": "200"}, "/virtual_services/1/health_check/expected_codes",
         "every 2xx"),
        ("virtual_services__1__health_check", {"type": "http", "url": "/" + "x" * 130}, "/virtual_services/1/health_check/url", "126"),
        ("virtual_services__1__health_check", {"type": "tcp", "port": 65535}, "/virtual_services/1/health_check/port", "3 to 65530"),
        ("virtual_services__1__extra_ports", "65533", "/virtual_services/1/extra_ports", "3 to 65530"),
        ("virtual_services__1__layer7", {"transparent": True, "tls": {"certificate": "a.pem", "key": "a.key", "reencrypt": True}},
         "/virtual_services/1/layer7/transparent", "re-encrypts"),
        ("virtual_services__1__real_servers__0__min_connections", 10, "/virtual_services/1/real_servers/0/min_connections", "lower connection"),
        ("virtual_services__0__forwarding", "tun", "/virtual_services/0/forwarding", "not IP-in-IP"),
        ("cluster__ha__unicast", True, "/cluster/ha/unicast", "heartbeat of its own"),
        ("cluster__ha__auth_secret", "s3cret", "/cluster/ha/auth_secret", "heartbeat of its own"),
        ("cluster__interfaces__internal", "bond0", "/cluster/interfaces/internal", "eth0, eth1"),
    ],
)
def test_what_a_loadmaster_cannot_take_is_refused_at_its_field(pointer, value, path, words):
    errors = _errors(_mutated(**{pointer: value}))
    assert path in errors, errors
    assert words in errors[path]


def test_a_second_floating_ip_on_one_side_is_refused():
    data = copy.deepcopy(SPEC)
    data["cluster"]["floating_ips"].append({"address": "10.0.1.9/24", "side": "internal"})
    errors = _errors(data)
    assert "one shared address per interface" in errors["/cluster/floating_ips/2/address"]


def test_the_same_words_pass_on_a_linux_cluster():
    data = _mutated(virtual_services__0__persistence={"mode": "source_ip", "timeout": "90s"}, virtual_services__0__forwarding="tun")
    data["cluster"]["engine"] = "linux"
    data["cluster"]["nodes"] = [dict(n, heartbeat_address="192.168.10.1%d" % i) for i, n in enumerate(data["cluster"]["nodes"])]
    data["cluster"]["floating_ips"] = [{"address": "10.0.1.1/24", "side": "internal", "gateway": True}]
    data["virtual_services"] = data["virtual_services"][:1]
    assert _errors(data) == {}


# --- values ----------------------------------------------------------------------------------------


def test_ports_and_ranges_round_trip():
    assert lm._ranges([8080, 8081, 9000, 8082]) == "8080-8082,9000"
    assert lm._ports("8080-8082,9000") == [8080, 8081, 8082, 9000]
    assert lm._ports("80 8000-8001, 9002") == [80, 8000, 8001, 9002]
    assert lm._ports("") == []


def test_expected_codes_travel_as_the_codes_beyond_2xx():
    assert lm._extra_codes([[200, 299], [301, 302]]) == "301 302"
    assert lm._codes("301 302") == [[200, 299], [301, 302]]
    assert lm._codes("") == [[200, 299]]


@pytest.mark.parametrize("interval_ms, index", [(100, 1), (1000, 1), (1001, 2), (2000, 2), (3000, 3), (5000, 5), (30000, 5)])
def test_ha_timeout_is_the_first_switchover_of_at_least_three_adverts(interval_ms, index):
    assert lm.ha_timeout(interval_ms) == index


def test_the_certificate_name_follows_its_content():
    one = lm.certificate_name("shop-eu", "PEM one")
    assert one.startswith("lbkitshopeu") and one.isalnum()
    assert lm.certificate_name("shop-eu", "PEM one") == one
    assert lm.certificate_name("shop-eu", "PEM two") != one


def test_the_parameters_of_a_service():
    wanted = _desired()
    web = wanted.services["tcp/192.0.2.10/80"]
    assert (web["NickName"], web["ForceL7"], web["Schedule"], web["Persist"], web["PersistTimeout"]) == ("lbkit-web", False, "wrr", "src", 600)
    assert [(rs["Addr"], rs["Forward"], rs["Enable"]) for rs in web["Rs"]] == [("192.0.2.21", "route", True), ("192.0.2.22", "route", False)]
    shop = wanted.services["tcp/192.0.2.11/443"]
    assert (shop["ForceL7"], shop["VStype"], shop["Persist"], shop["Cookie"], shop["PersistTimeout"]) == (True, "http", "active-cookie", "SHOP", 1800)
    assert (shop["CheckUrl"], shop["CheckHost"], shop["CheckUse1.1"], shop["CheckCodes"]) == ("/health", "shop.example.com", True, "301")
    assert shop["ExtraPorts"] == "8443-8444"
    assert shop["SSLAcceleration"] is True and shop["CertFile"].startswith("lbkitshop")
    assert shop["Rs"][0]["Weight"] == 200 and shop["Rs"][0]["Limit"] == 500 and shop["Rs"][0]["Forward"] == "nat"


def test_both_sides_read_into_the_same_document():
    wanted = _desired()
    for key, entry in wanted.services.items():
        assert lm.service_doc(_as_appliance(entry)) == lm.service_doc(entry) == (key, wanted.state["virtual_services"][key])


def test_field_names_are_read_whatever_their_case():
    entry = _as_appliance(_desired().services["tcp/192.0.2.10/80"])
    lower = dict((k.lower(), v) for k, v in entry.items())
    assert lm.service_doc(lower) == lm.service_doc(entry)


# --- desired: what the appliance must be before lbkit writes --------------------------------------


def test_old_firmware_is_refused_with_the_version():
    with pytest.raises(SpecInvalid) as info:
        _desired(current=_current(version="7.2.48.3"))
    assert "firmware 7.2.48.3" in str(info.value) and "/cluster/engine" in str(info.value)


def test_a_service_held_by_another_owner_is_refused_with_the_adoption():
    with pytest.raises(SpecInvalid) as info:
        _desired(current=_current(foreign={"tcp/192.0.2.10/80": "intranet"}))
    text = str(info.value)
    assert "/virtual_services/0/address" in text and "'intranet'" in text and "set its nickname to lbkit-web" in text


@pytest.mark.parametrize("hamode, mode, words", [(0, "pair", "is not in an HA pair"), (1, "single", "one unit of an HA pair")])
def test_the_ha_mode_must_be_the_appliance_s(hamode, mode, words):
    data = copy.deepcopy(SPEC)
    data["cluster"]["ha"] = {"mode": mode} if mode == "single" else data["cluster"]["ha"]
    if mode == "single":
        data["cluster"]["nodes"] = data["cluster"]["nodes"][:1]
        data["cluster"]["floating_ips"] = []
    with pytest.raises(SpecInvalid) as info:
        _desired(data, current=_current(ha=dict(HA, hamode=hamode)))
    assert "/cluster/ha/mode" in str(info.value) and words in str(info.value)


def test_floating_ips_must_be_the_pair_s_shared_addresses():
    with pytest.raises(SpecInvalid) as info:
        _desired(current=_current(interfaces={0: ("192.0.2.2/24", "192.0.2.5"), 1: ("10.0.1.2/24", "10.0.1.254")}))
    text = str(info.value)
    assert "/cluster/floating_ips/1/address" in text and "10.0.1.254, not 10.0.1.1" in text
    assert "/cluster/floating_ips/0" not in text


def test_a_single_unit_s_floating_ip_is_its_own_address():
    data = copy.deepcopy(SPEC)
    data["cluster"]["ha"] = {"mode": "single"}
    data["cluster"]["nodes"] = data["cluster"]["nodes"][:1]
    data["cluster"]["floating_ips"] = [{"address": "10.0.1.2/24", "side": "internal", "gateway": True}]
    _desired(data, current=_current(ha={"hamode": 0}))


def test_tls_material_must_be_given():
    with pytest.raises(SpecInvalid) as info:
        _desired(tls=False)
    assert "/virtual_services/1/layer7/tls" in str(info.value)


# --- the plan ------------------------------------------------------------------------------------


def test_an_empty_appliance_gets_everything_by_address_never_by_index():
    plan = lm.plan(_desired(), _current())
    ops = _ops(plan)
    assert ops[0].startswith("addcert certificate lbkitshop")
    assert ops[1:] == [
        "addvs virtual service tcp/192.0.2.10/80",
        "addrs real server 192.0.2.21:80 in tcp/192.0.2.10/80",
        "addrs real server 192.0.2.22:80 in tcp/192.0.2.10/80",
        "addvs virtual service tcp/192.0.2.11/443",
        "addrs real server 10.0.1.31:8080 in tcp/192.0.2.11/443",
    ]
    for op in plan.operations:
        assert not str(op.arguments().get("vs", "")).isdigit()
    assert [op.secret for op in plan.operations] == [True] + [False] * 5
    assert "+ virtual service web (192.0.2.10:80/tcp)" in plan.summary


def test_a_converged_appliance_gets_no_call():
    wanted = _desired()
    plan = lm.plan(wanted, _converged(wanted))
    assert not plan and _ops(plan) == [] and plan.summary == []


def test_one_weight_is_one_modrs_of_that_field():
    wanted = _desired()
    current = _converged(wanted)
    data = _mutated(virtual_services__1__real_servers__0__weight=50)
    plan = lm.plan(_desired(data), current)
    assert [(op.cmd, op.arguments()) for op in plan.operations] == [
        ("modrs", {"vs": "192.0.2.11", "port": "443", "prot": "tcp", "rs": "10.0.1.31", "rsport": 8080, "Weight": 50})]
    assert plan.summary == ["~ real server app1 10.0.1.31:8080 in shop: weight 200 -> 50"]


def test_persistence_fields_travel_together():
    wanted = _desired()
    data = _mutated(virtual_services__1__persistence={"mode": "active_cookie", "cookie": "SHOP", "timeout": "60m"})
    plan = lm.plan(_desired(data), _converged(wanted))
    (op,) = plan.operations
    assert op.cmd == "modvs"
    assert dict(op.params)["PersistTimeout"] == 3600
    assert set(["Persist", "PersistTimeout", "Cookie", "QueryTag"]) <= set(op.arguments())


def test_real_servers_are_added_before_any_is_removed_and_services_leave_first():
    wanted = _desired()
    data = copy.deepcopy(SPEC)
    data["virtual_services"][0]["real_servers"] = [{"name": "web3", "address": "192.0.2.23"}]
    data["virtual_services"][1] = dict(data["virtual_services"][1], name="shop2", address="192.0.2.12")
    plan = lm.plan(_desired(data), _converged(wanted))
    ops = _ops(plan)
    assert ops[0].startswith("addcert certificate lbkitshop2")
    assert ops[1] == "delvs virtual service tcp/192.0.2.11/443"
    assert ops.index("addrs real server 192.0.2.23:80 in tcp/192.0.2.10/80") < ops.index("delrs real server 192.0.2.21:80 in tcp/192.0.2.10/80")
    assert ops[-1].startswith("delcert certificate lbkitshop")


def test_a_new_certificate_is_added_assigned_and_the_old_deleted():
    wanted = _desired()
    current = _converged(wanted)
    spec = load_spec(copy.deepcopy(SPEC))
    rotated = lm.desired(spec, "lm", current, {"shop": dict(PEM, certificate=PEM["certificate"].replace("MIIB", "MIIC"))})
    plan = lm.plan(rotated, current)
    ops = [(op.cmd, op.arguments()) for op in plan.operations]
    (new,) = rotated.certificates
    (old,) = wanted.certificates
    assert [cmd for cmd, dummy in ops] == ["addcert", "modvs", "delcert"]
    assert ops[0][1]["cert"] == new and ops[1][1]["CertFile"] == new and ops[2][1]["cert"] == old


def test_ha_settings_are_set_when_they_differ():
    wanted = _desired()
    current = _converged(wanted)
    current = lm.Current(version=current.version, services=current.services, foreign={}, certificates=current.certificates,
                         ha=dict(HA, hatimeout=5, haprefered=0), interfaces=IFACES)
    plan = lm.plan(wanted, current)
    assert [(op.cmd, op.arguments()) for op in plan.operations] == [
        ("set", {"param": "haprefered", "value": 1}), ("set", {"param": "hatimeout", "value": 2})]
    assert any("preferred" in line for line in plan.summary) and any("switchover" in line for line in plan.summary)


def test_a_renamed_service_keeps_its_address_and_changes_its_nickname():
    wanted = _desired()
    data = _mutated(virtual_services__0__name="www")
    plan = lm.plan(_desired(data), _converged(wanted))
    assert [(op.cmd, op.arguments().get("NickName")) for op in plan.operations] == [("modvs", "lbkit-www")]


def test_firmware_without_per_service_check_timing_neither_sends_nor_compares_it():
    old = _current(version="7.2.54.1")
    wanted = _desired(current=old)
    assert not [name for entry in wanted.services.values() for name in entry if name.startswith("Chk")]
    answered = dict((k, dict(_as_appliance(e), ChkInterval="0", ChkTimeout="0", ChkRetryCount="0")) for k, e in wanted.services.items())
    current = lm.Current(version="7.2.54.1", services=answered, foreign={}, certificates=wanted.certificates, ha=HA, interfaces=IFACES)
    assert not lm.plan(wanted, current)
    data = _mutated(virtual_services__0__health_check={"type": "tcp", "interval": 5})
    with pytest.raises(SpecInvalid) as info:
        _desired(data, current=old)
    assert "/virtual_services/0/health_check/interval" in str(info.value) and "7.2.60" in str(info.value)


def test_a_value_in_another_notation_is_the_same_value():
    wanted = _desired()
    answered = {}
    for key, entry in wanted.services.items():
        entry = _as_appliance(entry)
        if entry.get("ExtraPorts"):
            entry["ExtraPorts"] = "8444 8443"
        entry["Enable"] = 1
        answered[key] = entry
    current = lm.Current(version="7.2.60.0", services=answered, foreign={}, certificates=wanted.certificates, ha=HA, interfaces=IFACES)
    plan = lm.plan(wanted, current)
    assert not plan and not plan.operations and plan.summary == []
