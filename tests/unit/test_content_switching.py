"""Content switching: sub services (the LoadMaster's SubVSs) chosen by content rules.

A layer-7 http service lists its real servers in sub services, each with its own scheduling,
persistence and checks; HAProxy runs a frontend whose content rules (one ACL each) choose the
backend of the first sub service whose rules match, the one without rules taking the rest.
The molecule scenario l7_snat sends real requests through such a service.
"""

import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine import linux as engine
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import NotFound
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._monitor import overview
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.diff import diff
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.state import desired_state
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import haproxy
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner import real_server
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import check_spec, load_spec
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._verify.targets import targets
from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.status import status_text

from .specs import DELETE, mutate
from . import test_appliance_module as appliance_tests
from .test_appliance_module import converge
from .test_runtime import FakeModule

SHOP = "/virtual_services/2"
root = appliance_tests.root

API = {"name": "api", "content_rules": [{"path": "/api/"}, {"header": "X-Api", "value": "2"}], "scheduling": "least_connection",
       "persistence": {"mode": "active_cookie", "cookie": "API"}, "health_check": {"type": "http", "url": "/api/health"},
       "real_servers": [{"name": "api1", "address": "10.0.1.21", "port": 8080}, {"name": "web1", "address": "10.0.1.31", "port": 8443}]}
STATIC = {"name": "static", "content_rules": [{"host": "static.example.com"}], "real_servers": [{"name": "web2", "address": "10.0.1.32", "port": 80}]}
WWW = {"name": "www", "real_servers": [{"name": "web1", "address": "10.0.1.31", "port": 8443}, {"name": "web2", "address": "10.0.1.32", "port": 80}]}


def switched(subs=None, **more):
    """The test spec with shop (TLS, 192.0.2.12:443) switching its requests over sub services."""
    ops = {SHOP + "/real_servers": DELETE, SHOP + "/persistence": DELETE, SHOP + "/sub_services": subs if subs is not None else [API, STATIC, WWW]}
    ops.update(more)
    return mutate(ops)


def errors(data):
    spec, found = check_spec(data)
    assert spec is None, "the spec was accepted"
    return dict((e.path, str(e)) for e in found)


def backend(cfg, name):
    return cfg[cfg.index("\nbackend %s\n" % name) + 1:].split("\n\n")[0]


# --- the model and its rules -------------------------------------------------------------------


def test_each_sub_service_is_a_group_of_the_service_with_its_own_settings():
    vs = load_spec(switched()).service("shop")
    assert [s.name for s in vs.sub_services] == ["api", "static", "www"]
    api, static, www = vs.groups()
    assert (api.name, api.path, api.scheduling, api.persistence.mode, api.health_check.url) == (
        "shop:api", SHOP + "/sub_services/0", "least_connection", "active_cookie", "/api/health")
    assert (www.scheduling, www.persistence.mode, www.address, www.port, www.layer7) == ("weighted_round_robin", "none", vs.address, 443, vs.layer7)
    # every real server the service sends requests to, each once, in the order the spec lists them
    assert [(rs.name, rs.port) for rs in vs.real_servers] == [("api1", 8080), ("web1", 8443), ("web2", 80)]
    path, header = vs.sub_services[0].content_rules
    assert (path.subject, path.value, path.match, path.ignore_case, path.negate) == ("path", "/api/", "prefix", False, False)
    assert (header.subject, header.header, header.value, header.match) == ("header", "X-Api", "2", "exact")
    host = vs.sub_services[1].content_rules[0]
    assert (host.match, host.ignore_case) == ("exact", True)


@pytest.mark.parametrize("rules, path, message", [
    ([{"path": "/a", "host": "b"}], "/content_rules/0/host", "compares one thing, and this one also names path"),
    ([{"match": "prefix"}], "/content_rules/0", "needs what it compares: path, host or header"),
    ([{"header": "X-A"}], "/content_rules/0/value", "is required with header"),
    ([{"path": "/a", "value": "b"}], "/content_rules/0/value", "is only used with header"),
    ([{"path": "(", "match": "regex"}], "/content_rules/0/path", "is not a regular expression"),
    ([{"host": "a b"}], "/content_rules/0/host", "is not in the expected form"),
    ([{"header": "X A", "value": "b"}], "/content_rules/0/header", "is not in the expected form"),
    ([{"path": "/a", "match": "glob"}], "/content_rules/0/match", "'glob' is not a valid choice"),
    ([{"path": "/s?q=1"}], "/content_rules/0/path", "ends before the query string"),
    ([{"path": "\\u002e", "match": "regex"}], "/content_rules/0/path", "holds the escape \\u, which HAProxy's regular expressions (PCRE2)"),
])
def test_a_bad_content_rule_is_refused_at_its_path(rules, path, message):
    found = errors(switched([dict(API, content_rules=rules), WWW]))
    assert message in found[SHOP + "/sub_services/0" + path], found


