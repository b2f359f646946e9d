"""Every rule of the model: a passing and a failing case, with the path and the message."""

import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import SpecInvalid
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import check_spec, load_spec

from .specs import BASE, DELETE, Append, mutate

VS0 = "/virtual_services/0"
VS1 = "/virtual_services/1"
VS2 = "/virtual_services/2"

# id, mutation, expected path, fragment of the message (the rule must fire exactly there)
FAILING = [
    # forwarding and port translation
    ("dr-port-translation", {VS0 + "/real_servers/0/port": 8080}, VS0 + "/real_servers/0/port", "Direct Routing cannot translate ports"),
    (
        "tun-port-translation",
        {VS0 + "/forwarding": "tun", VS0 + "/real_servers/1/port": 81},
        VS0 + "/real_servers/1/port",
        "Tunnelling cannot translate ports",
    ),
    (
        "dr-fallback-port",
        {VS0 + "/fallback_server": {"address": "192.168.10.99", "port": 8080}},
        VS0 + "/fallback_server/port",
        "cannot translate ports",
    ),
    ("layer4-proxy", {VS0 + "/forwarding": "proxy"}, VS0 + "/forwarding", "layer-7 forwarding method"),
    ("layer7-dr", {VS2 + "/forwarding": "dr"}, VS2 + "/forwarding", "a layer-7 service is a proxy"),
    ("layer7-udp", {VS2 + "/protocol": "udp"}, VS2 + "/protocol", "layer 7 proxies TCP only"),
    ("layer7-options-on-layer4", {VS0 + "/layer7": {"mode": "http"}}, VS0 + "/layer7", "apply only to layer-7 services"),
    ("family-mismatch", {VS0 + "/real_servers/0/address": "2001:db8::21"}, VS0 + "/real_servers/0/address", "must be IPv4 like the VIP"),
    ("rs-is-vip", {VS0 + "/real_servers/0/address": "192.0.2.10"}, VS0 + "/real_servers/0/address", "is the VIP itself"),
    # duplicates
    (
        "duplicate-vs",
        {"/virtual_services/1/address": "192.0.2.10", "/virtual_services/1/port": 80},
        VS1 + "/port",
        "already served by virtual service 'web-dr'",
    ),
    ("duplicate-vs-name", {VS1 + "/name": "web-dr"}, VS1 + "/name", "name 'web-dr' is already used"),
    ("duplicate-rs", {VS0 + "/real_servers/1/address": "192.168.10.21"}, VS0 + "/real_servers/1", "listed twice"),
    (
        "duplicate-rs-default-port",
        {VS0 + "/real_servers/1/address": "192.168.10.21", VS0 + "/real_servers/1/port": DELETE},
        VS0 + "/real_servers/1",
        "listed twice",
    ),
    ("duplicate-rs-name", {VS0 + "/real_servers/1/name": "web1"}, VS0 + "/real_servers/1/name", "name 'web1' is already used"),
    # extra ports
    (
        "extra-ports-overlap",
        {VS1 + "/address": "192.0.2.10", VS1 + "/extra_ports": "81, 79-80"},
        VS1 + "/extra_ports",
        "already served by virtual service 'web-dr'",
    ),
    ("extra-ports-limit", {VS0 + "/extra_ports": "1000-1510"}, VS0 + "/extra_ports", "at most 510"),
    ("extra-ports-limit-many", {VS0 + "/extra_ports": "1000-1400 2000-2110"}, VS0 + "/extra_ports", "at most 510"),
    ("extra-ports-reencrypt", {VS2 + "/extra_ports": "8443", VS2 + "/layer7/tls/reencrypt": True}, VS2 + "/extra_ports", "TLS re-encryption"),
    ("extra-ports-garbage", {VS0 + "/extra_ports": "443 http"}, VS0 + "/extra_ports", "'http' is not a port"),
    ("extra-ports-backwards", {VS0 + "/extra_ports": "90-85"}, VS0 + "/extra_ports", "runs backwards"),
    # persistence
    ("cookie-needs-layer7", {VS0 + "/persistence": {"mode": "active_cookie"}}, VS0 + "/persistence/mode", "needs a layer-7 service in http mode"),
    ("cookie-needs-http-mode", {VS2 + "/layer7/mode": "tcp"}, VS2 + "/persistence/mode", "needs a layer-7 service in http mode"),
    ("header-needs-layer7", {VS0 + "/persistence": {"mode": "host_header"}}, VS0 + "/persistence/mode", "reads HTTP"),
    (
        "ssl-session-needs-tcp",
        {VS2 + "/persistence": {"mode": "ssl_session_id"}, VS2 + "/layer7/tls": DELETE},
        VS2 + "/persistence/mode",
        "needs a layer-7 service in tcp mode",
    ),
    (
        "ssl-session-no-termination",
        {VS2 + "/persistence": {"mode": "ssl_session_id"}, VS2 + "/layer7/mode": "tcp"},
        VS2 + "/persistence/mode",
        "terminates TLS",
    ),
    ("udp-sip-needs-udp", {VS0 + "/persistence": {"mode": "udp_sip"}}, VS0 + "/persistence/mode", "needs a layer-4 UDP service"),
    ("timeout-too-short", {VS0 + "/persistence": {"mode": "source_ip", "timeout": 59}}, VS0 + "/persistence/timeout", "1 minute to 28 days"),
    ("timeout-too-long", {VS0 + "/persistence": {"mode": "source_ip", "timeout": "29d"}}, VS0 + "/persistence/timeout", "29d is outside"),
    (
        "timeout-bad-unit",
        {VS0 + "/persistence": {"mode": "source_ip", "timeout": "5 weeks"}},
        VS0 + "/persistence/timeout",
        "not in the expected form",
    ),
    ("timeout-without-mode", {VS0 + "/persistence": {"timeout": 600}}, VS0 + "/persistence/timeout", "persistence mode is 'none'"),
    ("granularity-wrong-mode", {VS2 + "/persistence/granularity": "/24"}, VS2 + "/persistence/granularity", "source IP modes only"),
    (
        "granularity-bad-mask",
        {VS0 + "/persistence": {"mode": "source_ip", "granularity": "255.0.255.0"}},
        VS0 + "/persistence/granularity",
        "not a netmask",
    ),
    (
        "server-cookie-needs-name",
        {VS2 + "/persistence/mode": "server_cookie"},
        VS2 + "/persistence/cookie",
        "needs the name of the application's cookie",
    ),
    (
        "cookie-name-unused",
        {VS2 + "/persistence/mode": "url_hash", VS2 + "/persistence/cookie": "SID"},
        VS2 + "/persistence/cookie",
        "is not used by persistence 'url_hash'",
    ),
    ("selected-header-needs-name", {VS2 + "/persistence/mode": "selected_header"}, VS2 + "/persistence/header", "needs the header name"),
    ("header-unused", {VS2 + "/persistence/header": "X-Id"}, VS2 + "/persistence/header", "only used by persistence 'selected_header'"),
    ("query-item-needs-name", {VS2 + "/persistence/mode": "query_item"}, VS2 + "/persistence/query_item", "needs the query parameter name"),
    ("query-item-unused", {VS2 + "/persistence/query_item": "sid"}, VS2 + "/persistence/query_item", "only used by persistence 'query_item'"),
    # health checks
    (
        "hc-timeout-not-below-interval",
        {VS0 + "/health_check": {"interval": 5, "timeout": 5}},
        VS0 + "/health_check/timeout",
        "not shorter than the 5s interval",
    ),
    ("hc-interval-too-long", {VS0 + "/health_check": {"interval": "2h"}}, VS0 + "/health_check/interval", "outside 1s to 1h"),
    ("hc-external-needs-command", {VS0 + "/health_check": {"type": "external"}}, VS0 + "/health_check/command", "needs the command"),
    ("hc-command-unused", {VS0 + "/health_check": {"command": "/bin/true"}}, VS0 + "/health_check/command", "only used by external checks"),
    ("hc-url-on-tcp", {VS0 + "/health_check": {"type": "tcp", "url": "/x"}}, VS0 + "/health_check/url", "applies to http and https checks"),
    ("hc-none-with-options", {VS0 + "/health_check": {"type": "none", "interval": 5}}, VS0 + "/health_check/interval", "type is 'none'"),
    ("hc-icmp-port", {VS0 + "/health_check": {"type": "icmp", "port": 80}}, VS0 + "/health_check/port", "has no port"),
    (
        "hc-bad-codes",
        {VS0 + "/health_check": {"type": "http", "expected_codes": "200-299 700"}},
        VS0 + "/health_check/expected_codes",
        "outside 100-599",
    ),
    # layer 7
    (
        "xff-in-tcp-mode",
        {VS2 + "/persistence": {"mode": "source_ip"}, VS2 + "/layer7/mode": "tcp", VS2 + "/layer7/x_forwarded_for": True},
        VS2 + "/layer7/x_forwarded_for",
        "only be added in http mode",
    ),
    ("server-initiating-needs-tcp", {VS2 + "/layer7/server_initiating": "smtp"}, VS2 + "/layer7/server_initiating", "need tcp mode"),
    (
        "transparency-needs-the-vip-family",
        {VS2 + "/layer7/transparent": True, VS2 + "/real_servers/0/address": "2001:db8::5"},
        VS2 + "/real_servers/0/address",
        "connects from the client's own address, an IPv4 address, which cannot reach an IPv6 real server",
    ),
    (
        "vip-source-needs-the-vip-family",
        {VS2 + "/layer7/subnet_originating": False, VS2 + "/real_servers/0/address": "2001:db8::5"},
        VS2 + "/real_servers/0/address",
        "connections come from the VIP, an IPv4 address, which cannot reach an IPv6 real server",
    ),
    (
        "transparency-needs-gateway",
        {VS2 + "/layer7/transparent": True, VS2 + "/real_servers/0/address": "172.16.0.5"},
        VS2 + "/real_servers/0/address",
        "not in the subnet of any gateway floating IP",
    ),
    (
        "reencrypt-needs-http",
        {VS2 + "/persistence": {"mode": "source_ip"}, VS2 + "/layer7/mode": "tcp", VS2 + "/layer7/tls/reencrypt": True},
        VS2 + "/layer7/tls/reencrypt",
        "http mode",
    ),
    ("tls-needs-key", {VS2 + "/layer7/tls/key": DELETE}, VS2 + "/layer7/tls/key", "is required but missing"),
    # NAT
    (
        "nat-needs-internal",
        {"/cluster/interfaces/internal": DELETE, "/cluster/floating_ips/0/side": "external"},
        VS1 + "/forwarding",
        "NAT needs an internal side",
    ),
    ("nat-needs-gateway", {"/cluster/floating_ips": []}, VS1 + "/real_servers/0/address", "no gateway floating IP"),
    (
        "nat-rs-outside-gateway",
        {VS1 + "/real_servers/0/address": "10.0.2.21"},
        VS1 + "/real_servers/0/address",
        "not in the subnet of any gateway floating IP (10.0.1.0/24)",
    ),
    # connections
    (
        "min-without-max",
        {VS0 + "/real_servers/0/min_connections": 10},
        VS0 + "/real_servers/0/min_connections",
        "only applies together with max_connections",
    ),
    (
        "min-above-max",
        {VS0 + "/real_servers/0/min_connections": 100, VS0 + "/real_servers/0/max_connections": 50},
        VS0 + "/real_servers/0/min_connections",
        "above max_connections 50",
    ),
    # HA
    ("pair-one-node", {"/cluster/nodes/1": DELETE}, "/cluster/nodes", "exactly two nodes, but 1 is listed"),
    ("single-two-nodes", {"/cluster/ha/mode": "single"}, "/cluster/nodes", "exactly one node, but 2 are listed"),
    ("pair-same-priority", {"/cluster/nodes/1/priority": 150}, "/cluster/nodes/1/priority", "the priorities must differ"),
    (
        "pair-default-priorities",
        {"/cluster/nodes/0/priority": DELETE, "/cluster/nodes/1/priority": DELETE},
        "/cluster/nodes/1/priority",
        "both nodes of the HA pair have priority 100",
    ),
    ("pair-three-nodes", {"/cluster/nodes": Append({"host": "lb3"})}, "/cluster/nodes", "at most 2 items"),
    (
        "pair-heartbeat-missing",
        {"/cluster/nodes/1/heartbeat_address": DELETE},
        "/cluster/nodes/1/heartbeat_address",
        "required for a unicast heartbeat",
    ),
    (
        "pair-same-heartbeat",
        {"/cluster/nodes/1/heartbeat_address": "192.168.10.11"},
        "/cluster/nodes/1/heartbeat_address",
        "both nodes use heartbeat address",
    ),
    (
        "pair-mixed-family-heartbeat",
        {"/cluster/nodes/1/heartbeat_address": "2001:db8::12"},
        "/cluster/nodes/1/heartbeat_address",
        "mix IPv4 and IPv6",
    ),
    ("duplicate-node", {"/cluster/nodes/1/host": "lb1"}, "/cluster/nodes/1/host", "listed twice"),
    ("vrrp3-auth", {"/cluster/ha/auth_secret": "s3cret"}, "/cluster/ha/auth_secret", "VRRPv3 has no authentication"),
    (
        "vrrp2-long-secret",
        {"/cluster/ha/vrrp_version": 2, "/cluster/ha/advert_interval_ms": 1000, "/cluster/ha/auth_secret": "123456789"},
        "/cluster/ha/auth_secret",
        "at most 8 characters",
    ),
    ("vrrp2-subsecond", {"/cluster/ha/vrrp_version": 2}, "/cluster/ha/advert_interval_ms", "VRRPv2 adverts are whole seconds"),
    (
        "vrrp2-ipv6",
        {"/cluster/ha/vrrp_version": 2, "/cluster/ha/advert_interval_ms": 1000, "/cluster/floating_ips": Append({"address": "2001:db8::1/64"})},
        "/cluster/ha/vrrp_version",
        "VRRPv2 is IPv4 only",
    ),
    ("vrrp3-centiseconds", {"/cluster/ha/advert_interval_ms": 205}, "/cluster/ha/advert_interval_ms", "not a multiple of 10"),
    (
        "single-ping-nodes",
        {"/cluster/nodes/1": DELETE, "/cluster/ha/mode": "single", "/cluster/ha/ping_nodes": ["192.168.10.1"]},
        "/cluster/ha/ping_nodes",
        "only an HA pair can fail over",
    ),
    (
        "floating-internal-without-interface",
        {"/cluster/interfaces/internal": DELETE, VS1: DELETE},
        "/cluster/floating_ips/0/side",
        "no internal interface is set",
    ),
    ("floating-duplicate", {"/cluster/floating_ips": Append({"address": "10.0.1.1/24"})}, "/cluster/floating_ips/1/address", "already a floating IP"),
    (
        "floating-is-heartbeat",
        {"/cluster/floating_ips": Append({"address": "192.168.10.11/24"})},
        "/cluster/floating_ips/1/address",
        "heartbeat address",
    ),
    ("vip-is-floating", {VS0 + "/address": "10.0.1.1"}, VS0 + "/address", "is also floating IP"),
    ("vip-is-heartbeat", {VS0 + "/address": "192.168.10.12"}, VS0 + "/address", "node lb2's heartbeat address"),
    # engines: a feature the engine cannot implement names the engine, the feature and an alternative
    (
        "ipvs-url-hash",
        {VS0 + "/scheduling": "url_hash"},
        VS0 + "/scheduling",
        "keepalived/IPVS (layer 4) cannot implement scheduling 'url_hash'. Fix: the URL is only visible at layer 7",
    ),
    ("ipvs-wrt", {VS0 + "/scheduling": "weighted_response_time"}, VS0 + "/scheduling", "keepalived/IPVS (layer 4) cannot implement scheduling"),
    ("adaptive-settings-without-adaptive", {VS0 + "/adaptive": {"port": 4000}}, VS0 + "/adaptive",
     "the load agent settings are for adaptive scheduling; this service schedules 'weighted_round_robin'"),
    ("adaptive-interval-zero", {VS0 + "/scheduling": "adaptive", VS0 + "/adaptive": {"interval": 0}}, VS0 + "/adaptive/interval", "outside 1s to 1h"),
    ("adaptive-interval-long", {VS2 + "/scheduling": "adaptive", VS2 + "/adaptive": {"interval": "2h"}}, VS2 + "/adaptive/interval",
     "ask the agents every 1 to 3600 seconds"),
    ("adaptive-port-zero", {VS0 + "/scheduling": "adaptive", VS0 + "/adaptive": {"port": 0}}, VS0 + "/adaptive/port", ""),
    ("adaptive-path-unsafe", {VS0 + "/scheduling": "adaptive", VS0 + "/adaptive": {"path": "/load now"}}, VS0 + "/adaptive/path", ""),
    ("adaptive-min-load-over-100", {VS0 + "/scheduling": "adaptive", VS0 + "/adaptive": {"min_load": 101}}, VS0 + "/adaptive/min_load", ""),
    ("ipvs-adaptive-weight-over-253", {VS0 + "/scheduling": "adaptive", VS0 + "/real_servers/1/weight": 254}, VS0 + "/real_servers/1/weight",
     "sets an adaptive service's weights from its check's exit code, 253 at most, not 254"),
    (
        "haproxy-dh",
        {VS2 + "/scheduling": "destination_hash"},
        VS2 + "/scheduling",
        "HAProxy (layer 7) cannot implement scheduling 'destination_hash'",
    ),
    ("haproxy-wrt", {VS2 + "/scheduling": "weighted_response_time"}, VS2 + "/scheduling", "HAProxy (layer 7) cannot implement scheduling"),
    ("haproxy-icmp", {VS2 + "/health_check": {"type": "icmp"}}, VS2 + "/health_check/type", "HAProxy cannot ping"),
    ("haproxy-weight", {VS2 + "/real_servers/0/weight": 1000}, VS2 + "/real_servers/0/weight", "HAProxy (layer 7) takes weights up to 256, not 1000"),
    ("haproxy-vip-source-in-a-pair", {VS2 + "/layer7/subnet_originating": False}, VS2 + "/layer7/subnet_originating",
     "the backup node's checks would fail"),
    ("ssl-session-server-initiating", {VS2 + "/persistence": {"mode": "ssl_session_id"}, VS2 + "/layer7": {"mode": "tcp", "server_initiating": "ssh"}},
     VS2 + "/layer7/server_initiating", "ssl_session_id cannot work"),
    # structure (from the schema)
    ("unknown-field", {VS0 + "/protocl": "tcp"}, VS0 + "/protocl", "unknown field 'protocl'. Fix: did you mean 'protocol'?"),
    ("wrong-type", {VS0 + "/port": "80"}, VS0 + "/port", "must be a whole number, not a string '80'"),
    ("out-of-range", {VS0 + "/port": 0}, VS0 + "/port", "0 is out of range. Fix: use a value from 1 to 65535"),
    ("bad-enum", {VS0 + "/scheduling": "roundrobin"}, VS0 + "/scheduling", "did you mean round_robin?"),
    ("missing-required", {VS0 + "/address": DELETE}, VS0 + "/address", "is required but missing"),
    ("bad-address", {VS0 + "/address": "192.0.2.300"}, VS0 + "/address", "is not an IPv4 or IPv6 address"),
    (
        "bad-floating-cidr",
        {"/cluster/floating_ips/0/address": "10.0.1.1/33"},
        "/cluster/floating_ips/0/address",
        "not an address with a prefix length",
    ),
    ("weight-zero", {VS0 + "/real_servers/0/weight": 0}, VS0 + "/real_servers/0/weight", "out of range"),
    ("bool-is-not-int", {VS0 + "/port": True}, VS0 + "/port", "not true or false"),
]

