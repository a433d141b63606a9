"""One task (or one item of a looped task) on a set of hosts at once: ``when``, the
action rendered, the ``creates``/``removes`` probe, a script's upload, a template's
content written locally (and its diff read from the host), the attempts while
``until``/``retries`` say so, ``changed_when``; one TaskHostResult per host."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from hostops.models import Status
from hostops.operations import Command, Executor, Operation, Outcome, Purpose, Step, Upload
from hostops.playbook import template
from hostops.playbook.diffs import read_command, unified
from hostops.playbook.model import Playbook, Task
from hostops.playbook.plan import RESULT
from hostops.playbook.render import PROBE_CREATES, PROBE_REMOVES, Rendered, render_task
from hostops.playbook.results import TaskHostResult

# Retried when `until` is false or, without `until`, when the action failed:
# not when the host is gone, or the run interrupted.
_RETRYABLE = (Status.OK, Status.FAILED, Status.TIMEOUT, Status.ERROR)
_CHANGES_FILES = ("put", "template", "get")


@dataclass(frozen=True)
class RunSettings:
    """How the runner runs every task: ``sleep`` between attempts; ``diff``: keep the
    diff of what each template changed."""

    sleep: Callable[[float], None] = field(default=time.sleep)
    diff: bool = False


class Iteration:
    """``task`` on some hosts, each with its own context (its variables, registered
    results and loop item)."""

    def __init__(
        self,
        executor: Executor,
        playbook: Playbook,
        play: str,
        task: Task,
        number: int,
        handler: bool,
        settings: RunSettings,
    ) -> None:
        self.executor = executor
        self.playbook = playbook
        self.play = play
        self.task = task
        self.number = number
        self.handler = handler
        self.settings = settings
        self.item: str | None = None
        self.results: dict[str, TaskHostResult] = {}
        self.uploaded: dict[str, str] = {}  # host -> remote path of this task's script
        self.diffs: dict[str, str] = {}

    def step(self, purpose: Purpose, attempt: int = 1) -> Step:
        return Step(
            self.play, self.task.title, self.number, purpose, attempt, self.item, self.handler
        )

    def execute(
        self, purpose: Purpose, operations: Mapping[str, Operation], attempt: int = 1
    ) -> dict[str, Outcome]:
        if not operations:
            return {}
        got = self.executor.execute(self.step(purpose, attempt), operations)
        missing = Outcome(Status.ERROR, error="the executor reported no outcome for this host")
        return {h: got.get(h, missing) for h in operations}

    def fail(self, host: str, status: Status, error: str, **kw: Any) -> None:
        self.results[host] = TaskHostResult(
            host, status, error=error, ignored=self.task.ignore_errors, **kw
        )

    def run(
        self, contexts: Mapping[str, Mapping[str, Any]], item: str | None = None
    ) -> dict[str, TaskHostResult]:
        """The task on every host of ``contexts``; ``item`` names the loop item shown."""
        self.item = item
        task = self.task
        rendered: dict[str, Rendered] = {}
        for name, context in contexts.items():
            try:
                if not all(template.evaluate(e, context) for e in task.when):
                    self.results[name] = TaskHostResult(
                        name, Status.SKIPPED, attempts=0, skip_reason="when is false"
                    )
                    continue
                rendered[name] = render_task(self.playbook, task, context)
            except (template.TemplateError, ValueError) as exc:
                self.fail(name, Status.ERROR, str(exc), attempts=0)
        rendered = self.probe(rendered)
        staging = tempfile.mkdtemp(prefix="hostops-template-") if _templates(rendered) else None
        try:
            if staging is not None:
                rendered = self.stage(rendered, staging)
            outcomes, attempts = self.attempts(rendered, contexts)
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
        for name, outcome in outcomes.items():
            self.finish(name, outcome, attempts[name], contexts[name])
        return self.results

    def probe(self, rendered: dict[str, Rendered]) -> dict[str, Rendered]:
        """Run the creates/removes probes; return the hosts that still run the task."""
        probes = {
            h: Command(r.probe, self.task.sudo, self.task.timeout, sudo_user=self.task.sudo_user)
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

    def stage(self, rendered: dict[str, Rendered], staging: str) -> dict[str, Rendered]:
        """Write each host's rendered template to a local file (named as the template,
        for a destination that is a directory) and upload that; with ``diff``, read
        what is on the host first."""
        if self.settings.diff:
            reads = {h: read_command(_upload(r)) for h, r in rendered.items()}
            for name, current in self.execute(Purpose.PROBE, reads).items():
                self.diffs[name] = unified(
                    _upload(rendered[name]), current, _content(rendered[name])
                )
        out = {}
        for number, (name, r) in enumerate(rendered.items()):
            upload = _upload(r)
            directory = os.path.join(staging, str(number))
            os.mkdir(directory)
            local = os.path.join(directory, os.path.basename(upload.src))
            with open(local, "w", encoding="utf-8") as f:
                f.write(_content(r))
            out[name] = replace(r, operation=replace(upload, src=local))
        return out

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
                    self.settings.sleep(task.delay)
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
        return all(template.evaluate(e, {**context, **own}) for e in self.task.until)

    def result_vars(self, outcome: Outcome, changed: bool) -> dict[str, Any]:
        value = TaskHostResult(
            "", outcome.status, changed, outcome.exit_code, outcome.stdout, outcome.stderr
        ).registered()
        names = {RESULT: value}
        if self.task.register:
            names[self.task.register] = value
        return names

    def default_changed(self, outcome: Outcome) -> bool:
        if self.task.kind in _CHANGES_FILES:
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
                        template.evaluate(e, {**context, **own}) for e in self.task.changed_when
                    )
                result = replace(result, changed=changed)
        except template.TemplateError as exc:
            result = replace(result, status=Status.ERROR, error=str(exc))
        if result.failed:
            result = replace(result, ignored=self.task.ignore_errors)
        elif outcome.changed and self.diffs.get(host):
            result = replace(result, diff=self.diffs[host])
        self.results[host] = result


def _templates(rendered: Mapping[str, Rendered]) -> bool:
    return any(r.content is not None for r in rendered.values())


def _upload(rendered: Rendered) -> Upload:
    assert isinstance(rendered.operation, Upload)
    return rendered.operation


def _content(rendered: Rendered) -> str:
    assert rendered.content is not None
    return rendered.content


def _failure(outcome: Outcome) -> Status:
    """The status of a host whose preparatory step (probe, upload) did not go as expected."""
    return Status.FAILED if outcome.status is Status.OK else outcome.status
