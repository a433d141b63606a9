"""What a playbook run did: per task, per host; and the counts of the summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hostops.models import Status


@dataclass(frozen=True)
class TaskHostResult:
    """One task on one host.

    ``status`` is ``ok``, ``skipped`` (``skip_reason`` says why) or why the
    task failed on this host (``failed``, ``timeout``, ``unreachable``, ...).
    ``ignored``: it failed but ``ignore_errors`` kept the host in the play.
    ``attempts`` is 0 for a skipped task. A looped task's result on a host sums up
    its ``items`` (one result per item, in order, each with its ``item``): failed when
    one failed, changed when one changed, skipped when all were. ``diff``: what a
    template changed (with ``--diff``, or in check mode). ``copied_from``: a
    ``run_once`` task's result, run on that host and given to this one.
    """

    host: str
    status: Status
    changed: bool = False
    exit_code: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    error: str | None = None
    attempts: int = 1
    ignored: bool = False
    skip_reason: str | None = None
    files: tuple[str, ...] = ()
    duration_s: float = 0.0
    item: Any = field(default=None, hash=False, compare=False)  # one item of a loop
    items: tuple[TaskHostResult, ...] | None = None  # a looped task: one per item
    diff: str | None = None
    copied_from: str | None = None  # run_once: the host that ran it, when another

    @property
    def failed(self) -> bool:
        return self.status.failed

    def registered(self) -> dict[str, object]:
        """The value ``register`` keeps for later tasks on this host: for a looped task,
        ``results`` holds one per item (each with its ``item``), as Ansible's does."""
        if self.items is not None:
            return {
                "results": [{**r.registered(), "item": r.item} for r in self.items],
                "status": self.status.value,
                "changed": self.changed,
                "skipped": self.status is Status.SKIPPED,
            }
        return {
            "rc": self.exit_code,
            "stdout": self.stdout.decode("utf-8", "replace"),
            "stderr": self.stderr.decode("utf-8", "replace"),
            "status": self.status.value,
            "changed": self.changed,
        }


@dataclass(frozen=True)
class TaskResult:
    """One task over every batch of its play, hosts in the order they ran."""

    number: int  # in its play, from 1 (a handler: in the play's handlers)
    name: str  # the task's title
    kind: str  # run, script, put, template, get
    results: tuple[TaskHostResult, ...]
    handler: bool = False

    @property
    def ok(self) -> int:
        """Hosts where it succeeded without a change."""
        return sum(r.status is Status.OK and not r.changed for r in self.results)

    @property
    def changed(self) -> int:
        """Hosts where it succeeded and changed something."""
        return sum(r.status is Status.OK and r.changed for r in self.results)

    @property
    def failed(self) -> int:
        """Hosts where it failed (ignored failures included)."""
        return sum(r.failed for r in self.results)

    @property
    def skipped(self) -> int:
        return sum(r.status is Status.SKIPPED for r in self.results)

    @property
    def ignored(self) -> int:
        """Failed hosts kept in the play by ``ignore_errors``."""
        return sum(r.ignored for r in self.results)


@dataclass(frozen=True)
class PlayResult:
    """One play: its tasks' results, and whether (and why) it stopped early."""

    number: int
    name: str
    hosts: tuple[str, ...]  # the hosts it started with (earlier plays' failures excluded)
    batches: tuple[tuple[str, ...], ...]  # those that started
    tasks: tuple[TaskResult, ...]  # its tasks, then the handlers that ran
    stopped: str | None = None  # why it stopped early: max_fail, interrupted
    not_run: tuple[str, ...] = ()  # hosts of batches that never started


@dataclass(frozen=True)
class PlaybookResult:
    """A whole run. ``stopped`` says why plays were left out, if any were."""

    plays: tuple[PlayResult, ...]
    duration_s: float
    stopped: str | None = None
    interrupted: bool = False

    def host_statuses(self) -> dict[str, Status]:
        """Every host's final status: the first failure that was not ignored, else ok;
        ``skipped`` for a host on which nothing ran (a batch that never started)."""
        final: dict[str, Status] = {}
        for play in self.plays:
            for task in play.tasks:
                for r in task.results:
                    if r.failed and not r.ignored:
                        final[r.host] = r.status
                    else:
                        final.setdefault(r.host, Status.OK)
            for host in (*play.hosts, *play.not_run):
                final.setdefault(host, Status.SKIPPED)
        return final

    def counts(self) -> Counter[Status]:
        """How many hosts ended in each status."""
        return Counter(self.host_statuses().values())
