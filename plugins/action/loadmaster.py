# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The loadmaster module's controller side: the TLS material the spec names, read here as for the appliance module."""

from __future__ import annotations

from ansible_collections.lbkit.loadbalancer.plugins.action.appliance import ActionModule as ApplianceAction


class ActionModule(ApplianceAction):

    MODULE = "lbkit.loadbalancer.loadmaster"
