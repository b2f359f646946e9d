#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by the action plugin of the same name; this file
# carries its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
module: validate_spec
short_description: Validate a whole lbkit spec on the controller, reporting every error at once
version_added: 0.1.0
description:
  - Checks the spec against its JSON Schema and against every semantic rule of the model
    (forwarding and port translation, duplicates, extra ports, persistence, health checks,
    HA pair, NAT gateway, and what the engines can implement).
  - Reports all errors at once, each with the JSON-pointer path of the field
    (C(/virtual_services/2/port)) and how to fix it, and fails when there is any.
  - Runs on the controller only; it never contacts a host, so it is a fast CI gate for a
    GitOps inventory (see C(playbooks/validate.yml)).
  - Checks that need the appliance itself (a VIP equal to one of its interface addresses)
    are made by M(lbkit.loadbalancer.appliance_preflight).
extends_documentation_fragment:
  - lbkit.loadbalancer.attributes
  - lbkit.loadbalancer.attributes.SPEC
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
options: {}
notes:
  - The Python library C(jsonschema) on the controller is used to cross-check the schema when
    it is installed; the model applies the same schema without it.
author:
  - lbkit developers (@lbkit)
"""

EXAMPLES = r"""
- name: Validate the cluster spec from the inventory
  lbkit.loadbalancer.validate_spec:
    spec: "{{ lbkit_spec }}"

- name: Validate a spec file without stopping, and show the errors
  lbkit.loadbalancer.validate_spec:
    spec: "{{ lookup('ansible.builtin.file', 'spec.yml') | ansible.builtin.from_yaml }}"
  register: check
  ignore_errors: true
"""

RETURN = r"""
valid:
  description: Whether the spec has no errors.
  returned: always
  type: bool
  sample: false
errors:
  description: Every error, in the order of the spec.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: JSON pointer to the field.
      type: str
      returned: always
      sample: /virtual_services/2/real_servers/0/port
    message:
      description: What is wrong.
      type: str
      returned: always
    fix:
      description: How to fix it.
      type: str
      returned: always
summary:
  description: "The errors as lines of text, C(path: message Fix: ...), for people."
  returned: always
  type: list
  elements: str
services:
  description: The number of virtual services and real servers in a valid spec.
  returned: success
  type: dict
  sample: {"virtual_services": 3, "real_servers": 7}
"""
