# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kemp LoadMaster engine's pure half: the API parameters of the spec, the state both sides
are compared in, and the plan of API calls. Pure.

A LoadMaster is converged through its RESTful API v2 (docs/loadmaster.md). Every virtual
service is addressed by its address, port and protocol and every real server by its address
and port, never by an index (global changes renumber the indexes). The desired side is the
spec turned into the parameters lbkit sends; the current side is what ``listvs`` answers. Both
are read into the same state document by the same function (``service_doc``), so the semantic
diff compares like with like, and the operations send exactly the parameters that differ (all
persistence fields together: the appliance keeps old cookie and query fields otherwise).

lbkit owns the virtual services whose nickname starts with ``lbkit-`` and the certificates whose
name starts with ``lbkit``; it never touches anything else on a shared appliance.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._engine.interface import Operation, Plan
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import SpecInvalid
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.diff import diff
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.state import real_server_key
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec import values
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import SpecError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.rules import COOKIE_NAME_MODES, RDP_MODES

OWNED = "lbkit-"
CERT_PREFIX = "lbkit"
# APIv2 (JSON on /accessv2) came with this firmware.
MIN_FIRMWARE = (7, 2, 52)
# Per-service check timing is documented from this firmware on (7.2.60's API SDK); before it the
# appliance's global check settings apply to every service.
CHECK_TIMING_FIRMWARE = (7, 2, 60)
CHECK_TIMING = ("ChkInterval", "ChkTimeout", "ChkRetryCount")
# Adaptive scheduling's agent settings per service (7.2.60's API SDK too); before it, the appliance's
# global adaptive parameters apply (Rules & Checking > Check Parameters).
ADAPTIVE_PARAMS = ("AdaptiveURL", "AdaptivePort", "AdaptiveInterval", "AdaptiveMinPercent")

SCHEDULE = {
    "round_robin": "rr",
    "weighted_round_robin": "wrr",
    "least_connection": "lc",
    "weighted_least_connection": "wlc",
    "fixed_weighting": "fixed",
    "adaptive": "adaptive",
    "source_ip_hash": "sh",
    "weighted_response_time": "dl",
    "url_hash": "uhash",
}
PERSIST = {
    "none": "none",
    "source_ip": "src",
    "server_cookie": "cookie",
    "server_cookie_or_source_ip": "cookie-src",
    "active_cookie": "active-cookie",
    "active_cookie_or_source_ip": "active-cook-src",
    "hash_all_cookies": "cookie-hash",
    "hash_all_cookies_or_source_ip": "cookie-hash-src",
    "super_http": "super",
    "super_http_and_source_ip": "super-src",
    "url_hash": "url",
    "host_header": "host",
    "query_item": "query-hash",
    "ssl_session_id": "ssl",
    "udp_sip": "udpsip",
    "rdp_cookie": "rdp",
    "rdp_cookie_or_source_ip": "rdp-src",
    "rdp_session_broker": "rdp-sb",
}
QOS = {"normal": 0, "minimize_cost": 1, "maximize_reliability": 2, "maximize_throughput": 4, "minimize_delay": 8, "pass_through": 16}
SERVER_INIT = {"none": 0, "smtp": 1, "ssh": 2, "other": 3, "imap4": 4, "mysql": 5, "pop3": 6}
# StartTLSMode with the STARTTLS service type (VStype tls): SMTP when the client asks, FTP, IMAP, POP3.
STARTTLS_MODE = {"none": 0, "smtp": 1, "ftp": 3, "imap4": 4, "pop3": 6}
# AddVia: 0 adds X-Forwarded-For, 2 adds no header.
ADD_VIA = {True: 0, False: 2}
# hatimeout 1-5 = a switchover after 3, 6, 9, 12 or 15 seconds.
HA_TIMEOUTS = (3, 6, 9, 12, 15)

