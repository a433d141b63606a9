"""A finished run shown again (``hostops show``): its report rendered in any view as
the view showed it while the run went, then its summary."""

from __future__ import annotations

from hostops.host.base import STDERR, STDOUT
from hostops.models import RunReport
from hostops.render.console import (
    Console,
    OutputMode,
    StreamRenderer,
    ViewOptions,
    json_line,
    summary_text,
)
from hostops.render.views import folded_text


def replay(report: RunReport, view: ViewOptions, console: Console) -> None:
    """Render ``report``'s results in ``view``, host by host in report order, and its
    summary (unless ``view.summary`` is off). No progress line, no live view: the run is over."""
    stream = (
        StreamRenderer([r.host for r in report.results], console)
        if view.mode is OutputMode.STREAM
        else None
    )
    for result in report.results:
        if stream is not None:
            stream.feed(result.host, STDOUT, result.stdout)
            stream.feed(result.host, STDERR, result.stderr)
            stream.flush(result.host)
        if view.mode is OutputMode.JSON:
            console.out(json_line(result), plain=True)
    folded = folded_text(view.mode, report.results, console.out_color, console.out_tty)
    if folded:
        console.out(folded)
    if view.summary and view.mode is not None:
        console.err(summary_text(report, console.err_color).encode())
