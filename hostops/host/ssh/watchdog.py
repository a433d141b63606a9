"""A bound on paramiko's waits that have none.

paramiko waits for a channel's opening, an exec or a subsystem's answer without a
limit: a host that stops answering then would hold the waiting thread forever.
Closing the transport (or the channel) wakes those waits, so an alarm does it when
the block takes too long.

The blocks of a process share one alarm thread (a heap of deadlines), alive while an
alarm is pending: a ``threading.Timer`` per block cost a thread's start and end per
command, ~0.1-0.2 ms of CPU, on the critical path of every host of a big fan-out. An
alarm that goes off runs its wake on a thread of its own (a close may wait on a
jump host's connection), so one slow wake never holds up the others.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import os
import threading
import time
from collections.abc import Callable, Iterator


class Alarm:
    """One alarm: ``wake`` runs at most once, and not at all if cancelled before it is
    due (one due already may still be under way when :meth:`cancel` returns, as with a
    ``threading.Timer``)."""

    def __init__(self, owner: _Alarms, generation: int, wake: Callable[[], None]) -> None:
        self._owner = owner
        self.generation = generation  # of the heap it is in (see _Alarms.reset)
        self.wake: Callable[[], None] | None = wake  # None once done: nothing kept alive
        self.done = False

    def cancel(self) -> None:
        """No wake from now on, unless it is under way already."""
        if not self.done:  # paramiko cancels its handshake's alarm at every packet
            self._owner.cancel(self)


class _Alarms:
    """The process's alarm thread and its heap. The thread starts with the first pending
    alarm and ends when none is left (a process that forks its workers and aggregator
    has no thread of this module's then: see hostops.fleet.engine._context)."""

    def __init__(self) -> None:
        self._generation = 0
        self.reset()

    def reset(self) -> None:
        """No alarm, no thread (a forked child's start: threads do not survive a fork,
        and the heap's lock may have been held by one at the fork)."""
        self._ready = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()  # equal deadlines: first come, first compared
        self._pending = 0  # alarms neither cancelled nor gone off
        self._serving = False
        # A block begun before a fork and ended in the child has no alarm in this heap.
        self._generation += 1

    def add(self, timeout: float, wake: Callable[[], None]) -> Alarm:
        pending = Alarm(self, self._generation, wake)
        with self._ready:
            if not self._serving:
                threading.Thread(target=self._serve, name="watchdog", daemon=True).start()
                self._serving = True
            # NaN would never compare due, and would hold every alarm behind it.
            deadline = time.monotonic() + (math.inf if math.isnan(timeout) else timeout)
            heapq.heappush(self._heap, (deadline, next(self._order), pending))
            self._pending += 1
            if self._heap[0][2] is pending:  # sooner than the one the thread waits for
                self._ready.notify()
        return pending

    def cancel(self, alarm: Alarm) -> None:
        with self._ready:
            if self._take(alarm) is not None and not self._pending:
                self._heap.clear()  # cancelled ones only: the thread may end now
                self._ready.notify()

    def _take(self, alarm: Alarm) -> Callable[[], None] | None:
        """Mark ``alarm`` done (the lock held): its wake if it was pending in this heap."""
        pending = not alarm.done and alarm.generation == self._generation
        wake = alarm.wake if pending else None
        alarm.done, alarm.wake = True, None
        if pending:
            self._pending -= 1
        return wake

    def _serve(self) -> None:
        while True:
            with self._ready:
                due = self._next_due()
                if due is None:
                    return
                wake = self._take(due)
            assert wake is not None
            try:
                threading.Thread(
                    target=_quietly, args=(wake,), name="watchdog-wake", daemon=True
                ).start()
            except RuntimeError:  # no thread to spare: wake here, late for the rest
                _quietly(wake)

    def _next_due(self) -> Alarm | None:
        """Wait (the lock held, as Condition.wait does) for the next alarm to be due; None
        when none is pending (the thread then ends, marked so under the lock)."""
        while True:
            while self._heap and self._heap[0][2].done:
                heapq.heappop(self._heap)
            if not self._heap:
                self._serving = False
                return None
            left = self._heap[0][0] - time.monotonic()
            if left <= 0:
                return heapq.heappop(self._heap)[2]
            self._ready.wait(min(left, threading.TIMEOUT_MAX))


def _quietly(wake: Callable[[], None]) -> None:
    with contextlib.suppress(Exception):  # a close that fails: nobody's to hear
        wake()


_alarms = _Alarms()
os.register_at_fork(after_in_child=_alarms.reset)


def alarm(timeout: float, wake: Callable[[], None]) -> Alarm:
    """Call ``wake`` in ``timeout`` seconds (on a thread of its own) unless cancelled
    first. May raise RuntimeError (no thread to spare for the process's alarm thread)."""
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
