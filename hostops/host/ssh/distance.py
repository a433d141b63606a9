"""How far a host is, timed on its connection's socket: the wait for its first answer.

The adaptive concurrency (hostops.fleet.adaptive) needs to tell hosts that are far
away (each session mostly waits on round trips: more sessions at once pay, even on a
busy controller) from hosts whose answers wait on this machine's own CPU (a loopback
fleet, whose daemons share it). The controller's CPU reading cannot: both look busy.
The wait between our first bytes (the SSH version line, sent as soon as the TCP
connection is up) and the server's first is about one round trip plus the server's
start: never less than the round trip, however idle the machine; close to nothing
for a near host whose server is quick, which some of any near fleet's servers are.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class FirstAnswer:
    """A socket-like object that calls ``heard(seconds)`` once, when the first data
    comes back after the first send (0 if it came before any), and is a plain
    pass-through otherwise (paramiko's Transport takes any socket-like object)."""

    def __init__(self, sock: Any, heard: Callable[[float], None]) -> None:
        self._sock = sock
        self._heard: Callable[[float], None] | None = heard
        self._asked: float | None = None

    def send(self, data: bytes) -> int:
        if self._asked is None:
            self._asked = time.monotonic()
        return int(self._sock.send(data))

    def recv(self, size: int) -> bytes:
        data: bytes = self._sock.recv(size)
        heard = self._heard
        if data and heard is not None:
            self._heard = None
            heard(0.0 if self._asked is None else time.monotonic() - self._asked)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)
