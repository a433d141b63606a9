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
import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as MpEvent

from hostops.credentials import Secrets
from hostops.fleet._procname import set_process_name
from hostops.fleet.dispatch import DONE, STARTED, Job, Release
from hostops.fleet.events import (
    STDERR,
    STDOUT,
    HostFinished,
    HostStarted,
    HostWarning,
    WorkerDone,
    output_events,
)
from hostops.fleet.flow import Counters, Credit
from hostops.host.base import HostFailure
from hostops.host.local import LocalConnection
from hostops.host.session import Session
from hostops.host.ssh import SshConnection, SshContext
from hostops.models import Connection, Host, RunOptions, Status, WorkerStats
from hostops.operations import Command, Outcome

_BACKOFF_S = 0.5  # first pause before a connection retry; doubles each time
_BACKOFF_MAX_S = 10.0
_PARENT_CHECK_S = 1.0


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
    stdin: bytes | None = None


class _Kept:
    """The connections this worker keeps open between jobs (playbooks), by host."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, Session] = {}

    def take(self, name: str) -> Session | None:
        with self._lock:
            return self._open.pop(name, None)

    def put(self, name: str, session: Session) -> None:
        with self._lock:
            self._open[name] = session

    def close(self, names: tuple[str, ...] | None = None) -> None:
        with self._lock:
            chosen = list(self._open) if names is None else [n for n in names if n in self._open]
            sessions = [self._open.pop(n) for n in chosen]
        for session in sessions:
            session.close()


def worker_main(
    spec: WorkerSpec, conn: Pipe, events: Queue, cancel: MpEvent, secrets: Secrets
) -> None:
    """Entry point of a worker process: run the jobs the engine sends over ``conn``
    until it sends None (see hostops.fleet.dispatch for the protocol). ``secrets`` come
    apart from ``spec`` so that nothing that describes the run carries them."""
    # Ctrl-C reaches the whole process group; the engine alone decides what it means.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    set_process_name("hostops-worker")
    # Objects inherited from the engine are never freed here: keep the collector
    # from scanning them (measured: ~7% less worker CPU at 200 hosts).
    gc.freeze()
    ctx = SshContext(spec.options, lambda msg: events.put(HostWarning(None, msg)), secrets)
    pid = os.getpid()
    send_lock = threading.Lock()  # session threads report to the engine over one pipe
    kept = _Kept()
    seen: set[str] = set()  # hosts this worker announced (HostStarted)

    def tell(*message: object) -> None:
        with send_lock, contextlib.suppress(OSError):
            conn.send(message)

    def work(job: Job, first: bool) -> None:
        outcome = None
        try:
            credit = Credit(spec.consumed, job.index) if spec.consumed is not None else None
            outcome = run_job(job, spec, ctx, events, cancel, pid, credit, kept, first)
        finally:
            if outcome is not None and not job.collect:  # its status only: the output
                outcome = dataclasses.replace(outcome, stdout=b"", stderr=b"")  # went by events
            tell(DONE, job.host.name, outcome)

    handled = 0
    with ThreadPoolExecutor(max_workers=spec.threads, thread_name_prefix="session") as pool:
        parent = os.getppid()
        while True:
            try:
                # Bounded: EOF alone may come late (other workers hold copies of our
                # pipe's far end, inherited at fork), so also watch the parent.
                if not conn.poll(_PARENT_CHECK_S):
                    if os.getppid() != parent:
                        raise EOFError
                    continue
                item = conn.recv()
            except (EOFError, OSError):  # the engine is gone
                cancel.set()
                break
            if item is None:
                break
            if isinstance(item, Release):
                pool.submit(kept.close, item.names)
                continue
            first = item.host.name not in seen
            seen.add(item.host.name)
            handled += first
            tell(STARTED, item.host.name)  # before the job: the engine never runs it twice
            pool.submit(work, item, first)
    kept.close()
    ctx.close()  # the jump host connections, once every session is over
    events.put(WorkerDone(WorkerStats(pid, handled, ctx.known_hosts_loads, ctx.key_loads)))
    events.close()
    events.join_thread()  # every event is in the pipe before the process exits


def run_job(
    job: Job,
    spec: WorkerSpec,
    ctx: SshContext,
    events: Queue,
    cancel: MpEvent,
    pid: int,
    credit: Credit | None = None,
    kept: _Kept | None = None,
    first: bool = True,
) -> Outcome:
    """One operation on one host, over its kept connection or a new one. Never raises:
    every failure is the Outcome (and, for a final job, the host's HostFinished)."""
    host = job.host
    sent = {STDOUT: 0, STDERR: 0}
    collected: dict[str, bytearray] = {STDOUT: bytearray(), STDERR: bytearray()}
    limit = spec.options.max_output

    def sink(stream: str, data: bytes) -> None:
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

    started = time.monotonic()
    if first:
        events.put(HostStarted(host.name, pid))
    # delegate_to: localhost runs here, beside (not over) the host's kept connection.
    on_controller = isinstance(job.op, Command) and job.op.on_controller
    session = kept.take(host.name) if kept is not None and not on_controller else None
    attempts = 1
    try:
        if cancel.is_set():
            raise HostFailure(Status.INTERRUPTED, "interrupted before it started")
        if on_controller:
            session = Session(LocalConnection(ctx.secrets.scrubbed_environment()), host.name)
        elif session is None:
            conn, attempts = _connect_with_retries(host, spec.options, ctx, events, cancel)
            session = Session(conn, host.name)
        may_read = None if credit is None else lambda t: credit.wait(t, cancel.is_set)
        outcome = session.perform(job.op, spec, sink, cancel, may_read)  # type: ignore[arg-type]
    except HostFailure as failure:
        outcome = Outcome(failure.status, error=failure.message)
        attempts = max(attempts, failure.attempts)
    except Exception as exc:  # a bug or an unforeseen library error: still data, never raw
        outcome = Outcome(Status.ERROR, error=f"internal error: {type(exc).__name__}: {exc}")
    finally:
        if session is not None:
            if job.keep and session.alive() and not on_controller:
                kept.put(host.name, session)  # type: ignore[union-attr]
            else:
                session.close()
    outcome = dataclasses.replace(
        outcome,
        stdout=bytes(collected[STDOUT]),
        stderr=bytes(collected[STDERR]),
        duration_s=time.monotonic() - started,
        attempts=max(attempts, 1),
    )
    if job.final:
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
            )
        )
    return outcome