PASSING = [
    ("base", {}),
    ("transparent", {VS2 + "/layer7/transparent": True}),
    # a transparent service's local clients come from the VIP: its second backend tracks, so nothing is checked from the VIP
    ("transparent-local-clients-from-the-vip", {VS2 + "/layer7/transparent": True, VS2 + "/layer7/subnet_originating": False}),
    # the LoadMaster manual's own example: overlapping ranges, repeats and the service's own port
    ("extra-ports-manual-example", {VS2 + "/extra_ports": "8000-8080, 9002, 443, 8050, 9000"}),
    ("extra-ports-repeat", {VS2 + "/extra_ports": "8443 8443"}),
    ("dr-same-port", {VS0 + "/real_servers/0/port": 80}),
    ("nat-translates-ports", {VS1 + "/real_servers/0/port": 9000}),
    ("layer7-translates-ports", {VS2 + "/real_servers/0/port": 9443}),
    ("tun-same-port", {VS0 + "/forwarding": "tun"}),
    ("layer7-mixes-families", {VS2 + "/real_servers/0/address": "2001:db8::31"}),
    ("same-vip-other-port", {VS1 + "/address": "192.0.2.10", VS1 + "/port": 81}),
    ("same-vip-port-other-protocol", {VS1 + "/address": "192.0.2.10", VS1 + "/port": 80, VS1 + "/protocol": "udp"}),
    (
        "same-rs-address-other-port",
        {VS0 + "/forwarding": "nat", VS0 + "/real_servers": [{"address": "10.0.1.5", "port": 80}, {"address": "10.0.1.5", "port": 81}]},
    ),
    ("extra-ports-forms", {VS2 + "/extra_ports": "8000-8009, 444 8443"}),
    ("extra-ports-list", {VS2 + "/extra_ports": [444, "8000-8009"]}),
    ("extra-ports-max", {VS2 + "/extra_ports": "1000-1509"}),
    ("extra-ports-no-reencrypt", {VS2 + "/extra_ports": "8443"}),
    # layer 4: IPVS firewall-mark services, in every forwarding method, up to the 510 ports
    ("extra-ports-layer4-dr", {VS0 + "/extra_ports": "443 8000-8009"}),
    ("extra-ports-layer4-nat-to-another-port", {VS1 + "/extra_ports": "81", VS1 + "/real_servers/0/port": 9000}),
    ("extra-ports-layer4-tun", {VS0 + "/forwarding": "tun", VS0 + "/extra_ports": "81"}),
    ("extra-ports-layer4-max", {VS0 + "/extra_ports": "1000-1509"}),
    ("source-ip-layer4", {VS0 + "/persistence": {"mode": "source_ip", "timeout": "1m", "granularity": "255.255.255.0"}}),
    ("source-ip-layer7", {VS2 + "/persistence": {"mode": "source_ip", "granularity": "/24"}}),
    ("timeout-max", {VS0 + "/persistence": {"mode": "source_ip", "timeout": "28d"}}),
    ("server-cookie", {VS2 + "/persistence": {"mode": "server_cookie_or_source_ip", "cookie": "JSESSIONID", "granularity": "/32"}}),
    ("active-cookie-named", {VS2 + "/persistence/cookie": "LBSTICKY"}),
    ("all-http-modes", {VS2 + "/persistence": {"mode": "super_http_and_source_ip"}}),
    ("selected-header", {VS2 + "/persistence": {"mode": "selected_header", "header": "X-Client-Id"}}),
    ("query-item", {VS2 + "/persistence": {"mode": "query_item", "query_item": "sid"}}),
    ("ssl-session-id", {VS2 + "/persistence": {"mode": "ssl_session_id"}, VS2 + "/layer7": {"mode": "tcp"}}),
    ("udp-sip", {VS0 + "/protocol": "udp", VS0 + "/persistence": {"mode": "udp_sip"}}),
    (
        "hc-http",
        {
            VS0
            + "/health_check": {
                "type": "http",
                "url": "/health",
                "host": "www.example.com",
                "expected_codes": [200, "301-302"],
                "interval": "5s",
                "timeout": 2,
                "retries": 3,
            }
        },
    ),
    ("hc-external", {VS0 + "/health_check": {"type": "external", "command": "/usr/local/bin/check"}}),
    ("hc-none", {VS0 + "/health_check": {"type": "none"}}),
    ("hc-icmp-layer4", {VS0 + "/health_check": {"type": "icmp"}}),
    ("server-initiating", {VS2 + "/persistence": {"mode": "none"}, VS2 + "/layer7": {"mode": "tcp", "server_initiating": "smtp"}}),
    ("reencrypt", {VS2 + "/layer7/tls/reencrypt": True}),
    ("min-max", {VS0 + "/real_servers/0/min_connections": 50, VS0 + "/real_servers/0/max_connections": 100}),
    ("single", {"/cluster/nodes/1": DELETE, "/cluster/ha/mode": "single"}),
    ("single-no-heartbeat", {"/cluster/nodes/1": DELETE, "/cluster/nodes/0/heartbeat_address": DELETE, "/cluster/ha": {}}),
    (
        "multicast-no-heartbeat",
        {"/cluster/ha/unicast": False, "/cluster/nodes/0/heartbeat_address": DELETE, "/cluster/nodes/1/heartbeat_address": DELETE},
    ),
    ("vrrp2-auth", {"/cluster/ha/vrrp_version": 2, "/cluster/ha/advert_interval_ms": 1000, "/cluster/ha/auth_secret": "s3cret"}),
    ("vrrp3-fastest", {"/cluster/ha/advert_interval_ms": 10}),
    ("ping-and-track", {"/cluster/ha/ping_nodes": ["192.168.10.1"], "/cluster/ha/track_interfaces": ["eth0", "eth1"]}),
    ("ipv6-service", {VS0 + "/address": "2001:db8::10", VS0 + "/real_servers": [{"address": "2001:db8::21"}]}),
    ("fallback-dr", {VS0 + "/fallback_server": {"address": "192.168.10.99", "port": 80}}),
    ("fallback-nat", {VS1 + "/fallback_server": {"address": "10.0.1.99", "port": 80}}),
    ("rs-states", {VS0 + "/real_servers/0/state": "drained", VS0 + "/real_servers/1/state": "halted"}),
    ("layer4-scheduling-all", {VS0 + "/scheduling": "fixed_weighting"}),
    ("layer7-url-hash", {VS2 + "/scheduling": "url_hash"}),
    ("layer7-weight-256", {VS2 + "/real_servers/0/weight": 256}),
    ("layer4-weight-65535", {VS0 + "/real_servers/0/weight": 65535}),
    ("no-services", {"/virtual_services": []}),
]


