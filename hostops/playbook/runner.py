"""Run a prepared playbook through an executor: the order and the rules of a rollout.

- Plays run in order; a play's hosts run in batches (``serial``). Within a
  batch every task ends on all its hosts before the next task starts, so a
  failing step stops the rollout where it is.
- A host whose task fails (not ``ignore_errors``) drops out of the rest of the
  playbook, as in Ansible. When a batch's failures exceed the play's
  ``max_fail``, the play stops at once: no further task, no further batch,
  no further play.
- Handlers (Ansible's rules): a task that changed something on a host notifies
  its handlers there; at the end of the batch (or at ``meta: flush_handlers``)
  each notified handler runs once on those hosts, in the order the handlers are
  defined. A host that failed after notifying does not run them, unless
  ``force_handlers`` (``--force-handlers``); then they also run when the play
  stopped on ``max_fail``. Never after an interruption.
- Per host and task: ``when`` false skips it; ``creates``/``removes`` skip it
  after a probe; the action runs, again after ``delay`` while ``until`` is
  false (or, without ``until``, while it fails), at most ``retries`` more
  times; ``changed_when`` decides whether it changed something (by default a
  run or script always does, a put, template or get when some content
  differed); ``register`` keeps its result, skipped or not. A ``loop`` does all
  of that per item (items in order, every host's item k at once), and the
  host's result sums the items up. ``run_once`` runs it on the batch's first
  host and gives that result to every host of the batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hostops.batches import batches, fail_limit
from hostops.models import Host, Status
from hostops.operations import Executor
from hostops.playbook import template
from hostops.playbook.iteration import Iteration, RunSettings
from hostops.playbook.model import MetaAction, Task
from hostops.playbook.plan import PlaybookPlan, PlayPlan
from hostops.playbook.results import PlaybookResult, PlayResult, TaskHostResult, TaskResult


def run_playbook(
    plan: PlaybookPlan,
    executor: Executor,
    *,
    sleep: Callable[[float], None] = time.sleep,
    force_handlers: bool = False,
    diff: bool = False,
) -> PlaybookResult:
    """Run every play of ``plan`` through ``executor``; return what happened.

    Host failures are results, never exceptions. ``sleep`` waits between
    attempts of a retried task (tests pass a fake). ``force_handlers``: as
    ``--force-handlers``. ``diff``: keep in each template result the diff of
    what it changed (read from the host before it is replaced).
    """
    return _Run(plan, executor, RunSettings(sleep, diff), force_handlers).run()


@dataclass
class _Stop:
    reason: str
    interrupted: bool = False


@dataclass
class _Batch:
    """One batch of a play as it runs."""

    number: int
    hosts: tuple[Host, ...]
    limit: int  # failures it tolerates
    active: list[Host]
    failures: int = 0
    notified: dict[str, set[str]] = field(default_factory=dict)  # handler -> hosts


class _Run:
    def __init__(
        self, plan: PlaybookPlan, executor: Executor, settings: RunSettings, force: bool
    ) -> None:
        self.plan = plan
        self.executor = executor
        self.settings = settings
        self.force = force
        self.registered: dict[str, dict[str, Any]] = {h.name: {} for h in plan.hosts}
        self.dropped: set[str] = set()  # failed: out of the rest of the playbook
        self.released: set[str] = set()  # told to the executor as finished

    def run(self) -> PlaybookResult:
        started = time.monotonic()
        plays = []
        stop = None
        for index, play in enumerate(self.plan.plays):
            later = {h.name for p in self.plan.plays[index + 1 :] for h in p.hosts}
            result, stop = self.play(play, later)
            plays.append(result)
            if stop:
                break
        self.release([h.name for h in self.plan.hosts])
        planned = dict.fromkeys((h.name for h in self.plan.hosts), 0)
        for play in self.plan.plays:
            count = sum(not isinstance(t.action, MetaAction) for _, t in play.tasks)
            for host in play.hosts:
                planned[host.name] += count
        return PlaybookResult(
            tuple(plays),
            time.monotonic() - started,
            stopped=stop.reason if stop else None,
            interrupted=bool(stop and stop.interrupted),
            planned=planned,
        )

    def release(self, names: Sequence[str]) -> None:
        done = [n for n in names if n not in self.released]
        if done:
            self.released.update(done)
            self.executor.finished(done)

    def play(self, plan: PlayPlan, later: set[str]) -> tuple[PlayResult, _Stop | None]:
        play = plan.play
        hosts = [h for h in plan.hosts if h.name not in self.dropped]
        # (handler?, number) -> results, in the order the tasks first ran
        results: dict[tuple[bool, int], list[TaskHostResult]] = {}
        all_batches = batches(hosts, play.serial)
        stop = None
        started = 0
        for number, hosts_of_batch in enumerate(all_batches, 1):
            started += 1
            limit = fail_limit(len(hosts_of_batch), play.max_fail)
            batch = _Batch(number, hosts_of_batch, limit, list(hosts_of_batch))
            stop = self.batch(plan, batch, results)
            done = [h.name for h in hosts_of_batch if h.name in self.dropped or h.name not in later]
            self.release(done)
            if stop:
                break
        not_run = tuple(h.name for b in all_batches[started:] for h in b)
        tasks = []
        for handler, number in sorted(results, key=lambda k: (k[0], k[1])):
            task = (play.handlers if handler else play.tasks)[number - 1]
            rs = tuple(results[handler, number])
            tasks.append(TaskResult(number, task.title, task.kind, rs, handler))
        return (
            PlayResult(
                number=plan.number,
                name=play.title,
                hosts=tuple(h.name for h in hosts),
                batches=tuple(tuple(h.name for h in b) for b in all_batches[:started]),
                tasks=tuple(tasks),
                stopped=stop.reason if stop else None,
                not_run=not_run,
            ),
            stop,
        )

    def batch(
        self, plan: PlayPlan, batch: _Batch, results: dict[tuple[bool, int], list[TaskHostResult]]
    ) -> _Stop | None:
        stop = None
        for number, task in plan.tasks:
            if not batch.active:
                break
            if isinstance(task.action, MetaAction):
                stop = self.flush(plan, batch, results)
            else:
                stop = self.step(plan, batch, task, number, False, batch.active, results)
            if stop:
                break
        if stop is None:
            return self.flush(plan, batch, results)
        if not stop.interrupted and (self.force or plan.play.force_handlers):
            self.flush(plan, batch, results)
        return stop

    def flush(
        self, plan: PlayPlan, batch: _Batch, results: dict[tuple[bool, int], list[TaskHostResult]]
    ) -> _Stop | None:
        """Run the notified handlers, in the order they are defined, each once per host;
        a handler notified by another runs in the same flush."""
        force = self.force or plan.play.force_handlers
        ran: set[tuple[str, str]] = set()
        progress = True
        while progress:
            progress = False
            for number, handler in enumerate(plan.play.handlers, 1):
                waiting = batch.notified.get(handler.name, set())
                hosts = [
                    h
                    for h in batch.hosts
                    if h.name in waiting
                    and (force or h.name not in self.dropped)
                    and (handler.name, h.name) not in ran
                ]
                if not hosts:
                    continue
                progress = True
                waiting -= {h.name for h in hosts}
                ran.update((handler.name, h.name) for h in hosts)
                stop = self.step(plan, batch, handler, number, True, hosts, results)
                if stop:
                    return stop
        return None

    def step(
        self,
        plan: PlayPlan,
        batch: _Batch,
        task: Task,
        number: int,
        handler: bool,
        hosts: Sequence[Host],
        results: dict[tuple[bool, int], list[TaskHostResult]],
    ) -> _Stop | None:
        """Run one task (or handler) on ``hosts`` and apply its results to the batch."""
        contexts = {h.name: {**plan.variables[h.name], **self.registered[h.name]} for h in hosts}
        outcome = _run_task(self, plan, task, number, handler, contexts)
        for host in hosts:
            result = outcome[host.name]
            results.setdefault((handler, number), []).append(result)
            if task.register:
                self.registered[host.name][task.register] = result.registered()
            # As Ansible: a run_once task notifies on the host that ran it only.
            if result.changed and not result.failed and result.copied_from is None:
                for name in task.notify:
                    batch.notified.setdefault(name, set()).add(host.name)
            if result.failed and not result.ignored and host.name not in self.dropped:
                batch.failures += 1
                self.dropped.add(host.name)
        if any(r.status is Status.INTERRUPTED for r in outcome.values()):
            return _Stop("interrupted", interrupted=True)
        batch.active = [h for h in batch.active if h.name not in self.dropped]
        if batch.failures > batch.limit:
            title, max_fail = plan.play.title, plan.play.max_fail
            if max_fail is None:
                return _Stop(f"play {title!r}: every host of batch {batch.number} failed")
            return _Stop(
                f"play {title!r}: {batch.failures} of {len(batch.hosts)} hosts failed in "
                f"batch {batch.number} (max_fail {max_fail}: at most {batch.limit})"
            )
        return None


def _run_task(
    run: _Run,
    plan: PlayPlan,
    task: Task,
    number: int,
    handler: bool,
    contexts: dict[str, dict[str, Any]],
) -> dict[str, TaskHostResult]:
    """``task`` on the hosts of ``contexts``: once per loop item, or on the first host
    only (``run_once``, its result copied to the others)."""
    names = list(contexts)
    if task.run_once and len(names) > 1:
        first = _run_task(run, plan, task, number, handler, {names[0]: contexts[names[0]]})
        mine = first[names[0]]
        copies = {name: replace(mine, host=name, copied_from=names[0]) for name in names[1:]}
        return {names[0]: mine, **copies}

    def iteration(chosen: dict[str, dict[str, Any]], item: str | None) -> dict[str, Any]:
        return Iteration(
            run.executor, run.plan.playbook, plan.play.title, task, number, handler, run.settings
        ).run(chosen, item)

    if task.loop is None:
        return iteration(contexts, None)
    results: dict[str, TaskHostResult] = {}
    items: dict[str, list[Any]] = {}
    for name, context in contexts.items():
        try:
            items[name] = loop_items(task, context)
        except template.TemplateError as exc:
            results[name] = TaskHostResult(
                name, Status.ERROR, error=f"loop: {exc}", attempts=0, ignored=task.ignore_errors
            )
    done: dict[str, list[TaskHostResult]] = {name: [] for name in items}
    for k in range(max((len(v) for v in items.values()), default=0)):
        chosen = {}
        labels = set()
        for name, values in items.items():
            if k < len(values):
                chosen[name] = {**contexts[name], task.loop_var: values[k]}
                if task.index_var:
                    chosen[name][task.index_var] = k
                labels.add(item_label(task, chosen[name], values[k]))
        label = labels.pop() if len(labels) == 1 else f"#{k + 1}"
        got = iteration(chosen, label)
        for name, result in got.items():
            done[name].append(replace(result, item=items[name][k]))
        if any(r.status is Status.INTERRUPTED for r in got.values()):
            break
    for name, per_item in done.items():
        results[name] = _sum_up(name, task, per_item)
    return results


def loop_items(task: Task, context: dict[str, Any]) -> list[Any]:
    """The items of ``task``'s loop for a host; raises TemplateError when the loop does
    not give a list."""
    value = template.render_value(task.loop, context)
    if isinstance(value, dict) or not isinstance(value, (list, tuple)):
        got = type(value).__name__
        raise template.TemplateError(f"loop must give a list, not a {got}: {value!r:.80}")
    return list(value)


def item_label(task: Task, context: dict[str, Any], item: Any) -> str:
    """What names an item in the output: ``loop_control.label`` rendered, else the item."""
    if task.loop_label is not None:
        try:
            return template.render(task.loop_label, context)
        except template.TemplateError:
            return str(item)
    return item if isinstance(item, str) else repr(item)


def _sum_up(host: str, task: Task, items: list[TaskHostResult]) -> TaskHostResult:
    """A looped task's result on a host: the first failing item's status, else ok (or
    skipped when every item was); its output is every item's, in order."""
    failed = [r for r in items if r.failed]
    if failed:
        status = failed[0].status
        error = f"item {item_label(task, {}, failed[0].item)}: {failed[0].error or status.value}"
    else:
        skipped = items and all(r.status is Status.SKIPPED for r in items)
        status = Status.SKIPPED if skipped or not items else Status.OK
        error = None
    diffs = [r.diff for r in items if r.diff]
    return TaskHostResult(
        host,
        status,
        changed=any(r.changed for r in items),
        exit_code=failed[0].exit_code if failed else None,
        stdout=b"".join(r.stdout for r in items),
        stderr=b"".join(r.stderr for r in items),
        error=error,
        attempts=sum(r.attempts for r in items),
        ignored=bool(failed) and task.ignore_errors,
        skip_reason="no items" if not items else None,
        files=tuple(f for r in items for f in r.files),
        duration_s=sum(r.duration_s for r in items),
        items=tuple(items),
        diff="".join(diffs) if diffs else None,
    )
