"""The LoadMaster API v2 simulator (tests/loadmaster_sim) against its documented behaviour.

A tiny urllib client talks HTTPS to the simulator in a thread, validating its certificate with
the simulator's throwaway CA. The rate limit is off except in the tests about it.
"""

import base64
import datetime
import functools
import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import types
import urllib.error
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.loadmaster_sim import ApiError, LoadMasterServer, Simulator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEY, USER, PASSWORD = "test-api-key-0123", "bal", "s3cret-pass"


# ---------------------------------------------------------------- fixtures and the tiny client


@pytest.fixture
def lm():
    sim = Simulator(apikey=KEY, user=USER, password=PASSWORD)
    sim.rate_limit = None
    server = LoadMasterServer(sim).start()
    yield server
    server.stop()
    assert not sim.errors, "simulator bugs:\n" + "\n".join(sim.errors)


def post(server, payload, host=None, path="/accessv2", raw=None):
    """POST one JSON body; (HTTP status, content type, body text). Raises OSError when the connection drops."""
    url = server.endpoint.replace("/accessv2", path)
    if host:
        url = url.replace("127.0.0.1", host)
    context = ssl.create_default_context(cafile=server.ca_path)
    data = raw if raw is not None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, response.headers.get_content_type(), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get_content_type(), exc.read().decode()


def api(server, cmd, **params):
    """One authenticated call; (HTTP status, decoded JSON body)."""
    status, ctype, body = post(server, dict(params, apikey=KEY, cmd=cmd))
    assert ctype == "application/json", (status, body)
    return status, json.loads(body)


def ok(server, cmd, **params):
    status, body = api(server, cmd, **params)
    assert (status, body["status"], body["code"]) == (200, "ok", 200), body
    assert body["message"] == "Command completed ok"
    return body


def refused(server, cmd, code=422, **params):
    status, body = api(server, cmd, **params)
    assert (status, body["status"], body["code"]) == (code, "fail", code), body
    return body["message"]


def add_vs(server, address="10.0.0.10", port=80, prot="tcp", **settings):
    return ok(server, "addvs", vs=address, port=port, prot=prot, **settings)


@functools.lru_cache(maxsize=None)
def make_cert(kind="rsa", name="shop.example"):
    """(certificate PEM, key PEM), self-signed."""
    key = rsa.generate_private_key(65537, 2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=2))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def b64(*parts):
    return base64.b64encode(b"".join(parts)).decode()


# ---------------------------------------------------------------- transport and authentication


def test_tls_is_validated_by_ip_and_by_localhost(lm):
    with open(lm.ca_path, "rb") as handle:
        ca = x509.load_pem_x509_certificate(handle.read())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for host in ("127.0.0.1", "localhost"):
        status, ctype, body = post(lm, {"apikey": KEY, "cmd": "get", "param": "version"}, host=host)
        assert status == 200 and json.loads(body)["version"] == "7.2.60.0.22814.RELEASE"
    # Without the CA the certificate is refused: a client that validates learns something.
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(lm.endpoint, data=b"{}", context=ssl.create_default_context(), timeout=5)


def test_apikey_and_user_password_authenticate(lm):
    assert ok(lm, "get", param="hostname")["hostname"] == "lbkit-sim"
    status, dummy, body = post(lm, {"apiuser": USER, "apipass": PASSWORD, "cmd": "get", "param": "version"})
    assert status == 200 and json.loads(body)["status"] == "ok"
    # The API key wins over user/password: a good key with a bad password passes, a bad key with a good password does not.
    assert post(lm, {"apikey": KEY, "apiuser": USER, "apipass": "wrong", "cmd": "listvs"})[0] == 200
    assert post(lm, {"apikey": "wrong", "apiuser": USER, "apipass": PASSWORD, "cmd": "listvs"})[0] == 401


@pytest.mark.parametrize("credentials", [{}, {"apikey": "nope"}, {"apiuser": USER}, {"apiuser": USER, "apipass": "nope"}])
def test_bad_credentials_get_an_html_401(lm, credentials):
    status, ctype, body = post(lm, dict(credentials, cmd="listvs"))
    assert (status, ctype) == (401, "text/html")
    assert body.lstrip().startswith("<html>") and "Unauthorized" in body
    with pytest.raises(ValueError):
        json.loads(body)


