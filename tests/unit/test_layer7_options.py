"""Layer-7 options: HTTP to HTTPS redirection and HTTP/2 for TLS services."""

import copy

import pytest

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine import linux as engine
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine import loadmaster as lm
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.state import desired_state
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render import haproxy
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import check_spec, load_spec

from .specs import mutate
from . import test_loadmaster_engine as lm_tests

SHOP = "/virtual_services/2"
TLS = {"certificate": "files/shop.pem", "key": "files/shop.key"}


def errors(spec):
    return [str(e) for e in check_spec(spec)[1]]


def shop(**layer7):
    return mutate({SHOP + "/layer7": layer7})


def test_a_tls_service_redirects_plain_http_on_port_80_first():
    spec = load_spec(shop(tls=dict(TLS, redirect_http=True)))
    vs = spec.virtual_services[2]
    lines = haproxy.render_service(vs).splitlines()
    assert lines[1:3] == ["    bind 192.0.2.12:443 ssl crt /etc/lbkit/tls/shop.pem", "    bind 192.0.2.12:80"]
    redirect = lines.index("    http-request redirect scheme https code 301 unless { ssl_fc }")
    assert redirect < lines.index("    option forwardfor") and redirect < lines.index("    http-request set-header X-Forwarded-Proto https")
    assert haproxy.binds(vs) == [("192.0.2.12", 443), ("192.0.2.12", 80)]
    state = desired_state(spec, "lb1")
    assert state["virtual_services"]["tcp/192.0.2.12/443"]["layer7"]["tls"]["redirect_http"] is True
    # HAProxy holds port 80 once the state is applied: a later reload need not check it again
    assert ("192.0.2.12", 80) in engine.state_binds(state)


def test_off_nothing_changes_in_the_file_or_the_state():
    spec = load_spec(shop(tls=TLS))
    assert "redirect" not in haproxy.render_service(spec.virtual_services[2])
    assert "redirect_http" not in desired_state(spec, "lb1")["virtual_services"]["tcp/192.0.2.12/443"]["layer7"]["tls"]
    assert "http2" not in desired_state(spec, "lb1")["virtual_services"]["tcp/192.0.2.12/443"]["layer7"]


@pytest.mark.parametrize("spec, message", [
    (shop(mode="tcp", tls=dict(TLS, redirect_http=True)), "/virtual_services/2/layer7/tls/redirect_http: a redirect is an HTTP answer"),
    (mutate({SHOP + "/port": 80, SHOP + "/layer7": {"tls": dict(TLS, redirect_http=True)}}),
     "/virtual_services/2/layer7/tls/redirect_http: port 80, where plain HTTP is redirected, is one of this TLS service's own ports."),
    (mutate({SHOP + "/layer7": {"tls": dict(TLS, redirect_http=True)}, "/virtual_services/0/address": "192.0.2.12"}),
     "/virtual_services/2/layer7/tls/redirect_http: 192.0.2.12 port 80/tcp is already served by virtual service 'web-dr'"),
    (shop(http2=True), "/virtual_services/2/layer7/http2: HTTP/2 is negotiated in the TLS handshake"),
    (shop(http2=True, mode="tcp", tls=TLS), "/virtual_services/2/layer7/http2"),
])
def test_bad_combinations_are_refused_at_their_field(spec, message):
    found = errors(spec)
    assert any(e.startswith(message) for e in found), found


def test_http2_is_offered_in_the_tls_handshake():
    spec = load_spec(shop(http2=True, tls=TLS))
    assert "    bind 192.0.2.12:443 ssl crt /etc/lbkit/tls/shop.pem alpn h2,http/1.1\n" in haproxy.render_service(spec.virtual_services[2])
    assert desired_state(spec, "lb1")["virtual_services"]["tcp/192.0.2.12/443"]["layer7"]["http2"] is True


