"""Messages between the thin client, the background process and its workers: one JSON
object per datagram of a ``SOCK_SEQPACKET`` Unix socket (boundaries kept by the kernel),
with file descriptors alongside (``SCM_RIGHTS``). Standard library only."""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

MAX_MESSAGE = 1 << 20  # a request carries the caller's environment: far below this
MAX_FDS = 8


def pair() -> tuple[socket.socket, socket.socket]:
    """Two connected ends."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def dial(path: str) -> socket.socket:
    """A connection to the background process's socket at ``path``; raises OSError
    (FileNotFoundError, ConnectionRefusedError: none listens there)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    """Send ``message`` (JSON-able), with ``fds`` duplicated into the receiver."""
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.sendall(data)


def recv(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """The next message and the descriptors that came with it; (None, []) at end of
    file. Raises ValueError for a message that is not a JSON object."""
    data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, MAX_FDS)
    if not data:
        for fd in fds:
            socket.close(fd)
        return None, []
    message = json.loads(data)
    if not isinstance(message, dict):
        raise ValueError("not a message")
    return message, list(fds)


def peer_uid(sock: socket.socket) -> int:
    """The user id of the process at the other end (``SO_PEERCRED``: given by the kernel,
    not by the peer)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)
