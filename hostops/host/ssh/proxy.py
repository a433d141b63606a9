"""ProxyCommand, as OpenSSH runs it: ``$SHELL -c "exec COMMAND"`` (tokens already expanded
by hostops.host.settings), its stdin and stdout one end of a socket pair whose other end
carries the SSH connection, its stderr kept to explain a failure, and the command killed
with the connection."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Mapping

from hostops.host.base import HostFailure
from hostops.models import Status

_STDERR_KEPT = 4096  # bytes of the command's stderr kept for the message
_KILL_WAIT_S = 2.0


class ProxyCommand:
    """A running proxy command and our end of its socket pair (``sock``, for paramiko)."""

    def __init__(self, command: str, environ: Mapping[str, str]) -> None:
        """Start ``command`` (as given to the shell). Raises HostFailure (unreachable) when
        it cannot be started."""
        self.command = command
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        shell = environ.get("SHELL") or "/bin/sh"
        try:
            self._process = subprocess.Popen(
                [shell, "-c", command],
                stdin=theirs.fileno(),
                stdout=theirs.fileno(),
                stderr=subprocess.PIPE,
                env=dict(environ),
                start_new_session=True,  # its own group: closing kills its children too
                close_fds=True,
            )
        except OSError as exc:
            ours.close()
            raise HostFailure(
                Status.UNREACHABLE, f"ProxyCommand: cannot run {shell}: {exc.strerror or exc}"
            ) from None
        finally:
            theirs.close()
        self.sock = ours
        self._stderr = bytearray()
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        stderr = self._process.stderr
        assert stderr is not None
        for chunk in iter(lambda: os.read(stderr.fileno(), 4096), b""):
            self._stderr += chunk
            del self._stderr[:-_STDERR_KEPT]

    def explain(self, what: str) -> HostFailure:
        """An ``unreachable`` failure for ``what`` went wrong, with the command's exit status
        and the last line of its stderr, as OpenSSH shows them."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=0.5)
        self._reader.join(timeout=0.5)
        lines = bytes(self._stderr).decode("utf-8", "replace").strip().splitlines()
        said = f" ({lines[-1].strip()})" if lines else ""
        code = self._process.poll()
        state = "is still running" if code is None else f"exited {code}"
        return HostFailure(
            Status.UNREACHABLE, f"ProxyCommand {state}{said}: {what}", transient=False
        )

    def close(self) -> None:
        """Close our end and stop the command and everything it started (HUP, then KILL)."""
        with contextlib.suppress(OSError):
            self.sock.close()
        if self._process.poll() is None:
            _signal_group(self._process.pid, signal.SIGHUP)
            try:
                self._process.wait(timeout=_KILL_WAIT_S)
            except subprocess.TimeoutExpired:
                _signal_group(self._process.pid, signal.SIGKILL)
                self._process.wait()
        else:
            _signal_group(self._process.pid, signal.SIGHUP)  # what it left running
        self._reader.join(timeout=_KILL_WAIT_S)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
