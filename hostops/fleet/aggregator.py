"""The aggregator process: the single consumer of events. It reassembles whole lines per
host, renders them, collects every host's result and sends the RunReport to the engine."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import time
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from hostops.fleet._procname import set_process_name
from hostops.fleet.events import (
    EndOfRun,
    Event,
    EventQueue,
    Heading,
    HostFinished,
    HostStarted,
    HostWarning,
    Interrupt,
    LibraryLog,
    Output,
    Skipped,
    WorkerDied,
    WorkerDone,
)
from hostops.fleet.flow import Counters
from hostops.fleet.intake import EventReader
from hostops.host.base import STDOUT, UNCONFIRMED
from hostops.journal import MAX_STEPS, RecordPath, Timing, host_line, step_line
from hostops.models import Host, HostResult, RunReport, Status, WorkerStats
from hostops.render.console import (
    Console,
    OutputMode,
    StreamRenderer,
    ViewOptions,
    json_line,
    summary_text,
    take_output_lost,
)
from hostops.render.views import FOLDED, folded_text, progress_text
from hostops.safefs import file_name, open_private

_TICK_S = 0.25  # progress line and live view: at most this often
# While many hosts run, the aggregator lets events gather before it reads them: each
# wake-up costs more than handling a few events (~0.18 ms of CPU a wake-up measured in
# a 1,000-host cluster run here, against ~30 us for a host's three events), and with
# this many hosts running the next event is near and the end of the run is not (it
# waits for every host to finish). How long: 2 % of the run so far, between 10 and 50
# ms, so what it shows never lags by more than that share of a run (a 0.5 s run: 10 ms;
# from 2.5 s on: 50 ms; measured on that cluster run: 560 wake-ups and 0.19 s of CPU at
# 10 ms, 250 and 0.14 s at 50 ms).
_GATHER_S = (0.01, 0.05)
_GATHER_SHARE = 0.02
_BUSY = 16  # hosts running at once


def gather_s(elapsed: float) -> float:
    """How long events gather before a read, ``elapsed`` seconds into a busy run."""
    low, high = _GATHER_S
    return min(high, max(low, elapsed * _GATHER_SHARE))


@dataclass(frozen=True)
class Sinks:
    """Where results go besides the terminal, and the flow-control account."""

    max_output: int = 4 << 20  # bytes kept per host and stream (--max-output); the rest is cut
    record: RecordPath | None = None  # the run record, a line per host as it finishes
    consumed: Counters | None = None  # bytes of output taken, per host index (hostops.fleet.flow)


@dataclass
class _HostState:
    host: Host
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    truncated: bool = False
    skipped: list[str] = field(default_factory=list)  # entries a transfer did not transfer
    worker_pid: int | None = None
    result: HostResult | None = None
    # The run record's timing (time.monotonic()): when the session began, and what
    # HostFinished said of its connecting and end.
    started_at: float | None = None
    connect_s: float | None = None
    ended_at: float | None = None


class Aggregator:
    """Turns events into rendered output and HostResults. Pure logic: testable without processes."""

    def __init__(
        self,
        hosts: list[Host],
        view: ViewOptions,
        console: Console,
        started: float,
        sinks: Sinks | None = None,
    ) -> None:
        self._hosts = {h.name: _HostState(h) for h in hosts}
        self._order = [h.name for h in hosts]
        self._index = {h.name: i for i, h in enumerate(hosts)}
        self._view = view
        self._console = console
        self._started = started
        self._sinks = sinks or Sinks()
        self._stream = (
            StreamRenderer(self._order, console) if view.mode is OutputMode.STREAM else None
        )
        self._files = _OutDir(view.out_dir) if view.out_dir else None
        self._progress = _wants_progress(view, console)
        self._live = view.live and console.out_tty and view.mode in FOLDED
        self._drawn = b""  # the live view on screen now
        self._next_draw = 0.0
        self._done = self._failed = 0
        self._running: set[str] = set()  # started, not finished
        self._steps = 0  # step lines written to the record
        self.workers: list[WorkerStats] = []
        self.interrupted = False
        self.warnings: list[str] = []

    def handle(self, event: Event) -> None:
        """Apply one event."""
        if isinstance(event, Output):
            self._output(event)
        elif isinstance(event, HostStarted):
            self._hosts[event.host].worker_pid = event.worker_pid
            self._hosts[event.host].started_at = time.monotonic()
            if self._hosts[event.host].result is None:  # (never after its end: a lost shard's)
                self._running.add(event.host)
        elif isinstance(event, HostFinished):
            self._finished(event)
        elif isinstance(event, HostWarning):
            text = event.message if event.host is None else f"{event.host}: {event.message}"
            if event.host is not None or text not in self.warnings:
                self._warn(text)
        elif isinstance(event, Skipped):
            self._hosts[event.host].skipped.extend(event.names)
        elif isinstance(event, LibraryLog):
            for line in event.text.splitlines():
                self._console.message("debug", f"{event.host}: {line}" if event.host else line)
        elif isinstance(event, WorkerDone):
            self.workers.append(event.stats)
        elif isinstance(event, Heading):
            if self._stream is not None:
                self._console.message("step", event.text)
            if self._steps < MAX_STEPS:
                self._steps += 1
                self._record(step_line(time.monotonic() - self._started, event.text))
        elif isinstance(event, WorkerDied):
            self._worker_died(event)
        elif isinstance(event, Interrupt):
            self.interrupted = True
            # The engine's account of who runs: our HostStarted events may lag behind.
            if event.count and self._view.mode is not None:
                self._console.message(
                    "warning",
                    f"interrupted: stopping {event.count} running host(s): {event.running};"
                    " Ctrl-C again stops at once",
                )

    @property
    def running(self) -> int:
        """Hosts started and not finished."""
        return len(self._running)

    def _warn(self, text: str) -> None:
        self.warnings.append(text)
        if self._view.mode is not None:  # render nothing for scripts; the report keeps it
            self._console.message("warning", text)

    def tick(self, now: float | None = None) -> None:
        """Redraw the progress line and the live view, at most every few hundred ms."""
        now = time.monotonic() if now is None else now
        if not (self._progress or self._live) or now < self._next_draw:
            return
        self._next_draw = now + _TICK_S
        if self._live:
            self._redraw(self._folded())
        if self._progress:
            running = [
                n
                for n in self._order
                if self._hosts[n].worker_pid is not None and self._hosts[n].result is None
            ]
            width = shutil.get_terminal_size((100, 24)).columns
            self._console.status(
                progress_text(
                    len(self._order),
                    self._done,
                    self._failed,
                    running,
                    now - self._started,
                    width,
                )
            )

    def _output(self, event: Output) -> None:
        state = self._hosts[event.host]
        if self._sinks.consumed is not None:
            self._sinks.consumed[self._index[event.host]] += len(event.data)
        if self._files is not None:
            self._to_files(self._files.append, event.host, event.stream, event.data)
        kept = state.stdout if event.stream == STDOUT else state.stderr
        room = self._sinks.max_output - len(kept)
        if len(event.data) > room:
            state.truncated = True
        if room > 0:
            kept.extend(event.data[:room])
        if self._stream is not None:
            self._stream.feed(event.host, event.stream, event.data)

    def _flush(self, state: _HostState) -> None:
        if self._stream is not None:
            self._stream.flush(state.host.name)

    def _finished(self, event: HostFinished) -> None:
        state = self._hosts[event.host]
        self._flush(state)
        state.connect_s, state.ended_at = event.connect_s, event.ended_at
        self._set_result(
            state,
            event.status,
            event.exit_code,
            event.signal,
            event.duration_s,
            event.error,
            event.attempts,
            event.changed,
            event.tasks,
            event.reused,
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
        changed: bool | None = None,
        tasks: tuple[int, int] | None = None,
        reused: bool = False,
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
            changed=changed,
            tasks_done=tasks[0] if tasks else None,
            tasks_total=tasks[1] if tasks else None,
            skipped=tuple(state.skipped),
            reused=reused,
        )
        self._done += 1
        self._failed += status.failed
        self._running.discard(state.host.name)
        if self._files is not None:
            self._to_files(self._files.finish, state.result)
        if self._sinks.record is not None:
            self._record(host_line(state.result, self._timing(state)))
        if self._view.mode is OutputMode.JSON:
            self._console.out(json_line(state.result), plain=True)

    def _record(self, line: dict[str, object]) -> None:
        """Append ``line`` to the run record, if there is one."""
        record = self._sinks.record
        if record is None:
            return
        try:
            record.append([line])
        except OSError as exc:  # a full disk must not stop the run: say it once
            self._sinks = Sinks(self._sinks.max_output, None, self._sinks.consumed)
            self._warn(f"{record.path}: {exc.strerror}: the run record stops here")

    def _timing(self, state: _HostState) -> Timing | None:
        """When ``state``'s session went, in seconds since the run began (None: it never
        started)."""
        if state.started_at is None:
            return None
        start = state.started_at - self._started
        end = (time.monotonic() if state.ended_at is None else state.ended_at) - self._started
        connected = None if state.connect_s is None else min(start + state.connect_s, end)
        return Timing(start, connected, max(end, start))

    def _worker_died(self, event: WorkerDied) -> None:
        if self.interrupted:  # stopped at once by a second Ctrl-C: no news
            status, why = Status.INTERRUPTED, UNCONFIRMED
        else:
            self._warn(f"worker process {event.pid} died (exit code {event.exitcode})")
            status, why = Status.ERROR, "worker died"
        for state in self._hosts.values():
            mine = state.worker_pid == event.pid or state.host.name in event.hosts
            if mine and state.result is None:
                self._flush(state)
                self._set_result(state, status, None, None, 0.0, why)

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
        found = [self._hosts[n].result for n in self._order]
        results = tuple(r for r in found if r is not None)
        assert len(results) == len(found), "the loop above gives every host its result"
        if self._live:
            self._redraw(b"")  # the final view below replaces it
        self._console.status(None)
        folded = self._folded(results)
        if folded:
            self._console.out(folded)
        return RunReport(
            results=results,
            duration_s=time.monotonic() - self._started,
            workers=tuple(self.workers),
            interrupted=self.interrupted,
            warnings=tuple(self.warnings),
        )

    def _to_files(self, write: Callable[..., None], *args: object) -> None:
        try:
            write(*args)
        except OSError as exc:  # a full disk must not stop the run: say it once
            self._files = None
            where = exc.filename or self._view.out_dir
            self._warn(f"--out-dir: {where}: {exc.strerror or exc}: no more files written")

    def _folded(self, results: tuple[HostResult, ...] | None = None) -> bytes:
        """The gather or diff view of ``results`` (default: the hosts finished so far)."""
        if results is None:
            results = tuple(st.result for st in self._hosts.values() if st.result is not None)
        return folded_text(self._view.mode, results, self._console.out_color, self._console.out_tty)

    def _redraw(self, text: bytes) -> None:
        """Replace the live view on screen by ``text``, cut to the terminal's height."""
        rows = shutil.get_terminal_size((100, 24)).lines - 2
        lines = text.split(b"\n")[:-1]
        if len(lines) > rows:
            lines = [*lines[: rows - 1], b"... (the whole view comes at the end)"]
        shown = b"".join(line + b"\n" for line in lines)
        if shown == self._drawn:
            return
        up = self._drawn.count(b"\n")
        self._console.out((f"\033[{up}F" if up else "").encode() + b"\033[J" + shown)
        self._drawn = shown


