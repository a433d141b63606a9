"""Steps over one Engine: an operation on every host in rolling batches (``hostops run``,
``put``, ``get`` with ``--batch``/``--max-fail``), and playbooks, whose tasks run over
one connection per host for the whole playbook.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.synchronize import Lock
from typing import TYPE_CHECKING

from hostops.batches import Count, batches, fail_limit
from hostops.credentials import Secrets
from hostops.fleet.dispatch import Job
from hostops.fleet.engine import Engine
from hostops.fleet.events import HostFinished
from hostops.host.stdin import Source
from hostops.journal import RecordPath
from hostops.models import Host, RunOptions, RunReport, Status
from hostops.operations import Operation, Outcome, Purpose, Step
from hostops.ranges import fold
from hostops.render.console import ViewOptions

if TYPE_CHECKING:  # Jinja2 and the playbook language load only when a playbook runs
    from hostops.playbook import (
        CheckReport,
        PlaybookPlan,
        PlaybookResult,
        TaskHostResult,
        TaskResult,
    )


def operate(
    hosts: Sequence[Host],
    op: Operation,
    *,
    batch: Count | None = None,
    max_fail: Count | None = None,
    options: RunOptions | None = None,
    view: ViewOptions | None = None,
    lock: Lock | None = None,
    record: RecordPath | None = None,
    secrets: Secrets | None = None,
    stdin: Source = None,
    raise_fd_limit: bool = False,
) -> RunReport:
    """Carry out ``op`` on every host, in batches of ``batch`` (all at once when None).

    After a batch with more failed hosts than ``max_fail`` allows (default: all
    of the batch), no further batch starts: its hosts end ``not_run``.
    ``lock``, ``record``, ``secrets``, ``stdin`` and ``raise_fd_limit``: as for
    :class:`hostops.fleet.engine.Engine` (hostops.run_operation is this without the
    plumbing of the command line: its console lock and run record).
    """
    hosts = list(hosts)
    if not hosts:
        return RunReport(results=(), duration_s=0.0)
    with Engine(
        hosts,
        options,
        view,
        lock,
        record,
        secrets=secrets,
        stdin=stdin,
        raise_fd_limit=raise_fd_limit,
    ) as engine:
        groups = batches(hosts, batch)
        not_run: list[HostFinished] = []
        for number, group in enumerate(groups, 1):
            if len(groups) > 1:
                engine.heading(f"batch {number}/{len(groups)}: {fold([h.name for h in group])}")
            outcomes = engine.execute([Job(engine.index[h.name], h, op) for h in group])
            failed = sum(o is not None and o.status.failed for o in outcomes.values())
            limit = fail_limit(len(group), max_fail)
            if engine.interrupted:
                break
            if failed > limit and number < len(groups):
                why = (
                    f"not run: {failed} of {len(group)} hosts failed in batch {number}"
                    f" (at most {limit} may: --max-fail {max_fail or 'the whole batch'})"
                )
                not_run = [
                    HostFinished(h.name, Status.NOT_RUN, None, None, 0.0, why)
                    for rest in groups[number:]
                    for h in rest
                ]
                break
        return engine.close(not_run)


@dataclass(frozen=True)
class PlayReport:
    """A playbook's account: per play, task and host (``result``: a
    :class:`hostops.playbook.PlaybookResult`), and per host (``report``: the
    playbook's result on each host, as the summary, the run record and the exit code
    see it)."""

    result: PlaybookResult
    report: RunReport


def play_plan(
    plan: PlaybookPlan,
    *,
    options: RunOptions | None = None,
    view: ViewOptions | None = None,
    lock: Lock | None = None,
    record: RecordPath | None = None,
    secrets: Secrets | None = None,
    raise_fd_limit: bool = False,
    force_handlers: bool = False,
    diff: bool = False,
) -> PlayReport:
    """Run a prepared playbook (``hostops.playbook.prepare``) over worker processes, one
    connection per host for the whole playbook. Host failures are results.
    ``lock``, ``record``, ``secrets`` and ``raise_fd_limit``: as for
    :class:`hostops.fleet.engine.Engine`; ``force_handlers`` and ``diff``: see
    :func:`hostops.playbook.run_playbook`."""
    from hostops.playbook import run_playbook  # Jinja2 and the playbook language: only here

    hosts = list(plan.hosts)
    options = options or RunOptions()
    if plan.lock and not options.lock:  # a play's `lock:`; --lock wins
        options = dataclasses.replace(options, lock=plan.lock)
    if not hosts:
        from hostops.playbook import PlaybookResult

        return PlayReport(PlaybookResult((), 0.0), RunReport(results=(), duration_s=0.0))
    with Engine(
        hosts,
        options,
        view,
        lock,
        record,
        keep=True,
        secrets=secrets,
        raise_fd_limit=raise_fd_limit,
    ) as engine:
        executor = _EngineExecutor(engine)
        try:
            result = run_playbook(plan, executor, force_handlers=force_handlers, diff=diff)
        except KeyboardInterrupt:  # between two steps: the engine stops what runs
            engine.interrupt()
            raise
        return PlayReport(result, engine.close(_host_results(result, hosts, executor)))


def check_plan(
    plan: PlaybookPlan,
    *,
    options: RunOptions | None = None,
    lock: Lock | None = None,
    secrets: Secrets | None = None,
) -> CheckReport:
    """Check mode (``hostops.playbook.check``). When the plan installs templates, their
    hosts are reached to read the current files and show diffs (the only commands
    run); otherwise nothing connects."""
    from hostops.playbook import TemplateAction, check

    hosts = [
        h
        for p in plan.plays
        if any(isinstance(t.action, TemplateAction) for _, t in p.tasks)
        for h in p.hosts
    ]
    if not hosts:
        return check(plan)
    unique = list({h.name: h for h in hosts}.values())
    with Engine(unique, options, ViewOptions(), lock, None, keep=True, secrets=secrets) as engine:
        report = check(plan, _EngineExecutor(engine))
        engine.close([])
    return report


class _EngineExecutor:
    """The playbook runner's Executor: each step's operations as jobs that keep the
    host's connection in its worker."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._hosts = {h.name: h for h in engine.hosts}
        self.reused: dict[str, bool] = {}  # host -> its first step came over a kept connection
        self.connect_s: dict[str, float | None] = {}  # host -> its first step's connecting
        self.ended_at: dict[str, float] = {}  # host -> when its last step ended (monotonic)

    def execute(self, step: Step, operations: Mapping[str, Operation]) -> Mapping[str, Outcome]:
        engine = self._engine
        if step.purpose is Purpose.TASK:
            kind = "handler" if step.handler else "task"
            item = f" [{step.item}]" if step.item is not None else ""
            again = f" (attempt {step.attempt})" if step.attempt > 1 else ""
            engine.heading(
                f"{step.play}: {kind} {step.number} {step.task!r}{item}{again}:"
                f" {fold(list(operations))}"
            )
        jobs = [
            Job(
                engine.index[name],
                self._hosts[name],
                op,
                keep=True,
                final=False,
                show=step.purpose is Purpose.TASK,
                collect=True,
            )
            for name, op in operations.items()
        ]
        outcomes = engine.execute(jobs)
        now = time.monotonic()
        for name, outcome in outcomes.items():
            if outcome is not None:
                self.reused.setdefault(name, outcome.reused)
                self.connect_s.setdefault(name, outcome.connect_s)
                self.ended_at[name] = now
        return {
            name: outcome or Outcome(Status.ERROR, error="no outcome from the worker")
            for name, outcome in outcomes.items()
        }

    def finished(self, hosts: Collection[str]) -> None:
        self._engine.release(list(hosts))


