"""``python -m hostops.testing up N``: start N loopback sshd daemons and print an inventory.

The fleet runs until Ctrl-C (or SIGTERM, or ``python -m hostops.testing down --dir
DIR`` for one started in the background with ``&``); its files live in a temporary
directory (or ``--dir``) printed on stderr.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time

from hostops.testing.fleet import SshdFleet, SshdMissing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hostops.testing", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="verb", required=True)
    up = sub.add_parser("up", help="start a fleet and keep it up until Ctrl-C")
    up.add_argument("count", type=int, help="number of sshd daemons (hosts)")
    up.add_argument("--dir", help="directory for keys, configs and logs [default: a new temp dir]")
    down = sub.add_parser("down", help="stop the fleet running in --dir (started with &)")
    down.add_argument("--dir", required=True, help="the fleet's directory, as given to up")
    args = parser.parse_args(argv)
    if args.verb == "down":
        return _down(args.dir)
    if not 1 <= args.count <= 10000:
        parser.error("count must be from 1 to 10000")
    root = args.dir or tempfile.mkdtemp(prefix="hostops-fleet-")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with SshdFleet(root, args.count) as fleet:
            pid_file = os.path.join(root, _PID_FILE)
            with open(pid_file, "w") as f:
                f.write(f"{os.getpid()}\n")
            inventory = fleet.write_inventory(f"{root}/inventory.yaml")
            sys.stdout.write(fleet.inventory_text())
            sys.stdout.flush()
            print(
                f"fleet of {args.count} sshd up; inventory: {inventory}; Ctrl-C stops it"
                f" (in the background: python -m hostops.testing down --dir {root})",
                file=sys.stderr,
            )
            try:
                while not stop.wait(1.0):
                    pass
            except KeyboardInterrupt:
                pass
            os.unlink(pid_file)
    except SshdMissing as exc:
        print(f"hostops.testing: error: {exc}", file=sys.stderr)
        return 2
    return 0


_PID_FILE = "fleet.pid"


def _down(root: str) -> int:
    """Stop the ``up`` process of the fleet in ``root`` (SIGTERM) and wait until it is gone."""
    try:
        with open(os.path.join(root, _PID_FILE)) as f:
            pid = int(f.read())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        print(f"hostops.testing: error: no fleet running in {root}", file=sys.stderr)
        return 2
    deadline = time.monotonic() + 30
    while os.path.exists(os.path.join(root, _PID_FILE)) and time.monotonic() < deadline:
        time.sleep(0.1)  # up removes it once every sshd has stopped
    return 0


if __name__ == "__main__":
    sys.exit(main())