def _errors(ops):
    spec, errors = check_spec(mutate(ops))
    return spec, errors


@pytest.mark.parametrize("ops", [c[1] for c in PASSING], ids=[c[0] for c in PASSING])
def test_passing(ops):
    spec, errors = _errors(ops)
    assert errors == []
    assert spec is not None


@pytest.mark.parametrize("ops,path,fragment", [c[1:] for c in FAILING], ids=[c[0] for c in FAILING])
def test_failing(ops, path, fragment):
    spec, errors = _errors(ops)
    assert spec is None
    at_path = [str(e) for e in errors if e.path == path]
    assert at_path, "no error at %s; got:\n%s" % (path, "\n".join(str(e) for e in errors))
    assert any(fragment in text for text in at_path), "\n".join(at_path)
    for err in errors:
        assert err.fix, "every error says how to fix it: %s" % err


def test_every_error_is_reported_at_once():
    bad = mutate(
        {
            VS0 + "/real_servers/0/port": 8080,
            VS1 + "/name": "web-dr",
            VS2 + "/persistence/timeout": 10,
            "/cluster/nodes/1/priority": 150,
            "/cluster/ha/auth_secret": "x",
        }
    )
    with pytest.raises(SpecInvalid) as info:
        load_spec(bad)
    paths = [e.path for e in info.value.errors]
    assert paths == [
        "/cluster/ha/auth_secret",
        "/cluster/nodes/1/priority",
        VS0 + "/real_servers/0/port",
        VS1 + "/name",
        VS2 + "/persistence/timeout",
    ]
    assert str(info.value).startswith("the spec has 5 errors:")