# The parameters lbkit sets on a virtual service, in the order of the state document.
VS_PARAMS = ("NickName", "Enable", "ForceL7", "VStype", "Schedule", "Persist", "PersistTimeout", "Cookie", "QueryTag", "CheckType", "CheckPort",
             "CheckUrl", "CheckHost", "CheckUse1.1", "CheckCodes", "ChkInterval", "ChkTimeout", "ChkRetryCount", "ExtraPorts", "StandbyAddr",
             "StandbyPort", "Transparent", "SubnetOriginating", "AddVia", "Idletime", "QoS", "ServerInit", "SSLAcceleration", "SSLReencrypt", "CertFile",
             "Refreshpersist", "StartTLSMode", "UseforSnat") + ADAPTIVE_PARAMS
PERSIST_PARAMS = ("Persist", "PersistTimeout", "Cookie", "QueryTag", "Refreshpersist")
RS_PARAMS = ("Weight", "Limit", "Forward", "Enable")


def nickname(name):
    return OWNED + name


def certificate_name(name, pem):
    """The certificate's name on the appliance: lbkit's prefix, the service's name in letters and digits
    (the appliance's rule) and the digest of the PEM, so a new certificate is a new name: the
    appliance's certificates are never read back, and a rotation is add, assign, delete the old one."""
    plain = re.sub(r"[^A-Za-z0-9]", "", name)[:40]
    return "%s%s%s" % (CERT_PREFIX, plain, hashlib.sha256(pem.encode("utf-8")).hexdigest()[:12])


def service_key(protocol, address, port):
    return "%s/%s/%d" % (str(protocol).lower(), address, int(port))


def _bool(value):
    if isinstance(value, str):
        return value.strip().lower() in ("y", "yes", "1", "true", "on")
    return bool(value)


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _ports(text):
    """A LoadMaster's ExtraPorts ('80,8000-8080 9002') as the sorted distinct ports."""
    out = set()
    for token in re.split(r"[\s,]+", str(text or "").strip()):
        if not token:
            continue
        low, dummy, high = token.partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            out.update(range(int(low), int(high or low) + 1))
    return sorted(out)


def _ranges(ports):
    return ",".join(values.port_ranges(ports))


def _extra_codes(codes):
    """The spec's expected codes as the LoadMaster's CheckCodes: the codes from 300 up (2xx always count)."""
    out = []
    for low, high in codes:
        out.extend(c for c in range(max(low, 300), high + 1))
    return " ".join(str(c) for c in sorted(set(out)))


def _codes(text):
    """CheckCodes back as the spec's ranges, 200-299 included."""
    return [list(run) for run in values.runs(set(range(200, 300)) | set(int(c) for c in str(text or "").split() if c.isdigit()))]


def ha_timeout(advert_interval_ms):
    """The hatimeout (1-5) whose switchover takes at least three adverts of the spec's interval."""
    wanted = 3 * advert_interval_ms / 1000.0
    for index, seconds in enumerate(HA_TIMEOUTS, 1):
        if seconds >= wanted:
            return index
    return len(HA_TIMEOUTS)


# --- desired ------------------------------------------------------------------------------