@pytest.mark.parametrize("more, path, message", [
    ({SHOP + "/scheduling": "least_connection"}, SHOP + "/scheduling", "each sub service has its own scheduling"),
    ({SHOP + "/health_check": {"type": "tcp"}}, SHOP + "/health_check", "each sub service has its own health check"),
    ({SHOP + "/real_servers": []}, SHOP + "/real_servers", "each sub service has its own real servers"),
    ({SHOP + "/slow_start": "1m"}, SHOP + "/slow_start", "each sub service has its own slow start"),
    ({SHOP + "/layer7/mode": "tcp", SHOP + "/layer7/tls": DELETE}, SHOP + "/sub_services", "this service proxies in tcp mode"),
    ({SHOP + "/layer": 4, SHOP + "/layer7": DELETE}, SHOP + "/sub_services", "this service is layer 4"),
    ({SHOP + "/adaptive": {"port": 3333}}, SHOP + "/adaptive", "no sub service of this one schedules so"),
])
def test_what_belongs_to_the_sub_services_is_refused_on_the_service(more, path, message):
    found = errors(switched(**more))
    assert message in found[path], found


def test_one_sub_service_at_most_takes_the_rest_and_names_are_unique():
    found = errors(switched([API, WWW, dict(WWW, name="rest"), dict(STATIC, name="api")]))
    assert "as sub service 'www' (%s/sub_services/1) already does" % SHOP in found[SHOP + "/sub_services/2"]
    assert "name 'api' is already used at %s/sub_services/0" % SHOP in found[SHOP + "/sub_services/3/name"]


def test_each_sub_service_is_checked_as_a_service_at_its_own_paths():
    bad_rs = dict(WWW, real_servers=[{"name": "a", "address": "10.0.1.31"}, {"name": "a", "address": "10.0.1.32"}])
    found = errors(switched([dict(API, persistence={"mode": "source_ip", "cookie": "X"}, health_check={"type": "http", "timeout": 20}), bad_rs]))
    assert "is not used by persistence 'source_ip'" in found[SHOP + "/sub_services/0/persistence/cookie"]
    assert "is not shorter than" in found[SHOP + "/sub_services/0/health_check/timeout"]
    assert "name 'a' is already used" in found[SHOP + "/sub_services/1/real_servers/1/name"]
    # HAProxy's own limits, per group
    heavy = dict(WWW, scheduling="source_ip_hash", slow_start="1m", health_check={"interval": 2, "timeout": 1},
                 real_servers=[{"address": "10.0.1.31", "weight": 300}])
    found = errors(switched([API, heavy]))
    assert "takes weights up to 256" in found[SHOP + "/sub_services/1/real_servers/0/weight"]
    assert "ramps the weights of dynamic scheduling methods only" in found[SHOP + "/sub_services/1/slow_start"]


def test_a_service_without_real_servers_or_sub_services_says_what_is_missing():
    found = errors(mutate({SHOP + "/real_servers": DELETE}))
    assert "is required but missing" in found[SHOP + "/real_servers"] and "or sub_services" in found[SHOP + "/real_servers"]


def test_a_backend_named_like_another_service_is_refused():
    data = switched()
    data["virtual_services"].append({"name": "shop:www", "address": "192.0.2.14", "port": 80, "real_servers": [{"address": "10.0.1.41"}]})
    found = errors(data)
    assert "would share HAProxy's proxy name 'vs_shop:www' with virtual service 'shop:www'" in found[SHOP + "/sub_services/2/name"]


