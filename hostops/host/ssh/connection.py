"""An authenticated SSH connection to one host: TCP (or a jump host's tunnel), the
handshake with its host key check, and authentication."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import paramiko

from hostops.host.base import HostFailure
from hostops.host.ssh import trust
from hostops.host.ssh._paramiko import (
    TunnelSocket,
    prefer_host_key_types,
    quieten,
    record_exit_signals,
    time_handshake_with,
)
from hostops.host.ssh.auth import authenticate
from hostops.host.ssh.command import SshCommand, Sudo
from hostops.host.ssh.context import SshContext
from hostops.host.ssh.distance import FirstAnswer
from hostops.host.ssh.failures import REMOTE_ERRORS, reason
from hostops.host.ssh.jump import tunnel
from hostops.host.ssh.lock import take_lock
from hostops.host.ssh.proxy import ProxyCommand
from hostops.host.ssh.readahead import ReadAhead
from hostops.host.ssh.runner import Runner, RunnerCommand, RunnerGone
from hostops.host.ssh.watchdog import alarm, watchdog
from hostops.host.stdin import Source
from hostops.liblog import thread_name
from hostops.models import Host, HostKeyPolicy, RunOptions, Status

_READER_POLL_S = 2.0  # see SshConnection._poll_slowly


def connect_timeout(host: Host, options: RunOptions) -> float:
    """The host's own (command line, inventory, ssh_config's ConnectTimeout), else the run's."""
    return (
        host.ssh.connect_timeout
        if host.ssh.connect_timeout is not None
        else options.connect_timeout
    )


