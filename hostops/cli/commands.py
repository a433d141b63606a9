"""The typer application with every command registered: what parses a command line.

Importing this loads typer and every command's module (their options, for ``--help``
and parsing); the libraries a command's body needs (the fleet, paramiko, Jinja2) are
imported in that body, when it runs, or all at once by :func:`preload`.
"""

import functools
import importlib
from typing import Any

import typer

from hostops.cli import cluster, completion, config, inventory, persist, play, records, run
from hostops.cli.root import application

# The commands, in the order --help lists them, by name.
COMMANDS = {
    c.__name__: c
    for c in (
        run.run,
        run.put,
        run.get,
        play.play,
        inventory.inventory,
        cluster.cluster,
        records.history,
        records.show,
        records.report,
        persist.persist,
        config.config,
        completion.completion,
    )
}
# ``hostops config run -f 5``: the words after COMMAND are that command's, not config's.
_SETTINGS = {"config": {"ignore_unknown_options": True, "allow_interspersed_args": False}}

app = application()
for _name, _command in COMMANDS.items():
    app.command(context_settings=_SETTINGS.get(_name))(_command)


@functools.cache
def click_command() -> Any:
    """The click command typer makes of the whole application (~30 ms to build: made once
    per process; the background process of warm runs builds it before forking its
    commands)."""
    return typer.main.get_command(app)


def command_line(args: list[str]) -> Any:
    """The click command that parses ``args``: the whole application's if this process
    has it already (:func:`click_command`), or for ``--help`` and unknown commands; else,
    for ``hostops NAME ...``, the root with that one command (typer reads the options
    of every command it registers: ~10 ms for all of them, on every start)."""
    if click_command.cache_info().currsize or not args or args[0] not in COMMANDS:
        return click_command()
    one = application()
    one.command(context_settings=_SETTINGS.get(args[0]))(COMMANDS[args[0]])
    return typer.main.get_command(one)


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


__all__ = ["COMMANDS", "app", "click_command", "command_line", "preload"]
