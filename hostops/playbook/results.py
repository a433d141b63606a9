"""What a playbook run did: per task, per host; and the counts of the summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hostops.models import Status

# The fields of a registered result (and of `result` in until/changed_when): a name
# outside them is a load error, so a typo (r.stdot) never reads as silently undefined.
# A looped task's has `results` (one per item, each with these and its `item`).
REGISTERED_FIELDS = (
    "rc",
    "stdout",
    "stderr",
    "stdout_lines",
    "stderr_lines",
    "status",
    "changed",
    "skipped",
    "results",
)


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
        """The value ``register`` keeps for later tasks on this host (its keys are among
        :data:`REGISTERED_FIELDS`): for a looped task, ``results`` holds one per item
        (each with its ``item``), as Ansible's does. As in Ansible, ``stdout`` and
        ``stderr`` lose their trailing newlines (``when: r.stdout == 'hi'`` after
        ``echo hi``), and ``stdout_lines``/``stderr_lines`` are their lines."""
        if self.items is not None:
            return {
                "results": [{**r.registered(), "item": r.item} for r in self.items],
                "status": self.status.value,
                "changed": self.changed,
                "skipped": self.status is Status.SKIPPED,
            }
        stdout = self.stdout.decode("utf-8", "replace").rstrip("\r\n")
        stderr = self.stderr.decode("utf-8", "replace").rstrip("\r\n")
        return {
            "rc": self.exit_code,
            "stdout": stdout,
            "stderr": stderr,
            "stdout_lines": stdout.splitlines(),
            "stderr_lines": stderr.splitlines(),
            "status": self.status.value,
            "changed": self.changed,
            "skipped": self.status is Status.SKIPPED,
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
    """A whole run. ``stopped`` says why plays were left out, if any were.
    ``planned``: how many tasks each host was to run, over every play that selects it."""

    plays: tuple[PlayResult, ...]
    duration_s: float
    stopped: str | None = None
    interrupted: bool = False
    planned: Mapping[str, int] = field(default_factory=dict)

    def tasks_done(self) -> dict[str, tuple[int, int]]:
        """Per host: (tasks done, tasks planned). A task is done when it succeeded, was
        skipped by its condition, or failed with ``ignore_errors``."""
        done = dict.fromkeys(self.planned, 0)
        for play in self.plays:
            for task in play.tasks:
                if task.handler:  # run only when notified: never planned
                    continue
                for r in task.results:
                    done[r.host] = done.get(r.host, 0) + (not r.failed or r.ignored)
        return {h: (n, self.planned.get(h, n)) for h, n in done.items()}

    def host_statuses(self) -> dict[str, Status]:
        """Every host's final status, one model with ``run``'s:

        - the first failure that was not ignored (``failed``, ``timeout``, ...);
        - ``ok`` when every planned task was done (``skipped`` when a condition
          skipped every one of them);
        - ``interrupted`` when Ctrl-C left it unfinished, started or not;
        - ``incomplete`` when the playbook stopped (``max_fail``) after some of its
          tasks, ``not_run`` when it stopped before any.
        """
        final: dict[str, Status] = {}
        skipped_only: dict[str, bool] = {}
        for play in self.plays:
            for task in play.tasks:
                for r in task.results:
                    if r.failed and not r.ignored:
                        final.setdefault(r.host, r.status)
                    skipped_only[r.host] = skipped_only.get(r.host, True) and (
                        r.status is Status.SKIPPED
                    )
        for host, (done, total) in self.tasks_done().items():
            if host in final:
                continue
            if done >= total:
                final[host] = Status.SKIPPED if skipped_only.get(host) else Status.OK
            elif self.interrupted:
                final[host] = Status.INTERRUPTED
            else:
                final[host] = Status.INCOMPLETE if done else Status.NOT_RUN
        return final

    def counts(self) -> Counter[Status]:
        """How many hosts ended in each status."""
        return Counter(self.host_statuses().values())