class SshConnection:
    """An authenticated SSH connection to one host, directly or through its jump hosts
    (``via``: the transport of the last hop). ``heard(seconds)``: told how long the
    host's first answer took (hostops.host.ssh.distance; not through a ProxyCommand).
    Raises HostFailure from the constructor."""

    def __init__(
        self,
        host: Host,
        ctx: SshContext,
        warn: Callable[[str], None],
        via: paramiko.Transport | None = None,
        heard: Callable[[float], None] | None = None,
    ) -> None:
        self.host = host
        self._ctx = ctx
        self._proxy: ProxyCommand | None = None
        self._runner: Runner | None = None  # see start_runner
        self._environment: Mapping[str, str] = {}  # the last command's SendEnv/SetEnv
        refuse_unsupported(host, ctx.options)
        timeout = connect_timeout(host, ctx.options)
        if via is None and host.jump_hosts:
            via = ctx.jumps.transport(
                host.jump_hosts,
                warn,
                lambda hop, hop_warn, hop_via: SshConnection(hop, ctx, hop_warn, via=hop_via),
            )
        # --connect-timeout bounds connect, handshake and authentication together
        # (a jump host's own login has its own).
        self._deadline = time.monotonic() + timeout
        # The first answer is timed from the moment the host could answer (see
        # hostops.host.ssh.distance): the tunnel's request, the TCP connection up.
        since = time.monotonic()
        if via is not None:
            self._sock: socket.socket | TunnelSocket = tunnel(via, host, timeout)
        elif host.ssh.proxy_command:
            self._proxy = ProxyCommand(host.ssh.proxy_command, ctx.secrets.scrubbed_environment())
            self._sock = self._proxy.sock
            heard = None  # the proxy's own start and login are no distance
        else:
            self._sock = _connect(host, timeout)
            since = time.monotonic()
        # A TCP socket is read ahead (hostops.host.ssh.readahead); a tunnel's channel and
        # a ProxyCommand's socket pair are read in this process's memory or as a pipe.
        sock: Any = ReadAhead(self._sock) if isinstance(self._sock, socket.socket) else self._sock
        if heard is not None:
            sock = FirstAnswer(sock, since, heard)
        self.transport = paramiko.Transport(sock)  # any socket-like object will do (a tunnel)
        self.transport.name = thread_name(host.name)  # its log records name the host
        quieten(self.transport)
        time_handshake_with(self.transport, alarm)
        record_exit_signals(self.transport)
        try:
            try:
                self._handshake(warn)
            except HostFailure as failure:
                if self._proxy is None or failure.status is not Status.UNREACHABLE:
                    raise
                raise self._proxy.explain(failure.message) from None
            self._poll_slowly()
            authenticate(self.transport, host, ctx, self._deadline)
        except BaseException:
            self.close()
            raise

    def _handshake(self, warn: Callable[[str], None]) -> None:
        host, opts = self.host, self._ctx.options
        t = self.transport
        t.banner_timeout = t.handshake_timeout = self._remaining()
        known = trust.lookup(host, self._ctx)
        prefer_host_key_types(t, known.preferred_key_types())
        _prefer_aead_ciphers(t)
        try:
            # One wait, where paramiko's own (start_client without an event) wakes every
            # 0.1 s: a turn at the GIL each time among a hundred sessions. The event is
            # set when the key exchange is done or the transport died.
            done = threading.Event()
            t.start_client(event=done)
            done.wait(self._remaining())
            if not t.is_active():
                raise t.get_exception() or paramiko.SSHException("Negotiation failed.")
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if time.monotonic() >= self._deadline:  # our own limit ended it, not the peer
                raise HostFailure(
                    Status.UNREACHABLE, self._no_answer(host, opts), transient=True
                ) from None
            # Closed or reset mid-handshake (sshd restarting, MaxStartups) may pass;
            # a peer that speaks another protocol will not.
            transient = isinstance(
                exc, (EOFError, ConnectionError)
            ) or "reading SSH protocol banner" in str(exc)
            why = reason(exc)
            if not t.remote_version and not why.startswith("no SSH banner"):
                # It hung up before saying a word (paramiko's EOFError on sending ours).
                why = f"no SSH banner: {'connection closed' if isinstance(exc, EOFError) else why}"
            elif t.remote_version:
                why = f"SSH handshake failed: {why}"
            raise HostFailure(Status.UNREACHABLE, why, transient=transient) from None
        if not (t.is_active() and t.initial_kex_done):  # start_client returns quietly on timeout
            raise HostFailure(Status.UNREACHABLE, self._no_answer(host, opts), transient=True)
        trust.verify(t.get_remote_server_key(), known, host, self._ctx, warn)

    @staticmethod
    def _no_answer(host: Host, opts: RunOptions) -> str:
        return (
            "SSH handshake failed: no answer within the connect timeout"
            f" ({connect_timeout(host, opts):g} s)"
        )

    def _remaining(self) -> float:
        return max(0.1, self._deadline - time.monotonic())

    def start(
        self,
        command: str,
        sudo: bool = False,
        stdin: Source = None,
        *,
        sudo_user: str | None = None,
        tty: bool = False,
    ) -> SshCommand | RunnerCommand:
        """Start ``command``, with sudo as ``sudo_user`` (else ``options.sudo_user``, else
        the host's inventory ``sudo_user``, root when None) when ``sudo``; ``stdin`` is sent
        to it, then end-of-file. ``tty``: with a pseudo-terminal (see SshCommand).
        Keepalives as the host's ServerAlive* say, else the run's. Through the runner when
        one is ready and the command is a plain one (see hostops.host.ssh.runner)."""
        opts, ssh = self._ctx.options, self.host.ssh
        interval = ssh.server_alive_interval
        count = ssh.server_alive_count_max
        keepalive_s = opts.keepalive_interval if interval is None else interval
        keepalive_count = opts.keepalive_count if count is None else count
        timeout = connect_timeout(self.host, opts)
        self._environment = self._ctx.sent_environment(self.host)
        if self._runner is not None and not (sudo or tty or stdin):
            chan = self._runner.take(self._environment)
            if chan is not None:
                try:
                    return RunnerCommand(
                        self._runner, chan, self.transport, command, keepalive_s,
                        keepalive_count, timeout,
                    )  # fmt: skip
                except RunnerGone:
                    pass  # nothing started: an exec channel, as without a runner
        user = sudo_user or opts.sudo_user or self.host.sudo_user
        password = self._ctx.secrets.sudo_password_for(self.host)
        return SshCommand(
            self.transport,
            command,
            keepalive_s,
            keepalive_count,
            timeout,
            sudo=Sudo(user, password) if sudo else None,
            stdin=stdin,
            tty=tty,
            environment=self._environment,
        )

    def runner_state(self) -> str | None:
        """What its runner is doing (see Runner.describe); None: none was started."""
        return None if self._runner is None else self._runner.describe()

    def start_runner(self, python: str) -> None:
        """Have a runner (hostops.host.ssh.runner) ready for the next plain commands, with
        the last command's SendEnv/SetEnv environment: started in the background, unless
        one is ready or starting, or one could not start on this connection before."""
        runner = self._runner
        if runner is not None and (runner.unavailable or runner.wanted(self._environment)):
            return
        if runner is not None:  # gone, or left with an unfinished command, or another env
            runner.close()
        timeout = connect_timeout(self.host, self._ctx.options)
        self._runner = Runner(self.transport, python, self._environment, timeout)

    def open_sftp(self, timeout: float) -> paramiko.SFTPClient:
        """A new SFTP session on this connection (see hostops.host.sftp). A reply
        slower than ``timeout``, when opening it or later, is a failure."""
        with watchdog(timeout, self.transport.close):
            try:
                chan = self.transport.open_session(timeout=timeout)
                chan.settimeout(timeout)
                chan.invoke_subsystem("sftp")
                return paramiko.SFTPClient(chan)
            except REMOTE_ERRORS as exc:
                raise HostFailure(Status.ERROR, f"cannot start SFTP: {reason(exc)}") from None

    def hold_lock(self, name: str, timeout: float, holder: str) -> None:
        """Take the advisory lock ``name`` on the host for as long as this connection
        lasts (see hostops.host.ssh.lock); raises HostFailure when it is held elsewhere."""
        self._lock = take_lock(self.transport, name, timeout, holder)

    def is_active(self) -> bool:
        """The connection still works (a kept connection is reused only then)."""
        return self.transport.is_active()

    def _poll_slowly(self) -> None:
        """Once the handshake is done, paramiko's reader thread looks every
        :data:`_READER_POLL_S` instead of every 0.1 s for whether it should stop. That
        look is all its timeout is for after the handshake (hostops sends its own
        keepalives; close() shuts the socket down, which wakes the thread at once), and
        each look is a wake-up of the thread and a turn at the GIL: ~25 per host in a
        run of 200 hosts 100 ms away, 6 % of the run's client CPU (``perf stat``,
        benchmarks/RESULTS.md); on a kept connection, idle, 7 % of a core for 200. The
        handshake keeps 0.1 s: the first answer is timed by it (hostops.host.ssh.distance)."""
        self.transport.sock.settimeout(_READER_POLL_S)

    def detach(self, ctx: SshContext) -> None:
        """Serve no run for now: refer to ``ctx`` (one without secrets) instead of the
        last run's, whose secrets must not outlive it."""
        self._ctx = ctx

    def adopt(self, ctx: SshContext) -> bool:
        """Serve another run from now on (its options, secrets, known_hosts): False, and
        nothing changed, if the host key this connection was made with is no longer
        accepted by that run's known_hosts and policy."""
        if not trust.still_trusted(self.transport.get_remote_server_key(), self.host, ctx):
            return False
        self._ctx = ctx
        return True

    def close(self) -> None:
        # Wakes the reader thread blocked in recv (close alone would leave it, and the TCP
        # connection, until its timeout: up to _READER_POLL_S). A tunnel's
        # channel wakes its reader when it closes.
        if isinstance(self._sock, socket.socket):
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        self.transport.close()
        self._sock.close()
        if self._proxy is not None:
            self._proxy.close()