def vs_params(vs, certificate=""):
    """The parameters lbkit sets on the virtual service ``vs`` (besides its address, port and protocol);
    ``certificate``: the name of its TLS certificate on the appliance."""
    p, hc, l7 = vs.persistence, vs.health_check, vs.layer7
    params = {
        "NickName": nickname(vs.name),
        "Enable": True,
        "ForceL7": vs.layer == 7,
        "VStype": _vs_type(vs),
        "Schedule": SCHEDULE[vs.scheduling],
        "Persist": PERSIST[p.mode],
        # persistence fields go together: the appliance keeps the old ones otherwise
        "PersistTimeout": p.timeout if p.mode != "none" else 0,
        "Cookie": p.cookie or "" if p.mode in COOKIE_NAME_MODES else "",
        "QueryTag": p.query_item or "" if p.mode == "query_item" else "",
        "Refreshpersist": p.refresh,
        "StartTLSMode": STARTTLS_MODE[l7.starttls] if l7 is not None else 0,
        "CheckType": hc.type,
        "CheckPort": hc.port or 0,
        "CheckUrl": hc.url if hc.type in ("http", "https") else "",
        "CheckHost": hc.host or "" if hc.type in ("http", "https") else "",
        "CheckUse1.1": bool(hc.host) and hc.type in ("http", "https"),
        "CheckCodes": _extra_codes(hc.expected_codes) if hc.type in ("http", "https") else "",
        "ChkInterval": hc.interval if hc.type != "none" else 0,
        "ChkTimeout": hc.timeout if hc.type != "none" else 0,
        "ChkRetryCount": hc.retries if hc.type != "none" else 0,
        "ExtraPorts": _ranges(p2 for p2 in vs.extra_ports if p2 != vs.port),
        "StandbyAddr": str(vs.fallback_server.address) if vs.fallback_server else "",
        "StandbyPort": vs.fallback_server.port if vs.fallback_server else 0,
        "Transparent": l7.transparent if l7 is not None else True,
        # non-transparent: from the appliance's own address on the real servers' subnet (the appliance
        # refuses it with transparency)
        "SubnetOriginating": l7 is not None and not l7.transparent and l7.subnet_originating,
        "AddVia": ADD_VIA[bool(l7 is not None and l7.mode == "http" and l7.x_forwarded_for)],
        "Idletime": l7.idle_timeout if l7 is not None else 660,
        "QoS": QOS[l7.quality_of_service] if l7 is not None else 0,
        "ServerInit": SERVER_INIT[l7.server_initiating] if l7 is not None else 0,
        "SSLAcceleration": l7 is not None and l7.tls is not None,
        "SSLReencrypt": l7 is not None and l7.tls is not None and l7.tls.reencrypt,
        "CertFile": certificate if l7 is not None and l7.tls is not None else "",
        "UseforSnat": vs.use_for_server_nat,
    }
    if vs.scheduling == "adaptive":
        a = vs.adaptive
        params.update(AdaptiveURL=a.path, AdaptivePort=a.port, AdaptiveInterval=a.interval, AdaptiveMinPercent=a.min_load)
    return params


def _vs_type(vs):
    """The service type: HTTP (or HTTP/2), Remote Terminal for the Remote Desktop modes, generic otherwise."""
    l7 = vs.layer7
    if l7 is not None and l7.mode == "http":
        return "http2" if l7.http2 else "http"
    if l7 is not None and l7.starttls != "none":
        return "tls"
    # the Remote Desktop modes go with the appliance's "Remote Terminal" service type
    return "ts" if vs.persistence.mode in RDP_MODES else "gen"


def rs_params(vs, rs):
    """The parameters lbkit sets on real server ``rs`` of ``vs``."""
    return {
        "Weight": rs.weight,
        "Limit": rs.max_connections,
        "Forward": "route" if vs.forwarding == "dr" else "nat",
        "Enable": rs.state == "enabled",
    }


def listing_entry(vs, certificate="", check_timing=True):
    """The desired virtual service as the appliance lists it (what ``service_doc`` reads);
    without the per-service check timing on a firmware that has none."""
    entry = dict(vs_params(vs, certificate), VSAddress=str(vs.address), VSPort=str(vs.port), Protocol=vs.protocol)
    if not check_timing:
        entry = _without_timing(entry)
    entry["Rs"] = [dict(rs_params(vs, rs), Addr=str(rs.address), Port=rs.port) for rs in vs.real_servers]
    return entry


# --- the state document: one reader for both sides -----------------------------------------


def _without_timing(entry):
    """The entry without the per-service settings firmware before 7.2.60 does not have (check timing, adaptive agent)."""
    lower = set(name.lower() for name in CHECK_TIMING + ADAPTIVE_PARAMS)
    return dict((key, value) for key, value in entry.items() if key.lower() not in lower)


def _field(entry, name, default=None):
    """A field of an API answer, whatever the case of its name."""
    if name in entry:
        return entry[name]
    lower = name.lower()
    for key, value in entry.items():
        if key.lower() == lower:
            return value
    return default


def _reverse(table, value, default):
    for key, item in table.items():
        if item == value:
            return key
    return default


