"""Warm commands through the runner (hostops.host.ssh.runner_program) of a kept connection.

A kept connection (``--persist``) starts one runner when it is parked, off the run's
critical path; a later command on it is then a frame to the runner instead of a new
exec channel: no channel to open and close, no sshd session to fork, no login shell
and /bin/sh to go through (2-5x less CPU on both sides). The command runs exactly as
sshd would run it (see runner_program), so the results are the same as cold.

Only plain commands go through the runner, one at a time: sudo (its password
exchange), a terminal, forwarded stdin, or a second command while one runs take an
exec channel as before, and so does any command whose SendEnv/SetEnv environment
differs from the one the runner's session was given (sshd's AcceptEnv decided what
of it the session has; the runner never sets variables itself). A runner that cannot
start (no ``python3``, older than 3.6) leaves the connection on exec channels.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

import paramiko

from hostops.host.base import STDERR, STDOUT, HostFailure, Sink, is_thread_limit
from hostops.host.ssh import runner_program as program
from hostops.host.ssh.failures import reason
from hostops.host.ssh.keepalive import Keepalive
from hostops.host.ssh.reading import CHUNK, drain
from hostops.host.ssh.shell import login_command
from hostops.host.ssh.watchdog import watchdog
from hostops.models import Host, Status

# The inventory variable naming the runner's interpreter on a host (else python3 from PATH).
INTERPRETER_VAR = "hostops_python_interpreter"
_KILL_WAIT_S = 5.0
_DIAGNOSTICS = 4096  # the runner's own stderr kept, to say why it ended


def interpreter(host: Host) -> str:
    """The interpreter that runs ``host``'s runner."""
    return str(host.vars.get(INTERPRETER_VAR) or "python3")


def argv(python: str, size: int) -> list[str]:
    """How the runner is started: ``python`` isolated from the user's PYTHON* variables,
    user site and working directory (-I), without site-packages (-S: the standard library
    is all it needs, and start-up is faster); it refuses Python < 3.6, then runs the
    program, read from its stdin (``size`` bytes; the next frames are sent only after
    its READY: nothing is read ahead)."""
    bootstrap = (
        "import sys;sys.version_info>=(3,6) or sys.exit('hostops runner: Python >= 3.6 needed');"
        f"exec(compile(sys.stdin.buffer.read({size}),'hostops-runner','exec'))"
    )
    return [python, "-I", "-S", "-c", bootstrap]


class _CannotStart(Exception):
    """The runner said why it could not start (its message is the reason)."""


class RunnerGone(Exception):
    """The runner ended before the command started: it may take an exec channel."""


