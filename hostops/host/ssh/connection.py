"""An authenticated SSH connection to one host: TCP (or a jump host's tunnel), the
handshake with its host key check, and authentication."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import paramiko

from hostops.host.base import HostFailure
from hostops.host.ssh._paramiko import TunnelSocket, quieten, record_exit_signals
from hostops.host.ssh.auth import authenticate
from hostops.host.ssh.command import SshCommand, Sudo
from hostops.host.ssh.context import SshContext
from hostops.host.ssh.failures import reason
from hostops.host.ssh.hostkeys import default_known_hosts, fingerprint, known_hosts_name
from hostops.host.ssh.jump import tunnel
from hostops.host.ssh.lock import take_lock
from hostops.liblog import thread_name
from hostops.models import Host, HostKeyPolicy, Status


class SshConnection:
    """An authenticated SSH connection to one host, directly or through its jump hosts
    (``via``: the transport of the last hop). Raises HostFailure from the constructor."""

    def __init__(
        self,
        host: Host,
        ctx: SshContext,
        warn: Callable[[str], None],
        via: paramiko.Transport | None = None,
    ) -> None:
        self.host = host
        self._ctx = ctx
        timeout = ctx.options.connect_timeout
        if via is None and host.jump_hosts:
            via = ctx.jumps.transport(
                host.jump_hosts,
                warn,
                lambda hop, hop_warn, hop_via: SshConnection(hop, ctx, hop_warn, via=hop_via),
            )
        # --connect-timeout bounds connect, handshake and authentication together
        # (a jump host's own login has its own).
        self._deadline = time.monotonic() + timeout
        if via is None:
            self._sock: socket.socket | TunnelSocket = _connect(host, timeout)
        else:
            self._sock = tunnel(via, host, timeout)
        # Any socket-like object will do (a jump host tunnel); the stubs list a few types.
        self.transport = paramiko.Transport(self._sock)  # type: ignore[arg-type]
        self.transport.name = thread_name(host.name)  # its log records name the host
        quieten(self.transport)
        record_exit_signals(self.transport)
        try:
            self._handshake(warn)
            authenticate(self.transport, host, ctx, self._deadline)
        except BaseException:
            self.close()
            raise

    def _handshake(self, warn: Callable[[str], None]) -> None:
        host, opts = self.host, self._ctx.options
        t = self.transport
        t.banner_timeout = t.handshake_timeout = self._remaining()
        path = host.known_hosts or default_known_hosts()
        name = known_hosts_name(host.address, host.port)
        known_file = self._ctx.host_keys(path)
        known = known_file.lookup(name)
        if known:
            _prefer_host_key_types(t, list(known.keys()))
        _prefer_aead_ciphers(t)
        try:
            t.start_client(timeout=self._remaining())
        except (paramiko.SSHException, EOFError, OSError) as exc:
            # Closed or reset mid-handshake (sshd restarting, MaxStartups) may pass;
            # a peer that speaks another protocol will not.
            transient = isinstance(
                exc, (EOFError, ConnectionError)
            ) or "reading SSH protocol banner" in str(exc)
            raise HostFailure(
                Status.UNREACHABLE, f"SSH handshake failed: {reason(exc)}", transient=transient
            ) from None
        if not (t.is_active() and t.initial_kex_done):  # start_client returns quietly on timeout
            raise HostFailure(
                Status.UNREACHABLE,
                f"SSH handshake failed: no answer within --connect-timeout {opts.connect_timeout:g} s",
                transient=True,
            )
        key = t.get_remote_server_key()
        policy = opts.host_key_policy or host.host_key_policy or HostKeyPolicy.STRICT
        if key.get_base64() in known_file.revoked:
            if policy is not HostKeyPolicy.OFF:
                raise HostFailure(
                    Status.HOSTKEY_REJECTED,
                    f"host key {fingerprint(key)} of {name} is marked @revoked in {path}",
                )
            warn(
                f"host key {fingerprint(key)} is marked @revoked in {path}: accepted only"
                " because of --host-key-policy off"
            )
            return
        if known and key.get_name() in known and known[key.get_name()] == key:
            return
        if policy is HostKeyPolicy.OFF:
            warn(f"host key not verified ({fingerprint(key)}): --host-key-policy off")
            return
        if known:
            old = known.get(key.get_name()) or next(iter(known.values()))
            raise HostFailure(
                Status.HOSTKEY_REJECTED,
                f"HOST KEY CHANGED for {name}: {path} has {fingerprint(old)}, the host now"
                f" shows {fingerprint(key)}: possible man-in-the-middle; if the change is"
                f" expected, remove the old key with: ssh-keygen -f {path} -R '{name}'",
            )
        if policy is HostKeyPolicy.ACCEPT_NEW:
            self._ctx.record_host_key(path, name, key)
            warn(f"recorded new host key {fingerprint(key)} in {path}")
            return
        authorities = known_file.authority_lines(name)
        note = (
            f"; {path} has a @cert-authority line for it (line {authorities[0]}), but hostops"
            " does not support host certificates"
            if authorities
            else ""
        )
        raise HostFailure(
            Status.HOSTKEY_REJECTED,
            f"unknown host key for {name} ({fingerprint(key)}); verify it, then add it with: "
            f"ssh-keyscan -p {host.port} {host.address} >> {path} (or use --host-key-policy accept-new){note}",
        )

    def _remaining(self) -> float:
        return max(0.1, self._deadline - time.monotonic())

    def start(
        self,
        command: str,
        sudo: bool = False,
        stdin: bytes | None = None,
        *,
        sudo_user: str | None = None,
        tty: bool = False,
    ) -> SshCommand:
        """Start ``command``, with sudo as ``sudo_user`` (else ``options.sudo_user``,
        root when None) when ``sudo``; ``stdin`` is sent to it, then end-of-file.
        ``tty``: with a pseudo-terminal (see SshCommand)."""
        opts = self._ctx.options
        user = sudo_user or opts.sudo_user
        return SshCommand(
            self.transport,
            command,
            opts.keepalive_interval,
            opts.keepalive_count,
            opts.connect_timeout,
            sudo=Sudo(user, self._ctx.secrets.sudo_password) if sudo else None,
            stdin=stdin,
            tty=tty,
        )

    def open_sftp(self, timeout: float) -> paramiko.SFTPClient:
        """A new SFTP session on this connection (see hostops.host.sftp). A reply
        slower than ``timeout``, when opening it or later, is a failure."""
        # As in SshCommand: paramiko waits for the subsystem's answer without a limit.
        watchdog = threading.Timer(timeout, self.transport.close)
        watchdog.daemon = True
        watchdog.start()
        try:
            chan = self.transport.open_session(timeout=timeout)
            chan.settimeout(timeout)
            chan.invoke_subsystem("sftp")
            return paramiko.SFTPClient(chan)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise HostFailure(Status.ERROR, f"cannot start SFTP: {reason(exc)}") from None
        finally:
            watchdog.cancel()

    def hold_lock(self, name: str, timeout: float, holder: str) -> None:
        """Take the advisory lock ``name`` on the host for as long as this connection
        lasts (see hostops.host.ssh.lock); raises HostFailure when it is held elsewhere."""
        self._lock = take_lock(self.transport, name, timeout, holder)

    def is_active(self) -> bool:
        """The connection still works (a kept connection is reused only then)."""
        return self.transport.is_active()

    def close(self) -> None:
        self.transport.close()
        self._sock.close()


_AEAD = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def _prefer_aead_ciphers(t: paramiko.Transport) -> None:
    """Ask for AES-GCM first. With paramiko's default (AES-CTR + HMAC) every packet's
    MAC is compared byte by byte in Python (the top entry of a profile of a worker);
    GCM checks its tag in C: ~2% less client CPU per run at 200 hosts. OpenSSH has offered it since 6.2."""
    opts = t.get_security_options()
    current = list(opts.ciphers)
    opts.ciphers = [c for c in _AEAD if c in current] + [c for c in current if c not in _AEAD]


def _prefer_host_key_types(t: paramiko.Transport, known_types: list[str]) -> None:
    """Ask first for host key types we already know, as OpenSSH does, so a host known
    by its RSA key is not reported as changed just because it also has ed25519."""
    wanted: list[str] = []
    for kt in known_types:
        wanted += ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] if kt == "ssh-rsa" else [kt]
    opts = t.get_security_options()
    current = list(opts.key_types)
    opts.key_types = [k for k in wanted if k in current] + [k for k in current if k not in wanted]


def _connect(host: Host, timeout: float) -> socket.socket:
    try:
        sock = socket.create_connection((host.address, host.port), timeout=timeout)
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
