"""A playbook's recap as a run record line: per play and task, how many hosts were ok,
changed, failed and skipped, and which hosts stopped at that task (``hostops report``
shows it). Host sets are folded (``web[01-05]``): the line stays small at any scale."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hostops.models import Status
from hostops.playbook.results import PlaybookResult
from hostops.ranges import fold


def _same(text: str) -> str:
    return text


def recap_line(result: PlaybookResult, mask: Callable[[str], str] = _same) -> dict[str, Any]:
    """The ``{"type": "recap", ...}`` line of ``result``. ``mask`` is applied to every
    text taken from the playbook (task names, why a play stopped): vaulted values a
    template put there never reach the record.

    Per task: ``stopped``, the hosts whose first failure that was not ignored is this
    task (where they stopped). Per play: ``not_run``, the hosts of batches that never
    started, folded per final status."""
    statuses = result.host_statuses()
    stopped_at: dict[str, tuple[int, bool, int]] = {}
    for play in result.plays:
        for task in play.tasks:
            for r in task.results:
                if r.failed and not r.ignored:
                    stopped_at.setdefault(r.host, (play.number, task.handler, task.number))
    here: dict[tuple[int, bool, int], list[str]] = {}
    for host, where in stopped_at.items():
        here.setdefault(where, []).append(host)
    plays = []
    for play in result.plays:
        never: dict[str, list[str]] = {}
        for host in play.not_run:
            never.setdefault(statuses.get(host, Status.NOT_RUN).value, []).append(host)
        tasks = [
            {
                "number": t.number,
                "name": mask(t.name),
                "kind": t.kind,
                "handler": t.handler,
                "ok": t.ok,
                "changed": t.changed,
                "failed": t.failed,
                "skipped": t.skipped,
                "ignored": t.ignored,
                "stopped": fold(here.get((play.number, t.handler, t.number), [])),
            }
            for t in play.tasks
        ]
        plays.append(
            {
                "number": play.number,
                "name": mask(play.name),
                "hosts": fold(play.hosts),
                "count": len(play.hosts),
                "batches": len(play.batches),
                "stopped": mask(play.stopped) if play.stopped else None,
                "not_run": {status: fold(hosts) for status, hosts in never.items()},
                "tasks": tasks,
            }
        )
    return {
        "type": "recap",
        "plays": plays,
        "stopped": mask(result.stopped) if result.stopped else None,
        "interrupted": result.interrupted,
    }