class Runner:
    """The runner of one connection: started in a thread of its own, then used by one
    command at a time. ``environment``: the SendEnv/SetEnv requests its session got."""

    def __init__(
        self,
        transport: paramiko.Transport,
        python: str,
        environment: Mapping[str, str],
        timeout: float,
    ) -> None:
        self.environment = dict(environment)
        self._transport = transport
        self._lock = threading.Lock()
        self._state = "starting"  # starting, ready, busy, gone; unavailable: cannot start
        self._chan: paramiko.Channel | None = None
        self.reader = program.FrameReader()
        self.failure: str | None = None  # why it could not start
        try:
            threading.Thread(
                target=self._start, args=(python, timeout), name="runner", daemon=True
            ).start()
        except RuntimeError as exc:  # no thread to spare now: try again at the next parking
            if not is_thread_limit(exc):
                raise
            self._state = "gone"

    @property
    def unavailable(self) -> bool:
        """It could not start: this connection stays on exec channels."""
        return self._state == "unavailable"

    def wanted(self, environment: Mapping[str, str]) -> bool:
        """Worth keeping for commands with ``environment``: starting, or ready with it."""
        with self._lock:
            return self._state == "starting" or (
                self._state == "ready" and self.alive() and self.environment == environment
            )

    def describe(self) -> str:
        """Its state, for ``hostops persist``: starting, ready, busy, gone, or
        ``unavailable: WHY``."""
        with self._lock:
            state = self._state
        return f"unavailable: {self.failure}" if state == "unavailable" else state

    def _start(self, python: str, timeout: float) -> None:
        source = Path(program.__file__).read_bytes()
        chan = None
        try:
            with watchdog(timeout, self.close):
                chan = self._chan = self._transport.open_session(timeout=timeout)
                if self.environment:
                    chan.update_environment(self.environment)
                chan.exec_command(login_command('exec "$@"', *argv(python, len(source))))
                chan.sendall(source)
                chan.settimeout(timeout)
                frames: list[tuple[bytes, bytes]] = []
                while not frames:
                    data = chan.recv(CHUNK)
                    if not data:
                        raise _CannotStart(self._diagnostics() or "the runner ended at once")
                    frames = self.reader.feed(data)
                if frames[0][0] != program.READY or len(frames) > 1:
                    raise _CannotStart("the runner did not say it is ready")
                chan.setblocking(False)
        except Exception as exc:  # whatever it was, never "starting" for good
            # A runner that could not start ends its channel while we still send it the
            # program: the send fails ("Socket is closed"), with the reason on stderr.
            if isinstance(exc, _CannotStart):
                self.failure = str(exc)
            else:
                said = self._diagnostics() if chan is not None else ""
                self.failure = said or reason(exc)
            with self._lock:
                self._state = "unavailable"
            if chan is not None:
                chan.close()
            return
        with self._lock:
            if self._state == "starting":
                self._state = "ready"

    def _diagnostics(self) -> str:
        """The runner's (or its shell's) own last words on stderr."""
        assert self._chan is not None
        said = b""
        while self._chan.recv_stderr_ready():
            said = (said + self._chan.recv_stderr(CHUNK))[-_DIAGNOSTICS:]
        return said.decode(errors="replace").strip().replace("\n", "; ")

    def alive(self) -> bool:
        chan = self._chan
        return chan is not None and not (
            chan.closed or chan.eof_received or chan.exit_status_ready()
        )

    def take(self, environment: Mapping[str, str]) -> paramiko.Channel | None:
        """The runner's channel for one command, if it is ready and free and its session
        has ``environment``; None: take an exec channel."""
        with self._lock:
            if self._state != "ready" or self.environment != environment:
                return None
            if not self.alive():
                self._state = "gone"
                return None
            self._state = "busy"
            assert self._chan is not None
            return self._chan

    def release(self) -> None:
        """The command ended (its EXIT frame was read): ready for the next."""
        with self._lock:
            if self._state == "busy":
                self._state = "ready"

    def close(self) -> None:
        """End the runner (it exits at end-of-file; a command it ran lives on, as
        sshd's do when their channel closes)."""
        with self._lock:
            if self._state != "unavailable":
                self._state = "gone"
        if self._chan is not None:
            self._chan.close()