def test_a_loadmaster_refuses_sub_services_with_the_reason():
    found = errors(switched(**{"/cluster/engine": "loadmaster", "/virtual_services/0/forwarding": "nat", "/virtual_services/0/real_servers/0/port": 80,
                               "/cluster/ha": {"mode": "single"}, "/cluster/nodes": [{"host": "lm1"}], "/cluster/floating_ips": []}))
    message = found[SHOP + "/sub_services"]
    assert "documents how to create SubVSs and content rules, but no parameter that turns a service's content switching on" in message
    assert "a Linux appliance (HAProxy)" in message


# --- haproxy.cfg -------------------------------------------------------------------------------


def test_the_frontend_sends_each_request_to_the_first_sub_service_whose_rules_match():
    cfg = haproxy.render(load_spec(switched())).content
    front = cfg[cfg.index("frontend vs_shop\n"):].split("\n\n")[0]
    assert "\n    acl lbkit_rule_0_0 path -m beg /api/\n    acl lbkit_rule_0_1 req.fhdr(X-Api) -m str 2\n" in front
    # a host name: the Host header with or without its port, whatever the case
    assert "\n    acl lbkit_rule_1_0 req.hdr(host) -i -m reg ^static\\\\.example\\\\.com(:[0-9]+)?$\n" in front
    uses = [line.strip() for line in front.splitlines() if "_backend" in line]
    assert uses == ["use_backend vs_shop:api if lbkit_rule_0_0 || lbkit_rule_0_1", "use_backend vs_shop:static if lbkit_rule_1_0",
                    "default_backend vs_shop:www"]
    # TLS and the forwarded headers stay the service's: on the frontend
    assert "ssl crt /etc/lbkit/tls/shop.pem" in front and "X-Forwarded-Proto https" in front and "listen vs_shop" not in cfg
    api = backend(cfg, "vs_shop:api")
    assert "balance leastconn" in api and "cookie API insert" in api and "uri /api/health" in api
    assert "server api1 10.0.1.21:8080 weight 1 cookie api1 check" in api and "server web1 10.0.1.31:8443 weight 1 cookie web1 check" in api
    www = backend(cfg, "vs_shop:www")
    assert "balance roundrobin" in www and "cookie" not in www and "server web2 10.0.1.32:80 weight 100 check" in www


@pytest.mark.parametrize("rule, line", [
    ({"path": "/img", "match": "exact", "ignore_case": True}, "path -i -m str /img"),
    ({"path": ".jpg", "match": "suffix"}, "path -m end .jpg"),
    ({"path": "^/v[0-9]+/", "match": "regex"}, "path -m reg ^/v[0-9]+/"),
    ({"path": "/old", "negate": True}, "path -m beg /old"),
    ({"header": "User-Agent", "value": "curl/", "match": "prefix"}, "req.fhdr(User-Agent) -m beg curl/"),
    ({"header": "X-Mode", "value": "-debug"}, "req.fhdr(X-Mode) -m str -- -debug"),
    ({"header": "X-Tag", "value": "a#b'c\"d\\e"}, "req.fhdr(X-Tag) -m str a\\#b\\'c\\\"d\\\\e"),
    ({"header": "Accept", "value": "text/html,application/xhtml+xml", "match": "prefix"}, "req.fhdr(Accept) -m beg text/html,application/xhtml+xml"),
    ({"host": "www.", "match": "prefix"}, "req.hdr(host) -i -m reg ^www\\\\."),
    ({"host": "example.com", "match": "suffix"}, "req.hdr(host) -i -m reg example\\\\.com(:[0-9]+)?$"),
    ({"host": "^(a|b)\\.example$", "match": "regex"}, "req.hdr(host) -i -m reg ^(a|b)\\\\.example$"),
])
def test_each_kind_of_rule_is_one_acl(rule, line):
    cfg = haproxy.render(load_spec(switched([dict(API, content_rules=[rule]), WWW]))).content
    assert "\n    acl lbkit_rule_0_0 %s\n" % line in cfg
    negated = "!" if rule.get("negate") else ""
    assert "\n    use_backend vs_shop:api if %slbkit_rule_0_0\n" % negated in cfg


def test_without_a_default_sub_service_a_request_no_rule_matches_has_no_backend():
    cfg = haproxy.render(load_spec(switched([API]))).content
    front = cfg[cfg.index("frontend vs_shop\n"):].split("\n\n")[0]
    assert "default_backend" not in front and "use_backend vs_shop:api if" in front


