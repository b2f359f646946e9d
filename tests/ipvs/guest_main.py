"""Runs IPVS scenarios where the kernel has IPVS and prints one result line per scenario.

    python3 guest_main.py RUN_JSON

RUN_JSON names the scenarios and where the collection and Python are (tests/ipvs/runner.py
writes it). Each result is printed as ``LBKIT-RESULT <json>``: the scenario's name, whether it
ran to its end, its observations (what was seen, for tests/ipvs/test_ipvs.py to judge) or the
error that stopped it, and its duration. Progress lines go to stdout as they happen.
"""

from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import scenarios  # noqa: E402  (after the path is set)

RESULT = "LBKIT-RESULT "


def main(argv):
    with open(argv[0]) as handle:
        config = json.load(handle)
    origin = time.monotonic()

    def log(message):
        sys.stdout.write("[%7.1f] %s\n" % (time.monotonic() - origin, message))
        sys.stdout.flush()

    failed = 0
    for name, ok, payload, seconds in scenarios.run(config["scenarios"], config, log):
        result = {"scenario": name, "ok": ok, "seconds": round(seconds, 1)}
        result["observations" if ok else "error"] = payload
        failed += 0 if ok else 1
        log("scenario %s: %s in %.1f s" % (name, "done" if ok else "FAILED", seconds))
        sys.stdout.write(RESULT + json.dumps(result, sort_keys=True) + "\n")
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
