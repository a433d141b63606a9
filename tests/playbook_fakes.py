"""A scripted Executor and small inventories for the playbook unit tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from hostops.models import Host, Status
from hostops.playbook import (
    Command,
    Operation,
    Outcome,
    PlaybookPlan,
    Purpose,
    Step,
    Upload,
    load_playbook,
    prepare,
)

Behaviour = Callable[[Step, str, Operation], Outcome]


def ok(stdout: str = "", **kw: Any) -> Outcome:
    return Outcome(Status.OK, exit_code=0, stdout=stdout.encode(), **kw)


def failed(rc: int = 1, stderr: str = "") -> Outcome:
    return Outcome(Status.FAILED, exit_code=rc, stderr=stderr.encode(), error=f"exit {rc}")


def default_behaviour(step: Step, host: str, op: Operation) -> Outcome:
    """Everything succeeds; probes say "run it"; uploads land in /home/u."""
    if step.purpose is Purpose.PROBE:
        return failed(1)
    if isinstance(op, Upload):
        return Outcome(Status.OK, changed=True, files=(f"/home/u/{op.dest}",))
    return ok()


class FakeExecutor:
    """Records every call; ``behave(step, host, operation)`` decides each outcome."""

    def __init__(self, behave: Behaviour = default_behaviour) -> None:
        self.behave = behave
        self.calls: list[tuple[Step, dict[str, Operation]]] = []
        self.finished_hosts: list[str] = []

    def execute(self, step: Step, operations: Mapping[str, Operation]) -> Mapping[str, Outcome]:
        self.calls.append((step, dict(operations)))
        return {h: self.behave(step, h, op) for h, op in operations.items()}

    def finished(self, hosts: Collection[str]) -> None:
        assert not set(hosts) & set(self.finished_hosts), "a host was released twice"
        self.finished_hosts.extend(hosts)

    def tasks(self, purpose: Purpose = Purpose.TASK) -> list[tuple[str, list[str]]]:
        """(task title, hosts) of every call for ``purpose``, in order."""
        return [(s.task, list(ops)) for s, ops in self.calls if s.purpose is purpose]

    def commands(self, host: str, purpose: Purpose = Purpose.TASK) -> list[str]:
        out = []
        for step, ops in self.calls:
            op = ops.get(host)
            if step.purpose is purpose and isinstance(op, Command):
                out.append(op.command)
        return out


def hosts(*names: str, groups: Sequence[str] = (), **variables: Any) -> list[Host]:
    return [
        Host(n, "127.0.0.1", groups=tuple(groups), vars={"n": i, **variables})
        for i, n in enumerate(names)
    ]


def plan_from(
    tmp_path: Path,
    text: str,
    inventory: Sequence[Host],
    *,
    limit: Collection[str] | None = None,
    extra_vars: Mapping[str, Any] | None = None,
    tags: Collection[str] = (),
    skip_tags: Collection[str] = (),
) -> PlaybookPlan:
    path = tmp_path / "book.yaml"
    path.write_text(textwrap.dedent(text))
    return prepare(
        load_playbook(path),
        inventory,
        limit=limit,
        extra_vars=extra_vars,
        tags=tags,
        skip_tags=skip_tags,
    )
