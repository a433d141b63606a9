"""A playbook's section of the report: per play, per task, how many hosts were ok,
changed, failed and skipped, and which hosts stopped at which task (the record's
``recap`` line, see :mod:`hostops.playbook.recap`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hostops.render.report.markup import text

_COUNTS = ("ok", "changed", "failed", "skipped", "ignored")


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def recap_section(recap: dict[str, Any] | None) -> Iterator[str]:
    """The section's HTML; a note when the record has no recap (an older hostops, or
    hostops stopped before the playbook ended). Anything malformed in the line (a
    record edited by hand) is shown as text or left out, never trusted as markup."""
    yield '<h2 id="recap">Playbook recap</h2>'
    if recap is None or not isinstance(recap.get("plays"), list):
        yield (
            '<p class="note">This record has no per-task recap (written by an older'
            " hostops, or hostops stopped before the playbook ended). Each host's cell above"
            " says how many of its tasks were done and where it failed.</p>"
        )
        return
    for play in recap["plays"]:
        if not isinstance(play, dict):
            continue
        count, batches = _int(play.get("count")), _int(play.get("batches"))
        yield (
            f"<h3>play {_int(play.get('number'))} {text(repr(str(play.get('name', ''))))}"
            f" on {text(str(play.get('hosts') or 'no host'))} ({count} hosts"
            f"{f', {batches} batches' if batches > 1 else ''})</h3>"
        )
        yield (
            '<table><tr><th>#</th><th class="l">task</th>'
            + "".join(f"<th>{word}</th>" for word in _COUNTS)
            + '<th class="l">stopped here</th></tr>'
        )
        for task in play.get("tasks") or []:
            if not isinstance(task, dict):
                continue
            kind = "handler " if task.get("handler") else ""
            cells = "".join(
                f'<td class="{"hot" if word == "failed" and _int(task.get(word)) else ""}">'
                f"{_int(task.get(word))}</td>"
                for word in _COUNTS
            )
            yield (
                f"<tr><td>{_int(task.get('number'))}</td>"
                f'<td class="l">{text(kind + str(task.get("name", "")))}</td>{cells}'
                f'<td class="l">{text(str(task.get("stopped") or ""))}</td></tr>'
            )
        yield "</table>"
        if play.get("stopped"):
            yield f"<p>Play stopped: {text(str(play['stopped']))}</p>"
        not_run = play.get("not_run")
        if isinstance(not_run, dict):
            for status, hosts in not_run.items():
                yield f"<p>Never started: {text(str(hosts))} ({text(str(status))})</p>"
    if recap.get("stopped"):
        yield f"<p>Playbook stopped: {text(str(recap['stopped']))}</p>"
