"""The typer application with every command registered: what parses a command line.

Importing this loads typer and every command's module (their options, for ``--help``
and parsing); the libraries a command's body needs (the fleet, paramiko, Jinja2) are
imported in that body, when it runs, or all at once by :func:`preload`.
"""

import importlib

from hostops.cli import cluster, inventory, persist, play, records, run
from hostops.cli.root import app

# The commands, in the order --help lists them.
for _command in (
    run.run,
    run.put,
    run.get,
    play.play,
    inventory.inventory,
    cluster.cluster,
    records.history,
    records.show,
    persist.persist,
):
    app.command()(_command)

# What the commands' bodies import when they run (run.py, play.py).
_BODIES = (
    "hostops.fleet.engine",
    "hostops.fleet.rollout",
    "hostops.host.stdin",
    "hostops.host.ssh.connection",
    "hostops.host.ssh.failures",
    "hostops.host.sftp",
)


def preload() -> None:
    """Import now what the commands' bodies would import when they run: for a process
    that forks one process per command (the warm runs' background process), so that
    each command starts with everything loaded."""
    for module in _BODIES:
        importlib.import_module(module)


__all__ = ["app", "preload"]