def test_paths_and_unknown_commands(lm):
    assert post(lm, {"apikey": KEY, "cmd": "listvs"}, path="/accessv2/anything/here")[0] == 200
    status, ctype, dummy = post(lm, {"apikey": KEY, "cmd": "listvs"}, path="/access/listvs")
    assert (status, ctype) == (404, "text/html")
    assert refused(lm, "frobnicate", code=405) == "Unknown command"
    status, dummy, body = post(lm, None, raw=b"not json")
    assert status == 400 and json.loads(body)["status"] == "fail"
    assert refused(lm, "get", code=400) == "param: String Value missing"


def test_old_firmware_has_no_accessv2():
    sim = Simulator(apikey=KEY, version="7.2.48.1.12345.RELEASE")
    with LoadMasterServer(sim) as server:
        status, ctype, dummy = post(server, {"apikey": KEY, "cmd": "get", "param": "version"})
        assert (status, ctype) == (404, "text/html")
        sim.version = "7.2.52.0"
        assert api(server, "get", param="version")[1]["version"] == "7.2.52.0"
        sim.params["enableapi"] = False          # the API switched off: 404 too
        assert post(server, {"apikey": KEY, "cmd": "listvs"})[0] == 404


# ---------------------------------------------------------------- failures: HTTP 422, or 200 with status fail


def test_failure_at_422_and_at_200(lm):
    assert refused(lm, "showvs", vs="42") == "Unknown VS"
    lm.simulator.fail_with_http_200 = True
    status, body = api(lm, "showvs", vs="42")
    assert status == 200 and body == {"code": 422, "status": "fail", "message": "Unknown VS"}
    status, body = api(lm, "addvs", vs="10.0.0.1", port=80)
    assert status == 200 and (body["code"], body["status"]) == (400, "fail")
    assert body["message"] == "prot: String Value missing"


def test_fail_next_after_credentials_and_without_changing_state(lm):
    sim = lm.simulator
    index = add_vs(lm)["Index"]
    sim.fail_next("modvs", times=2, message="Command Failed: busy")
    assert post(lm, {"apikey": "bad", "cmd": "modvs", "vs": index, "NickName": "x"})[0] == 401     # does not use up a failure
    for dummy in range(2):
        assert refused(lm, "modvs", vs=index, NickName="changed") == "Command Failed: busy"
    assert ok(lm, "showvs", vs=index)["NickName"] == ""
    assert ok(lm, "modvs", vs=index, NickName="changed")["NickName"] == "changed"
    sim.fail_next("listvs")
    assert refused(lm, "listvs") == "Command Failed"
    ok(lm, "listvs")
    assert sim.calls_by_cmd["modvs"] == 4 and sim.calls_by_cmd["listvs"] == 2


# ---------------------------------------------------------------- rate limit (these two sleep)


def test_rate_limit_drops_the_31st_call_within_3_seconds():
    sim = Simulator(apikey=KEY)
    with LoadMasterServer(sim) as server:
        started = time.monotonic()
        for dummy in range(30):
            assert post(server, {"apikey": KEY, "cmd": "get", "param": "version"})[0] == 200
        assert time.monotonic() - started < 2.5, "too slow to test the limit"
        for dummy in range(2):                        # the 31st is dropped, and so is the next: dropped calls still count
            with pytest.raises((OSError, http.client.HTTPException)):
                post(server, {"apikey": KEY, "cmd": "get", "param": "version"})
        assert (sim.calls, sim.dropped) == (30, 2)
        time.sleep(3.05)
        assert post(server, {"cmd": "listvs"})[0] == 401    # the window has passed; unauthenticated calls count too
        assert (sim.calls, sim.dropped) == (31, 2)


def test_a_paced_client_is_never_dropped():
    sim = Simulator(apikey=KEY)
    with LoadMasterServer(sim) as server:
        for dummy in range(33):
            assert post(server, {"apikey": KEY, "cmd": "listvs"})[0] == 200
            time.sleep(0.1)
        assert (sim.calls, sim.dropped) == (33, 0)


# ---------------------------------------------------------------- virtual services


