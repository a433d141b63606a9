"""Code that runs inside a worker process: concurrent host sessions, reported as events.

The engine sends a worker a job (an operation on a host) only when one of its
session threads is free, so the hosts spread over the workers. Nothing raised
here crosses the process boundary: every failure becomes an Outcome (and a
HostFinished event when the job's end is the host's result).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as MpEvent
from typing import Any, Protocol

from hostops.credentials import Secrets
from hostops.fleet._procname import set_process_name
from hostops.fleet.dispatch import DONE, HEARD, RETURNED, STARTED, Flag, Job, Release
from hostops.fleet.events import (
    Event,
    HostFinished,
    HostStarted,
    HostWarning,
    WorkerDone,
    library_log_events,
    output_events,
    skipped_events,
)
from hostops.fleet.flow import Counters, Credit
from hostops.host.base import NO_THREAD, STDERR, STDOUT, Cancel, is_thread_limit
from hostops.host.client import HostClient, Limits
from hostops.host.ssh import SshContext
from hostops.host.stdin import Source
from hostops.liblog import route_library_logs
from hostops.models import Host, RunOptions, Status, Transport, WorkerStats
from hostops.operations import Command, Download, Operation, Outcome, Upload
from hostops.redact import Redactor

_PARENT_CHECK_S = 1.0
_ENDING_TICK_S = 0.1  # after the last job was given: how soon the end of the last is seen
_NO_THREAD_TRIES = 20  # times an idle worker gives a host back before it fails (~15 s)
_NO_THREAD_WAIT_S = 0.05
_NO_THREAD_WARNING = (
    "a worker cannot start a thread (process or memory limit: ulimit -u, -v):"
    " its hosts go back in the queue and it runs fewer at once"
)


@dataclass(frozen=True)
class WorkerSpec:
    """What every worker of one run needs, fixed when the worker is created."""

    options: RunOptions
    threads: int
    consumed: Counters | None = None  # the aggregator's side of output flow control
    # Bytes of each stream worth sending per host; None: all. When nothing renders or
    # stores the whole output (no stream view, no --out-dir), sending more than the
    # aggregator keeps would only cost CPU: one byte past --max-output tells it "cut".
    forward_limit: int | None = None
    # The run's standard input (``hostops run 'bash -s' < fix.sh``): given to the
    # worker once, not with every job; commands with ``stdin`` get it.
    stdin: Source = None
    # How many new connections' first answers to tell the engine, whose governor reads
    # them (hostops.fleet.adaptive: the first few decide); 0 when it has none.
    first_answers: int = 0


class Kept:
    """The connections this worker keeps open between jobs (playbooks), by host.

    The background process of warm runs (hostops.keeper) extends it: what the run
    does not keep is parked there for the next run instead of closed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, HostClient] = {}

    def take(self, host: Host) -> HostClient | None:
        """The open connection to ``host`` kept for it, if any (no longer kept)."""
        with self._lock:
            return self._open.pop(host.name, None)

    def give_back(self, host: Host, client: HostClient, keep: bool) -> None:
        """A job on ``host`` is over: keep its connection for the next job, or close it."""
        if keep and client.connected:
            with self._lock:
                self._open[host.name] = client
        else:
            client.close()

    def close(self, names: tuple[str, ...] | None = None) -> None:
        """Nothing more runs on ``names`` (None: on any host): close their connections."""
        for client in self._take_all(names):
            client.close()

    def _take_all(self, names: tuple[str, ...] | None) -> list[HostClient]:
        """The kept connections of ``names`` (None: all), no longer kept."""
        with self._lock:
            chosen = list(self._open) if names is None else [n for n in names if n in self._open]
            return [self._open.pop(n) for n in chosen]


