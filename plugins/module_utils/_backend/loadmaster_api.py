# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The LoadMaster's RESTful API v2: one call, judged; the rate limit; the transports.

A call is a JSON object POSTed to ``/accessv2`` (``cmd``, the credentials, the parameters). The
answer is judged by its ``status``, never by the HTTP status alone: the documentation has the
appliance answer failures with HTTP 4xx and a JSON body, and also ``"status": "fail"`` at HTTP
200. More than 30 calls within 3 seconds drop the connection, so every transport spaces its
calls (``RateLimiter``).

Two transports carry a call: the httpapi connection plugin (``lbkit.loadbalancer.loadmaster``,
the Ansible way: its persistent connection adds the credentials and keeps the rate limit across
tasks) and ``HttpsTransport`` (for the tests, the benchmarks and anything outside Ansible).
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import RuntimeApiError

PATH = "/accessv2"
# Documented: more than 30 calls in less than 3 seconds drop the connection. A margin below it.
WINDOW_S = 3.0
MAX_CALLS = 25


class RateLimiter(object):
    """At most ``max_calls`` calls in any ``window`` seconds: ``wait()`` before each call."""

    def __init__(self, max_calls=MAX_CALLS, window=WINDOW_S, clock=time.monotonic, sleep=time.sleep):
        self.max_calls = max_calls
        self.window = window
        self.clock = clock
        self.sleep = sleep
        self.stamps = []
        self.waited = 0.0

    def wait(self):
        now = self.clock()
        self.stamps = [t for t in self.stamps if now - t < self.window]
        if len(self.stamps) >= self.max_calls:
            pause = self.window - (now - self.stamps[0]) + 0.01
            self.sleep(pause)
            self.waited += pause
            now = self.clock()
            self.stamps = [t for t in self.stamps if now - t < self.window]
        self.stamps.append(now)


def judge(cmd, status_code, text):
    """The answer of ``cmd`` as a dict; RuntimeApiError naming the command and the appliance's reason otherwise."""
    try:
        body = json.loads(text) if text else {}
    except ValueError:
        body = None
    if not isinstance(body, dict):
        if status_code == 401:
            raise RuntimeApiError("the LoadMaster refused the credentials (HTTP 401): check the API key, or the user and password, "
                                  "and that the API is enabled for that user.")
        if status_code == 404:
            raise RuntimeApiError("the LoadMaster has no %s (HTTP 404): lbkit needs firmware 7.2.52 or later, with the API enabled "
                                  "(Certificates & Security > Remote Access) and session management on." % PATH)
        raise RuntimeApiError("the LoadMaster answered %s with HTTP %s and no JSON." % (cmd, status_code))
    if str(body.get("status", "")).lower() != "ok":
        reason = body.get("message") or body.get("Error") or "no reason given"
        raise RuntimeApiError("the LoadMaster refused %s: %s (code %s)." % (cmd, reason, body.get("code", status_code)), code=body.get("code"))
    return body


def request_body(cmd, params, credentials):
    """The JSON body of a call: the command, the credentials and the parameters."""
    body = dict(params)
    body["cmd"] = cmd
    body.update(credentials)
    return body


def credentials(api_key=None, user=None, password=None):
    """The API key wins when both are given, as on the appliance."""
    if api_key:
        return {"apikey": api_key}
    if user:
        return {"apiuser": user, "apipass": password or ""}
    raise RuntimeApiError("no credentials for the LoadMaster: give an API key, or a user and password.")


def encode(text):
    """Binary data (a certificate file, a backup) travels base64-encoded in ``data``."""
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class HttpsTransport(object):
    """Calls over HTTPS with Ansible's ``open_url`` (certificates validated unless told otherwise)."""

    def __init__(self, url, creds, ca_path=None, validate_certs=True, timeout=30.0, limiter=None):
        self.url = url.rstrip("/") + PATH
        self.creds = creds
        self.timeout = timeout
        self.ca_path = ca_path
        self.validate_certs = validate_certs
        self.limiter = limiter or RateLimiter()
        self.calls = 0

    def call(self, cmd, params=None):
        from ansible.module_utils.urls import open_url

        self.limiter.wait()
        self.calls += 1
        data = json.dumps(request_body(cmd, params or {}, self.creds)).encode("utf-8")
        try:
            response = open_url(self.url, data=data, headers={"Content-Type": "application/json"}, method="POST", timeout=self.timeout,
                                validate_certs=self.validate_certs, ca_path=self.ca_path, force_basic_auth=False, use_proxy=False)
            with response:
                return judge(cmd, response.status, response.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as exc:
            return judge(cmd, exc.code, exc.read().decode("utf-8", "replace"))
        except (urllib.error.URLError, OSError) as exc:
            raise RuntimeApiError("the LoadMaster at %s could not be reached for %s: %s" % (self.url, cmd, getattr(exc, "reason", exc))) from None


class HttpApiTransport(object):
    """Calls through Ansible's persistent httpapi connection (the lbkit.loadbalancer.loadmaster plugin)."""

    def __init__(self, connection):
        self.connection = connection
        self.calls = 0

    def call(self, cmd, params=None):
        from ansible.module_utils.connection import ConnectionError as AnsibleConnectionError

        self.calls += 1
        try:
            status_code, text = self.connection.send_request({"cmd": cmd, "params": params or {}})
        except AnsibleConnectionError as exc:
            raise RuntimeApiError("the LoadMaster could not be reached for %s: %s" % (cmd, exc)) from None
        return judge(cmd, status_code, text)