def _wants_progress(view: ViewOptions, console: Console) -> bool:
    """A progress line: on a terminal, for views that do not stream lines to it."""
    if view.progress is not None:
        return view.progress
    if view.mode is None or not console.err_tty:
        return False
    if view.mode is OutputMode.JSON:
        return not console.out_tty  # JSON lines to a file or pipe, progress on the terminal
    return view.mode is not OutputMode.STREAM


class _OutDir:
    """``--out-dir``: each host's raw output in ``DIR/NAME.out`` and ``.err`` as it
    arrives, and ``DIR/NAME.status`` at its end, NAME the host's :func:`file_name`.
    Files are opened per write, so no descriptor is held for hundreds of hosts; each
    open is 0600, never through a link, only of a file of the user's (safefs)."""

    def __init__(self, directory: str) -> None:
        self._dir = Path(directory)
        self._started: set[str] = set()

    def _path(self, host: str, ext: str) -> Path:
        return self._dir / f"{file_name(host)}.{ext}"

    def _write(self, host: str, ext: str, data: bytes, append: bool = True) -> None:
        flags = os.O_WRONLY | (os.O_APPEND if append else os.O_TRUNC)
        with os.fdopen(open_private(self._path(host, ext), flags), "wb") as f:
            f.write(data)

    def _begin(self, host: str) -> None:
        if host not in self._started:  # output of an earlier run into the same dir: replaced
            self._started.add(host)
            for ext in ("out", "err", "status"):
                self._write(host, ext, b"", append=False)

    def append(self, host: str, stream: str, data: bytes) -> None:
        self._begin(host)
        self._write(host, "out" if stream == STDOUT else "err", data)

    def finish(self, result: HostResult) -> None:
        """``STATUS EXIT_CODE ERROR``: e.g. ``ok 0``, ``failed 1 exit 1``, ``timeout - timed out``."""
        self._begin(result.host)
        code = "-" if result.exit_code is None else str(result.exit_code)
        line = " ".join(p for p in (result.status.value, code, result.error or "") if p)
        self._write(result.host, "status", (" ".join(line.split()) + "\n").encode(), False)


