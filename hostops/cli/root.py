"""The typer application's root: ``hostops [--version] COMMAND``. hostops.cli.commands
registers the commands on an application made by :func:`application`.

No ``from __future__ import annotations``: typer evaluates these annotations.
"""

from typing import Annotated

import typer

from hostops._version import __version__


def application() -> typer.Typer:
    """A new application with the root's options and no command yet."""
    app = typer.Typer(
        name="hostops",
        help="Run commands on many hosts over SSH at once, and see clearly what happened on every host.",
        add_completion=False,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root)
    return app


def _print_version(value: bool) -> None:
    if value:
        print(f"hostops {__version__}")
        raise typer.Exit(0)


def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Run commands on many hosts over SSH at once, and see clearly what happened on every host."""
