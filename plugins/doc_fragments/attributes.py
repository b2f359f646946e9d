# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
"""

    SPEC = r"""
options:
  spec:
    description:
      - The lbkit spec of one cluster, usually the C(lbkit_spec) inventory variable.
      - Its structure is the JSON Schema C(schemas/lbkit-spec.schema.json) of this collection; see C(docs/spec.md).
    type: dict
    required: true
"""

    STATE_DIR = r"""
options:
  state_dir:
    description:
      - Where lbkit keeps its state on the appliance (C(state.json), the last applied state, and
        C(tls/), the TLS files HAProxy reads). Created 0700.
    type: path
    default: /etc/lbkit
"""

    REAL_SERVER = r"""
options:
  service:
    description:
      - The virtual service's name in the spec.
      - For a service with sub services (content switching), C(service:sub) names one sub service;
        the service's name alone acts on the real server in each of its sub services that lists it.
    type: str
    required: true
  real_server:
    description: The real server, by its name in the spec or as C(address:port).
    type: str
    required: true
"""
