"""The watchdog's alarms: one thread for all, each wake at most once, never after its
block ended, and alarms again in a forked child."""

from __future__ import annotations

import os
import threading
import time

from hostops.host.ssh.watchdog import watchdog


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


def test_no_wake_after_the_block_ended_even_when_its_alarm_is_due() -> None:
    """The block ends while its alarm comes up: whatever the order, nothing runs after."""
    calls: list[int] = []
    for _ in range(300):
        with watchdog(0.0, lambda: calls.append(1)):
            pass
        seen = len(calls)
        time.sleep(0.001)
        assert len(calls) == seen


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
