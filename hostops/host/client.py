"""HostClient: everything hostops does with ONE host — connect (with retries), run a command,
upload, download — complete on its own. The fleet fans out over it; a script can use it
directly (``hostops.connect``).

Nothing here knows about worker processes, events or the command line: output goes to a
:data:`~hostops.host.base.Sink`, cancellation comes in as an Event (threading or
multiprocessing), and every
host failure ends as an :class:`~hostops.operations.Outcome` (``perform``) or a
:class:`~hostops.host.base.HostFailure` (``connect``).
"""

from __future__ import annotations

import dataclasses
import importlib
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hostops.credentials import Secrets
from hostops.host.base import (
    NO_THREAD,
    STDERR,
    STDOUT,
    Cancel,
    Connection,
    HostFailure,
    RunningCommand,
    Sink,
    drive,
    is_thread_limit,
)
from hostops.host.local import LocalConnection
from hostops.host.ssh.context import SshContext
from hostops.host.stdin import Source
from hostops.host.transfer import Ownership
from hostops.models import Host, RunOptions, Status, Transport
from hostops.operations import Command, Download, Operation, Outcome, Upload

if TYPE_CHECKING:
    # paramiko loads with the first SSH connection: a client of a `connection: local`
    # host (and the worker process that runs it) never imports it.
    from hostops.host.sftp import SftpSession
    from hostops.host.ssh.connection import SshConnection

_BACKOFF_S = 0.5  # first pause before a connection retry; doubles each time
_BACKOFF_MAX_S = 10.0
_SFTP_REPLY_S = 30.0  # longest wait for one SFTP reply


@dataclass(frozen=True)
class Limits:
    """How long an operation may take, and how it is stopped when it takes too long."""

    timeout: float | None  # the whole operation; None: no limit
    idle_timeout: float | None  # a command without output this long is stopped; None: never
    kill_grace_s: float  # between TERM and KILL of the command's process group

    @classmethod
    def of(cls, options: RunOptions) -> Limits:
        """The run's limits (an operation's own ``timeout`` replaces ``timeout``)."""
        return cls(options.timeout, options.idle_timeout, options.kill_grace_s)


def preload(hosts: Iterable[Host]) -> None:
    """Import the SSH layer (paramiko) now if some of ``hosts`` are reached over SSH:
    for a process about to fork its workers, which then share it instead of each
    importing it (~0.1 s of CPU per worker). Clients import it themselves otherwise.
    Also the idna codec: socket.getaddrinfo encodes every host name given as a string
    with it, and each worker imported it (with stringprep and unicodedata) at its
    first connection."""
    if over_ssh(hosts):
        preload_ssh()


def over_ssh(hosts: Iterable[Host]) -> bool:
    """Whether some of ``hosts`` are reached over SSH (not ``connection: local``)."""
    return any(h.connection is not Transport.LOCAL for h in hosts)


def preload_ssh() -> None:
    """What :func:`preload` imports, whatever the hosts (hostops.keeper.early)."""
    for module in ("hostops.host.ssh.connection", "hostops.host.ssh.failures", "encodings.idna"):
        importlib.import_module(module)


def _nothing(message: str) -> None:
    """The default ``warn``: a script that did not ask for warnings gets none."""