def test_vs_crud_by_triple_and_by_index(lm):
    vs = add_vs(lm, "10.0.0.10", 80, "tcp", NickName="lbkit-web")
    index = vs["Index"]
    assert isinstance(index, int) and vs["VSPort"] == "80" and vs["VSAddress"] == "10.0.0.10" and vs["Protocol"] == "tcp"
    assert (vs["Enable"], vs["Status"], vs["NumberOfRSs"], vs["Rs"]) == (True, "Down", 0, [])
    assert (vs["Schedule"], vs["Persist"], vs["PersistTimeout"], vs["Idletime"], vs["ForceL7"]) == ("rr", "none", 0, 660, True)
    assert (vs["VStype"], vs["CheckType"]) == ("http", "http")
    other = add_vs(lm, "10.0.0.10", 8443, "tcp")
    assert (other["VStype"], other["CheckType"], other["Index"]) == ("gen", "tcp", index + 1)

    assert refused(lm, "addvs", vs="10.0.0.10", port="80", prot="tcp") == "Virtual Service already exists"
    assert ok(lm, "showvs", vs="10.0.0.10", port="80", prot="tcp")["Index"] == index
    assert ok(lm, "showvs", vs=str(index))["NickName"] == "lbkit-web"
    assert ok(lm, "showvs", vs=index)["VSPort"] == "80"                   # a JSON number works as an index too

    changed = ok(lm, "modvs", vs=index, Schedule="wrr", Enable=False, Idletime="120")
    assert (changed["Schedule"], changed["Enable"], changed["Idletime"]) == ("wrr", False, 120)
    moved = ok(lm, "modvs", vs="10.0.0.10", port=80, prot="tcp", vsport="8080")
    assert moved["VSPort"] == "8080" and moved["Index"] == index
    assert refused(lm, "modvs", vs=index, vsport="8443") == "Virtual Service already exists"

    listed = ok(lm, "listvs")["VS"]
    assert [(v["Index"], v["VSPort"]) for v in listed] == [(index, "8080"), (index + 1, "8443")]
    ok(lm, "delvs", vs="10.0.0.10", port="8080", prot="tcp")
    assert refused(lm, "showvs", vs=index) == "Unknown VS"
    assert refused(lm, "delvs", vs="10.0.0.10", port="80", prot="tcp") == "Unknown VS"
    assert [v["Index"] for v in ok(lm, "listvs")["VS"]] == [index + 1]


def test_vs_addressing_errors(lm):
    assert refused(lm, "showvs", code=400) == "vs: String Value missing"
    assert refused(lm, "showvs", code=400, vs="10.0.0.1") == "port: String Value missing"
    assert refused(lm, "showvs", code=400, vs="10.0.0.1", port=80) == "prot: String Value missing"
    assert "prot" in refused(lm, "addvs", vs="10.0.0.1", port=80, prot="sctp")
    assert "vs" in refused(lm, "addvs", vs="not-an-ip", port=80, prot="tcp")
    assert "port" in refused(lm, "addvs", vs="10.0.0.1", port=2, prot="tcp")
    assert "port" in refused(lm, "addvs", vs="10.0.0.1", port=65531, prot="tcp")
    assert add_vs(lm, "2001:db8::0:1", 443)["VSAddress"] == "2001:db8::1"      # IPv6, in its compressed form
    assert ok(lm, "showvs", vs="2001:db8:0::1", port=443, prot="TCP")["VSPort"] == "443"


@pytest.mark.parametrize("param, value", [
    ("Schedule", "fastest"), ("Persist", "sticky"), ("CheckType", "grpc"), ("VStype", "ftp"), ("AddVia", 7), ("QoS", 3),
    ("ServerInit", 7), ("Idletime", 86401), ("PersistTimeout", 2419201), ("PersistTimeout", -1), ("CheckPort", 2),
    ("StandbyPort", 65531), ("NickName", "-web"), ("NickName", "web site"), ("Enable", "maybe"), ("ForceL7", 2),
    ("CheckUrl", "/" + "x" * 126), ("CheckCodes", "200"), ("CheckCodes", "301,302"), ("StandbyAddr", "host.example"),
    ("ExtraPorts", "2"), ("ExtraPorts", "9000-8000"), ("ExtraPorts", "8000-8510"), ("ExtraPorts", "80;81"), ("CertFile", "nosuchcert"),
])
def test_a_bad_vs_value_is_refused_naming_the_parameter_and_changes_nothing(lm, param, value):
    index = add_vs(lm, NickName="keep")["Index"]
    before = ok(lm, "showvs", vs=index)
    good = {"QueryTag": "q"} if param != "QueryTag" else {"Cookie": "c"}         # a good change in the same call is not applied either
    message = refused(lm, "modvs", vs=index, **good, **{param: value})
    assert param in message, message
    assert ok(lm, "showvs", vs=index) == before
    assert param in refused(lm, "addvs", vs="10.9.9.9", port=80, prot="tcp", **{param: value})
    assert len(ok(lm, "listvs")["VS"]) == 1


