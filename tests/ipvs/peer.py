"""The programs the IPVS scenarios run on their hosts: a real server's HTTP service and the
client's request generators. Standard library only (the guest's Python 3.11).

    peer.py serve NAME PORT                      answer each request with "NAME CLIENT_ADDRESS"
    peer.py get URL COUNT [--interval S] [--timeout S] [--parallel] [--source ADDRESS]
    peer.py load URL SECONDS [--interval S] [--timeout S]   (SIGTERM ends it early, results kept)
    peer.py hold URL                             one long request (the server answers /slow?s=N late)
    peer.py session URL SECONDS [--interval S] [--timeout S]   requests on one kept-alive connection
    peer.py udp-serve NAME PORTS ADDRESS...      answer each datagram with "NAME CLIENT_ADDRESS", on each address
    peer.py udp-get ADDRESS PORT COUNT [--call-id ID] [--timeout S]   one datagram from a new port each

A real server logs every request as a JSON line (its client's address among them); a client
prints one JSON document: a list of {start, ok, server, seen, error} per request, start in
seconds from the first request (``load`` adds ``at``, the wall-clock time it started). Every request is a new TCP connection.
"""

from __future__ import annotations

import argparse
import json
import select
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def plain(address):
    """An address as its family writes it (an IPv4-mapped IPv6 address as IPv4)."""
    return address[7:] if address.startswith("::ffff:") and "." in address else address


def serve(name, ports):
    """An HTTP server on each of ``ports`` (every address of both families); each request is logged
    with the client, the local address and the local port it reached."""
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1 keeps a connection open for a client that asks in HTTP/1.1 (the session command);
        # an HTTP/1.0 request still gets its answer and the connection closed.
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            url = urlsplit(self.path)
            if url.path == "/slow":
                time.sleep(float(parse_qs(url.query).get("s", ["5"])[0]))
            body = ("ok\n" if url.path == "/health" else "%s %s\n" % (name, plain(self.client_address[0]))).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            local = self.connection.getsockname()
            line = {"t": time.time(), "client": plain(self.client_address[0]), "local": plain(local[0]), "port": local[1], "path": self.path}
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()

    class Server(ThreadingHTTPServer):
        # one socket for both families: IPv4 clients arrive as IPv4-mapped addresses (plain() unmaps them)
        address_family = socket.AF_INET6
        daemon_threads = True
        allow_reuse_address = True

        def server_bind(self):
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            ThreadingHTTPServer.server_bind(self)

    servers = [Server(("::", port), Handler) for port in ports]
    sys.stdout.write(json.dumps({"listening": ports, "name": name}) + "\n")
    sys.stdout.flush()
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()


def call_id(data):
    """The Call-ID header of a SIP message, or None."""
    for line in data.decode(errors="replace").split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() in ("call-id", "i"):
            return value.strip()
    return None


def udp_serve(name, ports, addresses):
    """A UDP service on each address and port. Each socket is bound to one address, so its
    answers leave from the address the client asked (the VIP, on a Direct Routing real server)."""
    sockets = []
    for address in addresses:
        for port in ports:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((address, port))
            sockets.append(sock)
    sys.stdout.write(json.dumps({"listening": ports, "addresses": addresses, "name": name}) + "\n")
    sys.stdout.flush()
    while True:
        ready, dummy, dummy = select.select(sockets, [], [])
        for sock in ready:
            data, client = sock.recvfrom(65535)
            sock.sendto(("%s %s\n" % (name, client[0])).encode(), client)
            line = {"t": time.time(), "client": client[0], "client_port": client[1], "local": "%s:%d" % sock.getsockname(), "call_id": call_id(data)}
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()


