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

import pytest
from pytest_mock import MockerFixture

from hostops.keeper import server, wire
from hostops.testing.pytest_plugin import process_alive, wait_for


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
    pid = _sleeper()
    stuck = server._Worker(pid, mine, started=time.monotonic() - 60)  # long at work
    keeper._workers.append(stuck)
    keeper._selector.register(mine, selectors.EVENT_READ, stuck)
    theirs.send(b"not json")
    started = time.monotonic()
    keeper._from_worker(stuck)
    assert time.monotonic() - started < 5  # it used to wait for the worker to exit
    assert not process_alive(pid)
    (new,) = keeper._workers
    assert new.pid != pid and process_alive(new.pid)
    assert stuck.pid == 0  # reaped: its number is never waited on or signalled again
    keeper.stop()  # told to stop, the new worker exits; the loop reaps it
    assert not process_alive(new.pid)
    theirs.close()
    listener.close()


def _keeper(tmp_path: Path, workers: int = 0) -> server.Keeper:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(str(tmp_path / "sock"))
    listener.listen(1)
    lock = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    return server.Keeper(listener, lock, workers, lambda argv: 0)


def _add_dead_worker(keeper: server.Keeper, started: float | None = None) -> server._Worker:
    mine, theirs = wire.pair()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)  # reaped: a later wait for it finds nothing
    theirs.close()  # its end went with it; the loop has not noticed yet
    dead = server._Worker(pid, mine, started=time.monotonic() if started is None else started)
    keeper._workers.append(dead)
    keeper._selector.register(mine, selectors.EVENT_READ, dead)
    return dead


def _keeper_with_a_dead_worker(tmp_path: Path) -> tuple[server.Keeper, server._Worker]:
    keeper = _keeper(tmp_path)
    return keeper, _add_dead_worker(keeper)


def test_the_first_workers_serve(tmp_path: Path) -> None:
    keeper = _keeper(tmp_path, workers=2)
    # They were forked before the state they start from was complete: each died at once,
    # and a command that came first found no worker (CI, stop 17).
    for w in keeper._workers:
        _serves(w)
    keeper.stop()


def _serves(w: server._Worker) -> None:
    wire.send(w.control, {"op": "describe"})
    assert wire.recv(w.control) == ({"op": "described", "held": []}, [])


def _inodes(pid: int) -> set[str]:
    return {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}


def test_a_replacement_worker_holds_no_channel_made_for_the_command(tmp_path: Path) -> None:
    keeper = _keeper(tmp_path)
    for _ in range(2):
        _add_dead_worker(keeper)
    (_, first), (second_pid, second) = keeper._channels()
    _serves(keeper._workers[1])  # so past what it closes when it starts
    # Held by the second, the first worker's channel would never end with the command.
    assert f"socket:[{os.fstat(first.fileno()).st_ino}]" not in _inodes(second_pid)
    first.close()
    second.close()
    keeper.stop()


def test_a_command_gets_a_channel_to_the_replacement_of_a_worker_that_died_unnoticed(
    tmp_path: Path,
) -> None:
    keeper, dead = _keeper_with_a_dead_worker(tmp_path)
    ((pid, channel),) = keeper._channels()
    (new,) = keeper._workers
    assert pid == new.pid != dead.pid and process_alive(new.pid)
    channel.close()
    keeper.stop()
    assert not process_alive(new.pid)


def test_no_worker_to_spare_gives_no_channel_and_no_error(
    tmp_path: Path, mocker: MockerFixture
) -> None:
    keeper, dead = _keeper_with_a_dead_worker(tmp_path)
    mocker.patch.object(keeper, "_start_worker", side_effect=BlockingIOError(11, "fork"))
    assert keeper._channels() == []  # the command forks its own (hostops.keeper.session)
    assert keeper._workers == [dead] and dead.control.fileno() == -1
    assert keeper._channels() == []  # and the next tries again, without an error


