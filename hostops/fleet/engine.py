"""The orchestration: worker processes, the job pipes, the event queue, the aggregator's
lifetime, and Ctrl-C. :class:`Engine` runs one or more steps of jobs over the same
processes (and kept connections); hostops.fleet.rollout and the public API drive it.

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
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.synchronize import Event as MpEvent
from multiprocessing.synchronize import Lock
from typing import Any, Protocol

from hostops.credentials import Secrets, secrets_from_environment
from hostops.errors import ConfigError, InternalError
from hostops.fleet.adaptive import CEILING, FAR_ANSWERS, START, Governor
from hostops.fleet.aggregator import Sinks, aggregator_main
from hostops.fleet.dispatch import WORKER_DIED, Dispatcher, Job, WorkerProcess, WorkerSlot
from hostops.fleet.events import (
    MAX_NAME,
    EndOfRun,
    EventQueue,
    Heading,
    HostFinished,
    HostWarning,
    Interrupt,
    clip,
    worker_died_events,
)
from hostops.fleet.flow import counters, counters_file
from hostops.fleet.worker import WorkerSpec, worker_main
from hostops.host.base import UNCONFIRMED
from hostops.host.client import over_ssh, preload
from hostops.host.stdin import Source
from hostops.journal import RecordPath
from hostops.models import Host, RunOptions, RunReport, Status, Transport
from hostops.operations import Outcome
from hostops.ranges import fold
from hostops.redact import Redactor
from hostops.render.console import OutputMode, ViewOptions

_POLL_S = 1.0
_AFTER_INTERRUPT_S = 15.0  # how long workers get to kill remote commands after Ctrl-C
# After a second Ctrl-C: every session notices within a tick of its loop (0.5 s) and its
# KILL is confirmed or given up within AT_ONCE_KILL_S; then the workers are killed.
_AT_ONCE_S = 1.5


def plan(n_hosts: int, options: RunOptions, cap: int | None = None) -> tuple[int, ...]:
    """Session threads for each worker process, for ``n_hosts`` hosts: the most each
    runs at once.

    Total concurrency is exactly ``min(forks, hosts)`` (at most ``cap``: what the
    open-file limit allows), spread as evenly as possible over the workers, so a
    small run still uses every worker rather than piling onto the first. Without
    ``forks`` (adaptive), that is the ceiling: the run starts lower (:func:`start`).
    """
    concurrency = max(1, min(options.forks or CEILING, n_hosts, cap or n_hosts))
    workers = max(1, min(options.workers or os.cpu_count() or 1, concurrency))
    return spread(concurrency, workers)


def start(threads: tuple[int, ...], options: RunOptions) -> tuple[int, ...]:
    """How many sessions each worker of :func:`plan` runs at once at the start:
    all of them with ``forks``, else :data:`hostops.fleet.adaptive.START` in total."""
    return threads if options.forks else spread(min(START, sum(threads)), len(threads))


def spread(total: int, parts: int) -> tuple[int, ...]:
    """``total`` in ``parts`` parts as even as can be, the larger first."""
    base, extra = divmod(total, parts)
    return tuple(base + (1 if i < extra else 0) for i in range(parts))


_Context = (
    multiprocessing.context.ForkContext
    | multiprocessing.context.ForkServerContext
    | multiprocessing.context.SpawnContext
)


def _context() -> _Context:
    # fork is the cheapest start (no re-import of paramiko per worker) and is
    # safe while this process has no other threads; a host program with threads
    # gets forkserver, which never forks a threaded process.
    # With a worker source, this process forks the aggregator alone, which takes no lock
    # the source's threads (a cluster client's, its relays) may hold; and the console
    # lock, made before the source's threads started, is a fork one. (A run whose source
    # has no worker for it -- NoWorkers: the early process's, the background process's --
    # forks its workers here too: the command line, and the background process's process
    # for one command, have no threads. A cluster source never falls back.)
    methods = multiprocessing.get_all_start_methods()
    if (threading.active_count() == 1 or _source[0] is not None) and "fork" in methods:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


@dataclass
class Attached:
    """A run's hold on workers it did not start (see :class:`WorkerSource`)."""

    slots: list[WorkerSlot]
    owners: dict[str, WorkerSlot]  # host -> the worker holding a kept connection to it
    # Sites none of whose workers could be had: site -> why (its hosts end error with it).
    stranded: dict[str, str] = dataclasses.field(default_factory=dict)


class NoWorkers(OSError):
    """None of a worker source's workers can take the run (they ended, or could not be
    started): the engine forks its own instead."""