def test_a_transparent_service_gives_each_sub_service_a_backend_for_the_local_clients():
    spec = load_spec(switched(**{SHOP + "/layer7": {"transparent": True}}))
    cfg = haproxy.render(spec).content
    front = cfg[cfg.index("frontend vs_shop\n"):].split("\n\n")[0]
    uses = [line.strip() for line in front.splitlines() if "_backend" in line]
    assert uses == [
        "use_backend lbkit_local_shop:api if { src 10.0.1.0/24 } lbkit_rule_0_0 || { src 10.0.1.0/24 } lbkit_rule_0_1",
        "use_backend vs_shop:api if lbkit_rule_0_0 || lbkit_rule_0_1",
        "use_backend lbkit_local_shop:static if { src 10.0.1.0/24 } lbkit_rule_1_0",
        "use_backend vs_shop:static if lbkit_rule_1_0",
        "use_backend lbkit_local_shop:www if { src 10.0.1.0/24 }",
        "default_backend vs_shop:www",
    ]
    assert "server api1 10.0.1.21:8080 weight 1 cookie api1 track vs_shop:api/api1" in backend(cfg, "lbkit_local_shop:api")
    assert "usesrc clientip" in backend(cfg, "vs_shop:www")
    assert haproxy.server_proxies(spec.service("shop").groups()[0]) == ["vs_shop:api"]


# --- state, plan and runtime -------------------------------------------------------------------


def test_the_state_keeps_the_real_servers_in_their_sub_services_and_the_plan_names_them():
    state = desired_state(load_spec(switched()), "lb1")
    shop = state["virtual_services"]["tcp/192.0.2.12/443"]
    assert shop["real_servers"] == {} and sorted(shop["sub_services"]) == ["api", "static", "www"]
    assert shop["sub_services"]["api"]["content_rules"] == [{"path": "/api/", "match": "prefix"}, {"header": "X-Api", "value": "2", "match": "exact"}]
    assert sorted(shop["sub_services"]["www"]["real_servers"]) == ["10.0.1.31:8443", "10.0.1.32:80"]
    lines = [c.line() for c in diff(desired_state(load_spec(mutate({})), "lb1"), state)]
    assert "+ sub service shop:api" in lines and "+ real server api1 10.0.1.21:8080 in shop:api" in lines
    assert "- real server 10.0.1.31:8443 10.0.1.31:8443 in shop" in lines
    changed = switched([dict(API, content_rules=[{"path": "/v2/api/"}], real_servers=API["real_servers"][:1]),
                        dict(WWW, real_servers=[dict(WWW["real_servers"][0], weight=50)] + WWW["real_servers"][1:])])
    lines = [c.line() for c in diff(state, desired_state(load_spec(changed), "lb1"))]
    assert lines == [
        "- sub service shop:static",
        "~ sub service shop:api: content_rules [{match: prefix, path: /api/}, {header: X-Api, match: exact, value: 2}] -> [{match: prefix, path: /v2/api/}]",
        "- real server web1 10.0.1.31:8443 in shop:api",
        "~ sub service shop:www: position 2 -> 1",
        "~ real server web1 10.0.1.31:8443 in shop:www: weight 100 -> 50",
    ]
    assert diff(state, desired_state(load_spec(switched()), "lb1")) == []


def test_a_runtime_state_is_set_in_the_sub_services_backend(root, monkeypatch):
    host, first = converge(switched(), root)
    assert first["changed"] and "frontend vs_shop" in appliance_tests.read(root, engine.HAPROXY_CFG)
    drained = dict(WWW, real_servers=[dict(WWW["real_servers"][0], state="drained")] + WWW["real_servers"][1:])
    servers = {("vs_shop:api", "api1"): "enabled", ("vs_shop:api", "web1"): "enabled", ("vs_shop:static", "web2"): "enabled",
               ("vs_shop:www", "web1"): "enabled", ("vs_shop:www", "web2"): "enabled"}
    again = appliance_tests.FakeHost(switched([API, STATIC, drained]), check_mode=True)
    again.active = set(host.active)
    again, predicted = converge(again.params["spec"], root, host=again, servers=servers)
    assert "~ runtime web1 10.0.1.31:8443 in shop:www: state enabled -> drained" in predicted["summary"]
    assert "set HAProxy server vs_shop:www/web1 drained" in predicted["operations"]
    assert "set HAProxy server vs_shop:api/web1 drained" not in predicted["operations"]