def worker_main(
    spec: WorkerSpec,
    conn: Pipe,
    events: Queue[Event],
    cancel: MpEvent,
    secrets: Secrets,
    hurry: MpEvent | None = None,
) -> None:
    """Entry point of a worker process: run the jobs the engine sends over ``conn``
    until it sends None (see hostops.fleet.dispatch for the protocol). ``secrets`` come
    apart from ``spec`` so that nothing that describes the run carries them.
    ``cancel``: Ctrl-C (stop commands, TERM then KILL); ``hurry``: a second one (KILL
    every command at once)."""
    # Ctrl-C reaches the whole process group; the engine alone decides what it means.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    set_process_name("hostops-worker")
    # Objects inherited from the engine are never freed here: keep the collector
    # from scanning them (measured: ~7% less worker CPU at 200 hosts).
    gc.freeze()
    parent = os.getppid()
    serve(spec, conn, events, cancel, secrets, hurry, lambda: os.getppid() != parent)
    events.close()
    events.join_thread()  # every event is in the pipe before the process exits


class Channel(Protocol):
    """The engine's end of a worker's pipe, as the worker uses it."""

    def poll(self, timeout: float | None = None) -> bool: ...

    def recv(self) -> Any: ...

    def send(self, obj: Any) -> None: ...


# An upload or download carried out with perform(op), its files moved where they are
# (a cluster shard: hostops.cluster.staging); None: the files are on this machine.
Transfer = Callable[[Upload | Download, Host, Callable[[Operation], Outcome]], Outcome]


class _Events(Protocol):
    def put(self, obj: Event) -> None: ...


class Settable(Cancel, Protocol):
    """A threading or multiprocessing Event, as the worker sets it."""

    def set(self) -> None: ...


