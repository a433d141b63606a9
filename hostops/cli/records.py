"""``hostops history``, ``hostops show`` and ``hostops report``: the run records read back.

No ``from __future__ import annotations``: typer evaluates these annotations.
"""

import itertools
import os
from pathlib import Path
from typing import Annotated

import typer

from hostops.cli.completers import run_words
from hostops.cli.edge import guarded
from hostops.cli.options import DebugOpt, NoColorOpt, OutputOpt, positive
from hostops.errors import UsageError
from hostops.journal import find_run, history_json, history_text, iter_summaries, load_run
from hostops.render.console import Console, OutputMode, ViewOptions
from hostops.render.replay import replay
from hostops.safefs import open_private

RunArg = Annotated[
    str | None,
    typer.Argument(
        metavar="[RUN]",
        autocompletion=run_words,
        help="An id from 'hostops history', a prefix of one, 'last' or 'last-N' (N runs before the last). [default: last]",
        show_default=False,
    ),
]


def history(
    last: Annotated[
        int, typer.Option("--last", "-n", callback=positive, help="How many runs.")
    ] = 20,
    as_json: Annotated[
        bool, typer.Option("--json", help="A JSON object per run (JSON Lines), for scripts.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """List recent runs, newest first (their records are in ~/.local/state/hostops/runs)."""
    console = Console()

    def body() -> int:
        runs = list(itertools.islice(iter_summaries(), last))
        console.out((history_json(runs) if as_json else history_text(runs)).encode(), plain=True)
        return 0

    raise typer.Exit(guarded(console, body, debug))


def show(
    run_id: RunArg = None,
    output: OutputOpt = OutputMode.STREAM,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Show a recorded run again, in any view, with its summary."""
    console = Console(color=False if no_color else None)

    def body() -> int:
        report = load_run(find_run(run_id)).report()
        view = ViewOptions(mode=output, color=False if no_color else None, progress=False)
        replay(report, view, console)
        return 0

    raise typer.Exit(guarded(console, body, debug))


def report(
    run_id: RunArg = None,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="Where to write the page ('-': stdout). [default: hostops-report-RUN.html]",
            show_default=False,
        ),
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Write a recorded run as one self-contained HTML page (nothing fetched, no server)."""
    console = Console()

    def body() -> int:
        from hostops.render.report import report_html  # only this command needs it

        run = load_run(find_run(run_id))
        page = report_html(run).encode()
        if out == "-":
            console.out(page)
            return 0
        path = Path(out or f"hostops-report-{run.id}.html")
        try:  # 0600, as the record itself: the page holds the hosts' outputs
            with os.fdopen(open_private(path, os.O_WRONLY | os.O_TRUNC), "wb") as f:
                f.write(page)
        except OSError as exc:
            raise UsageError(f"--out: {path}: {exc.strerror or exc}") from None
        console.message("note", f"run {run.id}: report written to {path} ({len(page) // 1024} KiB)")
        return 0

    raise typer.Exit(guarded(console, body, debug))
