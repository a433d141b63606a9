"""The command line: options in, one library call, an exit code out. The only typer user.

Where things are: ``entry`` (``main``; ``console``, the console script: answers what
needs no parsing, ``--version``, before typer or anything heavy loads), ``root`` (the typer
application and its root options), ``commands`` (the application with every command
registered), ``options`` (every shared option, declared once, in groups), ``values``
(option text parsed), ``build`` (groups -> library values: the selected hosts,
RunOptions, the view, the secrets), ``hosts`` (what run, put, get and play share), one
module per command group (``run``: run/put/get, ``play``, ``inventory``, ``records``:
history/show), and ``edge`` (errors -> one line and an exit code).

Start-up is kept light: a command's module imports at its top only what its options
and ``--help`` need; the fleet (multiprocessing), paramiko and Jinja2 are imported in
the body of the command that uses them (tests/unit/test_startup_imports.py).

Modules whose annotations typer reads have no ``from __future__ import annotations``:
typer would have to evaluate every option's annotation string at start-up
(``typing.get_type_hints``, ~40 ms per run).
"""

from hostops.cli.entry import main


def __getattr__(name: str) -> object:
    # The application only when asked for (tests, documentation tools): the console
    # script reaches it through main, after its fast answers.
    if name == "app":
        from hostops.cli.commands import app

        return app
    raise AttributeError(f"module 'hostops.cli' has no attribute {name!r}")


__all__ = ["app", "main"]
