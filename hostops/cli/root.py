"""The typer application and its root: ``hostops [--version] COMMAND``.
hostops.cli.commands registers the commands on :data:`app`.

No ``from __future__ import annotations``: typer evaluates these annotations.
"""

from typing import Annotated

import typer

from hostops import __version__

app = typer.Typer(
    name="hostops",
    help="Run commands on many hosts over SSH at once, and see clearly what happened on every host.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        print(f"hostops {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Run commands on many hosts over SSH at once, and see clearly what happened on every host."""
