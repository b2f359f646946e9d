"""Every golden engine config passes the engine's own config test, in the appliance image.

HAProxy 2.6 (`haproxy -c`), keepalived 2.2 (`keepalived --config-test`) and nftables 1.0
(`nft -f`, lbkit's table loaded twice, as its unit's restarts do) from Debian 12 run in the
lbkit test image, with no network (`--network none`): the interfaces the configs name
are created inside the container as veth pairs.
"""

import glob
import os
import subprocess

import pytest

from .tools import appliance_image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, "tests", "unit", "golden")


def _run(argv, timeout=600):
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def image():
    return appliance_image()


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory):
    """A throwaway self-signed certificate for every TLS service of the golden specs."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import datetime

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lbkit.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = tmp_path_factory.mktemp("tls")
    for golden in glob.glob(os.path.join(GOLDEN, "*.haproxy.cfg")):
        with open(golden) as handle:
            for line in handle:
                if " ssl crt " in line:
                    (path / os.path.basename(line.split(" ssl crt ")[1].split()[0])).write_bytes(pem)
    return str(path)


HAPROXY = sorted(glob.glob(os.path.join(GOLDEN, "*.haproxy.cfg")))
KEEPALIVED = sorted(glob.glob(os.path.join(GOLDEN, "*.keepalived.conf")))
NFTABLES = sorted(glob.glob(os.path.join(GOLDEN, "*.netfilter.nft")))


@pytest.fixture(scope="module")
def server_state(tmp_path_factory):
    """HAProxy's server state file as lbkit's unit creates it before the first start (no state yet)."""
    path = tmp_path_factory.mktemp("state") / "server-state"
    path.write_text("1\n")
    return str(path)


@pytest.mark.parametrize("path", HAPROXY, ids=[os.path.basename(p) for p in HAPROXY])
def test_haproxy_accepts(image, tls_dir, server_state, path):
    result = _run([
        "docker", "run", "--rm", "--network", "none",
        "-v", "%s:/etc/haproxy/haproxy.cfg:ro" % path, "-v", "%s:/etc/lbkit/tls:ro" % tls_dir,
        "-v", "%s:/var/lib/haproxy/server-state:ro" % server_state,
        "--entrypoint", "/usr/sbin/haproxy", image, "-c", "-f", "/etc/haproxy/haproxy.cfg",
    ])
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "Configuration file is valid" in out
    assert "[WARNING]" not in out, out


SETUP = (
    "set -e; for i in eth0 eth1; do ip link add $i type veth peer name $i-peer; done; "
    "mkdir -p /usr/local/libexec/lbkit /usr/local/lib/lbkit; "
    "for f in /usr/local/libexec/lbkit/ping-any /usr/local/libexec/lbkit/vrrp-notify /usr/local/lib/lbkit/check-app /usr/local/lib/lbkit/check-dns; do "
    "printf '#!/bin/sh\\nexit 0\\n' > $f; chmod 755 $f; done; "
    "exec keepalived --config-test -f /etc/keepalived/keepalived.conf"
)


@pytest.mark.parametrize("path", KEEPALIVED, ids=[os.path.basename(p) for p in KEEPALIVED])
def test_keepalived_accepts(image, path):
    result = _run([
        "docker", "run", "--rm", "--network", "none", "--cap-add", "NET_ADMIN",
        "-v", "%s:/etc/keepalived/keepalived.conf:ro" % path,
        "--entrypoint", "/bin/sh", image, "-c", SETUP,
    ])
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert out.strip() == "", "keepalived warns:\n" + out


def test_goldens_exist():
    assert HAPROXY and KEEPALIVED


@pytest.mark.parametrize("path", NFTABLES, ids=[os.path.basename(p) for p in NFTABLES])
def test_nftables_loads_lbkits_table_again_and_again(image, path):
    # The container's own network namespace: the table goes with it.
    result = _run([
        "docker", "run", "--rm", "--network", "none", "--cap-add", "NET_ADMIN", "-v", "%s:/etc/lbkit/netfilter.nft:ro" % path,
        "--entrypoint", "/bin/sh", image, "-c", "nft -f /etc/lbkit/netfilter.nft && nft -f /etc/lbkit/netfilter.nft && nft list table inet lbkit",
    ])
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    with open(path) as handle:
        chains = [line.split()[1] for line in handle if line.strip().startswith("chain ")]
    assert chains and all("chain %s {" % name in out for name in chains), out
