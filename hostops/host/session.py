"""One host's connection inside a worker, and the operations carried out over it:
a command (as ``hostops run``), an upload or a download (SFTP, opened on first use).

A session outlives one operation when the engine keeps it (playbooks: one
connection per host for all their tasks).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from hostops.host.base import Connection, HostFailure, Sink, drive
from hostops.host.sftp import Ownership, SftpSession
from hostops.models import Status
from hostops.operations import Command, Download, Operation, Outcome, Upload

if TYPE_CHECKING:
    from hostops.fleet.worker import WorkerSpec

_SFTP_REPLY_S = 30.0  # longest wait for one SFTP reply


class Session:
    """An open connection to one host, used by one thread at a time."""

    def __init__(self, conn: Connection, host: str) -> None:
        self._conn = conn
        self._host = host
        self._sftp: SftpSession | None = None

    def alive(self) -> bool:
        """The connection can carry another operation."""
        return self._conn.is_active()

    def perform(
        self,
        op: Operation,
        spec: WorkerSpec,
        sink: Sink,
        cancel: threading.Event,
        may_read: Callable[[float], bool] | None = None,
    ) -> Outcome:
        """Carry out ``op``; host failures raise HostFailure."""
        options = spec.options
        if isinstance(op, Command):
            stdin = spec.stdin if op.stdin else None
            ended = drive(
                self._conn.start(op.command, op.sudo or None, stdin),
                sink,
                timeout=op.timeout if op.timeout is not None else options.timeout,
                idle_timeout=options.idle_timeout,
                cancel=cancel,
                grace_s=options.kill_grace_s,
                may_read=may_read,
            )
            return Outcome(ended.status, ended.exit_code, error=ended.error, signal=ended.signal)
        sftp = self._open_sftp()
        if isinstance(op, Upload):
            as_root = (lambda command: sftp.run(command, sudo=True)) if op.sudo else None
            done = sftp.upload(
                op.src,
                op.dest,
                mode=op.mode,
                as_root=as_root,
                ownership=Ownership(op.owner, op.group),
                backup=op.backup,
            )
        else:
            assert isinstance(op, Download)
            done = sftp.download(op.src, op.dest, self._host)
        return Outcome(Status.OK, changed=done.changed, files=done.files + done.unchanged)

    def _open_sftp(self) -> SftpSession:
        if self._sftp is None:
            if not hasattr(self._conn, "open_sftp"):
                raise HostFailure(
                    Status.ERROR, "file transfers need an SSH connection, not connection: local"
                )
            self._sftp = SftpSession(self._conn, timeout=_SFTP_REPLY_S)  # type: ignore[arg-type]
        return self._sftp

    def close(self) -> None:
        """Close the SFTP session and the connection."""
        if self._sftp is not None:
            self._sftp.close()
        self._conn.close()