class Groups(object):
    """The runtime half of an engine over several groups: {(group, server): state}."""

    def __init__(self, states):
        self.states = dict(states)
        self.calls = []

    def server_state(self, vs, rs):
        return self.states[(vs.name, rs.name)], 1

    def set_server_state(self, vs, rs, state, current):
        self.calls.append((vs.name, rs.name, state, current))
        self.states[(vs.name, rs.name)] = state


def test_real_server_acts_on_one_sub_service_or_on_each_that_holds_the_server():
    states = {("shop:api", "web1"): "enabled", ("shop:www", "web1"): "drained", ("shop:api", "api1"): "enabled"}
    engine_ = Groups(states)
    result = real_server.run(FakeModule(dict(spec=switched(), service="shop:api", real_server="web1", state="halted")), engine_)
    assert engine_.calls == [("shop:api", "web1", "halted", "enabled")] and result["sub_services"] == ["shop:api"]
    engine_ = Groups(states)
    result = real_server.run(FakeModule(dict(spec=switched(), service="shop", real_server="10.0.1.31:8443", state="drained")), engine_)
    assert result["before"] == "enabled in shop:api, drained in shop:www" and result["changed"]
    assert engine_.calls == [("shop:api", "web1", "drained", "enabled")] and result["connections"] == 2
    assert result["sub_services"] == ["shop:api", "shop:www"]
    with pytest.raises(NotFound) as info:
        real_server.run(FakeModule(dict(spec=switched(), service="shop:nope", real_server="web1", state="drained")), Groups(states))
    assert "virtual service 'shop' has no sub service 'nope' (sub services: api, static, www)" in str(info.value)
    with pytest.raises(NotFound) as info:
        real_server.run(FakeModule(dict(spec=switched(), service="shop:static", real_server="api1", state="drained")), Groups(states))
    assert "sub service 'shop:static' has no real server 'api1' (real servers: web2)" in str(info.value)


# --- what reads the appliance back -------------------------------------------------------------


def test_the_overview_and_the_metrics_read_each_sub_services_backend():
    state = desired_state(load_spec(switched()), "lb1")
    stat = {("vs_shop:api", "api1"): {"status": "UP", "weight": 1, "current_sessions": 2}, ("vs_shop:api", "web1"): {"status": "DOWN", "weight": 1},
            ("vs_shop:static", "web2"): {"status": "UP", "weight": 100}, ("vs_shop:www", "web1"): {"status": "DRAIN", "weight": 0},
            ("vs_shop:www", "web2"): {"status": "UP", "weight": 100}}
    shop = next(s for s in overview.overview(state, {}, stat, {}) if s["name"] == "shop")
    rows = [(rs.get("sub_service"), rs["name"], rs["status"]) for rs in shop["real_servers"]]
    assert rows == [("api", "api1", "up"), ("api", "web1", "down"), ("static", "web2", "up"), ("www", "web1", "drained"), ("www", "web2", "up")]
    assert shop["status"] == "degraded"
    text = overview.render(state, "master", set(), [shop], 1700000000.0)
    assert ('lbkit_real_server_status{cluster="lb-prod",host="lb1",service="shop",sub_service="www",real_server="web1",address="10.0.1.31",'
            'port="8443",layer="7",status="drained"} 1') in text
    report = dict(viewer="lb1", nodes=[], services=[shop], problems=[])
    assert "web1 (www)" in status_text("lb-prod", report)


def test_the_rules_route_a_request_as_haproxys_acls_do():
    vs = load_spec(switched([dict(API, content_rules=[{"path": "/api/"}, {"header": "X-Api", "value": "2", "match": "prefix"},
                                                      {"path": "/api/old", "negate": True}]),
                             dict(STATIC, content_rules=[{"host": "static.example.com"}, {"path": "\\.CSS$", "match": "regex", "ignore_case": True}]),
                             WWW])).service("shop")
    # any rule of a sub service; the first sub service in the spec's order
    assert vs.route("/api/old", "192.0.2.12") == 0 and vs.route("/x", "a", {"x-api": "21"}) == 0
    assert vs.route("/api/old", "static.example.com") == 0  # /api/ matches it first
    assert vs.route("/x.css", "a") == 0  # '/api/old' negated: any path but it is api's
    only = load_spec(switched([dict(STATIC, content_rules=[{"host": "static.example.com"}, {"path": "\\.CSS$", "match": "regex", "ignore_case": True}]),
                               WWW])).service("shop")
    assert only.route("/", "STATIC.example.com:82") == 0 and only.route("/a/b.css", "x") == 0
    assert only.route("/", "static.example.com.evil") == 1 and only.route("/", "www") == 1
    assert load_spec(switched([API])).service("shop").route("/", "x") is None


