"""``python -m hostops.testing up N``: start N loopback sshd daemons and print an inventory.

The fleet runs until Ctrl-C (or SIGTERM); its files live in a temporary
directory (or ``--dir``) printed on stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading

from hostops.testing.fleet import SshdFleet, SshdMissing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hostops.testing", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="verb", required=True)
    up = sub.add_parser("up", help="start a fleet and keep it up until Ctrl-C")
    up.add_argument("count", type=int, help="number of sshd daemons (hosts)")
    up.add_argument("--dir", help="directory for keys, configs and logs [default: a new temp dir]")
    args = parser.parse_args(argv)
    if not 1 <= args.count <= 10000:
        parser.error("count must be from 1 to 10000")
    root = args.dir or tempfile.mkdtemp(prefix="hostops-fleet-")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with SshdFleet(root, args.count) as fleet:
            inventory = fleet.write_inventory(f"{root}/inventory.yaml")
            sys.stdout.write(fleet.inventory_text())
            sys.stdout.flush()
            print(
                f"fleet of {args.count} sshd up; inventory: {inventory}; Ctrl-C stops it",
                file=sys.stderr,
            )
            try:
                while not stop.wait(1.0):
                    pass
            except KeyboardInterrupt:
                pass
    except SshdMissing as exc:
        print(f"hostops.testing: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
