# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark runner behind ./benchmarks/run: runs the benchmarks asked for, writes their
figures to benchmarks/results/<UTC stamp>.json and .md, and prints the command that made them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
import time
import traceback

from benchmarks import failover, loadmaster, machine, report, scale, site, zero_loss
from benchmarks.figures import distribution as dist
from benchmarks.lab import ROOT

RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / ".cache" / "bench"
BENCHMARKS = ("scale", "site", "failover", "zero_loss", "loadmaster")


def parse(argv):
    parser = argparse.ArgumentParser(prog="./benchmarks/run", description="lbkit's benchmarks; figures go to benchmarks/results/.")
    parser.add_argument("benchmark", nargs="?", default="all", help="all, or some of %s, comma-separated" % ", ".join(BENCHMARKS))
    parser.add_argument("--sizes", default=None, help="virtual services per scale run, comma-separated (default 10,100,1000; --quick: 10)")
    parser.add_argument("--trials", type=int, default=None, help="failover trials per advert interval (default 10; --quick: 2)")
    parser.add_argument("--quick", action="store_true", help="small and short: to try the benchmarks, not to quote them")
    parser.add_argument("--wait-quiet", type=int, default=0, metavar="MINUTES",
                        help="first wait until the 1-minute load average is under 1.0, polling every 60 s, for at most MINUTES")
    parser.add_argument("--baseline-limit", type=int, default=3600, metavar="SECONDS",
                        help="do not run a baseline size whose run is projected to take longer (default 3600)")
    parser.add_argument("--keep", action="store_true", help="leave the benchmarks' containers up (to look at them)")
    args = parser.parse_args(argv)
    args.chosen = BENCHMARKS if args.benchmark == "all" else tuple(b.strip() for b in args.benchmark.split(",") if b.strip())
    unknown = [b for b in args.chosen if b not in BENCHMARKS]
    if unknown or not args.chosen:
        parser.error("unknown benchmark %s (choose all, or some of %s)" % (", ".join(unknown) or "''", ", ".join(BENCHMARKS)))
    args.sizes = [int(s) for s in (args.sizes or ("10" if args.quick else "10,100,1000")).split(",") if s.strip()]
    if args.trials is None:
        args.trials = 2 if args.quick else 10
    return args


def command_line(argv):
    return " ".join(["./benchmarks/run"] + [shlex.quote(a) for a in argv])


def previous_runs(chosen):
    """{benchmark: the newest results file (relative to the repository) with its figures}, for the report's comparison."""
    out = {}
    for path in sorted(RESULTS.glob("*.json"), reverse=True):
        try:
            earlier = json.loads(path.read_text())
        except ValueError:
            continue
        if earlier.get("quick"):
            continue
        for name in chosen:
            if name not in out and name in earlier.get("benchmarks", {}) and name not in earlier.get("errors", {}):
                out[name] = str(path.relative_to(ROOT))
    return out


def say(message):
    sys.stdout.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), message))
    sys.stdout.flush()


def write(results, stamp):
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS / (stamp + ".json")
    json_path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    md_path = RESULTS / (stamp + ".md")
    md_path.write_text(report.markdown(results))
    return json_path, md_path


def main(argv):
    args = parse(argv)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    chosen = args.chosen
    results = {"command": command_line(argv), "stamp": stamp, "quick": args.quick, "machine": machine.describe(), "benchmarks": {}, "errors": {},
               "previous": previous_runs(chosen)}
    if args.wait_quiet:
        results["quiet_wait"] = machine.wait_quiet(args.wait_quiet, say=say)
    work = WORK / stamp
    runners = {
        "scale": lambda out: scale.run(args.sizes, work, args.keep, args.baseline_limit, say, out),
        "site": lambda out: site.run(work, args.keep, say, out),
        "failover": lambda out: failover.run(args.trials, work, args.keep, 10 if args.quick else 60, say, out,
                                             default_quiet_seconds=10 if args.quick else 600),
        "zero_loss": lambda out: zero_loss.run(work, args.keep, say, out),
        "loadmaster": lambda out: loadmaster.run(args.sizes, say, out),
    }
    for name in chosen:
        started = time.monotonic()
        figures = {"load_before": machine.load_average()}
        say("%s: start (load %s)" % (name, figures["load_before"]))
        with machine.LoadSampler() as load:
            try:
                runners[name](figures)
            except Exception:  # pylint: disable=broad-exception-caught
                # One benchmark failing must not lose the others' figures, nor its own so far:
                # both are kept, the error is recorded and the run fails.
                results["errors"][name] = traceback.format_exc()[-4000:]
                say("%s: FAILED\n%s" % (name, results["errors"][name]))
            else:
                say("%s: done in %.0f s" % (name, time.monotonic() - started))
        figures["load_during"] = dist(load.samples)
        figures["seconds"] = round(time.monotonic() - started, 1)
        figures["load_after"] = machine.load_average()
        results["benchmarks"][name] = figures
        write(results, stamp)
    json_path, md_path = write(results, stamp)
    sys.stdout.write("\n" + report.markdown(results) + "\n")
    sys.stdout.write("Figures: %s and %s\nCommand: %s\n" % (json_path.relative_to(ROOT), md_path.relative_to(ROOT), results["command"]))
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
