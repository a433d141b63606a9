"""What every transport shares: failures as values, and the loop that drives a running command.

A transport opens a :class:`Connection` to a host and starts a command as a
:class:`RunningCommand`; :func:`drive` then streams its output, enforces the
timeout and cancellation, and kills the command's whole process group when it
has to: TERM first, KILL after a grace period.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from hostops.errors import HostFailure
from hostops.host.stdin import Source
from hostops.models import Status

__all__ = [
    "NO_THREAD",
    "STDERR",
    "STDOUT",
    "Cancel",
    "Connection",
    "ExecOutcome",
    "HostFailure",
    "RunningCommand",
    "Sink",
    "drive",
    "is_thread_limit",
]

STDOUT = "stdout"  # the streams a Sink is given
STDERR = "stderr"
# Outcome.error of an operation that could not start because no thread could be
# (RLIMIT_NPROC, address space): nothing ran on the host, so it may be tried again.
NO_THREAD = "cannot start a thread (process or memory limit)"


def is_thread_limit(exc: BaseException) -> bool:
    """Whether ``exc`` is Python's failure to start a thread."""
    return isinstance(exc, RuntimeError) and "can't start new thread" in str(exc)


Sink = Callable[[str, bytes], None]  # (stream, data)


@dataclass(frozen=True)
class ExecOutcome:
    """How a command ended."""

    exit_code: int | None
    signal: str | None
    status: Status
    error: str | None = None