def test_secret_never_in_messages():
    for value in ("topsecretvalue", 12345678):
        errors = check_spec(mutate({"/cluster/ha/vrrp_version": 2, "/cluster/ha/advert_interval_ms": 1000, "/cluster/ha/auth_secret": value}))[1]
        assert errors
        assert all(str(value) not in str(e) for e in errors)


def test_defaults_are_filled():
    spec = load_spec(mutate({}))
    web = spec.service("web-dr")
    assert web.scheduling == "weighted_round_robin"
    assert web.protocol == "tcp"
    assert web.persistence.mode == "none"
    assert web.health_check.type == "tcp"
    assert web.health_check.interval == 10 and web.health_check.timeout == 4 and web.health_check.retries == 2
    assert web.layer7 is None
    assert web.real_servers[0].port == 80 and web.real_servers[0].weight == 100 and web.real_servers[0].state == "enabled"
    shop = spec.service("shop")
    assert shop.forwarding == "proxy"
    assert shop.layer7.idle_timeout == 660
    assert shop.layer7.x_forwarded_for is True
    assert shop.persistence.timeout == 1800
    assert spec.cluster.ha.advert_interval_ms == 100 and spec.cluster.ha.vrrp_version == 3
    assert spec.cluster.ha.preempt is False
    nat = spec.service("app-nat")
    assert nat.real_servers[0].name == "10.0.1.21:80"


