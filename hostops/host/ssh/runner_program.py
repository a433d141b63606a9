"""The runner: a small program hostops starts on a kept (warm) SSH connection, once, as
one long-lived exec session, to run that connection's later commands without opening a
channel, forking an sshd session and going through the login shell for each.

This file is sent to the host as text (hostops.host.ssh.runner reads it) and run by
``python3`` there: it must stay Python >= 3.6 and the standard library only (no
``from __future__ import annotations``, no walrus; generic annotations quoted). hostops
imports it too, for the framing, which so exists once for both ends.

Each command runs exactly as sshd runs an exec request: in a new session (its pid is
its process group, reported first), stdin /dev/null, stdout and stderr on two pipes,
``execv(SHELL, [NAME, "-c", command])`` with NAME the last part of $SHELL, as sshd runs a
login shell on a command (sshd set $SHELL from the password database), in the runner's
(the session's) working directory, umask and environment.
It ends when the shell has exited and both pipes reached end-of-file; its exit
status, or the signal that killed it (named as sshd names it), comes last.

Frames, both ways, over the session's stdin and stdout: one byte of kind, four of
payload length (big-endian), the payload. The runner's stderr is its own diagnostics.
"""

import os
import select
import signal
import struct
import sys
import time

HEADER = struct.Struct(">cI")
MAX_PAYLOAD = 1 << 24  # more than this is a broken stream, not a frame
# client -> runner
COMMAND = b"C"  # payload: the command line (bytes)
KILL = b"K"  # payload: b"NAME PGID": signal NAME to the process group PGID
# runner -> client
READY = b"R"  # payload: the Python version; sent once, at start
PGID = b"P"  # payload: the command's process group (its pid), decimal
STDOUT = b"O"
STDERR = b"E"
EXIT = b"X"  # payload: b"exit N" or b"signal NAME"
KILLED = b"k"  # answer to KILL: b"1" sent, b"0" not (no such group, not allowed)

_READ = 65536
_OUT_HIGH = 262144  # output waiting for the SSH window: stop reading the command's pipes
# Frames are held this long before they are written, unless the command ended or an
# answer is due: a short command's process group, output and exit then leave in one
# write, one SSH packet for sshd to send and the client to decrypt instead of three.
# A long command's output reaches the client at most this much later.
_GATHER_S = 0.004
_GATHER_MAX = 32768  # this much output waiting goes at once
# The names sshd gives in an exit-signal (OpenSSH's sig2name); any other is this one.
_SSH_SIGNALS = frozenset(
    (
        "ABRT",
        "ALRM",
        "FPE",
        "HUP",
        "ILL",
        "INT",
        "KILL",
        "PIPE",
        "QUIT",
        "SEGV",
        "TERM",
        "USR1",
        "USR2",
    )
)
_OTHER_SIGNAL = "SIG@openssh.com"


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    """One frame, ready to write."""
    return HEADER.pack(kind, len(payload)) + payload


class FrameReader:
    """Cuts a byte stream into frames, however the stream was split."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> "list[tuple[bytes, bytes]]":
        """The frames completed by ``data``, in order; ValueError on a broken stream."""
        self._buf += data
        frames = []
        at = 0
        while len(self._buf) - at >= HEADER.size:
            kind, size = HEADER.unpack_from(self._buf, at)
            if size > MAX_PAYLOAD:
                raise ValueError(f"runner stream out of step: a frame of {size} bytes")
            end = at + HEADER.size + size
            if len(self._buf) < end:
                break
            frames.append((kind, bytes(self._buf[at + HEADER.size : end])))
            at = end
        del self._buf[:at]
        return frames

    def partial(self) -> bool:
        """Part of a frame is waiting for the rest."""
        return bool(self._buf)


def signal_name(number: int) -> str:
    """The name sshd would report in an exit-signal for signal ``number``."""
    try:
        name = signal.Signals(number).name[3:]
    except ValueError:
        return _OTHER_SIGNAL
    return name if name in _SSH_SIGNALS else _OTHER_SIGNAL


class _Command:
    """One command started by the runner: its pid and its two pipes."""

    def __init__(self, pid: int, pipes: "dict[int, bytes]") -> None:
        self.pid = pid
        self.pipes = pipes  # open read ends -> frame kind (STDOUT, STDERR)
        self.status = None  # type: int | None  # wait status, once reaped

    def reap(self) -> None:
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.status = status

    def ending(self) -> "bytes | None":
        """The EXIT payload once the shell exited and both pipes reached end-of-file."""
        if self.pipes or self.status is None:
            return None
        if os.WIFSIGNALED(self.status):
            return b"signal " + signal_name(os.WTERMSIG(self.status)).encode()
        return b"exit %d" % os.WEXITSTATUS(self.status)


def _spawn(shell: str, command: bytes) -> _Command:
    """Fork and exec the command as sshd's session child does (see the module docstring)."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = _posix_spawn(shell, command, out_w, err_w) if _SPAWN else 0
    if not pid:
        pid = os.fork()
    if pid == 0:  # the child: nothing here may return
        try:
            os.setsid()
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            # Python ignores these; an ignored signal stays ignored across exec.
            for number in _DEFAULT_SIGNALS:
                signal.signal(number, signal.SIG_DFL)
            os.execv(shell, _argv(shell, command))
        except BaseException as exc:  # as /bin/sh's failed exec: a line, exit 127
            try:
                os.write(2, f"hostops runner: {shell}: {getattr(exc, 'strerror', exc)}\n".encode())
            finally:
                os._exit(127)
    os.close(out_w)
    os.close(err_w)
    return _Command(pid, {out_r: STDOUT, err_r: STDERR})


