"""Check mode: what each task would do on each host, running nothing.

Templates are rendered and ``when`` evaluated for every host. Nothing has run,
so a result registered by an earlier task is unknown, unless that task is
sure to be skipped (``when`` false): then it is the skipped result. A ``when``
or a field that reads an unknown result is reported as such, not guessed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hostops.models import Status
from hostops.playbook import template
from hostops.playbook.model import Playbook, Task
from hostops.playbook.plan import PlaybookPlan, PlayPlan, task_templates
from hostops.playbook.render import describe, render_task
from hostops.playbook.results import TaskHostResult
from hostops.ranges import fold


class Would(str, enum.Enum):
    """What a task would do on a host."""

    RUN = "run"
    SKIP = "skip"
    UNKNOWN = "unknown"  # `when` reads a result that only running can produce
    ERROR = "error"  # a template fails for this host: the run would fail it

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class PlannedTask:
    """One task on one host in check mode. ``action`` has its templates rendered, or is
    the task's own text when it reads an unknown result; ``note`` says why when it
    is not a plain run (and what ``creates``/``removes`` would decide)."""

    number: int
    name: str
    would: Would
    action: str
    note: str | None = None


@dataclass(frozen=True)
class HostCheck:
    host: str
    tasks: tuple[PlannedTask, ...]


@dataclass(frozen=True)
class PlayCheck:
    number: int
    name: str
    batches: tuple[tuple[str, ...], ...]
    max_fail: str  # as written, or "" when not given
    hosts: tuple[HostCheck, ...]


@dataclass(frozen=True)
class CheckReport:
    plays: tuple[PlayCheck, ...]

    def lines(self) -> list[str]:
        """A plain-text rendering: per play, hosts with the same plan folded together; the
        action is shown for the tasks that would (or might) run."""
        out = []
        for play in self.plays:
            count = len(play.batches)
            shape = f"{count} batch{'es' if count != 1 else ''}: "
            shape += " | ".join(fold(b) for b in play.batches) if count else "no hosts"
            if play.max_fail:
                shape += f"; max_fail {play.max_fail}"
            out.append(f"play {play.number} {play.name!r}: {shape}")
            same: dict[tuple[PlannedTask, ...], list[str]] = {}
            for host in play.hosts:
                same.setdefault(host.tasks, []).append(host.host)
            for tasks, names in same.items():
                out.append(f"  {fold(names)}")
                for t in tasks:
                    note = f" ({t.note})" if t.note else ""
                    out.append(f"    {t.number}. {t.name}: {t.would}{note}")
                    if t.would in (Would.RUN, Would.UNKNOWN):
                        out.append("         " + t.action.replace("\n", "\n         "))
        return out


def check(plan: PlaybookPlan) -> CheckReport:
    """What every task of ``plan`` would do on every host (see the module docstring)."""
    known: dict[str, dict[str, Any]] = {h.name: {} for h in plan.hosts}
    unknown: dict[str, set[str]] = {h.name: set() for h in plan.hosts}
    plays = []
    for play in plan.plays:
        hosts = tuple(
            HostCheck(h.name, _host_tasks(plan, play, h.name, known[h.name], unknown[h.name]))
            for h in play.hosts
        )
        plays.append(
            PlayCheck(
                number=play.number,
                name=play.play.title,
                batches=tuple(tuple(h.name for h in b) for b in play.batches),
                max_fail=str(play.play.max_fail) if play.play.max_fail is not None else "",
                hosts=hosts,
            )
        )
    return CheckReport(tuple(plays))


def _host_tasks(
    plan: PlaybookPlan, play: PlayPlan, host: str, known: dict[str, Any], unknown: set[str]
) -> tuple[PlannedTask, ...]:
    out = []
    for number, task in enumerate(play.play.tasks, 1):
        context = {**play.variables[host], **known}
        planned = _task(plan.playbook, number, task, context, unknown, host)
        out.append(planned)
        if task.register:
            if planned.would is Would.SKIP:
                known[task.register] = TaskHostResult(host, Status.SKIPPED).registered()
                unknown.discard(task.register)
            else:
                unknown.add(task.register)
                known.pop(task.register, None)
    return tuple(out)


def _task(
    playbook: Playbook,
    number: int,
    task: Task,
    context: Mapping[str, Any],
    unknown: set[str],
    host: str,
) -> PlannedTask:
    def planned(would: Would, action: str, note: str | None = None) -> PlannedTask:
        return PlannedTask(number, task.title, would, action, note)

    waiting = sorted({n for e in task.when for n in template.expression_names(e).read} & unknown)
    reads = sorted(
        {n for _, source in task_templates(task) for n in template.template_names(source).read}
        & unknown
    )
    try:
        if waiting:
            return planned(Would.UNKNOWN, task.text, f"when reads {_names(waiting)}")
        if not all(template.evaluate(e, context) for e in task.when):
            return planned(Would.SKIP, task.text, "when is false")
        if reads:
            return planned(Would.RUN, task.text, f"reads {_names(reads)}")
        rendered = render_task(playbook, task, context)
    except (template.TemplateError, ValueError) as exc:
        return planned(Would.ERROR, task.text, str(exc))
    note = []
    if rendered.creates:
        note.append(f"skipped if {rendered.creates} exists")
    if rendered.removes:
        note.append(f"skipped if {rendered.removes} does not exist")
    return planned(Would.RUN, describe(rendered, host), "; ".join(note) or None)


def _names(names: list[str]) -> str:
    return ", ".join(f"registered {n!r}" for n in names) + ", known only when run"
