"""The orchestration: worker processes, the task queue, the event queue, the aggregator's
lifetime, and Ctrl-C. Usable from scripts: ``run(hosts, "uptime")`` returns a RunReport.

Every wait here is bounded or watches process sentinels, so a dead worker or
aggregator ends the run with an account of it instead of a hang.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import resource
import threading
import time
from multiprocessing.connection import wait
from multiprocessing.synchronize import Event as MpEvent
from multiprocessing.synchronize import Lock

from hostops.aggregator import aggregator_main
from hostops.console import ViewOptions
from hostops.credentials import Secrets, secrets_from_environment
from hostops.dispatch import Dispatcher, WorkerSlot
from hostops.errors import ConfigError, InternalError
from hostops.events import EndOfRun, HostWarning, Interrupt, WorkerDied
from hostops.inventory.ranges import fold
from hostops.models import Connection, Host, RunOptions, RunReport
from hostops.worker import WorkerSpec, worker_main

_POLL_S = 1.0
_AFTER_INTERRUPT_S = 15.0  # how long workers get to kill remote commands after Ctrl-C


def plan(n_hosts: int, options: RunOptions) -> tuple[int, ...]:
    """Session threads for each worker process, for ``n_hosts`` hosts.

    Total concurrency is exactly ``min(forks, hosts)``, spread as evenly as
    possible over the workers, so a small run still uses every worker rather
    than piling onto the first.
    """
    concurrency = max(1, min(options.forks, n_hosts))
    workers = max(1, min(options.workers or os.cpu_count() or 1, concurrency))
    base, extra = divmod(concurrency, workers)
    return tuple(base + (1 if i < extra else 0) for i in range(workers))


def _context() -> multiprocessing.context.BaseContext:
    # fork is the cheapest start (no re-import of paramiko per worker) and is
    # safe while this process has no other threads; a host program with threads
    # gets forkserver, which never forks a threaded process.
    method = "fork" if threading.active_count() == 1 else "forkserver"
    if method not in multiprocessing.get_all_start_methods():
        method = "spawn"
    return multiprocessing.get_context(method)


def console_lock() -> Lock:
    """A lock for every terminal writer of a run: pass it to :func:`run` and the Console."""
    return _context().Lock()


def run(
    hosts: list[Host],
    command: str,
    options: RunOptions | None = None,
    view: ViewOptions | None = None,
    lock: Lock | None = None,
    secrets: Secrets | None = None,
) -> RunReport:
    """Run ``command`` on every host in parallel and return every host's result.

    ``lock`` is the console lock the caller's own terminal writes take (see
    :func:`console_lock`); a new one is made when None. ``secrets`` are the
    passwords and passphrase to authenticate with; None: read from the
    environment (see :func:`hostops.credentials.secrets_from_environment`),
    which raises ConfigError for an unset ``password_env``. Host failures are
    values in the report, never exceptions. Raises
    :class:`InternalError` when hostops itself fails (the aggregator is lost)
    and KeyboardInterrupt only if a second Ctrl-C cuts the orderly stop short.
    """
    options = options or RunOptions()
    view = view or ViewOptions()
    if not hosts:
        return RunReport(results=(), duration_s=0.0)
    _check_supported(hosts, options)
    if secrets is None:
        secrets = secrets_from_environment(hosts)
    ctx = _context()
    options, fd_warning = _fit_fd_limit(options, len(hosts))
    threads = plan(len(hosts), options)
    events = ctx.Queue()
    cancel = ctx.Event()
    lock = lock or ctx.Lock()  # the one console lock: every writer to the terminal takes it
    report_in, report_out = ctx.Pipe(duplex=False)
    started = time.monotonic()
    aggregator = ctx.Process(
        target=aggregator_main,
        args=(hosts, view, events, report_out, lock, started),
        name="hostops-aggregator",
        daemon=True,
    )
    aggregator.start()
    report_out.close()
    slots = []
    for i, n in enumerate(threads):
        mine, theirs = ctx.Pipe()  # a private pipe per worker: see hostops.dispatch
        process = ctx.Process(
            target=worker_main,
            args=(WorkerSpec(command, options, n), theirs, events, cancel, secrets),
            name=f"hostops-worker-{i}",
            daemon=True,
        )
        process.start()
        theirs.close()
        slots.append(WorkerSlot(process, mine, free=n))
    workers = [slot.process for slot in slots]
    # Put on the queue only now: its feeder thread must not exist at fork time.
    if fd_warning:
        events.put(HostWarning(None, fd_warning))
    dispatcher = Dispatcher(
        hosts, slots, lambda pid, code, lost: events.put(WorkerDied(pid, code, lost))
    )
    report = None
    at_once = False
    try:
        try:
            _supervise(dispatcher, aggregator, deadline=None)
        except KeyboardInterrupt:
            cancel.set()  # workers stop their remote commands: TERM, then KILL
            events.put(Interrupt())
            dispatcher.drop_pending()
            dispatcher.finish()
            try:
                _supervise(dispatcher, aggregator, deadline=time.monotonic() + _AFTER_INTERRUPT_S)
            except KeyboardInterrupt:
                at_once = True  # a second Ctrl-C: stop now
                raise
        events.put(EndOfRun())
        report = _receive_report(report_in, aggregator)
    finally:
        dispatcher.finish()  # workers still waiting for hosts: none will come
        _stop_workers(workers, cancel, grace_s=0.0 if at_once else _AFTER_INTERRUPT_S)
        if report is None:  # failed or cut short: nobody will finish the aggregator's run
            aggregator.kill()
        aggregator.join(timeout=5)
        clean = report is not None and all(w.exitcode == 0 for w in workers)
        _close(events, drained=clean)
    return report


def _close(*queues: multiprocessing.queues.Queue, drained: bool) -> None:
    """End the queues' feeder threads, so the next run in this process starts with
    one thread again (and so may fork). Waiting is safe only if every item was read."""
    for q in queues:
        if not drained:
            q.cancel_join_thread()
        q.close()
        q.join_thread()


_FDS_PER_SESSION = 4  # socket, channel pipe pair, and one spare (the kill channel's pipe)
_FDS_RESERVED = 64  # queues, pipes, files of the processes themselves


def _fit_fd_limit(options: RunOptions, n_hosts: int) -> tuple[RunOptions, str | None]:
    """Raise the open-file limit to what the fan-out needs (up to the hard limit), or cap
    ``forks`` to what fits, with a warning: better slower than failing hosts mid-run."""
    threads = plan(n_hosts, options)  # the limit is per process: the busiest worker counts
    need = max(threads) * _FDS_PER_SESSION + _FDS_RESERVED
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY or soft >= need:
        return options, None
    fits = max(1, (soft - _FDS_RESERVED) // _FDS_PER_SESSION) * len(threads)
    warning = (
        f"open-file limit {soft} (ulimit -n) is too low for --forks {options.forks}:"
        f" running {fits} hosts at a time instead"
    )
    return dataclasses.replace(options, forks=fits), warning


def _check_supported(hosts: list[Host], options: RunOptions) -> None:
    """Settings this version cannot act on: refuse, never ignore."""
    local = [h.name for h in hosts if h.connection is Connection.LOCAL]
    if options.sudo and local:
        raise ConfigError(
            f"--sudo is not supported for connection: local hosts ({fold(local)}); nothing ran"
        )


def _supervise(
    dispatcher: Dispatcher, aggregator: multiprocessing.process.BaseProcess, deadline: float | None
) -> None:
    """Hand out hosts until every worker has exited; workers that die are accounted for
    by the dispatcher (their unstarted hosts go to the others)."""
    while dispatcher.slots:
        dispatcher.dispatch()
        timeout = (
            _POLL_S if deadline is None else max(0.0, min(_POLL_S, deadline - time.monotonic()))
        )
        ready = wait([*dispatcher.waitables(), aggregator.sentinel], timeout=timeout)
        if aggregator.sentinel in ready:
            raise InternalError(
                f"the aggregator process died (exit code {aggregator.exitcode}); results are lost"
            )
        dispatcher.handle(ready)
        if deadline is not None and time.monotonic() >= deadline:
            for slot in list(dispatcher.slots):
                slot.process.kill()
                slot.process.join(timeout=5)
            dispatcher.handle(
                [s.process.sentinel for s in dispatcher.slots if s.process.exitcode is not None]
            )
            return


def _stop_workers(
    workers: list[multiprocessing.process.BaseProcess], cancel: MpEvent, grace_s: float
) -> None:
    """Workers still running here (the run failed or was interrupted): let them stop their
    remote commands for up to ``grace_s``, then kill what is left."""
    if not any(w.is_alive() for w in workers):
        return
    cancel.set()
    deadline = time.monotonic() + grace_s
    for w in workers:
        w.join(timeout=max(0.0, deadline - time.monotonic()))
        if w.is_alive():
            w.kill()
            w.join(timeout=5)


def _receive_report(
    conn: multiprocessing.connection.Connection, aggregator: multiprocessing.process.BaseProcess
) -> RunReport:
    """The aggregator's report. No deadline while it lives: it may be blocked, rightly,
    on a reader of stdout that is slow (a pager); it ends itself if this process dies."""
    while True:
        ready = wait([conn, aggregator.sentinel])
        if conn in ready or conn.poll(0):
            try:
                return conn.recv()
            except EOFError:
                break
        elif aggregator.sentinel in ready:
            break
    raise InternalError(
        f"the aggregator process ended without a report (exit code {aggregator.exitcode})"
    )
