"""The engine's pipe to one shard process, inside the controller: what the engine's
dispatcher sends goes straight onto the shard's channel, what the shard says waits in
memory for the dispatcher to read, with one wake-up byte per burst.

Why not a real pipe and a relay thread: a job then cost a pickle of its Host, a write,
a read and a second send; the controller's CPU per host is what bounds how many hosts
one controller drives. Here a job costs one small tuple: the shard holds the run's
hosts (sent once, at the start) and a job names its host by index, and its operation
only when it differs from the previous job's (one operation for every host of a
``run``, one per task of a playbook).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from hostops.fleet.dispatch import DONE, RETURNED, STARTED, Job
from hostops.fleet.events import MAX_EVENT_BYTES
from hostops.models import Host
from hostops.operations import Operation

JOB = "job"
_SAME_OP: None = None  # in a compact job: the operation of the previous job
_LENGTH = struct.Struct("!i")  # a multiprocessing Connection's message header


class EngineEnd:
    """A WorkerSlot's ``conn`` for a shard: ``send`` encodes and queues for the shard
    (``to_shard``: a pickled message; ``on_job`` sees each job first), :meth:`put`
    takes what the shard said (in its channel's thread), ``poll``/``recv`` hand it to
    the dispatcher. ``low``: a "done" wakes the engine only once the shard holds at most
    that many jobs it has not started (hostops.cluster.window): until then its threads
    have work, and the engine reads the "done" with a later message."""

    def __init__(
        self,
        to_shard: Callable[[bytes], None],
        hosts: Sequence[Host | None],
        on_job: Callable[[Job], None] = lambda job: None,
        low: int = 0,
    ) -> None:
        self._to_shard = to_shard
        self._on_job = on_job
        self._low = low
        self._held: set[str] = set()  # hosts of jobs sent that it did not start yet
        self._hosts = hosts
        self._last_op: Operation | None = None
        self._inbox: deque[Any] = deque()
        self._lock = threading.Lock()
        self._signalled = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._closed = False

    # -- the dispatcher's side ------------------------------------------------------
    def fileno(self) -> int:
        """Readable while something waits to be read (for multiprocessing's wait())."""
        return self._wake_r.fileno()

    def send(self, message: object) -> None:
        """A Job, Release, Flag or None for the shard. Raises OSError once closed."""
        if self._closed:
            raise OSError("the shard's channel is closed")
        if isinstance(message, Job):
            self._on_job(message)
            with self._lock:
                self._held.add(message.host.name)
            message = self._compact(message)
        self._to_shard(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    def _compact(self, job: Job) -> object:
        if not (0 <= job.index < len(self._hosts) and self._hosts[job.index] is job.host):
            self._last_op = None
            return job  # a host the shard was not given: sent whole
        op = _SAME_OP if job.op is self._last_op else job.op
        self._last_op = job.op
        return (JOB, job.index, op, job.keep, job.final, job.show, job.collect)

    def poll(self, timeout: float | None = None) -> bool:
        """Whether a message waits (never blocks: ``timeout`` is ignored, the
        dispatcher polls only what wait() said is ready)."""
        with self._lock:
            if self._inbox:
                return True
            if self._signalled:  # all read: the next put() wakes the engine again
                with contextlib.suppress(OSError):
                    while self._wake_r.recv(4096):
                        pass
                self._signalled = False
            return False

    def recv(self) -> Any:
        """The next message from the shard. Raises EOFError when there is none."""
        with self._lock:
            if not self._inbox:
                raise EOFError
            return self._inbox.popleft()

    def close(self) -> None:
        """No more sends; the wake-up sockets are closed."""
        self._closed = True
        self._wake_r.close()
        self._wake_w.close()

    # -- the channel's side -----------------------------------------------------------
    def put(self, message: Any) -> None:
        """A message from the shard (already unpickled), for the dispatcher. A "started"
        does not wake the engine (it frees no thread), nor a "done" while the shard holds
        more than ``low`` jobs: they are read with a later message, and always before
        the engine decides anything about a shard that ended (its sentinel)."""
        kind = message[0]
        with self._lock:
            self._inbox.append(message)
            if kind in (STARTED, DONE, RETURNED):
                self._held.discard(message[1])
            quiet = kind == STARTED or (kind == DONE and len(self._held) > self._low)
            if not self._signalled and not quiet:
                self._signalled = True  # one byte at most outstanding: never blocks
                with contextlib.suppress(OSError):
                    self._wake_w.send(b"\0")


class ShardJobs:
    """The shard's decoding of what :class:`EngineEnd` sends: compact jobs back into
    Jobs over the run's hosts (``hosts[i]``: the host at index i, None for one it was not
    sent: a job for it comes whole)."""

    def __init__(self, hosts: Sequence[Host | None]) -> None:
        self._hosts = hosts
        self._op: Operation | None = None

    def decode(self, message: object) -> object:
        """The Job, Release, Flag or None that ``message`` stands for."""
        if isinstance(message, Job):
            self._op = None
            return message
        if not (isinstance(message, tuple) and message and message[0] == JOB):
            return message
        _kind, index, op, keep, final, show, collect = message
        if op is not _SAME_OP:
            self._op = op
        assert self._op is not None, "a compact job before any operation"
        host = self._hosts[index]
        assert host is not None, "a compact job for a host this shard was not sent"
        return Job(index, host, self._op, keep, final, show, collect)


class EventPipe:
    """The run's event pipe (a descriptor of its write end, duplicated), written in
    batches: :meth:`add` the events of one read from the channel, :meth:`flush` after
    it. Each write holds whole events and at most PIPE_BUF bytes, so it is atomic as
    every event's own write is (hostops.fleet.events): no other writer's event is cut."""

    def __init__(self, fd: int) -> None:
        self._fd = os.dup(fd)
        self._batch = bytearray()
        self._broken = False  # the aggregator is gone: nobody reads

    def add(self, payload: bytes) -> None:
        """An event pickled by the shard, framed as a Connection frames it."""
        if len(payload) > MAX_EVENT_BYTES:  # never from a shard of ours: it checks sizes
            return
        if len(self._batch) + _LENGTH.size + len(payload) > select.PIPE_BUF:
            self.flush()
        self._batch += _LENGTH.pack(len(payload))
        self._batch += payload

    def flush(self) -> None:
        """Write what was added (one write: atomic)."""
        if self._batch and not self._broken:
            try:
                os.write(self._fd, self._batch)
            except OSError:
                self._broken = True
        self._batch.clear()

    def close(self) -> None:
        """Flush, then close the descriptor."""
        self.flush()
        os.close(self._fd)