def service_doc(entry):
    """(key, state document) of one virtual service as the appliance lists it (or as lbkit would set it)."""
    def get(name, default=None):
        return _field(entry, name, default)

    layer7 = _bool(get("ForceL7", True))
    persist = _reverse(PERSIST, str(get("Persist", "none") or "none"), str(get("Persist")))
    check = str(get("CheckType", "tcp") or "tcp")
    http_check = check in ("http", "https")
    rss = {}
    forwarding = set()
    for rs in get("Rs", []) or []:
        address, port = _rs_key(rs)
        key = real_server_key(_Rs(address, port))
        forwarding.add(str(_field(rs, "Forward", "nat")))
        rss[key] = {
            "address": address,
            "port": port,
            "weight": _int(_field(rs, "Weight"), 1000),
            "max_connections": _int(_field(rs, "Limit")),
            "state": "enabled" if _bool(_field(rs, "Enable", True)) else "drained",
        }
    doc = {
        "name": str(get("NickName", ""))[len(OWNED):] if str(get("NickName", "")).startswith(OWNED) else str(get("NickName", "")),
        "address": str(get("VSAddress", "")),
        "port": _int(get("VSPort")),
        "protocol": str(get("Protocol", "tcp")).lower(),
        "layer": 7 if layer7 else 4,
        "forwarding": "proxy" if layer7 else ("dr" if forwarding == {"route"} else "nat" if forwarding == {"nat"} else None),
        "enabled": _bool(get("Enable", True)),
        "scheduling": _reverse(SCHEDULE, str(get("Schedule", "rr")), str(get("Schedule"))),
        "extra_ports": [p for p in _ports(get("ExtraPorts", "")) if p != _int(get("VSPort"))],
        "persistence": {
            "mode": persist,
            "timeout": _int(get("PersistTimeout")) if persist != "none" else None,
            "cookie": str(get("Cookie", "") or "") or None if persist in COOKIE_NAME_MODES else None,
            "query_item": str(get("QueryTag", "") or "") or None if persist == "query_item" else None,
            "refresh": _bool(get("Refreshpersist", False)),
        },
        "health_check": {
            "type": check,
            "port": _int(get("CheckPort")) or None,
            "url": str(get("CheckUrl", "") or "/") if http_check else None,
            "host": (str(get("CheckHost", "") or "") or None) if http_check else None,
            "expected_codes": _codes(get("CheckCodes", "")) if http_check else None,
            "interval": _int(get("ChkInterval")) if check != "none" and get("ChkInterval") is not None else None,
            "timeout": _int(get("ChkTimeout")) if check != "none" and get("ChkTimeout") is not None else None,
            "retries": _int(get("ChkRetryCount")) if check != "none" and get("ChkRetryCount") is not None else None,
        },
        "fallback_server": ({"address": str(get("StandbyAddr")), "port": _int(get("StandbyPort"))} if get("StandbyAddr") else None),
        "use_for_server_nat": _bool(get("UseforSnat", False)),
        "real_servers": rss,
    }
    if doc["scheduling"] == "adaptive" and get("AdaptivePort") is not None:
        doc["adaptive"] = {"port": _int(get("AdaptivePort")), "path": str(get("AdaptiveURL", "") or ""), "interval": _int(get("AdaptiveInterval")),
                           "min_load": _int(get("AdaptiveMinPercent"))}
    if layer7:
        cert = str(get("CertFile", "") or "")
        doc["layer7"] = {
            "mode": "http" if str(get("VStype", "gen")) in ("http", "http2") else "tcp",
            "http2": str(get("VStype", "gen")) == "http2",
            "starttls": _reverse(STARTTLS_MODE, _int(get("StartTLSMode")), str(get("StartTLSMode"))) if str(get("VStype")) == "tls" else "none",
            "transparent": _bool(get("Transparent", False)),
            "subnet_originating": _bool(get("SubnetOriginating", False)),
            "x_forwarded_for": _int(get("AddVia"), 2) in (0, 1, 5),
            "idle_timeout": _int(get("Idletime"), 660),
            "quality_of_service": _reverse(QOS, _int(get("QoS")), str(get("QoS"))),
            "server_initiating": _reverse(SERVER_INIT, _int(get("ServerInit")), str(get("ServerInit"))),
            "tls": {"certificate": cert, "reencrypt": _bool(get("SSLReencrypt", False))} if _bool(get("SSLAcceleration", False)) else None,
        }
    return service_key(doc["protocol"], doc["address"], doc["port"]), doc


