# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which values of a spec are secrets.

The modules take the whole spec as one ``no_log`` option, so it is never written whole to the
target's log. Ansible would then also mask every value of it (names, addresses, ports, even
single letters inside other words) in everything the module returns; ``mask_only_secrets``
narrows that to the secrets themselves.
"""

from __future__ import annotations

SECRET_FIELDS = frozenset(["auth_secret", "password"])


def secret_values(raw):
    """Every secret in a spec as given (any nesting, before validation), as strings."""
    out = set()
    pending = [raw]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in SECRET_FIELDS and not isinstance(value, (dict, list)) and value is not None and str(value) != "":
                    out.add(str(value))
                else:
                    pending.append(value)
        elif isinstance(node, list):
            pending.extend(node)
    return out


def _strings(value):
    pending, out = [value], set()
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
        elif node is not None and str(node) != "":
            out.add(str(node))
    return out


def mask_only_secrets(module, option="spec", secret_options=("tls",)):
    """Mask only the spec's secrets in what ``module`` returns, and every value of its other
    ``no_log`` options (``secret_options``: TLS material, which is secret whole)."""
    values = secret_values(module.params.get(option))
    for name in secret_options:
        values |= _strings(module.params.get(name))
    module.no_log_values = values