def test_extra_ports_lists_and_the_510_limit(lm):
    index = add_vs(lm)["Index"]
    assert ok(lm, "modvs", vs=index, ExtraPorts="8000-8080,9002 80")["ExtraPorts"] == "8000-8080,9002 80"
    assert ok(lm, "modvs", vs=index, ExtraPorts="1000-1509")["ExtraPorts"] == "1000-1509"          # exactly 510
    assert ok(lm, "modvs", vs=index, ExtraPorts="1000-1509, 1000 1509")["ExtraPorts"] == "1000-1509, 1000 1509"   # distinct ports count
    assert "510" in refused(lm, "modvs", vs=index, ExtraPorts="1000-1509 2000")
    assert ok(lm, "modvs", vs=index, ExtraPorts="")["ExtraPorts"] == ""


def test_case_insensitive_parameter_names(lm):
    body = dict(apikey=KEY, cmd="addvs", VS="10.0.0.20", PORT="443", Prot="tcp", NICKNAME="lbkit-shop", schedule="lc")
    body["CHECKUSE1.1"] = "Y"
    status, dummy, text = post(lm, body)
    vs = json.loads(text)
    assert status == 200 and (vs["NickName"], vs["Schedule"], vs["CheckUse1.1"]) == ("lbkit-shop", "lc", True)
    assert ok(lm, "modvs", Vs=vs["Index"], persist="src", PersistTimeout=600)["Persist"] == "src"
    assert ok(lm, "showvs", vS="10.0.0.20", pOrT=443, PROT="tcp")["PersistTimeout"] == 600
    assert ok(lm, "get", PARAM="HaMode")["hamode"] == 0
    assert "given more than once" in refused(lm, "modvs", vs=vs["Index"], Schedule="rr", schedule="lc")
    assert not lm.simulator.ignored


def test_unknown_parameters_are_ignored_and_recorded(lm):
    index = add_vs(lm)["Index"]
    ok(lm, "modvs", vs=index, Schedule="lc", NoSuchThing=1, Protocol="udp")
    assert ok(lm, "showvs", vs=index)["Protocol"] == "tcp"
    assert lm.simulator.ignored == [("modvs", "NoSuchThing"), ("modvs", "Protocol")]


# ---------------------------------------------------------------- defaults that the documents disagree on


def test_transparent_default_follows_the_switch(lm):
    tcp = add_vs(lm, port=80)
    assert (tcp["Transparent"], tcp["SubnetOriginating"]) == (True, False)            # the parameter table
    lm.simulator.transparent_default = False
    tcp = add_vs(lm, port=81)
    assert (tcp["Transparent"], tcp["SubnetOriginating"]) == (False, True)            # the prose and the examples
    udp = add_vs(lm, port=53, prot="udp")
    assert (udp["Transparent"], udp["ForceL7"]) == (True, False)
    reencrypt = ok(lm, "modvs", vs=add_vs(lm, port=82, Transparent=True)["Index"], SSLReencrypt=True)
    assert reencrypt["Transparent"] is False                                           # forced off while re-encrypting


# ---------------------------------------------------------------- persistence


def test_persist_change_keeps_cookie_and_query_tag(lm):
    index = add_vs(lm)["Index"]
    assert "Cookie" in refused(lm, "modvs", vs=index, Persist="active-cookie")
    assert "QueryTag" in refused(lm, "modvs", vs=index, Persist="query-hash")
    vs = ok(lm, "modvs", vs=index, Persist="active-cookie", Cookie="SID", PersistTimeout=3600)
    assert (vs["Persist"], vs["Cookie"], vs["PersistTimeout"]) == ("active-cookie", "SID", 3600)
    vs = ok(lm, "modvs", vs=index, Persist="query-hash", QueryTag="user")
    assert (vs["Persist"], vs["Cookie"], vs["QueryTag"]) == ("query-hash", "SID", "user")
    vs = ok(lm, "modvs", vs=index, Persist="src")
    assert (vs["Persist"], vs["Cookie"], vs["QueryTag"]) == ("src", "SID", "user")
    vs = ok(lm, "modvs", vs=index, Persist="cookie")                   # a stored cookie name is enough
    assert (vs["Persist"], vs["Cookie"]) == ("cookie", "SID")
    assert "Cookie" in refused(lm, "modvs", vs=index, Cookie="")
    assert ok(lm, "modvs", vs=index, Persist="none", Cookie="")["Cookie"] == ""


