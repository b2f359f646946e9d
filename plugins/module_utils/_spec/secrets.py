# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The secrets a raw spec holds, so modules mask exactly those in their output.

A module that declares the whole spec ``no_log`` keeps it out of the target's log, but
Ansible then masks every value of the spec wherever it appears in the result: a service
named ``web`` turns every ``web`` of a summary into ``********`` and port ``80`` mangles
``fe80::``. Modules keep ``no_log`` on the parameter (nothing is logged on the target) and
replace the masked values with these.
"""

from __future__ import annotations


def spec_secrets(data):
    """The secret strings of a raw (possibly invalid) spec: the VRRP authentication secret."""
    ha = ((data or {}).get("cluster") or {}).get("ha") if isinstance(data, dict) else None
    secret = ha.get("auth_secret") if isinstance(ha, dict) else None
    if isinstance(secret, str) and secret:
        return set([secret])
    return set()
