"""rollback: a change that fails leaves the last good configuration serving, with no failed request."""

import copy
import datetime
import json
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

testinfra_hosts = ["ansible://client"]

VIP = "172.31.249.100"
FILES = "/etc/keepalived/keepalived.conf /etc/haproxy/haproxy.cfg /etc/lbkit/state.json"
LOAD = """rm -f /tmp/load.result
i=0; fail=0
while [ $i -lt COUNT ]; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://VIP/)
  [ "$code" = 200 ] || fail=$((fail+1))
  i=$((i+1)); sleep 0.02
done
echo "$i $fail" > /tmp/load.result
"""


@pytest.fixture
def lb1(host):
    return host.get_host("ansible://lb1", ansible_inventory=host.backend.ansible_inventory)


def spec_with(lb1, **service):
    spec = copy.deepcopy(lb1.ansible.get_variables()["lbkit_spec"])
    base = {"address": VIP, "layer": 7, "real_servers": [{"name": "rs1", "address": "172.31.249.21", "port": 8080}]}
    base.update(service)
    spec["virtual_services"].append(base)
    return spec


def converge(lb1, spec):
    try:
        return lb1.ansible("lbkit.loadbalancer.appliance", "spec='%s' host=lb1" % json.dumps(spec), check=False)
    except Exception as exc:  # testinfra raises on a failed module; its result is what we check
        return getattr(exc, "result", {"failed": True, "msg": str(exc)})


def self_signed(name):
    """A certificate and key (PEM text) for ``name``, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return {"certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()}


def start_load(host, count):
    host.run("cat > /tmp/load.sh <<'EOF'\n%sEOF" % LOAD.replace("COUNT", str(count)).replace("VIP", VIP))
    host.run("nohup sh /tmp/load.sh >/dev/null 2>&1 &")


def load_result(host):
    for dummy in range(120):
        if host.file("/tmp/load.result").exists:
            return tuple(map(int, host.file("/tmp/load.result").content_string.split()))
        time.sleep(0.5)
    raise AssertionError("the load did not finish")


def test_a_broken_key_is_refused_and_the_last_good_one_stays(host, lb1, tmp_path):
    # The spec names the files on the controller; the module's action plugin reads them there.
    good = self_signed("secure")
    (tmp_path / "secure.pem").write_text(good["certificate"])
    (tmp_path / "secure.key").write_text(good["key"])
    spec = spec_with(lb1, name="secure", port=443, layer7={"tls": {"certificate": str(tmp_path / "secure.pem"), "key": str(tmp_path / "secure.key")}})
    result = converge(lb1, spec)
    assert "write /etc/lbkit/tls/secure.pem" in result.get("operations", []), result
    assert lb1.file("/etc/lbkit/tls/secure.pem").mode == 0o600
    assert host.check_output("curl -sSk --max-time 3 https://%s/" % VIP) == "rs1"
    before = lb1.check_output("sha256sum " + FILES + " /etc/lbkit/tls/secure.pem")
    start_load(host, 100)
    # the key replaced by garbage: HAProxy's own check refuses it, quoting why, and nothing changes
    (tmp_path / "secure.key").write_text("-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    result = converge(lb1, spec)
    assert "haproxy rejected the new /etc/haproxy/haproxy.cfg: " in result["msg"], result
    assert "secure.pem" in result["msg"] and "nothing was changed on the appliance" in result["msg"]
    assert lb1.check_output("sha256sum " + FILES + " /etc/lbkit/tls/secure.pem") == before
    assert load_result(host) == (100, 0)
    # the service goes again, with its TLS file
    assert converge(lb1, spec_with(lb1, name="plain", port=8082))["changed"] is True
    assert not lb1.file("/etc/lbkit/tls/secure.pem").exists


def test_port_taken_by_another_program_is_refused_before_the_reload(host, lb1):
    before = lb1.check_output("sha256sum " + FILES)
    # haproxy -c accepts the file, but a reload could not bind: HAProxy would pause its
    # listeners while trying, so the module refuses before reloading anything.
    lb1.run("nohup python3 -m http.server 8081 --bind %s >/dev/null 2>&1 &" % VIP)
    for dummy in range(60):
        if ":8081 " in lb1.check_output("ss -ltn"):
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the squatter did not start listening")
    start_load(host, 100)
    result = converge(lb1, spec_with(lb1, name="admin", port=8081))
    assert "HAProxy could not listen where the new /etc/haproxy/haproxy.cfg says: %s:8081 is in use by python3" % VIP in result["msg"]
    assert "nothing was changed on the appliance" in result["msg"]
    assert lb1.check_output("sha256sum " + FILES) == before
    assert load_result(host) == (100, 0)


def test_failure_after_the_files_are_in_place_restores_them(host, lb1):
    before = lb1.check_output("sha256sum " + FILES + " /etc/sysctl.d/60-lbkit.conf")
    spec = spec_with(lb1, name="v6", address="2001:db8::100", port=80)
    # The new spec needs net.ipv6.ip_nonlocal_bind; with /proc/sys read-only, applying it
    # fails after the new files were moved into place, before any engine reloads.
    lb1.run("mount -o remount,ro /proc/sys")
    start_load(host, 200)
    try:
        result = converge(lb1, spec)
    finally:
        lb1.run("mount -o remount,rw /proc/sys")
    assert result.get("restored") is True, result
    assert "'sysctl -w net.ipv6.ip_nonlocal_bind=1' failed" in result["msg"]
    assert "the previous configuration was restored and is serving" in result["msg"]
    assert lb1.check_output("sha256sum " + FILES + " /etc/sysctl.d/60-lbkit.conf") == before
    assert load_result(host) == (200, 0)
    assert host.check_output("curl -sS --max-time 3 http://%s/" % VIP) == "rs1"