def test_real_servers_keyed_on_address_and_port():
    spec = load_spec(mutate({}))
    rs = spec.service("web-dr").real_servers[0]
    assert rs.key == (rs.address, 80)
    renamed = load_spec(mutate({VS0 + "/real_servers/0/name": "renamed"})).service("web-dr").real_servers[0]
    assert renamed.key == rs.key


def test_model_is_frozen():
    spec = load_spec(mutate({}))
    with pytest.raises(Exception):
        spec.virtual_services[0].port = 81


def test_not_a_mapping():
    spec, errors = check_spec(["cluster"])
    assert spec is None and errors[0].path == "/"


def test_base_is_untouched():
    before = repr(BASE)
    check_spec(mutate({VS0 + "/port": 0}))
    assert repr(BASE) == before


def test_extra_ports_of_the_manuals_example_are_the_set_of_its_ports():
    spec = load_spec(mutate({VS2 + "/extra_ports": "8000-8080, 9002, 443, 8050, 9000"}))
    shop = spec.service("shop")
    assert shop.extra_ports == (443,) + tuple(range(8000, 8081)) + (9000, 9002)
    assert shop.ports == (443,) + tuple(range(8000, 8081)) + (9000, 9002)


def test_a_bad_port_does_not_hide_a_bad_vip_beside_it():
    errors = check_spec(mutate({VS0 + "/port": "eighty", VS0 + "/address": "192.0.2.300"}))[1]
    assert [e.path for e in errors] == [VS0 + "/address", VS0 + "/port"]