def serve(
    spec: WorkerSpec,
    conn: Channel,
    events: _Events,
    cancel: Settable,
    secrets: Secrets,
    hurry: Settable | None,
    gone: Callable[[], bool],
    kept: Kept | None = None,
    context: SshContext | None = None,
    transfer: Transfer | None = None,
) -> None:
    """Run one run's jobs from ``conn`` in ``spec.threads`` session threads until the
    engine sends None or is ``gone()``; ``kept``: the connections kept between jobs;
    ``context``: the SSH context to use (else one for this run, closed at its end);
    ``transfer``: how uploads and downloads reach their files (see Transfer).
    A :class:`Flag` message sets ``cancel`` or ``hurry`` (an engine in another process
    tree that cannot share an Event with this one)."""

    def library_log(host: str | None, text: str) -> None:
        for event in library_log_events(host, text):
            events.put(event)

    route_library_logs(library_log if spec.options.debug else None)
    # Vaulted values are masked here, where output enters the fleet: the aggregator,
    # views, run records and --out-dir files never see them.
    redactor = Redactor(secrets.masked)
    ctx = context or SshContext(
        spec.options, lambda msg: events.put(HostWarning(None, redactor.text(msg))), secrets
    )
    pid = os.getpid()
    send_lock = threading.Lock()  # session threads report to the engine over one pipe
    kept = kept if kept is not None else Kept()
    seen: set[str] = set()  # hosts this worker announced (HostStarted)
    flags: dict[str, Settable | None] = {"cancel": cancel, "hurry": hurry}

    def tell(*message: object) -> None:
        with send_lock, contextlib.suppress(OSError):
            conn.send(message)

    active = [0]  # session threads at work, under send_lock
    busy: set[str] = set()  # hosts whose job was given to the pool and has not ended
    tries: dict[str, int] = {}  # hosts given back for want of a thread, how often
    warned: list[bool] = []  # the warning was put on the queue

    answers_wanted = [spec.first_answers]  # new connections' first answers still to tell

    def heard(name: str, waited: float) -> None:
        with send_lock:
            if answers_wanted[0] <= 0:
                return
            answers_wanted[0] -= 1
        tell(HEARD, name, waited)

    def no_thread(job: Job) -> None:
        """No thread for ``job``: back to the engine's queue while other sessions here
        will free theirs; with none running here, the host's failure."""
        if not warned:
            warned.append(True)
            events.put(HostWarning(None, _NO_THREAD_WARNING))
        with send_lock:
            alone = active[0] == 0
            tries[job.host.name] = tries.get(job.host.name, 0) + 1
            attempt = tries[job.host.name]
        if alone and attempt <= _NO_THREAD_TRIES:
            # Nothing of ours will free a thread: other processes must (the limit is the
            # user's). Wait a little, longer each time, then let the engine try again.
            time.sleep(min(_NO_THREAD_WAIT_S * 2 ** (attempt - 1), 1.0))
        if not alone or attempt <= _NO_THREAD_TRIES:
            tell(RETURNED, job.host.name)
            return
        outcome = Outcome(Status.ERROR, error=NO_THREAD)
        if job.final:
            events.put(HostFinished(job.host.name, Status.ERROR, None, None, 0.0, NO_THREAD))
        tell(DONE, job.host.name, outcome)

    def work(job: Job, first: bool, claim: list[bool]) -> None:
        outcome = None
        with send_lock:
            if claim:  # its submit failed first: the job went back to the engine
                return
            claim.append(True)
            active[0] += 1
        try:
            credit = Credit(spec.consumed, job.index) if spec.consumed is not None else None
            outcome = run_job(
                job,
                spec,
                ctx,
                events,
                cancel,
                pid,
                credit,
                kept,
                first,
                hurry=hurry,
                redactor=redactor,
                transfer=transfer,
                heard=heard if answers_wanted[0] > 0 else None,
            )
        finally:
            with send_lock:
                active[0] -= 1
                busy.discard(job.host.name)
            if outcome is not None and outcome.error == NO_THREAD:
                no_thread(job)
            else:
                if outcome is not None and not job.collect:  # its status only: the output
                    outcome = dataclasses.replace(outcome, stdout=b"", stderr=b"")  # went by events
                tell(DONE, job.host.name, outcome)

    handled = 0
    ending = False  # None came: no more jobs; still listening for Flags until all ended
    with ThreadPoolExecutor(max_workers=spec.threads, thread_name_prefix="session") as pool:
        while True:
            with send_lock:
                if ending and not busy:
                    break
            try:
                # Bounded: EOF alone may come late (other workers hold copies of our
                # pipe's far end, inherited at fork), so also watch the engine.
                if not conn.poll(_ENDING_TICK_S if ending else _PARENT_CHECK_S):
                    if gone():
                        raise EOFError
                    continue
                item = conn.recv()
            except (EOFError, OSError):  # the engine is gone
                if not ending:
                    cancel.set()
                break
            if item is None:
                ending = True
                continue
            if isinstance(item, Flag):
                flag = flags.get(item.name)
                if flag is not None:
                    flag.set()
                continue
            if isinstance(item, Release):
                pool.submit(kept.close, item.names)
                continue
            jobs: list[Job] = item if isinstance(item, list) else [item]
            # Before the jobs: the engine never runs one twice.
            tell(STARTED, *(job.host.name for job in jobs))
            with send_lock:
                busy.update(job.host.name for job in jobs)
            for job in jobs:
                first = job.host.name not in seen
                # ThreadPoolExecutor queues a job before it starts a thread for it: when
                # that start fails, the job stays queued and a thread of this pool that
                # frees up later would still run it, after the engine gave it to another
                # worker. So whoever comes first claims it: a thread (it runs here) or this
                # failure (it goes back to the engine, and the thread that finds it later
                # skips it).
                claim: list[bool] = []
                try:
                    pool.submit(work, job, first, claim)
                except RuntimeError as exc:
                    if not is_thread_limit(exc):
                        raise
                    with send_lock:
                        running = bool(claim)
                        if not running:
                            claim.append(False)
                            busy.discard(job.host.name)
                    if not running:
                        no_thread(job)
                        continue
                seen.add(job.host.name)
                handled += first
    kept.close()
    if context is None:
        ctx.close()  # the jump host connections, once every session is over
    events.put(WorkerDone(WorkerStats(pid, handled, ctx.known_hosts_loads, ctx.key_loads)))


