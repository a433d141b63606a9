"""SSH sessions with paramiko. The only module that imports paramiko.

One :class:`SshContext` lives in each worker process and is shared by all its
sessions: it parses each known_hosts file and each private key once, so the
cost of a run stays linear in the number of hosts.
"""

from __future__ import annotations

import base64
import fcntl
import getpass
import hashlib
import logging
import os
import re
import secrets
import select
import shlex
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import paramiko

from hostops.credentials import ENV_KEY_PASSPHRASE, ENV_PASSWORD, ENV_SUDO_PASSWORD, Secrets
from hostops.fleet.events import STDERR, STDOUT
from hostops.host.base import HostFailure, Sink
from hostops.models import Host, HostKeyPolicy, RunOptions, Status

_CHUNK = 65536
_FEED_WAIT_S = 0.01  # first wait for the SSH window to reopen while stdin is being sent
_TICK_MAX_S = 0.5  # and the longest (drive's tick)
_DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")
# hostops's own lines on a command's stderr: \x1e (record separator) + tag + a nonce per
# command, so they cannot be confused with real output. See _Markers.
_MARK = "\x1ehostops-{kind}:{nonce}:"
_MARK_LIMIT = 65536  # stderr bytes to hold back while looking for the markers
_MSG_CHANNEL_REQUEST = paramiko.common.MSG_CHANNEL_REQUEST
_KILL_WAIT_S = 5.0


def default_known_hosts() -> str:
    """Where known host keys live when the inventory does not say."""
    return os.path.expanduser("~/.ssh/known_hosts")


def known_hosts_name(address: str, port: int) -> str:
    """How OpenSSH names a host in known_hosts: ``addr`` on port 22, ``[addr]:port`` otherwise."""
    return address if port == 22 else f"[{address}]:{port}"


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's way of showing a key: ``ssh-ed25519 SHA256:...``."""
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest())
    return f"{key.get_name()} SHA256:{digest.decode().rstrip('=')}"


class KnownHosts:
    """A parsed known_hosts file, indexed by host name.

    paramiko's ``HostKeys.lookup`` scans every entry for every lookup, which
    makes a run over N hosts with an N-line file quadratic. Plain names are
    looked up in a dict here; only hashed entries (``HashKnownHosts yes``)
    still need one HMAC each, since that is what hashing is for.
    """

    def __init__(self) -> None:
        self._plain: dict[str, dict[str, paramiko.PKey]] = {}
        self._hashed: list[tuple[str, str, paramiko.PKey]] = []  # (salt, hash, key)
        self.skipped: list[int] = []  # line numbers of lines that could not be read
        self.unsupported: list[int] = []  # @cert-authority lines
        self.authorities: list[tuple[int, str]] = []  # (line, host patterns) of those lines
        self.revoked: set[str] = set()  # base64 key blobs from @revoked lines

    @classmethod
    def load(cls, path: str) -> KnownHosts:
        """Parse ``path`` (a missing file is an empty one). Raises HostFailure if unreadable."""
        known = cls()
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for lineno, raw in enumerate(f, 1):
                    line = raw.strip()
                    if not line or line.startswith("#"):
                        continue
                    if line.startswith("@revoked"):  # refused for any host, under any policy
                        fields = line.split()
                        if len(fields) >= 4:
                            known.revoked.add(fields[3])
                        continue
                    if line.startswith("@"):  # @cert-authority: host certificates unsupported
                        known.unsupported.append(lineno)
                        fields = line.split()
                        if len(fields) >= 2:
                            known.authorities.append((lineno, fields[1]))
                        continue
                    try:
                        entry = paramiko.hostkeys.HostKeyEntry.from_line(line, lineno)
                    except (paramiko.hostkeys.InvalidHostKey, paramiko.SSHException, ValueError):
                        entry = None
                    if entry is None:  # as OpenSSH does: skip the line, the rest still counts
                        known.skipped.append(lineno)
                        continue
                    for name in entry.hostnames:
                        if name.startswith("|1|"):
                            _, _, salt, digest = name.split("|", 3)
                            known._hashed.append((salt, digest, entry.key))
                        else:
                            known.add(name, entry.key)
        except FileNotFoundError:
            pass
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise HostFailure(Status.ERROR, f"cannot read known_hosts {path}: {exc}") from None
        return known

    def add(self, name: str, key: paramiko.PKey) -> None:
        self._plain.setdefault(name, {}).setdefault(key.get_name(), key)

    def authority_lines(self, name: str) -> list[int]:
        """Lines of @cert-authority entries whose host patterns match ``name``."""
        found = []
        for lineno, patterns in self.authorities:
            matched = False
            for pattern in patterns.split(","):
                if pattern.startswith("!"):
                    if _matches(name, pattern[1:]):
                        matched = False
                        break
                elif _matches(name, pattern):
                    matched = True
            if matched:
                found.append(lineno)
        return found

    def lookup(self, name: str) -> dict[str, paramiko.PKey]:
        """Key type -> key for ``name`` (empty if unknown)."""
        found = dict(self._plain.get(name, {}))
        for salt, digest, key in self._hashed:
            if paramiko.HostKeys.hash_host(name, salt).split("|")[3] == digest:
                found.setdefault(key.get_name(), key)
        return found


