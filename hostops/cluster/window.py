"""A shard's window of jobs: the controller gives a shard more jobs than it has session
threads (:func:`window`), and the shard holds the extra ones here until a thread is
free, so a finished host's thread starts the next one at once, without waiting for
the controller, and the controller wakes once per several hosts instead of once each.

A held job is not started: the shard says "started" when it hands the job to a
thread, as a local worker does, so the controller's ledger stays exact (a shard lost
with held jobs: the engine runs them elsewhere; never twice). Ctrl-C (the "cancel"
Flag) answers every held job "done, interrupted before it started", as the engine
does for the jobs it still had.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from hostops.cluster.relay import ShardJobs
from hostops.fleet.dispatch import DONE, RETURNED, Flag, Job
from hostops.models import Status
from hostops.operations import Outcome

_MAX_WINDOW = 16  # held jobs per shard at most (the dispatcher's unacknowledged limit: 32)
_NOT_STARTED = Outcome(Status.INTERRUPTED, error="interrupted before it started")
_FREED = object()  # a thread was freed: look at the held jobs again


def window(threads: int) -> int:
    """How many jobs beyond its ``threads`` a shard is given at once."""
    return min(threads, _MAX_WINDOW)


class ShardInbox:
    """The controller's messages as the fleet's worker loop (hostops.fleet.worker.serve)
    reads them, a job handed out only while fewer than ``threads`` run; ``send`` is the
    worker's way back (``to_controller``: it sends a message). Other messages keep their
    place behind the held jobs, but for Flags (Ctrl-C), which go first. ``eof``: the
    item that says the channel closed."""

    def __init__(
        self,
        inbox: queue.Queue[object],
        jobs: ShardJobs,
        threads: int,
        to_controller: Callable[[object], None],
        eof: object,
    ) -> None:
        self._inbox = inbox
        self._jobs = jobs
        self._threads = threads
        self._to_controller = to_controller
        self._eof = eof
        self._held: deque[object] = deque()
        self._running = 0  # jobs handed out, not done
        self._lock = threading.Lock()

    def poll(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                if self._deliverable():
                    return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            try:
                item = self._inbox.get(timeout=left)
            except queue.Empty:
                return False
            self._take(item)

    def recv(self) -> Any:
        self.poll(None)
        with self._lock:
            item = self._held[0]
            if item is self._eof:
                raise EOFError
            self._held.popleft()
            if isinstance(item, Job):
                self._running += 1
            return item

    def send(self, obj: Any) -> None:
        if obj[0] in (DONE, RETURNED):
            with self._lock:
                self._running -= 1
            self._inbox.put(_FREED)
        self._to_controller(obj)

    def _deliverable(self) -> bool:
        return bool(self._held) and (
            not isinstance(self._held[0], Job) or self._running < self._threads
        )

    def _take(self, item: object) -> None:
        if item is _FREED:
            return
        if item is not self._eof:
            item = self._jobs.decode(item)
        if not isinstance(item, Flag):
            with self._lock:
                self._held.append(item)
            return
        if item.name == "cancel":
            with self._lock:
                dropped = [j for j in self._held if isinstance(j, Job)]
                self._held = deque(j for j in self._held if not isinstance(j, Job))
            for job in dropped:
                self._to_controller((DONE, job.host.name, _NOT_STARTED))
        with self._lock:
            self._held.appendleft(item)