def cluster_doc(name, ha):
    """The cluster part of the state document: the appliance's HA settings, in the spec's words."""
    mode = _int(ha.get("hamode"))
    doc = {"name": name, "mode": "pair" if mode in (1, 2) else "single"}
    if mode in (1, 2):
        doc.update(virtual_router_id=_int(ha.get("havhid")), preferred=_int(ha.get("haprefered")), switchover_s=HA_TIMEOUTS[
            min(max(_int(ha.get("hatimeout"), 1), 1), 5) - 1])
        if _bool(ha.get("hal4update", False)):
            doc["connection_sync"] = True
    return doc


# --- engine data ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Current:
    """What ``read`` found: the firmware, lbkit's services (listing entries by key), the others, the certificates, HA."""

    version: str
    services: dict
    foreign: dict
    certificates: tuple
    ha: dict
    host: str = ""
    # {interface number: (its address, the pair's shared address)}, for the interfaces the spec names
    interfaces: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Desired:
    state: dict
    services: dict
    certificates: dict
    ha: dict = field(default_factory=dict)
    # {"<service key>/<real server key>": the spec's name}: the appliance keeps no real-server names
    names: dict = field(default_factory=dict)
    # whether the firmware sets check timing per service (else it is neither sent nor compared)
    check_timing: bool = True

    def read(self, entry):
        """(key, state document) of an appliance's listing entry, comparable with this one's."""
        return service_doc(entry if self.check_timing else _without_timing(entry))


def _version(text):
    return tuple(_int(p) for p in re.findall(r"\d+", str(text))[:3])


def desired(spec, host, current, tls_material=None):
    """What the appliance should hold for ``spec``; SpecInvalid when the appliance cannot take it."""
    errors = []
    if _version(current.version) < MIN_FIRMWARE:
        errors.append(SpecError("/cluster/engine", "the LoadMaster at %s runs firmware %s; lbkit needs 7.2.52 or later (APIv2, JSON on /accessv2)."
                                % (host, current.version), "update the LoadMaster's firmware."))
    check_timing = _version(current.version) >= CHECK_TIMING_FIRMWARE
    for vs in spec.virtual_services if not check_timing else ():
        for name in ("interval", "timeout", "retries"):
            if name in vs.health_check.given and vs.health_check.type != "none":
                errors.append(SpecError("%s/health_check/%s" % (vs.path, name), "the LoadMaster at %s runs firmware %s, which times checks globally;"
                                        " per-service check timing needs 7.2.60 or later." % (host, current.version),
                                        "remove it (the appliance's global check settings apply), or update the firmware."))
        if vs.scheduling == "adaptive" and "adaptive" in vs.given:
            errors.append(SpecError("%s/adaptive" % vs.path, "the LoadMaster at %s runs firmware %s, which sets the adaptive agent's port, URL and"
                                    " interval globally; per-service settings need 7.2.60 or later." % (host, current.version),
                                    "remove adaptive and set the appliance's adaptive parameters (Rules & Checking > Check Parameters) to the"
                                    " agent's port and /load, or update the firmware."))
    certificates, cert_names = {}, {}
    for vs in spec.virtual_services:
        if vs.layer7 is None or vs.layer7.tls is None:
            continue
        material = (tls_material or {}).get(vs.name)
        if material is None:
            errors.append(SpecError(vs.path + "/layer7/tls", "the module was given no certificate and key for service '%s'." % vs.name,
                                    "run it through the loadmaster role or action (which read the files named here on the controller),"
                                    " or pass them in the module's tls option."))
            continue
        pem = material["certificate"].rstrip() + "\n" + material["key"].rstrip() + "\n"
        cert_names[vs.name] = certificate_name(vs.name, pem)
        certificates[cert_names[vs.name]] = pem
    services = dict((service_key(vs.protocol, vs.address, vs.port), (vs, listing_entry(vs, cert_names.get(vs.name, ""), check_timing)))
                    for vs in spec.virtual_services)
    for key, (vs, entry) in sorted(services.items()):
        if key in current.foreign:
            errors.append(SpecError(vs.path + "/address", "%s is on the LoadMaster as '%s', which lbkit does not own." % (key, current.foreign[key]),
                                    "to let lbkit manage it, set its nickname to %s; or choose another address or port." % nickname(vs.name)))
    ha = _ha_params(spec)
    pair = spec.cluster.ha.mode == "pair"
    appliance_mode = _int(current.ha.get("hamode"))
    if pair and appliance_mode not in (1, 2):
        errors.append(SpecError("/cluster/ha/mode", "the LoadMaster at %s is not in an HA pair (hamode %s)." % (host, appliance_mode),
                                "pair the two units first (docs/loadmaster.md, 'HA pair'): lbkit does not reboot appliances."))
    if not pair and appliance_mode in (1, 2):
        errors.append(SpecError("/cluster/ha/mode", "the LoadMaster at %s is one unit of an HA pair (hamode %s)." % (host, appliance_mode),
                                "set ha.mode pair and list both units, or unpair the appliance."))
    errors.extend(_floating_ips(spec, host, current, pair))
    if errors:
        raise SpecInvalid(errors)
    state = {
        "cluster": cluster_doc(spec.cluster.name, dict(ha, hamode=appliance_mode) if pair else {"hamode": 0}),
        "virtual_services": dict(service_doc(entry) for vs, entry in services.values()),
    }
    names = dict(("%s/%s" % (key, real_server_key(rs)), rs.name) for key, (vs, entry) in services.items() for rs in vs.real_servers)
    return Desired(state=state, services=dict((key, entry) for key, (vs, entry) in services.items()), certificates=certificates, ha=ha,
                   names=names, check_timing=check_timing)


