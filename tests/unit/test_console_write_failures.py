"""What the console does when a write fails: a reader gone (``| head``) is no loss and
nothing more is written there; a full disk or an I/O error stops the writes there and
is said (``take_output_lost``, once) if it was standard output; a non-blocking descriptor that is full is waited
for, nothing lost."""

from __future__ import annotations

import errno
import threading

import pytest

from hostops.render import console as console_module
from hostops.render.console import Console, take_output_lost


class Writes:
    """os.write as the console sees it: each call takes the next planned outcome (an
    exception to raise, or how many bytes go), then writes go whole."""

    def __init__(self, *plan: BaseException | int) -> None:
        self.plan = list(plan)
        self.written: dict[int, bytes] = {1: b"", 2: b""}
        self.calls = 0

    def __call__(self, fd: int, data: memoryview) -> int:
        self.calls += 1
        step = self.plan.pop(0) if self.plan else len(data)
        if isinstance(step, BaseException):
            raise step
        self.written[fd] += bytes(data[:step])
        return step


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(console_module, "_LOST", [])  # this process's record, for this test

    def install(*plan: BaseException | int) -> Writes:
        fake = Writes(*plan)
        monkeypatch.setattr(console_module.os, "write", fake)
        return fake

    return install


def test_a_full_disk_stops_the_writes_there_and_is_said(writes) -> None:  # type: ignore[no-untyped-def]
    fake = writes(OSError(errno.ENOSPC, "No space left on device"))
    console = Console(threading.Lock(), color=False)
    console.out(b"one\n")
    console.out(b"two\n")  # not tried again: the rest would be a hole in the middle
    console.err(b"still said\n")
    assert fake.written == {1: b"", 2: b"still said\n"}
    assert take_output_lost() == "standard output: No space left on device"
    assert take_output_lost() is None  # said once


def test_standard_error_s_loss_is_not_counted(writes) -> None:  # type: ignore[no-untyped-def]
    """Messages and the summary: their verdict is the exit code's anyway (and 2>&-
    asks for none); writes there stop all the same."""
    fake = writes(OSError(errno.EIO, "Input/output error"))
    console = Console(threading.Lock(), color=False)
    console.err(b"x")
    console.err(b"y")
    assert fake.calls == 1
    assert take_output_lost() is None


def test_a_reader_gone_is_no_loss(writes) -> None:  # type: ignore[no-untyped-def]
    fake = writes(BrokenPipeError(errno.EPIPE, "Broken pipe"))
    console = Console(threading.Lock(), color=False)
    console.out(b"one\n")
    console.out(b"two\n")
    assert take_output_lost() is None
    assert fake.calls == 1 and fake.written[1] == b""


def test_a_full_non_blocking_descriptor_is_waited_for(writes, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fake = writes(2, BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable"))
    waited: list[list[int]] = []
    monkeypatch.setattr(console_module.select, "select", lambda r, w, x: waited.append(w))
    console = Console(threading.Lock(), color=False)
    console.out(b"hello\n")
    assert fake.written[1] == b"hello\n" and waited == [[1]]
    assert take_output_lost() is None
