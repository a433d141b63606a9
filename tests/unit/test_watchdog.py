"""The watchdog's alarms: one thread for all while any is pending, each wake at most once
and on a thread of its own, and alarms again in a forked child."""

from __future__ import annotations

import os
import threading
import time
import weakref

import pytest

from hostops.host.ssh.watchdog import watchdog
from hostops.testing.pytest_plugin import wait_for


def test_a_block_that_overruns_is_woken_once() -> None:
    woken = threading.Event()
    calls: list[float] = []
    begun = time.monotonic()
    with watchdog(0.05, lambda: (calls.append(time.monotonic() - begun), woken.set())):
        assert woken.wait(5)
        time.sleep(0.1)
    assert len(calls) == 1 and calls[0] >= 0.05


def test_a_block_that_ends_in_time_is_never_woken() -> None:
    calls: list[int] = []
    for _ in range(200):
        with watchdog(0.2, lambda: calls.append(1)):
            pass
    time.sleep(0.4)
    assert calls == []


def test_a_wake_due_as_its_block_ends_runs_once_at_most() -> None:
    calls: list[int] = []
    for n in range(300):
        with watchdog(0.0, lambda n=n: calls.append(n)):  # type: ignore[misc]
            pass
    time.sleep(0.3)
    assert len(calls) == len(set(calls))


def test_a_sooner_alarm_added_later_is_not_held_behind_a_later_one() -> None:
    woken = threading.Event()
    with watchdog(30, lambda: None):  # the thread now waits 30 s for this one
        begun = time.monotonic()
        with watchdog(0.05, woken.set):
            assert woken.wait(5)
        assert time.monotonic() - begun < 5


def test_alarms_all_go_off_with_one_thread_for_them() -> None:
    fired = [threading.Event() for _ in range(50)]
    blocks = [watchdog(0.05 + i * 0.001, e.set) for i, e in enumerate(fired)]
    before = threading.active_count()
    for block in blocks:
        block.__enter__()
    assert threading.active_count() <= before + 1  # one alarm thread at most, not one each
    for e in fired:
        assert e.wait(5)
    for block in blocks:
        block.__exit__(None, None, None)


def test_a_forked_child_has_alarms_of_its_own() -> None:
    with watchdog(30, lambda: None):  # the parent's thread is busy with a block
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: no alarm thread was inherited; its alarm still fires
            woken = threading.Event()
            with watchdog(0.05, woken.set):
                ok = woken.wait(5)
            os.write(write, b"1" if ok else b"0")
            os._exit(0)
        os.close(write)
        said = os.read(read, 1)
        os.close(read)
        os.waitpid(pid, 0)
    assert said == b"1"


def test_a_slow_wake_does_not_hold_up_the_next_alarm() -> None:
    """A wake may block (a close waiting on a jump host's connection): each runs apart."""
    release, woken = threading.Event(), threading.Event()
    with watchdog(0.02, lambda: release.wait(10)):
        begun = time.monotonic()
        with watchdog(0.1, woken.set):
            assert woken.wait(5)
        assert time.monotonic() - begun < 5
    release.set()


def test_the_alarm_thread_outlives_a_timeout_too_long_to_wait_for() -> None:
    woken = threading.Event()
    # The first is past what a thread may wait at once.
    with watchdog(1e12, lambda: None), watchdog(0.05, woken.set):
        assert woken.wait(5)


def test_the_alarm_thread_ends_when_no_alarm_is_pending() -> None:
    """A process that forks after SSH work (a script: connect(), then run()) may fork only
    when it has no other thread (hostops.fleet.engine._context)."""
    with watchdog(30, lambda: None):
        assert "watchdog" in {t.name for t in threading.enumerate()}
    assert wait_for(lambda: "watchdog" not in {t.name for t in threading.enumerate()})


def test_a_cancelled_alarm_keeps_nothing_alive() -> None:
    class Transport:
        def close(self) -> None:
            pass

    transport = Transport()
    gone = weakref.ref(transport)
    with watchdog(30, transport.close):
        pass
    del transport
    assert gone() is None


def test_a_timeout_that_is_not_a_number_holds_up_no_other_alarm() -> None:
    woken = threading.Event()
    with watchdog(float("nan"), lambda: None), watchdog(0.05, woken.set):
        assert woken.wait(5)


def test_a_wake_that_fails_says_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A close that raises is nobody's to hear: no "uncaught exception in thread"."""
    heard: list[object] = []
    monkeypatch.setattr(threading, "excepthook", heard.append)
    done = threading.Event()

    def wake() -> None:
        done.set()
        raise OSError("the socket is gone")

    with watchdog(0.01, wake):
        assert done.wait(5)
        time.sleep(0.1)
    assert heard == []