@pytest.mark.parametrize("sent, stored", [(0, 0), (59, 0), (60, 60), (90, 60), (3599, 3540), ("3600", 3600), (2419200, 2419200)])
def test_persist_timeout_is_rounded_down_to_whole_minutes(lm, sent, stored):
    index = add_vs(lm)["Index"]
    assert ok(lm, "modvs", vs=index, Persist="src", PersistTimeout=sent)["PersistTimeout"] == stored


# ---------------------------------------------------------------- real servers


def test_rs_crud_by_address_and_by_index(lm):
    web = add_vs(lm, "10.0.0.10", 80)["Index"]
    api_vs = add_vs(lm, "10.0.0.11", 80)["Index"]
    reply = ok(lm, "addrs", vs=web, rs="10.0.1.1", rsport=8080)
    rs1 = reply["Rs"][-1]
    assert (rs1["Addr"], rs1["Port"], rs1["Weight"], rs1["Limit"], rs1["Forward"], rs1["Enable"], rs1["Critical"], rs1["VSIndex"]) == \
        ("10.0.1.1", 8080, 1000, 0, "nat", True, False, web)
    ok(lm, "addrs", vs="10.0.0.10", port=80, prot="tcp", rs="10.0.1.2", rsport=8080, weight=5, limit=100, forward="route", enable=False)
    other = ok(lm, "addrs", vs=api_vs, rs="10.0.1.1", rsport=8080)["Rs"][0]
    indexes = [rs["RsIndex"] for vs in ok(lm, "listvs")["VS"] for rs in vs["Rs"]]
    assert len(set(indexes)) == 3 and other["RsIndex"] not in (rs1["RsIndex"],)            # unique across the appliance

    assert refused(lm, "addrs", vs=web, rs="10.0.1.1", rsport=8080) == "Real Server already exists"
    shown = ok(lm, "showrs", vs=web, rs="10.0.1.2", rsport=8080)["Rs"]
    assert [(rs["Weight"], rs["Limit"], rs["Forward"], rs["Enable"], rs["Status"]) for rs in shown] == [(5, 100, "route", False, "Down")]
    ok(lm, "modrs", vs=web, rs="!%d" % rs1["RsIndex"], weight=2000, critical=True)
    ok(lm, "modrs", vs=web, rs="10.0.1.2", rsport=8080, enable=True, newport=8081)
    rows = {(rs["Addr"], rs["Port"]): rs for rs in ok(lm, "showvs", vs=web)["Rs"]}
    assert (rows[("10.0.1.1", 8080)]["Weight"], rows[("10.0.1.1", 8080)]["Critical"]) == (2000, True)
    assert rows[("10.0.1.2", 8081)]["Enable"] is True
    assert ok(lm, "showvs", vs=web)["Status"] == "Up"

    assert refused(lm, "modrs", vs=web, rs="10.0.1.9", rsport=8080, weight=1) == "Unknown RS"
    assert refused(lm, "modrs", vs=api_vs, rs="!%d" % rs1["RsIndex"], weight=1) == "Unknown RS"      # an index of another VS
    assert "weight" in refused(lm, "modrs", vs=web, rs="10.0.1.1", rsport=8080, weight=0)
    assert "weight" in refused(lm, "addrs", vs=web, rs="10.0.1.3", rsport=80, weight=65536)
    assert "limit" in refused(lm, "addrs", vs=web, rs="10.0.1.3", rsport=80, limit=100001)
    assert "forward" in refused(lm, "addrs", vs=web, rs="10.0.1.3", rsport=80, forward="tunnel")
    assert refused(lm, "addrs", vs=web, rs="10.0.1.3", code=400) == "rsport: String Value missing"
    assert "rs" in refused(lm, "addrs", vs=web, rs="!3", rsport=80)                                  # addrs takes an address

    ok(lm, "delrs", vs=web, rs="!%d" % rs1["RsIndex"])
    ok(lm, "delrs", vs="10.0.0.10", port=80, prot="tcp", rs="10.0.1.2", rsport=8081)
    assert ok(lm, "showvs", vs=web)["Rs"] == [] and len(ok(lm, "showvs", vs=api_vs)["Rs"]) == 1