def run_job(
    job: Job,
    spec: WorkerSpec,
    ctx: SshContext,
    events: _Events,
    cancel: Cancel,
    pid: int,
    credit: Credit | None = None,
    kept: Kept | None = None,
    first: bool = True,
    hurry: Cancel | None = None,
    redactor: Redactor | None = None,
    transfer: Transfer | None = None,
    heard: Callable[[str, float], None] | None = None,
) -> Outcome:
    """One operation on one host, over its kept client or a new one. Never raises:
    every failure is the Outcome (and, for a final job, the host's HostFinished).
    ``redactor`` masks secret values in its output, warnings and error."""
    host = job.host
    sent = {STDOUT: 0, STDERR: 0}
    collected: dict[str, bytearray] = {STDOUT: bytearray(), STDERR: bytearray()}
    limit = spec.options.max_output
    redactor = redactor or Redactor()
    # Output shown (and then registered) is masked; a probe's (a file read for a diff,
    # a creates/removes test) is compared by hostops itself, never shown: kept as it is.
    shown = redactor if job.show else Redactor()
    masking = {STDOUT: shown.stream(), STDERR: shown.stream()}

    def sink(stream: str, data: bytes) -> None:
        emit(stream, masking[stream].feed(data))

    def emit(stream: str, data: bytes) -> None:
        if not data:
            return
        if job.collect and len(collected[stream]) < limit:
            collected[stream] += data[: limit - len(collected[stream])]
        if not job.show:
            return
        if spec.forward_limit is not None:
            data = data[: max(0, spec.forward_limit - sent[stream])]
            sent[stream] += len(data)
        if credit is not None:
            credit.spend(len(data))
        for event in output_events(host.name, stream, data):
            events.put(event)

    if first:
        events.put(HostStarted(host.name, pid))
    # delegate_to: localhost runs here, beside (not over) the host's kept connection.
    on_controller = isinstance(job.op, Command) and job.op.on_controller
    client = kept.take(host) if kept is not None and not on_controller else None
    if client is None:
        where = Host(host.name, "localhost", connection=Transport.LOCAL) if on_controller else host
        client = HostClient(
            where,
            context=ctx,
            warn=lambda msg: events.put(HostWarning(host.name, redactor.text(msg))),
            heard=None if heard is None else lambda waited: heard(host.name, waited),
        )
    op = job.op
    if isinstance(op, (Command, Upload)) and op.sudo is None:  # the run's --sudo, else the host's
        op = dataclasses.replace(op, sudo=spec.options.sudo or bool(host.sudo))

    def perform(op: Operation) -> Outcome:
        return client.perform(
            op,
            sink,
            limits=Limits.of(spec.options),
            cancel=cancel,
            stdin=spec.stdin,
            may_read=None if credit is None else lambda t: credit.wait(t, cancel.is_set),
            hurry=hurry,
        )

    if transfer is not None and isinstance(op, (Upload, Download)):
        outcome = transfer(op, host, perform)
    else:
        outcome = perform(op)
    for stream, masker in masking.items():  # what was held back in case a value went on
        emit(stream, masker.flush())
    if kept is not None and not on_controller:
        kept.give_back(host, client, job.keep)
    else:
        client.close()
    outcome = dataclasses.replace(
        outcome,
        stdout=bytes(collected[STDOUT]),
        stderr=bytes(collected[STDERR]),
        error=redactor.text(outcome.error) if outcome.error else outcome.error,
    )
    if job.final and outcome.error != NO_THREAD:  # that one is the caller's (no_thread)
        for event in skipped_events(host.name, outcome.skipped):
            events.put(event)
        events.put(
            HostFinished(
                host.name,
                outcome.status,
                outcome.exit_code,
                outcome.signal,
                outcome.duration_s,
                outcome.error,
                outcome.attempts,
                outcome.changed if not isinstance(job.op, Command) else None,
                reused=outcome.reused,
                connect_s=outcome.connect_s,
            )
        )
    return outcome
