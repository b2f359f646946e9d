# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The canonical structure of the lbkit spec, as a JSON Schema (draft 2020-12).

This dictionary is the single source of truth: ``schemas/lbkit-spec.schema.json`` is
generated from it (``scripts/gen_schema.py``) and a unit test keeps the two identical, and
the model walks it for the structural checks and defaults (``structure.py``), so the
schema editors see and the rules the model enforces cannot drift apart.

Only a small set of keywords is used (``structure.SUPPORTED_KEYWORDS``); every property
carries a ``description`` and ``examples``.
"""

from __future__ import annotations

# Every string field has a pattern (docs/spec.md, "Characters"): what the engines read as one
# word, so no value of the spec can start a directive or split one in keepalived.conf or haproxy.cfg.
DURATION_PATTERN = r"^[0-9]+(s|m|h|d)?$"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$"
HOST_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,252}$"
IFNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,14}$"
ADDRESS_PATTERN = r"^[0-9A-Fa-f:.]+$"
CIDR_PATTERN = r"^[0-9A-Fa-f:.]+/[0-9]{1,3}$"
# Printable ASCII but blanks and what keepalived reads as syntax (", \\, {, }, $).
SECRET_PATTERN = r"^[A-Za-z0-9!#%&'()*+,./:;<=>?@\[\]^_`|~-]+$"
# An HTTP path and query: RFC 3986's characters but '#' (a fragment is never sent), '$', '[', ']'.
URL_PATTERN = r"^/[A-Za-z0-9._~!&'()*+,;=:@/?%-]*$"
# HTTP token characters (RFC 9110) but '#' and "'" (HAProxy reads them as a comment and a quote).
TOKEN_PATTERN = r"^[!$%&*+.^_`|~0-9A-Za-z-]+$"
QUERY_ITEM_PATTERN = r"^[!$%*+.^_`|~0-9A-Za-z-]+$"
COMMAND_PATTERN = r"^/[A-Za-z0-9._+@/-]+$"
# An address, or a network with its prefix length.
SOURCE_PATTERN = r"^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$"
# A sub service's name: a service name without ':' (HAProxy names its backend 'vs_<service>:<sub service>').
SUB_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
# What a content rule compares: printable ASCII without blanks (a regular expression writes \s or [ ]).
RULE_VALUE_PATTERN = r"^[!-~]{1,255}$"
# A user name of HTTP basic authentication: no ':' (it ends the name) and nothing HAProxy quotes.
USER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


def _p(type_, description, examples, **extra):
    prop = {"type": type_, "description": description, "examples": examples}
    prop.update(extra)
    return prop


def _address(description, examples):
    return _p("string", description + " IPv4 or IPv6 address.", examples, pattern=ADDRESS_PATTERN)


def _duration(description, examples, default=None):
    extra = {"pattern": DURATION_PATTERN}
    if default is not None:
        extra["default"] = default
    return _p(
        ["integer", "string"],
        description + " Seconds as a number, or a number with a unit: s, m, h or d (`90s`, `30m`, `6h`, `28d`).",
        examples,
        **extra,
    )


SCHEDULING = [
    "round_robin",
    "weighted_round_robin",
    "least_connection",
    "weighted_least_connection",
    "source_ip_hash",
    "destination_hash",
    "fixed_weighting",
    "url_hash",
    "weighted_response_time",
    "adaptive",
]

PERSISTENCE = [
    "none",
    "source_ip",
    "active_cookie",
    "server_cookie",
    "server_cookie_or_source_ip",
    "active_cookie_or_source_ip",
    "hash_all_cookies",
    "hash_all_cookies_or_source_ip",
    "super_http",
    "super_http_and_source_ip",
    "url_hash",
    "host_header",
    "query_item",
    "selected_header",
    "ssl_session_id",
    "udp_sip",
    "rdp_cookie",
    "rdp_cookie_or_source_ip",
    "rdp_session_broker",
]

HEALTH_CHECKS = ["none", "tcp", "http", "https", "icmp", "external", "udp"]

QUALITY_OF_SERVICE = ["normal", "minimize_delay", "maximize_throughput", "maximize_reliability", "minimize_cost", "pass_through"]

SERVER_INITIATING = ["none", "smtp", "ssh", "imap4", "mysql", "pop3", "other"]

STARTTLS = ["none", "smtp", "ftp", "imap4", "pop3"]

NODE = {
    "type": "object",
    "description": "One appliance of the cluster: an inventory host.",
    "examples": [{"host": "lb1", "heartbeat_address": "192.168.10.11", "priority": 150}],
    "additionalProperties": False,
    "required": ["host"],
    "properties": {
        "host": _p(
            "string",
            "The appliance's inventory hostname. Its role in the HA pair comes from this name.",
            ["lb1"],
            pattern=HOST_PATTERN,
        ),
        "heartbeat_address": _address(
            "The address this node sends and receives the VRRP heartbeat on. Required for an HA pair "
            "with unicast heartbeat: each node's unicast peer is the other node's heartbeat address.",
            ["192.168.10.11"],
        ),
        "management_address": _address(
            "The address this node's monitoring endpoint listens on (`monitoring`), on the management network. "
            "Defaults to the heartbeat address.",
            ["192.168.20.11"],
        ),
        "priority": _p(
            "integer",
            "VRRP priority; the higher priority node is the preferred master. The two nodes of a pair must have different priorities.",
            [150],
            minimum=1,
            maximum=254,
            default=100,
        ),
    },
}

HA = {
    "type": "object",
    "description": "High availability: a single appliance, or an active/passive pair with floating IPs and a VRRP heartbeat.",
    "examples": [{"mode": "pair", "virtual_router_id": 51, "advert_interval_ms": 100, "preempt": False}],
    "additionalProperties": False,
    "default": {},
    "properties": {
        "mode": _p(
            "string",
            "`single` for one appliance, `pair` for an active/passive HA pair (exactly two nodes).",
            ["pair"],
            enum=["single", "pair"],
            default="single",
        ),
        "virtual_router_id": _p(
            "integer",
            "VRRP virtual router id. Must be unique among VRRP routers on the same network segment.",
            [51],
            minimum=1,
            maximum=255,
            default=51,
        ),
        "vrrp_version": _p(
            "integer",
            "VRRP protocol version. Version 3 (RFC 5798) allows sub-second adverts and IPv6; version 2 "
            "allows an authentication secret but only whole-second adverts.",
            [3],
            enum=[2, 3],
            default=3,
        ),
        "advert_interval_ms": _p(
            "integer",
            "Heartbeat (VRRP advert) interval in milliseconds. The backup takes over after about three "
            "missed adverts. VRRPv3: a multiple of 10 from 10 to 40950; VRRPv2: whole seconds. The "
            "default, 100 ms, keeps a client's longest wait during a failover under half a second "
            "(docs/benchmarks.md).",
            [100, 1000],
            minimum=10,
            maximum=40950,
            default=100,
        ),
        "unicast": _p(
            "boolean",
            "Send the heartbeat unicast to the peer's heartbeat address (true) instead of multicast. "
            "Unicast works on networks that filter multicast, and in clouds.",
            [True],
            default=True,
        ),
        "auth_secret": _p(
            "string",
            "VRRP authentication secret (1 to 8 characters; VRRPv2 only, VRRPv3 has no authentication). "
            "Keep it in Ansible Vault; it is never shown in diffs or logs.",
            ["{{ vault_vrrp_secret }}"],
            minLength=1,
            maxLength=8,
            pattern=SECRET_PATTERN,
            writeOnly=True,
        ),
        "connection_sync": _p(
            "boolean",
            "Synchronise the layer-4 connections between the pair's nodes (the manuals' L4 connection "
            "updates across a switchover): the master's IPVS sync daemon sends every connection to the "
            "backup over the heartbeat interface (multicast 224.0.0.81, UDP 8848), so established "
            "connections continue on the new master after a failover instead of being reset. Needs a "
            "pair and at least one layer-4 service.",
            [True],
            default=False,
        ),
        "preempt": _p(
            "boolean",
            "Let the higher-priority node take the master role back when it returns ('switch to preferred "
            "server'). Off by default, so a recovered node does not cause a second outage.",
            [False],
            default=False,
        ),
        "ping_nodes": {
            "type": "array",
            "description": "Addresses the appliances ping to prove their network works (for example the "
            "default gateway). A node that cannot reach any of them gives up the master role, "
            "so a network failure fails over instead of splitting the brain.",
            "examples": [["192.168.10.1"]],
            "default": [],
            "items": _address("A ping node.", ["192.168.10.1"]),
        },
        "track_interfaces": {
            "type": "array",
            "description": "Interfaces whose link state is tracked: a node with a tracked interface down gives up the master role.",
            "examples": [["eth0", "eth1"]],
            "default": [],
            "items": _p("string", "An interface name on the appliances.", ["eth0"], pattern=IFNAME_PATTERN),
        },
    },
}

FLOATING_IP = {
    "type": "object",
    "description": "An address that moves with the master role, in addition to the virtual service addresses.",
    "examples": [{"name": "nat-gateway", "address": "10.0.1.1/24", "side": "internal", "gateway": True}],
    "additionalProperties": False,
    "required": ["address"],
    "properties": {
        "name": _p("string", "A label for the floating IP.", ["nat-gateway"], pattern=NAME_PATTERN),
        "address": _p(
            "string",
            "The address with its prefix length, IPv4 or IPv6.",
            ["10.0.1.1/24"],
            pattern=CIDR_PATTERN,
        ),
        "side": _p(
            "string",
            "Which side of the appliance the address lives on: `external` (clients) or `internal` (real servers, two-arm).",
            ["internal"],
            enum=["external", "internal"],
            default="external",
        ),
        "gateway": _p(
            "boolean",
            "This address is the default gateway of the real servers (NAT and transparent layer 7).",
            [True],
            default=False,
        ),
    },
}

INTERFACES = {
    "type": "object",
    "description": "The appliance's network interfaces. A one-arm appliance has only `external`; a two-arm "
    "appliance (NAT) also has `internal`, on the real servers' network.",
    "examples": [{"external": "eth0", "internal": "eth1"}],
    "additionalProperties": False,
    "default": {},
    "properties": {
        "external": _p(
            "string",
            "Interface facing the clients; the virtual service addresses go here.",
            ["eth0"],
            pattern=IFNAME_PATTERN,
        ),
        "internal": _p(
            "string",
            "Interface facing the real servers in a two-arm setup.",
            ["eth1"],
            pattern=IFNAME_PATTERN,
        ),
    },
}

CLUSTER = {
    "type": "object",
    "description": "The appliances that serve the virtual services: one node, or an HA pair.",
    "examples": [{"name": "lb-prod", "nodes": [{"host": "lb1"}], "ha": {"mode": "single"}}],
    "additionalProperties": False,
    "required": ["name", "nodes"],
    "properties": {
        "name": _p("string", "The cluster's name.", ["lb-prod"], pattern=NAME_PATTERN),
        "engine": _p(
            "string",
            "What the appliances are: `linux` (Debian with keepalived and HAProxy, converged over SSH by the "
            "appliance role) or `loadmaster` (Kemp LoadMaster, converged through its REST API). Validation "
            "refuses what the cluster's engine cannot implement.",
            ["linux", "loadmaster"],
            enum=["linux", "loadmaster"],
            default="linux",
        ),
        "nodes": {
            "type": "array",
            "description": "The appliances: one for `ha.mode: single`, two for `ha.mode: pair`.",
            "examples": [[{"host": "lb1", "priority": 150}, {"host": "lb2", "priority": 100}]],
            "minItems": 1,
            "maxItems": 2,
            "items": {"$ref": "#/$defs/node"},
        },
        "ha": {"$ref": "#/$defs/ha"},
        "floating_ips": {
            "type": "array",
            "description": "Extra floating addresses, such as the real servers' default gateway on the internal side.",
            "examples": [[{"name": "nat-gateway", "address": "10.0.1.1/24", "side": "internal", "gateway": True}]],
            "default": [],
            "items": {"$ref": "#/$defs/floating_ip"},
        },
        "interfaces": {"$ref": "#/$defs/interfaces"},
        "autonat": _p(
            "boolean",
            "Autonat (Loadbalancer.org's name): the connections that real servers open to other networks "
            "through the appliance (their default gateway, a gateway floating IP) leave from the appliance's "
            "address on the external interface (masquerade), so the real servers reach outside networks "
            "that have no route back to them. Needs the external interface and a gateway floating IP.",
            [True],
            default=False,
        ),
    },
}

PERSISTENCE_OBJ = {
    "type": "object",
    "description": "Persistence (stickiness): which client requests go back to the same real server.",
    "examples": [{"mode": "source_ip", "timeout": "30m"}, {"mode": "server_cookie", "cookie": "JSESSIONID"}],
    "additionalProperties": False,
    "default": {},
    "properties": {
        "mode": _p(
            "string",
            "Persistence mode. `source_ip` works at layer 4 and 7; the cookie, header and URL modes need "
            "layer 7 HTTP; `ssl_session_id` needs layer 7 TCP without TLS termination; `udp_sip` needs "
            "UDP at layer 4. Remote Desktop (layer 7 TCP): `rdp_cookie` keeps a user on one server by the "
            "user name the client sends (its `mstshash` cookie), `rdp_cookie_or_source_ip` falls back to "
            "the client's address, `rdp_session_broker` follows the Connection Broker's routing token "
            "(`msts`) to the server holding the user's session, else the user name.",
            ["source_ip", "active_cookie"],
            enum=PERSISTENCE,
            default="none",
        ),
        "timeout": _duration(
            "How long a client stays with its real server after its last connection, from 1 minute to 28 days.",
            ["30m", 3600],
            default=300,
        ),
        "cookie_with_port": _p(
            "boolean",
            "For the active cookie modes: the cookie's name carries the service's port (`LBKIT_443`), so two "
            "services of one host name on different ports keep their own cookies (the manuals' add port to "
            "active cookie; browsers send a host's cookies to every port).",
            [True],
            default=False,
        ),
        "refresh": _p(
            "boolean",
            "Refresh persistence: a client's entry is kept alive while its connections are open, so a "
            "connection that lasts longer than the timeout keeps its real server for the client's next one "
            "(the manuals' refresh persist, for long-lived connections).",
            [True],
            default=False,
        ),
        "granularity": _p(
            "string",
            "For the source IP modes: the netmask (IPv4) or prefix length grouping client addresses, so "
            "clients behind one proxy farm stay together.",
            ["255.255.255.0", "/24"],
            pattern=r"^(/[0-9]{1,3}|[0-9.]+)$",
        ),
        "cookie": _p(
            "string",
            "Cookie name: the application's cookie for the server cookie modes, or the cookie the appliance inserts for the active cookie modes.",
            ["JSESSIONID"],
            pattern=TOKEN_PATTERN,
        ),
        "header": _p(
            "string",
            "Header name for `selected_header`.",
            ["X-Client-Id"],
            pattern=TOKEN_PATTERN,
        ),
        "query_item": _p(
            "string",
            "Query-string parameter name for `query_item`.",
            ["session"],
            pattern=QUERY_ITEM_PATTERN,
        ),
    },
}

HEALTH_CHECK = {
    "type": "object",
    "description": "How the appliance checks that a real server is up.",
    "examples": [{"type": "http", "url": "/health", "expected_codes": "200-299", "interval": 10}],
    "additionalProperties": False,
    "default": {},
    "properties": {
        "type": _p(
            "string",
            "Check type: `none` (always up), `tcp` (connect), `http` / `https` (request the URL), `icmp` "
            "(ping), `external` (run a command on the appliance), `udp` (send `payload` to a UDP service's "
            "real server; up when it answers).",
            ["http"],
            enum=HEALTH_CHECKS,
            default="tcp",
        ),
        "port": _p(
            "integer",
            "Port to check; defaults to each real server's port.",
            [8080],
            minimum=1,
            maximum=65535,
        ),
        "url": _p(
            "string",
            "Path requested by `http` and `https` checks.",
            ["/health"],
            pattern=URL_PATTERN,
            default="/",
        ),
        "host": _p(
            "string",
            "Host header sent by `http` and `https` checks.",
            ["www.example.com"],
            pattern=r"^[A-Za-z0-9.:\[\]-]+$",
        ),
        "expected_codes": _p(
            ["string", "array"],
            "HTTP status codes that mean 'up': codes and ranges separated by spaces or commas, or a list.",
            ["200-299", [200, 301]],
            default="200-399",
            items={"type": ["integer", "string"]},
        ),
        "interval": _duration("Time between checks.", [10, "5s"], default=10),
        "timeout": _duration("How long one check may take; shorter than the interval.", [4], default=4),
        "retries": _p(
            "integer",
            "Consecutive failures before a real server is taken out (and successes before it is put back).",
            [2],
            minimum=1,
            maximum=10,
            default=2,
        ),
        "payload": _p(
            "string",
            "For `udp`: the datagram the check sends, in hexadecimal (1 to 255 bytes); the real server is up "
            "when it answers. A request of the service's own protocol, for example a DNS query.",
            ["0001010000010000000000000377777707657861706c6503636f6d0000010001"],
            pattern=r"^([0-9A-Fa-f]{2}){1,255}$",
        ),
        "command": _p(
            "string",
            "For `external`: absolute path of a command on the appliance; exit 0 means up. The real "
            "server's address and port are its last two arguments.",
            ["/usr/local/lib/lbkit/check-app"],
            pattern=COMMAND_PATTERN,
        ),
    },
}

TLS = {
    "type": "object",
    "description": "TLS termination on the appliance (layer 7), and optional re-encryption to the real servers.",
    "examples": [{"certificate": "files/www.pem", "key": "files/www.key", "reencrypt": False}],
    "additionalProperties": False,
    "required": ["certificate", "key"],
    "properties": {
        "certificate": _p(
            "string",
            "Path on the controller of the PEM certificate (with its chain). It is copied to the appliance.",
            ["files/www.example.com.pem"],
            minLength=1,
        ),
        "key": _p(
            "string",
            "Path on the controller of the PEM private key (keep it in Ansible Vault). Written 0600, never shown.",
            ["files/www.example.com.key"],
            minLength=1,
        ),
        "reencrypt": _p(
            "boolean",
            "Re-encrypt traffic to the real servers with TLS.",
            [False],
            default=False,
        ),
        "redirect_http": _p(
            "boolean",
            "Also answer plain HTTP on port 80 of the VIP, with a redirect (301) to the same URL over HTTPS "
            "(the manuals' HTTP to HTTPS redirection). Needs http mode, and port 80 of the VIP free.",
            [True],
            default=False,
        ),
    },
}

LAYER7 = {
    "type": "object",
    "description": "Layer-7 proxy options (only for `layer: 7`).",
    "examples": [{"mode": "http", "x_forwarded_for": True, "idle_timeout": 660}],
    "additionalProperties": False,
    "properties": {
        "mode": _p(
            "string",
            "`http` understands HTTP (cookies, headers, X-Forwarded-For); `tcp` passes any TCP stream.",
            ["http"],
            enum=["http", "tcp"],
            default="http",
        ),
        "transparent": _p(
            "boolean",
            "Transparency: real servers see the client's address instead of the appliance's. The real "
            "servers must then route back through the appliance (a gateway floating IP).",
            [False],
            default=False,
        ),
        "x_forwarded_for": _p(
            "boolean",
            "Add an X-Forwarded-For header with the client's address (HTTP mode).",
            [True],
            default=True,
        ),
        "subnet_originating": _p(
            "boolean",
            "Subnet originating requests: the source address of the connections the appliance makes to the "
            "real servers non-transparently (transparency off, or a client on the real servers' own "
            "subnet): `true`, the appliance's own address on the real servers' subnet; `false`, the VIP.",
            [False],
            default=True,
        ),
        "source_addresses": {
            "type": "array",
            "description": "Alternate source addresses (the manuals' list): the connections to the real servers leave from these "
            "addresses instead, spread over them (the health check from the first), each with its own range of source ports (for more than about "
            "64,000 concurrent connections to one real server, or a source the real servers' firewall allows). Each is a VIP of the "
            "spec or a floating IP's address, so the appliance holds it; not with transparency, and on a single appliance (a "
            "backup's checks could not leave from addresses the master holds).",
            "examples": [["10.0.1.5", "10.0.1.6"]],
            "minItems": 1,
            "maxItems": 64,
            "items": _address("A source address.", ["10.0.1.5"]),
        },
        "idle_timeout": _duration("Idle connection timeout, from 1 second to 1 day.", [660, "11m"], default=660),
        "quality_of_service": _p(
            "string",
            "Type-of-service marking of the traffic to the clients; `pass_through` keeps the marking the client's "
            "packets came with.",
            ["minimize_delay"],
            enum=QUALITY_OF_SERVICE,
            default="normal",
        ),
        "server_initiating": _p(
            "string",
            "Server-initiating protocol: the server speaks first (SMTP, SSH, IMAP4, MySQL, POP3...), so "
            "the appliance must not wait for client data before connecting (TCP mode).",
            ["smtp"],
            enum=SERVER_INITIATING,
            default="none",
        ),
        "starttls": _p(
            "string",
            "STARTTLS offload (the LoadMaster's STARTTLS service type): the appliance answers the protocol's "
            "STARTTLS command with `tls`'s certificate and speaks plain text to the real servers. Needs tcp "
            "mode and tls.",
            ["smtp"],
            enum=STARTTLS,
            default="none",
        ),
        "http2": _p(
            "boolean",
            "Offer HTTP/2 to the clients (the LoadMaster's HTTP/2 service type): the TLS handshake "
            "negotiates h2 or HTTP/1.1 (ALPN); the real servers are still spoken to in HTTP/1.1. Needs http "
            "mode and tls (browsers speak HTTP/2 over TLS only).",
            [True],
            default=False,
        ),
        "tls": {"$ref": "#/$defs/tls"},
    },
}

FALLBACK = {
    "type": "object",
    "description": "Fallback (sorry) server: used only when every real server is down.",
    "examples": [{"address": "10.0.0.250", "port": 80}],
    "additionalProperties": False,
    "required": ["address", "port"],
    "properties": {
        "address": _address("The fallback server's address.", ["10.0.0.250"]),
        "port": _p("integer", "The fallback server's port.", [80], minimum=1, maximum=65535),
    },
}

REAL_SERVER = {
    "type": "object",
    "description": "A real server behind the virtual service. Real servers are identified by address and port.",
    "examples": [{"name": "web1", "address": "10.0.0.11", "port": 80, "weight": 100}],
    "additionalProperties": False,
    "required": ["address"],
    "properties": {
        "name": _p(
            "string",
            "A label for the real server; defaults to `address:port`. Unique within the virtual service.",
            ["web1"],
            pattern=NAME_PATTERN,
        ),
        "address": _address("The real server's address (RIP).", ["10.0.0.11"]),
        "port": _p(
            "integer",
            "The real server's port; defaults to the virtual service's port. Direct Routing and "
            "tunnelling cannot translate ports, so there it must equal the service's port.",
            [80],
            minimum=1,
            maximum=65535,
        ),
        "weight": _p(
            "integer",
            "Relative share of the traffic for the weighted scheduling methods.",
            [100],
            minimum=1,
            maximum=65535,
            default=100,
        ),
        "min_connections": _p(
            "integer",
            "With `max_connections`: once the limit was reached, new connections go to the server again "
            "only when it is back under this number (0: no lower threshold).",
            [0],
            minimum=0,
            maximum=65535,
            default=0,
        ),
        "max_connections": _p(
            "integer",
            "Most concurrent connections the server gets (0: unlimited).",
            [500],
            minimum=0,
            maximum=65535,
            default=0,
        ),
        "state": _p(
            "string",
            "`enabled` takes traffic; `drained` finishes existing connections but gets no new ones; `halted` gets nothing.",
            ["enabled"],
            enum=["enabled", "drained", "halted"],
            default="enabled",
        ),
    },
}

# The load agent's path: plain path characters only (it is written into the agent's command line).
AGENT_PATH_PATTERN = r"^/[A-Za-z0-9._~/-]{0,200}$"

ADAPTIVE = {
    "type": "object",
    "description": "Resource based (adaptive) scheduling (`scheduling: adaptive`): the appliance asks a load agent on "
    "each real server for its load every `interval`, and a loaded server's weight drops accordingly: its spec weight "
    "while the load is under `min_load`, else 100 minus the load percent of it (at least 1%). The realserver role "
    "installs lbkit's agent on Linux real servers.",
    "examples": [{"port": 3333, "interval": "7s", "min_load": 10}],
    "additionalProperties": False,
    "default": {},
    "properties": {
        "port": _p("integer", "The load agent's TCP port on each real server.", [3333], minimum=1, maximum=65535, default=3333),
        "path": _p(
            "string",
            "The path of the HTTP request a LoadMaster sends the agent (its 'Adaptive URL'); lbkit's agent answers it with "
            "the load, 0 to 100.",
            ["/load"],
            pattern=AGENT_PATH_PATTERN,
            default="/load",
        ),
        "interval": _duration("How often the appliance asks each real server's agent.", ["7s"], default=7),
        "min_load": _p(
            "integer",
            "The load (percent) under which a real server keeps its whole weight (the LoadMaster's 'Min. Control Variable Value').",
            [10],
            minimum=0,
            maximum=100,
            default=0,
        ),
    },
}

CONTENT_RULE = {
    "type": "object",
    "description": "A content rule: one condition on the HTTP request. Give one of `path`, `host` or `header` (with `value`).",
    "examples": [{"path": "/api/"}, {"host": "static.example.com"}, {"header": "X-Tenant", "value": "blue", "match": "exact"}],
    "additionalProperties": False,
    "properties": {
        "path": _p(
            "string",
            "The request's path (without the query string) is compared with this; by default it matches paths that begin with it.",
            ["/api/"],
            pattern=RULE_VALUE_PATTERN,
        ),
        "host": _p(
            "string",
            "The request's host name (its Host header, the port left out) is compared with this, ignoring case; by default it "
            "must be this name exactly.",
            ["static.example.com"],
            pattern=RULE_VALUE_PATTERN,
        ),
        "header": _p("string", "The request header whose value is compared with `value`.", ["X-Tenant"], pattern=TOKEN_PATTERN),
        "value": _p("string", "For `header`: the value it is compared with.", ["blue"], pattern=RULE_VALUE_PATTERN),
        "match": _p(
            "string",
            "How it is compared: `exact`, `prefix` (begins with), `suffix` (ends with) or `regex` (a regular expression "
            "found anywhere in it; anchor it with ^ and $). Defaults to `prefix` for a path and `exact` otherwise (the "
            "LoadMaster's match types: prefix, postfix, regular expression).",
            ["prefix"],
            enum=["exact", "prefix", "suffix", "regex"],
        ),
        "ignore_case": _p("boolean", "Compare ignoring case (a host name always is).", [True], default=False),
        "negate": _p("boolean", "The rule holds when the request does NOT match.", [True], default=False),
    },
}

SUB_SERVICE = {
    "type": "object",
    "description": "A sub service (the LoadMaster's SubVS): a group of real servers behind its parent's VIP and port, with its own "
    "scheduling, persistence and health check. The parent reads each HTTP request and sends it to the first sub service "
    "whose content rules match; a sub service without rules takes the requests that no rule matches.",
    "examples": [{"name": "api", "content_rules": [{"path": "/api/"}], "real_servers": [{"address": "10.0.0.21", "port": 8080}]}],
    "additionalProperties": False,
    "required": ["name", "real_servers"],
    "properties": {
        "name": _p(
            "string",
            "The sub service's name; unique in its service. Letters, digits and _ . - (HAProxy's backend is 'vs_<service>:<name>').",
            ["api"],
            pattern=SUB_NAME_PATTERN,
        ),
        "content_rules": {
            "type": "array",
            "description": "The requests this sub service takes: those matching any of the rules. None: the requests no other "
            "sub service's rules match (at most one sub service of a service has none).",
            "examples": [[{"path": "/api/"}, {"host": "api.example.com"}]],
            "items": {"$ref": "#/$defs/content_rule"},
        },
        "scheduling": _p(
            "string",
            "How this sub service's requests are spread over its real servers.",
            ["least_connection"],
            enum=SCHEDULING,
            default="weighted_round_robin",
        ),
        "persistence": {"$ref": "#/$defs/persistence"},
        "health_check": {"$ref": "#/$defs/health_check"},
        "slow_start": _duration("Slow start of this sub service's real servers (see the virtual service's slow_start).", ["60s"], default=0),
        "fallback_server": {"$ref": "#/$defs/fallback_server"},
        "real_servers": {
            "type": "array",
            "description": "The real servers of this sub service. One real server may serve several sub services.",
            "examples": [[{"name": "api1", "address": "10.0.0.21", "port": 8080}]],
            "items": {"$ref": "#/$defs/real_server"},
        },
    },
}

VIRTUAL_SERVICE = {
    "type": "object",
    "description": "A virtual service: a VIP and port that clients connect to, and the real servers behind it.",
    "examples": [
        {
            "name": "web",
            "address": "192.0.2.10",
            "port": 80,
            "layer": 4,
            "forwarding": "dr",
            "real_servers": [{"address": "10.0.0.11"}, {"address": "10.0.0.12"}],
        }
    ],
    "additionalProperties": False,
    "required": ["name", "address", "port"],
    "properties": {
        "name": _p("string", "The virtual service's name; unique in the spec.", ["web"], pattern=NAME_PATTERN),
        "address": _address("The virtual IP (VIP) clients connect to.", ["192.0.2.10", "2001:db8::10"]),
        "port": _p("integer", "The virtual service's port.", [80], minimum=1, maximum=65535),
        "extra_ports": _p(
            ["string", "array"],
            "More ports served by the same virtual service: single ports and ranges, in any order, "
            "separated by spaces or commas (or a list). At most 510 ports in all. At layer 4 a real "
            "server on the service's port gets each connection on the port the client asked for; a NAT "
            "real server on another port gets every port's connections on that port (as at layer 7).",
            ["443 8080-8089", [443, "8080-8089"]],
            items={"type": ["integer", "string"]},
        ),
        "protocol": _p("string", "Transport protocol.", ["tcp"], enum=["tcp", "udp"], default="tcp"),
        "layer": _p(
            "integer",
            "4: the appliance forwards packets (IPVS); 7: the appliance is a proxy (HAProxy).",
            [4, 7],
            enum=[4, 7],
            default=7,
        ),
        "forwarding": _p(
            "string",
            "Forwarding method. Layer 4: `dr` (Direct Routing), `nat`, `tun` (IP-in-IP tunnelling). "
            "Layer 7: `proxy` (SNAT proxy). Defaults to `dr` at layer 4 and `proxy` at layer 7.",
            ["dr"],
            enum=["dr", "nat", "tun", "proxy"],
        ),
        "scheduling": _p(
            "string",
            "How new connections are spread over the real servers.",
            ["weighted_least_connection"],
            enum=SCHEDULING,
            default="weighted_round_robin",
        ),
        "persistence": {"$ref": "#/$defs/persistence"},
        "adaptive": {"$ref": "#/$defs/adaptive"},
        "use_for_server_nat": _p(
            "boolean",
            "Use the VIP for server NAT (the LoadMaster's 'Use Address for Server NAT'): the connections that "
            "this service's real servers open to other networks through the appliance leave from the VIP, "
            "as mail servers and reverse-DNS checks need. The real servers must use a gateway floating IP as "
            "their default gateway; a real server leaves from one VIP only.",
            [True],
            default=False,
        ),
        "slow_start": _duration(
            "Slow start (layer 7): a real server that comes back (its health check passes again, or it is "
            "enabled after a drain or a halt) takes its share of new connections gradually, from almost "
            "nothing to its full weight over this time, instead of all at once. 0 (the default) turns it "
            "off; at most 1 hour. It needs a health check whose interval is shorter, and a round robin or "
            "least connection method (not a hash or fixed weighting).",
            ["60s", "2m"],
            default=0,
        ),
        "health_check": {"$ref": "#/$defs/health_check"},
        "layer7": {"$ref": "#/$defs/layer7"},
        "fallback_server": {"$ref": "#/$defs/fallback_server"},
        "sub_services": {
            "type": "array",
            "description": "Content switching (layer 7, http mode): the service's real servers in groups, each request going to the "
            "group whose content rules match it (by path, host or header). A service with sub services lists its real servers, "
            "scheduling, persistence and health check in them, not in itself.",
            "examples": [[{"name": "api", "content_rules": [{"path": "/api/"}], "real_servers": [{"address": "10.0.0.21"}]},
                          {"name": "www", "real_servers": [{"address": "10.0.0.11"}]}]],
            "minItems": 1,
            "items": {"$ref": "#/$defs/sub_service"},
        },
        "real_servers": {
            "type": "array",
            "description": "The real servers (RIPs) behind the service (required, unless it has sub_services).",
            "examples": [[{"name": "web1", "address": "10.0.0.11", "port": 80}]],
            "items": {"$ref": "#/$defs/real_server"},
        },
    },
}

STATUS_PAGE = {
    "type": "object",
    "description": "HAProxy's status page (the manuals' layer-7 status) at /stats on the monitoring endpoint, behind HTTP basic authentication.",
    "examples": [{"user": "operator", "password": "correct-horse-battery"}],
    "additionalProperties": False,
    "required": ["user", "password"],
    "properties": {
        "user": _p("string", "The user name the page asks for.", ["operator"], pattern=USER_PATTERN),
        "password": _p(
            "string",
            "The page's password (8 to 64 characters). Keep it in Ansible Vault; it is never shown in diffs or logs.",
            ["{{ vault_lb_status_password }}"],
            minLength=8,
            maxLength=64,
            pattern=SECRET_PATTERN,
            writeOnly=True,
        ),
    },
}

MONITORING = {
    "type": "object",
    "description": "Prometheus metrics from every appliance (docs/monitoring.md): one HTTP endpoint on each node's management "
    "address serving HAProxy's exporter (/metrics), the node exporter with lbkit's own series (/node/metrics: the VRRP state, "
    "the floating addresses held, each virtual service and real server in the manuals' four states, the IPVS table) and, "
    "when asked, HAProxy's status page (/stats). Only the allowed sources reach it.",
    "examples": [{"allowed_sources": ["192.168.20.0/24"], "port": 9101}],
    "additionalProperties": False,
    "required": ["allowed_sources"],
    "properties": {
        "port": _p("integer", "The endpoint's port on each node's management address.", [9101], minimum=1, maximum=65535, default=9101),
        "allowed_sources": {
            "type": "array",
            "description": "Who may read the endpoint: addresses or networks (the Prometheus servers). Every other source gets 403.",
            "examples": [["192.168.20.5", "192.168.30.0/24"]],
            "minItems": 1,
            "items": _p("string", "An address or a network.", ["192.168.20.0/24"], pattern=SOURCE_PATTERN),
        },
        "status_page": {"$ref": "#/$defs/status_page"},
    },
}

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:lbkit:loadbalancer:spec",
    "title": "lbkit load-balancer spec",
    "description": "One cluster of load-balancer appliances (a single node or an HA pair), its virtual services and their real servers.",
    "type": "object",
    "additionalProperties": False,
    "required": ["cluster", "virtual_services"],
    "properties": {
        "cluster": {"$ref": "#/$defs/cluster"},
        "virtual_services": {
            "type": "array",
            "description": "The virtual services. Services that are not listed are removed from the appliances.",
            "examples": [[{"name": "web", "address": "192.0.2.10", "port": 80, "real_servers": []}]],
            "items": {"$ref": "#/$defs/virtual_service"},
        },
        "monitoring": {"$ref": "#/$defs/monitoring"},
    },
    "$defs": {
        "cluster": CLUSTER,
        "node": NODE,
        "ha": HA,
        "floating_ip": FLOATING_IP,
        "interfaces": INTERFACES,
        "virtual_service": VIRTUAL_SERVICE,
        "persistence": PERSISTENCE_OBJ,
        "health_check": HEALTH_CHECK,
        "adaptive": ADAPTIVE,
        "layer7": LAYER7,
        "tls": TLS,
        "fallback_server": FALLBACK,
        "real_server": REAL_SERVER,
        "sub_service": SUB_SERVICE,
        "content_rule": CONTENT_RULE,
        "monitoring": MONITORING,
        "status_page": STATUS_PAGE,
    },
}