def interface_number(name):
    """The LoadMaster's number of interface ``ethN``."""
    return int(str(name)[3:])


def _bare(address):
    return str(address or "").split("/", 1)[0].strip()


def _floating_ips(spec, host, current, pair):
    """Each floating IP must be the appliance's address on its side: the pair's shared address, or a
    single unit's own one. lbkit checks them and does not set them: they are set when the units
    are paired, and they are the address lbkit talks to."""
    errors = []
    for fip in spec.cluster.floating_ips:
        name = getattr(spec.cluster.interfaces, fip.side)
        if name is None:
            continue
        own, shared = current.interfaces.get(interface_number(name), ("", ""))
        have = _bare(shared if pair else own)
        want = _bare(getattr(fip.address, "ip", fip.address))
        if have != want:
            what = "the pair's shared address" if pair else "the appliance's address"
            errors.append(SpecError(fip.path + "/address", "%s on %s (the %s side) of the LoadMaster at %s is %s, not %s." % (
                what, name, fip.side, host, have or "unset", want), "set the floating IP to %s; lbkit does not change the appliance's "
                "addresses (docs/loadmaster.md, 'HA pair')." % (have or "the appliance's address")))
    return errors


def _ha_params(spec):
    ha = spec.cluster.ha
    if ha.mode != "pair":
        return {}
    preferred = 0
    if ha.preempt:
        preferred = 1 if spec.cluster.nodes[0].priority > spec.cluster.nodes[-1].priority else 2
    return {"havhid": ha.virtual_router_id, "haprefered": preferred, "hatimeout": ha_timeout(ha.advert_interval_ms),
            "hal4update": ha.connection_sync}


# --- operations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Call(Operation):
    """One API call: ``cmd`` with ``params``; ``target`` names the object for people, ``check`` the
    fields the answer must read back with (a write that did not take, or hit another object, fails)."""

    cmd: str
    params: tuple
    target: str
    check: tuple = ()
    secret: bool = False

    def describe(self):
        return "%s %s" % (self.cmd, self.target)

    def arguments(self):
        return dict(self.params)


def _vs_address(key):
    protocol, rest = key.split("/", 1)
    address, port = rest.rsplit("/", 1)
    return (("vs", address), ("port", port), ("prot", protocol))


def same(name, got, wanted):
    """Whether the appliance's value of parameter ``name`` is the one lbkit sends, whatever its
    notation: port lists and status codes as sets, booleans as Y/N, 1/0 or true/false."""
    if name == "ExtraPorts":
        return _ports(got) == _ports(wanted)
    if name == "CheckCodes":
        return sorted(str(got or "").split()) == sorted(str(wanted or "").split())
    return _normal(got) == _normal(wanted)


