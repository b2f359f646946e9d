# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The outage a client saw, from its requests' timestamps and results."""

from __future__ import annotations


def outage(samples):
    """Summarize ``samples``, a time-ordered list of (milliseconds, answered, answer).

    An outage window runs from the last answered request before a run of failures to the first
    answered request after it (or to the last request, when the service never came back): that
    is the gap the client saw, to within one request interval.
    """
    windows = []
    last_ok = None
    start = None
    failed_in = 0
    answers = {}
    for stamp, ok, answer in samples:
        if ok:
            if start is not None:
                windows.append(dict(start_s=(last_ok if last_ok is not None else start) / 1000.0, end_s=stamp / 1000.0,
                                    failed=failed_in, recovered=True))
                start, failed_in = None, 0
            last_ok = stamp
            if answer:
                answers[answer] = answers.get(answer, 0) + 1
        else:
            if start is None:
                start = stamp
            failed_in += 1
    if start is not None:
        windows.append(dict(start_s=(last_ok if last_ok is not None else start) / 1000.0, end_s=samples[-1][0] / 1000.0,
                            failed=failed_in, recovered=False))
    for window in windows:
        window["seconds"] = round(window["end_s"] - window["start_s"], 3)
    return dict(
        requests=len(samples),
        failed=sum(w["failed"] for w in windows),
        longest_outage_s=max([w["seconds"] for w in windows] or [0.0]),
        windows=windows,
        recovered=start is None and bool(samples),
        answers=answers,
    )
