"""Run records: one JSON Lines file per run under the XDG state directory.

A record is written while the run goes: the header before the first host
starts, one line per host as its result arrives (appended and flushed by the
aggregator, so a crash loses nothing already finished), and an end line.
``hostops history``, ``hostops show`` and ``--rerun`` read them back.

File format (``$XDG_STATE_HOME/hostops/runs/RUN_ID.jsonl``, mode 0600)::

    {"type": "run", "id": ..., "started": ISO-8601 UTC, "hostops": version,
     "user": ..., "controller": hostname, "argv": [...], "command": ...,
     "hosts": [names], "options": {...}}
    {"type": "host", ...the --output json object of one host..., "t": [s, c, f]}
    {"type": "step", "t": seconds, "text": "batch 2/5: web[11-20]"}   (batches, tasks)
    {"type": "recap", ...}   (playbooks: per play and task; hostops.playbook.recap)
    {"type": "end", "duration_s": ..., "exit_code": ..., "interrupted": ..., "error": ...}

``t``: when the host's session started, connected (null: no connection made) and
finished, in seconds since the run began. Records of older versions have no ``t``,
``step``, ``recap``, ``user`` or ``controller``: every reader does without them.

Secrets never reach a record: options hold none, and argv never carries one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import enum
import getpass
import json
import os
import socket
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostops._version import __version__
from hostops.errors import UsageError
from hostops.models import HostResult, RunOptions, RunReport, Status
from hostops.safefs import UnsafePath, check_dir, open_private, private_dir

KEEP_RUNS = 200  # default retention: this many newest records are kept
_SUFFIX = ".jsonl"
_TAIL = 65536  # bytes read from a record's end to find its end line
MAX_STEPS = 1000  # step lines a record keeps (a playbook looping over many items: the first)
# --rerun failed: every status that is not a success.
FAILED_ALIAS = "failed"


def runs_dir() -> Path:
    """Where records live: ``$XDG_STATE_HOME/hostops/runs`` (default ``~/.local/state``)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "hostops" / "runs"


def keep_runs() -> int:
    """The retention limit: ``HOSTOPS_KEEP_RUNS`` (0 keeps no record at all)."""
    text = os.environ.get("HOSTOPS_KEEP_RUNS", str(KEEP_RUNS))
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"HOSTOPS_KEEP_RUNS: expected a number of runs, not {text!r}") from None
    if value < 0:
        raise UsageError(f"HOSTOPS_KEEP_RUNS: must be 0 or more, not {value}")
    return value


@dataclass(frozen=True)
class RecordPath:
    """Where the aggregator appends a run's host lines (picklable: crosses to its process)."""

    path: str

    def append(self, lines: Iterable[dict[str, Any]]) -> None:
        """Append and flush: what is written survives a crash of any hostops process."""
        data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        # Never created here: a record removed meanwhile must not come back headerless.
        fd = open_private(self.path, os.O_WRONLY | os.O_APPEND, create=False)
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode())


@dataclass(frozen=True)
class Timing:
    """When a host's session went, in seconds since the run began: ``started``,
    ``connected`` (None: no connection made, or none succeeded) and ``finished``."""

    started: float
    connected: float | None
    finished: float

    def to_json(self) -> list[float | None]:
        """The record's compact ``t``: ``[started, connected, finished]``, to the ms."""
        return [
            round(self.started, 3),
            None if self.connected is None else round(self.connected, 3),
            round(self.finished, 3),
        ]

    @classmethod
    def from_json(cls, value: Any) -> Timing | None:
        """The inverse of :meth:`to_json`; None for anything else (an older record)."""
        if not isinstance(value, list) or len(value) != 3:
            return None
        start, connected, end = value
        if not all(isinstance(v, (int, float)) for v in (start, end)):
            return None
        if not isinstance(connected, (int, float)):
            connected = None
        return cls(float(start), None if connected is None else float(connected), float(end))


def host_line(result: HostResult, timing: Timing | None = None) -> dict[str, Any]:
    """A host's record line: its JSON object, tagged, with its timing when known."""
    line: dict[str, Any] = {"type": "host", **result.to_json()}
    if timing is not None:
        line["t"] = timing.to_json()
    return line


def step_line(at: float, text: str) -> dict[str, Any]:
    """A step's record line (a batch or a task began ``at`` seconds into the run)."""
    return {"type": "step", "t": round(at, 3), "text": text}


