# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side glue shared by the report filters."""

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import LbkitError


def spec_filter(function):
    """``function`` as a filter: an invalid spec fails the task listing every error with its path,
    and any other of lbkit's errors with its message (no traceback)."""
    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except LbkitError as exc:
            raise AnsibleFilterError(str(exc)) from None
    return wrapped