_AEAD = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def _prefer_aead_ciphers(t: paramiko.Transport) -> None:
    """Ask for AES-GCM first. With paramiko's default (AES-CTR + HMAC) every packet's
    MAC is compared byte by byte in Python (the top entry of a profile of a worker);
    GCM checks its tag in C: ~2% less client CPU per run at 200 hosts. OpenSSH has offered it since 6.2."""
    opts = t.get_security_options()
    current = list(opts.ciphers)
    opts.ciphers = [c for c in _AEAD if c in current] + [c for c in current if c not in _AEAD]


_FAMILIES = {"any": socket.AF_UNSPEC, "inet": socket.AF_INET, "inet6": socket.AF_INET6}


def refuse_unsupported(host: Host, options: RunOptions) -> None:
    """Options set for ``host`` that would change where, as whom or with what trust ssh
    connects and that hostops cannot honour: the host fails (error) naming them, before
    any connection. Also host key checking turned off through ssh_config
    (StrictHostKeyChecking no with UserKnownHostsFile /dev/null): only
    --host-key-policy off may do that."""
    ssh = host.ssh
    if ssh.refused:
        raise HostFailure(
            Status.ERROR,
            f"ssh_config option {', '.join(ssh.refused)} is not supported by hostops: it would"
            ' change where, as whom or with what trust ssh connects (README, "ssh_config")',
        )
    off = (
        ssh.strict_host_key_checking == "false"
        and ssh.known_hosts_files
        and all(path == os.devnull for path in ssh.known_hosts_files)
    )
    if off and options.host_key_policy is not HostKeyPolicy.OFF:
        where = host.origins.get("host_key_policy", "ssh_config")
        raise HostFailure(
            Status.ERROR,
            f"ssh_config turns host key checking off (StrictHostKeyChecking no with"
            f" UserKnownHostsFile /dev/null, {where}): hostops does that only with"
            " --host-key-policy off",
        )


def _connect(host: Host, timeout: float) -> socket.socket:
    """A TCP connection to ``host``, as AddressFamily and BindAddress say. Raises HostFailure."""
    bind = host.ssh.bind_address
    try:
        sock = _open_tcp(host, timeout, _FAMILIES.get(host.ssh.address_family, 0), bind)
    except TimeoutError:
        raise HostFailure(
            Status.UNREACHABLE,
            f"connect to {host.address}:{host.port} timed out after {timeout:g} s",
            transient=True,
        ) from None
    except socket.gaierror as exc:
        raise HostFailure(
            Status.UNREACHABLE, f"cannot resolve {host.address}: {exc.strerror}"
        ) from None
    except OSError as exc:  # refused, reset, no route: the host may be rebooting
        raise HostFailure(
            Status.UNREACHABLE,
            f"connect to {host.address}:{host.port}: {exc.strerror or exc}",
            transient=True,
        ) from None
    # Small SSH packets must not wait for delayed ACKs.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _open_tcp(host: Host, timeout: float, family: int, bind: str | None) -> socket.socket:
    """socket.create_connection, limited to one address family, bound to ``bind``."""
    if family == socket.AF_UNSPEC and bind is None:
        return socket.create_connection((host.address, host.port), timeout=timeout)
    last: OSError | None = None
    for af, kind, proto, _, address in socket.getaddrinfo(
        host.address, host.port, family, socket.SOCK_STREAM
    ):
        sock = socket.socket(af, kind, proto)
        try:
            sock.settimeout(timeout)
            if bind is not None:
                sock.bind((bind, 0))
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last or OSError(f"no {host.ssh.address_family} address")
