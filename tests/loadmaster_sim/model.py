"""The simulated appliance's objects and the checks of their values.

Everything here comes from docs/loadmaster-api-notes.md (the notes cite the public
sources); where the documentation is silent or contradicts itself the choice is marked
CHOICE in a comment and listed in README.md.
"""

import base64
import hashlib
import ipaddress
import re

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12


class ApiError(Exception):
    """A refused call: ``code`` is the JSON code and the HTTP status (422, 400, 405...)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def missing(name):
    # The APIv1 wording of a missing mandatory parameter, HTTP 400 [S2 §2.6].
    return ApiError(400, "%s: String Value missing" % name)


def invalid(name, value, why=""):
    return ApiError(422, "Invalid %s value %s%s" % (name, _show(value), (": " + why) if why else ""))


def _show(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------- value coercion

# Booleans: JSON true/false (APIv2), and the APIv1 spellings Y/N, y/n, 1/0 [S2 §2.7].
# CHOICE: nothing else ("yes", "true" as a string) is accepted.
_TRUE, _FALSE = {"Y", "y", "1"}, {"N", "n", "0"}


def to_bool(name, value):
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value in _TRUE:
        return True
    if isinstance(value, str) and value in _FALSE:
        return False
    raise invalid(name, value, "expected a boolean (true/false, Y/N, 1/0)")


def to_int(name, value, low=None, high=None, allowed=None):
    if isinstance(value, bool):
        raise invalid(name, value, "expected an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        number = int(value)
    else:
        raise invalid(name, value, "expected an integer")
    if allowed is not None and number not in allowed:
        raise invalid(name, value, "one of " + ", ".join(str(a) for a in sorted(allowed)))
    if (low is not None and number < low) or (high is not None and number > high):
        raise invalid(name, value, "out of range %s-%s" % (low, high))
    return number


def to_str(name, value):
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise invalid(name, value, "expected a string")
    return str(value)


def to_address(name, value):
    try:
        return str(ipaddress.ip_address(to_str(name, value).strip()))
    except ValueError:
        raise ApiError(422, "Invalid address %s for %s" % (_show(value), name)) from None


def is_index(value):
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.strip().isdigit())


def vs_port(name, value):
    # VS ports: 3-65530 or the wildcard "*" [S2 §3.6.1.1]. Stored and shown as a string [S7].
    if isinstance(value, str) and value.strip() == "*":
        return "*"
    return str(to_int(name, value, 3, 65530))


def rs_port(name, value):
    # CHOICE: the doc gives 3-65535 for newport [S2 §3.10]; used for rsport too.
    return to_int(name, value, 3, 65535)


# ---------------------------------------------------------------- virtual service fields

SCHEDULES = ("rr", "wrr", "lc", "wlc", "fixed", "adaptive", "sh", "dl", "sdn-adaptive", "uhash")      # [S2 §3.6.1.3]
PERSISTS = ("none", "ssl", "cookie", "active-cookie", "cookie-src", "active-cook-src", "cookie-hash", "cookie-hash-src", "url",
            "query-hash", "host", "header", "super", "super-src", "src", "rdp", "rdp-src", "rdp-sb", "rdp-sb-src", "udpsip")
COOKIE_PERSISTS = ("cookie", "active-cookie", "cookie-src", "active-cook-src")
CHECK_TYPES = ("icmp", "https", "http", "tcp", "smtp", "nntp", "ftp", "telnet", "pop3", "imap", "rdp", "bdata", "ldap", "none")
VS_TYPES = ("gen", "http", "http2", "ts", "tls", "log")
FORWARDS = ("nat", "route")
MAX_EXTRA_PORTS = 510                                                                                   # [S15]
NICKNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.@_-]*")                                                   # [S2 §3.6.1.2]
CERT_NAME = re.compile(r"[A-Za-z0-9]+")   # CHOICE: acme.sh says only alphanumeric names are accepted [S12]


def _choice(values):
    def parse(name, value):
        text = to_str(name, value)
        if text not in values:
            raise invalid(name, value, "one of " + " ".join(values))
        return text
    return parse


def _int_range(low, high):
    return lambda name, value: to_int(name, value, low, high)


def _nickname(name, value):
    text = to_str(name, value)
    if text and not NICKNAME.fullmatch(text):
        raise invalid(name, value, "letters, digits and . @ - _, not starting with a special character")
    return text


def _persist_timeout(name, value):
    # 0-2419200 seconds, rounded down to whole minutes; under 60 s becomes 0 [S2 §3.6.1.3].
    # CHOICE: the doc's maximum (28 days), not the PowerShell SDK's 604800 [S5].
    return to_int(name, value, 0, 2419200) // 60 * 60


def _check_port(name, value):
    number = to_int(name, value)
    if number != 0 and not 3 <= number <= 65530:
        raise invalid(name, value, "0 (unset) or 3-65530")
    return number


def _check_url(name, value):
    text = to_str(name, value)
    if len(text) > 126:                                                                                 # [S2 §3.6.1.8]
        raise invalid(name, value, "at most 126 characters")
    return text


def _check_codes(name, value):
    # Space-separated extra success codes, 300-599 [S2 §3.6.1.8]. CHOICE: commas refused.
    text = to_str(name, value).strip()
    for token in text.split():
        if not token.isdigit() or not 300 <= int(token) <= 599:
            raise invalid(name, value, "space-separated HTTP codes from 300 to 599")
    return " ".join(text.split())


def parse_port_list(name, value):
    """ExtraPorts: single ports and ranges separated by commas and/or spaces ("8000-8080,9002 80").

    The API doc does not spell out the syntax (the notes, NOT FOUND); this is our reading.
    Returns the set of ports; more than 510 distinct ports is refused [S15].
    """
    text = to_str(name, value).strip()
    ports = set()
    for token in filter(None, re.split(r"[\s,]+", text)):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", token)
        if not match:
            raise invalid(name, value, "ports and ranges separated by commas or spaces")
        low, high = int(match.group(1)), int(match.group(2) or match.group(1))
        if low > high or low < 3 or high > 65530:
            raise invalid(name, value, "ports from 3 to 65530")
        ports.update(range(low, high + 1))
        if len(ports) > MAX_EXTRA_PORTS:
            raise invalid(name, value, "more than %d ports" % MAX_EXTRA_PORTS)
    return ports


def _extra_ports(name, value):
    parse_port_list(name, value)
    return " ".join(to_str(name, value).split())     # CHOICE: stored as sent (whitespace collapsed), not normalized


def _standby_addr(name, value):
    text = to_str(name, value).strip()
    return to_address(name, text) if text else ""


def _plain_str(name, value):
    return to_str(name, value)


def _bool(name, value):
    return to_bool(name, value)


# The settable fields of a virtual service: canonical (PascalCase) name -> parser. Names are
# matched case-insensitively. CertFile is checked by the simulator (it needs the certificates).
VS_FIELDS = {
    "NickName": _nickname,
    "Enable": _bool,
    "VStype": _choice(VS_TYPES),
    "ForceL7": _bool,
    "Transparent": _bool,
    "SubnetOriginating": _bool,
    "Schedule": _choice(SCHEDULES),
    "Persist": _choice(PERSISTS),
    "PersistTimeout": _persist_timeout,
    "Cookie": _plain_str,
    "QueryTag": _plain_str,
    "CheckType": _choice(CHECK_TYPES),
    "CheckUrl": _check_url,
    "CheckHost": _plain_str,
    "CheckPort": _check_port,
    "CheckCodes": _check_codes,
    "CheckUse1.1": _bool,
    # Per-VS check timing exists in the 7.2.60 SDK; ranges and defaults NOT FOUND [S5].
    # CHOICE: any integer 0-86400, 0 (the default) meaning "use the global setting".
    "ChkInterval": _int_range(0, 86400),
    "ChkTimeout": _int_range(0, 86400),
    "ChkRetryCount": _int_range(0, 86400),
    "Idletime": _int_range(0, 86400),
    "AddVia": _int_range(0, 6),
    "QoS": lambda name, value: to_int(name, value, allowed={0, 1, 2, 4, 8, 16}),
    "ServerInit": _int_range(0, 6),                                   # CHOICE: doc 0-6, not the SDK's 0-5
    "ExtraPorts": _extra_ports,
    "StandbyAddr": _standby_addr,
    "StandbyPort": _check_port,
    "SSLAcceleration": _bool,
    "SSLReencrypt": _bool,
    "CertFile": _plain_str,
    "Refreshpersist": _bool,
    "StartTLSMode": _int_range(0, 6),
    "UseforSnat": _bool,
    # Per-VS adaptive agent settings exist in the 7.2.60 SDK; ranges NOT FOUND [S5]. CHOICE: the
    # global parameters' ranges (notes §2.4): a port, an interval of 0-86400 s, a percentage.
    "AdaptiveURL": _plain_str,
    "AdaptivePort": _check_port,
    "AdaptiveInterval": _int_range(0, 86400),
    "AdaptiveMinPercent": _int_range(0, 100),
}
VS_FIELD_BY_LOWER = {name.lower(): name for name in VS_FIELDS}

# The order of a virtual service's keys in responses.
VS_OUTPUT = ("Index", "VSAddress", "VSPort", "Protocol", "NickName", "Enable", "VStype", "ForceL7", "Transparent", "SubnetOriginating",
             "Schedule", "Persist", "PersistTimeout", "Cookie", "QueryTag", "CheckType", "CheckUrl", "CheckHost", "CheckPort", "CheckCodes",
             "CheckUse1.1", "ChkInterval", "ChkTimeout", "ChkRetryCount", "Idletime", "AddVia", "QoS", "ServerInit", "ExtraPorts",
             "StandbyAddr", "StandbyPort", "SSLAcceleration", "SSLReencrypt", "CertFile", "Refreshpersist", "StartTLSMode", "UseforSnat",
             "AdaptiveURL", "AdaptivePort", "AdaptiveInterval", "AdaptiveMinPercent", "NumberOfRSs", "Status", "MasterVS", "MasterVSID")


def vs_defaults(port, protocol, transparent_default):
    """The settings of a new virtual service (notes §2.2 and §10)."""
    udp = protocol == "udp"
    # Transparent/SubnetOriginating: the parameter table says Y / 0, the prose and the examples
    # say non-transparent and subnet originating (notes §10.1). transparent_default picks one
    # reading; SubnetOriginating follows as its opposite (table: Y/0, examples: N/Y). UDP
    # services are transparent (forced layer 4) in both readings.
    transparent = True if udp else bool(transparent_default)
    return {
        "NickName": "",
        "Enable": True,
        # "port dependent": port 80 gave http [S4, S13], 20001 gave gen [S7]. CHOICE: 80 -> http, else gen.
        "VStype": "http" if port == "80" and not udp else "gen",
        "ForceL7": not udp,
        "Transparent": transparent,
        "SubnetOriginating": not transparent,
        "Schedule": "rr",
        "Persist": "none",
        "PersistTimeout": 0,
        "Cookie": "",
        "QueryTag": "",
        # Port dependent too: http on port 80 [S4], the doc writes <tcp>. CHOICE: 80 -> http, else tcp.
        "CheckType": "http" if port == "80" and not udp else "tcp",
        "CheckUrl": "",
        "CheckHost": "",
        "CheckPort": 0,
        "CheckCodes": "",
        "CheckUse1.1": False,
        "ChkInterval": 0,
        "ChkTimeout": 0,
        "ChkRetryCount": 0,
        "Idletime": 660,          # the table's default [S2]; examples also show 0 [S4] (notes §10.3)
        "AddVia": 0,              # CHOICE: default not documented
        "QoS": 0,
        "ServerInit": 0,
        "ExtraPorts": "",
        "StandbyAddr": "",
        "StandbyPort": 0,
        "SSLAcceleration": False,
        "SSLReencrypt": False,
        "CertFile": "",
        "Refreshpersist": False,   # CHOICE: default not documented (off: entries refreshed only by new connections)
        "StartTLSMode": 0,
        "UseforSnat": False,       # the parameter table's default (notes §2.2)
        # CHOICE: the WUI's documented starting values (the URL /load, 7 s), port 80, no minimum
        "AdaptiveURL": "/load",
        "AdaptivePort": 80,
        "AdaptiveInterval": 7,
        "AdaptiveMinPercent": 0,
    }


class RealServer:
    def __init__(self, index, addr, port):
        self.index = index
        self.addr = addr
        self.port = port
        self.weight = 1000
        self.limit = 0
        self.forward = "nat"
        self.enable = True
        self.critical = False
        self.follow = 0
        self.healthy = True
        self.active_conns = 0
        self.total_conns = 0

    def status(self):
        # CHOICE: a disabled or unhealthy RS shows "Down" (the doc shows only Up/Down).
        return "Up" if self.enable and self.healthy else "Down"

    def to_api(self, vs_index):
        return {"Status": self.status(), "VSIndex": vs_index, "RsIndex": self.index, "Addr": self.addr, "Port": self.port, "DnsName": "",
                "Forward": self.forward, "Weight": self.weight, "Limit": self.limit, "Follow": self.follow, "Enable": self.enable,
                "Critical": self.critical}

    def dump(self):
        return dict(vars(self))

    @classmethod
    def load(cls, data):
        rs = cls(data["index"], data["addr"], data["port"])
        vars(rs).update(data)
        return rs


class VirtualService:
    """One virtual service, or a SubVS (``parent`` set, no address, port "0").

    Indexes live on the objects, and a SubVS refers to its parent object, so renumbering
    (see Simulator.renumber) moves every reference at once.
    """

    def __init__(self, uid, index, address, port, protocol, settings):
        self.uid = uid                # never changes; seeds the self-signed certificate name
        self.index = index
        self.address = address        # None for a SubVS
        self.port = port              # a string, "0" for a SubVS
        self.protocol = protocol
        self.settings = settings
        self.real_servers = []
        self.parent = None
        self.children = []
        # How a SubVS appears in its parent, like a real server [S2 §3.10, S4 "Create a SubVS"].
        self.entry = None

    def default_cert_name(self):
        # With SSL on and no certificate, the LB shows a self-signed default whose name is
        # 32 hex digits [S6]; not a listed certificate.
        return hashlib.md5(("lbkit-sim-%d" % self.uid).encode()).hexdigest()

    def status(self):
        if not self.settings["Enable"]:
            return "Down"
        if any(rs.status() == "Up" for rs in self.real_servers):
            return "Up"
        if any(child.entry["Enable"] and child.status() == "Up" for child in self.children):
            return "Up"
        return "Down"

    def to_api(self, with_rs=True):
        out = {"Index": self.index}
        if self.address is not None:
            out["VSAddress"] = self.address
        out["VSPort"] = self.port
        out["Protocol"] = self.protocol
        shown = dict(self.settings)
        if shown["SSLReencrypt"]:
            shown["Transparent"] = False          # "ignored (forced off)" while re-encrypting [S2 §3.6.1.3]
        if shown["SSLAcceleration"] and not shown["CertFile"]:
            shown["CertFile"] = self.default_cert_name()
        for key in VS_OUTPUT:
            if key in shown:
                out[key] = shown[key]
            elif key == "NumberOfRSs":
                out[key] = len(self.real_servers)
            elif key == "Status":
                out[key] = self.status()
            elif key == "MasterVS":
                out[key] = len(self.children)     # CHOICE: the fixtures' count of SubVSs, not the doc's 0/1 (notes §10.6)
            elif key == "MasterVSID":
                out[key] = self.parent.index if self.parent else 0
        if with_rs:
            out["Rs"] = [rs.to_api(self.index) for rs in self.real_servers]
            if self.children:
                out["SubVS"] = [child.subvs_entry() for child in self.children]
        return out

    def subvs_entry(self):
        entry = self.entry
        return {"Status": self.status() if entry["Enable"] else "Down", "VSIndex": self.index, "RsIndex": entry["RsIndex"],
                "Name": self.settings["NickName"], "Forward": entry["Forward"], "Weight": entry["Weight"], "Limit": entry["Limit"],
                "Enable": entry["Enable"], "Critical": entry["Critical"]}

    def dump(self):
        return {"uid": self.uid, "index": self.index, "address": self.address, "port": self.port, "protocol": self.protocol,
                "settings": dict(self.settings), "rs": [rs.dump() for rs in self.real_servers],
                "parent": self.parent.uid if self.parent else None, "entry": dict(self.entry) if self.entry else None}


# ---------------------------------------------------------------- certificates

_PEM_KEY = re.compile(rb"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.+?-----END \1PRIVATE KEY-----", re.S)
BAD_CERT = "Invalid certificate or key"


def _public_der(key):
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def parse_certificate(blob, password=None):
    """Check that blob (PEM certificate(s) + key, or PKCS#12) holds a certificate and the private
    key that matches it; return the public description listcert shows. The key is dropped here:
    it is never stored nor echoed."""
    pw = password.encode() if password else None
    key, certs = None, []
    if b"-----BEGIN" in blob:
        try:
            certs = x509.load_pem_x509_certificates(blob)
        except ValueError:
            certs = []
        match = _PEM_KEY.search(blob)
        if match:
            try:
                key = serialization.load_pem_private_key(match.group(0), pw)
            except (ValueError, TypeError):
                key = None
    else:
        try:
            key, leaf, extra = pkcs12.load_key_and_certificates(blob, pw)
            certs = ([leaf] if leaf else []) + list(extra)
        except ValueError:
            key, certs = None, []
    if key is None or not certs or not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ApiError(422, BAD_CERT)
    wanted = _public_der(key.public_key())
    leaf = next((cert for cert in certs if _public_der(cert.public_key()) == wanted), None)
    if leaf is None:
        raise ApiError(422, BAD_CERT)
    public = leaf.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        info = {"type": "RSA", "modulus": "%X" % public.public_numbers().n}
    else:
        info = {"type": "ECC", "publickey": base64.b64encode(_public_der(public)).decode()}   # "ECC" as in S2 §3.12.1
    info["pem"] = leaf.public_bytes(serialization.Encoding.PEM).decode()
    return info