def test_verification_sends_each_sub_service_a_request_its_rules_route_to_it():
    subs = [API, STATIC, dict(WWW, name="legacy", content_rules=[{"path": "/api/v1/"}]), WWW,
            dict(WWW, name="beta", content_rules=[{"header": "X-Beta", "value": "1"}])]
    found = dict((t.service, t) for t in targets(switched(subs), ["shop"]))
    assert sorted(found) == ["shop:api", "shop:beta", "shop:legacy", "shop:static", "shop:www"]
    assert (found["shop:api"].path, found["shop:api"].host_header) == ("/api/", None) and found["shop:api"].requests > 0
    assert (found["shop:static"].path, found["shop:static"].host_header) == ("/", "static.example.com")
    assert (found["shop:www"].path, found["shop:www"].requests > 0, found["shop:www"].expected) == ("/", True, ("web1", "web2"))
    # /api/v1/ is api's (an earlier sub service), and a header is no plain request: left to the health checks
    for name in ("shop:legacy", "shop:beta"):
        assert found[name].requests == 0 and "not probed" in found[name].note, name


def test_a_real_servers_name_names_one_address_across_the_sub_services():
    other = dict(STATIC, real_servers=[{"name": "api1", "address": "10.0.1.99", "port": 80}])
    found = errors(switched([API, other, WWW]))
    assert "'api1' is also 10.0.1.21 port 8080 at %s/sub_services/0/real_servers/0" % SHOP in found[SHOP + "/sub_services/1/real_servers/0/name"]


def test_the_adaptive_settings_of_a_sub_service_are_its_services():
    found = errors(switched([dict(API, scheduling="adaptive"), WWW], **{SHOP + "/adaptive": {"interval": "2h"}}))
    assert list(found) == [SHOP + "/adaptive/interval"] and "outside 1s to 1h" in found[SHOP + "/adaptive/interval"]


def test_a_sub_services_external_check_and_its_timing_reach_the_global_settings():
    from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import keepalived

    slow = {"type": "external", "command": "/usr/local/bin/check", "interval": 60, "retries": 5, "timeout": 10}
    spec = load_spec(switched([API, dict(WWW, health_check=slow)]))
    cfg = haproxy.render(spec).content
    assert "    external-check\n    insecure-fork-wanted\n" in cfg and "chroot" not in cfg
    # a returning master waits for the slowest check of any group: 60 s x 5 + 10 s
    assert keepalived.preempt_delay(spec) == 310


def test_the_order_of_the_sub_services_is_part_of_the_plan():
    before = desired_state(load_spec(switched([API, STATIC, WWW])), "lb1")
    after = desired_state(load_spec(switched([STATIC, API, WWW])), "lb1")
    assert [c.line() for c in diff(before, after)] == ["~ sub service shop:api: position 0 -> 1", "~ sub service shop:static: position 1 -> 0"]


def test_verification_routes_with_the_host_header_it_sends_and_takes_sub_service_names():
    # the default sub service's check names a host a rule before it takes: plain requests would go there
    subs = [dict(STATIC, content_rules=[{"host": "example.com", "match": "suffix"}]), dict(WWW, health_check={"type": "http", "host": "www.example.com"})]
    found = dict((t.service, t) for t in targets(switched(subs)) if t.service.startswith("shop"))
    assert found["shop:www"].requests == 0 and "not probed" in found["shop:www"].note
    assert [t.service for t in targets(switched(), ["shop:static"])] == ["shop:static"]
    with pytest.raises(NotFound) as info:
        targets(switched(), ["shop:nope"])
    assert "shop:api, shop:static, shop:www" in str(info.value)
