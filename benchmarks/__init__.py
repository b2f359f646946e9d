# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lbkit's benchmarks: ./benchmarks/run (docs/benchmarks.md)."""

from __future__ import annotations

import os
import sys

# collections/ansible_collections/lbkit/loadbalancer links back to the repository root: the
# benchmarks compute their figures with the collection's own code (the outage of vip_probe).
_COLLECTIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "collections")
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)
