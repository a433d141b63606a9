"""The process that carries out one warm command: forked by the background process for
each request, it becomes the caller's stand-in -- its standard descriptors, working
directory, environment and umask -- and runs the command line as a cold run would, its
engines attached to the background process's workers (hostops.keeper.source).

Signals from the client (Ctrl-C, Ctrl-Z, the client's end) arrive as messages on its
socket. A small relay process reads them and turns them into real signals for this
process's group (this process and its aggregator): the engine's Ctrl-C handling is
the cold run's, and no thread runs here when the engine forks its aggregator.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from hostops.fleet._procname import set_process_name
from hostops.fleet.engine import use_worker_source
from hostops.keeper import wire
from hostops.keeper.source import KeptWorkers
from hostops.render.console import use_terminal

EXIT_INTERNAL = 4
_SIGNALS = {"INT": signal.SIGINT, "TSTP": signal.SIGSTOP, "CONT": signal.SIGCONT}


def main(
    client: socket.socket,
    request: dict[str, Any],
    fds: list[int],
    channels: list[tuple[int, socket.socket]],
    run: Callable[[list[str]], int],
    reports: socket.socket,
) -> NoReturn:
    """Carry out ``request`` (argv, cwd, env, umask) with the caller's descriptors
    ``fds`` (stdin, stdout, stderr, and maybe its terminal) and report the exit code;
    ``reports``: where the background process hears of workers found stuck."""
    code = EXIT_INTERNAL
    relay = 0
    try:
        os.setpgid(0, 0)  # a group of its own: this process and its aggregator
        set_process_name("hostops-run")
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGTSTP):
            signal.signal(
                sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
            )
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        terminal = fds[3] if len(fds) > 3 else None
        for fd in fds[:3]:
            if fd > 2:
                os.close(fd)
        argv = [str(a) for a in request["argv"]]
        os.chdir(str(request["cwd"]))
        os.umask(int(request["umask"]))
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in dict(request["env"]).items()})
        sys.argv = ["hostops", *argv]
        use_terminal(terminal)

        def stuck(pid: int) -> None:
            with contextlib.suppress(OSError):
                wire.send(reports, {"op": "stuck", "pid": pid})

        use_worker_source(KeptWorkers(channels, on_stuck=stuck))  # none: forks its own
        relay = _start_relay(client)
        code = run(argv)
    except KeyboardInterrupt:
        code = 130
    except OSError as exc:
        with contextlib.suppress(OSError):
            wire.send(client, {"error": f"cannot carry out the command: {exc}", "code": 2})
        os._exit(2)
    except BaseException:  # a bug here must still answer the client
        code = EXIT_INTERNAL
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        if relay:
            with contextlib.suppress(OSError):
                os.kill(relay, signal.SIGKILL)
                os.waitpid(relay, 0)
    with contextlib.suppress(OSError):
        wire.send(client, {"exit": code})
    os._exit(code)


def _start_relay(client: socket.socket) -> int:
    """Fork the process that turns the client's messages into signals to this group;
    when the client goes away (killed), it interrupts the run once, as a first Ctrl-C."""
    group = os.getpgrp()
    pid = os.fork()
    if pid:
        return pid
    try:
        os.setpgid(0, 0)  # out of the group it signals
        set_process_name("hostops-relay")
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        while True:
            try:
                message, extra = wire.recv(client)
            except (OSError, ValueError):
                message, extra = None, []
            for fd in extra:
                os.close(fd)
            if message is None:  # the client is gone: stop the run as Ctrl-C would
                os.killpg(group, signal.SIGINT)
                break
            sig = _SIGNALS.get(str(message.get("signal")))
            if sig is signal.SIGSTOP or sig is signal.SIGCONT:
                os.killpg(group, sig)
            elif sig is not None:
                os.kill(group, sig)  # the run process alone: its engine tells the rest
    finally:
        os._exit(0)
