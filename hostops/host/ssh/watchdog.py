"""A bound on paramiko's waits that have none.

paramiko waits for a channel's opening, an exec or a subsystem's answer without a
limit: a host that stops answering then would hold the waiting thread forever.
Closing the transport (or the channel) wakes those waits, so an alarm does it when
the block takes too long.

Every block of a process shares one alarm thread (a heap of deadlines): a
``threading.Timer`` per block cost a thread's start and end per command, ~0.1-0.2 ms
of CPU, on the critical path of every host of a big fan-out.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator


class Alarm:
    """One alarm: ``wake`` runs at most once, never after :meth:`cancel` returns."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        self._lock = threading.Lock()
        self.cancelled = False

    def fire(self) -> None:
        with self._lock:
            if self.cancelled:
                return
            self.cancelled = True
            with contextlib.suppress(Exception):  # a wake that fails is nobody's to hear
                self._wake()

    def cancel(self) -> None:
        """No wake from now on (one under way has ended when this returns)."""
        with self._lock:  # a wake under way ends first: the block is over only after it
            self.cancelled = True


class _Alarms:
    """The process's alarm thread, started at the first alarm (and again in a forked
    child: threads do not survive a fork). A cancelled alarm stays in the heap until its
    deadline comes up (at most a timeout's worth of blocks), and is then dropped."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """No alarm, no thread yet (a forked child's start)."""
        self._ready = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()  # equal deadlines: first come, first compared
        self._serving = False

    def add(self, timeout: float, wake: Callable[[], None]) -> Alarm:
        pending = Alarm(wake)
        with self._ready:
            if not self._serving:
                threading.Thread(target=self._serve, name="watchdog", daemon=True).start()
                self._serving = True
            heapq.heappush(self._heap, (time.monotonic() + timeout, next(self._order), pending))
            if self._heap[0][2] is pending:  # sooner than the one the thread waits for
                self._ready.notify()
        return pending

    def _serve(self) -> None:
        while True:
            with self._ready:
                while True:
                    while self._heap and self._heap[0][2].cancelled:
                        heapq.heappop(self._heap)
                    if not self._heap:
                        self._ready.wait()
                        continue
                    left = self._heap[0][0] - time.monotonic()
                    if left <= 0:
                        due = heapq.heappop(self._heap)[2]
                        break
                    self._ready.wait(left)
            due.fire()  # outside the heap's lock: a wake may take a while (a close)


_alarms = _Alarms()
# A forked child has no alarm thread, and its copy of the heap holds the parent's blocks
# (and the heap's lock, if another thread held it at the fork): it starts afresh.
os.register_at_fork(after_in_child=_alarms.reset)


def alarm(timeout: float, wake: Callable[[], None]) -> Alarm:
    """Call ``wake`` in ``timeout`` seconds, on the process's alarm thread, unless
    cancelled first. May raise RuntimeError (no thread to spare: the first alarm of a
    process starts the thread)."""
    return _alarms.add(timeout, wake)


@contextlib.contextmanager
def watchdog(timeout: float, wake: Callable[[], None]) -> Iterator[None]:
    """Call ``wake`` (e.g. the transport's close) if the block has not ended within
    ``timeout`` seconds. Starting it may raise RuntimeError (see :func:`alarm`)."""
    pending = alarm(timeout, wake)
    try:
        yield
    finally:
        pending.cancel()