class WorkerSource(Protocol):
    """Worker processes the run does not fork itself: the background process's, which
    outlive runs and hold connections between them (hostops.keeper), or the early
    process's, forked for this run alone (``private``: hostops.keeper.early). A run
    attaches to them; everything else -- the aggregator process, its queue, the console
    lock, Ctrl-C -- is the run's as always."""

    size: int  # workers (of a shared source: the run uses them all)
    private: bool  # the run's alone: budgets grow, a dead worker is replaced

    def attach(
        self,
        spec: WorkerSpec,
        threads: tuple[int, ...],
        hosts: list[Host],
        events_fd: int,
        flow_fd: int,
        secrets: Secrets,
        budgets: tuple[int, ...] | None = None,
    ) -> Attached:
        """Give the workers this run (``threads[i]`` sessions to the i-th, ``budgets[i]``
        of them at first; the run's event pipe and flow-control counters as descriptors)
        and say who holds which host. Raises NoWorkers if none can."""
        ...


_source: list[WorkerSource | None] = [None]  # the process's one setting (use_worker_source)


def use_worker_source(source: WorkerSource | None) -> None:
    """Every Engine of this process attaches to ``source`` from now on (None: forks its
    own workers again). Set by the background process in the process that carries out
    one warm run, by a cluster run, and by the console script for its early process."""
    _source[0] = source


class _Broadcast:
    """Ctrl-C's Event for workers that share none with this process: setting it sends
    them a Flag."""

    def __init__(self, name: str, dispatcher: Callable[[], Dispatcher | None]) -> None:
        self._name = name
        self._dispatcher = dispatcher
        self._set = False

    def set(self) -> None:
        d = self._dispatcher()
        if not self._set and d is not None:
            d.flag(self._name)
        self._set = True

    def is_set(self) -> bool:
        return self._set


def console_lock() -> Lock:
    """A lock for every terminal writer of a run: pass it to the Engine and the Console."""
    return _context().Lock()