class Cancel(Protocol):
    """A flag that asks an operation to stop (a threading or multiprocessing Event)."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class RunningCommand(Protocol):
    """A command started on a host."""

    def pump(self, sink: Sink, wait_s: float) -> bool:
        """Pass output that arrives within ``wait_s`` to ``sink``; True once the command ended
        and all its output was passed on."""

    def signal_group(self, name: str, wait_s: float | None = None) -> bool:
        """Send signal ``name`` (TERM, KILL) to the command's process group; True when the
        host confirmed it (within ``wait_s``, None: the transport's own bound); False if
        it could not be sent or confirmed (then the connection is closed instead)."""

    def result(self) -> tuple[int | None, str | None]:
        """(exit code, signal name) of an ended command; (None, None) if unknown."""

    def lost(self) -> str | None:
        """Why the command's connection was lost before it ended, or None."""


class Connection(Protocol):
    """An open session with one host."""

    def start(
        self,
        command: str,
        sudo: bool = False,
        stdin: Source = None,
        *,
        sudo_user: str | None = None,
        tty: bool = False,
    ) -> RunningCommand:
        """Start ``command`` (with sudo when ``sudo``, as ``sudo_user`` or the run's
        user); ``stdin`` is sent to it, then end-of-file (None: end-of-file at once).
        ``tty``: on a pseudo-terminal (its stdout and stderr merged, no stdin sent)."""
        ...

    def is_active(self) -> bool: ...

    def close(self) -> None: ...


_TICK_S = 0.5  # longest wait between checks of the deadline and the cancel flag
# A second Ctrl-C: how long the KILL may take to be confirmed, so that every session
# has sent it and heard back within about a second of the key press.
AT_ONCE_KILL_S = 0.8
KILLED = "interrupted: stopped at once: killed"
LEFT_RUNNING = "interrupted: stopped at once: left running on the host"
# The channel closed after a kill the host did not confirm (refused, or sent nowhere).
NO_KILL_CONFIRMED = "the host did not confirm the kill: the command may still be running"
# Its worker did not report in time (a session still connecting, or stuck).
UNCONFIRMED = "interrupted: stopped at once: not confirmed, may be left running on the host"


def drive(
    cmd: RunningCommand,
    sink: Sink,
    *,
    timeout: float | None,
    cancel: Cancel | None,
    grace_s: float,
    idle_timeout: float | None = None,
    may_read: Callable[[float], bool] | None = None,
    hurry: Cancel | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ExecOutcome:
    """Run ``cmd`` to its end, or stop it at ``timeout``, after ``idle_timeout``
    seconds without output, or on ``cancel`` (TERM, then KILL after ``grace_s``).
    ``hurry`` (a second Ctrl-C) stops it at once with KILL, the outcome saying
    whether the host confirmed it (:data:`KILLED`) or not (:data:`LEFT_RUNNING`).

    ``may_read(wait_s)`` is asked before each read: False (after waiting up to
    ``wait_s``) leaves the output unread for now, so the host is throttled by
    SSH flow control (see hostops.fleet.flow).

    Every deadline is read from ``clock``, and drive itself never sleeps: it waits
    only in ``cmd.pump`` and ``may_read``, so a scripted command that advances a
    fake clock runs the timeout, idle and grace logic in fake time."""
    started = last_output = clock()

    def seen(stream: str, data: bytes) -> None:
        nonlocal last_output
        last_output = clock()
        sink(stream, data)

    while True:
        now = clock()
        limits = [_TICK_S]
        if timeout is not None:
            limits.append(started + timeout - now)
        if idle_timeout is not None:
            limits.append(last_output + idle_timeout - now)
        wait_s = max(0.0, min(limits))
        if may_read is None or may_read(wait_s):
            if cmd.pump(seen, wait_s):
                break
        else:
            last_output = clock()  # held back by us, not silent
        now = clock()
        if hurry is not None and hurry.is_set():
            return _kill_now(cmd)
        if cancel is not None and cancel.is_set():
            return _stop(cmd, sink, grace_s, Status.INTERRUPTED, "interrupted", clock, hurry)
        if timeout is not None and now >= started + timeout:
            why = f"timed out after {timeout:g} s"
            return _stop(cmd, sink, grace_s, Status.TIMEOUT, why, clock, hurry)
        if idle_timeout is not None and now >= last_output + idle_timeout:
            why = f"no output for {idle_timeout:g} s (--idle-timeout)"
            return _stop(cmd, sink, grace_s, Status.TIMEOUT, why, clock, hurry)
    lost = cmd.lost()
    exit_code, sig = cmd.result()
    if lost:
        return ExecOutcome(None, sig, Status.ERROR, lost)
    if exit_code == 0:
        return ExecOutcome(0, None, Status.OK)
    if exit_code is not None:
        return ExecOutcome(exit_code, None, Status.FAILED, f"exit {exit_code}")
    return ExecOutcome(
        None, sig, Status.FAILED, f"killed by signal {sig}" if sig else "no exit status"
    )


def _stop(
    cmd: RunningCommand,
    sink: Sink,
    grace_s: float,
    status: Status,
    why: str,
    clock: Callable[[], float],
    hurry: Cancel | None = None,
) -> ExecOutcome:
    """TERM the process group, give it ``grace_s`` (by ``clock``, waiting in ``cmd.pump``)
    to go, then KILL it (at once when ``hurry`` is set meanwhile)."""
    confirmed = False
    for name in ("TERM", "KILL"):
        sent = cmd.signal_group(name)
        confirmed = confirmed or sent
        end = clock() + grace_s
        while (now := clock()) < end:
            if hurry is not None and hurry.is_set():
                return _kill_now(cmd)
            if cmd.pump(sink, min(_TICK_S, end - now)):
                code, sig = cmd.result()  # a command that caught TERM may exit with its own code
                if code is not None:
                    return ExecOutcome(code, None, status, why)
                if sig is None and not sent:  # the channel went without a word: say so
                    why += f"; {NO_KILL_CONFIRMED}"
                return ExecOutcome(None, sig or (name if sent else None), status, why)
    if not confirmed:  # both refused (rbash refuses /bin/sh) or sent nowhere: no KILL to name
        return ExecOutcome(None, None, status, f"{why}; {NO_KILL_CONFIRMED}")
    return ExecOutcome(None, "KILL", status, f"{why}; the process did not end after KILL")


def _kill_now(cmd: RunningCommand) -> ExecOutcome:
    """A second Ctrl-C: KILL the process group without a grace time, and say whether
    the host confirmed it."""
    if cmd.signal_group("KILL", wait_s=AT_ONCE_KILL_S):
        return ExecOutcome(None, "KILL", Status.INTERRUPTED, KILLED)
    return ExecOutcome(None, None, Status.INTERRUPTED, LEFT_RUNNING)
