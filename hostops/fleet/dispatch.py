"""The engine's side of handing jobs to worker processes, over a private pipe per worker.

A job is one operation on one host (:class:`Job`). A worker runs each job in
one of its session threads; a job whose connection is to be kept leaves the
host's connection open in that worker, and every later job on that host goes
to the same worker (playbooks: one connection per host for all their tasks).

Why not one shared task queue: a worker killed while blocked in a shared
``Queue.get()`` keeps its read lock forever and every other worker blocks
behind it. With a pipe per worker, a dying worker can only break its own pipe;
and because the engine hears "started" and "done" for every job, it knows
exactly which jobs a dead worker had in flight (reported ``error``) and which
it had not started (given to the other workers: never run twice).

Wire protocol. Engine → worker: a :class:`Job`, or a list of Jobs for a worker
that takes them so (``WorkerSlot.batches``); :class:`Release` (close these
hosts' kept connections); :class:`Flag` (Ctrl-C, for a worker that shares no Event
with the engine); or None (finish and exit).
Worker → engine: ``("started", name, ...)`` before a job (or each job of a list)
begins, ``("done", name,
outcome)`` after it ended (a free thread again; the Outcome carries the output
only if the job collects it: otherwise the output went to the aggregator);
``("returned", name)`` when the job could not run because no thread could be
started (a process or memory limit): it goes back in the queue, and that worker
is given one job fewer at once from then on (never fewer than one while idle).
``("heard", name, seconds)``: how long a new connection's first answer took, for
the governor (adaptive concurrency; the first few only, and only without ``--forks``).

Sites: a worker slot may serve only some sites (``WorkerSlot.sites``: the shards of a
cluster run, hostops.cluster); a host whose inventory variable ``site`` names one
waits in that site's queue for a slot serving it, and when no slot of its site is
left it ends ``error`` at once instead of waiting forever. Local workers serve every
host: with them, there is one queue, as before.
"""

from __future__ import annotations

import contextlib
import pickle
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any, Protocol

from hostops.fleet.adaptive import Governor
from hostops.models import Host, Status
from hostops.operations import Operation, Outcome

STARTED = "started"
DONE = "done"
RETURNED = "returned"  # not run (no thread could start): queue it again, one thread fewer
HEARD = "heard"  # a new connection's first answer took this long (hostops.host.ssh.distance)
# What a worker has not said "started" for stays within what its channel's buffer holds
# (a pipe's 64 KiB; a Unix socket's, the engine's own workers' and the early and
# background processes', 208 KiB by default on Linux), so that a send never blocks while
# the worker is itself blocked sending to us (a deadlock at hundreds of threads): at most
# _MAX_UNACKED jobs sent one a message, or _UNACKED_BYTES of jobs sent as lists. Counted
# in bytes, a list holds ~120 jobs of ~500 bytes: as 32 jobs, the last hosts of 200 far
# ones waited for the worker's "started" (it answers after a turn at the GIL among its
# busy sessions) and began up to ~0.45 s after the first, against ~0.1 s for --forks 200.
_MAX_UNACKED = 32
_UNACKED_BYTES = 60 * 1024
_JOIN_S = 5.0
# The outcome of a kept-connection job whose worker died under it.
WORKER_DIED = Outcome(Status.ERROR, error="worker died")
SITE_VAR = "site"  # the inventory variable that pins a host to a site's workers


def site_of(host: Host) -> str | None:
    """The site ``host`` is pinned to (its variable ``site``), or None: any worker."""
    value = host.vars.get(SITE_VAR)
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Job:
    """One operation on one host, as a worker carries it out."""

    index: int  # the host's place in the run: keys its output flow control
    host: Host
    op: Operation
    keep: bool = False  # leave the connection open for the host's next job
    final: bool = True  # its end is the host's result: the worker reports HostFinished
    show: bool = True  # its output goes to the aggregator (views, --out-dir, record)
    collect: bool = False  # its output also comes back in the Outcome (playbooks register it)


