"""The command line: options in, one library call, an exit code out. The only typer user.

Where things are: ``root`` (the typer application and its root options), ``commands``
(the application with every command registered), ``options`` (every shared option,
declared once, in groups), ``values`` (option text parsed), ``build`` (groups ->
library values: the selected hosts, RunOptions, the view, the secrets), ``hosts`` (what
run, put, get and play share), one module per command group (``run``: run/put/get,
``play``, ``inventory``, ``cluster``, ``records``: history/show/report, ``persist``), ``edge``
(errors -> one line and an exit code) and ``background`` (the warm runs' background
process). The console script is hostops.entry.

Start-up is kept light: importing this package loads nothing (``app`` is made when
first asked for); a command's module imports at its top only what its options and
``--help`` need; the fleet (multiprocessing), paramiko and Jinja2 are imported in the
body of the command that uses them (tests/unit/test_startup_imports.py).

Modules whose annotations typer reads have no ``from __future__ import annotations``:
typer would have to evaluate every option's annotation string at start-up
(``typing.get_type_hints``, ~40 ms per run).
"""

import sys


def main(argv: list[str] | None = None) -> int:
    """The command line ``argv`` (default: sys.argv[1:]) parsed and run: one-line errors,
    defined exit codes, no tracebacks by default (hostops.cli.edge.main)."""
    from hostops.cli.edge import main as command_line

    return command_line(sys.argv[1:] if argv is None else argv)


def __getattr__(name: str) -> object:
    # The application only when asked for (tests, documentation tools).
    if name == "app":
        from hostops.cli.commands import app

        return app
    raise AttributeError(f"module 'hostops.cli' has no attribute {name!r}")


__all__ = ["app", "main"]