class RunnerCommand:
    """A command run by a connection's runner; the interface of SshCommand (see
    hostops.host.base.RunningCommand). Kills are KILL frames to the runner, which
    signals the group it reported: no exec channel per kill, and the runner reads
    frames even while the command's output waits for the SSH window (flow control)."""

    def __init__(
        self,
        runner: Runner,
        chan: paramiko.Channel,
        transport: paramiko.Transport,
        command: str,
        keepalive_s: float,
        keepalive_count: int,
        start_timeout: float,
    ) -> None:
        self._runner = runner
        self._chan = chan
        self._transport = transport
        self._alive = Keepalive(transport, keepalive_s, keepalive_count)
        self._pending: list[tuple[bytes, bytes]] = []  # read while waiting for an answer
        self._ending: bytes | None = None
        self._pgid: int | None = None
        try:
            chan.settimeout(start_timeout)
            # Its process group first; a runner gone before it started nothing (to the
            # margin of a runner killed between its fork and this frame).
            pgid = self._ask(
                program.frame(program.COMMAND, command.encode("utf-8", "surrogateescape")),
                program.PGID,
            )
            if pgid is None:
                raise RunnerGone
            self._pgid = int(pgid)
        except TimeoutError:
            # Alive but silent: it may have started the command, so no exec channel may
            # run it again; the host fails instead (a run never does a command twice).
            runner.close()
            raise HostFailure(
                Status.ERROR,
                f"the runner on the host did not report the command started within"
                f" {start_timeout:g} s (not run again: it may have started)",
            ) from None
        except (paramiko.SSHException, EOFError, OSError, ValueError):
            runner.close()
            raise RunnerGone from None
        except RunnerGone:
            runner.close()
            raise
        finally:
            chan.setblocking(False)

    def _ask(self, frame: bytes, answer: bytes) -> bytes | None:
        """Send ``frame``, then read (within the channel's timeout) until the runner's
        ``answer`` frame comes: its payload; None if the runner's channel ended first.
        The command's frames read meanwhile are kept for pump."""
        self._chan.sendall(frame)
        while True:
            data = self._chan.recv(CHUNK)
            if not data:
                return None
            found = None
            for kind, payload in self._runner.reader.feed(data):
                if kind == answer and found is None:
                    found = payload
                else:
                    self._pending.append((kind, payload))
            if found is not None:
                return found

    def _read(self, wait_s: float) -> list[tuple[bytes, bytes]]:
        """The frames that arrived, waiting up to ``wait_s`` for the first data (the
        runner's own stderr is dropped). The wait is paramiko's own, on the channel:
        its fileno() would keep a pipe pair open for as long as the connection is kept
        (and write to it for every packet)."""
        chan, frames = self._chan, self._pending
        self._pending = []
        try:
            if not (frames or chan.recv_ready() or chan.closed or chan.eof_received):
                chan.settimeout(wait_s)
                try:
                    frames += self._runner.reader.feed(chan.recv(CHUNK))
                except TimeoutError:
                    pass
                finally:
                    chan.setblocking(False)
            drain(
                chan.recv_ready,
                chan.recv,
                lambda data: frames.extend(self._runner.reader.feed(data)),
            )
            drain(chan.recv_stderr_ready, chan.recv_stderr, lambda data: None)
        except ValueError as exc:  # out of step: nothing it says can be trusted now
            self._runner.close()
            raise HostFailure(Status.ERROR, f"the runner on the host failed: {exc}") from None
        return frames

    def pump(self, sink: Sink, wait_s: float) -> bool:
        chan = self._chan
        frames = self._read(wait_s)
        for kind, payload in frames:
            if kind == program.STDOUT:
                sink(STDOUT, payload)
            elif kind == program.STDERR:
                sink(STDERR, payload)
            elif kind == program.EXIT:
                self._ending = payload
                self._runner.release()
            # A late KILLED (its kill had stopped waiting) says nothing more: dropped.
        if frames:
            self._alive.heard()
        if self._ending is not None:
            return True
        self._alive.check(self.signal_group)
        # The connection, or the runner, ended (and what it sent before is read).
        if (chan.closed or chan.eof_received) and not chan.recv_ready():
            self._runner.close()
            return True
        return False

    def signal_group(self, name: str, wait_s: float | None = None) -> bool:
        if self._pgid is None or not self._transport.is_active():
            self._runner.close()
            return False
        if self._ending is not None:
            return True  # ended: nothing left to signal in it
        wait_s = _KILL_WAIT_S if wait_s is None else wait_s
        chan = self._chan
        try:
            chan.settimeout(wait_s)
            killed = self._ask(
                program.frame(program.KILL, f"{name} {self._pgid}".encode()), program.KILLED
            )
        except (TimeoutError, paramiko.SSHException, EOFError, OSError, ValueError):
            self._runner.close()
            return False
        finally:
            chan.setblocking(False)
        if killed is None:
            self._runner.close()
            return False
        return killed == b"1"

    def result(self) -> tuple[int | None, str | None]:
        if self._ending is None:
            return None, None
        kind, _, value = self._ending.decode().partition(" ")
        return (int(value), None) if kind == "exit" else (None, value)

    def lost(self) -> str | None:
        if self._ending is not None:
            return None
        if not self._transport.is_active():
            return "connection lost before the command finished"
        return "the runner on the host ended before the command finished"
