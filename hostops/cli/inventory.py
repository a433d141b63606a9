"""``hostops inventory``: the selected hosts with their effective settings.

No ``from __future__ import annotations``: typer evaluates these annotations.
"""

from typing import Annotated

import typer

from hostops.cli.build import select
from hostops.cli.edge import guarded
from hostops.cli.options import DebugOpt, HostSettings, Rerun, Targets, grouped
from hostops.errors import UsageError
from hostops.inventory.show import inventory_graph, inventory_json, inventory_table
from hostops.render.console import Console


@grouped
def inventory(
    *,
    targets: Targets,
    settings: HostSettings,
    rerun: Rerun,
    graph: Annotated[bool, typer.Option("--graph", help="Show the group tree.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON document, for scripts.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Show the selected hosts with their effective settings and groups (never a secret)."""
    console = Console()

    def body() -> int:
        if graph and as_json:
            raise UsageError("give --graph or --json, not both")
        selection = select(targets, settings, rerun)
        if graph:
            text = inventory_graph(selection.inventory, [h.name for h in selection.hosts])
        elif as_json:
            text = inventory_json(selection.inventory, selection.hosts)
        else:
            text = inventory_table(selection.hosts)
        console.out(text.encode(), plain=True)
        for warning in selection.inventory.raw.warnings:
            console.message("warning", warning)
        return 0

    raise typer.Exit(guarded(console, body, debug))
