#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: appliance
short_description: Converge a Linux load-balancer appliance (keepalived, HAProxy) to the lbkit spec
version_added: 0.1.0
description:
  - Converges one appliance host to the cluster spec in one call, whatever the number of
    services. The host's role in the HA pair comes from its inventory name (O(host)).
  - Renders C(keepalived.conf) (VRRP for the pair and the floating addresses; IPVS virtual
    servers for layer 4), C(haproxy.cfg) (layer 7) and the sysctls the spec needs.
  - The plan is the semantic difference between the state lbkit last applied
    (C(/etc/lbkit/state.json)) and the spec, plus any managed file edited by hand. It decides
    C(changed), the diff and what is applied, so check mode reports exactly what a run does.
  - Applying writes each file beside its target, validates it (C(keepalived --config-test),
    C(haproxy -c), with the TLS files in place so HAProxy's check loads them), moves it into
    place, reloads the engines (a restart only for keepalived's command line) and verifies they run the
    new files. On any failure the previous files (TLS files included) and kernel settings are put
    back and reloaded, so the last good configuration keeps serving, and the module says so
    (C(restored)). An engine's refusal quotes its own reason.
  - The TLS certificate and key of each layer-7 service are written by the same apply
    (C(<state_dir>/tls/<service>.pem), mode 0600). The module's action plugin reads them on the
    controller from the paths the spec names (C(layer7.tls.certificate), C(layer7.tls.key),
    searched like M(ansible.builtin.copy) searches C(src), Vault-encrypted files decrypted).
  - Besides the configuration, the same plan keeps what keepalived needs on the appliance, its
    helper programs (C(/usr/local/libexec/lbkit/ping-any), C(vrrp-notify), mode 0755), its command
    line in C(/etc/default/keepalived) (C(--vrrp) while there is no layer-4 service; a change
    restarts keepalived, the only restart the module does), keepalived started at boot, and HAProxy started
    at boot exactly when there are layer-7 services. A file with the right content but the wrong
    permissions is put right.
  - Refuses layer-4 services on a kernel without IPVS (at each service's C(layer)), before
    changing anything.
  - Services not in the spec are removed.
extends_documentation_fragment:
  - lbkit.loadbalancer.attributes
  - lbkit.loadbalancer.attributes.SPEC
  - lbkit.loadbalancer.attributes.STATE_DIR
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff lists the semantic changes (services and real servers added, removed or changed, fields before and after); secrets are hidden.
  idempotent:
    support: full
options:
  host:
    description:
      - The appliance's inventory hostname, as listed in C(cluster.nodes[].host).
    type: str
    required: true
  state:
    description:
      - V(present) converges the appliance.
      - V(rendered) returns the rendered configuration files without touching the host (secrets masked), with lbkit's nftables table when the spec needs one.
    type: str
    choices: [present, rendered]
    default: present
  tls:
    description:
      - The TLS material of the layer-7 services with C(layer7.tls), by service name, each a mapping
        with C(certificate) and C(key) (PEM text).
      - Filled in by the module's action plugin from the files the spec names; give it only to run the
        module without the action plugin. Never logged, never shown.
    type: dict
  interfaces:
    description:
      - "With O(state=rendered), render for these interfaces (a mapping such as C(eth0: [192.0.2.11/24])) instead of
        reading the appliance's own, to review an appliance's files elsewhere (in CI, say)."
    type: dict
  packages:
    description:
      - OS packages the appliance needs (the appliance role passes C(appliance_packages)). The spec
        and the host are checked first; then, when C(dpkg-query) reports any of these as not
        installed, the module changes nothing and returns them in RV(missing_packages), so the
        caller installs them and runs it again. In check mode the plan is still reported.
    type: list
    elements: str
    default: []
notes:
  - The result's C(operations) lists the steps the apply takes (files written, daemons reloaded), the same in check mode.
author:
  - lbkit developers (@lbkit)
"""

EXAMPLES = r"""
- name: Converge the appliance
  lbkit.loadbalancer.appliance:
    spec: "{{ lbkit_spec }}"
    host: "{{ inventory_hostname }}"

- name: Show what would change, without changing anything
  lbkit.loadbalancer.appliance:
    spec: "{{ lbkit_spec }}"
    host: "{{ inventory_hostname }}"
  check_mode: true
  diff: true

- name: Render the configuration files only
  lbkit.loadbalancer.appliance:
    spec: "{{ lbkit_spec }}"
    host: "{{ inventory_hostname }}"
    state: rendered
  register: rendered
"""

RETURN = r"""
changes:
  description: The plan, one entry per semantic change (the same with and without check mode).
  returned: always
  type: list
  elements: dict
  sample:
    - action: change
      kind: real server
      key: "tcp/192.0.2.10/80/10.0.0.11:80"
      label: "web1 10.0.0.11:80 in web"
      field: weight
      before: 100
      after: 50
    - action: add
      kind: virtual service
      key: tcp/192.0.2.20/443
      label: "shop (192.0.2.20:443/tcp)"
summary:
  description: The plan as lines of text.
  returned: always
  type: list
  elements: str
  sample: ["~ real server web1 10.0.0.11:80 in web: weight 100 -> 50"]
operations:
  description: The steps the apply takes, in order (the same in check mode).
  returned: always
  type: list
  elements: str
  sample: ["write /etc/haproxy/haproxy.cfg", "reload haproxy", "record the applied state"]
restored:
  description: After a failed apply, whether the last good configuration was put back and is serving.
  returned: when the apply failed
  type: bool
missing_packages:
  description: The packages of O(packages) that are not installed; when any is, nothing was applied.
  returned: unless O(state=rendered)
  type: list
  elements: str
  sample: ["keepalived", "haproxy"]
rendered:
  description: The rendered files by path (C(null) for a file that must not exist), secrets masked.
  returned: when O(state=rendered)
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import LbkitError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner import appliance
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner.common import spec_argument, state_dir_argument
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.secrets import mask_only_secrets


def main():
    argument_spec = dict(
        host=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "rendered"]),
        tls=dict(type="dict", no_log=True),
        interfaces=dict(type="dict"),
        packages=dict(type="list", elements="str", default=[]),
    )
    argument_spec.update(spec_argument())
    argument_spec.update(state_dir_argument())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    mask_only_secrets(module)
    try:
        result = appliance.converge(module)
    except LbkitError as exc:
        module.fail_json(**exc.result())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
