"""Run a prepared playbook through an executor: the order and the rules of a rollout.

- Plays run in order; a play's hosts run in batches (``serial``). Within a
  batch every task ends on all its hosts before the next task starts, so a
  failing step stops the rollout where it is.
- A host whose task fails (not ``ignore_errors``) drops out of the rest of the
  playbook, as in Ansible. When a batch's failures exceed the play's
  ``max_fail``, the play stops at once: no further task, no further batch,
  no further play.
- Per host and task: ``when`` false skips it; ``creates``/``removes`` skip it
  after a probe; the action runs, again after ``delay`` while ``until`` is
  false (or, without ``until``, while it fails), at most ``retries`` more
  times; ``changed_when`` decides whether it changed something (by default a
  run or script always does, a put or get when some content differed);
  ``register`` keeps its result, skipped or not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hostops.batches import batches, fail_limit
from hostops.models import Host, Status
from hostops.operations import Command, Executor, Operation, Outcome, Purpose, Step
from hostops.playbook import template
from hostops.playbook.model import Task
from hostops.playbook.plan import RESULT, PlaybookPlan, PlayPlan
from hostops.playbook.render import PROBE_CREATES, PROBE_REMOVES, Rendered, render_task
from hostops.playbook.results import PlaybookResult, PlayResult, TaskHostResult, TaskResult

# Retried when `until` is false or, without `until`, when the action failed:
# not when the host is gone, or the run interrupted.
_RETRYABLE = (Status.OK, Status.FAILED, Status.TIMEOUT, Status.ERROR)


def run_playbook(
    plan: PlaybookPlan,
    executor: Executor,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> PlaybookResult:
    """Run every play of ``plan`` through ``executor``; return what happened.

    Host failures are results, never exceptions. ``sleep`` waits between
    attempts of a retried task (tests pass a fake).
    """
    return _Run(plan, executor, sleep).run()


@dataclass
class _Stop:
    reason: str
    interrupted: bool = False


class _Run:
    def __init__(
        self, plan: PlaybookPlan, executor: Executor, sleep: Callable[[float], None]
    ) -> None:
        self.plan = plan
        self.executor = executor
        self.sleep = sleep
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
            for host in play.hosts:
                planned[host.name] += len(play.play.tasks)
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
        results: list[list[TaskHostResult]] = [[] for _ in play.tasks]
        all_batches = batches(hosts, play.serial)
        stop = None
        started = 0
        for number, batch in enumerate(all_batches, 1):
            started += 1
            stop = self.batch(plan, number, batch, results)
            self.release([h.name for h in batch if h.name in self.dropped or h.name not in later])
            if stop:
                break
        not_run = tuple(h.name for b in all_batches[started:] for h in b)
        tasks = tuple(
            TaskResult(n, task.title, task.kind, tuple(rs))
            for n, (task, rs) in enumerate(zip(play.tasks, results, strict=True), 1)
        )
        return (
            PlayResult(
                number=plan.number,
                name=play.title,
                hosts=tuple(h.name for h in hosts),
                batches=tuple(tuple(h.name for h in b) for b in all_batches[:started]),
                tasks=tasks,
                stopped=stop.reason if stop else None,
                not_run=not_run,
            ),
            stop,
        )

    def batch(
        self,
        plan: PlayPlan,
        number: int,
        batch: tuple[Host, ...],
        results: list[list[TaskHostResult]],
    ) -> _Stop | None:
        limit = fail_limit(len(batch), plan.play.max_fail)
        active = list(batch)
        failures = 0
        for index, task in enumerate(plan.play.tasks):
            if not active:
                break
            outcome = _Task(self, plan, index + 1, task).run(active)
            for host in active:
                result = outcome[host.name]
                results[index].append(result)
                if task.register:
                    self.registered[host.name][task.register] = result.registered()
                if result.failed and not result.ignored:
                    failures += 1
                    self.dropped.add(host.name)
            if any(r.status is Status.INTERRUPTED for r in outcome.values()):
                return _Stop("interrupted", interrupted=True)
            active = [h for h in active if h.name not in self.dropped]
            if failures > limit:
                title, max_fail = plan.play.title, plan.play.max_fail
                if max_fail is None:
                    return _Stop(f"play {title!r}: every host of batch {number} failed")
                return _Stop(
                    f"play {title!r}: {failures} of {len(batch)} hosts failed in "
                    f"batch {number} (max_fail {max_fail}: at most {limit})"
                )
        return None

    def context(self, plan: PlayPlan, host: str) -> dict[str, Any]:
        return {**plan.variables[host], **self.registered[host]}


class _Task:
    """One task on the active hosts of a batch."""

    def __init__(self, owner: _Run, plan: PlayPlan, number: int, task: Task) -> None:
        self.owner = owner
        self.plan = plan
        self.task = task
        self.number = number
        self.results: dict[str, TaskHostResult] = {}
        self.uploaded: dict[str, str] = {}  # host -> remote path of this task's script

    def step(self, purpose: Purpose, attempt: int = 1) -> Step:
        return Step(self.plan.play.title, self.task.title, self.number, purpose, attempt)

    def execute(
        self, purpose: Purpose, operations: Mapping[str, Operation], attempt: int = 1
    ) -> dict[str, Outcome]:
        if not operations:
            return {}
        got = self.owner.executor.execute(self.step(purpose, attempt), operations)
        missing = Outcome(Status.ERROR, error="the executor reported no outcome for this host")
        return {h: got.get(h, missing) for h in operations}

    def fail(self, host: str, status: Status, error: str, **kw: Any) -> None:
        self.results[host] = TaskHostResult(
            host, status, error=error, ignored=self.task.ignore_errors, **kw
        )

    def run(self, hosts: Sequence[Host]) -> dict[str, TaskHostResult]:
        task = self.task
        contexts = {h.name: self.owner.context(self.plan, h.name) for h in hosts}
        rendered: dict[str, Rendered] = {}
        for name, context in contexts.items():
            try:
                if not all(self.evaluate("when", e, context) for e in task.when):
                    self.results[name] = TaskHostResult(
                        name, Status.SKIPPED, attempts=0, skip_reason="when is false"
                    )
                    continue
                rendered[name] = render_task(self.owner.plan.playbook, task, context)
            except (template.TemplateError, ValueError) as exc:
                self.fail(name, Status.ERROR, self.where(exc), attempts=0)
        rendered = self.probe(rendered)
        outcomes, attempts = self.attempts(rendered, contexts)
        for name, outcome in outcomes.items():
            self.finish(name, outcome, attempts[name], contexts[name])
        return self.results

    def evaluate(self, key: str, source: str, context: Mapping[str, Any]) -> bool:
        try:
            return template.evaluate(source, context)
        except template.TemplateError as exc:
            raise template.TemplateError(f"{key}: {exc}") from None

    def where(self, exc: Exception) -> str:
        """A template's failure on a host, naming the playbook file and the task's line."""
        return f"{self.owner.plan.playbook.path}:{self.task.line}: {exc}"

    def probe(self, rendered: dict[str, Rendered]) -> dict[str, Rendered]:
        """Run the creates/removes probes; return the hosts that still run the task."""
        probes = {
            h: Command(r.probe, self.task.sudo, self.task.timeout)
            for h, r in rendered.items()
            if r.probe is not None
        }
        left = dict(rendered)
        for name, outcome in self.execute(Purpose.PROBE, probes).items():
            said = outcome.stdout.decode("utf-8", "replace").strip()
            if outcome.status is Status.OK and said == PROBE_CREATES:
                why = f"creates: {rendered[name].creates} exists"
            elif outcome.status is Status.OK and said == PROBE_REMOVES:
                why = f"removes: {rendered[name].removes} does not exist"
            elif outcome.status is Status.FAILED and outcome.exit_code == 1:
                continue
            else:
                what = outcome.error or f"exit {outcome.exit_code}"
                self.fail(name, _failure(outcome), f"creates/removes check failed: {what}")
                del left[name]
                continue
            self.results[name] = TaskHostResult(name, Status.SKIPPED, attempts=0, skip_reason=why)
            del left[name]
        return left

    def attempts(
        self, rendered: dict[str, Rendered], contexts: Mapping[str, Mapping[str, Any]]
    ) -> tuple[dict[str, Outcome], dict[str, int]]:
        """Run the action, again while it is to be retried; the last outcome per host."""
        task = self.task
        operations = self.operations(rendered)
        outcomes: dict[str, Outcome] = {}
        attempts: dict[str, int] = {}
        todo = list(operations)
        attempt = 1
        try:
            while todo:
                got = self.execute(Purpose.TASK, {h: operations[h] for h in todo}, attempt)
                outcomes.update(got)
                attempts.update(dict.fromkeys(got, attempt))
                if attempt > task.retries or any(
                    o.status is Status.INTERRUPTED for o in got.values()
                ):
                    break
                todo = [h for h, o in got.items() if self.again(o, contexts[h])]
                if todo:
                    self.owner.sleep(task.delay)
                    attempt += 1
        finally:
            self.cleanup(rendered)
        return outcomes, attempts

    def operations(self, rendered: dict[str, Rendered]) -> dict[str, Operation]:
        """Each host's operation; a script is uploaded first (a failed upload fails the host)."""
        scripts = {h: r.script.upload for h, r in rendered.items() if r.script}
        operations: dict[str, Operation] = {
            h: r.operation for h, r in rendered.items() if r.operation is not None
        }
        for name, outcome in self.execute(Purpose.UPLOAD, scripts).items():
            script = rendered[name].script
            assert script is not None
            if outcome.status is Status.OK and outcome.files:
                self.uploaded[name] = outcome.files[0]
                operations[name] = script.command(outcome.files[0])
            else:
                why = outcome.error or "no remote path reported"
                self.fail(name, _failure(outcome), f"script upload failed: {why}")
        return operations

    def cleanup(self, rendered: dict[str, Rendered]) -> None:
        removals = {}
        for name, remote in self.uploaded.items():
            script = rendered[name].script
            assert script is not None
            removals[name] = script.cleanup(remote)
        self.execute(Purpose.CLEANUP, removals)  # a leftover file fails nothing

    def again(self, outcome: Outcome, context: Mapping[str, Any]) -> bool:
        if outcome.status not in _RETRYABLE:
            return False
        if not self.task.until:
            return outcome.status is not Status.OK
        try:
            return not self.until(outcome, context)
        except template.TemplateError:
            return False  # finish() reports it

    def until(self, outcome: Outcome, context: Mapping[str, Any]) -> bool:
        own = self.result_vars(outcome, self.default_changed(outcome))
        return all(self.evaluate("until", e, {**context, **own}) for e in self.task.until)

    def result_vars(self, outcome: Outcome, changed: bool) -> dict[str, Any]:
        value = TaskHostResult(
            "", outcome.status, changed, outcome.exit_code, outcome.stdout, outcome.stderr
        ).registered()
        names = {RESULT: value}
        if self.task.register:
            names[self.task.register] = value
        return names

    def default_changed(self, outcome: Outcome) -> bool:
        if self.task.kind in ("put", "get"):
            return outcome.changed
        return outcome.status is Status.OK

    def finish(
        self, host: str, outcome: Outcome, attempts: int, context: Mapping[str, Any]
    ) -> None:
        result = TaskHostResult(
            host,
            outcome.status,
            changed=False,
            exit_code=outcome.exit_code,
            stdout=outcome.stdout,
            stderr=outcome.stderr,
            error=outcome.error,
            attempts=attempts,
            files=outcome.files,
            duration_s=outcome.duration_s,
        )
        try:
            if outcome.status is Status.OK and self.task.until and not self.until(outcome, context):
                n = "attempt" if attempts == 1 else "attempts"
                why = f"until still false after {attempts} {n}"
                result = replace(result, status=Status.FAILED, error=why)
            if result.status is Status.OK:
                changed = self.default_changed(outcome)
                if self.task.changed_when:
                    own = self.result_vars(outcome, changed)
                    changed = all(
                        self.evaluate("changed_when", e, {**context, **own})
                        for e in self.task.changed_when
                    )
                result = replace(result, changed=changed)
        except template.TemplateError as exc:
            result = replace(result, status=Status.ERROR, error=self.where(exc))
        if result.failed:
            result = replace(result, ignored=self.task.ignore_errors)
        self.results[host] = result


def _failure(outcome: Outcome) -> Status:
    """The status of a host whose preparatory step (probe, upload) did not go as expected."""
    return Status.FAILED if outcome.status is Status.OK else outcome.status