class Engine:
    """The processes of one run (the aggregator and the workers) for one or more steps
    on its hosts: :meth:`execute` carries out jobs, :meth:`close` ends the run and
    returns the aggregator's report. Use as a context manager: leaving it stops
    every process, whatever happened.

    ``keep``: connections stay open between steps (playbooks), so the open-file
    budget counts every host, not only those running at once. ``stdin``: data
    for commands that forward standard input (``Command.stdin``).
    ``raise_fd_limit``: raise this process's open-file limit (up to the hard limit)
    when the fan-out needs more; without it (the default for a library caller, whose
    process it is), ``forks`` is capped to what the limit allows, with a warning.
    """

    def __init__(
        self,
        hosts: list[Host],
        options: RunOptions | None = None,
        view: ViewOptions | None = None,
        lock: Lock | None = None,
        record: RecordPath | None = None,
        *,
        keep: bool = False,
        secrets: Secrets | None = None,
        stdin: Source = None,
        raise_fd_limit: bool = False,
    ) -> None:
        self.options = options or RunOptions()
        if self.options.lock and not self.options.lock_holder:  # this process is the run
            from hostops.host.ssh.lock import holder_text  # paramiko: only for --lock

            self.options = dataclasses.replace(self.options, lock_holder=holder_text())
        _check_supported(hosts, self.options)
        # Read before any process starts: an unset password_env is an error, not a surprise.
        self._secrets = secrets if secrets is not None else secrets_from_environment(hosts)
        # What this process says about hosts (headings with loop items, a playbook's host
        # errors) is masked as the workers mask their output.
        self._redactor = Redactor(self._secrets.masked)
        self.hosts = hosts
        self._stdin = stdin
        self.view = view or ViewOptions()
        self._ctx = _context()
        self.lock = lock or self._ctx.Lock()  # the one console lock: every terminal writer
        self._record = record
        self._keep = keep
        self._raise_fd_limit = raise_fd_limit
        self.index = {h.name: i for i, h in enumerate(hosts)}
        self.interrupted = False
        self._at_once = False
        self._presses = 0  # Ctrl-C presses seen
        self._unsettled = False  # presses not yet acted on in full (see _settle)
        self._announced = False  # the aggregator was told (Interrupt)
        self._deadline: float | None = None
        self._report: RunReport | None = None
        self._dispatcher: Dispatcher | None = None
        self._flow_fd: int | None = None  # the counters' memory file (a source's workers)

    def __enter__(self) -> Engine:
        self._start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._shutdown()

    def _start(self) -> None:
        ctx = self._ctx
        source = _source[0]
        if source is not None and source.private and not over_ssh(self.hosts):
            source = None  # local hosts only: our own workers need no paramiko, no wait
        asked = self.options
        if source is not None and not source.private:  # the background process's workers
            self.options = dataclasses.replace(self.options, workers=source.size)

        def sized(options: RunOptions) -> tuple[str | None, tuple[int, ...], tuple[int, ...]]:
            """The open-file limit's warning, the threads and the first budgets."""
            cap, warning = _fit_fd_limit(
                options, len(self.hosts), keep=self._keep, raise_limit=self._raise_fd_limit
            )
            threads = plan(len(self.hosts), options, cap)
            return warning, threads, start(threads, options)

        fd_warning, threads, budgets = sized(self.options)

        def governed(given: WorkerSource | None) -> bool:
            # Budgets that may grow (no --forks), in workers of this run's own: a governor
            # decides, reading the first answers of new connections among other things.
            return budgets != threads and (given is None or given.private)

        self.events = EventQueue(ctx)
        self._cancel: MpEvent | _Broadcast = ctx.Event()
        self._hurry: MpEvent | _Broadcast = ctx.Event()
        flow_fd = None
        if source is None:
            consumed = counters(ctx, len(self.hosts))
        else:  # handed to the workers as a descriptor
            consumed, flow_fd = counters_file(len(self.hosts))
        self._report_in, report_out = ctx.Pipe(duplex=False)
        started = time.monotonic()
        sinks = Sinks(self.options.max_output, self._record, consumed)
        self._aggregator = ctx.Process(
            target=aggregator_main,
            args=(self.hosts, self.view, self.events, report_out, self.lock, started, sinks),
            name="hostops-aggregator",
            daemon=True,
        )
        self._aggregator.start()
        report_out.close()
        everything = self.view.mode is OutputMode.STREAM or self.view.out_dir is not None
        forward = None if everything else self.options.max_output + 1
        answers = FAR_ANSWERS if governed(source) else 0
        spec = WorkerSpec(self.options, 0, consumed, forward, self._stdin, answers)

        def start_worker(n_threads: int, budget: int) -> WorkerSlot:
            mine, theirs = ctx.Pipe()  # a private pipe per worker: see hostops.fleet.dispatch
            process = ctx.Process(
                target=worker_main,
                args=(
                    dataclasses.replace(spec, threads=n_threads),
                    theirs,
                    self.events,
                    self._cancel,
                    self._secrets,
                    self._hurry,
                ),
                name="hostops-worker",
                daemon=True,
            )
            process.start()
            theirs.close()
            return WorkerSlot(process, mine, free=budget, capacity=n_threads, batches=True)

        owners: dict[str, WorkerSlot] = {}
        unserved: dict[str, str] = {}
        slots: list[WorkerSlot] | None = None
        self._flow_fd = flow_fd  # a replacement worker (private source) is handed it

        def attach(given: WorkerSource, caps: tuple[int, ...], firsts: tuple[int, ...]) -> Attached:
            assert self._flow_fd is not None
            # A shared source's workers (the background process's) run the start's
            # budget: no growth. A private one's grow as the workers we fork do.
            return given.attach(
                spec,
                caps if given.private else firsts,
                self.hosts,
                self.events.writer_fd(),
                self._flow_fd,
                self._secrets,
                firsts if given.private else None,
            )

        if source is not None:
            try:
                attached = attach(source, threads, budgets)
            except NoWorkers:  # fork our own after all, as a run without a source would
                if not source.private:  # sized for the background process's pool, not ours
                    self.options = asked
                    fd_warning, threads, budgets = sized(asked)
                source = None
                answers = FAR_ANSWERS if governed(source) else 0
                spec = dataclasses.replace(spec, options=self.options, first_answers=answers)
            else:
                slots, owners, unserved = attached.slots, attached.owners, attached.stranded
                self._cancel = _Broadcast("cancel", lambda: self._dispatcher)
                self._hurry = _Broadcast("hurry", lambda: self._dispatcher)
        if slots is None:
            preload(self.hosts)  # paramiko once, before the workers fork, not once in each
            slots = [start_worker(n, b) for n, b in zip(threads, budgets, strict=True)]
        if fd_warning:
            self.events.put_now(HostWarning(None, fd_warning))

        def worker_lost(pid: int, code: int | None, lost: tuple[str, ...]) -> None:
            for event in worker_died_events(pid, code, lost):
                self.events.put_now(event)

        def stranded(jobs: list[Job], why: str) -> None:
            for job in jobs:
                self.events.put_now(HostFinished(job.host.name, Status.ERROR, None, None, 0.0, why))

        shared = source is not None and not source.private

        def replace() -> WorkerSlot | None:
            if source is None:
                return start_worker(max(threads), max(budgets))
            try:
                return attach(source, (max(threads),), (max(budgets),)).slots[0]
            except NoWorkers:  # the early process is gone too: the other workers go on
                return None

        self._dispatcher = Dispatcher(
            self.hosts,
            slots,
            worker_lost,
            spawn=None if shared else replace,
            governor=Governor(sum(threads)) if governed(source) else None,
            on_stranded=stranded,
        )
        self._dispatcher.owner.update(owners)
        self._dispatcher.stranded.update(unserved)

    def _was_interrupted(self) -> bool:
        """``interrupted`` read anew (a signal handler sets it while we wait)."""
        return self.interrupted

    def execute(self, jobs: list[Job]) -> dict[str, Outcome | None]:
        """Carry out ``jobs`` (at most one per host), all at once as threads allow; return
        when every one ended, with each host's Outcome (its output only if the job
        collects it; None if its worker died with the result).
        After Ctrl-C nothing more starts: jobs end ``interrupted``."""
        assert self._dispatcher is not None, "use Engine as a context manager"
        d = self._dispatcher
        if self.interrupted:
            return {j.host.name: _NOT_STARTED for j in jobs}
        d.submit(jobs)
        self._wait(lambda: not d.busy())
        stopped = self._was_interrupted()  # Ctrl-C may have come while we waited
        outcomes: dict[str, Outcome | None] = {}
        for job in jobs:
            outcome = d.outcomes.pop(job.host.name, None)
            if stopped and outcome is WORKER_DIED:
                outcome = _STOPPED_AT_ONCE  # killed by us on a second Ctrl-C
            outcomes[job.host.name] = outcome
        return outcomes

    def heading(self, text: str) -> None:
        """Announce a step (a batch, a task): shown between the output of steps."""
        self.events.put_now(Heading(self._redactor.text(text)))

    def release(self, names: list[str]) -> None:
        """Close the kept connections of ``names``: nothing more will run on them."""
        if self._dispatcher is not None:
            self._dispatcher.release(names)

    def close(self, results: list[HostFinished] | None = None) -> RunReport:
        """End the run: ``results`` (hosts whose result the caller decides, as a playbook
        does) go to the aggregator, the workers finish, and its report comes back."""
        assert self._dispatcher is not None, "use Engine as a context manager"
        d = self._dispatcher
        for event in results or ():
            error = event.error and self._redactor.text(event.error)
            self.events.put_now(dataclasses.replace(event, error=error) if error else event)
        d.finish()
        self._wait(lambda: not d.slots)
        self.events.put_now(EndOfRun())
        self._report = _receive_report(self._report_in, self._aggregator)
        return self._report

    def interrupt(self) -> None:
        """Ctrl-C: start nothing more; running commands are stopped (TERM, then KILL)
        and get a grace time; the rest is reported interrupted. A second one: every
        running command gets KILL at once, and the run ends within about a second,
        each host saying whether its kill was confirmed."""
        self._presses += 1
        self._settle()

    def _settle(self) -> None:
        """Act on the Ctrl-C presses counted so far. Each step is done once and may be
        cut short by another press (a KeyboardInterrupt): calling it again finishes."""
        self._unsettled = True
        if not self.interrupted:
            self._deadline = time.monotonic() + _AFTER_INTERRUPT_S
            self._cancel.set()
            self.interrupted = True
        d = self._dispatcher
        if not self._announced:
            # Who runs, by the engine's account (the aggregator's HostStarted may lag).
            running = [n for slot in d.slots for n in slot.sent] if d is not None else []
            names = clip(fold(sorted(running, key=self.index.__getitem__)), 2048) or ""
            self.events.put_now(Interrupt(len(running), names))
            self._announced = True
        if d is not None:
            for job in d.drop_pending():
                d.outcomes[job.host.name] = _NOT_STARTED
            d.finish()
        if self._presses > 1 and not self._at_once:
            self._hurry.set()
            self._deadline = min(self._deadline or 0.0, time.monotonic() + _AT_ONCE_S)
            self._at_once = True
        self._unsettled = False

    def _wait(self, done: Callable[[], bool]) -> None:
        """Dispatch and watch the processes until ``done()``. A first Ctrl-C interrupts
        (see :meth:`interrupt`); a second stops at once, and every job is still
        accounted for, however close together the presses come."""
        while True:
            try:
                if self._unsettled:
                    self._settle()
                self._pump(done, self._deadline)
                return
            except KeyboardInterrupt:
                self._presses += 1
                self._unsettled = True

    def _pump(self, done: Callable[[], bool], deadline: float | None) -> None:
        d = self._dispatcher
        assert d is not None
        aggregator = self._aggregator
        while not done():
            if not d.slots:  # every worker died, no replacement left
                for job in d.drop_pending():
                    d.outcomes[job.host.name] = _NO_WORKER
                return
            d.dispatch()
            timeout = (
                _POLL_S if deadline is None else max(0.0, min(_POLL_S, deadline - time.monotonic()))
            )
            timeout = min(timeout, d.wake_s() or _POLL_S)  # the budget's next look
            ready = wait([*d.waitables(), aggregator.sentinel], timeout=timeout)
            if aggregator.sentinel in ready:
                raise InternalError(
                    f"the aggregator process died (exit code {aggregator.exitcode}); results are lost"
                )
            d.handle(ready)
            if deadline is not None and time.monotonic() >= deadline:
                for slot in list(d.slots):
                    slot.process.kill()
                    slot.process.join(timeout=5)
                d.handle([s.process.sentinel for s in d.slots if s.process.exitcode is not None])

    def _shutdown(self) -> None:
        """Whatever happened: no process of this run outlives it."""
        d = self._dispatcher
        if d is None:
            return
        d.finish()  # workers still waiting for jobs: none will come
        workers = d.processes
        _stop_workers(workers, self._cancel, grace_s=0.0 if self._at_once else _AFTER_INTERRUPT_S)
        if self._report is None:  # failed or cut short: nobody will finish the aggregator's run
            self._aggregator.kill()
        self._aggregator.join(timeout=5)
        clean = self._report is not None and all(w.exitcode == 0 for w in workers)
        _close(self.events, drained=clean)
        if self._flow_fd is not None:
            os.close(self._flow_fd)
            self._flow_fd = None
        self._dispatcher = None