def test_a_bad_cluster_name_hides_neither_a_heartbeat_nor_a_floating_ip():
    errors = check_spec(mutate({"/cluster/name": "lb prod", "/cluster/nodes/0/heartbeat_address": "192.168.10.311",
                                "/cluster/floating_ips/0/address": "10.0.1.1/33"}))[1]
    assert [e.path for e in errors] == ["/cluster/floating_ips/0/address", "/cluster/name", "/cluster/nodes/0/heartbeat_address"]
    assert "not an address with a prefix length from /1 to /32" in str(errors[0])


@pytest.mark.parametrize("where,value,fragment", [
    (VS0 + "/address", "0.0.0.0", "'this network'"),
    (VS0 + "/address", "::", "the unspecified address"),
    (VS0 + "/address", "127.0.0.1", "a loopback address, which cannot be a VIP"),
    (VS0 + "/address", "224.0.0.18", "a multicast address"),
    (VS0 + "/address", "255.255.255.255", "the broadcast address"),
    (VS0 + "/real_servers/0/address", "169.254.1.1", "a link-local address, which cannot be a real server's address"),
    ("/cluster/nodes/0/heartbeat_address", "127.0.0.1", "cannot be a heartbeat address"),
    ("/cluster/floating_ips/0/address", "224.0.0.1/24", "cannot be a floating IP"),
])
def test_addresses_no_client_reaches_are_refused(where, value, fragment):
    errors = check_spec(mutate({where: value}))[1]
    assert any(e.path == where and fragment in str(e) for e in errors), [str(e) for e in errors]