def sip_options(address, port, call):
    """A SIP OPTIONS request (RFC 3261) with the Call-ID ``call``: what udp_sip persistence reads."""
    return ("OPTIONS sip:lab@%s:%d SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s\r\nMax-Forwards: 70\r\nTo: <sip:lab@%s>\r\n"
            "From: <sip:client@lab>;tag=1\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            % (address, port, address, call, address, call)).encode()


def udp_get(address, port, count, timeout, call=None):
    """``count`` datagrams, each from a new socket (so a new client port: a new IPVS connection);
    each result as ``request`` gives it."""
    results = []
    origin = time.monotonic()
    for dummy in range(count):
        started = time.monotonic()
        out = {"ok": False, "server": None, "seen": None, "error": None, "start": round(started - origin, 4)}
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.settimeout(timeout)
            sock.connect((address, port))
            out["port"] = sock.getsockname()[1]
            sock.send(sip_options(address, port, call) if call else b"query\n")
            words = sock.recv(4096).decode(errors="replace").split()
            if len(words) == 2:
                out.update(ok=True, server=words[0], seen=words[1])
            else:
                out["error"] = "unexpected answer %r" % words
        except OSError as exc:
            out["error"] = "%s: %s" % (type(exc).__name__, exc)
        finally:
            sock.close()
        out["took"] = round(time.monotonic() - started, 4)
        results.append(out)
    return results


def request(url, timeout, source=None, port=None):
    """One HTTP/1.0 GET on a new connection: {ok, server, seen, error, took, port}."""
    parts = urlsplit(url)
    started = time.monotonic()
    out = {"ok": False, "server": None, "seen": None, "error": None}
    try:
        family, kind, proto, dummy, address = socket.getaddrinfo(parts.hostname, parts.port or 80, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            if source or port:
                # a given client port: the one an earlier connection used (its own socket is closed)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((source or "", port or 0))
            try:
                sock.connect(address)
            finally:
                # the client's port, also of a connection that failed (the appliance keys its connections on it)
                out["port"] = sock.getsockname()[1]
            sock.settimeout(max(0.1, timeout - (time.monotonic() - started)) if "/slow" not in url else None)
            path = parts.path + ("?" + parts.query if parts.query else "")
            sock.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path or "/", parts.hostname)).encode())
            data = b""
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        finally:
            sock.close()
        head, dummy, body = data.partition(b"\r\n\r\n")
        words = body.decode(errors="replace").split()
        if head.split(b" ")[1:2] == [b"200"] and len(words) == 2:
            out.update(ok=True, server=words[0], seen=words[1])
        else:
            out["error"] = "unexpected answer %r" % data[:80]
    except OSError as exc:
        out["error"] = "%s: %s" % (type(exc).__name__, exc)
    out["took"] = round(time.monotonic() - started, 4)
    return out


def session(url, seconds, interval, timeout):
    """Requests on one TCP connection kept alive (HTTP/1.1), one every ``interval`` for ``seconds``;
    the run ends at the first failure (the connection is gone). Results as ``request`` gives them."""
    parts = urlsplit(url)
    results = []
    origin = time.monotonic()
    sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout)
    # the connection's client port first, for whoever watches it in IPVS's table
    sys.stdout.write(json.dumps({"session_port": sock.getsockname()[1]}) + "\n")
    sys.stdout.flush()
    reader = sock.makefile("rb")
    try:
        while time.monotonic() - origin < seconds:
            started = time.monotonic()
            out = {"ok": False, "server": None, "seen": None, "error": None, "start": round(started - origin, 4), "at": round(time.time(), 4)}
            try:
                sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (parts.path or "/", parts.hostname)).encode())
                status = reader.readline()
                length = 0
                while True:
                    line = reader.readline()
                    if not line:
                        raise ConnectionError("the connection closed")
                    if line in (b"\r\n", b"\n"):
                        break
                    name, dummy, value = line.decode(errors="replace").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                words = reader.read(length).decode(errors="replace").split()
                if status.split(b" ")[1:2] == [b"200"] and len(words) == 2:
                    out.update(ok=True, server=words[0], seen=words[1])
                else:
                    out["error"] = "unexpected answer %r" % status[:60]
            except (OSError, ValueError) as exc:
                out["error"] = "%s: %s" % (type(exc).__name__, exc)
            out["took"] = round(time.monotonic() - started, 4)
            results.append(out)
            if not out["ok"]:
                break
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    finally:
        reader.close()
        sock.close()
    return results