@dataclass(frozen=True)
class Release:
    """Close the kept connections of these hosts: nothing more will run on them."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class Flag:
    """Set the run's ``cancel`` or ``hurry`` in a worker that does not share the engine's
    Events (a worker of the background process, hostops.keeper)."""

    name: str


class WorkerProcess(Protocol):
    """What the engine uses of a worker process (a multiprocessing Process, or a stand-in
    for a worker it did not start: hostops.keeper)."""

    @property
    def pid(self) -> int | None: ...

    @property
    def sentinel(self) -> int: ...

    @property
    def exitcode(self) -> int | None: ...

    def join(self, timeout: float | None = None) -> None: ...

    def kill(self) -> None: ...

    def is_alive(self) -> bool: ...


class Pipe(Protocol):
    """What the engine uses of its pipe to a worker (a multiprocessing Connection, or a
    stand-in inside this process: hostops.cluster.relay)."""

    def fileno(self) -> int: ...

    def poll(self, timeout: float | None = ...) -> bool: ...

    def recv(self) -> Any: ...

    def send(self, obj: Any) -> None: ...

    def close(self) -> None: ...


@dataclass
class WorkerSlot:
    """What the engine knows of one worker process."""

    process: WorkerProcess
    conn: Pipe
    free: int  # threads with nothing to do
    capacity: int = 0  # the most it may run at once (its thread pool's size)
    limited: bool = False  # it could not start a thread: its budget grows no more
    sent: dict[str, Job] = field(default_factory=dict)  # given, not yet done
    started: set[str] = field(default_factory=set)  # hosts it said it started (final jobs)
    queue: deque[Job] = field(default_factory=deque)  # jobs for hosts whose connection it keeps
    stopping: bool = False  # None was sent
    sites: frozenset[str] | None = None  # the sites it serves (None: every host)
    # Jobs it takes beyond its threads (in ``free``), held until a thread is free: a
    # cluster shard's window (hostops.cluster.window). Given only once every worker's
    # threads have one.
    window: int = 0
    # It takes the jobs of one dispatch as one list (hostops.fleet.worker.serve): one
    # read and one "started" for all. A worker that reads each message with a hundred
    # busy session threads waits for the GIL at each of its reads and sends; one job a
    # message, the last hosts of a 200-host run started ~0.5 s after they were sent.
    batches: bool = False
    # The bytes of each job sent in a list that it has not said "started" for (by host).
    unacked: dict[str, int] = field(default_factory=dict)

    def serves(self, site: str | None) -> bool:
        """Whether hosts of ``site`` (None: no site) may run here."""
        return site is None or self.sites is None or site in self.sites


class Dispatcher:
    """Hands jobs to free worker threads and keeps the account of every job.

    ``on_lost(pid, exitcode, started)`` is called when a worker dies, with every
    host whose final job it had started (the aggregator reports those it has no
    result for); a kept-connection job in flight on it ends ``error`` in
    :attr:`outcomes`. ``spawn()`` starts a replacement worker (None: none could be
    started; the other workers take the rest). ``governor``: the
    workers' budgets (``free`` + in flight) grow as it decides, up to their capacity
    (``--forks`` not given: see hostops.fleet.adaptive). ``on_stranded(jobs, why)`` is
    called with the jobs of a site whose last serving worker died (their outcome is
    ``error``; the caller reports them).
    """

    def __init__(
        self,
        hosts: list[Host],
        slots: list[WorkerSlot],
        on_lost: Callable[[int, int | None, tuple[str, ...]], None],
        spawn: Callable[[], WorkerSlot | None] | None = None,
        governor: Governor | None = None,
        on_stranded: Callable[[list[Job], str], None] | None = None,
    ) -> None:
        self.index = {h.name: i for i, h in enumerate(hosts)}
        # Jobs not given yet, by site (None: any worker); one queue unless slots have sites.
        self._queues: dict[str | None, deque[Job]] = {None: deque()}
        self._sited = any(s.sites is not None for s in slots)
        self._on_stranded = on_stranded
        self.stranded: dict[str, str] = {}  # site -> why it has no worker (else "no worker left")
        self.slots = slots
        self.processes = [s.process for s in slots]  # every worker ever started
        self.owner: dict[str, WorkerSlot] = {}  # host -> the worker keeping its connection
        self.outcomes: dict[str, Outcome | None] = {}  # ended jobs, by host
        self._on_lost = on_lost
        # A worker that dies with jobs still to run is replaced, at most once per
        # original worker: a cause that kills every worker must not loop forever.
        self._spawn = spawn
        self._replacements = len(slots)
        self._governor = governor

    def submit(self, jobs: list[Job]) -> None:
        """Queue jobs (at most one per host until it is done): a host whose
        connection a worker keeps goes to that worker."""
        for job in jobs:
            self.outcomes.pop(job.host.name, None)
            owner = self.owner.get(job.host.name)
            (owner.queue if owner is not None else self._queue_of(job)).append(job)
        if self._sited:
            self._strand()  # a site no worker serves from the start: never wait for one

    @property
    def pending(self) -> list[Job]:
        """Jobs any worker of their site may take, in inventory order."""
        return sorted(
            (j for q in self._queues.values() for j in q), key=lambda j: self.index[j.host.name]
        )

    def _queue_of(self, job: Job) -> deque[Job]:
        site = site_of(job.host) if self._sited else None
        return self._queues.setdefault(site, deque())

    def _next_queue(self, slot: WorkerSlot) -> deque[Job] | None:
        """The queue ``slot`` takes its next job from: of those it serves, the one whose
        first job comes first in the inventory."""
        heads = [q for site, q in self._queues.items() if q and slot.serves(site)]
        return min(heads, key=lambda q: self.index[q[0].host.name], default=None)

    def busy(self) -> bool:
        """Jobs queued or running."""
        return any(self._queues.values()) or any(s.sent or s.queue for s in self.slots)

    def waitables(self) -> list[Any]:
        """Everything to wait on: each worker's pipe and process sentinel (Any: wait()
        takes anything with a fileno(), its type hints only Connections and sockets)."""
        return [s.conn for s in self.slots] + [s.process.sentinel for s in self.slots]

    def wake_s(self) -> float | None:
        """Seconds until the governor wants to look again (None: it does not)."""
        g = self._governor
        if g is None or not self._waiting() or not g.active(self._budget()):
            return None
        return g.wait_s()

    def dispatch(self) -> None:
        """Give queued jobs to free threads: a worker's own queue first, then the
        shared one to the workers with the most free threads."""
        if self.wake_s() == 0.0:
            self._grow()
        # Every worker's threads first, then the jobs workers hold beyond them (windows).
        for held in (False, True):
            for slot in sorted(self.slots, key=lambda s: -s.free):
                self._fill(slot, 0 if held else slot.window)

    def _fill(self, slot: WorkerSlot, keep_free: int) -> None:
        """Give ``slot`` jobs until ``keep_free`` of its budget is left."""
        if slot.batches:
            self._fill_list(slot, keep_free)
            return
        unacked = len(slot.sent) - len(slot.started & slot.sent.keys())
        while slot.free > keep_free and not slot.stopping and unacked < _MAX_UNACKED:
            source = slot.queue if slot.queue else self._next_queue(slot)
            if source is None or not self._give(slot, [(source, source.popleft())]):
                return
            unacked += 1

    def _fill_list(self, slot: WorkerSlot, keep_free: int) -> None:
        """:meth:`_fill` for a worker that takes lists: one list, within the bytes it
        may have unstarted (cut until it fits; a lone job goes whatever its size when
        nothing else is unstarted, as one job a message does)."""
        room = _UNACKED_BYTES - sum(slot.unacked.values())
        if slot.unacked and room < max(slot.unacked.values()):
            return  # not even a job the size of those unstarted fits: wait for "started"
        taken: list[tuple[deque[Job], Job]] = []
        while slot.free - len(taken) > keep_free and not slot.stopping:
            source = slot.queue if slot.queue else self._next_queue(slot)
            if source is None:
                break
            taken.append((source, source.popleft()))
        while taken:
            payload = bytes(ForkingPickler.dumps([job for _, job in taken]))
            if len(payload) <= room or (len(taken) == 1 and not slot.unacked):
                self._give(slot, taken, payload)
                return
            # As many as fit at this list's size a job (then measured again), at least
            # one while nothing else is unstarted.
            fit = min(len(taken) - 1, len(taken) * room // len(payload))
            kept = max(fit, 0 if slot.unacked else 1)
            self._put_back(taken[kept:])
            taken = taken[:kept]

    def _give(
        self, slot: WorkerSlot, taken: list[tuple[deque[Job], Job]], payload: bytes = b""
    ) -> bool:
        """Send ``slot`` the jobs taken from their queues: one job, or the list
        ``payload`` holds (pickled); if it cannot be sent (a dead worker), each goes back
        where it was."""
        jobs = [job for _, job in taken]
        if not (self._send_list(slot, payload) if payload else self._send(slot, jobs[0])):
            self._put_back(taken)
            return False
        for job in jobs:
            slot.sent[job.host.name] = job
            if job.keep:
                self.owner[job.host.name] = slot
            if payload:
                slot.unacked[job.host.name] = len(payload) // len(jobs)
        slot.free -= len(jobs)
        return True

    @staticmethod
    def _put_back(taken: list[tuple[deque[Job], Job]]) -> None:
        """Jobs taken from their queues and not sent: each back at its queue's head, in order."""
        for source, job in reversed(taken):
            source.appendleft(job)

    def _waiting(self) -> int:
        return len(self.pending) + sum(len(s.queue) for s in self.slots)

    def _budget(self) -> int:
        return sum(s.free + len(s.sent) for s in self.slots)

    def _grow(self) -> None:
        """Ask the governor, and share out the sessions it adds: each to the worker with
        the smallest budget that has room for it."""
        assert self._governor is not None
        limit = self._budget()
        running = sum(len(s.sent) for s in self.slots)
        extra = self._governor.tick(limit, running, self._waiting()) - limit
        for _ in range(extra):
            room = [
                s
                for s in self.slots
                if not s.stopping and not s.limited and s.free + len(s.sent) < s.capacity
            ]
            if not room:
                return
            min(room, key=lambda s: s.free + len(s.sent)).free += 1

    def release(self, names: list[str]) -> None:
        """Close the kept connections of ``names`` in the workers that hold them."""
        by_slot: dict[int, list[str]] = {}
        for name in names:
            slot = self.owner.pop(name, None)
            if slot is not None and slot in self.slots:
                by_slot.setdefault(id(slot), []).append(name)
        for slot in self.slots:
            if id(slot) in by_slot:
                self._send(slot, Release(tuple(by_slot[id(slot)])))

    def flag(self, name: str) -> None:
        """Set the run's ``name`` Event (cancel, hurry) in every worker (see Flag)."""
        for slot in self.slots:
            self._send(slot, Flag(name))

    def finish(self) -> None:
        """Tell every worker to end once its current jobs are done (Ctrl-C, or all given)."""
        for slot in self.slots:
            if not slot.stopping:
                self._send(slot, None)
                slot.stopping = True

    def drop_pending(self) -> list[Job]:
        """Ctrl-C: start nothing more. Returns the jobs that will not run."""
        dropped = self.pending
        for queue in self._queues.values():
            queue.clear()
        for slot in self.slots:
            dropped += slot.queue
            slot.queue.clear()
        return dropped

    def handle(self, ready: Sequence[object]) -> None:
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
                kind, name, *rest = slot.conn.recv()
                if kind == STARTED:
                    slot.started.add(name)
                    slot.started.update(rest)  # the rest of a list of jobs
                    for started in (name, *rest):
                        slot.unacked.pop(started, None)
                elif kind == RETURNED:
                    self._returned(slot, name)
                elif kind == HEARD:
                    if self._governor is not None:
                        self._governor.heard(rest[0])
                elif kind == DONE:
                    job = slot.sent.pop(name, None)
                    slot.free += 1
                    if job is not None:
                        self.outcomes[name] = rest[0] if rest else None
                        if not job.final:  # a final job stays in started: its result
                            slot.started.discard(name)  # may not have left the worker yet
        except (EOFError, OSError, ValueError, TypeError, pickle.UnpicklingError):
            pass  # the worker is gone or going (a cut message): its sentinel says so

    def _returned(self, slot: WorkerSlot, name: str) -> None:
        job = slot.sent.pop(name, None)
        slot.started.discard(name)
        if job is None:
            return
        # Its thread is not given back (slot.free stays): this worker runs one fewer at
        # once, for good. An idle worker keeps one, or the run could wait forever.
        slot.limited = True
        if not slot.sent:
            slot.free = max(slot.free, 1)
        # A host whose connection this worker keeps (a playbook's earlier tasks) stays.
        (slot.queue if self.owner.get(name) is slot else self._queue_of(job)).appendleft(job)

    def _ended(self, slot: WorkerSlot) -> None:
        slot.process.join(timeout=_JOIN_S)
        self._read(slot)  # messages sent just before the end
        self.slots.remove(slot)
        with contextlib.suppress(OSError):
            slot.conn.close()
        for name in [n for n, s in self.owner.items() if s is slot]:
            del self.owner[name]  # those connections died with it
        # Never started on the dead worker: run them elsewhere, in inventory order.
        unstarted = [j for n, j in slot.sent.items() if n not in slot.started]
        for job in unstarted + list(slot.queue):
            self._queue_of(job).append(job)
        for site, queue in self._queues.items():
            self._queues[site] = deque(sorted(queue, key=lambda j: self.index[j.host.name]))
        if slot.process.exitcode != 0:
            lost = [j for n, j in slot.sent.items() if n in slot.started and not j.final]
            for job in lost:
                self.outcomes[job.host.name] = WORKER_DIED
            # Every host whose final job it started, finished ones too: a result still in
            # its event queue's buffer died with it. The aggregator skips hosts it has a
            # result for.
            started = tuple(
                sorted(
                    (n for n in slot.started if n not in {j.host.name for j in lost}),
                    key=self.index.__getitem__,
                )
            )
            self._on_lost(slot.process.pid or 0, slot.process.exitcode, started)
            if self.pending and self._spawn is not None and self._replacements > 0:
                self._replacements -= 1
                replacement = self._spawn()
                if replacement is not None:
                    self.slots.append(replacement)
                    self.processes.append(replacement.process)
        self._strand()

    def _strand(self) -> None:
        """Jobs of a site no slot left serves: they end ``error`` now, naming the site
        (the engine accounts for the jobs without a site when no slot is left at all)."""
        for site, queue in self._queues.items():
            if site is not None and queue and not any(s.serves(site) for s in self.slots):
                jobs = list(queue)
                queue.clear()
                why = self.stranded.get(site) or f"site {site}: no worker left"
                for job in jobs:
                    self.outcomes[job.host.name] = Outcome(Status.ERROR, error=why)
                if self._on_stranded is not None:
                    self._on_stranded(jobs, why)

    def _send(self, slot: WorkerSlot, message: Job | Release | Flag | None) -> bool:
        try:
            slot.conn.send(message)
        except (OSError, EOFError):
            return False  # a dead worker; its sentinel will tell
        return True

    @staticmethod
    def _send_list(slot: WorkerSlot, payload: bytes) -> bool:
        """Send a list of jobs, pickled already (to be measured) as Connection.send does."""
        conn = slot.conn
        # Only a multiprocessing Connection takes lists (the engine's own workers, the
        # early and background processes'); a cluster shard's channel takes one job a time.
        assert isinstance(conn, Connection), "a worker that takes lists has a Connection"
        try:
            conn.send_bytes(payload)
        except (OSError, EOFError):
            return False  # a dead worker; its sentinel will tell
        return True
