"""``hostops persist``: what the background process of warm runs holds; ``--stop``
closes it all.

No ``from __future__ import annotations``: typer evaluates these annotations.
"""

import json
from typing import Annotated, Any

import typer

from hostops.cli.edge import guarded
from hostops.cli.options import DebugOpt
from hostops.errors import ConfigError
from hostops.keeper import control, paths
from hostops.render.console import Console


def persist(
    stop: Annotated[
        bool,
        typer.Option("--stop", help="Close every kept connection; the background process exits."),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="A JSON object per connection (JSON Lines), for scripts.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Show the connections kept open by --persist (host, user, age, idle time, channels in
    use, time left, runner), or close them all."""
    console = Console()

    def body() -> int:
        try:
            answer = control.ask("stop" if stop else "status")
        except paths.PlaceError as exc:
            raise ConfigError(str(exc)) from None
        except OSError as exc:
            raise ConfigError(f"the background process does not answer: {exc}") from None
        if answer is None:
            console.message("note", "no background process: no connection is kept")
            return 0
        if stop:
            console.message("note", f"closed {answer.get('stopped', 0)} kept connection(s)")
            return 0
        held: list[dict[str, Any]] = list(answer.get("held") or [])
        if as_json:
            console.out("".join(json.dumps(h) + "\n" for h in held).encode(), plain=True)
        else:
            console.out(_table(held, answer.get("pid")).encode(), plain=True)
        return 0

    raise typer.Exit(guarded(console, body, debug))


def _table(held: list[dict[str, Any]], pid: object) -> str:
    head = ("HOST", "USER", "ADDRESS", "AGE", "IDLE", "CHANNELS", "LEFT", "RUNNER")
    rows = [
        (
            str(h["host"]),
            str(h["user"] or ""),
            f"{h['address']}:{h['port']}",
            f"{h['age_s']:g}s",
            f"{h['idle_s']:g}s",
            str(h["channels"]),
            "-" if h["left_s"] is None else f"{h['left_s']:g}s",
            str(h.get("runner") or "-"),
        )
        for h in sorted(held, key=lambda h: (str(h["host"]), float(h["age_s"])))
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [head, *rows]
    ]
    lines.append(f"{len(held)} connection(s) kept by the background process (pid {pid})")
    return "\n".join(lines) + "\n"