def _matches(name: str, pattern: str) -> bool:
    """OpenSSH's host patterns: ``*`` and ``?`` are wildcards, everything else is literal
    (``[addr]:port`` brackets included), case-insensitive."""
    wildcards = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(wildcards, name, re.IGNORECASE) is not None


@dataclass
class _JumpConnection:
    """The cached connection to one jump host chain, or its last failure."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    conn: SshConnection | None = None
    failure: HostFailure | None = None
    failed_at: float = 0.0


def _load_key(path: str, passphrase: str | None) -> paramiko.PKey | str:
    """The private key at ``path``, or why it cannot be used (never showing the passphrase)."""
    try:
        return paramiko.PKey.from_path(path)
    except FileNotFoundError:
        return f"{path}: no such file"
    except paramiko.PasswordRequiredException:
        pass
    except TypeError as exc:  # what paramiko lets through from cryptography for encrypted keys
        if "password" not in str(exc).lower():
            return f"{path}: cannot load key: {exc}"
    except (OSError, paramiko.SSHException, ValueError) as exc:
        return f"{path}: cannot load key: {exc}"
    if passphrase is None:
        return (
            f"{path}: the key is encrypted and no passphrase was given"
            f" (use --ask-key-pass or {ENV_KEY_PASSPHRASE})"
        )
    try:
        return paramiko.PKey.from_path(path, passphrase.encode())
    except (OSError, paramiko.SSHException, ValueError, TypeError):
        # cryptography says "no BEGIN/END delimiters" for a wrong bcrypt passphrase:
        # the key read without one said it is encrypted, so the passphrase is wrong.
        return (
            f"{path}: wrong passphrase for this key (from --ask-key-pass or {ENV_KEY_PASSPHRASE})"
        )


@dataclass
class SshContext:
    """Per-worker state shared by its session threads (thread-safe): parsed known_hosts
    files and private keys, the run's secrets, and the connections to jump hosts."""

    options: RunOptions
    notify: Callable[[str], None]  # warnings about files, not hosts
    secrets: Secrets = field(default_factory=Secrets)
    known_hosts_loads: int = 0
    key_loads: int = 0
    _known: dict[str, KnownHosts] = field(default_factory=dict)
    _keys: dict[str, paramiko.PKey | str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _jumps: dict[tuple[Host, ...], _JumpConnection] = field(default_factory=dict)

    def host_keys(self, path: str) -> KnownHosts:
        with self._lock:
            keys = self._known.get(path)
            if keys is None:
                keys = KnownHosts.load(path)
                self.known_hosts_loads += 1
                self._known[path] = keys
                if keys.skipped:
                    lines = ", ".join(map(str, keys.skipped[:10]))
                    self.notify(f"{path}: ignored unreadable line(s) {lines}")
                if keys.unsupported:
                    lines = ", ".join(map(str, keys.unsupported[:10]))
                    self.notify(
                        f"{path}: ignored @cert-authority line(s) {lines} (host certificates are not supported)"
                    )
            return keys

    def private_key(self, path: str) -> paramiko.PKey | str:
        """The key at ``path``, or a one-line reason why it cannot be used."""
        with self._lock:
            if path not in self._keys:
                self.key_loads += 1
                self._keys[path] = _load_key(path, self.secrets.key_passphrase)
            return self._keys[path]

    def jump_transport(
        self, hops: tuple[Host, ...], warn: Callable[[str], None]
    ) -> paramiko.Transport:
        """An authenticated connection to the last of ``hops``, reached through the others.

        One per chain per worker, shared by every session through it: the first
        session to need it logs in, the others wait for that login and use it
        (or get its failure), so a bastion sees one login per worker, not one
        per target. A connection that died is made again.
        """
        with self._lock:
            entry = self._jumps.setdefault(hops, _JumpConnection())
        asked = time.monotonic()
        with entry.lock:
            if entry.conn is not None and entry.conn.transport.is_active():
                return entry.conn.transport
            failure = entry.failure
            if failure is not None and entry.failed_at >= asked:  # tried while we waited
                raise HostFailure(failure.status, failure.message, transient=failure.transient)
            if entry.conn is not None:
                entry.conn.close()
                entry.conn = None
            # Shorter chains first: the lock order is always longer -> shorter, no deadlock.
            via = self.jump_transport(hops[:-1], warn) if len(hops) > 1 else None
            hop = hops[-1]
            try:
                entry.conn = SshConnection(
                    hop, self, lambda msg: warn(f"jump host {hop.name}: {msg}"), via=via
                )
            except HostFailure as exc:
                entry.failure = HostFailure(
                    exc.status, f"jump host {hop.name}: {exc.message}", transient=exc.transient
                )
                entry.failed_at = time.monotonic()
                failure = entry.failure
                raise HostFailure(
                    failure.status, failure.message, transient=failure.transient
                ) from None
            return entry.conn.transport

    def close(self) -> None:
        """Close the jump host connections (the longest chains first)."""
        for hops in sorted(self._jumps, key=len, reverse=True):
            conn = self._jumps[hops].conn
            if conn is not None:
                conn.close()
        self._jumps.clear()

    def record_host_key(self, path: str, name: str, key: paramiko.PKey) -> None:
        """accept-new: append ``name``'s key to ``path``, safely against concurrent writers.

        The file is locked; lines another worker appended since we parsed it are
        checked textually (no re-parse), so a key recorded elsewhere meanwhile is
        compared, not duplicated.
        """
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        line = f"{name} {key.get_name()} {key.get_base64()}\n"
        with open(path, "a+", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                f.seek(0)
                for existing in f:
                    fields = existing.split()
                    if (
                        len(fields) >= 3
                        and name in fields[0].split(",")
                        and fields[1] == key.get_name()
                    ):
                        if fields[2] != key.get_base64():
                            raise HostFailure(
                                Status.HOSTKEY_REJECTED,
                                f"host key for {name} was recorded differently by another session meanwhile",
                            )
                        break
                else:
                    f.write(line)
                    f.flush()
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
        with self._lock:
            self._known[path].add(name, key)


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
            via = ctx.jump_transport(host.jump_hosts, warn)
        # --connect-timeout bounds connect, handshake and authentication together
        # (a jump host's own login has its own).
        self._deadline = time.monotonic() + timeout
        if via is None:
            self._sock: socket.socket | _TunnelSocket = _connect(host, timeout)
        else:
            self._sock = _tunnel(via, host, timeout)
        self.transport = paramiko.Transport(self._sock)
        _quieten(self.transport)
        _record_exit_signals(self.transport)
        try:
            self._handshake(warn)
            self._authenticate()
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
                Status.UNREACHABLE, f"SSH handshake failed: {_reason(exc)}", transient=transient
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

    def _authenticate(self) -> None:
        """As OpenSSH orders it: identity files, the agent, default keys, then the password
        (when one was given), by password or keyboard-interactive authentication."""
        user = self.host.user or getpass.getuser()
        t = self.transport
        problems: list[str] = []
        tried: set[str] = set()
        allowed: list[str] | None = None  # methods the server accepts, once it has said
        where = f"{user}@{self.host.address}"

        def attempt(method: Callable[[], object]) -> bool:
            nonlocal allowed
            if time.monotonic() >= self._deadline:
                raise HostFailure(
                    Status.UNREACHABLE, "authentication timed out (--connect-timeout)"
                )
            t.auth_timeout = self._remaining()  # paramiko restarts its timer at every attempt
            try:
                method()
            except paramiko.BadAuthenticationType as exc:
                allowed = list(exc.allowed_types)
                return False
            except paramiko.AuthenticationException:
                if time.monotonic() >= self._deadline:  # paramiko's "Authentication timeout."
                    raise HostFailure(
                        Status.UNREACHABLE, "authentication timed out (--connect-timeout)"
                    ) from None
                return False
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise HostFailure(
                    Status.UNREACHABLE, f"connection lost during authentication: {_reason(exc)}"
                ) from None
            return t.is_authenticated()

        def by_key(key: paramiko.PKey) -> bool:
            fp = key.get_fingerprint()
            if fp in tried or (allowed is not None and "publickey" not in allowed):
                return False
            tried.add(fp)
            return attempt(lambda: t.auth_publickey(user, key))

        for path in self.host.identity_files:
            key = self._ctx.private_key(path)
            if isinstance(key, str):
                problems.append(key)
            elif by_key(key):
                return
        if self._ctx.options.use_agent and os.environ.get("SSH_AUTH_SOCK"):
            agent = paramiko.Agent()
            try:
                if any(by_key(k) for k in agent.get_keys()):
                    return
            finally:
                agent.close()
        for name in _DEFAULT_KEYS:
            path = os.path.expanduser(f"~/.ssh/{name}")
            if path not in self.host.identity_files and os.path.exists(path):
                key = self._ctx.private_key(path)
                if not isinstance(key, str) and by_key(key):
                    return
        password = self._ctx.secrets.password_for(self.host)
        refused = ""  # what of the password was tried, for the message
        hint = ""
        if password is None:
            # Failing anyway: learn what the server would take, to say so (or it takes none).
            try:
                if allowed is None and attempt(lambda: t.auth_none(user)):
                    return
            except HostFailure:  # it hung up (MaxAuthTries) or time ran out: denied all the same
                pass
            if {"password", "keyboard-interactive"} & set(allowed or ()):
                hint = f"; {_PASSWORD_HINT}"
            if allowed is not None and "publickey" not in allowed:
                raise HostFailure(
                    Status.AUTH_FAILED, f"{where}: server allows only {', '.join(allowed)}{hint}"
                )
            hint = hint and f"; the server also takes a password: {_PASSWORD_HINT}"
        else:
            if allowed is None or "password" in allowed:
                if attempt(lambda: t.auth_password(user, password, fallback=False)):
                    return
                if allowed is None or "password" in allowed:  # not refused as a method: wrong
                    refused = " and a password"
            if not refused and allowed is not None and "keyboard-interactive" in allowed:
                if attempt(lambda: t.auth_interactive(user, _password_answers(password))):
                    return
                refused = " and a password (keyboard-interactive)"
            if not refused:
                raise HostFailure(
                    Status.AUTH_FAILED,
                    f"{where}: server allows only {', '.join(allowed or ())}"
                    f" ({len(tried)} key(s) tried, no password method)",
                )
        detail = f"; {'; '.join(problems)}" if problems else ""
        raise HostFailure(
            Status.AUTH_FAILED,
            f"permission denied for {where} ({len(tried)} key(s){refused} tried){detail}{hint}",
        )

    def start(
        self, command: str, sudo: bool | None = None, stdin: bytes | None = None
    ) -> SshCommand:
        """Start ``command``; with sudo (``sudo`` None: as the run's ``--sudo`` says);
        ``stdin`` is sent to it, then end-of-file."""
        opts = self._ctx.options
        with_sudo = opts.sudo if sudo is None else sudo
        return SshCommand(
            self.transport,
            command,
            opts.keepalive_interval,
            opts.keepalive_count,
            opts.connect_timeout,
            sudo=Sudo(opts.sudo_user, self._ctx.secrets.sudo_password) if with_sudo else None,
            stdin=stdin,
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
            raise HostFailure(Status.ERROR, f"cannot start SFTP: {_reason(exc)}") from None
        finally:
            watchdog.cancel()

    def is_active(self) -> bool:
        """The connection still works (a kept connection is reused only then)."""
        return self.transport.is_active()

    def close(self) -> None:
        self.transport.close()
        self._sock.close()


_PASSWORD_HINT = f"give a password with --ask-pass or {ENV_PASSWORD}"


def _password_answers(password: str) -> Callable[[str, str, list[tuple[str, bool]]], list[str]]:
    """A keyboard-interactive handler that gives the password to the first round of
    hidden prompts (PAM's "Password:") and nothing to any later round: a server that
    then asks for something else (a new password, a code) gets no answer from us."""
    rounds = 0

    def answer(title: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
        nonlocal rounds
        if not prompts:
            return []
        rounds += 1
        return ["" if echo or rounds > 1 else password for _, echo in prompts]

    return answer


@dataclass(frozen=True, repr=False)
class Sudo:
    """Run the command with sudo as ``user`` (None: root); ``password`` answers its prompt."""

    user: str | None
    password: str | None

    def __repr__(self) -> str:
        return f"Sudo(user={self.user!r}, password={'<hidden>' if self.password else None})"

    def prefix(self, prompt: str) -> str:
        """``sudo -S -p PROMPT [-u USER] --``: the password is read from stdin, never argv."""
        user = f"-u {shlex.quote(self.user)} " if self.user else ""
        return f"sudo -S -p {shlex.quote(prompt)} {user}--"


class SshCommand:
    """A remote command in its own process group, whose id it reports first on stderr.

    With ``sudo``, the login shell execs sudo (so the group is still the one
    reported), sudo's password prompt is a marker line that is answered with
    the password over stdin and taken out of stderr, and a last marker says
    that sudo let the command start.
    """

    def __init__(
        self,
        transport: paramiko.Transport,
        command: str,
        keepalive_s: float = 0.0,
        keepalive_count: int = 0,
        start_timeout: float = 10.0,
        sudo: Sudo | None = None,
        stdin: bytes | None = None,
    ) -> None:
        self._transport = transport
        # Forwarded stdin, sent as the channel's window allows (see _feed); None once
        # end-of-file was sent. With sudo, only after sudo let the command start.
        self._stdin: memoryview | None = memoryview(stdin or b"")
        self._feeding = sudo is None
        self._feed_wait = _FEED_WAIT_S
        self._keepalive_s = keepalive_s
        self._keepalive_count = keepalive_count
        self._heard = time.monotonic()  # last time the host sent anything
        self._probes = 0  # keepalives sent since then
        self._sudo = sudo
        self._start_timeout = start_timeout
        self._begun = time.monotonic()
        self._password_sent = False
        nonce = secrets.token_hex(4)
        self._markers = _Markers(nonce, last="started" if sudo else "pgid", on_marker=self._marker)
        # OpenSSH starts every session's command in a new session (setsid), so
        # the login shell's $$ is the process group of the command and all its
        # children: report it first, then run the user's command in that shell.
        wrapped = f"printf '{_MARK.format(kind='pgid', nonce=nonce)}%s\\n' \"$$\" >&2\n"
        if sudo is None:
            wrapped += command
        else:
            # No pty: sudo runs the command in its own (our) process group.
            started = _MARK.format(kind="started", nonce=nonce)
            # Without forwarded stdin, the command's is /dev/null: the password went there.
            quiet = "" if stdin else "exec </dev/null\n"
            inner = f"printf '{started}\\n' >&2\n{quiet}{command}"
            prompt = _MARK.format(kind="prompt", nonce=nonce) + "\n"
            wrapped += f"exec {sudo.prefix(prompt)} /bin/sh -c {shlex.quote(inner)}"
        # paramiko waits for the channel and the exec answer without a limit: a host
        # that stops answering here would hold this thread forever, so a watchdog
        # closes the transport (which wakes those waits) if it takes too long.
        watchdog = threading.Timer(start_timeout, transport.close)
        watchdog.daemon = True
        watchdog.start()
        try:
            self._chan = transport.open_session(timeout=start_timeout)
            self._chan.exec_command(wrapped)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise HostFailure(Status.ERROR, f"cannot start the command: {_reason(exc)}") from None
        finally:
            watchdog.cancel()
        self._chan.setblocking(False)
        self._pgid: int | None = None

    def _marker(self, kind: str, value: bytes) -> None:
        if kind == "pgid":
            self._pgid = int(value) if value.isdigit() else None
        elif kind == "started":  # sudo let the command start: stdin is the command's now
            self._feeding = True
            self._feed()
        elif kind == "prompt":
            self._answer_sudo()

    def _answer_sudo(self) -> None:
        assert self._sudo is not None
        if self._sudo.password is None:
            raise HostFailure(
                Status.FAILED,
                f"sudo asked for a password: give it with --ask-sudo-pass or {ENV_SUDO_PASSWORD}",
            )
        if self._password_sent:  # sudo asks again only when the password was wrong
            raise HostFailure(
                Status.FAILED,
                f"sudo: wrong password (from --ask-sudo-pass or {ENV_SUDO_PASSWORD})",
            )
        self._password_sent = True
        self._chan.settimeout(_KILL_WAIT_S)
        try:
            self._chan.sendall((self._sudo.password + "\n").encode())
        except (TimeoutError, paramiko.SSHException, EOFError, OSError) as exc:
            raise HostFailure(
                Status.ERROR, f"cannot answer sudo's prompt: {_reason(exc)}"
            ) from None
        finally:
            self._chan.setblocking(False)

    def _feed(self) -> None:
        """Send as much forwarded stdin as the window takes now, then end-of-file (at
        once when there is none: a command that reads stdin sees EOF, not a hang).
        Never blocks: a command that does not read its stdin must not hold us."""
        if self._stdin is None or not self._feeding:
            return
        left = len(self._stdin)
        try:
            while self._stdin and self._chan.send_ready():
                self._stdin = self._stdin[self._chan.send(self._stdin[:_CHUNK]) :]
            # paramiko has no descriptor that wakes us when the window reopens: look again
            # soon while the command takes the data, less and less often while it does not.
            sent = len(self._stdin) < left
            self._feed_wait = _FEED_WAIT_S if sent else min(2 * self._feed_wait, _TICK_MAX_S)
            if not self._stdin:
                self._chan.shutdown_write()
                self._stdin = None
        except (TimeoutError, paramiko.SSHException, EOFError, OSError):
            self._stdin = None  # the channel is going: pump sees it closed

    def pump(self, sink: Sink, wait_s: float) -> bool:
        self._feed()
        if self._stdin:
            wait_s = min(wait_s, self._feed_wait)
        chan = self._chan
        if chan.eof_received:
            # After EOF the channel's pipe stays readable for good: select() would
            # spin until the exit status arrives, so wait on the status itself.
            chan.status_event.wait(wait_s)
        elif not (chan.recv_ready() or chan.recv_stderr_ready() or chan.closed):
            # poll, not select: select() fails on descriptors past 1024 (big fan-outs).
            waiter = select.poll()
            waiter.register(chan.fileno(), select.POLLIN)
            waiter.poll(wait_s * 1000)
        got = False
        while chan.recv_ready():
            sink(STDOUT, chan.recv(_CHUNK))
            got = True
        while chan.recv_stderr_ready():
            passed = self._markers.feed(chan.recv_stderr(_CHUNK))
            if passed:
                sink(STDERR, passed)
            got = True
        if got or chan.status_event.is_set():
            self._heard = time.monotonic()
        self._keepalive()
        # Ended: exit status (or signal) and EOF both in, or the channel closed
        # (which is also how a lost connection shows).
        ended = chan.closed or (chan.eof_received and chan.status_event.is_set())
        if ended and not (chan.recv_ready() or chan.recv_stderr_ready()):
            rest = self._markers.flush()
            if rest:
                sink(STDERR, rest)
            # Now, not when the collector finds it: the channel's pipe pair (poll) is
            # closed only by close(), and at hundreds of sessions the fds add up.
            chan.close()
            return True
        if (
            self._sudo is not None
            and not self._markers.done
            and time.monotonic() - self._begun > self._start_timeout
        ):
            # A prompt hostops did not recognise (sudoers' passprompt_override?) would
            # otherwise wait for a password until --timeout, or forever.
            raise HostFailure(
                Status.FAILED, f"sudo did not start the command within {self._start_timeout:g} s"
            )
        return False

    def _keepalive(self) -> None:
        """After ``keepalive_s`` of silence, ask the host for a reply (as OpenSSH's
        ServerAliveInterval does); ``keepalive_count`` unanswered in a row: it is gone."""
        if self._keepalive_s <= 0:
            return
        replied = getattr(self._transport, "hostops_last_reply", 0.0)
        if replied > self._heard:
            self._heard = replied
            self._probes = 0
        silence = time.monotonic() - self._heard
        due = int(silence // self._keepalive_s)
        if due > self._keepalive_count:
            raise HostFailure(
                Status.ERROR, f"no response from the host for {silence:.0f} s (keepalive)"
            )
        while self._probes < due:
            m = paramiko.Message()
            m.add_byte(paramiko.common.cMSG_GLOBAL_REQUEST)
            m.add_string("keepalive@openssh.com")
            m.add_boolean(True)  # want a reply: OpenSSH answers with a failure, which is fine
            try:
                self._transport._send_user_message(m)
            except (paramiko.SSHException, OSError, EOFError):
                return  # a dead transport shows as a closed channel
            self._probes += 1

    def signal_group(self, name: str) -> bool:
        if self._pgid is None or not self._transport.is_active():
            self._chan.close()  # all that can be done; the command may live on
            return False
        kill = f"kill -s {name} -- -{self._pgid}"
        if self._sudo is not None:  # the command runs as another user: so must its kill
            kill = f"{self._sudo.prefix('')} /bin/sh -c {shlex.quote(kill)}"
        killer = None
        try:
            killer = self._transport.open_session(timeout=_KILL_WAIT_S)
            killer.settimeout(_KILL_WAIT_S)
            killer.exec_command(f"{kill} 2>/dev/null")
            if self._sudo is not None and self._sudo.password is not None:
                killer.sendall((self._sudo.password + "\n").encode())  # kill never reads it
            killer.shutdown_write()
            # Bounded: a host that stops answering now must not hold this thread.
            return killer.status_event.wait(_KILL_WAIT_S) and killer.exit_status == 0
        except (TimeoutError, paramiko.SSHException, EOFError, OSError):
            self._chan.close()
            return False
        finally:
            if killer is not None:
                killer.close()

    def result(self) -> tuple[int | None, str | None]:
        sig = getattr(self._chan, "hostops_exit_signal", None)
        if sig:
            return None, sig
        status = self._chan.exit_status
        return (status, None) if status >= 0 else (None, None)

    def lost(self) -> str | None:
        if self._chan.exit_status >= 0 or getattr(self._chan, "hostops_exit_signal", None):
            return None
        return "connection lost before the command finished"


class _Markers:
    """Takes hostops's own lines (``\\x1ehostops-KIND:NONCE:VALUE\\n``) out of a command's
    stderr, wherever they are and however the packets split them, and reports each one.

    Everything is held back until the ``last`` kind of marker has been seen,
    so that a marker cut across packets is still recognised and never shown;
    at most ``_MARK_LIMIT`` bytes are held (then the rest passes as it is).
    """

    _KINDS = ("pgid", "prompt", "started")

    def __init__(self, nonce: str, last: str, on_marker: Callable[[str, bytes], None]) -> None:
        self._tags = {k: _MARK.format(kind=k, nonce=nonce).encode() for k in self._KINDS}
        self._last = last
        self._on_marker = on_marker
        self._held = b""
        self.done = False  # the last marker was seen (or too much came before it)

    def feed(self, data: bytes) -> bytes:
        """The stderr bytes that may be passed on now."""
        if self.done:
            return data
        self._held += data
        while not self.done:
            found = [(self._held.find(tag), kind) for kind, tag in self._tags.items()]
            at, kind = min(((i, k) for i, k in found if i >= 0), default=(-1, ""))
            if at < 0:
                break
            end = self._held.find(b"\n", at)
            if end < 0:
                return b""  # the rest of the marker is still on its way
            value = self._held[at + len(self._tags[kind]) : end]
            self._held = self._held[:at] + self._held[end + 1 :]
            self.done = kind == self._last
            self._on_marker(kind, value)
        if not self.done and len(self._held) < _MARK_LIMIT:
            return b""
        self.done = True
        return self.flush()

    def flush(self) -> bytes:
        """What is held back, when the command has ended."""
        held, self._held = self._held, b""
        return held


def _quieten(t: paramiko.Transport) -> None:
    """paramiko builds a log record for every packet and escapes, byte by byte in Python,
    every debug message the server sends (OpenSSH sends some at each login), even with
    its logger silent: ~0.5 ms of CPU per connection, measured with yappi at 200 hosts.
    Keep its INFO and above; all of it when the paramiko logger is set to DEBUG."""
    if t.logger.isEnabledFor(logging.DEBUG):
        return
    original = t._log

    def log(level: int, msg: object, *args: object) -> None:
        if level >= logging.INFO:
            original(level, msg, *args)

    t._log = log  # type: ignore[method-assign]
    t._parse_debug = lambda m: None  # type: ignore[method-assign]


def _record_exit_signals(t: paramiko.Transport) -> None:
    """Keep the signal name of ``exit-signal`` requests (RFC 4254 6.10), which paramiko
    ignores, and the time of the last answer to a global request (keepalives).

    paramiko dispatches channel messages through a class-level table; this
    transport gets its own copy with one entry wrapped.
    """
    table = dict(t._channel_handler_table)
    original = table[_MSG_CHANNEL_REQUEST]

    def handle(chan: paramiko.Channel, m: paramiko.Message) -> None:
        start = m.packet.tell()
        if m.get_text() == "exit-signal":
            m.get_boolean()
            chan.hostops_exit_signal = m.get_text()  # type: ignore[attr-defined]
            chan.status_event.set()
            return
        m.packet.seek(start)
        original(chan, m)

    table[_MSG_CHANNEL_REQUEST] = handle
    t._channel_handler_table = table  # type: ignore[misc]
    # Any answer to a global request (our keepalives) proves the host is alive.
    for kind in (paramiko.common.MSG_REQUEST_SUCCESS, paramiko.common.MSG_REQUEST_FAILURE):
        t._handler_table[kind] = _noting_reply(t, t._handler_table[kind])


def _noting_reply(
    t: paramiko.Transport, original: Callable[[paramiko.Message], None]
) -> Callable[[paramiko.Message], None]:
    def handle(m: paramiko.Message) -> None:
        t.hostops_last_reply = time.monotonic()  # type: ignore[attr-defined]
        original(m)

    return handle


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


class _TunnelSocket:
    """What a Transport through a jump host uses as its socket: a direct-tcpip channel
    whose sends and close never interleave.

    paramiko's ``Channel.send`` checks for a close under the channel's lock but
    sends after releasing it, so a data packet can follow the close on the wire;
    OpenSSH answers that ("data packet referred to nonexistent channel") by
    dropping the whole connection to the jump host, and with it every other
    session through it. Seen at 8 sessions through one bastion.
    """

    def __init__(self, chan: paramiko.Channel) -> None:
        self._chan = chan
        self._lock = threading.Lock()

    def recv(self, n: int) -> bytes:
        return self._chan.recv(n)

    def send(self, data: bytes) -> int:
        with self._lock:
            return self._chan.send(data)  # OSError once closed: the transport stops

    def settimeout(self, timeout: float | None) -> None:
        self._chan.settimeout(timeout)

    def close(self) -> None:
        with self._lock:
            self._chan.close()

    @property
    def _closed(self) -> bool:  # what paramiko's Transport.stop_thread looks at
        return bool(self._chan.closed)


def _tunnel(via: paramiko.Transport, host: Host, timeout: float) -> _TunnelSocket:
    """A direct-tcpip channel from the jump host ``via`` to ``host``: the jump host
    opens the TCP connection, so names and addresses are the ones it sees."""
    try:
        chan = via.open_channel(
            "direct-tcpip", (host.address, host.port), ("127.0.0.1", 0), timeout=timeout
        )
    except paramiko.ChannelException as exc:
        why = exc.text or f"refused (code {exc.code})"
        raise HostFailure(
            Status.UNREACHABLE,
            f"connect to {host.address}:{host.port} through the jump host: {why}",
            transient=True,
        ) from None
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise HostFailure(
            Status.UNREACHABLE,
            f"connect to {host.address}:{host.port} through the jump host: {_reason(exc)}",
            transient=True,
        ) from None
    return _TunnelSocket(chan)


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


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, EOFError) or not text:
        return "connection closed by the remote side"
    return text.splitlines()[0]
