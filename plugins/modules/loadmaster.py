#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: loadmaster
short_description: Converge a Kemp LoadMaster (or an HA pair) to the lbkit spec through its REST API
version_added: 0.1.0
description:
  - Converges one LoadMaster, or the shared address of a LoadMaster HA pair, to the whole spec in
    one task, through the appliance's RESTful API v2 (firmware 7.2.52 and later), over the
    C(lbkit.loadbalancer.loadmaster) httpapi connection plugin.
  - Reads the appliance in a handful of calls (one C(listvs) for every service), plans the
    calls that take it to the spec, and makes exactly those - so check mode reports exactly what a
    run does, and C(--diff) shows the same change lines as on a Linux appliance.
  - Virtual services are addressed by address, port and protocol, real servers by address and
    port, never by index. Real servers are added before any is removed; a service is never
    emptied to be refilled. Persistence fields are sent together.
  - The appliance's backup is taken before the first write; if a write fails, or the appliance
    does not read back what was written, the backup is restored and read back (C(restored)).
  - lbkit owns the virtual services whose nickname starts with C(lbkit-) (it sets C(lbkit-<name>))
    and the certificates whose name starts with C(lbkit); nothing else on the appliance is
    touched. A service of the spec whose address, port and protocol an unowned service holds is
    refused, naming how to adopt it.
  - TLS certificates and keys are read on the controller by the module's action plugin (the files
    the spec names) and uploaded under a name that carries their digest, so a new certificate is
    added, assigned, and the old one deleted.
  - The LoadMaster's behaviour was modelled from its public documentation and tested against a
    simulator this project wrote; see C(docs/loadmaster.md) for what was verified against what.
extends_documentation_fragment:
  - lbkit.loadbalancer.attributes
  - lbkit.loadbalancer.attributes.SPEC
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  host:
    description:
      - The inventory name of the appliance (or pair), for messages.
    type: str
  tls:
    description:
      - The TLS material of the layer-7 services with C(layer7.tls), by service name, each with
        C(certificate) and C(key) (PEM text). Filled in by the action plugin; never logged.
    type: dict
author:
  - lbkit developers (@lbkit)
"""

EXAMPLES = r"""
- name: Converge the LoadMaster pair
  lbkit.loadbalancer.loadmaster:
    spec: "{{ lbkit_spec }}"
    host: "{{ inventory_hostname }}"
"""

RETURN = r"""
changes:
  description: The semantic changes, as the appliance module returns them.
  returned: always
  type: list
  elements: dict
summary:
  description: The changes as lines of text.
  returned: always
  type: list
  elements: str
  sample: ["+ virtual service web (192.0.2.10:80/tcp)", "~ real server web1 10.0.0.11:80 in web: weight 100 -> 50"]
operations:
  description: The API calls the apply makes, in order (the same in check mode).
  returned: always
  type: list
  elements: str
  sample: ["addvs virtual service tcp/192.0.2.10/80", "addrs real server 10.0.0.11:80 in tcp/192.0.2.10/80"]
api_calls:
  description: How many write calls the plan makes (besides the backup and the reads).
  returned: always
  type: int
restored:
  description: After a failed apply, whether the appliance's backup was restored and read back as before.
  returned: when the apply failed
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner import loadmaster
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._runner.common import finish, spec_argument


def main():
    argument_spec = dict(host=dict(type="str"), tls=dict(type="dict", no_log=True))
    argument_spec.update(spec_argument())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    finish(module, loadmaster.converge)


if __name__ == "__main__":
    main()
