"""Every use of paramiko's private API, in one place.

paramiko has no public way to do these things; each is a small patch on one
transport or channel. tests/unit/test_paramiko_internals.py is the canary: it
fails loudly when a paramiko release changes what these rely on (see
:func:`missing_internals`), and pyproject bounds paramiko's version.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import paramiko

# Attributes hostops adds to paramiko's objects.
_EXIT_SIGNAL = "hostops_exit_signal"  # on a Channel: the exit-signal's name
_LAST_REPLY = "hostops_last_reply"  # on a Transport: time of the last global reply


def missing_internals() -> list[str]:
    """The private names this module relies on that paramiko no longer has (empty: all there)."""
    t = paramiko.Transport
    wanted = {
        "Transport._log": hasattr(t, "_log"),
        "Transport._parse_debug": hasattr(t, "_parse_debug"),
        "Transport._channel_handler_table": hasattr(t, "_channel_handler_table"),
        "Transport._handler_table": "self._handler_table" in inspect.getsource(t.__init__),
        "Transport._send_user_message": hasattr(t, "_send_user_message"),
        "Transport.stop_thread reads sock._closed": "_closed" in inspect.getsource(t.stop_thread),
        "Channel.status_event": "status_event" in inspect.getsource(paramiko.Channel.__init__),
        "Message.packet": "self.packet" in inspect.getsource(paramiko.Message.__init__),
        "SFTPFile._reqs": "self._reqs" in inspect.getsource(paramiko.SFTPFile.__init__),
        "SFTPClient._read_response": hasattr(paramiko.SFTPClient, "_read_response"),
        "SFTPClient._request": hasattr(paramiko.SFTPClient, "_request"),
        "Transport._key_info knows host certificates": set(HOST_CERTIFICATE_TYPES)
        <= set(getattr(t, "_key_info", {})),
        "AgentSSH._connect": hasattr(paramiko.agent.AgentSSH, "_connect"),
        "Packetizer.start_handshake sets __timer": "self.__timer = "
        in inspect.getsource(paramiko.packet.Packetizer.start_handshake),
        "Packetizer.complete_handshake cancels __timer": "self.__timer.cancel()"
        in inspect.getsource(paramiko.packet.Packetizer.complete_handshake),
        "Packetizer.read_timer": hasattr(paramiko.packet.Packetizer, "read_timer"),
        "Channel.in_buffer and in_stderr_buffer": "self.in_stderr_buffer = BufferedPipe()"
        in inspect.getsource(paramiko.Channel.__init__),
        "BufferedPipe.set_event": hasattr(paramiko.buffered_pipe.BufferedPipe, "set_event"),
        "AuthHandler.wait_for_response": hasattr(
            paramiko.auth_handler.AuthHandler, "wait_for_response"
        ),
    }
    return [name for name, present in wanted.items() if not present]


# The host certificate algorithms paramiko can receive (its _key_info maps each to a key
# class that reads the certificate into ``public_blob``), in OpenSSH's order.
HOST_CERTIFICATE_TYPES = (
    "ssh-ed25519-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
)


def prefer_host_key_types(t: paramiko.Transport, wanted: list[str]) -> None:
    """Ask the host for the ``wanted`` key types first, host certificates included.

    paramiko never asks for a certificate on its own: its default list has none, but
    the security options accept any type its private ``_key_info`` table knows, and
    its key classes then read the certificate the host sends (``key.public_blob``);
    hostops checks it (hostops.host.ssh.certificates)."""
    opts = t.get_security_options()
    current = list(opts.key_types)
    usable = [k for k in wanted if k in current or k in HOST_CERTIFICATE_TYPES]
    opts.key_types = usable + [k for k in current if k not in usable]


def agent_at(path: str) -> paramiko.Agent:
    """The agent listening on ``path`` (IdentityAgent): paramiko's Agent only finds the one
    named by $SSH_AUTH_SOCK, which a thread must not change for the whole process.
    Raises OSError when nothing listens there, SSHException when it is no agent."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    agent: Any = paramiko.Agent.__new__(paramiko.Agent)
    paramiko.agent.AgentSSH.__init__(agent)
    agent._connect(sock)
    return cast(paramiko.Agent, agent)


def quieten(t: paramiko.Transport) -> None:
    """paramiko builds a log record for every packet and escapes, byte by byte in Python,
    every debug message the server sends (OpenSSH sends some at each login), even with
    its logger silent: ~0.5 ms of CPU per connection, measured with yappi at 200 hosts.
    Keep its INFO and above; all of it when the paramiko logger is set to DEBUG."""
    if t.logger.isEnabledFor(logging.DEBUG):
        return
    raw: Any = t  # private attributes: the stubs (rightly) do not know them
    original = raw._log

    def log(level: int, msg: object, *args: object) -> None:
        if level >= logging.INFO:
            original(level, msg, *args)

    raw._log = log
    raw._parse_debug = lambda m: None


def time_handshake_with(
    t: paramiko.Transport, alarm: Callable[[float, Callable[[], None]], Any]
) -> None:
    """Time the handshake with ``alarm`` (hostops.host.ssh.watchdog's: one thread for a
    process), where paramiko starts a ``threading.Timer`` for each connection: a thread's
    start and end per host, ~0.1-0.2 ms of CPU on a busy machine. The alarm calls the
    packetizer's own ``read_timer``, and its ``complete_handshake`` cancels it."""
    raw: Any = t.packetizer  # private attributes: the stubs (rightly) do not know them

    def start_handshake(timeout: float) -> None:
        if not raw._Packetizer__timer:
            raw._Packetizer__timer = alarm(float(timeout), raw.read_timer)

    raw.start_handshake = start_handshake


