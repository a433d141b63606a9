"""drive(): stream a running command's output, and stop it on timeout or cancel (TERM, then KILL).

First with a scripted fake RunningCommand, then with a real LocalCommand (a local subprocess).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hostops.host.base import (
    AT_ONCE_KILL_S,
    KILLED,
    LEFT_RUNNING,
    STDERR,
    STDOUT,
    ExecOutcome,
    drive,
)
from hostops.host.local import LocalCommand, LocalConnection
from hostops.models import Status


class FakeCommand:
    """A scripted RunningCommand.

    Each pump passes on one queued chunk. A command that ``ends`` by itself
    finishes once its chunks are out; one that does not runs until a signal
    in ``ends_on`` arrives. ``on_signal`` chunks are queued when that signal
    arrives (output written while dying).
    """

    def __init__(
        self,
        chunks: list[tuple[str, bytes]] = (),  # type: ignore[assignment]
        *,
        ends: bool = True,
        exit_code: int | None = 0,
        sig: str | None = None,
        lost: str | None = None,
        ends_on: tuple[str, ...] = (),
        on_signal: dict[str, list[tuple[str, bytes]]] | None = None,
        on_pump: Callable[[int], None] | None = None,
        confirms: bool = True,
    ) -> None:
        self.confirms = confirms  # what signal_group says: the host confirmed the kill
        self.kill_waits: list[float | None] = []
        self.chunks = list(chunks)
        self.ends = ends
        self.exit_code = exit_code
        self.sig = sig
        self._lost = lost
        self.ends_on = ends_on
        self.on_signal = on_signal or {}
        self.on_pump = on_pump
        self.killed_by: str | None = None
        self.signals: list[tuple[str, float]] = []
        self.waits: list[float] = []
        self.pumps = 0
        self.result_calls = 0

    @property
    def done(self) -> bool:
        return not self.chunks and (self.ends or self.killed_by is not None)

    def pump(self, sink, wait_s: float) -> bool:
        assert wait_s >= 0
        self.pumps += 1
        self.waits.append(wait_s)
        if self.on_pump:
            self.on_pump(self.pumps)
        if self.chunks:
            sink(*self.chunks.pop(0))
        if self.done:
            return True
        time.sleep(min(wait_s, 0.005))
        return False

    def signal_group(self, name: str, wait_s: float | None = None) -> bool:
        assert name in ("TERM", "KILL")
        self.signals.append((name, time.monotonic()))
        self.kill_waits.append(wait_s)
        self.chunks.extend(self.on_signal.get(name, []))
        if name in self.ends_on and self.killed_by is None:
            self.killed_by = name
        return self.confirms

    def result(self) -> tuple[int | None, str | None]:
        self.result_calls += 1
        if self.killed_by is not None:
            return None, self.killed_by
        return self.exit_code, self.sig

    def lost(self) -> str | None:
        return self._lost

    @property
    def signal_names(self) -> list[str]:
        return [name for name, _ in self.signals]


class Sink:
    def __init__(self) -> None:
        self.chunks: list[tuple[str, bytes]] = []

    def __call__(self, stream: str, data: bytes) -> None:
        assert stream in (STDOUT, STDERR)
        assert isinstance(data, bytes)
        self.chunks.append((stream, data))

    def data(self, stream: str) -> bytes:
        return b"".join(d for s, d in self.chunks if s == stream)


def _drive(cmd, *, timeout=None, cancel=None, grace_s=0.05) -> tuple[ExecOutcome, Sink, float]:
    sink = Sink()
    t0 = time.monotonic()
    outcome = drive(cmd, sink, timeout=timeout, cancel=cancel, grace_s=grace_s)
    return outcome, sink, time.monotonic() - t0


# --------------------------------------------------------------------------- fake command


def test_ok_streams_every_chunk_in_order():
    chunks = [(STDOUT, b"a"), (STDERR, b"err\n"), (STDOUT, b"b\n"), (STDOUT, b"\xff")]
    cmd = FakeCommand(chunks, exit_code=0)
    outcome, sink, _ = _drive(cmd)
    assert outcome == ExecOutcome(0, None, Status.OK, None)
    assert sink.chunks == chunks
    assert cmd.signals == []


@pytest.mark.parametrize("code", [1, 3, 127, 255])
def test_non_zero_exit_is_failed(code):
    outcome, _, _ = _drive(FakeCommand([(STDOUT, b"x")], exit_code=code))
    assert outcome == ExecOutcome(code, None, Status.FAILED, f"exit {code}")


def test_killed_by_signal_is_failed_with_signal():
    outcome, _, _ = _drive(FakeCommand(exit_code=None, sig="SEGV"))
    assert outcome.status is Status.FAILED
    assert outcome.exit_code is None
    assert outcome.signal == "SEGV"
    assert "SEGV" in (outcome.error or "")


def test_no_exit_status_is_failed():
    outcome, _, _ = _drive(FakeCommand(exit_code=None, sig=None))
    assert outcome.status is Status.FAILED
    assert outcome.exit_code is None
    assert outcome.signal is None
    assert outcome.error


def test_lost_connection_is_error():
    cmd = FakeCommand([(STDOUT, b"partial")], exit_code=None, lost="connection reset by peer")
    outcome, sink, _ = _drive(cmd)
    assert outcome.status is Status.ERROR
    assert outcome.exit_code is None
    assert outcome.error == "connection reset by peer"
    assert sink.data(STDOUT) == b"partial"


def test_lost_wins_over_an_exit_code():
    outcome, _, _ = _drive(FakeCommand(exit_code=0, lost="channel closed"))
    assert outcome.status is Status.ERROR
    assert outcome.error == "channel closed"


def test_finishing_before_the_timeout_is_not_a_timeout():
    cmd = FakeCommand([(STDOUT, b"x")] * 5, exit_code=0)
    outcome, _, _ = _drive(cmd, timeout=30.0)
    assert outcome.status is Status.OK
    assert cmd.signals == []


def test_timeout_sends_term_and_command_ends():
    cmd = FakeCommand(ends=False, ends_on=("TERM",), on_signal={"TERM": [(STDOUT, b"bye\n")]})
    outcome, sink, elapsed = _drive(cmd, timeout=0.1, grace_s=5.0)
    assert outcome.status is Status.TIMEOUT
    assert outcome.exit_code is None
    assert outcome.signal == "TERM"
    assert "timed out" in (outcome.error or "")
    assert "0.1" in (outcome.error or "")
    assert cmd.signal_names == ["TERM"]  # no KILL when TERM was enough
    assert sink.data(STDOUT) == b"bye\n"  # output written while dying is kept
    assert elapsed >= 0.1
    assert elapsed < 4.0  # did not sit out the 5 s grace


def test_timeout_escalates_to_kill_after_grace():
    grace = 0.05
    cmd = FakeCommand(ends=False, ends_on=("KILL",))
    t0 = time.monotonic()
    outcome, _, elapsed = _drive(cmd, timeout=0.1, grace_s=grace)
    assert outcome.status is Status.TIMEOUT
    assert outcome.signal == "KILL"
    assert outcome.exit_code is None
    assert cmd.signal_names == ["TERM", "KILL"]
    (_, term_at), (_, kill_at) = cmd.signals
    assert term_at - t0 >= 0.1  # not before the deadline
    assert kill_at - term_at >= grace  # TERM got its grace period
    assert elapsed < 5.0


def test_command_that_survives_kill_is_reported():
    cmd = FakeCommand(ends=False, ends_on=())
    outcome, _, elapsed = _drive(cmd, timeout=0.05, grace_s=0.05)
    assert outcome.status is Status.TIMEOUT
    assert outcome.signal == "KILL"
    assert "KILL" in (outcome.error or "")
    assert cmd.signal_names == ["TERM", "KILL"]
    assert elapsed < 5.0


def test_waits_never_pass_the_deadline():
    cmd = FakeCommand(ends=False, ends_on=("TERM",))
    _drive(cmd, timeout=0.2)
    assert cmd.waits
    assert max(cmd.waits) <= 0.2


def test_cancel_interrupts_a_running_command():
    cancel = threading.Event()

    def on_pump(n: int) -> None:
        if n == 3:
            cancel.set()

    cmd = FakeCommand(ends=False, ends_on=("TERM",), on_pump=on_pump)
    outcome, _, elapsed = _drive(cmd, timeout=None, cancel=cancel, grace_s=5.0)
    assert outcome.status is Status.INTERRUPTED
    assert outcome.signal == "TERM"
    assert outcome.exit_code is None
    assert "interrupt" in (outcome.error or "")
    assert cmd.signal_names == ["TERM"]
    assert elapsed < 4.0


def test_cancel_escalates_to_kill_too():
    cancel = threading.Event()
    cancel.set()
    cmd = FakeCommand(ends=False, ends_on=("KILL",))
    outcome, _, _ = _drive(cmd, timeout=60.0, cancel=cancel, grace_s=0.05)
    assert outcome.status is Status.INTERRUPTED
    assert outcome.signal == "KILL"
    assert cmd.signal_names == ["TERM", "KILL"]


def test_cancel_not_set_changes_nothing():
    cmd = FakeCommand([(STDOUT, b"x")] * 3, exit_code=0)
    outcome, _, _ = _drive(cmd, cancel=threading.Event())
    assert outcome.status is Status.OK


# --------------------------------------------------------------------------- real LocalCommand


def _is_gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie nobody reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _wait_gone(pid: int, within: float = 5.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if _is_gone(pid):
            return True
        time.sleep(0.02)
    return _is_gone(pid)


@contextlib.contextmanager
def _reap_on_failure(pids: list[int]):
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def test_local_exit_code_and_streams():
    cmd = LocalCommand("echo a; echo b >&2; exit 3")
    outcome, sink, _ = _drive(cmd, timeout=20.0)
    assert outcome == ExecOutcome(3, None, Status.FAILED, "exit 3")
    assert sink.data(STDOUT) == b"a\n"
    assert sink.data(STDERR) == b"b\n"


def test_local_ok_and_large_output_complete():
    cmd = LocalConnection().start("yes 0123456789abcdef | head -n 20000; printf 'tail'")
    outcome, sink, _ = _drive(cmd, timeout=20.0)
    assert outcome.status is Status.OK
    assert outcome.exit_code == 0
    assert sink.data(STDOUT) == b"0123456789abcdef\n" * 20000 + b"tail"
    assert sink.data(STDERR) == b""


def test_local_stdin_is_empty():
    outcome, sink, _ = _drive(LocalCommand("cat; echo done"), timeout=20.0)
    assert outcome.status is Status.OK
    assert sink.data(STDOUT) == b"done\n"


def test_local_killed_by_signal():
    outcome, _, _ = _drive(LocalCommand("kill -KILL $$"), timeout=20.0)
    assert outcome.status is Status.FAILED
    assert outcome.exit_code is None
    assert outcome.signal == "KILL"


def test_local_timeout_kills_quickly():
    cmd = LocalCommand("sleep 30")
    outcome, _, elapsed = _drive(cmd, timeout=0.3, grace_s=2.0)
    assert outcome.status is Status.TIMEOUT
    assert outcome.exit_code is None
    assert outcome.signal in ("TERM", "KILL")
    assert elapsed < 5.0


def test_local_timeout_kills_background_children_too():
    cmd = LocalCommand("sleep 30 & echo $!; sleep 30")
    pids: list[int] = []
    with _reap_on_failure(pids):
        sink = Sink()
        t0 = time.monotonic()
        outcome = drive(cmd, sink, timeout=0.5, cancel=None, grace_s=1.0)
        elapsed = time.monotonic() - t0
        pids.append(int(sink.data(STDOUT).split()[0]))
        assert outcome.status is Status.TIMEOUT
        assert elapsed < 5.0
        assert _wait_gone(pids[0]), f"background child {pids[0]} survived the timeout"


def test_local_term_ignored_escalates_to_kill():
    # An ignored TERM is inherited by the children: only KILL ends them.
    cmd = LocalCommand("trap '' TERM; sleep 30 & echo $!; sleep 30")
    pids: list[int] = []
    with _reap_on_failure(pids):
        sink = Sink()
        t0 = time.monotonic()
        outcome = drive(cmd, sink, timeout=0.3, cancel=None, grace_s=0.3)
        elapsed = time.monotonic() - t0
        pids.append(int(sink.data(STDOUT).split()[0]))
        assert outcome.status is Status.TIMEOUT
        assert outcome.signal == "KILL"
        assert elapsed >= 0.59  # deadline, then the whole grace period before KILL
        assert elapsed < 5.0
        assert _wait_gone(pids[0])


def test_local_cancel_interrupts():
    cancel = threading.Event()
    timer = threading.Timer(0.2, cancel.set)
    timer.start()
    try:
        outcome, _, elapsed = _drive(LocalCommand("sleep 30"), cancel=cancel, grace_s=2.0)
    finally:
        timer.cancel()
    assert outcome.status is Status.INTERRUPTED
    assert outcome.signal in ("TERM", "KILL")
    assert elapsed < 5.0


def test_realtime_signal_is_named_by_number_not_an_error():
    cmd = LocalCommand("kill -s RTMIN+3 $$")
    while not cmd.pump(lambda _s, _d: None, 0.5):
        pass
    assert cmd.result() == (None, f"SIG{signal.SIGRTMIN + 3}")


@pytest.mark.parametrize(("confirms", "why"), [(True, KILLED), (False, LEFT_RUNNING)])
def test_hurry_kills_at_once_and_says_whether_the_host_confirmed(confirms, why):
    """A second Ctrl-C: KILL without a grace time, even in the middle of the first
    Ctrl-C's TERM grace, bounded, and each host says whether its kill was confirmed."""
    cancel, hurry = threading.Event(), threading.Event()
    cmd = FakeCommand(ends=False, confirms=confirms)
    cancel.set()
    threading.Timer(0.2, hurry.set).start()
    outcome = drive(cmd, Sink(), timeout=None, cancel=cancel, grace_s=30, hurry=hurry)
    assert cmd.signal_names == ["TERM", "KILL"]
    assert cmd.signals[1][1] - cmd.signals[0][1] < 5  # not after the 30 s grace
    assert cmd.kill_waits[1] == AT_ONCE_KILL_S
    assert (outcome.status, outcome.error) == (Status.INTERRUPTED, why)
    # Hurried from the start: KILL only.
    cmd = FakeCommand(ends=False, confirms=confirms)
    outcome = drive(cmd, Sink(), timeout=None, cancel=cancel, grace_s=30, hurry=hurry)
    assert cmd.signal_names == ["KILL"] and outcome.error == why
