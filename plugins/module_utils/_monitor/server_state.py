# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Save HAProxy's server states for the configuration it is about to load. Stdlib only.

Installed on every appliance that runs layer-7 services as lbkit's ``haproxy-server-state``
program; HAProxy's systemd unit runs it before each reload and stop (lbkit's drop-in), and
haproxy.cfg tells HAProxy to load the file when it starts (``server-state-file``). So a real
server drained or halted at runtime stays so across any reload or restart, including one
lbkit did not start.

HAProxy restores a server's port from the file too, so a server is kept only while the
configuration about to run names it at the same address and port: a server the configuration
moved starts afresh, in the state its configuration gives it. Before HAProxy's first start the
unit creates the file with no state (``--init``), which HAProxy loads without a warning.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import socket
import sys
import tempfile

# The first line of 'show servers state': the format's version, which HAProxy checks.
VERSION = "1"
_SECTION = re.compile(r"^(listen|backend|frontend|defaults|global|peers|resolvers|userlist|cache|program|ring|mailers)(\s|$)")
_SERVER = re.compile(r"^\s+server\s+(\S+)\s+(\S+)")


def _address(text):
    """(address, port) of a server's ``ADDRESS:PORT`` or ``[IPv6]:PORT``, the address normalised; None otherwise."""
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
    else:
        host, sep, port = text.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit():
        return None
    try:
        return str(ipaddress.ip_address(host)), str(int(port))
    except ValueError:
        return None


def configured_servers(config):
    """{(proxy, server): (address, port)} of the server lines of a haproxy.cfg (listen and backend sections)."""
    out, proxy = {}, None
    for line in config.splitlines():
        section = _SECTION.match(line)
        if section:
            words = line.split()
            proxy = words[1] if section.group(1) in ("listen", "backend") and len(words) > 1 else None
            continue
        server = _SERVER.match(line)
        if server and proxy is not None:
            where = _address(server.group(2))
            if where is not None:
                out[(proxy, server.group(1))] = where
    return out


def kept(dump, servers):
    """The state file for ``servers`` (``configured_servers``) from a ``show servers state`` answer:
    its lines whose server the configuration names at the same address and port. None when the
    answer is not a state dump."""
    lines = dump.splitlines()
    if len(lines) < 2 or lines[0].strip() != VERSION or not lines[1].startswith("# "):
        return None
    columns = lines[1][2:].split()
    try:
        where = [columns.index(name) for name in ("be_name", "srv_name", "srv_addr", "srv_port")]
    except ValueError:
        return None
    out = [lines[0], lines[1]]
    for line in lines[2:]:
        words = line.split()
        if len(words) < len(columns):
            continue
        proxy, server, address, port = (words[i] for i in where)
        if servers.get((proxy, server)) == _address("[%s]:%s" % (address, port)):
            out.append(line)
    return "\n".join(out) + "\n"


def _ask(path, text, timeout):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        sock.sendall(text.encode("ascii") + b"\n")
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    finally:
        sock.close()
    return b"".join(chunks).decode("utf-8", "replace")


def _write(path, text):
    """Replace ``path`` with ``text`` at once (readable by root only)."""
    fd, tmp = tempfile.mkstemp(prefix=".server-state.", dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError:
        os.unlink(tmp)
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(prog="haproxy-server-state", description="Save HAProxy's server states for the configuration it loads next.")
    parser.add_argument("--socket", default="/run/haproxy/admin.sock")
    parser.add_argument("--config", default="/etc/haproxy/haproxy.cfg")
    parser.add_argument("--output", required=True)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--init", action="store_true", help="only create the file, with no state, if there is none (before HAProxy's first start)")
    args = parser.parse_args(argv)
    if args.init:
        try:
            if not os.path.exists(args.output):
                _write(args.output, VERSION + "\n")
        except OSError as exc:
            sys.stderr.write("haproxy-server-state: %s\n" % exc)
            return 1
        return 0
    try:
        dump = _ask(args.socket, "show servers state", args.timeout)
        with open(args.config, encoding="utf-8", errors="replace") as handle:
            config = handle.read()
        text = kept(dump, configured_servers(config))
        if text is None:
            sys.stderr.write("haproxy-server-state: HAProxy's answer is not a server state dump; %s left as it was\n" % args.output)
            return 1
        _write(args.output, text)
    except OSError as exc:
        sys.stderr.write("haproxy-server-state: %s; %s left as it was\n" % (exc, args.output))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