def _host_results(
    result: PlaybookResult, hosts: Sequence[Host], executor: _EngineExecutor
) -> list[HostFinished]:
    """Each host's result of the whole playbook (see ``PlaybookResult.host_statuses``):
    its first failure that was not ignored (which task, why), else how far it got;
    changed when any task changed it."""
    failure: dict[str, tuple[TaskResult, TaskHostResult]] = {}
    changed: dict[str, bool] = {}
    duration: dict[str, float] = {}
    for play_result in result.plays:
        for task in play_result.tasks:
            for r in task.results:
                duration[r.host] = duration.get(r.host, 0.0) + r.duration_s
                changed[r.host] = changed.get(r.host, False) or (r.changed and not r.failed)
                if r.failed and not r.ignored and r.host not in failure:
                    failure[r.host] = (task, r)
    statuses = result.host_statuses()
    progress = result.tasks_done()
    events = []
    for host in hosts:
        status = statuses.get(host.name, Status.NOT_RUN)
        done, total = progress.get(host.name, (0, 0))
        error = exit_code = None
        if host.name in failure:
            task, r = failure[host.name]
            error = f"task {task.number} {task.name!r}: {r.error or r.status.value}"
            exit_code = r.exit_code
        elif status is Status.SKIPPED:
            error = "every task skipped by its condition"
        elif status is Status.NOT_RUN:
            error = f"not run: {result.stopped or 'the playbook stopped'}"
        elif status is Status.INTERRUPTED and not done:
            error = "interrupted before it started"  # as run says it
        elif status is not Status.OK:
            why = "interrupted" if status is Status.INTERRUPTED else result.stopped
            error = f"{done} of {total} tasks done: {why or 'the playbook stopped'}"
        events.append(
            HostFinished(
                host.name,
                status,
                exit_code,
                None,
                duration.get(host.name, 0.0),
                error,
                1,
                changed.get(host.name, False),
                (done, total),
                executor.reused.get(host.name, False),
                executor.connect_s.get(host.name),
                executor.ended_at.get(host.name),
            )
        )
    return events
