"""The engine's side of handing hosts to worker processes, one at a time, over a
private pipe per worker.

Why not one shared task queue: a worker killed while blocked in a shared
``Queue.get()`` keeps its read lock forever and every other worker blocks
behind it. With a pipe per worker, a dying worker can only break its own pipe;
and because the engine hears "started" and "done" for every host, it knows
exactly which hosts a dead worker had in flight (reported ``error``) and which
it had not started (given to the other workers: never run twice).

Wire protocol. Engine → worker: a Host, or None (finish and exit).
Worker → engine: ``("started", name)`` before a session begins,
``("done", name)`` after it ended (a free thread again).
"""

from __future__ import annotations

import contextlib
import pickle
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from hostops.models import Host

STARTED = "started"
DONE = "done"


@dataclass
class WorkerSlot:
    """What the engine knows of one worker process."""

    process: BaseProcess
    conn: Connection
    free: int  # threads with nothing to do
    sent: dict[str, Host] = field(default_factory=dict)  # given, not yet done
    started: set[str] = field(default_factory=set)
    stopping: bool = False  # None was sent


class Dispatcher:
    """Hands hosts to free worker threads and keeps the account of every host.

    ``on_lost(pid, exitcode, in_flight)`` is called when a worker dies, with
    the hosts it had started and not finished.
    """

    def __init__(
        self,
        hosts: list[Host],
        slots: list[WorkerSlot],
        on_lost: Callable[[int, int | None, tuple[str, ...]], None],
    ) -> None:
        self._order = {h.name: i for i, h in enumerate(hosts)}
        self.pending: deque[Host] = deque(hosts)
        self.slots = slots
        self._on_lost = on_lost

    def waitables(self) -> list[object]:
        """Everything to wait on: each worker's pipe and process sentinel."""
        return [s.conn for s in self.slots] + [s.process.sentinel for s in self.slots]

    def dispatch(self) -> None:
        """Give pending hosts to free threads; once nothing is pending or in flight,
        tell every worker to finish."""
        for slot in self.slots:
            while slot.free > 0 and self.pending and not slot.stopping:
                host = self.pending.popleft()
                if not self._send(slot, host):
                    self.pending.appendleft(host)
                    break
                slot.sent[host.name] = host
                slot.free -= 1
        if not self.pending and not any(s.sent for s in self.slots):
            self.finish()

    def finish(self) -> None:
        """Tell every worker to end once its current hosts are done (Ctrl-C, or all given)."""
        for slot in self.slots:
            if not slot.stopping:
                self._send(slot, None)
                slot.stopping = True

    def drop_pending(self) -> None:
        """Ctrl-C: start nothing more (the aggregator reports those hosts interrupted)."""
        self.pending.clear()

    def handle(self, ready: list[object]) -> None:
        """Process what woke the engine: messages from workers, workers that ended."""
        for slot in list(self.slots):
            if slot.conn in ready:
                self._read(slot)
        for slot in list(self.slots):
            if slot.process.sentinel in ready:
                self._ended(slot)

    def _read(self, slot: WorkerSlot) -> None:
        try:
            while slot.conn.poll():
                kind, name = slot.conn.recv()
                if kind == STARTED:
                    slot.started.add(name)
                elif kind == DONE:
                    slot.sent.pop(name, None)
                    slot.started.discard(name)
                    slot.free += 1
        except (EOFError, OSError, ValueError, TypeError, pickle.UnpicklingError):
            pass  # the worker is gone or going (a cut message): its sentinel says so

    def _ended(self, slot: WorkerSlot) -> None:
        slot.process.join()
        self._read(slot)  # messages sent just before the end
        self.slots.remove(slot)
        with contextlib.suppress(OSError):
            slot.conn.close()
        unstarted = [h for n, h in slot.sent.items() if n not in slot.started]
        in_flight = tuple(n for n in slot.sent if n in slot.started)
        # Never started on the dead worker: run them elsewhere, in inventory order.
        self.pending.extend(unstarted)
        self.pending = deque(sorted(self.pending, key=lambda h: self._order[h.name]))
        if slot.process.exitcode != 0 or in_flight:
            self._on_lost(slot.process.pid or 0, slot.process.exitcode, in_flight)

    @staticmethod
    def _send(slot: WorkerSlot, message: Host | None) -> bool:
        try:
            slot.conn.send(message)
        except (OSError, EOFError):
            return False  # a dead worker; its sentinel will tell
        return True