class HostClient:
    """One host's connection and the operations carried out over it, one at a time.

    ``context`` is shared by the clients of one process (parsed known_hosts and
    keys, jump host connections); without one, the client has its own.
    ``warn`` receives this host's warnings (a new host key recorded, ...).
    ``heard`` is told how long each new SSH connection's first answer took, in
    seconds (hostops.host.ssh.distance). Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        host: Host,
        *,
        options: RunOptions | None = None,
        secrets: Secrets | None = None,
        context: SshContext | None = None,
        warn: Callable[[str], None] = _nothing,
        heard: Callable[[float], None] | None = None,
    ) -> None:
        self.host = host
        self._heard = heard
        self._own_context = context is None
        self._ctx = context or SshContext(options or RunOptions(), warn, secrets or Secrets())
        self._warn = warn
        self._conn: Connection | SshConnection | LocalConnection | None = None
        self._sftp: SftpSession | None = None
        self.attempts = 0  # connection attempts made by the last connect()
        self.reused = False  # the connection was kept from an earlier run (adopt)

    @property
    def options(self) -> RunOptions:
        """The run options this client connects and runs with (timeouts, host key policy, ...)."""
        return self._ctx.options

    def connect(self, cancel: Cancel | None = None) -> None:
        """Connect and log in, trying again after transient failures (refused, reset,
        connect timeout) ``options.connect_retries`` times with exponential backoff and
        jitter; authentication and host key failures are never retried.

        Raises HostFailure (``attempts`` says how many were made); ``cancel`` set
        while waiting to retry ends it as ``interrupted``."""
        attempts = self.host.ssh.connection_attempts  # ConnectionAttempts, or --connect-retries + 1
        retries = self.options.connect_retries if attempts is None else attempts - 1
        for attempt in range(1, retries + 2):
            self.attempts = attempt
            try:
                self._conn = self._open()
                self._lock()
                return
            except HostFailure as failure:
                failure.attempts = attempt
                if not failure.transient or attempt > retries:
                    raise
            backoff = min(_BACKOFF_MAX_S, _BACKOFF_S * 2 ** (attempt - 1))
            if (cancel or threading.Event()).wait(backoff * random.uniform(0.5, 1.5)):
                interrupted = HostFailure(Status.INTERRUPTED, "interrupted while waiting to retry")
                interrupted.attempts = attempt
                raise interrupted

    def _lock(self) -> None:
        """Take the run's lock (``options.lock``) on the host just connected; a lock held
        elsewhere closes the connection and raises HostFailure (never retried)."""
        opts = self.options
        if opts.lock is None or self._conn is None:
            return
        try:
            ssh = self._ssh()
            if ssh is None:
                raise HostFailure(
                    Status.ERROR, "--lock needs an SSH connection, not connection: local"
                )
            ssh.hold_lock(opts.lock, opts.lock_timeout, opts.lock_holder)
        except HostFailure:
            self._conn.close()
            self._conn = None
            raise

    def _ssh(self) -> SshConnection | None:
        """The connection, if it is an SSH one (a local one never loads paramiko)."""
        if self._conn is None or isinstance(self._conn, LocalConnection):
            return None
        from hostops.host.ssh.connection import SshConnection

        return self._conn if isinstance(self._conn, SshConnection) else None

    def _open(self) -> SshConnection | LocalConnection:
        if self.host.connection is Transport.LOCAL:
            secrets = self._ctx.secrets
            return LocalConnection(secrets.scrubbed_environment(), secrets.cwd)
        from hostops.host.ssh.connection import SshConnection

        return SshConnection(self.host, self._ctx, self._warn, heard=self._heard)

    def adopt(self, context: SshContext, warn: Callable[[str], None] = _nothing) -> bool:
        """Take this open connection over for another run (``context``: its options,
        secrets and known_hosts; ``warn``: its warnings), as a warm run does. False
        when it cannot serve: closed meanwhile, or its host key no longer accepted by
        the new run's known_hosts and policy; the caller then closes it."""
        conn = self._ssh()
        if conn is None or not conn.is_active():
            return False
        if not conn.adopt(context):
            return False
        if self._own_context:
            self._ctx.close()
        self._ctx, self._own_context, self._warn = context, False, warn
        self._heard = None  # the last run's: a reconnect must never tell it anything
        self.reused = True
        return True

    def detach(self, context: SshContext) -> None:
        """Keep the connection open while no run uses it (parked by a warm run's worker):
        from now on it refers to ``context``, which holds no secrets, rather than to the
        last run's; :meth:`adopt` gives it to the next run."""
        ssh = self._ssh()
        if ssh is not None:
            ssh.detach(context)
        if self._own_context:
            self._ctx.close()
        self._ctx, self._own_context, self._warn = context, False, _nothing
        self._heard = None

    def start_runner(self) -> None:
        """Get a runner ready on this (kept) SSH connection for its next commands, in the
        background (hostops.host.ssh.runner); a warm run's worker does it when it parks
        the connection. Nothing for other connections."""
        ssh = self._ssh()
        if ssh is not None:
            from hostops.host.ssh.runner import interpreter

            ssh.start_runner(interpreter(self.host))

    def runner_state(self) -> str | None:
        """The state of this connection's runner (``hostops persist``); None: it has none."""
        ssh = self._ssh()
        return None if ssh is None else ssh.runner_state()

    def _stale(self, cancel: Cancel | None) -> None:
        """A kept connection failed before the operation began on the host (it died
        while kept: a reboot, a cut): connect anew, as if it never existed."""
        self.close()
        self.reused = False
        self.connect(cancel)

    @property
    def connected(self) -> bool:
        """Connected, and the connection can carry another operation."""
        return self._conn is not None and self._conn.is_active()

    def perform(
        self,
        op: Operation,
        sink: Sink,
        *,
        limits: Limits | None = None,
        cancel: Cancel | None = None,
        stdin: Source = None,
        may_read: Callable[[float], bool] | None = None,
        hurry: Cancel | None = None,
    ) -> Outcome:
        """Carry out ``op`` over the connection (made first if there is none) and say how it
        ended; a host failure is the Outcome, never an exception. ``cancel`` stops a
        command with TERM, then KILL; ``hurry`` with KILL at once (see
        :func:`hostops.host.base.drive`).

        A command's output goes to ``sink`` as it arrives (the Outcome carries none);
        ``stdin`` is sent to a Command with ``stdin`` set, then end-of-file. A Command
        whose ``sudo`` is None runs without sudo. ``may_read(wait_s)`` lets the caller
        hold output back (flow control, see hostops.fleet.flow).
        """
        started = time.monotonic()
        connect_s = None  # stays None when no connection is made (or none succeeds)
        if self._conn is not None:
            self.attempts = 1  # no connection made for this operation
        try:
            if cancel is not None and cancel.is_set():
                raise HostFailure(Status.INTERRUPTED, "interrupted before it started")
            if self.host.problem:  # the inventory asks for what hostops cannot do here
                raise HostFailure(Status.ERROR, self.host.problem)
            if self._conn is None:
                began = time.monotonic()
                self.connect(cancel)
                connect_s = time.monotonic() - began
            outcome = self._perform(
                op, sink, limits or Limits.of(self.options), cancel, stdin, may_read, hurry
            )
        except HostFailure as failure:
            outcome = Outcome(failure.status, error=failure.message)
        except Exception as exc:
            outcome = self._unforeseen(exc)
        return dataclasses.replace(
            outcome,
            duration_s=time.monotonic() - started,
            attempts=max(self.attempts, 1),
            reused=self.reused,
            connect_s=connect_s,
        )

    def _unforeseen(self, exc: Exception) -> Outcome:
        """What a failure raised as an exception other than HostFailure says."""
        from hostops.host.ssh.failures import REMOTE_ERRORS, reason

        if isinstance(exc, REMOTE_ERRORS):  # what the host did, reached here unnamed
            return Outcome(Status.ERROR, error=reason(exc))
        # A bug or an unforeseen library error: still data, never raw.
        if is_thread_limit(exc):  # paramiko's transport thread, a watchdog: none ran
            self.close()
            return Outcome(Status.ERROR, error=NO_THREAD)
        return Outcome(Status.ERROR, error=f"internal error: {type(exc).__name__}: {exc}")

    def _perform(
        self,
        op: Operation,
        sink: Sink,
        limits: Limits,
        cancel: Cancel | None,
        stdin: Source,
        may_read: Callable[[float], bool] | None,
        hurry: Cancel | None = None,
    ) -> Outcome:
        assert self._conn is not None
        if isinstance(op, Command):
            ended = drive(
                self._start(op, stdin, cancel),
                sink,
                timeout=op.timeout if op.timeout is not None else limits.timeout,
                idle_timeout=limits.idle_timeout,
                cancel=cancel,
                grace_s=limits.kill_grace_s,
                may_read=may_read,
                hurry=hurry,
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
                dry_run=op.dry_run,
                parents=op.parents,
                follow_links=op.follow_links,
            )
        else:
            assert isinstance(op, Download)
            done = sftp.download(op.src, op.dest, self.host.name, op.follow_links)
        if isinstance(op, Upload) and op.dry_run and done.files:
            # put --check: what would be written is the host's output, in every view.
            sink(STDOUT, "".join(f"would write {f}\n" for f in done.files).encode())
        return Outcome(
            Status.OK,
            changed=done.changed,
            files=done.files + done.unchanged,
            skipped=done.skipped,
        )

    def _start(self, op: Command, stdin: Source, cancel: Cancel | None) -> RunningCommand:
        """``op`` started; over a kept connection that turns out dead, on a new one (the
        command never began: nothing runs twice)."""
        try:
            return self._begin(op, stdin)
        except HostFailure:
            if not self.reused:
                raise
        self._stale(cancel)
        return self._begin(op, stdin)

    def _begin(self, op: Command, stdin: Source) -> RunningCommand:
        assert self._conn is not None
        return self._conn.start(
            op.command,
            bool(op.sudo),
            stdin if op.stdin and not op.tty else None,
            sudo_user=op.sudo_user,
            tty=op.tty,
        )

    def _open_sftp(self) -> SftpSession:
        if self._sftp is None and self.reused:
            from hostops.host.ssh.failures import REMOTE_ERRORS

            failures: tuple[type[BaseException], ...] = (HostFailure, *REMOTE_ERRORS)
            try:
                return self._new_sftp()
            except failures:
                self._stale(None)
        return self._new_sftp()

    def _new_sftp(self) -> SftpSession:
        if self._sftp is None:
            ssh = self._ssh()
            if ssh is None:
                raise HostFailure(
                    Status.ERROR, "file transfers need an SSH connection, not connection: local"
                )
            from hostops.host.sftp import SftpSession

            self._sftp = SftpSession(ssh, timeout=_SFTP_REPLY_S)
        return self._sftp

    def run(
        self, command: str, *, sudo: bool = False, timeout: float | None = None
    ) -> tuple[Outcome, bytes, bytes]:
        """Run ``command`` and collect its output: (outcome, stdout, stderr). For scripts;
        the fleet streams output through :meth:`perform` instead."""
        out = {STDOUT: bytearray(), STDERR: bytearray()}
        outcome = self.perform(
            Command(command, sudo=sudo, timeout=timeout),
            lambda stream, data: out[stream].extend(data),
        )
        return outcome, bytes(out[STDOUT]), bytes(out[STDERR])

    def close(self) -> None:
        """Close the SFTP session and the connection (and, when the client made its own
        context, the jump host connections). Closing twice is harmless."""
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._own_context:
            self._ctx.close()

    def __enter__(self) -> HostClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    host: Host,
    *,
    options: RunOptions | None = None,
    secrets: Secrets | None = None,
    warn: Callable[[str], None] = _nothing,
) -> HostClient:
    """A connected :class:`HostClient` for ``host`` (an inventory's host, or
    ``Host(name, address)``), for a script that works on one host::

        with hostops.connect(host) as client:
            outcome, out, err = client.run("uptime")

    Raises HostFailure (its ``status`` says why: unreachable, auth_failed,
    hostkey_rejected, ...) when the host cannot be reached.
    """
    client = HostClient(host, options=options, secrets=secrets, warn=warn)
    try:
        client.connect()
    except BaseException:
        client.close()
        raise
    return client
