"""``python -m hostops.cli.background``: the background process of warm runs, started by
the first ``hostops ... --persist`` (hostops.keeper.client). It carries out each command
with this command line (hostops.cli.edge.main), in a process of its own."""

from __future__ import annotations

import gc
import sys

from hostops.cli import main as command_line
from hostops.cli.commands import click_command, preload
from hostops.keeper import server

if __name__ == "__main__":
    # Everything a command needs is imported now, once: each command's process is a
    # fork of this one. Nothing imported is ever freed: the collector need not scan it.
    preload()  # the command line imports the fleet and paramiko lazily: here, at once
    click_command()
    gc.freeze()
    sys.exit(server.main(command_line))