def test_enablers_and_disablers_act_in_every_vs(lm):
    for port in (80, 81):
        index = add_vs(lm, port=port)["Index"]
        ok(lm, "addrs", vs=index, rs="10.0.1.1", rsport=8080)
        ok(lm, "addrs", vs=index, rs="10.0.1.2", rsport=8080)
    ok(lm, "disablers", rs="10.0.1.1")
    states = {(vs["Index"], rs["Addr"]): rs["Enable"] for vs in ok(lm, "listvs")["VS"] for rs in vs["Rs"]}
    assert [addr for (dummy, addr), enabled in sorted(states.items()) if not enabled] == ["10.0.1.1", "10.0.1.1"]
    ok(lm, "enablers", rs="10.0.1.1")
    assert all(rs["Enable"] for vs in ok(lm, "listvs")["VS"] for rs in vs["Rs"])
    assert refused(lm, "disablers", rs="10.0.9.9") == "Unknown RS"


def test_subvs_minimal(lm):
    parent = add_vs(lm, "10.0.0.30", 443)["Index"]
    reply = ok(lm, "modvs", vs=parent, createsubvs="")
    entry = reply["SubVS"][-1]
    sub = entry["VSIndex"]
    assert reply["MasterVS"] == 1 and entry["Weight"] == 1000 and entry["Enable"] is True
    listed = {vs["Index"]: vs for vs in ok(lm, "listvs")["VS"]}
    assert "VSAddress" not in listed[sub] and listed[sub]["VSPort"] == "0" and listed[sub]["MasterVSID"] == parent
    assert ok(lm, "modvs", vs=sub, NickName="images", Schedule="lc")["Schedule"] == "lc"
    ok(lm, "addrs", vs=sub, rs="10.0.1.5", rsport=80)
    assert ok(lm, "showvs", vs=sub)["Rs"][0]["VSIndex"] == sub
    assert refused(lm, "addrs", vs=parent, rs="10.0.1.6", rsport=80) == "Couldn't create RS"
    ok(lm, "modrs", vs=parent, rs="!%d" % entry["RsIndex"], weight=10)
    assert ok(lm, "showvs", vs=parent)["SubVS"][0]["Weight"] == 10
    assert ok(lm, "showvs", vs=parent)["SubVS"][0]["Name"] == "images"
    ok(lm, "delvs", vs=sub)
    assert ok(lm, "showvs", vs=parent)["MasterVS"] == 0 and [vs["Index"] for vs in ok(lm, "listvs")["VS"]] == [parent]


# ---------------------------------------------------------------- certificates


def test_addcert_checks_the_pair_and_never_echoes_the_key(lm):
    rsa_cert, rsa_key = make_cert("rsa")
    ec_cert, ec_key = make_cert("ec")
    ok(lm, "addcert", cert="shop1", data=b64(rsa_cert, rsa_key), replace=0)
    ok(lm, "addcert", cert="api2", data=b64(ec_key, ec_cert))                 # key first works too
    certs = ok(lm, "listcert")["cert"]
    assert [(c["name"], c["type"]) for c in certs] == [("api2", "ECC"), ("shop1", "RSA")]
    assert refused(lm, "addcert", cert="bad", data=b64(rsa_cert, ec_key)) == "Invalid certificate or key"
    assert refused(lm, "addcert", cert="bad", data=b64(rsa_cert)) == "Invalid certificate or key"
    assert refused(lm, "addcert", cert="bad", data=b64(rsa_key)) == "Invalid certificate or key"
    assert "data" in refused(lm, "addcert", cert="bad", data="%%% not base64")
    assert "cert" in refused(lm, "addcert", cert="my.cert", data=b64(rsa_cert, rsa_key))
    assert "already exists" in refused(lm, "addcert", cert="shop1", data=b64(ec_cert, ec_key))
    ok(lm, "addcert", cert="shop1", data=b64(ec_cert, ec_key), replace=1)
    assert {c["name"]: c["type"] for c in ok(lm, "listcert")["cert"]}["shop1"] == "ECC"
    everything = "".join(json.dumps(r) for r in (ok(lm, "listcert"), ok(lm, "backup"), lm.simulator.dump_state(), lm.simulator.requests))
    assert "PRIVATE KEY" not in everything and "PRIVATE KEY" not in base64.b64decode(ok(lm, "backup")["data"]).decode()
    assert b64(rsa_key)[:40] not in everything


