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
    description: The virtual services to probe, by name; all by default. With O(duration), exactly one (default the first probed one).
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
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import SpecInvalid
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.secrets import mask_only_secrets
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._verify.outage import outage
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._verify.targets import STICKY_REQUESTS, targets


def probe_service(target, params):
    count = params["requests"] if params["requests"] is not None else target.requests
    sent = []
    cookies = {}
    for n in range(1, count + 1):
        answer = probe.request(target.scheme, target.address, target.port, target.host_header, params["timeout"], params["validate_certs"])
        cookies = cookies or (answer["cookies"] if answer["ok"] else {})
        sent.append(dict(answer, n=n, cookie=False))
    if target.sticky and cookies:
        for n in range(count + 1, count + 1 + STICKY_REQUESTS):
            answer = probe.request(target.scheme, target.address, target.port, target.host_header, params["timeout"],
                                   params["validate_certs"], cookies=cookies)
            sent.append(dict(answer, n=n, cookie=True))
    for item in sent:
        del item["cookies"]
    return dict(service=target.service, vip=target.vip, scheme=target.scheme or None, note=target.note, requests=sent)


def load(target, params):
    samples = []
    started = time.monotonic()
    interval = params["interval_ms"] / 1000.0
    deadline = started + params["duration"]
    while time.monotonic() < deadline:
        tick = time.monotonic()
        answer = probe.request(target.scheme, target.address, target.port, target.host_header, params["timeout"], params["validate_certs"])
        samples.append((int((tick - started) * 1000), answer["ok"], answer["answer"]))
        time.sleep(max(0.0, interval - (time.monotonic() - tick)))
    return dict(service=target.service, vip=target.vip, address=target.address, interval_ms=params["interval_ms"],
                timeout=params["timeout"], duration=params["duration"], outage=outage(samples))


def run(params):
    chosen = targets(params["spec"], params["services"])
    if params["duration"] is None:
        return dict(changed=False, probes=[probe_service(t, params) for t in chosen])
    probed = [t for t in chosen if t.scheme and t.requests]
    if len(params["services"]) > 1 or not probed:
        raise ValueError("duration: load mode sends to exactly one probed service; give one in services (probed: %s)."
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
        ),
        mutually_exclusive=[("requests", "duration")],
        supports_check_mode=True,
    )
    # The spec stays out of the target's log (no_log); only its secret is masked in the result.
    mask_only_secrets(module)
    try:
        result = run(module.params)
    except SpecInvalid as exc:
        result = dict(failed=True, msg=exc.summary(), errors=[e.as_dict() for e in exc.errors])
    except ValueError as exc:
        result = dict(failed=True, msg=str(exc))
    if result.get("failed"):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
