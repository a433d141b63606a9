"""The background process: one per user, started on demand by the first warm command,
gone by itself once it holds no connection.

It listens on a Unix socket in the user's private directory (hostops.keeper.paths),
serves only its own user (``SO_PEERCRED``), owns the worker processes that hold the
connections (hostops.keeper.worker), and forks one process per command
(hostops.keeper.session). Its main loop is single-threaded, so forking stays safe; it
writes to no terminal and keeps no file but its socket.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import selectors
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hostops.fleet._procname import set_process_name
from hostops.keeper import paths, session, wire
from hostops.keeper import worker as keeper_worker
from hostops.keeper.source import ANSWER_S

_TICK_S = 0.5
_LINGER_S = 2.0  # with nothing held and no command running, before exiting
_REQUEST_WAIT_S = 5.0  # for a connected client to send its request
_DESCRIBE_WAIT_S = 5.0
# The longest this loop waits on a worker anywhere: to hand it a message (a worker that
# reads none is stuck, and a full socket must not stop the loop serving everyone else),
# and for it to exit once told to stop (closing its connections), before it is killed.
_WORKER_WAIT_S = 5.0
# A worker that dies sooner than this after its start (no thread or memory to spare, say)
# is replaced when the next command needs it, not at once: no loop of forks meanwhile.
_SHORT_LIFE_S = 1.0
# A worker found stuck (no answer within source.ANSWER_S) but not stopped is killed when
# found so again by a command begun after that (a second spell), within this long.
_SPELL_S = ANSWER_S
_STRIKE_KEPT_S = 600.0


@dataclass(eq=False)  # one process each: found in the list by identity
class _Worker:
    pid: int
    control: socket.socket
    held: int = 0
    started: float = field(default_factory=time.monotonic)
    # What it said it holds, for _describe; None while its answer is awaited.
    described: list[Any] | None = field(default_factory=list)
    stuck_at: float | None = None  # when a command first found it stuck (_from_command)


@dataclass(eq=False)
class _Reports:
    """What a command's process tells the loop while it runs: which workers it found
    stuck (see hostops.keeper.source). Its end: the command is over."""

    sock: socket.socket


class Keeper:
    """The background process's state and loop."""

    def __init__(
        self,
        listener: socket.socket,
        lock: int,
        n_workers: int,
        run: Callable[[list[str]], int],
        retire: Callable[[], None] = lambda: None,
    ) -> None:
        self._listener = listener
        self._retire_socket = retire
        self._lock = lock  # the one-per-user lock: held by this process alone, not its children
        self._run = run
        self._selector = selectors.DefaultSelector()
        self._selector.register(listener, selectors.EVENT_READ, None)
        self._workers: list[_Worker] = []
        self._sessions: set[int] = set()
        self._reports: list[_Reports] = []
        self._idle_since = time.monotonic()
        self._stopping = False
        self._code = paths.code_stamp()
        # What a worker forked now must not hold: the request being answered (its socket,
        # the caller's descriptors: a caller's pipe would never end) and the channels
        # made for it (their worker would never see the command end).
        self._foreign: list[socket.socket | int] = []
        # Last: a worker is forked from this state (see _forget_own).
        for _ in range(n_workers):
            self._workers.append(self._start_worker())

    def _start_worker(self) -> _Worker:
        mine, theirs = wire.pair()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                mine.close()
                self._forget_own()
                for held in self._foreign:  # best effort: a worker that cannot start
                    with contextlib.suppress(OSError):  # dies without a word
                        if isinstance(held, int):
                            os.close(held)
                        else:
                            held.close()
                keeper_worker.main(theirs)
            except BaseException:  # whatever happened: never back into the loop
                code = 1
            os._exit(code)
        theirs.close()
        mine.settimeout(_WORKER_WAIT_S)  # sends; it is read only when select says so
        found = _Worker(pid, mine)
        self._selector.register(mine, selectors.EVENT_READ, found)
        return found

    def retire(self) -> None:
        """Take no more commands: the socket and the lock go at once (a new background
        process can start), the commands already running finish."""
        if self._stopping:
            return
        self._stopping = True
        self._retire_socket()
        self._selector.unregister(self._listener)
        self._listener.close()
        os.close(self._lock)

    def _forget_own(self) -> None:
        """In a child: close what is the background process's alone (its listening socket,
        its lock, the workers' control sockets), so that a child outliving it keeps
        neither a new one from starting nor an old worker alive."""
        if not self._stopping:
            self._listener.close()
            os.close(self._lock)
        for w in self._workers:
            w.control.close()
        for r in self._reports:
            r.sock.close()

    def serve(self) -> None:
        """Accept commands until stopped or idle."""
        while not self._stopping or self._sessions:
            for key, _mask in self._selector.select(_TICK_S):
                if key.data is None:
                    self._accept()
                else:
                    self._heard(key.data)
            self._reap()
            if self._sessions or any(w.held for w in self._workers):
                self._idle_since = time.monotonic()
            elif time.monotonic() - self._idle_since > _LINGER_S:
                break

    def _accept(self) -> None:
        try:
            client, _addr = self._listener.accept()
        except OSError:
            return
        with contextlib.ExitStack() as stack:
            stack.callback(client.close)
            if wire.peer_uid(client) != os.getuid():
                return  # another user: not a word
            client.settimeout(_REQUEST_WAIT_S)
            try:
                request, fds = wire.recv(client)
            except (OSError, ValueError):
                return
            for fd in fds:
                stack.callback(os.close, fd)
            self._foreign = [client, *fds]
            stack.callback(setattr, self, "_foreign", [])
            if request is None:
                return
            client.settimeout(None)
            op = request.get("op")
            # A client may be gone by the time it is answered (Ctrl-C at its start): that
            # ends its request, never this loop and everyone else's commands.
            if op == "run" and request.get("code") != self._code:
                # Another hostops (upgraded, edited) than this process runs: it must not
                # serve it. A new one takes over now; this one ends once its commands have.
                _tell(client, {"stale": True})
                self.retire()
            elif op == "run" and len(fds) >= 3:
                if _tell(client, {"accepted": True}):
                    self._session(client, request, fds)
            elif op == "status":
                _tell(client, {"held": self._describe(), "pid": os.getpid()})
            elif op == "stop":
                held = self._describe()
                for w in self._workers:
                    with contextlib.suppress(OSError):
                        wire.send(w.control, {"op": "stop"})
                _tell(client, {"stopped": len(held)})
                self.retire()

    def _session(self, client: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
        """Fork the process that carries out ``request``, with a channel to each worker."""
        channels = self._channels()
        ours, theirs = wire.pair()
        try:
            pid = os.fork()
        except OSError as exc:  # no process to spare now (EAGAIN)
            _tell(client, {"error": f"cannot carry out the command: {exc}", "code": 4})
            pid = None
        if pid == 0:
            ours.close()
            self._forget_own()
            session.main(client, request, fds, channels, self._run, theirs)
        theirs.close()
        for _pid, mine in channels:
            mine.close()
        if pid is None:
            ours.close()
            return
        self._sessions.add(pid)
        reports = _Reports(ours)
        self._reports.append(reports)
        self._selector.register(ours, selectors.EVENT_READ, reports)

    def _from_command(self, reports: _Reports) -> None:
        """A command's process found a worker stuck (it did not answer within
        hostops.keeper.source.ANSWER_S): it is killed and replaced, or every command
        after would wait for it as long. Its connections, and what other commands run
        on it, are lost with it, so a worker that may only have been slow (a starved
        CPU) is given a second chance: killed at once only when stopped (SIGSTOP, a
        debugger), else when found so again at least a wait later (by a command begun
        after the first gave up: reports of commands that waited together are one spell)
        within _STRIKE_KEPT_S."""
        if reports not in self._reports or not _readable(reports.sock):
            return  # read already (by _describe's own wait) since select reported it
        message = _receive(reports.sock)
        if message is None:  # the command is over
            self._selector.unregister(reports.sock)
            self._reports.remove(reports)
            reports.sock.close()
            return
        pid = message.get("pid") if message.get("op") == "stuck" else None
        w = next((w for w in self._workers if pid and w.pid == pid), None)
        if w is None:  # not ours, or replaced already
            return
        now = time.monotonic()
        if w.stuck_at is not None and now - w.stuck_at > _STRIKE_KEPT_S:
            w.stuck_at = None  # long ago: a spell of its own, not a second one
        if _stopped(w.pid) or (w.stuck_at is not None and now - w.stuck_at >= _SPELL_S):
            self._replace(w)
        elif w.stuck_at is None:
            w.stuck_at = now

    def _channels(self) -> list[tuple[int, socket.socket]]:
        """A new channel to each worker, for one command: (pid, our end). A worker that
        died unnoticed is replaced first; one that cannot be has no channel."""
        channels: list[tuple[int, socket.socket]] = []
        for i, first in enumerate(list(self._workers)):
            mine = self._attach(first)
            if mine is None and self._replace(first):  # it died unnoticed: its replacement
                mine = self._attach(self._workers[i])
            if mine is not None:
                channels.append((self._workers[i].pid, mine))
                self._foreign.append(mine)
        return channels

    def _attach(self, w: _Worker) -> socket.socket | None:
        """A new channel to ``w`` for one command; None if it cannot take one."""
        mine, theirs = socket.socketpair()
        try:
            wire.send(w.control, {"op": "attach"}, [theirs.fileno()])
        except OSError:
            mine.close()
            return None
        finally:
            theirs.close()
        return mine

    def _heard(self, source: _Worker | _Reports) -> None:
        """Read what a worker or a running command said (select reported it)."""
        if isinstance(source, _Reports):
            self._from_command(source)
        else:
            self._from_worker(source)

    def _from_worker(self, w: _Worker) -> None:
        if w not in self._workers:  # replaced already, since select reported it
            return
        if not _readable(w.control):
            return  # read already (by _describe's own wait) since select reported it
        message = _receive(w.control)
        if message is None:  # it died (or said nonsense): a new one takes its place
            self._replace(w, now=time.monotonic() - w.started >= _SHORT_LIFE_S)
            return
        if message.get("op") == "held":
            w.held = int(message["n"])
        elif message.get("op") == "described":
            w.described = list(message["held"])

    def _replace(self, w: _Worker, now: bool = True) -> bool:
        """Reap ``w``, which died (or is stuck: it is killed), and put a new worker in
        its place unless stopping (or not ``now``): False if none is there (the next
        command tries again)."""
        with contextlib.suppress(KeyError, ValueError):  # replaced before, but not its place
            self._selector.unregister(w.control)
        w.control.close()
        w.held = 0  # what it held went with it
        w.described = []  # and nothing to wait for in _describe
        _end(w.pid, 0.0)
        w.pid = 0  # reaped: the number may be another process's soon
        if self._stopping or not now:
            return False
        try:
            self._workers[self._workers.index(w)] = self._start_worker()
        except OSError:  # no process to spare now (fork's EAGAIN)
            return False
        return True

    def _describe(self) -> list[Any]:
        """Every worker's account of what it holds (a bounded wait for each)."""
        for w in self._workers:
            try:
                wire.send(w.control, {"op": "describe"})
            except OSError:
                w.described = []  # it ended: nothing held (the loop replaces it)
            else:
                w.described = None
        deadline = time.monotonic() + _DESCRIBE_WAIT_S
        while any(w.described is None for w in self._workers) and time.monotonic() < deadline:
            for key, _mask in self._selector.select(_TICK_S):
                if key.data is not None:
                    self._heard(key.data)
        return [entry for w in self._workers for entry in (w.described or [])]

    def _reap(self) -> None:
        for pid in list(self._sessions):
            with contextlib.suppress(ChildProcessError):
                done, _status = os.waitpid(pid, os.WNOHANG)
                if not done:
                    continue
            self._sessions.discard(pid)

    def stop(self) -> None:
        """Stop the workers (their connections close) and wait for them."""
        for w in self._workers:
            with contextlib.suppress(OSError):
                wire.send(w.control, {"op": "stop"})
        deadline = time.monotonic() + _WORKER_WAIT_S
        for w in self._workers:
            _end(w.pid, max(0.0, deadline - time.monotonic()))


def _receive(sock: socket.socket) -> dict[str, Any] | None:
    """The next message from a worker or a command's process (no descriptor is expected
    from them: any is closed); None at its end, or for one that is not a message."""
    try:
        message, fds = wire.recv(sock)
    except (OSError, ValueError):
        return None
    for fd in fds:
        os.close(fd)
    return message


def _stopped(pid: int) -> bool:
    """Whether the process ``pid`` is stopped (by a signal, or traced): Linux's /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] in (b"T", b"t")
    except (OSError, IndexError):
        return False


def _readable(sock: socket.socket) -> bool:
    """Whether ``sock`` has something to read now (or is at its end)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _tell(client: socket.socket, message: dict[str, Any]) -> bool:
    """Answer a client; False if it is gone."""
    try:
        wire.send(client, message)
    except OSError:
        return False
    return True


def _end(pid: int, grace_s: float) -> None:
    """Reap the worker ``pid``, killed if it has not exited within ``grace_s``: never a
    wait without end on a worker that stopped answering."""
    if pid <= 0:  # an empty place (see Keeper._replace); 0 would be any child of this
        return  # group to wait for, and the whole group to kill
    deadline = time.monotonic() + grace_s
    try:
        while os.waitpid(pid, os.WNOHANG)[0] == 0:
            if time.monotonic() >= deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return
            time.sleep(0.05)
    except (ChildProcessError, ProcessLookupError):
        pass  # reaped already


def main(run: Callable[[list[str]], int], workers: int | None = None) -> int:
    """Entry point: become the background process unless one already serves this user.
    Returns (in the process that was started) once the background process listens."""
    path = paths.socket_path()
    folder = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    if not _lock(folder, path):
        return 0  # another one serves: the client connects to it
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # left by one that was killed
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    old = os.umask(0o077)
    try:
        listener.bind(path)
    finally:
        os.umask(old)
    ours = os.stat(path).st_ino
    listener.listen(128)
    if os.fork():
        return 0  # the starter: the client may connect now
    os.setsid()
    set_process_name("hostops-keeper")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def retire() -> None:
        # New commands start a new one from now on; those already queued here see the
        # socket close unanswered and try again.
        with contextlib.suppress(OSError):
            if os.stat(path).st_ino == ours:
                os.unlink(path)

    keeper = Keeper(listener, folder, workers or os.cpu_count() or 1, run, retire)
    try:
        keeper.serve()
    finally:
        keeper.retire()
        keeper.stop()
    os._exit(0)


def _lock(folder: int, path: str) -> bool:
    """Take the one-per-user lock (on the private directory itself: no lock file). Held
    by another: False at once if that one answers, else wait for it to end (it may be
    exiting) a few seconds."""
    deadline = time.monotonic() + _REQUEST_WAIT_S
    while True:
        try:
            fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if _answers(path) or time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def _answers(path: str) -> bool:
    try:
        wire.dial(path).close()
    except OSError:
        return False
    return True