class Journal:
    """The record of one run, from the main process's side: header and end line."""

    def __init__(self, record: RecordPath, run_id: str) -> None:
        self.record = record
        self.id = run_id

    @classmethod
    def start(
        cls,
        argv: list[str],
        command: str,
        hosts: list[str],
        options: RunOptions,
        directory: Path | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> Journal | None:
        """Create the record and write its header; None when retention is 0, or when
        the record cannot be written (a full disk, an unwritable directory): ``warn``
        is told, once, and the run goes on without a record. Raises UnsafePath for a
        directory another user could write. Old finished records beyond the
        retention limit are removed (a run in progress never is)."""
        keep = keep_runs()
        if keep == 0:
            return None
        try:
            directory = _private(directory, create=True)
            journal = cls._create(directory, argv, command, hosts, options)
        except UnsafePath:
            raise
        except (UsageError, OSError) as exc:
            why = str(exc) if isinstance(exc, UsageError) else f"{exc.filename}: {exc.strerror}"
            if warn is not None:
                warn(f"{why}: running without a run record")
            return None
        _prune(directory, keep)
        return journal

    @classmethod
    def _create(
        cls, directory: Path, argv: list[str], command: str, hosts: list[str], options: RunOptions
    ) -> Journal:
        now = dt.datetime.now(dt.timezone.utc)
        header: dict[str, Any] = {
            "type": "run",
            "started": now.isoformat(timespec="milliseconds"),
            "hostops": __version__,
            "pid": os.getpid(),  # while it lives and no end line is written: in progress
            "user": _user(),
            "controller": socket.gethostname(),
            "argv": argv,
            "command": command,
            "hosts": hosts,
            "options": _plain(dataclasses.asdict(options)),
        }
        for tick in range(100):
            # Sortable to the microsecond: ``history`` and ``last`` go by name.
            at = now + dt.timedelta(microseconds=tick)
            run_id = f"{at:%Y%m%d-%H%M%S-%f}"
            path = directory / f"{run_id}{_SUFFIX}"
            try:
                fd = open_private(path, os.O_WRONLY, exclusive=True)
                break
            except FileExistsError:
                continue
        else:
            raise UsageError(f"{directory}: cannot find a free run id")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(json.dumps({"id": run_id, **header}, ensure_ascii=False) + "\n")
        except OSError as exc:
            with contextlib.suppress(OSError):  # no headerless record left behind
                path.unlink()
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        return cls(RecordPath(str(path)), run_id)

    def finish(self, report: RunReport | None, exit_code: int, error: str | None = None) -> None:
        """The end line; ``report`` None when the run could not finish (``error`` says why)."""
        end: dict[str, Any] = {"type": "end", "exit_code": exit_code, "error": error}
        if report is not None:
            end.update(duration_s=round(report.duration_s, 3), interrupted=report.interrupted)
        with contextlib.suppress(OSError):  # the run is over: a full disk must not hide it
            self.record.append([end])


@dataclass
class PastRun:
    """A record read back. ``results`` in the run's host order; hosts whose line is
    missing (hostops crashed before their result) are absent, listed in ``missing``."""

    id: str
    header: dict[str, Any]
    results: list[HostResult]
    end: dict[str, Any] | None
    missing: list[str] = field(default_factory=list)
    timings: dict[str, Timing] = field(default_factory=dict)  # by host; older records: none
    steps: list[tuple[float, str]] = field(default_factory=list)  # (seconds, text)
    recap: dict[str, Any] | None = None  # a playbook's (hostops.playbook.recap)

    @property
    def complete(self) -> bool:
        """True when the run ended (its end line is there)."""
        return self.end is not None

    def counts(self) -> Counter[Status]:
        """How many recorded hosts ended in each status."""
        return Counter(r.status for r in self.results)

    def report(self) -> RunReport:
        """The run as a report: the hosts it was started on, in run order (every recorded
        host when the header lists none), with their recorded results; a host without
        one (hostops stopped before it finished) is an ``error`` that says so."""
        names = list(self.header.get("hosts", [])) or [r.host for r in self.results]
        recorded = {r.host: r for r in self.results}
        why = "no result in the run record: hostops stopped before this host finished"
        end = self.end or {}
        return RunReport(
            results=tuple(
                recorded.get(n) or HostResult(n, n, Status.ERROR, error=why) for n in names
            ),
            duration_s=float(end.get("duration_s") or 0.0),
            interrupted=bool(end.get("interrupted")),
        )

    def hosts_with(self, statuses: frozenset[Status]) -> list[str]:
        """Names of the hosts whose status was one of ``statuses``, in run order."""
        return [r.host for r in self.results if r.status in statuses]


def parse_statuses(text: str) -> frozenset[Status]:
    """``failed`` (every status but ok and skipped) or a list like ``unreachable,timeout``.
    Raises UsageError (its ``argument``: ``statuses``)."""
    wanted: set[Status] = set()
    for word in (w.strip() for w in text.split(",")):
        if word == FAILED_ALIAS:
            wanted |= {s for s in Status if s.failed}
            continue
        try:
            wanted.add(Status(word))
        except ValueError:
            names = ", ".join(s.value for s in Status)
            raise UsageError(
                f"statuses: unknown status {word!r} (use {FAILED_ALIAS} or any of: {names})",
                argument="statuses",
            ) from None
    return frozenset(wanted)


def _private(directory: Path | None, create: bool = False) -> Path:
    """The records' directory, checked as safefs does (``create``: made 0700 if missing).
    The default one's parent too: whoever can write there can swap ``runs`` itself."""
    path = directory or runs_dir()
    what = "run records:"
    if create:
        private_dir(path, what)
    elif os.path.lexists(path):
        check_dir(path, what)
    if directory is None and os.path.lexists(path.parent):
        check_dir(path.parent, what)
    return path


def list_runs(directory: Path | None = None) -> list[Path]:
    """Record files, oldest first. Raises UsageError when the directory could have been
    written by another user (see hostops.safefs): a planted record is never used."""
    directory = _private(directory)
    try:
        # By name, the same order as by path in one directory, without pathlib's costly
        # comparisons (every run lists the records to prune them: 200 by default).
        runs = [p for p in directory.iterdir() if p.name.endswith(_SUFFIX)]
        return sorted(runs, key=lambda p: p.name)
    except FileNotFoundError:
        return []


def find_run(ref: str | None, directory: Path | None = None) -> Path:
    """A record by id, unique id prefix, ``last`` (or None), or ``last-N`` (N runs before).
    ``last`` and ``last-N`` count finished runs only: a run still in progress (another
    hostops, a long rollout) or a record without a header is passed over."""
    runs = list_runs(directory)
    if not runs:
        raise UsageError(f"no run records in {directory or runs_dir()} yet")
    back = "0" if ref is None or ref == "last" else ref.removeprefix("last-")
    if (ref is None or ref.startswith("last")) and back.isdigit():
        states = {}
        for path in reversed(runs):  # newest first, reading no more records than needed
            states[path] = run_state(path)
            finished = [p for p, st in states.items() if st is RunState.FINISHED]
            if len(finished) > int(back):
                return finished[int(back)]
        running = sum(st is RunState.IN_PROGRESS for st in states.values())
        still = f" ({running} still in progress)" if running else ""
        raise UsageError(
            f"run {ref or 'last'}: only {len(finished)} finished run(s) recorded{still}"
        )
    matches = [p for p in runs if ref is not None and p.name.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(f"no recorded run {ref!r} (see 'hostops history')")
    raise UsageError(f"run {ref!r} is ambiguous: {len(matches)} runs start with it")


class RunState(enum.Enum):
    """Where a recorded run stands (see :func:`run_state`)."""

    FINISHED = "finished"  # its end line is there, or hostops died before writing it
    IN_PROGRESS = "in progress"  # no end line, and the hostops that runs it is alive
    BROKEN = "broken"  # no header: not a record that can be used


def run_state(path: Path) -> RunState:
    """Read a record's first line and its last few KiB (not the whole file)."""
    try:
        with open(path, "rb") as f:
            first = f.readline()
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - _TAIL))
            tail = f.read().splitlines()
    except OSError:
        return RunState.BROKEN
    try:
        header = json.loads(first)
    except ValueError:
        return RunState.BROKEN
    if not isinstance(header, dict) or header.get("type") != "run":
        return RunState.BROKEN
    with contextlib.suppress(ValueError, IndexError):
        if json.loads(tail[-1]).get("type") == "end":
            return RunState.FINISHED
    pid = header.get("pid")
    return RunState.IN_PROGRESS if isinstance(pid, int) and _alive(pid) else RunState.FINISHED