def _connect_with_retries(
    host: Host, options: RunOptions, ctx: SshContext, events: Queue, cancel: MpEvent
) -> tuple[SshConnection | LocalConnection, int]:
    """Connect, trying again after transient failures (refused, reset, connect timeout)
    with exponential backoff and jitter. Auth and host key failures are never retried."""
    for attempt in range(1, options.connect_retries + 2):
        try:
            return _open(host, ctx, lambda msg: events.put(HostWarning(host.name, msg))), attempt
        except HostFailure as failure:
            failure.attempts = attempt
            if not failure.transient or attempt > options.connect_retries:
                raise
            backoff = min(_BACKOFF_MAX_S, _BACKOFF_S * 2 ** (attempt - 1)) * random.uniform(
                0.5, 1.5
            )
            if cancel.wait(backoff):
                interrupted = HostFailure(Status.INTERRUPTED, "interrupted while waiting to retry")
                interrupted.attempts = attempt
                raise interrupted from None
    raise AssertionError("unreachable")  # the loop returns or raises


def _open(host: Host, ctx: SshContext, warn: object) -> SshConnection | LocalConnection:
    if host.connection is Connection.LOCAL:
        return LocalConnection(ctx.secrets.scrubbed_environment())
    return SshConnection(host, ctx, warn)  # type: ignore[arg-type]
