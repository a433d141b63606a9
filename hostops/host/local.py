"""``connection: local``: the command runs in a local subprocess, same result model as SSH."""

from __future__ import annotations

import os
import pwd
import selectors
import signal
import subprocess
from collections.abc import Mapping
from typing import IO

from hostops.host.base import STDERR, STDOUT, HostFailure, Sink
from hostops.host.stdin import Feed, Source
from hostops.models import Status

_CHUNK = 65536
_STDIN = "stdin"  # the selector's tag of the forwarded-stdin pipe
_SPOOL_WAIT_S = 0.1  # how often to look for more of a growing stdin spool


class LocalCommand:
    """A local shell command in its own session (so its whole process group can be killed)."""

    def __init__(
        self,
        command: str,
        env: Mapping[str, str] | None = None,
        stdin: Source = None,
        cwd: str | None = None,
    ) -> None:
        shell = pwd.getpwuid(os.getuid()).pw_shell or "/bin/sh"
        self._proc = subprocess.Popen(
            [shell, "-c", command],
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._stdin = Feed(stdin)
        self._waiting = False  # for more of the spool: the pipe is not watched meanwhile
        if self._proc.stdin is not None:
            os.set_blocking(self._proc.stdin.fileno(), False)
        self._selector = selectors.DefaultSelector()
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._selector.register(self._proc.stdout, selectors.EVENT_READ, STDOUT)
        self._selector.register(self._proc.stderr, selectors.EVENT_READ, STDERR)
        if self._proc.stdin is not None:  # woken as soon as the pipe takes more
            self._selector.register(self._proc.stdin, selectors.EVENT_WRITE, _STDIN)

    def _feed(self) -> None:
        """As much of the forwarded stdin as the pipe takes now; EOF after the last byte."""
        pipe = self._proc.stdin
        if pipe is None:
            return
        try:
            while (chunk := self._stdin.next()) is not None:
                # A writable pipe with nothing to write would wake select() at once.
                self._watch(pipe, bool(chunk))
                if not chunk:
                    return
                self._stdin.sent(os.write(pipe.fileno(), chunk[:_CHUNK]))
        except BlockingIOError:
            return
        except BrokenPipeError:  # the command ended or closed its stdin: the rest is moot
            pass
        self._stdin.close()
        self._watch(pipe, False)
        self._waiting = False
        pipe.close()
        self._proc.stdin = None

    def _watch(self, pipe: IO[bytes], wanted: bool) -> None:
        if wanted == self._waiting:  # watched now but should not be, or the reverse
            if wanted:
                self._selector.register(pipe, selectors.EVENT_WRITE, _STDIN)
            else:
                self._selector.unregister(pipe)
            self._waiting = not wanted

    def pump(self, sink: Sink, wait_s: float) -> bool:
        self._feed()
        if self._waiting:
            wait_s = min(wait_s, _SPOOL_WAIT_S)
        if self._selector.get_map():
            for key, _ in self._selector.select(wait_s):
                if key.data is _STDIN:
                    self._feed()
                    continue
                data = os.read(key.fd, _CHUNK)
                if data:
                    sink(key.data, data)
                else:
                    self._selector.unregister(key.fileobj)
                    key.fileobj.close()  # type: ignore[union-attr]  # our pipes, not fds
            if self._selector.get_map():
                return False
        try:
            self._proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            return False
        self._selector.close()
        return True

    def signal_group(self, name: str, wait_s: float | None = None) -> bool:
        try:
            os.killpg(self._proc.pid, signal.Signals[f"SIG{name}"])
        except ProcessLookupError:
            return False
        return True

    def result(self) -> tuple[int | None, str | None]:
        code = self._proc.returncode
        if code is None:
            return None, None
        if code < 0:
            return None, _signal_name(-code)
        return code, None

    def lost(self) -> str | None:
        return None


class LocalConnection:
    """Runs commands on this machine, in ``env`` (None: this process's environment;
    the worker passes it without the variables that hold the run's secrets) and in
    the directory ``cwd`` (None: this process's)."""

    def __init__(self, env: Mapping[str, str] | None = None, cwd: str | None = None) -> None:
        self._env = env
        self._cwd = cwd

    def start(
        self,
        command: str,
        sudo: bool = False,
        stdin: Source = None,
        *,
        sudo_user: str | None = None,
        tty: bool = False,
    ) -> LocalCommand:
        if sudo:
            raise HostFailure(Status.ERROR, "sudo is not supported for connection: local")
        if tty:
            raise HostFailure(Status.ERROR, "tty is not supported for connection: local")
        return LocalCommand(command, self._env, stdin, self._cwd)

    def is_active(self) -> bool:
        return True

    def close(self) -> None:
        pass


def _signal_name(number: int) -> str:
    """``TERM`` for 15; realtime and unknown signals by number (``SIG37``)."""
    try:
        return signal.Signals(number).name.removeprefix("SIG")
    except ValueError:
        return f"SIG{number}"
