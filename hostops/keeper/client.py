"""The ``hostops`` command's side of a warm run: hand the command to the background
process and stand in for it until it ends.

What crosses the socket: the arguments, the working directory, the environment, the
umask, and the caller's standard input, output and error (and its terminal, for
prompts) as file descriptors -- so the run writes to the very terminal or pipe the
user gave, and the views behave as in a cold run. Ctrl-C, Ctrl-Z and the end of the
terminal are relayed; the background process answers with the exit code.

Standard library only: a warm command imports no paramiko and starts no hostops
process (the background process is started once, on demand).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from types import FrameType

from hostops.keeper import paths, persist, wire

EXIT_USAGE = 2
EXIT_INTERNAL = 4
_START_WAIT_S = 15.0  # for a background process just started to listen
# What the background process's own environment keeps of the caller's: nothing that
# could hold a secret. Each command brings its whole environment, for that command only.
_KEPT_VARS = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TMPDIR",
    "XDG_RUNTIME_DIR",
    "PYTHONPATH",
    "VIRTUAL_ENV",
)


def main(argv: Sequence[str]) -> int | None:
    """Run ``argv`` (without the program name) warm and return its exit code, or None
    when it is not a warm run (no --persist): the caller runs it as usual."""
    if persist.wanted(argv, os.environ) is None:
        return None
    try:
        cwd = os.getcwd()
    except OSError:
        return None  # a deleted working directory: the cold run says so
    try:
        path = paths.socket_path()
    except paths.PlaceError as exc:
        _say(str(exc))
        return EXIT_USAGE
    for _attempt in range(3):
        try:
            sock = _connect(path)
        except OSError as exc:
            _say(f"cannot reach the background process at {path}: {exc.strerror or exc}")
            return EXIT_INTERNAL
        with sock:
            code = _hand_over(sock, list(argv), cwd)
        if code is not None:
            return code
    _say(f"the background process at {path} did not take the command")
    return EXIT_INTERNAL


def _say(text: str) -> None:
    sys.stderr.write(f"hostops: error: {text}\n")
    sys.stderr.flush()


def _connect(path: str) -> socket.socket:
    """A connection to the background process, started first if none listens."""
    try:
        return wire.dial(path)
    except (FileNotFoundError, ConnectionRefusedError):
        pass
    start()
    deadline = time.monotonic() + _START_WAIT_S
    while True:
        try:
            return wire.dial(path)
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def start() -> None:
    """Start the background process (it detaches itself once it listens)."""
    import subprocess  # here only: most warm commands find one running (~4 ms of start-up)

    env = {k: os.environ[k] for k in _KEPT_VARS if k in os.environ}
    subprocess.run(
        [sys.executable, "-m", "hostops.cli.background"],
        env=env,
        cwd="/",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        check=False,
        timeout=_START_WAIT_S,
    )


def _standard_fds() -> tuple[list[int], list[int]]:
    """Descriptors 0, 1, 2 (a closed one replaced by /dev/null) and the terminal, if
    any; and those opened here, to close."""
    fds: list[int] = []
    opened: list[int] = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            fds.append(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            opened.append(null)
            fds.append(null)
    try:
        tty = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        pass
    else:
        opened.append(tty)
        fds.append(tty)
    return fds, opened


def _hand_over(sock: socket.socket, argv: list[str], cwd: str) -> int | None:
    """Send the command and wait for its exit code; None when the background process
    closed before taking it (it was exiting): try again."""
    umask = os.umask(0o077)
    os.umask(umask)
    fds, opened = _standard_fds()
    request = {
        "op": "run",
        "argv": argv,
        "cwd": cwd,
        "env": dict(os.environ),
        "umask": umask,
        "tty": len(fds) == 4,
        "code": paths.code_stamp(),
    }
    try:
        wire.send(sock, request, fds)
        answer, _fds = wire.recv(sock)
    except (OSError, ValueError):
        return None
    finally:
        for fd in opened:
            os.close(fd)
    if answer is None or answer.get("stale"):
        return None  # exiting, or started from other code (it exits): a new one serves

    def relay(name: str) -> None:
        with contextlib.suppress(OSError):  # it ended meanwhile: its answer says how
            wire.send(sock, {"signal": name})

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        relay("INT")

    def on_stop(signum: int, frame: FrameType | None) -> None:
        relay("TSTP")
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)  # stopped here until fg/bg

    def on_continue(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTSTP, on_stop)
        relay("CONT")

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_interrupt)
    signal.signal(signal.SIGTSTP, on_stop)
    signal.signal(signal.SIGCONT, on_continue)
    while True:
        try:
            message, extra = wire.recv(sock)
        except (OSError, ValueError):
            message, extra = None, []
        for fd in extra:
            os.close(fd)
        if message is None:
            _say(
                "the background process ended without finishing the command (see `hostops persist`)"
            )
            return EXIT_INTERNAL
        if "exit" in message:
            return int(message["exit"])
        if "error" in message:
            _say(str(message["error"]))
            return int(message.get("code", EXIT_INTERNAL))
