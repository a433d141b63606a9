"""The aggregator process: the single consumer of events. It reassembles whole lines per
host, renders them, collects every host's result and sends the RunReport to the engine."""

from __future__ import annotations

import os
import queue
import signal
import time
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue

from hostops._procname import set_process_name
from hostops.console import (
    Console,
    OutputMode,
    StreamRenderer,
    ViewOptions,
    json_line,
    summary_text,
)
from hostops.events import (
    STDOUT,
    EndOfRun,
    Event,
    HostFinished,
    HostStarted,
    HostWarning,
    Interrupt,
    Output,
    WorkerDied,
    WorkerDone,
)
from hostops.inventory.ranges import fold
from hostops.models import Host, HostResult, RunReport, Status, WorkerStats

# A line longer than this is passed on in pieces, so one endless line cannot
# exhaust memory; far above any real line (tests use lines of 4 KiB and more).
MAX_LINE = 1 << 20
# Output kept per host and stream for the report (JSON, scripts); the rest is
# still streamed but not kept, and the result says truncated. A flooding host
# must not exhaust the controller's memory.
MAX_KEPT = 1 << 20
_PARENT_CHECK_S = 1.0


@dataclass
class _HostState:
    host: Host
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    pending: dict[str, bytes] = field(default_factory=dict)  # stream -> unfinished line
    truncated: bool = False
    worker_pid: int | None = None
    result: HostResult | None = None


class Aggregator:
    """Turns events into rendered output and HostResults. Pure logic: testable without processes."""

    def __init__(
        self, hosts: list[Host], view: ViewOptions, console: Console, started: float
    ) -> None:
        self._hosts = {h.name: _HostState(h) for h in hosts}
        self._order = [h.name for h in hosts]
        self._view = view
        self._console = console
        self._started = started
        self._stream = (
            StreamRenderer(self._order, console) if view.mode is OutputMode.STREAM else None
        )
        self.workers: list[WorkerStats] = []
        self.interrupted = False
        self.warnings: list[str] = []

    def handle(self, event: Event) -> None:
        """Apply one event."""
        if isinstance(event, Output):
            self._output(event)
        elif isinstance(event, HostStarted):
            self._hosts[event.host].worker_pid = event.worker_pid
        elif isinstance(event, HostFinished):
            self._finished(event)
        elif isinstance(event, HostWarning):
            text = event.message if event.host is None else f"{event.host}: {event.message}"
            if event.host is not None or text not in self.warnings:
                self._warn(text)
        elif isinstance(event, WorkerDone):
            self.workers.append(event.stats)
        elif isinstance(event, WorkerDied):
            self._worker_died(event)
        elif isinstance(event, Interrupt):
            self.interrupted = True
            running = [
                n
                for n, st in self._hosts.items()
                if st.worker_pid is not None and st.result is None
            ]
            if running and self._view.mode is not None:
                self._console.message(
                    "warning",
                    f"interrupted: stopping {len(running)} running host(s): {fold(running)};"
                    " Ctrl-C again stops at once",
                )

    def _warn(self, text: str) -> None:
        self.warnings.append(text)
        if self._view.mode is not None:  # render nothing for scripts; the report keeps it
            self._console.message("warning", text)

    def _output(self, event: Output) -> None:
        state = self._hosts[event.host]
        kept = state.stdout if event.stream == STDOUT else state.stderr
        room = MAX_KEPT - len(kept)
        if len(event.data) > room:
            state.truncated = True
        if room > 0:
            kept.extend(event.data[:room])
        if self._stream is None:
            return
        data = state.pending.pop(event.stream, b"") + event.data
        lines = data.split(b"\n")
        rest = lines.pop()
        while len(rest) > MAX_LINE:
            lines.append(rest[:MAX_LINE])
            rest = rest[MAX_LINE:]
        if rest:
            state.pending[event.stream] = rest
        if lines:
            self._stream.lines(event.host, event.stream, lines)

    def _flush(self, state: _HostState) -> None:
        for stream, rest in sorted(state.pending.items()):
            if self._stream is not None:
                self._stream.lines(state.host.name, stream, [rest])
        state.pending.clear()

    def _finished(self, event: HostFinished) -> None:
        state = self._hosts[event.host]
        self._flush(state)
        self._set_result(
            state,
            event.status,
            event.exit_code,
            event.signal,
            event.duration_s,
            event.error,
            event.attempts,
        )

    def _set_result(
        self,
        state: _HostState,
        status: Status,
        exit_code: int | None,
        sig: str | None,
        duration_s: float,
        error: str | None,
        attempts: int = 1,
    ) -> None:
        state.result = HostResult(
            host=state.host.name,
            address=state.host.address,
            status=status,
            exit_code=exit_code,
            signal=sig,
            stdout=bytes(state.stdout),
            stderr=bytes(state.stderr),
            duration_s=duration_s,
            error=error,
            truncated=state.truncated,
            attempts=attempts,
        )
        if self._view.mode is OutputMode.JSON:
            self._console.out(json_line(state.result))

    def _worker_died(self, event: WorkerDied) -> None:
        self._warn(f"worker process {event.pid} died (exit code {event.exitcode})")
        for state in self._hosts.values():
            mine = state.worker_pid == event.pid or state.host.name in event.hosts
            if mine and state.result is None:
                self._flush(state)
                self._set_result(state, Status.ERROR, None, None, 0.0, "worker died")

    def report(self) -> RunReport:
        """The final report; hosts that never got a result are accounted for, not dropped."""
        for name in self._order:
            state = self._hosts[name]
            if state.result is None:
                self._flush(state)
                if self.interrupted:
                    started = state.worker_pid is not None
                    status, why = (
                        Status.INTERRUPTED,
                        "interrupted" if started else "interrupted before it started",
                    )
                else:
                    status, why = Status.ERROR, "not run: no worker was left to run it"
                self._set_result(state, status, None, None, 0.0, why)
        results = tuple(self._hosts[n].result for n in self._order)  # type: ignore[misc]
        return RunReport(
            results=results,  # type: ignore[arg-type]
            duration_s=time.monotonic() - self._started,
            workers=tuple(self.workers),
            interrupted=self.interrupted,
            warnings=tuple(self.warnings),
        )


def aggregator_main(
    hosts: list[Host],
    view: ViewOptions,
    events: Queue,
    report_to: Connection,
    lock: ContextManager[object],
    started: float,
) -> None:
    """Entry point of the aggregator process: consume events until EndOfRun, then report."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    set_process_name("hostops-aggr")
    console = Console(lock, view.color)
    agg = Aggregator(hosts, view, console, started)
    parent = os.getppid()
    while True:
        try:
            event = events.get(timeout=_PARENT_CHECK_S)
        except queue.Empty:
            if os.getppid() != parent:  # the engine is gone: nobody will send EndOfRun
                return
            continue
        if isinstance(event, EndOfRun):
            break
        agg.handle(event)
    report = agg.report()
    if view.summary and view.mode is not None:
        console.err(summary_text(report, console.err_color).encode())
    report_to.send(report)
    report_to.close()
