"""Layer 4 UDP services: the udp health check (keepalived's UDP_CHECK) and its rules."""

import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.state import desired_state
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import keepalived
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import check_spec, load_spec

from .specs import mutate
from .test_render import host_interfaces

DNS_QUERY = "0001010000010000000000000377777707657861706c6503636f6d0000010001"


def udp_service(**health):
    return mutate({"/virtual_services/0/protocol": "udp", "/virtual_services/0/port": 53,
                   "/virtual_services/0/real_servers/1/port": 53, "/virtual_services/0/health_check": dict({"type": "udp"}, **health)})


def errors(spec):
    return [str(e) for e in check_spec(spec)[1]]


def test_the_check_sends_the_datagram_and_requires_an_answer():
    spec = load_spec(udp_service(payload=DNS_QUERY.upper(), interval=5, timeout=2))
    conf = keepalived.render(spec, "lb1", host_interfaces(spec, "lb1")).content
    block = conf[conf.index("virtual_server 192.0.2.10 53"):]
    block = block[: block.index("\n}\n")]
    assert "    protocol UDP\n" in block
    # written in lowercase, however the spec spells the hex digits
    assert block.count("        UDP_CHECK {\n            connect_port 53\n            payload %s\n            require_reply\n"
                       "            connect_timeout 2\n" % DNS_QUERY) == 2
    # the state compares payloads however their hex digits are written
    assert desired_state(spec, "lb1")["virtual_services"]["udp/192.0.2.10/53"]["health_check"]["payload"] == DNS_QUERY


def test_other_checks_keep_their_state_unchanged():
    assert "payload" not in desired_state(load_spec(mutate({})), "lb1")["virtual_services"]["tcp/192.0.2.10/80"]["health_check"]


@pytest.mark.parametrize("spec, message", [
    (udp_service(), "/virtual_services/0/health_check/payload: a udp check needs the datagram to send"),
    (mutate({"/virtual_services/0/health_check": {"type": "udp", "payload": "00"}}),
     "/virtual_services/0/health_check/type: a udp check sends a datagram; this service is TCP."),
    (mutate({"/virtual_services/0/health_check": {"type": "tcp", "payload": "00"}}),
     "/virtual_services/0/health_check/payload: is only sent by udp checks."),
    (mutate({"/virtual_services/0/health_check": {"type": "none", "payload": "00"}}),
     "/virtual_services/0/health_check/payload: is set, but the health check type is 'none'."),
    (udp_service(payload="0g"), "/virtual_services/0/health_check/payload"),
    (udp_service(payload="abc"), "/virtual_services/0/health_check/payload"),
    (udp_service(payload="00" * 256), "/virtual_services/0/health_check/payload"),
])
def test_bad_udp_checks_are_refused_with_their_path(spec, message):
    found = errors(spec)
    assert any(e.startswith(message) for e in found), found


def test_a_loadmaster_refuses_the_udp_check_with_an_alternative():
    spec = udp_service(payload=DNS_QUERY)
    spec["cluster"]["engine"] = "loadmaster"
    assert any("cannot implement health check 'udp'" in e and "use an icmp check" in e for e in errors(spec)), errors(spec)
