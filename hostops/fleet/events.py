"""The wire protocol of the event queue: small picklable dataclasses.

Workers (and the engine) put these on the one ``multiprocessing.Queue``; the
aggregator process is their single consumer.

Why every event is small: a process killed in the middle of writing to a
shared queue leaves a cut message in the pipe and its write lock held, and
every other writer blocks for good (the multiprocessing docs warn of it).
POSIX makes a pipe write of at most PIPE_BUF bytes atomic: it is never cut
and never interleaved with another writer's. So every event pickles to at
most :data:`MAX_EVENT_BYTES` (output comes in chunks of :data:`OUTPUT_CHUNK`,
texts are clipped), and :class:`EventQueue` needs no write lock at all: a
worker SIGKILLed at any instant cannot corrupt or block the queue.
"""

from __future__ import annotations

import multiprocessing.connection
import multiprocessing.queues
import pickle
import queue
import select
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from multiprocessing.reduction import ForkingPickler
from typing import TYPE_CHECKING

from hostops.models import Status, WorkerStats

# A Connection writes a 4-byte length, then the pickle, in one write() when small.
MAX_EVENT_BYTES = select.PIPE_BUF - 4
OUTPUT_CHUNK = 3072  # bytes of output per Output event; room left for the host name
MAX_NAME = 512  # bytes of a host name (the engine refuses longer ones)
_MAX_TEXT = 1024  # bytes of an error or warning message


def clip(text: str | None, limit: int = _MAX_TEXT) -> str | None:
    """``text`` cut to ``limit`` bytes of UTF-8 (whole characters), marked when cut."""
    if text is None:
        return None
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore") + "..."


@dataclass(frozen=True)
class HostStarted:
    """A worker began a session with ``host``."""

    host: str
    worker_pid: int


@dataclass(frozen=True)
class Output:
    """A chunk of a host's output, as it arrived (not necessarily whole lines)."""

    host: str
    stream: str  # STDOUT or STDERR
    data: bytes  # at most OUTPUT_CHUNK bytes: see output_events()


def output_events(host: str, stream: str, data: bytes) -> list[Output]:
    """``data`` as Output events of at most OUTPUT_CHUNK bytes each."""
    return [
        Output(host, stream, data[i : i + OUTPUT_CHUNK]) for i in range(0, len(data), OUTPUT_CHUNK)
    ]


@dataclass(frozen=True)
class HostWarning:
    """A diagnostic that is not a host's result (e.g. an accepted host key).

    ``host`` None: about the run or a file, not one host; shown once however
    many workers report it.
    """

    host: str | None
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", clip(self.message))


@dataclass(frozen=True)
class LibraryLog:
    """Lines of a library's log record (paramiko's), shown with ``--debug`` only; ``host``:
    the host it is about, when known. See :func:`library_log_events`."""

    host: str | None
    text: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", clip(self.text, OUTPUT_CHUNK))


