"""A stateful simulator of the Kemp LoadMaster RESTful API v2 (JSON on ``POST /accessv2``).

Written by lbkit from the public documentation collected in docs/loadmaster-api-notes.md
(source ids [Sn] below refer to that file). It was never checked against a real LoadMaster.
README.md in this directory lists what is modelled, what is not, and every choice made where
the documentation is silent or contradicts itself (marked CHOICE in the code).

``Simulator`` holds the appliance's state and answers calls; ``LoadMasterServer`` serves it over
HTTPS on 127.0.0.1 with a throwaway CA (``ca_path``) so clients validate certificates.

Note on ``listvs``: every VS in its ``VS`` list embeds its real servers in ``Rs`` (and a parent
its ``SubVS`` entries). Whether a real ``listvs`` embeds ``Rs`` is NOT documented: the doc says
``addvs``/``modvs``/``showvs`` return the full settings including the real servers [S2 §3.6.1],
nothing says the same of ``listvs``. The lbkit engine relies on it for a one-call read; if a real
appliance does not embed them, the engine needs one ``showvs`` per virtual service.
"""

import base64
import binascii
import collections
import hmac
import http.server
import json
import os
import re
import shutil
import ssl
import tempfile
import threading
import time
import traceback
import urllib.parse

from .model import (COOKIE_PERSISTS, CERT_NAME, FORWARDS, VS_FIELD_BY_LOWER, VS_FIELDS, ApiError, RealServer, VirtualService, invalid, is_index,
                    missing, parse_certificate, rs_port, to_address, to_bool, to_int, to_str, vs_defaults, vs_port)
from .tlsca import make_ca_and_server_cert

Reply = collections.namedtuple("Reply", "status content_type body")

UNAUTHORIZED_PAGE = (b"<html><head><title>401 Unauthorized</title></head>"
                     b"<body><h1>Unauthorized</h1><p>Authorization is required to access this resource.</p></body></html>\n")
NOT_FOUND_PAGE = b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>\n"

OK_MESSAGE = "Command completed ok"
CREDENTIAL_KEYS = ("apikey", "apiuser", "apipass")


def _finalpersist(name, value):
    number = to_int(name, value)
    if number != 0 and not 60 <= number <= 86400:                        # [S2 §3.22.4]
        raise invalid(name, value, "0 or 60-86400")
    return number


def _int_range(low, high):
    return lambda name, value: to_int(name, value, low, high)


# Settable get/set parameters: name -> (parser, default). CHOICE: defaults the doc does not give
# (havhid, hatimeout, hawait, hastyle, hostname) are ours. Global transparent/subnetoriginating
# are "no" on a 7.2.54 unit [S10]; they are NOT linked to the defaults of new virtual services
# (see Simulator.transparent_default).
SET_PARAMS = {
    "hamode": (lambda name, value: to_int(name, value, allowed={0, 1, 2}), 0),   # 3 and 4 are read-only modes [S2 §3.22.4]
    "havhid": (_int_range(1, 255), 1),
    "haprefered": (_int_range(0, 2), 0),
    "hatimeout": (_int_range(1, 5), 1),
    "hawait": (_int_range(0, 200), 0),                                       # CHOICE: doc 0-200, not the SDK's 0-180
    "hastyle": (_int_range(0, 1), 1),
    "hal4update": (to_bool, False),
    "hal7update": (to_bool, False),
    "vmac": (to_bool, False),
    "finalpersist": (_finalpersist, 0),
    "hostname": (to_str, "lbkit-sim"),
    "enableapi": (to_bool, True),
    "transparent": (to_bool, False),
    "subnetoriginating": (to_bool, False),
    "dropatdrainend": (to_bool, False),
    "droponfail": (to_bool, False),
    "conntimeout": (_int_range(0, 86400), 660),
    "nonlocalrs": (to_bool, False),
}
READ_ONLY_PARAMS = ("version", "hastatus", "serialnumber", "boottime", "activetime")


