# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain-text tables for the reports people read in a terminal or a CI log."""

from __future__ import annotations


def text_table(headers, rows, group=0):
    """Aligned columns: the headers, a rule, then one line per row.

    The first ``group`` columns are left blank where they repeat the row above, so a service's
    rows read as one block. No line ends in a space: Ansible's YAML output then prints the
    table as a block of text instead of a quoted string.
    """
    cells = [[_text(c) for c in headers]]
    previous = None
    for row in rows:
        row = [_text(c) for c in row]
        shown = list(row)
        if previous is not None:
            for i in range(min(group, len(row))):
                if row[: i + 1] != previous[: i + 1]:
                    break
                shown[i] = ""
        cells.append(shown)
        previous = row
    widths = [max(len(line[i]) for line in cells) for i in range(len(headers))]
    out = []
    for number, line in enumerate(cells):
        out.append("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
        if number == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def _text(value):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return " ".join(str(value).split())


def verdict(problems, ok):
    """The closing lines of a report: its problems, or the sentence ``ok`` when there is none."""
    if problems:
        return ["PROBLEMS:"] + ["  " + problem for problem in problems]
    return [ok]