def library_log_events(host: str | None, text: str) -> list[LibraryLog]:
    """``text`` (a record, maybe a whole traceback) as events of whole lines that fit."""
    events: list[LibraryLog] = []
    chunk: list[str] = []
    size = 0
    for line in (clip(line) or "" for line in text.splitlines()):
        if chunk and size + len(line.encode()) + 1 > OUTPUT_CHUNK:
            events.append(LibraryLog(host, "\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line.encode()) + 1
    if chunk:
        events.append(LibraryLog(host, "\n".join(chunk)))
    return events


@dataclass(frozen=True)
class Skipped:
    """Entries a transfer on ``host`` did not transfer (links, special files), sent
    before its HostFinished; see :func:`skipped_events`."""

    host: str
    names: tuple[str, ...]


def skipped_events(host: str, names: tuple[str, ...]) -> list[Skipped]:
    """``names`` as Skipped events that each fit one pipe write (names clipped)."""
    events: list[Skipped] = []
    batch: list[str] = []
    size = 0
    for name in (clip(n) or "" for n in names):
        if batch and size + len(name.encode()) + 8 > OUTPUT_CHUNK:
            events.append(Skipped(host, tuple(batch)))
            batch, size = [], 0
        batch.append(name)
        size += len(name.encode()) + 8
    if batch:
        events.append(Skipped(host, tuple(batch)))
    return events


@dataclass(frozen=True)
class HostFinished:
    """The session with ``host`` ended. Output chunks for it all came before this."""

    host: str
    status: Status
    exit_code: int | None
    signal: str | None
    duration_s: float
    error: str | None
    attempts: int = 1
    changed: bool | None = None  # file transfers: whether some content changed
    tasks: tuple[int, int] | None = None  # playbooks: (tasks done, tasks planned)
    reused: bool = False  # over a connection kept from an earlier run (--persist)
    # For the run record's timings: seconds the session spent connecting (None: it made
    # no connection); and when the host's work ended (time.monotonic(), on this machine)
    # if that was before this event was sent (a playbook's hosts are reported at its end).
    connect_s: float | None = None
    ended_at: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "error", clip(self.error))


@dataclass(frozen=True)
class WorkerDone:
    """A worker took its end signal and is about to exit."""

    stats: WorkerStats


@dataclass(frozen=True)
class WorkerDied:
    """Sent by the engine: a worker process died; ``hosts`` it had started and not finished."""

    pid: int
    exitcode: int | None
    hosts: tuple[str, ...] = ()


def worker_died_events(pid: int, exitcode: int | None, hosts: tuple[str, ...]) -> list[WorkerDied]:
    """One WorkerDied, or several when the host names would not fit in one event."""
    batches: list[list[str]] = [[]]
    size = 0
    for name in hosts:
        if batches[-1] and size + len(name.encode()) + 8 > MAX_EVENT_BYTES // 2:
            batches.append([])
            size = 0
        batches[-1].append(name)
        size += len(name.encode()) + 8
    return [WorkerDied(pid, exitcode, tuple(batch)) for batch in batches]


@dataclass(frozen=True)
class Heading:
    """A step begins (a batch, a playbook task): a line between the output of steps."""

    text: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", clip(self.text))


@dataclass(frozen=True)
class Interrupt:
    """Sent by the engine on Ctrl-C: hosts that never started are reported interrupted.
    ``running``: how many hosts were running, and their names folded (clipped to fit)."""

    count: int = 0
    running: str = ""


@dataclass(frozen=True)
class EndOfRun:
    """Sent by the engine after every worker has exited: the aggregator's end signal."""


Event = (
    HostStarted
    | Output
    | HostWarning
    | LibraryLog
    | Skipped
    | HostFinished
    | Heading
    | WorkerDone
    | WorkerDied
    | Interrupt
    | EndOfRun
)


class _NoLock:
    """Stands in for the queue's write lock: every event is written atomically."""

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        return True

    def release(self) -> None:
        pass


if TYPE_CHECKING:  # the class is not subscriptable at run time
    _EventQueueBase = multiprocessing.queues.Queue[Event]
else:
    _EventQueueBase = multiprocessing.queues.Queue


class EventQueue(_EventQueueBase):
    """The run's event queue: a multiprocessing Queue without a write lock, for events
    that each fit one atomic pipe write (see the module's docstring)."""

    def __init__(self, ctx: BaseContext) -> None:
        super().__init__(ctx=ctx)
        # CPython's Queue takes _wlock around each pipe write; with atomic writes it
        # only adds a lock that a killed worker could leave held forever. Its size
        # semaphore only counts (the queue is unbounded): without it, a process that
        # did not inherit the queue can write to its pipe too (EventWriter).
        self._wlock = _NoLock()
        self._sem = _NoLock()

    def put(self, obj: Event, block: bool = True, timeout: float | None = None) -> None:
        """Queue an event. Output events are small by construction; the others (rare)
        are measured, and one too big to be written atomically is a bug, refused here."""
        _check_size(obj)
        super().put(obj, block, timeout)

    def put_now(self, obj: Event) -> None:
        """Write an event from this thread, at once: it is in the pipe when this returns,
        so what a worker is told to do after it comes after it (a batch's heading before
        its hosts' events; through :meth:`put`, the feeder thread may write it later).
        The engine's own events; one process uses either this or put, never both (their
        order would not hold). Waits while the pipe is full."""
        self._writer.send_bytes(_written(obj))  # type: ignore[attr-defined]  # as in writer_fd

    def writer_fd(self) -> int:
        """The file descriptor of the queue's pipe, for an :class:`EventWriter` in a
        process that is handed it (``SCM_RIGHTS``) rather than inheriting the queue."""
        fd: int = self._writer.fileno()  # type: ignore[attr-defined]  # CPython's Queue keeps its pipe's ends there
        return fd

    def reader_fd(self) -> int:
        """The file descriptor of the queue's read end, for its one reader that reads it
        in bulk (hostops.fleet.intake)."""
        fd: int = self._reader.fileno()  # type: ignore[attr-defined]  # as in writer_fd
        return fd


def _check_size(obj: Event, pickled: bytes | None = None) -> None:
    """Refuse an event that would not be written atomically; ``pickled``: the bytes to be
    written, when the caller has them already (measured instead of pickling again)."""
    if not isinstance(obj, Output):
        size = len(
            pickled if pickled is not None else pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        )
        if size > MAX_EVENT_BYTES:
            raise ValueError(f"event too big for an atomic write: {size} bytes: {obj!r:.200}")
    elif len(obj.data) > OUTPUT_CHUNK:
        raise ValueError(f"Output of {len(obj.data)} bytes: use output_events()")


def _written(obj: Event) -> bytes:
    """``obj`` as one atomic pipe write carries it, as the queue's feeder pickles it;
    ValueError for one too big (see _check_size)."""
    data = bytes(ForkingPickler.dumps(obj))
    _check_size(obj, data)
    return data


_FLUSH_TICK_S = 0.5  # how often EventWriter.close asks whether its run is gone


class EventWriter:
    """The write end of a run's :class:`EventQueue` in a process that was handed its pipe
    (a worker of the background process, or of a cold run's early process).

    Each event is one atomic write, as the queue's own feeder makes it, so writers in any
    number of threads and processes never mix. The writes are made by a thread of its
    own, as the queue's are: a session never waits for the aggregator, and so still
    keeps its timeouts while the aggregator is behind (what waits here is bounded by
    flow control, hostops.fleet.flow). Once the run is gone (the pipe broken), events
    are dropped: nobody is left to read them.
    """

    def __init__(self, fd: int) -> None:
        self._conn = multiprocessing.connection.Connection(fd, readable=False)
        self._broken = False
        self._waiting: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._feeder = threading.Thread(target=self._feed, name="events", daemon=True)
        self._feeder.start()

    def put(self, obj: Event) -> None:
        """Write an event (see EventQueue.put for the size rule)."""
        data = _written(obj)
        if not self._broken:
            self._waiting.put(data)

    def _feed(self) -> None:
        while (data := self._waiting.get()) is not None:
            if self._broken:
                continue
            try:
                self._conn.send_bytes(data)
            except OSError:
                self._broken = True

    def close(self, gone: Callable[[], bool]) -> None:
        """Write what is waiting, then close the pipe's end. Writing takes as long as the
        aggregator takes to read (the user's pager at its first page: no deadline, as a
        cold worker's queue waits); it stops once ``gone()`` says the run has ended,
        dropping what is left."""
        self._waiting.put(None)
        while self._feeder.is_alive():
            self._feeder.join(_FLUSH_TICK_S)
            if self._feeder.is_alive() and gone():
                self._broken = True  # the rest is dropped
                # A write under way ends as the run's processes close the pipe (EPIPE);
                # the end stays open until then, so its number cannot be reused under it.
                self._feeder.join(_FLUSH_TICK_S)
                if self._feeder.is_alive():
                    return
        self._conn.close()
