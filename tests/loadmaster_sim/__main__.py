"""Run the simulator for a playbook: ``python -m tests.loadmaster_sim --port N --state-dir DIR``.

Prints one JSON line on stdout ({"url", "endpoint", "ca_path", "port", "pid"}) once it listens,
then serves until SIGTERM (or SIGINT). With --state-dir, the CA's PEM is written there as
ca.pem, and the appliance's state is loaded from DIR/state.json at start (when present) and
saved there at exit (certificates without their keys), so consecutive runs see one appliance.
"""

import argparse
import json
import os
import signal
import sys
import threading

from .server import LoadMasterServer, Simulator


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.loadmaster_sim", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--state-dir", help="where ca.pem and state.json live")
    parser.add_argument("--apikey", default="lbkit-sim-apikey")
    parser.add_argument("--user", default="bal")
    parser.add_argument("--password", default="lbkit-sim-password")
    parser.add_argument("--firmware", default=Simulator.DEFAULT_VERSION, help="what get version answers")
    parser.add_argument("--no-rate-limit", action="store_true", help="never drop connections (the documented limit is 30 calls in 3 s)")
    parser.add_argument("--transparent-default", choices=("true", "false"), default="true",
                        help="Transparent of a new TCP virtual service (the docs disagree)")
    args = parser.parse_args(argv)

    simulator = Simulator(apikey=args.apikey, user=args.user, password=args.password, version=args.firmware)
    simulator.transparent_default = args.transparent_default == "true"
    if args.no_rate_limit:
        simulator.rate_limit = None
    state_file = None
    if args.state_dir:
        os.makedirs(args.state_dir, exist_ok=True)
        state_file = os.path.join(args.state_dir, "state.json")
        if os.path.exists(state_file):
            with open(state_file, encoding="utf-8") as handle:
                simulator.load_state(json.load(handle))

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *dummy: done.set())
    signal.signal(signal.SIGINT, lambda *dummy: done.set())
    server = LoadMasterServer(simulator, host=args.host, port=args.port, state_dir=args.state_dir).start()
    print(json.dumps({"url": server.url, "endpoint": server.endpoint, "ca_path": server.ca_path, "port": server.port, "pid": os.getpid()}),
          flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
        if state_file:
            with open(state_file + ".tmp", "w", encoding="utf-8") as handle:
                json.dump(simulator.dump_state(), handle, indent=1)
            os.replace(state_file + ".tmp", state_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