@pytest.mark.parametrize("where,value", [
    (VS0 + "/extra_ports", "\u0668\u0660\u0668\u0660"),
    (VS0 + "/extra_ports", "\uff18\uff10"),
    (VS0 + "/health_check/expected_codes", "\uff12\uff10\uff10"),
    (VS0 + "/persistence", {"mode": "source_ip", "granularity": "0"}),
    (VS0 + "/persistence", {"mode": "source_ip", "granularity": "255.0.255.0"}),
])
def test_odd_numbers_and_masks_are_refused(where, value):
    assert check_spec(mutate({where: value}))[1]


def test_an_ipv6_vip_needs_vrrpv3():
    errors = check_spec(mutate({"/cluster/ha/vrrp_version": 2, "/cluster/ha/advert_interval_ms": 1000, VS2 + "/address": "2001:db8::12"}))[1]
    assert [e.path for e in errors] == [VS2 + "/address"] and "VRRPv2 carries IPv4 addresses only" in str(errors[0])


@pytest.mark.parametrize("where,value", [
    (VS1 + "/name", "app-nat\n"),
    (VS2 + "/persistence", {"mode": "active_cookie", "cookie": "SHOP\nINJECTED"}),
    ("/cluster/nodes/0/host", "lb1\n"),
    (VS0 + "/health_check", {"type": "http", "url": "/health\n"}),
    ("/cluster/name", "lb-prod\u2028"),
])
def test_a_trailing_or_inner_line_break_is_refused_everywhere(where, value):
    errors = check_spec(mutate({where: value}))[1]
    assert errors and all("\n" not in str(e) for e in errors)
    assert any("control character" in str(e) for e in errors)


