"""The console script's entry point (``hostops``, ``python -m hostops``): what can be
answered without parsing the command line is answered before typer, the commands'
modules or any library is imported; everything else goes to the command line proper
(hostops.cli.edge.main).

Keep this module's imports to the standard library's ``sys``: it runs on every start.
"""

import sys

from hostops._version import __version__


def main(argv: list[str] | None = None) -> int:
    """Run hostops with ``argv`` (default: the process's arguments) and return its exit
    code: one-line errors, defined exit codes, no tracebacks by default."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:  # as the root's --version prints it, ~0.3 s sooner
        print(f"hostops {__version__}")
        return 0
    from hostops.cli.edge import main as command_line

    return command_line(args)
