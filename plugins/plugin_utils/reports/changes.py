# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The summary table of what a converge changed (or would change, in check mode) on each host."""

from __future__ import annotations

from ansible_collections.lbkit.loadbalancer.plugins.plugin_utils.reports.table import text_table


def changes_table(changes, check_mode=False):
    """``changes`` maps each host to its list of change lines (an appliance's plan summary, a
    real server's actions), or to None when the host was not converged in this run."""
    rows = []
    for host, lines in changes.items():
        for line in ["(not in this run)"] if lines is None else lines or ["(no change)"]:
            rows.append([host, line])
    ran = [lines for lines in changes.values() if lines is not None]
    total = sum(len(lines) for lines in ran)
    changed = sum(1 for lines in ran if lines)
    title = "Changes %s" % ("this run would make (check mode)" if check_mode else "made by this run")
    summary = "%d change%s on %d of %d hosts." % (total, "" if total == 1 else "s", changed, len(ran))
    if not rows:
        return "%s\n\nNo hosts." % title
    return "\n".join([title, "", text_table(["host", "change"], rows, group=1), "", summary])