class Params:
    """The request's parameters, names matched case-insensitively; remembers which were used."""

    def __init__(self, body):
        self.values, self.duplicates, self.used = {}, [], set()
        for key, value in body.items():
            low = str(key).lower()
            if low in self.values:
                self.duplicates.append(key)
            self.values[low] = (key, value)

    def has(self, name):
        return name in self.values

    def get(self, name, default=None):
        self.used.add(name)
        return self.values[name][1] if name in self.values else default

    def require(self, name):
        value = self.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise missing(name)
        return value

    def unused(self):
        return [key for low, (key, dummy) in self.values.items() if low not in self.used and low not in CREDENTIAL_KEYS and low != "cmd"]

    def shown(self):
        """The parameters for the request log: credentials dropped, binary data summarised."""
        out = {}
        for low, (key, value) in self.values.items():
            if low in CREDENTIAL_KEYS or low == "cmd":
                continue
            out[key] = "<%d characters>" % len(value) if low in ("data", "password") and isinstance(value, str) else value
        return out


class Simulator:
    """The appliance: state, credentials, knobs for tests, and the command handlers.

    Knobs: ``version``, ``accessv2_since``, ``transparent_default``, ``fail_with_http_200``,
    ``rate_limit`` ((calls, seconds) or None), ``renumber_on_addcert``, ``ha_role``, ``interfaces``.
    Counters: ``calls``, ``dropped``, ``calls_by_cmd``, ``renumbered``; ``ignored`` lists the
    (cmd, parameter) pairs a call sent that the command does not know (the API ignores them
    [S2 §2.1]); ``requests`` logs every answered call (credentials dropped); ``errors`` holds
    the tracebacks of simulator bugs (answered HTTP 500).
    """

    DEFAULT_VERSION = "7.2.60.0.22814.RELEASE"

    def __init__(self, apikey="lbkit-sim-apikey", user="bal", password="lbkit-sim-password", version=DEFAULT_VERSION):
        self.lock = threading.RLock()
        self.apikey, self.user, self.password = apikey, user, password
        self.version = version
        self.accessv2_since = (7, 2, 52)          # JSON API beta in 7.2.50, GA in 7.2.52 [S1, S2 §2.2]
        self.transparent_default = True           # the parameter table's reading (notes §10.1)
        self.fail_with_http_200 = False
        self.rate_limit = (30, 3.0)               # more than 30 calls in less than 3 s drop the connection [S2 §2.1]
        self.renumber_on_addcert = True
        self.ha_role = "Active"
        self.serial_number = "1234567"
        self.started = time.time()
        self.interfaces = {0: {"IPAddress": "192.0.2.10/24", "PartnerIPAddress": "", "SharedIPAddress": ""}}
        self.params = {name: default for name, (dummy, default) in SET_PARAMS.items()}
        self.calls, self.dropped, self.renumbered = 0, 0, 0
        self.calls_by_cmd = collections.Counter()
        self.ignored, self.requests, self.errors = [], [], []
        self.vss = []
        self.certs = {}
        self._next_vs, self._next_rs, self._next_uid = 1, 1, 1
        self._window = collections.deque()
        self._failures = {}
        self._commands = {
            "get": self._cmd_get, "set": self._cmd_set, "showiface": self._cmd_showiface, "modiface": self._cmd_modiface,
            "listvs": self._cmd_listvs, "showvs": self._cmd_showvs, "addvs": self._cmd_addvs, "modvs": self._cmd_modvs,
            "delvs": self._cmd_delvs, "addrs": self._cmd_addrs, "modrs": self._cmd_modrs, "delrs": self._cmd_delrs,
            "showrs": self._cmd_showrs, "enablers": self._cmd_enablers, "disablers": self._cmd_disablers,
            "listcert": self._cmd_listcert, "addcert": self._cmd_addcert, "delcert": self._cmd_delcert,
            "backup": self._cmd_backup, "restore": self._cmd_restore, "stats": self._cmd_stats,
        }

    # ------------------------------------------------------------ test helpers (Python side)

    def fail_next(self, cmd, times=1, message="Command Failed"):
        """The next ``times`` authenticated calls of ``cmd`` fail (422, status fail) without touching the state."""
        with self.lock:
            self._failures[cmd] = [times, message]

    def seed(self, cmd, **params):
        """Run one command directly (no HTTP, credentials, rate limit or counters); raise ApiError on a refusal."""
        with self.lock:
            p = Params(dict(params, cmd=cmd))
            if cmd not in self._commands:
                raise ApiError(405, "Unknown command")
            return self._commands[cmd](p)

    def find_vs(self, address, port, protocol="tcp"):
        """The API view of a virtual service (as showvs answers it), or None."""
        with self.lock:
            vs = self._match_vs(to_address("vs", address), vs_port("port", port), str(protocol).lower())
            return vs.to_api() if vs else None

    def set_connections(self, rs, rsport, active=None, total=None, vs_index=None):
        """Set the connection counters ``stats`` reports for real server rs:rsport (in every VS, or in one)."""
        with self.lock:
            for rs_obj in self._real_servers(rs, rsport, vs_index):
                rs_obj.active_conns = rs_obj.active_conns if active is None else active
                rs_obj.total_conns = rs_obj.total_conns if total is None else total

    def set_health(self, rs, rsport, up, vs_index=None):
        """Make rs:rsport pass or fail its health check (its Status Up/Down)."""
        with self.lock:
            for rs_obj in self._real_servers(rs, rsport, vs_index):
                rs_obj.healthy = bool(up)

    def connection_counts(self, vs, rs):
        """(active, total) connections of real server ``rs`` in ``vs``; tests may replace this method."""
        return rs.active_conns, rs.total_conns

    def dump_state(self):
        """Everything, certificates included (public parts only), for --state-dir."""
        with self.lock:
            return {"config": self._config(), "certs": self.certs, "version": self.version, "ha_role": self.ha_role}

    def load_state(self, state):
        with self.lock:
            self._restore_base(state["config"])
            self._restore_vs(state["config"])
            self.certs = dict(state.get("certs", {}))
            self.version = state.get("version", self.version)
            self.ha_role = state.get("ha_role", self.ha_role)

    def renumber(self):
        """Reassign every VS Index by rotating them: each VS takes the index of the next one.

        Adding or replacing a certificate does this (``renumber_on_addcert``); an engine that
        reuses an index read before the certificate change writes to the wrong virtual service.
        NOT documented: the notes found no source describing renumbering (see README.md).
        """
        with self.lock:
            ordered = sorted(self.vss, key=lambda vs: vs.index)
            if len(ordered) < 2:
                return
            indexes = [vs.index for vs in ordered]
            for position, vs in enumerate(ordered):
                vs.index = indexes[(position + 1) % len(ordered)]
            self.renumbered += 1

    # ------------------------------------------------------------ HTTP entry point

    def handle_http(self, method, path, body):
        """Answer one HTTP request: a Reply, or None to drop the connection without answering."""
        with self.lock:
            if self._rate_limited():
                self.dropped += 1
                return None
            self.calls += 1
            try:
                return self._answer(method, path, body)
            except Exception:       # a simulator bug: answer 500 and keep the traceback for the test to show
                self.errors.append(traceback.format_exc())
                return self._json(500, {"code": 500, "status": "fail", "message": "simulator error (see Simulator.errors)"})

    def _rate_limited(self):
        if not self.rate_limit:
            return False
        limit, window = self.rate_limit
        now = time.monotonic()
        self._window.append(now)           # every call counts, dropped ones included
        while self._window and self._window[0] <= now - window:
            self._window.popleft()
        return len(self._window) > limit

    def _answer(self, method, path, body):
        route = urllib.parse.urlsplit(path).path
        if not route.startswith("/accessv2") or not self._has_accessv2():
            return Reply(404, "text/html", NOT_FOUND_PAGE)
        if method != "POST":
            # CHOICE: POST only, as S1/S2 §2.2 say; the Postman doc says GET works too [S3].
            return self._fail(ApiError(405, "Method not allowed"))
        try:
            body = json.loads(body.decode("utf-8") or "null")
        except (UnicodeDecodeError, ValueError):
            body = None
        if not isinstance(body, dict):
            return self._fail(ApiError(400, "The request must be a JSON object"))    # CHOICE: message ours
        p = Params(body)
        cmd = p.get("cmd")
        cmd = cmd if isinstance(cmd, str) else None
        if cmd:
            self.calls_by_cmd[cmd] += 1
        if not self._authorized(p):
            self.requests.append({"cmd": cmd, "params": p.shown(), "code": 401})
            return Reply(401, "text/html", UNAUTHORIZED_PAGE)
        try:
            if p.duplicates:
                raise ApiError(422, "Parameter given more than once: %s" % ", ".join(map(str, p.duplicates)))
            if not cmd:
                raise missing("cmd")
            handler = self._commands.get(cmd)
            if handler is None:
                raise ApiError(405, "Unknown command")
            failure = self._failures.get(cmd)
            if failure:
                failure[0] -= 1
                if failure[0] <= 0:
                    del self._failures[cmd]
                raise ApiError(422, failure[1])
            data = handler(p) or {}
        except ApiError as exc:
            self.requests.append({"cmd": cmd, "params": p.shown(), "code": exc.code})
            return self._fail(exc)
        self.ignored.extend((cmd, key) for key in p.unused())
        self.requests.append({"cmd": cmd, "params": p.shown(), "code": 200})
        out = {"code": 200, "status": "ok", "message": OK_MESSAGE}
        out.update(data)
        return self._json(200, out)

    def _fail(self, exc):
        body = {"code": exc.code, "status": "fail", "message": exc.message}
        return self._json(200 if self.fail_with_http_200 else exc.code, body)

    @staticmethod
    def _json(status, body):
        return Reply(status, "application/json", json.dumps(body).encode("utf-8"))

    def _has_accessv2(self):
        match = re.match(r"(\d+)\.(\d+)\.(\d+)", str(self.version))
        firmware = tuple(int(part) for part in match.groups()) if match else (0, 0, 0)
        # An API switched off answers 404 too ("ensure the API is enabled") [S6, S17].
        return firmware >= tuple(self.accessv2_since) and bool(self.params["enableapi"])

    def _authorized(self, p):
        apikey = p.get("apikey")
        if apikey not in (None, ""):               # the API key wins over user/password [S2 §2.2]
            return isinstance(apikey, str) and hmac.compare_digest(apikey.encode(), self.apikey.encode())
        user, password = p.get("apiuser"), p.get("apipass")
        if not isinstance(user, str) or not isinstance(password, str):
            return False
        return hmac.compare_digest(user.encode(), self.user.encode()) and hmac.compare_digest(password.encode(), self.password.encode())

    # ------------------------------------------------------------ get / set / interfaces

    def _param_value(self, name):
        if name == "version":
            return self.version
        if name == "hastatus":
            return "HA not configured" if self.params["hamode"] == 0 else self.ha_role
        if name == "serialnumber":
            return self.serial_number
        if name == "boottime":
            return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.started))
        if name == "activetime":
            return 0 if self.params["hamode"] and self.ha_role != "Active" else int(time.time() - self.started)
        if name in self.params:
            return self.params[name]
        raise ApiError(422, "Unknown parameter value")                            # [S10]

    def _cmd_get(self, p):
        name = to_str("param", p.require("param")).strip().lower()
        return {name: self._param_value(name)}

    def _cmd_set(self, p):
        name = to_str("param", p.require("param")).strip().lower()
        # Kemp's own example sends "val" (a JSON boolean) [S2 §2.2]; third parties send "value" [S10, S11].
        value = p.get("value") if p.has("value") else p.get("val")
        p.get("val")
        if value is None:
            raise missing("value")
        if name in READ_ONLY_PARAMS:
            raise ApiError(422, "%s is read-only" % name)                           # CHOICE: message ours
        if name not in SET_PARAMS:
            raise ApiError(422, "Unknown parameter value")
        # CHOICE: hamode takes effect at once (a real unit needs a reboot [S2 §3.22.4]).
        self.params[name] = SET_PARAMS[name][0](name, value)
        return {}

    def _interface(self, p, required):
        raw = p.require("interface") if required else p.get("interface", 0)
        number = to_int("interface", raw)
        if number not in self.interfaces:
            raise ApiError(422, "Invalid interface %s" % number)                    # CHOICE: message ours
        return number

    def _cmd_showiface(self, p):
        number = self._interface(p, False)
        iface = self.interfaces[number]
        return {"Interface": {"Id": number, "IPAddress": iface.get("IPAddress", ""), "PartnerIPAddress": iface.get("PartnerIPAddress", ""),
                              "SharedIPAddress": iface.get("SharedIPAddress", "")}}

    def _cmd_modiface(self, p):
        # One parameter per call [S2 §3.13.2]; only partner and shared are modelled.
        number = self._interface(p, True)
        given = [name for name in ("partner", "shared") if p.has(name)]
        if len(given) != 1:
            raise ApiError(422, "modiface takes exactly one of partner, shared")     # CHOICE: message ours
        value = to_str(given[0], p.get(given[0])).strip()
        value = to_address(given[0], value) if value else ""
        self.interfaces[number]["PartnerIPAddress" if given[0] == "partner" else "SharedIPAddress"] = value
        return {}

    # ------------------------------------------------------------ virtual services

    def _match_vs(self, address, port, protocol):
        for vs in self.vss:
            if vs.parent is None and vs.address == address and vs.port == port and vs.protocol == protocol:
                return vs
        return None

    def _by_index(self, index):
        return next((vs for vs in self.vss if vs.index == index), None)

    def _triple(self, p):
        raw = p.require("vs")
        port = p.require("port")
        prot = to_str("prot", p.require("prot")).strip().lower()
        if prot not in ("tcp", "udp"):
            raise invalid("prot", prot, "tcp or udp")
        return to_address("vs", raw), vs_port("port", port), prot

    def _vs(self, p):
        """The VS a call addresses: vs=<Index> (a bare number), or vs+port+prot [S2 §3.6.1]."""
        raw = p.require("vs")
        if is_index(raw):
            p.get("port"), p.get("prot")
            vs = self._by_index(int(raw))
        else:
            vs = self._match_vs(*self._triple(p))
        if vs is None:
            raise ApiError(422, "Unknown VS")                                       # [S5, S8]
        return vs

    def _vs_changes(self, p, vs):
        """Parse every VS setting the call sends, before anything changes (a refusal changes nothing)."""
        changes = {}
        for low in list(p.values):
            canonical = VS_FIELD_BY_LOWER.get(low)
            if canonical:
                changes[canonical] = VS_FIELDS[canonical](canonical, p.get(low))
        if "CertFile" in changes:
            names = changes["CertFile"].split()
            if len(changes["CertFile"]) > 8099:                                     # [S2 §3.6.1.4]
                raise invalid("CertFile", changes["CertFile"], "at most 8099 characters")
            unknown = [name for name in names if name not in self.certs]
            if unknown:
                raise ApiError(422, "Invalid CertFile value: unknown certificate %s" % " ".join(unknown))   # CHOICE: message ours
            changes["CertFile"] = " ".join(names)                                   # space-separated [S2 §3.6.1.4]
        merged = dict(vs.settings if vs else {}, **changes)
        self._check_persistence(merged, changes)
        return changes

    @staticmethod
    def _check_persistence(merged, changes):
        # The cookie name (or query item) goes with a cookie (query-hash) Persist [S2 §3.6.1.3].
        # CHOICE: a name already stored counts (lbkit's reading); the doc says "in the same command".
        if "Persist" in changes or "Cookie" in changes:
            if merged["Persist"] in COOKIE_PERSISTS and not merged["Cookie"]:
                raise ApiError(422, "Cookie missing: Persist %s needs a cookie name" % merged["Persist"])
        if "Persist" in changes or "QueryTag" in changes:
            if merged["Persist"] == "query-hash" and not merged["QueryTag"]:
                raise ApiError(422, "QueryTag missing: Persist query-hash needs a query item name")

    def _new_vs(self, address, port, protocol):
        vs = VirtualService(self._next_uid, self._next_vs, address, port, protocol, vs_defaults(port, protocol, self.transparent_default))
        self._next_uid += 1
        self._next_vs += 1
        self.vss.append(vs)
        return vs

    def _cmd_listvs(self, p):
        return {"VS": [vs.to_api() for vs in sorted(self.vss, key=lambda vs: vs.index)]}

    def _cmd_showvs(self, p):
        return self._vs(p).to_api()

    def _cmd_addvs(self, p):
        address, port, protocol = self._triple(p)
        if self._match_vs(address, port, protocol):
            raise ApiError(422, "Virtual Service already exists")                   # CHOICE: text not documented
        defaults = vs_defaults(port, protocol, self.transparent_default)
        probe = VirtualService(0, 0, address, port, protocol, defaults)
        changes = self._vs_changes(p, probe)
        vs = self._new_vs(address, port, protocol)
        vs.settings.update(changes)
        return vs.to_api()

    def _cmd_modvs(self, p):
        vs = self._vs(p)
        changes = self._vs_changes(p, vs)
        new_address = p.get("vsaddress")
        new_port = p.get("vsport")
        moved = None
        if new_address not in (None, "") or new_port not in (None, ""):
            if vs.parent is not None:
                raise ApiError(422, "A SubVS has no address or port")               # CHOICE: message ours
            moved = (to_address("vsaddress", new_address) if new_address not in (None, "") else vs.address,
                     vs_port("vsport", new_port) if new_port not in (None, "") else vs.port)
            other = self._match_vs(moved[0], moved[1], vs.protocol)
            if other is not None and other is not vs:
                raise ApiError(422, "Virtual Service already exists")
        create_sub = p.has("createsubvs")
        p.get("createsubvs")
        if create_sub and (vs.parent is not None or vs.real_servers):
            # CHOICE: SubVSs and real servers exclude each other on one VS (the converse of "Couldn't create RS" [S10]); message ours.
            raise ApiError(422, "Couldn't create SubVS")
        vs.settings.update(changes)
        if moved:
            vs.address, vs.port = moved
        if create_sub:
            child = self._new_vs(None, "0", vs.protocol)
            child.parent = vs
            child.entry = {"RsIndex": self._next_rs, "Weight": 1000, "Limit": 0, "Enable": True, "Critical": False, "Forward": "nat"}
            self._next_rs += 1
            vs.children.append(child)
        return vs.to_api()

    def _cmd_delvs(self, p):
        vs = self._vs(p)
        doomed = [vs] + list(vs.children)
        if vs.parent is not None:
            vs.parent.children.remove(vs)
        self.vss = [other for other in self.vss if other not in doomed]
        return {}

    # ------------------------------------------------------------ real servers

    def _rs_changes(self, p, with_newport=False):
        changes = {}
        if p.has("weight"):
            changes["weight"] = to_int("weight", p.get("weight"), 1, 65535)        # [S2 §3.10]; 0 is not a weight
        if p.has("limit"):
            changes["limit"] = to_int("limit", p.get("limit"), 0, 100000)
        if p.has("forward"):
            forward = to_str("forward", p.get("forward")).strip().lower()
            if forward not in FORWARDS:
                raise invalid("forward", forward, "nat or route")
            changes["forward"] = forward
        for name in ("enable", "critical"):
            if p.has(name):
                changes[name] = to_bool(name, p.get(name))
        if p.has("follow"):
            follow = to_int("follow", p.get("follow"), 0)
            if follow and not any(rs.index == follow for vs in self.vss for rs in vs.real_servers):
                raise invalid("follow", follow, "no real server has this RsIndex")
            changes["follow"] = follow
        if with_newport and p.has("newport"):
            changes["port"] = to_int("newport", p.get("newport"), 3, 65535)
        return changes

    def _rs(self, vs, p, subvs_entries=False):
        """The RS a call addresses in vs: rs=!<RsIndex>, or rs=<address> + rsport [S2 §3.10]."""
        raw = p.require("rs")
        if isinstance(raw, str) and raw.strip().startswith("!"):
            p.get("rsport")
            text = raw.strip()[1:]
            if not text.isdigit():
                raise invalid("rs", raw, "!<RsIndex>")
            index = int(text)
            found = next((rs for rs in vs.real_servers if rs.index == index), None)
            if found is None and subvs_entries:
                found = next((child for child in vs.children if child.entry["RsIndex"] == index), None)
        else:
            address = to_address("rs", raw)
            port = rs_port("rsport", p.require("rsport"))
            found = next((rs for rs in vs.real_servers if rs.addr == address and rs.port == port), None)
        if found is None:
            raise ApiError(422, "Unknown RS")                                       # [S9]
        return found

    def _real_servers(self, address, port=None, vs_index=None):
        address = to_address("rs", address)
        return [rs for vs in self.vss if vs_index is None or vs.index == vs_index
                for rs in vs.real_servers if rs.addr == address and (port is None or rs.port == int(port))]

    @staticmethod
    def _rs_reply(vs):
        # CHOICE: addrs/modrs answer the VS's whole Rs list (whether v2 returns it is UNCERTAIN, notes §1.2).
        out = {"Rs": [rs.to_api(vs.index) for rs in vs.real_servers]}
        if vs.children:
            out["SubVS"] = [child.subvs_entry() for child in vs.children]
        return out

    def _cmd_addrs(self, p):
        vs = self._vs(p)
        raw = p.require("rs")
        address = to_address("rs", raw)                 # an address, never an index [S2 §3.10]
        port = rs_port("rsport", p.require("rsport"))
        changes = self._rs_changes(p)
        if vs.children:
            raise ApiError(422, "Couldn't create RS")                               # [S10]
        if any(rs.addr == address and rs.port == port for rs in vs.real_servers):
            raise ApiError(422, "Real Server already exists")                       # CHOICE: text not documented
        rs = RealServer(self._next_rs, address, port)
        self._next_rs += 1
        vars(rs).update(changes)
        vs.real_servers.append(rs)
        return self._rs_reply(vs)

    def _cmd_modrs(self, p):
        vs = self._vs(p)
        target = self._rs(vs, p, subvs_entries=True)
        changes = self._rs_changes(p, with_newport=True)
        if isinstance(target, VirtualService):          # a SubVS's entry in its parent [S2 §3.10]
            changes.pop("port", None)
            changes.pop("follow", None)
            for key, value in changes.items():
                target.entry[key.capitalize()] = value
            return self._rs_reply(vs)
        if "port" in changes and any(rs is not target and rs.addr == target.addr and rs.port == changes["port"] for rs in vs.real_servers):
            raise ApiError(422, "Real Server already exists")
        vars(target).update(changes)
        return self._rs_reply(vs)

    def _cmd_delrs(self, p):
        vs = self._vs(p)
        target = self._rs(vs, p)
        vs.real_servers.remove(target)
        return {}

    def _cmd_showrs(self, p):
        vs = self._vs(p)
        return {"Rs": [self._rs(vs, p).to_api(vs.index)]}

    def _enable_everywhere(self, p, enable):
        # enablers/disablers: that address in every VS [S2 §3.10.1.1].
        found = self._real_servers(p.require("rs"))
        if not found:
            raise ApiError(422, "Unknown RS")
        for rs in found:
            rs.enable = enable
        return {}

    def _cmd_enablers(self, p):
        return self._enable_everywhere(p, True)

    def _cmd_disablers(self, p):
        return self._enable_everywhere(p, False)

    # ------------------------------------------------------------ certificates

    def _cmd_listcert(self, p):
        return {"cert": [dict({"name": name}, **{k: v for k, v in info.items() if k != "pem"}) for name, info in sorted(self.certs.items())]}

    def _cmd_addcert(self, p):
        name = to_str("cert", p.require("cert")).strip()
        if not CERT_NAME.fullmatch(name):
            raise invalid("cert", name, "letters and digits only")
        raw = p.require("data")
        replace = to_bool("replace", p.get("replace", 0))
        password = p.get("password")
        try:
            blob = base64.b64decode("".join(to_str("data", raw).split()), validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(422, "Invalid data value: not base64") from None        # never echo data: it holds the key
        if name in self.certs and not replace:
            raise ApiError(422, "Certificate %s already exists" % name)            # CHOICE: message ours
        self.certs[name] = parse_certificate(blob, to_str("password", password) if password not in (None, "") else None)
        if self.renumber_on_addcert:
            self.renumber()
        return {}

    def _cmd_delcert(self, p):
        name = to_str("cert", p.require("cert")).strip()
        if name not in self.certs:
            raise ApiError(422, "Unknown certificate %s" % name)                   # CHOICE: message ours
        users = sorted(vs.index for vs in self.vss if name in vs.settings["CertFile"].split())
        if users:
            # "not possible to delete a certificate assigned to a Virtual Service" [S2 §3.12.1]; message ours.
            raise ApiError(422, "Certificate %s is in use by Virtual Service %s" % (name, ", ".join(map(str, users))))
        del self.certs[name]
        return {}

    # ------------------------------------------------------------ backup and restore

    def _config(self):
        return {"lbkit_sim_backup": 1, "params": dict(self.params),
                "interfaces": {str(number): dict(iface) for number, iface in self.interfaces.items()},
                "vs": [vs.dump() for vs in sorted(self.vss, key=lambda vs: vs.index)],
                "next_vs": self._next_vs, "next_rs": self._next_rs, "next_uid": self._next_uid}

    def _restore_base(self, config):
        self.params = dict(self.params, **config["params"])
        self.interfaces = {int(number): dict(iface) for number, iface in config["interfaces"].items()}

    def _restore_vs(self, config):
        by_uid = {}
        for data in config["vs"]:
            vs = VirtualService(data["uid"], data["index"], data["address"], data["port"], data["protocol"], dict(data["settings"]))
            vs.real_servers = [RealServer.load(rs) for rs in data["rs"]]
            vs.entry = dict(data["entry"]) if data["entry"] else None
            by_uid[vs.uid] = vs
        for data in config["vs"]:
            if data["parent"] is not None:
                child = by_uid[data["uid"]]
                child.parent = by_uid[data["parent"]]
                child.parent.children.append(child)
        self.vss = list(by_uid.values())
        self._next_vs, self._next_rs = config["next_vs"], config["next_rs"]
        self._next_uid = max(self._next_uid, config["next_uid"])

    def _cmd_backup(self, p):
        # CHOICE: our own format (JSON), not a real LoadMaster backup; certificates are not in it [S19, UNCERTAIN].
        return {"data": base64.b64encode(json.dumps(self._config()).encode()).decode()}

    def _cmd_restore(self, p):
        kind = to_int("type", p.require("type"), 1, 15)                         # bitmask: 1 base, 2 VS, 4 GEO, 8 ESP SSO [S2 §3.19.5]
        try:
            config = json.loads(base64.b64decode("".join(to_str("data", p.require("data")).split()), validate=True))
            if not isinstance(config, dict) or config.get("lbkit_sim_backup") != 1:
                raise ValueError("not a backup")
        except (binascii.Error, ValueError):
            raise ApiError(422, "Invalid backup file") from None                   # CHOICE: message ours
        if kind & 1:
            self._restore_base(config)
        if kind & 2:
            self._restore_vs(config)
        return {}

    # ------------------------------------------------------------ statistics

    def _cmd_stats(self, p):
        vs_stats, rs_stats = [], []
        for vs in sorted(self.vss, key=lambda vs: vs.index):
            active = total = 0
            for rs in vs.real_servers:
                rs_active, rs_total = self.connection_counts(vs, rs)
                active, total = active + rs_active, total + rs_total
                # Field names from a Kemp SDK fixture, "ActivConns" sic, "RSIndex" spelled so [S6].
                rs_stats.append({"VSIndex": vs.index, "RSIndex": rs.index, "Addr": rs.addr, "Port": rs.port, "Enable": int(rs.enable),
                                 "Weight": rs.weight, "ActivConns": rs_active, "Persist": 0, "Conns": rs_total})
            vs_stats.append({"VSAddress": vs.address or "", "VSPort": vs.port, "VSProt": vs.protocol, "Index": vs.index,
                             "Status": vs.status().lower(), "ErrorCode": 0, "Enable": int(vs.settings["Enable"]),     # lowercase here [S2 §3.8]
                             "TotalConns": total, "ActiveConns": active})
        return {"Vs": vs_stats, "Rs": rs_stats}


# ---------------------------------------------------------------- HTTPS server


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lbkit-loadmaster-sim"
    sys_version = ""
    timeout = 30

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        reply = self.server.simulator.handle_http(self.command, self.path, body)
        if reply is None:                       # rate limited: close without a word
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type + ("; charset=utf-8" if reply.content_type == "application/json" else ""))
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_POST = do_GET = do_PUT = do_DELETE = _serve

    def log_message(self, format, *args):      # quiet; Simulator.requests is the log
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request, client_address):
        pass                                    # clients that hang up or fail the TLS handshake