def test_addcert_renumbers_the_virtual_services(lm):
    sim = lm.simulator
    cert, key = make_cert("ec")
    before = {vs["Index"]: vs["VSPort"] for vs in (add_vs(lm, port=port) for port in (80, 81, 82))}
    ok(lm, "addcert", cert="first", data=b64(cert, key))
    after = {vs["Index"]: vs["VSPort"] for vs in ok(lm, "listvs")["VS"]}
    assert sim.renumbered == 1 and sorted(after) == sorted(before) and after != before
    # The hazard: an index read before the certificate change now names another virtual service.
    stale = next(index for index, port in before.items() if port == "80")
    ok(lm, "modvs", vs=stale, NickName="meant-for-80")
    assert sim.find_vs("10.0.0.10", 80)["NickName"] == "" and ok(lm, "showvs", vs=stale)["VSPort"] != "80"
    ok(lm, "addcert", cert="first", data=b64(cert, key), replace=1)
    assert sim.renumbered == 2
    sim.renumber_on_addcert = False
    ok(lm, "addcert", cert="second", data=b64(cert, key))
    assert sim.renumbered == 2


def test_a_certificate_in_use_cannot_be_deleted(lm):
    cert, key = make_cert("rsa")
    ok(lm, "addcert", cert="shop", data=b64(cert, key))
    ok(lm, "addcert", cert="spare", data=b64(cert, key))
    index = add_vs(lm, port=443)["Index"]
    self_signed = ok(lm, "modvs", vs=index, SSLAcceleration=True)["CertFile"]
    assert len(self_signed) == 32 and self_signed not in [c["name"] for c in ok(lm, "listcert")["cert"]]
    assert ok(lm, "modvs", vs=index, CertFile="shop spare")["CertFile"] == "shop spare"
    assert "in use" in refused(lm, "delcert", cert="shop")
    ok(lm, "modvs", vs=index, CertFile="spare")
    ok(lm, "delcert", cert="shop")
    assert [c["name"] for c in ok(lm, "listcert")["cert"]] == ["spare"]
    assert "shop" in refused(lm, "delcert", cert="shop")


# ---------------------------------------------------------------- backup and restore


def test_backup_and_restore_round_trip(lm):
    web = add_vs(lm, "10.0.0.10", 80, NickName="web", Persist="active-cookie", Cookie="SID")["Index"]
    ok(lm, "addrs", vs=web, rs="10.0.1.1", rsport=8080, weight=7)
    parent = add_vs(lm, "10.0.0.11", 443)["Index"]
    sub = ok(lm, "modvs", vs=parent, createsubvs="")["SubVS"][0]["VSIndex"]
    ok(lm, "addrs", vs=sub, rs="10.0.1.2", rsport=80)
    ok(lm, "set", param="havhid", value="42")
    saved = ok(lm, "listvs")["VS"]
    backup = ok(lm, "backup")["data"]
    base64.b64decode(backup, validate=True)

    ok(lm, "delvs", vs=parent)
    ok(lm, "modrs", vs=web, rs="10.0.1.1", rsport=8080, weight=1)
    ok(lm, "addvs", vs="10.0.0.99", port=25, prot="tcp")
    ok(lm, "set", param="havhid", value="7")
    ok(lm, "restore", data=backup, type=2)                              # the VS configuration only
    assert ok(lm, "listvs")["VS"] == saved
    assert ok(lm, "get", param="havhid")["havhid"] == 7
    ok(lm, "restore", data=backup, type="1")                            # the base configuration
    assert ok(lm, "get", param="havhid")["havhid"] == 42
    assert "type" in refused(lm, "restore", data=backup, type=16)
    assert refused(lm, "restore", data=backup, code=400) == "type: String Value missing"
    assert refused(lm, "restore", data=b64(b"junk"), type=2) == "Invalid backup file"
    assert ok(lm, "listvs")["VS"] == saved


# ---------------------------------------------------------------- get / set, HA, interfaces, stats