def get(url, count, interval, timeout, parallel, source, ports=None):
    results = [None] * count
    origin = time.monotonic()

    def one(i):
        start = time.monotonic() - origin
        result = request(url, timeout, source, ports[i] if ports else None)
        result["start"] = round(start, 4)
        results[i] = result

    threads = []
    for i in range(count):
        if parallel:
            thread = threading.Thread(target=one, args=(i,))
            thread.start()
            threads.append(thread)
        else:
            one(i)
        if interval and i + 1 < count:
            time.sleep(interval)
    for thread in threads:
        thread.join()
    return results


def load(url, seconds, interval, timeout):
    """A new connection every ``interval`` for ``seconds`` (or until SIGTERM), each in its own thread."""
    results = []
    lock = threading.Lock()
    origin = time.monotonic()
    threads = []
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *args: stop.set())

    def one(start):
        at = time.time()
        result = request(url, timeout)
        result["start"] = round(start, 4)
        result["at"] = round(at, 4)
        with lock:
            results.append(result)

    tick = 0
    while not stop.is_set():
        start = tick * interval
        if start > seconds:
            break
        delay = origin + start - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        thread = threading.Thread(target=one, args=(time.monotonic() - origin,))
        thread.start()
        threads.append(thread)
        tick += 1
    for thread in threads:
        thread.join()
    return sorted(results, key=lambda r: r["start"])


def main(argv):
    parser = argparse.ArgumentParser(prog="peer.py")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve")
    p.add_argument("name")
    p.add_argument("ports", help="comma-separated")
    p = sub.add_parser("get")
    p.add_argument("url")
    p.add_argument("count", type=int)
    p.add_argument("--interval", type=float, default=0.0)
    p.add_argument("--timeout", type=float, default=3.0)
    p.add_argument("--parallel", action="store_true")
    p.add_argument("--source")
    p.add_argument("--ports", help="the client port of each request, comma-separated (count is their number)")
    p = sub.add_parser("load")
    p.add_argument("url")
    p.add_argument("seconds", type=float)
    p.add_argument("--interval", type=float, default=0.02)
    p.add_argument("--timeout", type=float, default=1.0)
    p = sub.add_parser("hold")
    p.add_argument("url")
    p = sub.add_parser("session")
    p.add_argument("url")
    p.add_argument("seconds", type=float)
    p.add_argument("--interval", type=float, default=0.2)
    p.add_argument("--timeout", type=float, default=2.0)
    p = sub.add_parser("udp-serve")
    p.add_argument("name")
    p.add_argument("ports", help="comma-separated")
    p.add_argument("addresses", nargs="+")
    p = sub.add_parser("udp-get")
    p.add_argument("address")
    p.add_argument("port", type=int)
    p.add_argument("count", type=int)
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument("--call-id")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.name, [int(p) for p in args.ports.split(",")])
        return 0
    if args.command == "udp-serve":
        udp_serve(args.name, [int(p) for p in args.ports.split(",")], args.addresses)
        return 0
    if args.command == "udp-get":
        sys.stdout.write(json.dumps(udp_get(args.address, args.port, args.count, args.timeout, args.call_id)) + "\n")
        return 0
    if args.command == "get":
        ports = [int(p) for p in args.ports.split(",")] if args.ports else None
        if ports and len(ports) != args.count:
            parser.error("--ports names %d ports for %d requests" % (len(ports), args.count))
        out = get(args.url, args.count, args.interval, args.timeout, args.parallel, args.source, ports)
    elif args.command == "session":
        out = session(args.url, args.seconds, args.interval, args.timeout)
    elif args.command == "load":
        out = load(args.url, args.seconds, args.interval, args.timeout)
    else:
        out = [dict(request(args.url, None), start=0.0)]
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