def record_exit_signals(t: paramiko.Transport) -> None:
    """Keep the signal name of ``exit-signal`` requests (RFC 4254 6.10), which paramiko
    ignores, and the time of the last answer to a global request (keepalives).

    paramiko dispatches channel messages through a class-level table; this
    transport gets its own copy with one entry wrapped.
    """
    raw: Any = t  # private attributes: the stubs (rightly) do not know them
    table = dict(raw._channel_handler_table)
    original = table[paramiko.common.MSG_CHANNEL_REQUEST]

    def handle(chan: paramiko.Channel, m: paramiko.Message) -> None:
        start = m.packet.tell()
        if m.get_text() == "exit-signal":
            m.get_boolean()
            setattr(chan, _EXIT_SIGNAL, m.get_text())
            chan.status_event.set()
            return
        m.packet.seek(start)
        original(chan, m)

    table[paramiko.common.MSG_CHANNEL_REQUEST] = handle
    raw._channel_handler_table = table
    # Any answer to a global request (our keepalives) proves the host is alive.
    for kind in (paramiko.common.MSG_REQUEST_SUCCESS, paramiko.common.MSG_REQUEST_FAILURE):
        raw._handler_table[kind] = _noting_reply(t, raw._handler_table[kind])


def _noting_reply(
    t: paramiko.Transport, original: Callable[[paramiko.Message], None]
) -> Callable[[paramiko.Message], None]:
    def handle(m: paramiko.Message) -> None:
        setattr(t, _LAST_REPLY, time.monotonic())
        original(m)

    return handle


def last_reply(t: paramiko.Transport) -> float:
    """When the host last answered a global request (a keepalive); 0.0: never."""
    return float(getattr(t, _LAST_REPLY, 0.0))


def exit_signal(chan: paramiko.Channel) -> str | None:
    """The signal that ended the channel's command (see :func:`record_exit_signals`)."""
    signal: str | None = getattr(chan, _EXIT_SIGNAL, None)
    return signal


def send_keepalive(t: paramiko.Transport) -> bool:
    """Send OpenSSH's ``keepalive@openssh.com`` global request wanting a reply (OpenSSH
    answers with a failure, which is fine), without waiting for it, as
    ``ServerAliveInterval`` does. False when the transport is dead."""
    m = paramiko.Message()
    m.add_byte(paramiko.common.cMSG_GLOBAL_REQUEST)
    m.add_string("keepalive@openssh.com")
    m.add_boolean(True)
    try:
        # The public global_request() waits for the reply: a hung host would hold us.
        raw: Any = t  # a private method: the stubs (rightly) do not know it
        raw._send_user_message(m)
    except (paramiko.SSHException, OSError, EOFError):
        return False
    return True


_OPENSSH = re.compile(r"SSH-2\.0-OpenSSH_\d")


def leads_groups(t: paramiko.Transport) -> bool:
    """Whether the host's sshd starts every session's command as the leader of a new
    session and process group: OpenSSH does (``setsid`` in the session's child, in every
    version), so the login shell's own pid is the command's group. Dropbear does not
    (its shells share the group of its per-connection process)."""
    return _OPENSSH.match(t.remote_version or "") is not None


def settle_sftp_file(remote_file: paramiko.SFTPFile) -> None:
    """Wait for every pipelined write's answer (an error raises here: paramiko would
    drop those still pending at close), then ask the server to fsync the file.

    fsync is best effort: servers without OpenSSH's extension still get an
    atomic rename, only not the durability across a power cut.
    """
    raw: Any = remote_file  # private attributes: the stubs (rightly) do not know them
    sftp = raw.sftp
    while raw._reqs:
        sftp._read_response(raw._reqs.popleft())
    with contextlib.suppress(OSError):
        sftp._request(paramiko.sftp.CMD_EXTENDED, "fsync@openssh.com", remote_file.handle)


class TunnelSocket:
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


def readable_event(chan: paramiko.Channel) -> threading.Event:
    """An Event set when ``chan`` has output to read, on either stream, or is closed
    (paramiko's buffers set it; a read that empties one clears it: look at both before
    waiting). Where ``chan.fileno()`` would make a pipe pair for the same, held for the
    channel's life and written and read for every packet: three system calls and as
    many turns at the GIL each time."""
    ready = threading.Event()
    chan.in_buffer.set_event(ready)
    chan.in_stderr_buffer.set_event(ready)
    return ready


def auth_publickey(t: paramiko.Transport, user: str, key: paramiko.PKey, timeout: float) -> None:
    """``t.auth_publickey(user, key)`` with one wait for the answer, where paramiko's own
    wakes every 0.1 s (a turn at the GIL each time, among a hundred sessions). Raises
    as paramiko does; ``AuthenticationException("Authentication timeout.")`` when no
    answer came within ``timeout`` seconds."""
    answered = threading.Event()
    t.auth_publickey(user, key, event=answered)
    if not answered.wait(timeout):
        raise paramiko.AuthenticationException("Authentication timeout.")
    # Answered (or the transport died): paramiko's own checks of the answer, at once.
    raw: Any = t  # auth_handler: not in the stubs
    raw.auth_handler.wait_for_response(answered)
