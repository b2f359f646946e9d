# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: loadmaster
short_description: HttpApi plugin for the Kemp LoadMaster's RESTful API v2
version_added: 0.1.0
description:
  - Carries the calls of lbkit's LoadMaster modules to the appliance - a JSON object POSTed to
    C(/accessv2) (firmware 7.2.52 and later, session management enabled) - with the credentials
    added here, in the persistent connection, so they never reach a module's result or log.
  - Credentials - an API key (O(api_key)), or a user and password (C(ansible_user),
    C(ansible_httpapi_password)); the API key wins when both are given, as on the appliance.
  - Spaces the calls so that no 30 fall within 3 seconds (the appliance drops the connection
    beyond that), across every task of the play on that host.
  - Use with C(ansible_connection=ansible.netcommon.httpapi), C(ansible_network_os=lbkit.loadbalancer.loadmaster),
    C(ansible_httpapi_use_ssl=true); certificates are validated unless C(ansible_httpapi_validate_certs=false),
    against C(ansible_httpapi_ca_path) when given.
options:
  api_key:
    description:
      - The LoadMaster API key of the user lbkit acts as (keep it in Ansible Vault).
    type: str
    vars:
      - name: ansible_loadmaster_api_key
    env:
      - name: LBKIT_LOADMASTER_API_KEY
author:
  - lbkit developers (@lbkit)
"""

import json

from ansible.module_utils.common.text.converters import to_text
from ansible_collections.ansible.netcommon.plugins.plugin_utils.httpapi_base import HttpApiBase

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.loadmaster_api import PATH, RateLimiter, credentials, request_body


class HttpApi(HttpApiBase):
    def __init__(self, connection):
        super(HttpApi, self).__init__(connection)
        # Credentials go in the body; a header here keeps the connection from sending Basic auth.
        self.connection._auth = {"Content-Type": "application/json"}
        self._user = None
        self._password = None
        self._limiter = RateLimiter()

    def login(self, username, password):
        self._user, self._password = username, password

    def logout(self):
        """The API keeps no session: nothing to close."""

    def handle_httperror(self, exc):
        # 4xx answers carry the appliance's JSON (or its HTML page): the module judges them
        return exc

    def send_request(self, data, **message_kwargs):
        """(HTTP status, answer text) of one call; ``data``: {"cmd": ..., "params": {...}}."""
        creds = credentials(self.get_option("api_key"), self._user, self._password)
        body = request_body(data["cmd"], data.get("params") or {}, creds)
        self._limiter.wait()
        response, response_data = self.connection.send(PATH, json.dumps(body), method="POST", headers={"Content-Type": "application/json"})
        status = getattr(response, "status", None) or getattr(response, "code", None) or response.getcode()
        return status, to_text(response_data.getvalue())
