"""A plain Executor for tests against the sshd fleet: one SSH connection per host for
the whole playbook (opened on first use), a thread per host per step.

The engine's own executor (worker processes) is what hostops runs; this one lets
the playbook runner and the transfer primitives be tested together on real hosts.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from hostops.events import STDOUT
from hostops.models import Host, RunOptions, Status
from hostops.playbook import Command, Download, Operation, Outcome, Step, Upload
from hostops.transport.base import HostFailure, drive
from hostops.transport.sftp import SftpSession
from hostops.transport.ssh import SshConnection, SshContext


class FleetExecutor:
    """Runs steps over persistent connections; ``opened`` counts connections per host."""

    def __init__(self, hosts: Sequence[Host], options: RunOptions | None = None) -> None:
        self.hosts = {h.name: h for h in hosts}
        self.ctx = SshContext(options or RunOptions(), lambda _: None)
        self.connections: dict[str, tuple[SshConnection, SftpSession]] = {}
        self.opened: Counter[str] = Counter()
        self.steps: list[Step] = []
        self.pool = ThreadPoolExecutor(max_workers=16)

    def execute(self, step: Step, operations: Mapping[str, Operation]) -> Mapping[str, Outcome]:
        self.steps.append(step)
        futures = {h: self.pool.submit(self._one, h, op) for h, op in operations.items()}
        return {h: f.result() for h, f in futures.items()}

    def finished(self, hosts: Collection[str]) -> None:
        for name in hosts:
            if name in self.connections:
                conn, session = self.connections.pop(name)
                session.close()
                conn.close()

    def close(self) -> None:
        self.finished(list(self.connections))
        self.pool.shutdown()

    def _connection(self, name: str) -> tuple[SshConnection, SftpSession]:
        if name not in self.connections:
            conn = SshConnection(self.hosts[name], self.ctx, lambda _: None)
            self.opened[name] += 1
            self.connections[name] = (conn, SftpSession(conn))
        return self.connections[name]

    def _one(self, name: str, op: Operation) -> Outcome:
        started = time.monotonic()
        try:
            conn, session = self._connection(name)
            if isinstance(op, Command):
                if op.sudo:
                    return Outcome(Status.ERROR, error="sudo: not in the test executor")
                out: list[bytes] = []
                err: list[bytes] = []
                ended = drive(
                    conn.start(op.command),
                    lambda stream, data: (out if stream == STDOUT else err).append(data),
                    timeout=op.timeout,
                    cancel=None,
                    grace_s=2.0,
                )
                return Outcome(
                    ended.status,
                    ended.exit_code,
                    b"".join(out),
                    b"".join(err),
                    ended.error,
                    duration_s=time.monotonic() - started,
                )
            if isinstance(op, Upload):
                done = session.upload(op.src, op.dest, mode=op.mode)
            else:
                assert isinstance(op, Download)
                done = session.download(op.src, op.dest, name)
            return Outcome(
                Status.OK,
                changed=done.changed,
                files=done.files + done.unchanged,
                duration_s=time.monotonic() - started,
            )
        except HostFailure as failure:
            return Outcome(failure.status, error=failure.message)