class LoadMasterServer:
    """The simulator over HTTPS: ``start()``, ``stop()``, ``url`` (https://127.0.0.1:PORT),
    ``endpoint`` (url + /accessv2), ``ca_path`` (the PEM of the CA that signed the server's
    certificate, which names IP 127.0.0.1 and DNS localhost)."""

    def __init__(self, simulator=None, host="127.0.0.1", port=0, state_dir=None):
        self.simulator = simulator or Simulator()
        self.host, self.requested_port, self.state_dir = host, port, state_dir
        self.ca_path = None
        self._httpd = self._thread = self._tmp = None

    def start(self):
        self._tmp = tempfile.mkdtemp(prefix="lbkit-lm-sim-")
        ca_target = os.path.join(self.state_dir, "ca.pem") if self.state_dir else None
        self.ca_path, cert_path, key_path = make_ca_and_server_cert(self._tmp, ca_target)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert_path, key_path)
        self._httpd = _Server((self.host, self.requested_port), _Handler)
        self._httpd.simulator = self.simulator
        # The handshake happens in each request's thread, so a stalled client blocks nobody.
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True, do_handshake_on_connect=False)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="loadmaster-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(5)
            self._httpd = None
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    @property
    def port(self):
        return self._httpd.server_address[1]

    @property
    def url(self):
        return "https://%s:%d" % (self.host, self.port)

    @property
    def endpoint(self):
        return self.url + "/accessv2"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
