"""The wire protocol of the event queue: small picklable dataclasses.

Workers (and the engine) put these on the one ``multiprocessing.Queue``; the
aggregator process is their single consumer.
"""

from __future__ import annotations

from dataclasses import dataclass

from hostops.models import Status, WorkerStats

STDOUT = "stdout"
STDERR = "stderr"


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
    data: bytes


@dataclass(frozen=True)
class HostWarning:
    """A diagnostic that is not a host's result (e.g. an accepted host key).

    ``host`` None: about the run or a file, not one host; shown once however
    many workers report it.
    """

    host: str | None
    message: str


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


@dataclass(frozen=True)
class Interrupt:
    """Sent by the engine on Ctrl-C: hosts that never started are reported interrupted."""


@dataclass(frozen=True)
class EndOfRun:
    """Sent by the engine after every worker has exited: the aggregator's end signal."""


Event = (
    HostStarted
    | Output
    | HostWarning
    | HostFinished
    | WorkerDone
    | WorkerDied
    | Interrupt
    | EndOfRun
)