def aggregator_main(
    hosts: list[Host],
    view: ViewOptions,
    events: EventQueue,
    report_to: Connection,
    lock: ContextManager[object],
    started: float,
    sinks: Sinks,
) -> None:
    """Entry point of the aggregator process: consume events until EndOfRun, then report."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    set_process_name("hostops-aggr")
    take_output_lost()  # the engine's, copied at fork: it says them itself
    console = Console(lock, view.color)
    agg = Aggregator(hosts, view, console, started, sinks)
    parent = os.getppid()
    reader = EventReader(events.reader_fd())
    ended = False
    while not ended:
        agg.tick()
        if agg.running >= _BUSY and not reader.more:  # (more waiting: a flood, read on)
            time.sleep(gather_s(time.monotonic() - started))
        try:
            batch = reader.read(_TICK_S)
        except EOFError:
            return  # every writer is gone, the engine too
        if not batch and os.getppid() != parent:  # the engine is gone: no EndOfRun comes
            return
        for event in batch:
            if isinstance(event, EndOfRun):
                ended = True
                break
            agg.handle(event)
    report = agg.report()
    if view.summary and view.mode is not None:
        console.err(summary_text(report, console.err_color).encode())
    report = dataclasses.replace(report, output_lost=take_output_lost())  # the summary's too
    report_to.send(report)
    report_to.close()
