"""A worker process of the background process: it serves runs, one or several at once,
and holds the connections they leave (hostops.keeper.parked) between them.

Each run process reaches it over a channel of its own (a socket pair the background
process hands over). Per attach (an Engine of that run), the run sends one byte with
its event pipe, flow-control counters and an "end" socket as descriptors, then the
identities of its hosts (the answer: which of them this worker holds warm), then its
spec and secrets; the jobs then follow the fleet protocol (hostops.fleet.dispatch),
served by the fleet's own worker loop (hostops.fleet.worker.serve). Secrets live in
that run's objects only and are dropped when it ends; the process's environment and
arguments never carry any.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

from hostops.credentials import Secrets
from hostops.fleet._procname import set_process_name
from hostops.fleet.dispatch import Job
from hostops.fleet.events import EventWriter, HostWarning
from hostops.fleet.flow import counters_at
from hostops.fleet.worker import WorkerSpec, serve
from hostops.host.ssh import SshContext
from hostops.host.ssh.jump import JumpPool
from hostops.keeper import wire
from hostops.keeper.parked import Parked, RunKept
from hostops.models import RunOptions
from hostops.operations import localize
from hostops.redact import Redactor

_EXPIRE_TICK_S = 1.0


class _Localized:
    """The run's channel, with each job's controller-side paths made absolute against the
    run's working directory (this process's own is not the caller's)."""

    def __init__(self, conn: Connection, cwd: str | None) -> None:
        self._conn = conn
        self._cwd = cwd

    def poll(self, timeout: float | None = None) -> bool:
        return self._conn.poll(timeout)

    def recv(self) -> Any:
        item = self._conn.recv()
        if isinstance(item, list):  # a list of jobs (hostops.fleet.dispatch)
            return [self._localized(job) for job in item]
        return self._localized(item)

    def _localized(self, item: Any) -> Any:
        if isinstance(item, Job) and self._cwd:
            return dataclasses.replace(item, op=localize(item.op, self._cwd))
        return item

    def send(self, obj: Any) -> None:
        self._conn.send(obj)


@contextlib.contextmanager
def _gone(pid: int) -> Iterator[Callable[[], bool]]:
    """Whether the process ``pid`` (the run) has ended (a pidfd: never a reused pid),
    while the run is served; the pidfd is closed after (one per run would pile up)."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        yield lambda: True
        return
    try:
        yield lambda: bool(select.select([fd], [], [], 0)[0])
    finally:
        os.close(fd)


class KeeperWorker:
    """The state of one worker process: its connections and jump hosts, and the control
    socket to the background process (``held`` counts go there as they change; None: a
    worker of one cold run, hostops.keeper.early, which keeps nothing)."""

    def __init__(self, control: socket.socket | None) -> None:
        self._control = control
        self._send_lock = threading.Lock()
        self.parked = Parked(self._tell_count)
        self.jumps = JumpPool()
        # What parked connections refer to between runs: options only, no secrets.
        self.idle = SshContext(RunOptions(), lambda msg: None, Secrets(), jumps=self.jumps)
        self._runs = 0
        self._runs_lock = threading.Lock()

    def _tell_count(self, n: int) -> None:
        self.tell({"op": "held", "n": n})

    def tell(self, message: dict[str, Any]) -> None:
        """A message to the background process (from any thread)."""
        if self._control is None:
            return
        with self._send_lock, contextlib.suppress(OSError):
            wire.send(self._control, message)

    def serve_channel(self, fd: int) -> None:
        """Serve one run process's channel: one attach after another, until it closes."""
        sock = socket.socket(fileno=fd)
        conn = Connection(os.dup(fd))
        try:
            while True:
                data, fds, _flags, _addr = socket.recv_fds(sock, 1, 3)
                if not data or len(fds) != 3:
                    for extra in fds:
                        os.close(extra)
                    return
                self._attach(conn, *fds)
        except OSError:
            return
        finally:
            conn.close()
            sock.close()

    def _attach(self, conn: Connection, events_fd: int, flow_fd: int, end_fd: int) -> None:
        end = socket.socket(fileno=end_fd)
        events = EventWriter(events_fd)
        with self._runs_lock:
            self._runs += 1
        try:
            kind, keys = conn.recv()
            assert kind == "keys"
            conn.send([name for name, key in keys.items() if self.parked.holds(key)])
            kind, *rest = conn.recv()
            if kind != "run":  # given no threads: this run does not use this worker
                return
            spec, secrets, run_pid, n_hosts = rest
            self._run(conn, spec, secrets, keys, run_pid, n_hosts, events, flow_fd)
            end.send(b"\0")  # the run's engine counts this worker ended well
        except (EOFError, OSError, ValueError, AssertionError):
            pass  # the run is gone: its sessions were cancelled by serve
        finally:
            with self._runs_lock:
                self._runs -= 1
            events.close(lambda: True)  # written already, or nobody is left to read it
            os.close(flow_fd)
            end.close()

    def _run(
        self,
        conn: Connection,
        spec: WorkerSpec,
        secrets: Secrets,
        keys: dict[str, str],
        run_pid: int,
        n_hosts: int,
        events: EventWriter,
        flow_fd: int,
    ) -> None:
        spec = dataclasses.replace(spec, consumed=counters_at(flow_fd, n_hosts))
        redactor = Redactor(secrets.masked)

        def warn_for(host: str | None) -> Callable[[str], None]:
            return lambda msg: events.put(HostWarning(host, redactor.text(msg)))

        context = SshContext(spec.options, warn_for(None), secrets, jumps=self.jumps)
        kept = RunKept(self.parked, spec.options, keys, context, warn_for, self.idle)
        cancel, hurry = threading.Event(), threading.Event()
        with _gone(run_pid) as gone:
            serve(
                spec,
                _Localized(conn, secrets.cwd),
                events,
                cancel,
                secrets,
                hurry,
                gone,
                kept,
                context,
            )
            # Every event in the pipe before the run hears of the end (EndOfRun follows).
            events.close(gone)

    def expire_forever(self) -> None:
        """Close connections past their time, every second; the jump hosts too once no
        connection and no run is left."""
        while True:
            time.sleep(_EXPIRE_TICK_S)
            left = self.parked.expire()
            with self._runs_lock:
                idle = self._runs == 0
            if left == 0 and idle:
                with contextlib.suppress(Exception):  # this thread must outlive any close
                    self.jumps.close()

    def stop(self) -> None:
        """Close everything parked (``hostops persist --stop``, or the end)."""
        self.parked.close_all()
        self.jumps.close()


def main(control: socket.socket) -> None:
    """Entry point of a worker process (forked by the background process)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    set_process_name("hostops-keeper-worker")
    worker = KeeperWorker(control)
    threading.Thread(target=worker.expire_forever, name="expire", daemon=True).start()
    while True:
        try:
            message, fds = wire.recv(control)
        except (OSError, ValueError):
            message, fds = None, []
        if message is None:  # the background process is gone
            break
        op = message.get("op")
        if op == "attach" and fds:
            threading.Thread(
                target=worker.serve_channel, args=(fds[0],), name="run", daemon=True
            ).start()
        elif op == "describe":
            worker.tell({"op": "described", "held": worker.parked.describe()})
        elif op == "stop":
            break
        else:
            for fd in fds:
                os.close(fd)
    worker.stop()
