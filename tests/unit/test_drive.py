"""drive(): stream a running command's output, and stop it on timeout, idle or cancel
(TERM, then KILL).

First with a scripted fake RunningCommand in fake time (drive's clock is injected and the
fake command advances it as it "waits"), so every deadline is checked to the exact fake
second; then with a real LocalCommand (a local subprocess) in real time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hostops.host.base import (
    AT_ONCE_KILL_S,
    KILLED,
    LEFT_RUNNING,
    NO_KILL_CONFIRMED,
    STDERR,
    STDOUT,
    ExecOutcome,
    drive,
)
from hostops.host.local import LocalCommand, LocalConnection
from hostops.models import Status
from hostops.testing.pytest_plugin import wait_for


class FakeClock:
    """drive's clock: fake seconds that pass only when the fake command waits."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeCommand:
    """A scripted RunningCommand that waits in fake time.

    Each pump passes on the next queued chunk once its ``gaps`` entry (fake seconds
    of silence before it, default 0) has passed; a pump with nothing to pass on
    lets its whole ``wait_s`` pass on the clock. A command that ``ends`` by itself
    finishes once its chunks are out; one that does not runs until a signal in
    ``ends_on`` arrives. ``on_signal`` chunks are queued (without a gap) when that
    signal arrives (output written while dying).
    """

    def __init__(
        self,
        chunks: list[tuple[str, bytes]] = (),  # type: ignore[assignment]
        *,
        gaps: list[float] = (),  # type: ignore[assignment]
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
        self.clock = FakeClock()
        self.chunks = list(chunks)
        self.gaps = list(gaps) + [0.0] * (len(self.chunks) - len(gaps))
        self.ends = ends
        self.exit_code = exit_code
        self.sig = sig
        self._lost = lost
        self.ends_on = ends_on
        self.on_signal = on_signal or {}
        self.on_pump = on_pump
        self.killed_by: str | None = None
        self.signals: list[tuple[str, float]] = []  # (name, fake time sent)
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
        if self.chunks and self.gaps[0] <= wait_s:
            self.clock.now += self.gaps.pop(0)
            sink(*self.chunks.pop(0))
        elif self.chunks:
            self.gaps[0] -= wait_s
            self.clock.now += wait_s
        elif not self.done:
            self.clock.now += wait_s
        return self.done

    def signal_group(self, name: str, wait_s: float | None = None) -> bool:
        assert name in ("TERM", "KILL")
        self.signals.append((name, self.clock.now))
        self.kill_waits.append(wait_s)
        queued = self.on_signal.get(name, [])
        self.chunks.extend(queued)
        self.gaps.extend([0.0] * len(queued))
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


def _drive(cmd: FakeCommand, *, grace_s: float = 0.125, **kw: Any) -> tuple[ExecOutcome, Sink]:
    """drive the fake command in its fake time; ``cmd.clock.now`` is when drive returned."""
    sink = Sink()
    kw.setdefault("timeout", None)
    kw.setdefault("cancel", None)
    return drive(cmd, sink, grace_s=grace_s, clock=cmd.clock, **kw), sink


# --------------------------------------------------------------------------- fake command


def test_ok_streams_every_chunk_in_order():
    chunks = [(STDOUT, b"a"), (STDERR, b"err\n"), (STDOUT, b"b\n"), (STDOUT, b"\xff")]
    cmd = FakeCommand(chunks, exit_code=0)
    outcome, sink = _drive(cmd)
    assert outcome == ExecOutcome(0, None, Status.OK, None)
    assert sink.chunks == chunks
    assert cmd.signals == []
    assert cmd.clock.now == 0.0  # the output came at once: no time passed


@pytest.mark.parametrize("code", [1, 3, 127, 255])
def test_non_zero_exit_is_failed(code):
    outcome, _ = _drive(FakeCommand([(STDOUT, b"x")], exit_code=code))
    assert outcome == ExecOutcome(code, None, Status.FAILED, f"exit {code}")


def test_killed_by_signal_is_failed_with_signal():
    outcome, _ = _drive(FakeCommand(exit_code=None, sig="SEGV"))
    assert outcome.status is Status.FAILED
    assert outcome.exit_code is None
    assert outcome.signal == "SEGV"
    assert "SEGV" in (outcome.error or "")


def test_no_exit_status_is_failed():
    outcome, _ = _drive(FakeCommand(exit_code=None, sig=None))
    assert outcome.status is Status.FAILED
    assert outcome.exit_code is None
    assert outcome.signal is None
    assert outcome.error


def test_lost_connection_is_error():
    cmd = FakeCommand([(STDOUT, b"partial")], exit_code=None, lost="connection reset by peer")
    outcome, sink = _drive(cmd)
    assert outcome.status is Status.ERROR
    assert outcome.exit_code is None
    assert outcome.error == "connection reset by peer"
    assert sink.data(STDOUT) == b"partial"


def test_lost_wins_over_an_exit_code():
    outcome, _ = _drive(FakeCommand(exit_code=0, lost="channel closed"))
    assert outcome.status is Status.ERROR
    assert outcome.error == "channel closed"


def test_finishing_before_the_timeout_is_not_a_timeout():
    # Five chunks a fake second apart: done at 5 s, one second before the deadline.
    cmd = FakeCommand([(STDOUT, b"x")] * 5, gaps=[1.0] * 5, exit_code=0)
    outcome, _ = _drive(cmd, timeout=6.0)
    assert outcome.status is Status.OK
    assert cmd.signals == []
    assert cmd.clock.now == 5.0


def test_timeout_sends_term_and_command_ends():
    cmd = FakeCommand(ends=False, ends_on=("TERM",), on_signal={"TERM": [(STDOUT, b"bye\n")]})
    outcome, sink = _drive(cmd, timeout=0.1, grace_s=5.0)
    assert outcome.status is Status.TIMEOUT
    assert outcome.exit_code is None
    assert outcome.signal == "TERM"
    assert outcome.error == "timed out after 0.1 s"
    assert cmd.signals == [("TERM", 0.1)]  # at the deadline; no KILL when TERM was enough
    assert sink.data(STDOUT) == b"bye\n"  # output written while dying is kept
    assert cmd.clock.now == 0.1  # did not sit out the 5 s grace


def test_timeout_escalates_to_kill_after_grace():
    cmd = FakeCommand(ends=False, ends_on=("KILL",))
    outcome, _ = _drive(cmd, timeout=1.5, grace_s=0.75)
    assert outcome.status is Status.TIMEOUT
    assert outcome.signal == "KILL"
    assert outcome.exit_code is None
    # TERM at the deadline, not before; KILL after TERM's whole grace period.
    assert cmd.signals == [("TERM", 1.5), ("KILL", 2.25)]
    assert cmd.clock.now == 2.25  # KILL was enough at once


def test_command_that_survives_kill_is_reported():
    cmd = FakeCommand(ends=False, ends_on=())
    outcome, _ = _drive(cmd, timeout=0.5, grace_s=0.25)
    assert outcome.status is Status.TIMEOUT
    assert outcome.signal == "KILL"
    assert outcome.error == "timed out after 0.5 s; the process did not end after KILL"
    assert cmd.signals == [("TERM", 0.5), ("KILL", 0.75)]
    assert cmd.clock.now == 1.0  # KILL got a grace period too, then drive gave up


def test_kills_the_host_refused_while_the_command_runs_on_are_not_called_a_kill():
    """rbash refuses the kill's /bin/sh: the channel stays open, the command runs on."""
    cmd = FakeCommand(ends=False, ends_on=(), confirms=False)
    outcome, _ = _drive(cmd, timeout=0.5, grace_s=0.25)
    assert (outcome.status, outcome.signal, outcome.exit_code) == (Status.TIMEOUT, None, None)
    assert outcome.error == f"timed out after 0.5 s; {NO_KILL_CONFIRMED}"
    assert [name for name, _ in cmd.signals] == ["TERM", "KILL"]


def test_a_kill_the_host_did_not_confirm_is_said_when_the_channel_goes():
    """A refused kill closes the channel (paramiko's way) with no exit status: the
    outcome must not read as if the command had been stopped."""
    cmd = FakeCommand(ends=False, exit_code=None, confirms=False)
    send = cmd.signal_group

    def refused(name: str, wait_s: float | None = None) -> bool:
        cmd.ends = True  # the channel is gone, and with it any word from the command
        return send(name, wait_s)

    cmd.signal_group = refused  # type: ignore[method-assign]
    outcome, _ = _drive(cmd, timeout=0.5)
    assert outcome.status is Status.TIMEOUT
    assert outcome.signal is None and outcome.exit_code is None
    assert outcome.error == f"timed out after 0.5 s; {NO_KILL_CONFIRMED}"


def test_waits_never_pass_the_deadline():
    cmd = FakeCommand(ends=False, ends_on=("TERM",))
    _drive(cmd, timeout=0.2)
    assert cmd.waits
    assert max(cmd.waits) <= 0.2
    # A longer timeout: ticks of 0.5 s between checks of the flags, the last one cut
    # at the deadline.
    cmd = FakeCommand(ends=False, ends_on=("TERM",))
    _drive(cmd, timeout=1.25)
    assert cmd.waits[:3] == [0.5, 0.5, 0.25]
    assert cmd.signals == [("TERM", 1.25)]


def test_idle_timeout_stops_a_command_gone_silent():
    # Output at 1, 2 and 3 s, then nothing: stopped 2 s after the last output.
    cmd = FakeCommand([(STDOUT, b"tick\n")] * 3, gaps=[1.0] * 3, ends=False, ends_on=("TERM",))
    outcome, sink = _drive(cmd, idle_timeout=2.0)
    assert outcome.status is Status.TIMEOUT
    assert outcome.signal == "TERM"
    assert outcome.error == "no output for 2 s (--idle-timeout)"
    assert sink.data(STDOUT) == b"tick\n" * 3
    assert cmd.signals == [("TERM", 5.0)]


def test_idle_timeout_spares_a_command_that_keeps_talking():
    # Silent for 1.5 s at a time, never for the 2 s allowed: runs for 6 s and ends.
    cmd = FakeCommand([(STDOUT, b"tick\n")] * 4, gaps=[1.5] * 4, exit_code=0)
    outcome, _ = _drive(cmd, idle_timeout=2.0)
    assert outcome.status is Status.OK
    assert cmd.signals == []
    assert cmd.clock.now == 6.0


def test_output_held_back_by_flow_control_is_not_silence():
    # may_read says no for 3 fake seconds (more than the idle timeout): the command
    # was not silent, we did not read it; then its output is read and it ends.
    cmd = FakeCommand([(STDOUT, b"late\n")], exit_code=0)
    asked: list[float] = []

    def may_read(wait_s: float) -> bool:
        asked.append(wait_s)
        if cmd.clock.now < 3.0:
            cmd.clock.now += wait_s  # waited for room, in vain
            return False
        return True

    outcome, sink = _drive(cmd, idle_timeout=1.0, may_read=may_read)
    assert outcome.status is Status.OK
    assert sink.data(STDOUT) == b"late\n"
    assert cmd.signals == []
    assert asked[:6] == [0.5] * 6 and cmd.clock.now == 3.0


def test_cancel_interrupts_a_running_command():
    cancel = threading.Event()

    def on_pump(n: int) -> None:
        if n == 3:
            cancel.set()

    cmd = FakeCommand(ends=False, ends_on=("TERM",), on_pump=on_pump)
    outcome, _ = _drive(cmd, cancel=cancel, grace_s=5.0)
    assert outcome.status is Status.INTERRUPTED
    assert outcome.signal == "TERM"
    assert outcome.exit_code is None
    assert outcome.error == "interrupted"
    # Seen after the third tick of 0.5 s; TERM was enough, the 5 s grace not sat out.
    assert cmd.signals == [("TERM", 1.5)]
    assert cmd.clock.now == 1.5


def test_cancel_escalates_to_kill_too():
    cancel = threading.Event()
    cancel.set()
    cmd = FakeCommand(ends=False, ends_on=("KILL",))
    outcome, _ = _drive(cmd, timeout=60.0, cancel=cancel, grace_s=0.25)
    assert outcome.status is Status.INTERRUPTED
    assert outcome.signal == "KILL"
    # Seen after the first tick; KILL after TERM's grace.
    assert cmd.signals == [("TERM", 0.5), ("KILL", 0.75)]


def test_cancel_not_set_changes_nothing():
    cmd = FakeCommand([(STDOUT, b"x")] * 3, exit_code=0)
    outcome, _ = _drive(cmd, cancel=threading.Event())
    assert outcome.status is Status.OK


# --------------------------------------------------------------------------- real LocalCommand
# Real processes in real time: what is checked is what happened to them (status, signal,
# children gone), never how long it took (the machine is shared and loaded).


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


@contextlib.contextmanager
def _reap_on_failure(pids: list[int]):
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _drive_real(cmd: LocalCommand, **kw: Any) -> tuple[ExecOutcome, Sink]:
    sink = Sink()
    kw.setdefault("timeout", None)
    kw.setdefault("cancel", None)
    kw.setdefault("grace_s", 2.0)
    return drive(cmd, sink, **kw), sink


def test_local_exit_code_and_streams():
    cmd = LocalCommand("echo a; echo b >&2; exit 3")
    outcome, sink = _drive_real(cmd, timeout=20.0)
    assert outcome == ExecOutcome(3, None, Status.FAILED, "exit 3")
    assert sink.data(STDOUT) == b"a\n"
    assert sink.data(STDERR) == b"b\n"


def test_local_ok_and_large_output_complete():
    cmd = LocalConnection().start("yes 0123456789abcdef | head -n 20000; printf 'tail'")
    outcome, sink = _drive_real(cmd, timeout=20.0)
    assert outcome.status is Status.OK
    assert outcome.exit_code == 0
    assert sink.data(STDOUT) == b"0123456789abcdef\n" * 20000 + b"tail"
    assert sink.data(STDERR) == b""


def test_local_stdin_is_empty():
    outcome, sink = _drive_real(LocalCommand("cat; echo done"), timeout=20.0)
    assert outcome.status is Status.OK
    assert sink.data(STDOUT) == b"done\n"


def test_local_killed_by_signal():
    outcome, _ = _drive_real(LocalCommand("kill -KILL $$"), timeout=20.0)
    assert outcome.status is Status.FAILED
    assert outcome.exit_code is None
    assert outcome.signal == "KILL"


def test_local_timeout_kills():
    # Killed, not run to its end (that would be ok, exit 0).
    outcome, _ = _drive_real(LocalCommand("sleep 30"), timeout=0.3)
    assert outcome.status is Status.TIMEOUT
    assert outcome.exit_code is None
    assert outcome.signal in ("TERM", "KILL")


def test_local_timeout_kills_background_children_too():
    cmd = LocalCommand("sleep 30 & echo $!; sleep 30")
    pids: list[int] = []
    with _reap_on_failure(pids):
        outcome, sink = _drive_real(cmd, timeout=0.5, grace_s=1.0)
        pids.append(int(sink.data(STDOUT).split()[0]))
        assert outcome.status is Status.TIMEOUT
        assert wait_for(lambda: _is_gone(pids[0]), timeout=5), (
            f"background child {pids[0]} survived the timeout"
        )


def test_local_term_ignored_escalates_to_kill():
    # An ignored TERM is inherited by the children: only KILL ends them. A clock that
    # records when drive reads it shows the deadline, then the whole grace period,
    # passed (by the real clock) before KILL.
    cmd = LocalCommand("trap '' TERM; sleep 30 & echo $!; sleep 30")
    signals: list[tuple[str, float]] = []
    send = cmd.signal_group

    def signal_group(name: str) -> bool:
        signals.append((name, time.monotonic()))
        return send(name)

    cmd.signal_group = signal_group  # type: ignore[method-assign]
    pids: list[int] = []
    with _reap_on_failure(pids):
        started = time.monotonic()
        outcome, sink = _drive_real(cmd, timeout=0.3, grace_s=0.3)
        pids.append(int(sink.data(STDOUT).split()[0]))
        assert outcome.status is Status.TIMEOUT
        assert outcome.signal == "KILL"
        (term, term_at), (kill, kill_at) = signals
        assert (term, kill) == ("TERM", "KILL")
        assert term_at - started >= 0.3 and kill_at - term_at >= 0.3
        assert wait_for(lambda: _is_gone(pids[0]), timeout=5)


def test_local_cancel_interrupts():
    # Cancelled as soon as the command has shown that it runs.
    cancel = threading.Event()
    sink = Sink()

    def seen(stream: str, data: bytes) -> None:
        sink(stream, data)
        cancel.set()

    cmd = LocalCommand("echo running; sleep 30")
    outcome = drive(cmd, seen, timeout=None, cancel=cancel, grace_s=2.0)
    assert sink.data(STDOUT) == b"running\n"
    assert outcome.status is Status.INTERRUPTED
    assert outcome.signal in ("TERM", "KILL")


def test_realtime_signal_is_named_by_number_not_an_error():
    cmd = LocalCommand("kill -s RTMIN+3 $$")
    while not cmd.pump(lambda _s, _d: None, 0.5):
        pass
    assert cmd.result() == (None, f"SIG{signal.SIGRTMIN + 3}")


@pytest.mark.parametrize(("confirms", "why"), [(True, KILLED), (False, LEFT_RUNNING)])
def test_hurry_kills_at_once_and_says_whether_the_host_confirmed(confirms, why):
    """A second Ctrl-C: KILL without a grace time, even in the middle of the first
    Ctrl-C's TERM grace, bounded, and each host says whether its kill was confirmed."""
    cancel = threading.Event()
    cancel.set()
    cmd = FakeCommand(ends=False, confirms=confirms)

    class Hurry:  # the second Ctrl-C comes during the first one's TERM grace
        def is_set(self) -> bool:
            return cmd.clock.now >= 0.75

        def wait(self, timeout: float | None = None) -> bool:
            return self.is_set()

    outcome, _ = _drive(cmd, cancel=cancel, grace_s=30, hurry=Hurry())
    assert cmd.signal_names == ["TERM", "KILL"]
    assert cmd.signals[1][1] < 5  # not after the 30 s grace
    assert cmd.kill_waits[1] == AT_ONCE_KILL_S
    assert (outcome.status, outcome.error) == (Status.INTERRUPTED, why)
    # Hurried from the start: KILL only.
    hurried = threading.Event()
    hurried.set()
    cmd = FakeCommand(ends=False, confirms=confirms)
    outcome, _ = _drive(cmd, cancel=cancel, grace_s=30, hurry=hurried)
    assert cmd.signal_names == ["KILL"] and outcome.error == why