def _user() -> str | None:
    """Who runs hostops (None when the system cannot say: no passwd entry, no $USER)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, another user's
        return True
    return True


def load_run(path: Path) -> PastRun:
    """Read a record back; a record cut short by a crash still gives what it has."""
    header: dict[str, Any] | None = None
    results: dict[str, HostResult] = {}
    timings: dict[str, Timing] = {}
    steps: list[tuple[float, str]] = []
    recap = None
    end = None
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, text in enumerate(f, 1):
                try:
                    line = json.loads(text)
                except json.JSONDecodeError:
                    if text.endswith("\n"):
                        raise UsageError(f"{path}:{number}: not a run record line") from None
                    break  # the last line, cut by a crash
                kind = line.get("type")
                if kind == "run":
                    header = line
                elif kind == "host":
                    result = HostResult.from_json(line)
                    results[result.host] = result
                    timing = Timing.from_json(line.get("t"))
                    if timing is not None:
                        timings[result.host] = timing
                elif kind == "step" and isinstance(line.get("t"), (int, float)):
                    steps.append((float(line["t"]), str(line.get("text", ""))))
                elif kind == "recap":
                    recap = line
                elif kind == "end":
                    end = line
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the run record: {exc.strerror}") from None
    if header is None:
        raise UsageError(f"{path}:1: not a hostops run record")
    order = list(header.get("hosts", []))
    ordered = [results[n] for n in order if n in results]
    listed = set(order)  # once: at 10,000 hosts, a set per host took seconds
    ordered += [r for n, r in results.items() if n not in listed]
    missing = [n for n in order if n not in results]
    return PastRun(header["id"], header, ordered, end, missing, timings, steps, recap)


def iter_summaries(directory: Path | None = None) -> Iterator[PastRun]:
    """Every record, newest first (unreadable ones skipped: history must always work)."""
    for path in reversed(list_runs(directory)):
        with contextlib.suppress(UsageError):
            yield load_run(path)


def _prune(directory: Path, keep: int) -> None:
    for old in list_runs(directory)[:-keep]:
        if run_state(old) is RunState.IN_PROGRESS:
            continue  # a long rollout's record must outlive many short runs
        with contextlib.suppress(OSError):
            old.unlink()


def _plain(value: Any) -> Any:
    """Enums as their values, for JSON."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def history_text(runs: Iterable[PastRun]) -> str:
    """``hostops history``: a line per run, newest first."""
    rows = [("RUN", "STARTED", "HOSTS", "TIME", "RESULT", "COMMAND")]
    for run in runs:
        started = run.header.get("started", "")
        with contextlib.suppress(ValueError):
            started = dt.datetime.fromisoformat(started).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        duration = run.end.get("duration_s") if run.end else None
        rows.append(
            (
                run.id,
                started,
                str(len(run.header.get("hosts", []))),
                "-" if duration is None else f"{duration:.1f}s",
                _outcome(run),
                " ".join(str(run.header.get("command", "")).split())[:60],
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False))
        + "  "
        + row[-1]
        + "\n"
        for row in rows
    )


def history_json(runs: Iterable[PastRun]) -> str:
    """``hostops history --json``: a JSON object per run (JSON Lines), newest first."""
    lines = []
    for run in runs:
        counts = {status.value: n for status, n in run.counts().items()}
        lines.append(
            json.dumps(
                {
                    "id": run.id,
                    "started": run.header.get("started"),
                    "command": run.header.get("command"),
                    "hosts": len(run.header.get("hosts", [])),
                    "counts": counts,
                    "missing": len(run.missing),
                    "complete": run.complete,
                    "duration_s": run.end.get("duration_s") if run.end else None,
                    "exit_code": run.end.get("exit_code") if run.end else None,
                },
                ensure_ascii=False,
            )
        )
    return "".join(line + "\n" for line in lines)


def _outcome(run: PastRun) -> str:
    counts = run.counts()
    parts = [f"{counts[s]} {s.value}" for s in Status if counts[s]]
    if run.missing:
        parts.append(f"{len(run.missing)} not recorded")
    if not run.complete:
        parts.append("(did not finish)")
    return ", ".join(parts) or "-"