@pytest.mark.parametrize("secret", ["ab cd", 'a"b', "a\\b", "a{b", "$_PWD", "x" * 9, "caf\u00e9"])
def test_the_vrrp_secret_is_what_keepalived_reads_as_one_word(secret):
    errors = check_spec(mutate({"/cluster/ha/vrrp_version": 2, "/cluster/ha/advert_interval_ms": 1000, "/cluster/ha/auth_secret": secret}))[1]
    assert [e.path for e in errors] == ["/cluster/ha/auth_secret"]
    assert secret not in str(errors[0])


def test_a_secret_under_a_wrong_parent_is_not_echoed():
    errors = check_spec(mutate({"/cluster/ha": [{"auth_secret": "Vr8pX2kQ"}]}))[1]
    assert errors and not any("Vr8pX2kQ" in str(e) for e in errors)


@pytest.mark.parametrize("data", [
    {"cluster": {"name": "x", "nodes": {"host": "lb1"}}, "virtual_services": []},
    {"cluster": {"name": "x", "nodes": None}, "virtual_services": []},
    {"cluster": {"name": "x", "nodes": [{"host": "lb1"}], "floating_ips": 0}, "virtual_services": []},
    {"cluster": {"name": "x", "nodes": [{"host": "lb1"}], "\u00b2": 1}, "virtual_services": []},
    {"cluster": {"name": "x", "nodes": [{"host": "lb1"}]},
     "virtual_services": [{"name": "a", "address": "192.0.2.1", "port": 10 ** 5000, "real_servers": []}]},
])
def test_the_slips_that_raised_are_errors(data):
    spec, errors = check_spec(data)
    assert spec is None and errors and all(len(str(e)) <= 300 for e in errors)


def test_a_deeply_nested_value_is_described_not_walked():
    deep = []
    for dummy in range(3000):
        deep = [deep]
    errors = check_spec({"cluster": deep, "virtual_services": []})[1]
    assert [str(e) for e in errors] == ["/cluster: must be a mapping, not a list. Fix: write a mapping here."]
