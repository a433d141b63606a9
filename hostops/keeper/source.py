"""The run process's side of the background process's workers: a
:class:`hostops.fleet.engine.WorkerSource` over the channels the background process
handed it, one per worker (see hostops.keeper.worker for the protocol)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import struct
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait

from hostops.credentials import Secrets
from hostops.fleet.dispatch import WorkerSlot
from hostops.fleet.engine import Attached, NoWorkers, spread
from hostops.fleet.worker import WorkerSpec
from hostops.host.settings import reuse_identity
from hostops.models import Host

_DIED = -9  # the exit code given to a worker that left without ending the run
# For a worker to say which of the run's hosts it holds (a lookup in its own memory): one
# that has not answered by then is stuck (stopped, say) and the run goes on without it.
ANSWER_S = 10.0
_NONE_LEFT = "none of its workers could take the run"


class _RemoteWorker:
    """Stands in for a worker process the run did not start (the engine's
    WorkerProcess): it has "exited" when it ended this run -- well, when it says so on
    the end socket; badly, when the socket closes unsaid (the worker died) or when the
    engine gave up on it (``kill``)."""

    def __init__(self, pid: int, end: socket.socket, channel: socket.socket) -> None:
        self._pid = pid
        self._end = end
        self._channel = channel
        self._code: int | None = None

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def sentinel(self) -> int:
        return self._end.fileno()

    @property
    def exitcode(self) -> int | None:
        if self._code is None and wait([self._end], 0):
            try:
                said = self._end.recv(1)
            except OSError:
                said = b""
            self._code = 0 if said == b"\0" else _DIED
        return self._code

    def join(self, timeout: float | None = None) -> None:
        if self._code is None:
            wait([self._end], timeout)

    def kill(self) -> None:
        """Give it up for this run: its sessions of this run are cancelled when the
        channel closes (the worker itself lives on, for other runs)."""
        if self.exitcode is None:
            self._code = _DIED
            with contextlib.suppress(OSError):
                self._channel.shutdown(socket.SHUT_RDWR)

    def is_alive(self) -> bool:
        return self.exitcode is None


class _OwnWorker(_RemoteWorker):
    """A worker that serves this run alone (hostops.keeper.early): killing it is
    killing the process, as with a worker the engine forked."""

    def kill(self) -> None:
        if self.exitcode is None and self._pid:
            with contextlib.suppress(OSError):
                os.kill(self._pid, signal.SIGKILL)
        super().kill()


class KeptWorkers:
    """The background process's workers, as the engines of one run process see them;
    ``own``: workers of this run alone (hostops.keeper.early), killed when given up."""

    private = False  # shared with other runs: the budget it is given is all it runs

    def __init__(
        self,
        channels: list[tuple[int, socket.socket]],
        *,
        own: bool = False,
        on_stuck: Callable[[int], None] | None = None,
    ) -> None:
        self._channels = channels
        self._process = _OwnWorker if own else _RemoteWorker
        # Told the pid of a worker that did not answer in time (stopped, or stuck): the
        # background process replaces it, or every later command would wait for it too.
        self._on_stuck = on_stuck
        self.size = len(channels)

    def attach(
        self,
        spec: WorkerSpec,
        threads: tuple[int, ...],
        hosts: list[Host],
        events_fd: int,
        flow_fd: int,
        secrets: Secrets,
        budgets: tuple[int, ...] | None = None,
    ) -> Attached:
        """Hand this run to every worker; the run's threads go first to the workers that
        hold the most of its hosts warm. ``budgets``: how many of its threads each runs
        at first (default: all), the rest as the engine's governor allows."""
        keys = {h.name: reuse_identity(h, spec.options, os.environ) for h in hosts}
        # The caller's environment and directory, for what the workers do on its behalf.
        caller = dataclasses.replace(secrets, environ=dict(os.environ), cwd=os.getcwd())
        sent: list[tuple[int, socket.socket, socket.socket, Connection]] = []
        try:
            opened, held = self._ask(sent, keys, events_fd, flow_fd)
        except BaseException:  # Ctrl-C while they answer, say: their talk is cut midway
            for entry in sent:
                self._give_up(*entry)
            raise
        if not opened:
            raise NoWorkers(_NONE_LEFT)
        if len(opened) < len(threads):  # workers ended since the run was planned
            threads = spread(sum(threads), len(opened))
            budgets = budgets and spread(sum(budgets), len(opened))
        order = sorted(range(len(opened)), key=lambda i: -len(held[i]))
        padding = [0] * (len(opened) - len(threads))
        given = dict(zip(order, list(threads) + padding, strict=True))
        first = dict(zip(order, list(budgets or threads) + padding, strict=True))
        slots: list[WorkerSlot] = []
        owners: dict[str, WorkerSlot] = {}
        told = 0
        wire_spec = dataclasses.replace(spec, consumed=None)  # the counters went as a descriptor
        for i, (pid, channel, mine, conn) in enumerate(opened):
            n = given[i]
            if n == 0:
                with contextlib.suppress(OSError):
                    conn.send(("none",))
                _close(mine, conn)
                continue
            try:
                conn.send(
                    (
                        "run",
                        dataclasses.replace(wire_spec, threads=n),
                        caller,
                        os.getpid(),
                        len(hosts),
                    )
                )
            except OSError:  # it ended since: the engine finds it so (its end socket)
                pass
            else:
                told += 1
            slot = WorkerSlot(
                self._process(pid, mine, channel), conn, free=first[i], capacity=n, batches=True
            )
            slots.append(slot)
            owners.update(dict.fromkeys(held[i], slot))
        if not told:  # every one ended since it answered: as if none had
            for slot in slots:
                slot.process.kill()
                slot.conn.close()
            raise NoWorkers(_NONE_LEFT)
        return Attached(slots, owners)

    def _ask(
        self,
        sent: list[tuple[int, socket.socket, socket.socket, Connection]],
        keys: dict[str, str],
        events_fd: int,
        flow_fd: int,
    ) -> tuple[list[tuple[int, socket.socket, socket.socket, Connection]], list[set[str]]]:
        """Tell each worker of the run and ask which of its hosts it holds (``sent``
        gets those told); those that answer, and their answers."""
        for pid, channel in list(self._channels):  # _give_up takes some out
            mine, theirs = socket.socketpair()
            conn = None
            try:
                # A stopped worker reads nothing: the keys of a few thousand hosts fill
                # the socket's buffer, and the send would wait for it without end.
                _limit_sends(channel, ANSWER_S)
                # Before the worker is told: a run it was told of waits for this connection.
                conn = Connection(os.dup(channel.fileno()))
                socket.send_fds(channel, [b"B"], [events_fd, flow_fd, theirs.fileno()])
                conn.send(("keys", keys))
            except OSError as exc:  # it ended, or reads nothing: the others take its share
                self._give_up(pid, channel, mine, conn, stuck=isinstance(exc, BlockingIOError))
                continue
            finally:
                theirs.close()
            sent.append((pid, channel, mine, conn))
        opened, held = [], []
        deadline = time.monotonic() + ANSWER_S
        for pid, channel, mine, conn in sent:  # asked all first: they answer at once
            try:
                if not conn.poll(max(0.0, deadline - time.monotonic())):
                    self._give_up(pid, channel, mine, conn, stuck=True)
                    continue
                held.append(set(conn.recv()))
            except (OSError, EOFError):
                self._give_up(pid, channel, mine, conn)
                continue
            _limit_sends(channel, 0)  # it reads: the run's sends wait for it as always
            opened.append((pid, channel, mine, conn))
        return opened, held

    def _give_up(
        self,
        pid: int,
        channel: socket.socket,
        end: socket.socket,
        conn: Connection | None,
        *,
        stuck: bool = False,
    ) -> None:
        """Leave a worker out of this run (its end socket and connection closed), and
        out of this process's later runs: where its part of the talk stands is not known
        (it may answer a question asked of this run in the next). ``stuck``: it did not
        answer in time (a send that could not go on, or no answer), and is said so."""
        _close(end, conn)
        if (pid, channel) not in self._channels:
            return  # given up already
        if stuck and self._on_stuck is not None:
            self._on_stuck(pid)
        self._channels.remove((pid, channel))
        self.size = len(self._channels)
        with contextlib.suppress(OSError):
            channel.shutdown(socket.SHUT_RDWR)  # it hears the end (its owner closes it)
        if self._process is _OwnWorker:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)  # this run's alone: nobody else will use it


def _limit_sends(channel: socket.socket, seconds: float) -> None:
    """A send on ``channel`` (and on every descriptor of its socket) that cannot go on
    for ``seconds`` fails (EAGAIN) instead of waiting; 0: it waits as long as it takes."""
    whole = int(seconds)
    timeval = struct.pack("@ll", whole, int((seconds - whole) * 1_000_000))
    channel.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)


def _close(end: socket.socket, conn: Connection | None) -> None:
    """Give up one worker's part of a run: its end socket and its connection."""
    end.close()
    if conn is not None:
        conn.close()
