#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: vip_probe
short_description: Send requests through the VIPs of an lbkit spec, as a client does
version_added: 0.1.0
description:
  - Runs on a client host (or the controller) and sends requests through the virtual services
    of the spec, each on a new connection, recording what answered. It changes nothing.
  - HTTP and HTTPS services (layer 7 in http mode, layer 4 with an http or https health
    check) get a C(GET /); a request counts as answered with a status below 500. Other TCP
    services get a connection (TLS for layer-7 tcp mode with TLS termination), answered when
    it opens. The answer is the first line of the response, or a server's greeting.
  - By default it sends as many requests per service as it takes to reach every enabled real
    server where the scheduler spreads new clients (see P(lbkit.loadbalancer.traffic_report#filter)),
    and a few more with the cookie the appliance set where persistence is by active cookie.
  - With O(duration) it instead sends one request every O(interval_ms) to one service for that
    long and reports the outage the client saw; the failover drill runs it in the background.
  - UDP services are not probed (lbkit does not implement a UDP probe); they are listed with a note.
  - A service with sub services (content switching) is probed per sub service (C(service:sub)),
    each with a request its content rules send it there (a path, or a Host header, of its rules
    that no earlier sub service takes; C(/) for the sub service without rules). A sub service that
    no such plain request reaches is listed with a note and judged by the appliance's health check.
extends_documentation_fragment:
  - lbkit.loadbalancer.attributes
  - lbkit.loadbalancer.attributes.SPEC
attributes:
  check_mode:
    support: full
    details: It sends the requests in check mode too; they change nothing on the hosts.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  services:
    description:
      - The virtual services to probe, by name; all by default. A sub service is C(service:sub); a service with sub services
        stands for all of them.
      - With O(duration), exactly one probed service or sub service (default the first probed one).
    type: list
    elements: str
    default: []
  requests:
    description: Requests per service instead of the number the scheduler needs.
    type: int
  duration:
    description: Seconds of continuous requests to one service (load mode).
    type: float
  interval_ms:
    description: Milliseconds between the start of two requests in load mode.
    type: int
    default: 20
  timeout:
    description: Seconds one request may take.
    type: float
    default: 2.0
  connect_to:
    description:
      - Send the requests for a VIP to another address, as C(curl --connect-to) does - for a client that
        reaches the appliances through a NAT or a port forward. A mapping of VIP to address; the report
        still names the VIP.
    type: dict
    default: {}
  validate_certs:
    description:
      - Check the TLS certificate of HTTPS and TLS services.
      - Off by default because the requests go to the VIP's address, which certificates rarely
        name; verification checks the path through the appliance, not the certificate.
    type: bool
    default: false
author:
  - lbkit developers (@lbkit)
"""

EXAMPLES = r"""
- name: Send requests through every VIP from the client host
  lbkit.loadbalancer.vip_probe:
    spec: "{{ lbkit_spec }}"
  register: probe

- name: Keep requests flowing to the web service for 20 seconds
  lbkit.loadbalancer.vip_probe:
    spec: "{{ lbkit_spec }}"
    services: [web]
    duration: 20
    interval_ms: 20
    timeout: 0.5
  async: 60
  poll: 0
  register: load
"""

RETURN = r"""
probes:
  description: Per virtual service, the requests sent and what answered (not in load mode).
  returned: without O(duration)
  type: list
  elements: dict
  sample:
    - service: web
      vip: 192.0.2.10:80/tcp
      scheme: http
      path: /
      requests:
        - {n: 1, ok: true, status: 200, result: "200", answer: web1, cookie: false, ms: 3}
        - {n: 2, ok: true, status: 200, result: "200", answer: web2, cookie: false, ms: 2}
load:
  description: The continuous requests of load mode and the outage they saw.
  returned: with O(duration)
  type: dict
  contains:
    service:
      description: The virtual service.
      type: str
      returned: always
    outage:
      description:
        - C(requests) and C(failed) counts, C(longest_outage_s), C(recovered), C(answers) (requests per
          answer) and C(windows), each outage with C(start_s), C(end_s), C(seconds), C(failed), C(recovered),
          seconds counted from the first request.
      type: dict
      returned: always
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend import probe
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import LbkitError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.secrets import mask_only_secrets
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._verify.outage import outage
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._verify.targets import STICKY_REQUESTS, host_header, targets


def _address(target, params):
    return params["connect_to"].get(target.address, target.address)


def _host(target, address):
    """The Host header: the spec's, else the VIP's own when the request goes to another address (as curl --connect-to)."""
    if target.host_header or address == target.address:
        return target.host_header
    return host_header(target.address, target.port, target.scheme)


def probe_service(target, params):
    # a service (or sub service) the targets leave unprobed gets no request, whatever the count asked
    count = (params["requests"] if params["requests"] is not None else target.requests) if target.scheme and target.requests else 0
    sent = []
    cookies = {}
    address = _address(target, params)
    for n in range(1, count + 1):
        answer = probe.request(target.scheme, address, target.port, _host(target, address), params["timeout"], params["validate_certs"],
                               path=target.path)
        cookies = cookies or (answer["cookies"] if answer["ok"] else {})
        sent.append(dict(answer, n=n, cookie=False))
    if target.sticky and cookies:
        for n in range(count + 1, count + 1 + STICKY_REQUESTS):
            answer = probe.request(target.scheme, address, target.port, _host(target, address), params["timeout"],
                                   params["validate_certs"], cookies=cookies, path=target.path)
            sent.append(dict(answer, n=n, cookie=True))
    for item in sent:
        del item["cookies"]
    return dict(service=target.service, vip=target.vip, scheme=target.scheme or None, path=target.path, note=target.note, requests=sent)


def load(target, params):
    samples = []
    started = time.monotonic()
    interval = params["interval_ms"] / 1000.0
    deadline = started + params["duration"]
    while time.monotonic() < deadline:
        tick = time.monotonic()
        address = _address(target, params)
        answer = probe.request(target.scheme, address, target.port, _host(target, address), params["timeout"], params["validate_certs"],
                               path=target.path)
        samples.append((int((tick - started) * 1000), answer["ok"], answer["answer"]))
        time.sleep(max(0.0, interval - (time.monotonic() - tick)))
    return dict(service=target.service, vip=target.vip, address=target.address, interval_ms=params["interval_ms"],
                timeout=params["timeout"], duration=params["duration"], outage=outage(samples))


def run(params):
    chosen = targets(params["spec"], params["services"])
    for vip, address in params["connect_to"].items():
        if not isinstance(address, str) or not address:
            raise LbkitError("connect_to: the address for %s must be a host name or address, not %r." % (vip, address))
    if params["duration"] is None:
        return dict(changed=False, probes=[probe_service(t, params) for t in chosen])
    probed = [t for t in chosen if t.scheme and t.requests]
    if len(params["services"]) > 1 or not probed or (params["services"] and len(probed) > 1):
        raise LbkitError("duration: load mode sends to exactly one probed service; give one in services (probed: %s)."
                         % (", ".join(t.service for t in probed) or "none"))
    return dict(changed=False, load=load(probed[0], params))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            spec=dict(type="dict", required=True, no_log=True),
            services=dict(type="list", elements="str", default=[]),
            requests=dict(type="int"),
            duration=dict(type="float"),
            interval_ms=dict(type="int", default=20),
            timeout=dict(type="float", default=2.0),
            validate_certs=dict(type="bool", default=False),
            connect_to=dict(type="dict", default={}),
        ),
        mutually_exclusive=[("requests", "duration")],
        supports_check_mode=True,
    )
    # The spec stays out of the target's log (no_log); only its secret is masked in the result.
    mask_only_secrets(module)
    try:
        result = run(module.params)
    except LbkitError as exc:
        module.fail_json(**exc.result())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