_NOT_STARTED = Outcome(Status.INTERRUPTED, error="interrupted before it started")
_STOPPED_AT_ONCE = Outcome(Status.INTERRUPTED, error=UNCONFIRMED)
_NO_WORKER = Outcome(Status.ERROR, error="not run: no worker was left to run it")


def _close(*queues: multiprocessing.queues.Queue[Any], drained: bool) -> None:
    """End the queues' feeder threads, so the next run in this process starts with
    one thread again (and so may fork). Waiting is safe only if every item was read."""
    for q in queues:
        if not drained:
            q.cancel_join_thread()
        q.close()
        q.join_thread()


_FDS_PER_SESSION = 4  # socket, and spares (channels wait on events, not pipe pairs)
_FDS_RESERVED = 64  # queues, pipes, files of the processes themselves


def _fit_fd_limit(
    options: RunOptions, n_hosts: int, *, keep: bool, raise_limit: bool
) -> tuple[int | None, str | None]:
    """With ``raise_limit``, raise the open-file limit to what the fan-out needs (up to
    the hard limit); return how many hosts fit the limit then, at once (None: all that
    :func:`plan` gives), with a warning: better slower than failing hosts mid-run. With
    ``keep``, every host's connection may stay open in its worker."""
    threads = plan(n_hosts, options)  # the limit is per process: the busiest worker counts
    per_worker = -(-n_hosts // len(threads)) if keep else max(threads)
    need = per_worker * _FDS_PER_SESSION + _FDS_RESERVED
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if raise_limit and soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY or soft >= need:
        return None, None
    fits = max(1, (soft - _FDS_RESERVED) // _FDS_PER_SESSION) * len(threads)
    asked = f"--forks {options.forks}" if options.forks else f"up to {sum(threads)} hosts at once"
    warning = (
        f"open-file limit {soft} (ulimit -n) is too low for {asked}:"
        f" running {'' if options.forks else 'at most '}{fits} hosts at a time instead"
    )
    return fits, warning


def _check_supported(hosts: list[Host], options: RunOptions) -> None:
    """Settings this version cannot act on: refuse, never ignore. And names too long
    for an event (see hostops.fleet.events): no real host name is that long."""
    for h in hosts:
        if len(h.name.encode()) > MAX_NAME:
            raise ConfigError(f"host name longer than {MAX_NAME} bytes: {h.name[:40]}...")
    local = [h.name for h in hosts if h.connection is Transport.LOCAL]
    if options.sudo and local:
        raise ConfigError(
            f"sudo is not supported for connection: local hosts ({fold(local)}); nothing ran",
            argument="sudo",
        )


def _stop_workers(
    workers: list[WorkerProcess], cancel: MpEvent | _Broadcast, grace_s: float
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
                report: RunReport = conn.recv()
                return report
            except EOFError:
                break
        elif aggregator.sentinel in ready:
            break
    raise InternalError(
        f"the aggregator process ended without a report (exit code {aggregator.exitcode})"
    )
