"""Early workers: the worker processes of a cold ``hostops run|put|get|play``, forked from a
process that loaded paramiko while this one was still reading its command line.

A cold run's start-up is one CPU's work in a row: the command line's modules, the
inventory and each host's settings, then paramiko, imported before the workers fork so
that they share it. The second CPU waits. So :func:`start`, called first thing by the
console script (hostops.entry), forks one process, the *early process*, that imports
what a worker needs meanwhile. When the run's engine starts, it asks the early process
for its workers (:class:`EarlyWorkers`, a :class:`~hostops.fleet.engine.WorkerSource`):
each is a fork of it, reached over a channel of its own and speaking the protocol of the
background process's workers (hostops.keeper.worker), with nothing kept between runs.
Measured on 2 CPUs: a 10-host run 18 % faster, 200 hosts 5 % (benchmarks/RESULTS.md,
"Cold runs").

The process tree: the run's process, its aggregator and the early process; the workers
under the early process. Ctrl-C reaches the engine, which tells the workers (they and
the early process ignore SIGINT). The early process forks nothing unasked and ends with
the run's process (end of file on its control socket); a command that never gets to its
run (a bad inventory, a cluster run) leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import gc
import os
import resource
import signal
import socket
import time
from typing import TYPE_CHECKING, NoReturn

from hostops.keeper import wire

if TYPE_CHECKING:  # imported by the engine, which calls this
    from hostops.credentials import Secrets
    from hostops.fleet.engine import Attached
    from hostops.fleet.worker import WorkerSpec
    from hostops.models import Host

COMMANDS = frozenset({"run", "put", "get", "play"})
NAME = "hostops-early"  # the early process's name (workers are "hostops-worker")
# How long a request for a worker may wait for the early process: it answers at once,
# once it has loaded what a worker needs (~0.1 s of CPU); past this, it is taken for gone.
_ANSWER_S = 30.0
# How long the command waits at its end for the early process, once its workers ended or
# were killed (a few ms; a worker still closing its connections may take longer).
_END_S = 5.0


def wanted(argv: list[str]) -> bool:
    """Whether ``argv`` (without the program name) is a command that runs hosts through
    the engine here: a cold run, put, get or play (a warm one never gets this far)."""
    return bool(argv) and argv[0] in COMMANDS and "--help" not in argv


def start() -> EarlyWorkers:
    """Fork the early process; the workers it will fork, as a source for the engine."""
    mine, theirs = wire.pair()
    # Ctrl-C before the child ignores it would raise in a copy of this command line.
    interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        pid = os.fork()
        if pid == 0:
            mine.close()
            _early_main(theirs)
    finally:
        signal.signal(signal.SIGINT, interrupt)
    theirs.close()
    return EarlyWorkers(pid, mine)


class EarlyWorkers:
    """The early process's workers, forked as the engine asks for them.

    Unlike the background process's workers, they are this run's alone: ``private``, so
    the engine grows their budgets (adaptive concurrency) and replaces one that dies, as
    it does with the workers it forks itself."""

    private = True

    def __init__(self, pid: int, control: socket.socket) -> None:
        self.pid = pid
        self._control = control
        control.settimeout(_ANSWER_S)
        self.size = os.cpu_count() or 1
        self._channels: list[socket.socket] = []  # this side of every worker's channel

    def close(self) -> None:
        """The command's end: close every channel (each worker ends) and the control
        socket (the early process ends after its workers), and wait for it, a while;
        one that forked nothing is killed (it may still be loading paramiko)."""
        for channel in self._channels:
            channel.close()
        self._control.close()
        if not self._channels:  # never used (an error, a cluster run): no need to wait
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + _END_S
        while time.monotonic() < deadline:
            try:
                if os.waitpid(self.pid, os.WNOHANG)[0]:
                    return
            except ChildProcessError:
                return
            time.sleep(0.005)

    def fork(self) -> tuple[int, socket.socket]:
        """One new worker: its pid and this side of its channel. Raises OSError when the
        early process is gone (the engine then forks its own)."""
        mine, theirs = socket.socketpair()
        try:
            # The open-file limit the engine set for this run (raised after the fork).
            wire.send(
                self._control,
                {"op": "fork", "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE))},
                [theirs.fileno()],
            )
            answer, fds = wire.recv(self._control)
            for fd in fds:
                os.close(fd)
            if answer is None or not isinstance(answer.get("pid"), int):
                raise OSError("no answer")
        except BaseException as exc:  # Ctrl-C too: an answer left unread would be taken
            mine.close()  # for the next request's, so no request is made after this one
            self._control.close()
            if isinstance(exc, (OSError, ValueError)):
                raise OSError(f"the early process is gone: {exc}") from None
            raise
        finally:
            theirs.close()
        self._channels.append(mine)
        return answer["pid"], mine

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
        """Fork ``len(threads)`` workers and give them this run (see WorkerSource)."""
        from hostops.fleet.engine import NoWorkers
        from hostops.keeper.source import KeptWorkers

        channels: list[tuple[int, socket.socket]] = []
        try:
            for _ in threads:
                channels.append(self.fork())
            return KeptWorkers(channels, own=True).attach(
                spec, threads, hosts, events_fd, flow_fd, secrets, budgets
            )
        except OSError as exc:  # the early process, or every worker it forked, is gone
            # The engine forks its own instead: none of these may serve (or report) the run.
            for pid, channel in channels:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                channel.close()
            raise NoWorkers(f"the early process's workers cannot serve: {exc}") from None


def _early_main(control: socket.socket) -> NoReturn:
    """The early process: import a worker's code, then fork a worker per request until
    the run's process is gone."""
    code = 0
    try:
        # Ctrl-C goes to the whole foreground group: the engine alone acts on it.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        from hostops.fleet._procname import set_process_name
        from hostops.host.client import preload_ssh
        from hostops.keeper.worker import KeeperWorker

        set_process_name(NAME)
        preload_ssh()
        gc.freeze()  # all of it lives as long as the workers: never scanned, never copied
        while True:
            message, fds = wire.recv(control)
            if message is None or message.get("op") != "fork" or len(fds) != 1:
                break
            soft, hard = message.get("nofile", (None, None))
            if isinstance(soft, int) and isinstance(hard, int):
                # Failing, the engine's warning about the limit still holds.
                with contextlib.suppress(ValueError, OSError):
                    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            _reap()  # workers that ended (replaced ones, a playbook's earlier engines)
            pid = os.fork()
            if pid == 0:
                control.close()
                set_process_name("hostops-worker")
                KeeperWorker(None).serve_channel(fds[0])
                os._exit(0)
            os.close(fds[0])
            wire.send(control, {"pid": pid})
        # The command is ending: its workers end as their channels close (they have
        # told the engine they ended, or it killed them). This process ends after them,
        # so the command's own end accounts for all of them (CPU time included).
        _reap(wait=True)
    except BaseException:  # whatever happened: never back into the command line
        code = 1
    os._exit(code)


def _reap(*, wait: bool = False) -> None:
    """Collect the exit status of every worker that has ended (no zombies pile up);
    ``wait``: of every worker, waiting for those still running."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, 0 if wait else os.WNOHANG)[0] > 0:
            pass
