"""Check mode: what each task would do on each host, changing nothing.

Templates are rendered and ``when`` evaluated for every host (per item for a
loop). Nothing has run, so a result registered by an earlier task is unknown,
unless that task is sure to be skipped (``when`` false): then it is the skipped
result. A ``when`` or a field that reads an unknown result is reported as such,
not guessed. Handlers are listed as what would run if notified. Given an
executor, :func:`check` also reads each template's destination on its host (a
read-only command) and shows the unified diff of what installing it would change.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from hostops.models import Status
from hostops.operations import Executor, Purpose, Step, Upload
from hostops.playbook import template
from hostops.playbook.diffs import read_command, unified
from hostops.playbook.model import MetaAction, Playbook, Task
from hostops.playbook.plan import (
    PlaybookPlan,
    PlayPlan,
    loop_names,
    loop_templates,
    task_templates,
)
from hostops.playbook.render import Rendered, describe, render_task
from hostops.playbook.results import TaskHostResult
from hostops.playbook.runner import item_label, loop_items
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
    """One task on one host in check mode. ``action`` has its templates rendered (one
    line per loop item), or is the task's own text when it reads an unknown result;
    ``note`` says why when it is not a plain run (and what ``creates``/``removes``
    would decide). ``diff``: what a template would change (check with an executor)."""

    number: int
    name: str
    would: Would
    action: str
    note: str | None = None
    handler: bool = False
    diff: str | None = None


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

    def errors(self) -> list[str]:
        """One line per host a task would fail on (a template that does not render
        there, a run that renders to nothing): ``HOST: play N task M 'NAME': WHY``."""
        return [
            f"{h.host}: play {p.number} task {t.number} {t.name!r}: {t.note}"
            for p in self.plays
            for h in p.hosts
            for t in h.tasks
            if t.would is Would.ERROR
        ]

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
                    number = f"handler {t.number}" if t.handler else f"{t.number}."
                    out.append(f"    {number} {t.name}: {t.would}{note}")
                    if t.would in (Would.RUN, Would.UNKNOWN):
                        out.append("         " + t.action.replace("\n", "\n         "))
                    if t.diff:
                        out += ["         " + line for line in t.diff.splitlines()]
        return out


def check(plan: PlaybookPlan, executor: Executor | None = None) -> CheckReport:
    """What every task of ``plan`` would do on every host (see the module docstring).
    With ``executor``, templates' destinations are read to show diffs (nothing else
    runs); a host that cannot be read gets a one-line note instead of a diff."""
    known: dict[str, dict[str, Any]] = {h.name: {} for h in plan.hosts}
    unknown: dict[str, set[str]] = {h.name: set() for h in plan.hosts}
    plays = []
    for play in plan.plays:
        installs: dict[int, dict[str, Rendered]] = {}
        hosts = tuple(
            HostCheck(
                h.name,
                _host_tasks(plan, play, h.name, known[h.name], unknown[h.name], installs),
            )
            for h in play.hosts
        )
        if executor is not None:
            hosts = _with_diffs(executor, play, hosts, installs)
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
    plan: PlaybookPlan,
    play: PlayPlan,
    host: str,
    known: dict[str, Any],
    unknown: set[str],
    installs: dict[int, dict[str, Rendered]],
) -> tuple[PlannedTask, ...]:
    out = []
    first = next(b[0].name for b in play.batches if host in (h.name for h in b))
    notifiers: dict[str, list[int]] = {}
    for number, task in play.tasks:
        context = {**play.variables[host], **known}
        if task.run_once and host != first:
            planned = PlannedTask(
                number, task.title, Would.SKIP, task.text, f"run_once: on {first}"
            )
        else:
            rendered: list[Rendered] = []
            planned = _task(plan.playbook, number, task, context, unknown, host, rendered)
            if len(rendered) == 1 and rendered[0].content is not None:
                installs.setdefault(number, {})[host] = rendered[0]
            notes = [planned.note] if planned.note else []
            notes += [f"run_once: for the batch, from {first}"] if task.run_once else []
            if task.notify and planned.would is not Would.SKIP:
                notes.append("if changed, notifies " + ", ".join(map(repr, task.notify)))
                for name in task.notify:
                    notifiers.setdefault(name, []).append(number)
            planned = replace(planned, note="; ".join(notes) or None)
        out.append(planned)
        if task.register:
            if planned.would is Would.SKIP:
                known[task.register] = TaskHostResult(host, Status.SKIPPED).registered()
                unknown.discard(task.register)
            else:
                unknown.add(task.register)
                known.pop(task.register, None)
    for number, handler in enumerate(play.play.handlers, 1):
        tasks = notifiers.get(handler.name)
        if tasks:
            by = ", ".join(map(str, tasks))
            note = f"runs if task {by} changes something"
            out.append(PlannedTask(number, handler.title, Would.UNKNOWN, handler.text, note, True))
    return tuple(out)


def _task(
    playbook: Playbook,
    number: int,
    task: Task,
    context: Mapping[str, Any],
    unknown: set[str],
    host: str,
    rendered: list[Rendered],
) -> PlannedTask:
    """``task`` on ``host``; what it renders to goes to ``rendered`` (one per item)."""

    def planned(would: Would, action: str, note: str | None = None) -> PlannedTask:
        return PlannedTask(number, task.title, would, action, note)

    if isinstance(task.action, MetaAction):
        return planned(Would.RUN, task.text)
    loop = sorted(
        {n for s in loop_templates(task) for n in template.template_names(s).read} & unknown
    )
    if loop:
        return planned(Would.UNKNOWN, task.text, f"loop reads {_names(loop)}")
    try:
        items = loop_items(task, dict(context)) if task.loop is not None else [None]
    except template.TemplateError as exc:
        return planned(Would.ERROR, task.text, f"loop: {exc}")
    per_item = []
    for index, item in enumerate(items):
        own = dict(context)
        if task.loop is not None:
            own[task.loop_var] = item
            if task.index_var:
                own[task.index_var] = index
        one = _one(playbook, number, task, own, unknown, host, rendered)
        if task.loop is not None:
            one = replace(one, action=f"[{item_label(task, own, item)}] {one.action}")
        per_item.append(one)
    if task.loop is None:
        return per_item[0]
    if not per_item:
        return planned(Would.SKIP, task.text, "loop: no items")
    running = [p for p in per_item if p.would is not Would.SKIP] or per_item
    worst = next((p for p in running if p.would is Would.ERROR), running[0])
    notes = [f"{len(items)} item{'s' if len(items) != 1 else ''}"]
    notes += sorted({p.note for p in running if p.note})
    return planned(worst.would, "\n".join(p.action for p in running), "; ".join(notes))


def _one(
    playbook: Playbook,
    number: int,
    task: Task,
    context: Mapping[str, Any],
    unknown: set[str],
    host: str,
    rendered: list[Rendered],
) -> PlannedTask:
    """``task`` (one item of it) on ``host``."""

    def planned(would: Would, action: str, note: str | None = None) -> PlannedTask:
        return PlannedTask(number, task.title, would, action, note)

    waiting = sorted({n for e in task.when for n in template.expression_names(e).read} & unknown)
    reads = sorted(
        {n for _, source in task_templates(task) for n in template.template_names(source).read}
        & (unknown - loop_names(task))
    )
    try:
        if waiting:
            return planned(Would.UNKNOWN, task.text, f"when reads {_names(waiting)}")
        if not all(template.evaluate(e, context) for e in task.when):
            return planned(Would.SKIP, task.text, "when is false")
        if reads:
            return planned(Would.RUN, task.text, f"reads {_names(reads)}")
        done = render_task(playbook, task, context)
    except (template.TemplateError, ValueError) as exc:
        return planned(Would.ERROR, task.text, str(exc))
    rendered.append(done)
    note = []
    if done.creates:
        note.append(f"skipped if {done.creates} exists")
    if done.removes:
        note.append(f"skipped if {done.removes} does not exist")
    return planned(Would.RUN, describe(done, host), "; ".join(note) or None)


def _with_diffs(
    executor: Executor,
    play: PlayPlan,
    hosts: tuple[HostCheck, ...],
    installs: dict[int, dict[str, Rendered]],
) -> tuple[HostCheck, ...]:
    """Each template's diff on each host, read with one command per task for all hosts."""
    diffs: dict[tuple[int, str], str] = {}
    by_number = dict(play.tasks)
    for number, rendered in installs.items():
        uploads = {h: r.operation for h, r in rendered.items()}
        reads = {h: read_command(u) for h, u in uploads.items() if isinstance(u, Upload)}
        step = Step(play.play.title, by_number[number].title, number, Purpose.PROBE)
        for host, current in executor.execute(step, reads).items():
            upload = uploads[host]
            assert isinstance(upload, Upload)
            content = rendered[host].content or ""
            diffs[number, host] = unified(upload, current, content) or "(no change)\n"
    return tuple(
        replace(
            h,
            tasks=tuple(
                replace(t, diff=diffs.get((t.number, h.host))) if not t.handler else t
                for t in h.tasks
            ),
        )
        for h in hosts
    )


def _names(names: list[str]) -> str:
    return ", ".join(f"registered {n!r}" for n in names) + ", known only when run"
