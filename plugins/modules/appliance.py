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
    C(haproxy -c)), moves it into place, reloads the engines (never a restart for a config
    change) and verifies they run. On any failure the previous files are put back and
    reloaded, so the last good configuration keeps serving.
  - Services not in the spec are removed.
extends_documentation_fragment:
  - lbkit.loadbalancer.attributes
  - lbkit.loadbalancer.attributes.SPEC
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
      - V(rendered) returns the rendered configuration files without touching the host (secrets masked).
    type: str
    choices: [present, rendered]
    default: present
notes:
  - TLS certificates and keys are placed by the C(appliance) role (C(/etc/lbkit/tls/<service>.pem), mode 0600) before this module runs.
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
rendered:
  description: The rendered files by path (C(null) for a file that must not exist), secrets masked.
  returned: when O(state=rendered)
  type: dict
"""

import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend import linux
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.haproxy_runtime import RuntimeError_
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.runtime import Runtime
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.diff import plan
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.state import desired_state, held_addresses, real_server_key
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._render.keepalived import RenderError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import SpecInvalid
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.host import check_host, parse_ip_json
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import check_spec
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.secrets import mask_only_secrets

SYMBOL = {"add": "+", "remove": "-", "change": "~", "rewrite": "!", "start": ">"}


def mask(text):
    return None if text is None else re.sub(r"(auth_pass )\S+", r"\1********", text)


def converge(module, backend, runtime):
    params = module.params
    spec, errors = check_spec(params["spec"])
    if errors:
        raise SpecInvalid(errors)
    ip = module.get_bin_path("ip", required=True)
    rc, out, err = module.run_command([ip, "-json", "address", "show"])
    if rc != 0:
        raise RuntimeError("'ip -json address show' failed: %s" % err.strip())
    interfaces = parse_ip_json(out)
    before = linux.read_state(backend.root)
    errors = check_host(spec, params["host"], interfaces, held_addresses(before))
    if errors:
        raise SpecInvalid(errors)
    files = linux.desired_files(spec, params["host"], interfaces, backend.root)
    if params["state"] == "rendered":
        return dict(changed=False, changes=[], summary=[], rendered=dict((f.path, mask(f.content)) for f in files))
    state = desired_state(spec, params["host"])
    changes = [c.as_dict() for c in plan(before, state)]
    if not changes:
        # Nothing changed in the spec, yet a managed file differs: it was edited by hand.
        for managed in linux.file_drift(files):
            changes.append(dict(action="rewrite", kind="file", key=managed.path, label="%s (edited outside lbkit)" % managed.path))
    for managed in files:
        if managed.service and managed.content is not None and not backend.is_active(managed.service):
            changes.append(dict(action="start", kind="service", key=managed.service, label=managed.service))
    deviations = runtime_deviations(spec, runtime) if before is not None else []
    changes.extend(d[0] for d in deviations)
    summary = ["%s %s" % (SYMBOL[c["action"]], _line(c)) for c in changes]
    result = dict(changed=bool(changes), changes=changes, summary=summary)
    if module._diff:
        result["diff"] = dict(prepared="\n".join(summary) + ("\n" if summary else ""))
    if changes and not module.check_mode:
        backend.apply(files, state)
        # A reload already reset HAProxy's servers to the config; set what still deviates.
        for change, vs, rs in runtime_deviations(spec, runtime):
            runtime.set(vs, rs, rs.state, change["before"])
    return result


def runtime_deviations(spec, runtime):
    """Real servers whose state on the running engine is not the spec's (a runtime drain, say).

    Only layer 7 is read here: HAProxy reports its servers through the runtime API.
    """
    out = []
    pairs = [(vs, rs) for vs in spec.virtual_services if vs.layer == 7 for rs in vs.real_servers]
    if not pairs or not runtime.haproxy_available():
        return out
    try:
        running = runtime.read_layer7(pairs)
    except RuntimeError_:
        return out  # not running yet: the apply starts it with the spec's states
    for (vs, rs), found in zip(pairs, running):
        if found is None:
            continue  # not running yet: the apply adds it with the spec's state
        state = found[0]
        if state != rs.state:
            label = "%s %s in %s" % (rs.name, real_server_key(rs), vs.name)
            out.append(
                (
                    dict(action="change", kind="runtime", key=vs.name + "/" + rs.name, label=label, field="state", before=state, after=rs.state),
                    vs,
                    rs,
                )
            )
    return out


def _line(change):
    if change["action"] == "change":
        return "%s %s: %s %s -> %s" % (change["kind"], change["label"], change["field"], change["before"], change["after"])
    return "%s %s" % (change["kind"], change["label"])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            spec=dict(type="dict", required=True, no_log=True),
            host=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "rendered"]),
        ),
        supports_check_mode=True,
    )
    mask_only_secrets(module)
    try:
        result = converge(module, linux.LinuxAppliance(module), Runtime(module))
    except SpecInvalid as exc:
        result = dict(failed=True, msg=exc.summary(), errors=[e.as_dict() for e in exc.errors])
    except RenderError as exc:
        result = dict(failed=True, msg=str(exc), errors=[e.as_dict() for e in exc.errors])
    except linux.ApplyError as exc:
        result = dict(failed=True, msg=str(exc), restored=exc.restored)
    except RuntimeError_ as exc:
        result = dict(failed=True, msg=str(exc))
    if result.get("failed"):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
