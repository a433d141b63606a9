"""A per-host advisory lock against two runs at once (``--lock NAME``, ``lock:``).

The lock is ``flock`` on ``/run/lock/hostops-NAME.lock`` (``$HOSTOPS_LOCK_DIR``
instead when the host's sshd sets it; ``/tmp`` where the directory is not
writable), held by a shell on a channel of the run's own
connection to the host: it lasts exactly as long as that connection. When
hostops ends, or crashes, or the network drops, sshd closes the channel, the
holder reads end-of-file and exits, and the kernel releases the lock: no stale
lock is ever left behind. The holder writes who it is into the lock file, so a
run that finds the lock taken says ``locked by USER@CONTROLLER (pid N, since
TIME)``. The file is opened read-only (``flock`` needs no more), so operators
logging in as different users share it even in a sticky directory.
"""

from __future__ import annotations

import datetime
import getpass
import os
import shlex
import socket
import time

import paramiko

from hostops.host.base import HostFailure
from hostops.host.ssh._paramiko import readable_event
from hostops.host.ssh.failures import reason
from hostops.models import Status

_ACQUIRED = "hostops-lock: acquired"
_BUSY = "hostops-lock: busy "
_INFO_BYTES = 200  # the holder's line, padded: written in place, never truncated
_SLACK_S = 10.0  # beyond --lock-timeout, for the shell to start and answer


def holder_text() -> str:
    """Who this run is, as another run is told: ``USER@CONTROLLER (pid N, since TIME)``."""
    since = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    return f"{getpass.getuser()}@{socket.gethostname()} (pid {os.getpid()}, since {since})"


def lock_script(name: str, timeout: float, holder: str) -> str:
    """The holder's shell script: take the lock (waiting up to ``timeout`` s), say so,
    then hold it until its stdin ends."""
    q = shlex.quote
    info = holder[: _INFO_BYTES - 1].ljust(_INFO_BYTES - 1)
    wait = "-n" if timeout <= 0 else f"-w {timeout:g}"
    return "\n".join(
        [
            'd=${HOSTOPS_LOCK_DIR:-/run/lock}; [ -d "$d" ] && [ -w "$d" ] || d=/tmp',
            f"f=$d/hostops-{name}.lock",
            '[ -e "$f" ] || (umask 0; : >> "$f") 2>/dev/null',
            'exec 9<"$f" || exit 70',
            f'if ! flock {wait} 9; then printf "{_BUSY}%s\\n" "$(head -c {_INFO_BYTES} "$f")"; exit 75; fi',
            f"printf '%s\\n' {q(info)} | dd of=\"$f\" conv=nocreat,notrunc status=none 2>/dev/null",
            f"echo '{_ACQUIRED}'",
            "exec cat >/dev/null",
        ]
    )


def take_lock(
    transport: paramiko.Transport, name: str, timeout: float, holder: str
) -> paramiko.Channel:
    """Take the lock ``name`` on the host; return the channel that holds it (closing it,
    or the connection, releases the lock). Raises HostFailure(error) naming the holder
    when it is taken, or when the host cannot take locks (no ``flock``)."""
    try:
        chan = transport.open_session(timeout=_SLACK_S)
        chan.exec_command(lock_script(name, timeout, holder))
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise HostFailure(Status.ERROR, f"cannot take the lock {name!r}: {reason(exc)}") from None
    deadline = time.monotonic() + max(timeout, 0.0) + _SLACK_S
    readable = readable_event(chan)
    said = b""
    while b"\n" not in said:
        left = deadline - time.monotonic()
        if left <= 0 or (chan.exit_status_ready() and not chan.recv_ready()):
            break
        if chan.recv_ready():
            said += chan.recv(4096)
            continue
        readable.wait(min(left, 0.5))
    line = said.decode("utf-8", "replace").splitlines()[0] if said else ""
    if line == _ACQUIRED:
        return chan
    chan.close()
    if line.startswith(_BUSY):
        who = line[len(_BUSY) :].strip() or "another run (it did not say who)"
        waited = f" (waited {timeout:g} s)" if timeout > 0 else ""
        raise HostFailure(Status.ERROR, f"locked by {who}{waited}")
    why = line or "no answer"
    raise HostFailure(Status.ERROR, f"cannot take the lock {name!r}: {why} (is flock installed?)")
