"""The background process's loop never waits without end on one of its workers: a worker
that says nonsense or does not exit is killed and (while serving) replaced, with real
processes and sockets."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import time
from pathlib import Path

from hostops.keeper import server, wire
from hostops.testing.pytest_plugin import process_alive


def _sleeper() -> int:
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(60)
        os._exit(0)
    return pid


def test_a_worker_that_does_not_exit_is_killed_after_the_grace() -> None:
    pid = _sleeper()
    started = time.monotonic()
    server._end(pid, 0.3)
    assert 0.3 <= time.monotonic() - started < 5
    assert not process_alive(pid)
    server._end(pid, 1.0)  # reaped already: nothing to do, no error


def test_a_worker_that_says_nonsense_is_replaced_without_waiting_on_it(tmp_path: Path) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(str(tmp_path / "sock"))
    listener.listen(1)
    lock = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    keeper = server.Keeper(listener, lock, 0, lambda argv: 0)
    mine, theirs = wire.pair()
    stuck = server._Worker(_sleeper(), mine)
    keeper._workers.append(stuck)
    keeper._selector.register(mine, selectors.EVENT_READ, stuck)
    theirs.send(b"not json")
    started = time.monotonic()
    keeper._from_worker(stuck)
    assert time.monotonic() - started < 5  # it used to wait for the worker to exit
    assert not process_alive(stuck.pid)
    (new,) = keeper._workers
    assert new.pid != stuck.pid and process_alive(new.pid)
    keeper.stop()  # told to stop, the new worker exits; the loop reaps it
    assert not process_alive(new.pid)
    theirs.close()
    listener.close()
