"""`python -m localorch`: run the local orchestrator from the command line.

Prints the URL and writes the CA certificate and the token to files, then serves until
interrupted (SIGINT/SIGTERM), stopping cleanly.
"""
import argparse
import os
import signal
import sys
import threading

from .server import DEFAULT_MODULES, LocalOrchestrator


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8143, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--nodes", default="localhost", help="comma-separated certnames of the inventory")
    parser.add_argument("--modules", default=DEFAULT_MODULES, help="modules directory holding the tasks")
    parser.add_argument("--token-file", required=True, help="file holding the token to accept (created if missing)")
    parser.add_argument("--ca-out", required=True, help="where to write the generated CA certificate (PEM)")
    parser.add_argument("--ready-file", help="written with the URL once the server listens")
    args = parser.parse_args(argv)

    if os.path.exists(args.token_file):
        with open(args.token_file) as fh:
            token = fh.read().strip()
    else:
        token = os.urandom(24).hex()
        with open(os.open(args.token_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as fh:
            fh.write(token + "\n")
    orch = LocalOrchestrator(nodes=[n for n in args.nodes.split(",") if n], modules_dir=args.modules,
                             token=token, port=args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    with orch:
        with open(args.ca_out, "w") as fh:
            fh.write(orch.ca_pem)
        print("local orchestrator listening on %s (CA: %s)" % (orch.url, args.ca_out), flush=True)
        if args.ready_file:
            with open(args.ready_file, "w") as fh:
                fh.write(orch.url + "\n")
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