def test_a_loadmaster_takes_http2_as_its_service_type_and_refuses_the_redirect():
    data = copy.deepcopy(lm_tests.SPEC)
    shop_vs = next(vs for vs in data["virtual_services"] if vs.get("layer7", {}).get("tls"))
    shop_vs["layer7"]["http2"] = True
    wanted = lm_tests._desired(data)
    (entry,) = [e for e in wanted.services.values() if lm._field(e, "VStype") == "http2"]
    dummy, doc = lm.service_doc(entry)
    assert doc["layer7"]["http2"] is True and doc["layer7"]["mode"] == "http"
    shop_vs["layer7"]["tls"]["redirect_http"] = True
    assert any("HTTP redirector" in e for e in errors(data)), errors(data)


# --- the manuals' remaining options ---------------------------------------------------------------


@pytest.mark.parametrize("spec, message", [
    (mutate({SHOP + "/persistence": {"mode": "source_ip", "cookie_with_port": True}}),
     "/virtual_services/2/persistence/cookie_with_port: names the cookie the appliance inserts, and 'source_ip' inserts none."),
    (mutate({SHOP + "/persistence": {"mode": "none", "refresh": True}}), "/virtual_services/2/persistence/refresh: is set, but persistence mode is 'none'."),
    (mutate({SHOP + "/persistence": {"mode": "source_ip", "refresh": True}}), "/virtual_services/2/persistence/refresh: HAProxy (layer 7) refreshes"),
    (shop(quality_of_service="pass_through"), "/virtual_services/2/layer7/quality_of_service: HAProxy (layer 7) sets a type of service"),
    (shop(starttls="smtp"), "/virtual_services/2/layer7/starttls: STARTTLS is offloaded in tcp mode with a certificate"),
    (shop(starttls="smtp", mode="tcp", tls=TLS), "/virtual_services/2/layer7/starttls: HAProxy (layer 7) cannot take over"),
])
def test_options_haproxy_cannot_take_are_refused_with_an_alternative(spec, message):
    found = errors(spec)
    assert any(e.startswith(message) for e in found), found


def test_the_active_cookie_carries_the_port_when_asked():
    spec = load_spec(mutate({SHOP + "/persistence": {"mode": "active_cookie", "cookie": "SHOP", "cookie_with_port": True}}))
    assert "    cookie SHOP_443 insert indirect nocache maxidle 300s\n" in haproxy.render_service(spec.virtual_services[2])
    assert desired_state(spec, "lb1")["virtual_services"]["tcp/192.0.2.12/443"]["persistence"]["cookie_with_port"] is True


def test_layer_4_keeps_entries_of_open_connections_so_refresh_is_accepted():
    spec = mutate({"/virtual_services/0/persistence": {"mode": "source_ip", "refresh": True}})
    assert errors(spec) == []
    assert desired_state(load_spec(spec), "lb1")["virtual_services"]["tcp/192.0.2.10/80"]["persistence"]["refresh"] is True


def test_a_loadmaster_takes_refresh_pass_through_and_starttls():
    data = copy.deepcopy(lm_tests.SPEC)
    shop_vs = next(vs for vs in data["virtual_services"] if vs.get("layer7", {}).get("tls"))
    shop_vs["persistence"] = {"mode": "source_ip", "refresh": True}
    shop_vs["layer7"] = dict(shop_vs["layer7"], mode="tcp", starttls="imap4", quality_of_service="pass_through")
    assert errors(data) == []
    (entry,) = [e for e in lm_tests._desired(data).services.values() if lm._field(e, "VStype") == "tls"]
    assert (lm._field(entry, "StartTLSMode"), lm._field(entry, "QoS"), lm._field(entry, "Refreshpersist")) == (4, 16, True)
    dummy, doc = lm.service_doc(entry)
    assert doc["layer7"]["starttls"] == "imap4" and doc["layer7"]["quality_of_service"] == "pass_through" and doc["persistence"]["refresh"] is True
    shop_vs["persistence"] = {"mode": "active_cookie", "cookie_with_port": True}
    assert any("for the whole appliance" in e for e in errors(data)), errors(data)
