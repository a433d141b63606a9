"""The engine's side of handing hosts to worker processes, one at a time, over a
private pipe per worker.

Why not one shared task queue: a worker killed while blocked in a shared
``Queue.get()`` keeps its read lock forever and every other worker blocks
behind it. With a pipe per worker, a dying worker can only break its own pipe;
and because the engine hears "started" and "done" for every host, it knows
exactly which hosts a dead worker had in flight (reported ``error``) and which
it had not started (given to the other workers: never run twice).

Wire protocol. Engine → worker: ``(index, host)`` (the host's place in the run,
which keys its output flow control), or None (finish and exit).
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
_MAX_UNACKED = 32
_JOIN_S = 5.0


@dataclass
class WorkerSlot:
    """What the engine knows of one worker process."""

    process: BaseProcess
    conn: Connection
    free: int  # threads with nothing to do
    sent: dict[str, Host] = field(default_factory=dict)  # given, not yet done
    started: set[str] = field(default_factory=set)  # every host it said it started
    stopping: bool = False  # None was sent


class Dispatcher:
    """Hands hosts to free worker threads and keeps the account of every host.

    ``on_lost(pid, exitcode, started)`` is called when a worker dies, with every
    host it had started (the aggregator reports those it has no result for).
    """

    def __init__(
        self,
        hosts: list[Host],
        slots: list[WorkerSlot],
        on_lost: Callable[[int, int | None, tuple[str, ...]], None],
        spawn: Callable[[], WorkerSlot] | None = None,
    ) -> None:
        self._order = {h.name: i for i, h in enumerate(hosts)}
        self.pending: deque[Host] = deque(hosts)
        self.slots = slots
        self.processes = [s.process for s in slots]  # every worker ever started
        self._on_lost = on_lost
        # A worker that dies with hosts still to run is replaced, at most once per
        # original worker: a cause that kills every worker must not loop forever.
        self._spawn = spawn
        self._replacements = len(slots)

    def waitables(self) -> list[object]:
        """Everything to wait on: each worker's pipe and process sentinel."""
        return [s.conn for s in self.slots] + [s.process.sentinel for s in self.slots]

    def dispatch(self) -> None:
        """Give pending hosts to free threads; once nothing is pending or in flight,
        tell every worker to finish."""
        for slot in self.slots:
            # Never more than _MAX_UNACKED hosts a worker has not said "started" for: the
            # pipe's buffer can always hold them, so this send never blocks while the
            # worker is itself blocked sending to us (a deadlock at hundreds of threads).
            while (
                slot.free > 0
                and self.pending
                and not slot.stopping
                and len(slot.sent) - len(slot.started & slot.sent.keys()) < _MAX_UNACKED
            ):
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
                    slot.sent.pop(name, None)  # still in started: its result may not have
                    slot.free += 1  # left the worker yet (see _ended)
        except (EOFError, OSError, ValueError, TypeError, pickle.UnpicklingError):
            pass  # the worker is gone or going (a cut message): its sentinel says so

    def _ended(self, slot: WorkerSlot) -> None:
        slot.process.join(timeout=_JOIN_S)
        self._read(slot)  # messages sent just before the end
        self.slots.remove(slot)
        with contextlib.suppress(OSError):
            slot.conn.close()
        unstarted = [h for n, h in slot.sent.items() if n not in slot.started]
        # Never started on the dead worker: run them elsewhere, in inventory order.
        self.pending.extend(unstarted)
        self.pending = deque(sorted(self.pending, key=lambda h: self._order[h.name]))
        if slot.process.exitcode != 0:
            # Every host it started, finished ones too: a result still in its event
            # queue's buffer died with it. The aggregator skips hosts it has a result for.
            started = tuple(sorted(slot.started, key=self._order.__getitem__))
            self._on_lost(slot.process.pid or 0, slot.process.exitcode, started)
            if self.pending and self._spawn is not None and self._replacements > 0:
                self._replacements -= 1
                replacement = self._spawn()
                self.slots.append(replacement)
                self.processes.append(replacement.process)

    def _send(self, slot: WorkerSlot, message: Host | None) -> bool:
        try:
            slot.conn.send(message if message is None else (self._order[message.name], message))
        except (OSError, EOFError):
            return False  # a dead worker; its sentinel will tell
        return True