def _changed(wanted, have, names):
    return [name for name in names if name in wanted and (have is None or not same(name, _field(have, name), wanted[name]))]


def _normal(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if value is None:
        return ""
    if isinstance(value, str) and value.strip().lower() in ("y", "yes", "true"):
        return "1"
    if isinstance(value, str) and value.strip().lower() in ("n", "no", "false"):
        return "0"
    return str(value)


def _rs_key(rs):
    address, port = str(_field(rs, "Addr", "")), _int(_field(rs, "Port"))
    return (address, port)


def plan(desired_state, current):
    """The calls from ``current`` to ``desired_state``: new certificates, removed services, new services
    with their real servers, changed services (real servers added before any is removed), unused
    certificates, HA settings; the changes users see are the semantic diff of the two documents."""
    current_state = {
        "cluster": cluster_doc(desired_state.state["cluster"]["name"], current.ha),
        "virtual_services": dict(desired_state.read(entry) for entry in current.services.values()),
    }
    changes = diff(current_state, desired_state.state, desired_state.names)
    calls = []
    have_certs = set(current.certificates)
    # a certificate's name carries the digest of its PEM: one already there is the same certificate
    for name, pem in sorted(desired_state.certificates.items()):
        if name not in have_certs:
            calls.append(Call("addcert", (("cert", name), ("replace", 0), ("data", pem)), "certificate %s" % name, secret=True))
    # services leaving the spec go first: their ports are then free for the services that come
    for key in sorted(set(current.services) - set(desired_state.services)):
        calls.append(Call("delvs", _vs_address(key), "virtual service %s" % key))
    for key in sorted(desired_state.services):
        wanted = desired_state.services[key]
        have = current.services.get(key)
        address = _vs_address(key)
        names = [n for n in VS_PARAMS if n in wanted]
        differ = _changed(wanted, have, names)
        if have is None:
            params = address + tuple((n, wanted[n]) for n in names)
            calls.append(Call("addvs", params, "virtual service %s" % key, check=tuple((n, wanted[n]) for n in names)))
        elif differ:
            if set(differ) & set(PERSIST_PARAMS):
                differ = sorted(set(differ) | set(p for p in PERSIST_PARAMS if p in wanted), key=names.index)
            calls.append(Call("modvs", address + tuple((n, wanted[n]) for n in differ), "virtual service %s" % key,
                              check=tuple((n, wanted[n]) for n in differ)))
        have_rs = dict((_rs_key(rs), rs) for rs in (_field(have, "Rs", []) or [])) if have else {}
        want_rs = dict((_rs_key(rs), rs) for rs in wanted["Rs"])
        for rkey in sorted(want_rs, key=str):
            rs = want_rs[rkey]
            target = "real server %s in %s" % (real_server_key(_Rs(*rkey)), key)
            rsparams = address + (("rs", rkey[0]), ("rsport", rkey[1]))
            if rkey not in have_rs:
                calls.append(Call("addrs", rsparams + tuple((n, rs[n]) for n in RS_PARAMS), target, check=tuple((n, rs[n]) for n in RS_PARAMS)))
                continue
            rdiffer = _changed(rs, have_rs[rkey], RS_PARAMS)
            if rdiffer:
                calls.append(Call("modrs", rsparams + tuple((n, rs[n]) for n in rdiffer), target, check=tuple((n, rs[n]) for n in rdiffer)))
        for rkey in sorted(set(have_rs) - set(want_rs), key=str):
            calls.append(Call("delrs", address + (("rs", rkey[0]), ("rsport", rkey[1])), "real server %s in %s" % (real_server_key(_Rs(*rkey)), key)))
    for name in sorted(have_certs - set(desired_state.certificates)):
        if name.startswith(CERT_PREFIX):
            calls.append(Call("delcert", (("cert", name),), "certificate %s" % name))
    for param, value in sorted(desired_state.ha.items()):
        if not same(param, current.ha.get(param), value):
            calls.append(Call("set", (("param", param), ("value", value)), "HA %s" % param, check=((param, value),)))
    return Plan(changes, calls)


@dataclass(frozen=True)
class _Rs:
    address: str
    port: int