def test_get_and_set(lm):
    assert ok(lm, "get", param="hastatus")["hastatus"] == "HA not configured"
    ok(lm, "set", param="hamode", value="1")
    assert ok(lm, "get", param="hastatus")["hastatus"] == "Active"
    lm.simulator.ha_role = "Standby"
    assert ok(lm, "get", param="hastatus")["hastatus"] == "Standby"
    ok(lm, "set", param="haprefered", val=1)                            # Kemp's example spelling
    ok(lm, "set", param="finalpersist", value=600)
    ok(lm, "set", param="hal4update", val=True)
    got = {name: ok(lm, "get", param=name)[name] for name in ("hamode", "haprefered", "finalpersist", "hal4update", "hatimeout", "hawait")}
    assert got == {"hamode": 1, "haprefered": 1, "finalpersist": 600, "hal4update": True, "hatimeout": 1, "hawait": 0}
    assert refused(lm, "get", param="namesecondary") == "Unknown parameter value"
    assert refused(lm, "set", param="namesecondary", value="x") == "Unknown parameter value"
    assert "havhid" in refused(lm, "set", param="havhid", value=256)
    assert "finalpersist" in refused(lm, "set", param="finalpersist", value=30)
    assert "hamode" in refused(lm, "set", param="hamode", value=4)
    assert refused(lm, "set", param="havhid", code=400) == "value: String Value missing"
    assert "read-only" in refused(lm, "set", param="version", value="8")


def test_showiface_and_modiface(lm):
    lm.simulator.interfaces[0].update(IPAddress="10.0.0.2/24", SharedIPAddress="10.0.0.1")
    assert ok(lm, "showiface")["Interface"] == {"Id": 0, "IPAddress": "10.0.0.2/24", "PartnerIPAddress": "", "SharedIPAddress": "10.0.0.1"}
    ok(lm, "modiface", interface=0, partner="10.0.0.3")
    assert ok(lm, "showiface", interface="0")["Interface"]["PartnerIPAddress"] == "10.0.0.3"
    assert refused(lm, "showiface", interface=5) == "Invalid interface 5"
    assert "partner" in refused(lm, "modiface", interface=0, partner="nope")


def test_stats_report_the_counts_tests_set(lm):
    index = add_vs(lm)["Index"]
    ok(lm, "addrs", vs=index, rs="10.0.1.1", rsport=8080)
    ok(lm, "addrs", vs=index, rs="10.0.1.2", rsport=8080, enable=False)
    lm.simulator.set_connections("10.0.1.1", 8080, active=3, total=40)
    stats = ok(lm, "stats")
    rows = {rs["Addr"]: rs for rs in stats["Rs"]}
    assert (rows["10.0.1.1"]["ActivConns"], rows["10.0.1.1"]["Conns"], rows["10.0.1.1"]["Enable"]) == (3, 40, 1)
    assert (rows["10.0.1.2"]["Enable"], rows["10.0.1.2"]["VSIndex"], rows["10.0.1.2"]["Weight"]) == (0, index, 1000)
    assert [(vs["Index"], vs["Status"], vs["TotalConns"], vs["ActiveConns"]) for vs in stats["Vs"]] == [(index, "up", 40, 3)]
    lm.simulator.set_health("10.0.1.1", 8080, False)
    assert ok(lm, "stats")["Vs"][0]["Status"] == "down" and ok(lm, "showvs", vs=index)["Status"] == "Down"


def test_seed_and_find_vs_from_python():
    sim = Simulator()
    index = sim.seed("addvs", vs="10.0.0.5", port="80", prot="tcp", nickname="seeded")["Index"]
    assert sim.find_vs("10.0.0.5", 80)["NickName"] == "seeded" and sim.find_vs("10.0.0.5", 81) is None
    with pytest.raises(ApiError) as caught:
        sim.seed("showvs", vs=index + 1)
    assert caught.value.code == 422 and caught.value.message == "Unknown VS"
    assert sim.calls == 0 and not sim.calls_by_cmd


# ---------------------------------------------------------------- the command line, for playbook runs


def test_command_line_prints_its_address_and_keeps_state(tmp_path):
    def run():
        proc = subprocess.Popen([sys.executable, "-m", "tests.loadmaster_sim", "--port", "0", "--state-dir", str(tmp_path),
                                 "--apikey", KEY, "--no-rate-limit"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        try:
            info = json.loads(proc.stdout.readline())
        except ValueError:
            proc.kill()
            proc.wait()
            raise
        return proc, types.SimpleNamespace(endpoint=info["endpoint"], ca_path=info["ca_path"])

    proc, server = run()
    try:
        assert server.ca_path == str(tmp_path / "ca.pem")
        ok(server, "addvs", vs="10.0.0.40", port=80, prot="tcp", NickName="kept")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    proc, server = run()
    try:
        assert [vs["NickName"] for vs in ok(server, "listvs")["VS"]] == ["kept"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
