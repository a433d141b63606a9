"""Code that runs inside a worker process: concurrent host sessions, reported as events.

The engine sends a worker a host only when one of its session threads is free,
so the hosts spread over the workers. Nothing raised here
crosses the process boundary: every failure becomes a HostFinished event.
"""

from __future__ import annotations

import contextlib
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

from hostops._procname import set_process_name
from hostops.credentials import Secrets
from hostops.dispatch import DONE, STARTED
from hostops.events import HostFinished, HostStarted, HostWarning, Output, WorkerDone
from hostops.models import Connection, Host, RunOptions, Status, WorkerStats
from hostops.transport.base import HostFailure, drive
from hostops.transport.local import LocalConnection
from hostops.transport.ssh import SshConnection, SshContext

_BACKOFF_S = 0.5  # first pause before a connection retry; doubles each time
_BACKOFF_MAX_S = 10.0
_PARENT_CHECK_S = 1.0


@dataclass(frozen=True)
class WorkerSpec:
    """What every worker of one run needs, fixed when the worker is created."""

    command: str
    options: RunOptions
    threads: int


def worker_main(
    spec: WorkerSpec, conn: Pipe, events: Queue, cancel: MpEvent, secrets: Secrets
) -> None:
    """Entry point of a worker process: run the hosts the engine sends over ``conn``
    until it sends None (see hostops.dispatch for the protocol). ``secrets`` come
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

    def tell(kind: str, name: str) -> None:
        with send_lock, contextlib.suppress(OSError):
            conn.send((kind, name))

    def session(host: Host) -> None:
        try:
            run_host(host, spec, ctx, events, cancel, pid)
        finally:
            tell(DONE, host.name)

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
                host = conn.recv()
            except (EOFError, OSError):  # the engine is gone
                cancel.set()
                break
            if host is None:
                break
            handled += 1
            tell(STARTED, host.name)  # before the session: the engine never runs it twice
            pool.submit(session, host)
    ctx.close()  # the jump host connections, once every session is over
    events.put(WorkerDone(WorkerStats(pid, handled, ctx.known_hosts_loads, ctx.key_loads)))
    events.close()
    events.join_thread()  # every event is in the pipe before the process exits


def run_host(
    host: Host, spec: WorkerSpec, ctx: SshContext, events: Queue, cancel: MpEvent, pid: int
) -> None:
    """One host's whole session: connect, run, report. Never raises."""
    started = time.monotonic()
    events.put(HostStarted(host.name, pid))
    exit_code = sig = None
    attempts = 0
    try:
        if cancel.is_set():
            raise HostFailure(Status.INTERRUPTED, "interrupted before it started")
        conn, attempts = _connect_with_retries(host, spec.options, ctx, events, cancel)
        try:
            running = conn.start(spec.command)
            outcome = drive(
                running,
                lambda stream, data: events.put(Output(host.name, stream, data)),
                timeout=spec.options.timeout,
                idle_timeout=spec.options.idle_timeout,
                cancel=cancel,  # type: ignore[arg-type]
                grace_s=spec.options.kill_grace_s,
            )
        finally:
            conn.close()
        status, error = outcome.status, outcome.error
        exit_code, sig = outcome.exit_code, outcome.signal
    except HostFailure as failure:
        status, error = failure.status, failure.message
        attempts = max(attempts, failure.attempts)
    except Exception as exc:  # a bug or an unforeseen library error: still data, never raw
        status, error = Status.ERROR, f"internal error: {type(exc).__name__}: {exc}"
    duration = time.monotonic() - started
    events.put(HostFinished(host.name, status, exit_code, sig, duration, error, max(attempts, 1)))


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