def test_a_worker_event_read_meanwhile_does_not_make_the_loop_wait_or_kill(
    tmp_path: Path,
) -> None:
    keeper = _keeper(tmp_path)
    mine, theirs = wire.pair()
    mine.settimeout(server._WORKER_WAIT_S)
    pid = os.fork()
    if pid == 0:  # a live worker: says what it holds once, then answers
        mine.close()
        wire.send(theirs, {"op": "held", "n": 1})
        while (message := wire.recv(theirs)[0]) not in (None, {"op": "stop"}):
            wire.send(theirs, {"op": "described", "held": [message["op"]]})
        os._exit(0)
    theirs.close()
    live = server._Worker(pid, mine)
    keeper._workers.append(live)
    keeper._selector.register(mine, selectors.EVENT_READ, live)
    assert wait_for(lambda: bool(keeper._selector.select(0)))
    reported = [key.data for key, _mask in keeper._selector.select(0)]  # the loop's list
    assert keeper._describe() == ["describe"]  # a status request, served first, read it
    started = time.monotonic()
    for worker in reported:
        keeper._from_worker(worker)
    # It read nothing left, for the socket's timeout (5 s), and took that for death.
    assert time.monotonic() - started < server._WORKER_WAIT_S
    assert keeper._workers == [live] and process_alive(pid)
    keeper.stop()


def test_a_client_gone_before_its_answer_leaves_the_loop_serving(tmp_path: Path) -> None:
    keeper = _keeper(tmp_path)
    null = os.open(os.devnull, os.O_RDWR)
    for request in ({"op": "status"}, {"op": "run", "code": keeper._code, "argv": []}):
        client = wire.dial(str(tmp_path / "sock"))
        wire.send(client, request, [null] * 3)
        client.close()  # Ctrl-C at its start
        keeper._accept()  # raised BrokenPipeError out of the loop: every command ended
    os.close(null)
    assert not keeper._sessions  # the command was not started for nobody
    asked = wire.dial(str(tmp_path / "sock"))
    wire.send(asked, {"op": "status"})
    keeper._accept()
    assert wire.recv(asked)[0] == {"held": [], "pid": os.getpid()}
    asked.close()


def test_a_worker_that_dies_as_it_starts_is_replaced_by_the_next_command_not_at_once(
    tmp_path: Path,
) -> None:
    keeper = _keeper(tmp_path)
    dead = _add_dead_worker(keeper, started=time.monotonic())  # just now
    old = _add_dead_worker(keeper, started=time.monotonic() - 60)  # long at work
    keeper._from_worker(dead)  # their ends, read by the loop
    keeper._from_worker(old)
    (young, replaced) = keeper._workers
    assert replaced is not old and process_alive(replaced.pid)  # at once
    # Replaced at once, a worker that cannot start (no thread to spare, say) is forked
    # again and again for as long as that lasts.
    assert young is dead and dead.pid == 0 and dead.control.fileno() == -1
    ((pid, channel), (_, other)) = keeper._channels()  # the next command needs it
    new = keeper._workers[0]
    assert new.pid == pid != 0 and process_alive(pid)
    channel.close()
    other.close()
    keeper.stop()


def test_stopping_with_an_empty_place_stops_the_workers_alone() -> None:
    child = os.fork()
    if child == 0:  # a background process of its own group, one worker slow to exit
        os.setsid()
        keeper = server.Keeper.__new__(server.Keeper)
        mine, theirs = wire.pair()
        slow = _sleeper()
        keeper._workers = [server._Worker(0, theirs), server._Worker(slow, mine)]
        server._WORKER_WAIT_S = 0.3
        keeper.stop()  # pid 0 was "any child of the group", and its kill the group itself
        os._exit(0 if not process_alive(slow) else 3)
    assert os.waitpid(child, 0)[1] == 0


