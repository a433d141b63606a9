"""The ``hostops`` console script: a warm command (``--persist``) goes to the background
process before anything heavy is imported; every other command to the command line."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the ``hostops`` command line ``argv`` (default: sys.argv[1:])."""
    args = sys.argv[1:] if argv is None else argv
    from hostops.keeper import client

    code = client.main(args)
    if code is not None:
        return code
    from hostops.cli import main as command_line

    return command_line(args)