def _argv(shell: str, command: bytes) -> "list[bytes]":
    """The shell's arguments as sshd gives them: its name without the directory ($0)."""
    return [shell.rsplit("/", 1)[-1].encode(), b"-c", command]


_SPAWN = sys.version_info >= (3, 8) and hasattr(os, "POSIX_SPAWN_DUP2")
_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD)


def _posix_spawn(shell: str, command: bytes, out_w: int, err_w: int) -> int:
    """The same as the fork below, through posix_spawn (vfork-like: the runner's memory
    is not copied, about 0.2 ms less per command); 0 when it cannot (then the fork says
    why, as sshd would)."""
    try:
        return os.posix_spawn(
            shell,
            _argv(shell, command),
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, out_w, 1),
                (os.POSIX_SPAWN_DUP2, err_w, 2),
            ],
            setsid=True,
            setsigdef=_DEFAULT_SIGNALS,
        )
    except (OSError, ValueError, NotImplementedError):
        return 0


def _kill(payload: bytes, running: "_Command | None") -> bytes:
    """Send the signal a KILL frame names to the running command's process group and the
    other groups of the session it leads (no other: not the runner's own, not a finished
    command's, whose pid may be reused): b"1" if any was signalled."""
    name, pgid = payload.split()
    if running is None or int(pgid) != running.pid:
        return b"0"
    number = getattr(signal, "SIG" + name.decode(), None)
    if number is None:
        return b"0"
    sent = b"0"
    for group in [running.pid, *_other_groups(running.pid)]:
        try:
            os.killpg(group, number)
            sent = b"1"
        except OSError:
            pass
    return sent


def _other_groups(sid: int) -> "list[int]":
    """The process groups of session ``sid`` besides its leader's: tcsh and csh put each
    background job in a group of its own, even without a terminal. From /proc where
    there is one, else from ``ps``."""
    rows = []  # (session, group) of every process
    try:
        names = [n for n in os.listdir("/proc") if n.isdigit()]
    except OSError:
        names = []
    for name in names:
        try:
            with open("/proc/" + name + "/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            rows.append((int(fields[3]), int(fields[2])))
        except (OSError, IndexError, ValueError):
            pass  # gone meanwhile
    if not names:
        import subprocess

        try:
            out = subprocess.run(
                ["ps", "-A", "-o", "sid=", "-o", "pgid="],
                check=False,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            ).stdout
        except OSError:
            out = b""
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                rows.append((int(parts[0]), int(parts[1])))
    return sorted({group for session, group in rows if session == sid and group != sid})


class _Output:
    """The session's stdout, written as the SSH window allows (non-blocking)."""

    def __init__(self) -> None:
        os.set_blocking(1, False)
        self.buf = bytearray()

    def add(self, data: bytes) -> None:
        self.buf += data

    def flush(self) -> None:
        try:
            while self.buf:
                del self.buf[: os.write(1, self.buf)]
        except BlockingIOError:
            pass


def serve() -> None:
    """Serve frames from stdin until it ends (the connection or the client closed it)."""
    # The login shell: sshd set $SHELL from the password database.
    shell = os.environ.get("SHELL") or "/bin/sh"
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda number, frame: None)  # only to wake poll
    out = _Output()
    reader = FrameReader()
    out.add(frame(READY, sys.version.split()[0].encode()))
    running = None  # type: _Command | None
    due = None  # type: float | None  # when the frames held in out.buf must be written
    urgent = True  # write what is held now: the command ended, or an answer is due
    blocked = False  # the SSH window took only part of the last write: no holding then
    while True:
        if out.buf:
            now = time.monotonic()
            if blocked:  # what the window did not take goes as soon as it can
                due = now
            elif due is None:
                due = now + _GATHER_S
            if urgent or len(out.buf) >= _GATHER_MAX or now >= due:
                out.flush()
                due = None
                blocked = bool(out.buf)  # the rest goes when POLLOUT says it can
            urgent = False
        poller = select.poll()
        poller.register(0, select.POLLIN)
        poller.register(wake_r, select.POLLIN)
        if out.buf and due is None:
            poller.register(1, select.POLLOUT)
        if running is not None and len(out.buf) < _OUT_HIGH:
            for fd in running.pipes:
                poller.register(fd, select.POLLIN)
        wait = None if due is None else max(0, int((due - time.monotonic()) * 1000) + 1)
        for fd, _event in poller.poll(wait):
            if fd == 0:
                data = os.read(0, _READ)
                if not data:
                    return  # the client is gone: so are we (the command, as sshd's, lives on)
                for kind, payload in reader.feed(data):
                    if kind == COMMAND and running is None:
                        running = _spawn(shell, payload)
                        out.add(frame(PGID, b"%d" % running.pid))
                    elif kind == KILL:
                        out.add(frame(KILLED, _kill(payload, running)))
                        urgent = True
                    else:
                        sys.stderr.write(f"hostops runner: unexpected frame {kind!r}\n")
            elif fd == wake_r:
                os.read(wake_r, _READ)
            elif running is not None and fd in running.pipes:
                data = os.read(fd, _READ)
                if data:
                    out.add(frame(running.pipes[fd], data))
                else:
                    del running.pipes[fd]
                    os.close(fd)
        if running is not None:
            running.reap()
            ending = running.ending()
            if ending is not None:
                out.add(frame(EXIT, ending))
                running = None
                urgent = True


if __name__ == "__main__":
    serve()
