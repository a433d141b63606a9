"""Asking the background process what it holds, or to close everything
(``hostops persist``, ``hostops persist --stop``: as ``ssh -O check`` / ``ssh -O exit``).
Standard library only; never starts the background process."""

from __future__ import annotations

from typing import Any

from hostops.keeper import paths, wire

_ANSWER_WAIT_S = 15.0


def ask(op: str) -> dict[str, Any] | None:
    """The answer of this user's background process to ``op`` ("status", "stop"); None
    when none runs. Raises paths.PlaceError for an untrustworthy directory."""
    path = paths.socket_path()
    try:
        sock = wire.dial(path)
    except (FileNotFoundError, ConnectionRefusedError):
        return None
    with sock:
        sock.settimeout(_ANSWER_WAIT_S)
        wire.send(sock, {"op": op})
        answer, _fds = wire.recv(sock)
    return answer