def _worker_and_command(
    keeper: server.Keeper, pid: int
) -> tuple[server._Worker, socket.socket, server._Reports, socket.socket]:
    """``pid`` as a worker of ``keeper`` (with the worker's end of its control socket),
    and a running command's reports (with the command's end)."""
    mine, theirs = wire.pair()
    worker = server._Worker(pid, mine)
    keeper._workers.append(worker)
    keeper._selector.register(mine, selectors.EVENT_READ, worker)
    ours, command = wire.pair()
    reports = server._Reports(ours)
    keeper._reports.append(reports)
    keeper._selector.register(ours, selectors.EVENT_READ, reports)
    return worker, theirs, reports, command


def test_a_worker_a_command_found_stuck_is_killed_and_replaced(tmp_path: Path) -> None:
    """Else every later command would wait hostops.keeper.source.ANSWER_S for it too."""
    keeper = _keeper(tmp_path)
    pid = _sleeper()
    os.kill(pid, signal.SIGSTOP)  # reads nothing, answers nothing
    assert wait_for(lambda: server._stopped(pid))
    stuck, theirs, reports, command = _worker_and_command(keeper, pid)
    ours = reports.sock
    wire.send(command, {"op": "stuck", "pid": pid + 1_000_000})  # not one of ours
    keeper._from_command(reports)
    assert keeper._workers == [stuck] and process_alive(pid)
    wire.send(command, {"op": "stuck", "pid": pid})
    command.close()  # and the command ends (closed before the replacement forks from us)
    keeper._from_command(reports)
    assert not process_alive(pid) and stuck.pid == 0
    (new,) = keeper._workers
    assert new.pid != pid and process_alive(new.pid)
    keeper._from_command(reports)  # the command is over: its socket leaves the loop
    assert keeper._reports == [] and ours.fileno() == -1
    keeper.stop()
    assert not process_alive(new.pid)
    theirs.close()


def test_a_worker_found_stuck_that_is_not_stopped_gets_a_second_chance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It may only have been slow (a starved CPU): killed when found stuck again in a
    later spell (a command begun after the first gave up), not by commands that waited
    for it together, nor by a spell long after."""
    monkeypatch.setattr(server, "_SPELL_S", 0.2)
    keeper = _keeper(tmp_path)
    pid = _sleeper()  # running, never answering
    slow, theirs, reports, command = _worker_and_command(keeper, pid)
    for _ in range(2):  # two commands that waited for it at the same time: one spell
        wire.send(command, {"op": "stuck", "pid": pid})
        keeper._from_command(reports)
    assert keeper._workers == [slow] and process_alive(pid)
    monkeypatch.setattr(server, "_STRIKE_KEPT_S", 0.1)
    time.sleep(0.3)  # long enough ago to be forgotten: a first spell again
    wire.send(command, {"op": "stuck", "pid": pid})
    keeper._from_command(reports)
    assert keeper._workers == [slow] and process_alive(pid)
    monkeypatch.setattr(server, "_STRIKE_KEPT_S", 600.0)
    time.sleep(0.3)  # a second spell
    wire.send(command, {"op": "stuck", "pid": pid})
    command.close()
    keeper._from_command(reports)
    assert not process_alive(pid)
    (new,) = keeper._workers
    keeper._from_command(reports)
    assert keeper._reports == []
    keeper.stop()
    assert not process_alive(new.pid)
    theirs.close()


def test_a_report_read_meanwhile_or_of_an_ended_command_is_skipped(tmp_path: Path) -> None:
    """serve()'s select may list a report that _describe's own wait has read since (or
    whose command has ended and left): nothing to read, nothing to unregister."""
    keeper = _keeper(tmp_path)
    pid = _sleeper()
    _worker, theirs, reports, command = _worker_and_command(keeper, pid)
    keeper._from_command(reports)  # nothing there: no wait on the blocking socket
    command.close()
    keeper._from_command(reports)  # the command is over: its socket leaves the loop
    assert keeper._reports == []
    keeper._from_command(reports)  # listed once more by a select from before: no error
    keeper.stop()
    theirs.close()
