# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Requests through a VIP, as a client sends them: one new connection per request.

HTTP(S) requests count as answered with a status below 500 (a 5xx may be the appliance's own
"no server available"); TCP and TLS ones when the connection opens. The answer is the first
line of what came back, which names the real server where the application says who it is.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time

ANSWER_CHARS = 80
BANNER_WAIT = 0.5


def _first_line(data):
    for line in data.decode("utf-8", "replace").splitlines():
        if line.strip():
            return line.strip()[:ANSWER_CHARS]
    return ""


def _context(validate_certs):
    context = ssl.create_default_context()
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _failure(exc):
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, ssl.SSLError):
        return "TLS error: %s" % (exc.reason or exc)
    return "failed: %s" % (exc.strerror if getattr(exc, "strerror", None) else exc)


def _http(scheme, address, port, host, timeout, validate_certs, cookies, path="/"):
    if scheme == "https":
        conn = http.client.HTTPSConnection(address, port, timeout=timeout, context=_context(validate_certs))
    else:
        conn = http.client.HTTPConnection(address, port, timeout=timeout)
    headers = {"Connection": "close", "User-Agent": "lbkit-verify"}
    if host:
        headers["Host"] = host
    if cookies:
        headers["Cookie"] = "; ".join("%s=%s" % item for item in sorted(cookies.items()))
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read(4096)
        received = {}
        for header in response.msg.get_all("Set-Cookie") or []:
            name, dummy, rest = header.partition("=")
            received[name.strip()] = rest.split(";", 1)[0].strip()
        return dict(ok=response.status < 500, status=response.status, result=str(response.status),
                    answer=_first_line(body), cookies=received)
    finally:
        conn.close()


def _stream(scheme, address, port, timeout, validate_certs):
    sock = socket.create_connection((address, port), timeout=timeout)
    try:
        if scheme == "tls":
            sock = _context(validate_certs).wrap_socket(sock, server_hostname=None if not validate_certs else address)
        # Server-initiating protocols (SMTP, SSH...) greet first: show the greeting when there is one.
        sock.settimeout(min(timeout, BANNER_WAIT))
        try:
            banner = sock.recv(4096)
        except (socket.timeout, TimeoutError):
            banner = b""
        return dict(ok=True, status=None, result="connected", answer=_first_line(banner), cookies={})
    finally:
        sock.close()


def request(scheme, address, port, host=None, timeout=2.0, validate_certs=False, cookies=None, path="/"):
    """One request on a new connection: {ok, status, result, answer, cookies, ms}; ``path``: an HTTP request's."""
    started = time.monotonic()
    try:
        if scheme in ("http", "https"):
            out = _http(scheme, address, port, host, timeout, validate_certs, cookies, path)
        elif scheme in ("tcp", "tls"):
            out = _stream(scheme, address, port, timeout, validate_certs)
        else:
            raise ValueError("lbkit does not implement a %r probe" % scheme)
    except (OSError, http.client.HTTPException) as exc:
        out = dict(ok=False, status=None, result=_failure(exc), answer="", cookies={})
    out["ms"] = int((time.monotonic() - started) * 1000)
    return out
