"""The typer application with every command registered: what parses a command line.

Importing this loads typer and every command's module (their options, for ``--help``
and parsing); the libraries a command's body needs (the fleet, paramiko, Jinja2) are
imported in that body, when it runs.
"""

from hostops.cli import inventory, play, records, run
from hostops.cli.root import app

# The commands, in the order --help lists them.
for _command in (
    run.run,
    run.put,
    run.get,
    play.play,
    inventory.inventory,
    records.history,
    records.show,
):
    app.command()(_command)

__all__ = ["app"]
