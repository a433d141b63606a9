"""How far a host is, timed on its connection's socket: the wait for its first answer.

The adaptive concurrency (hostops.fleet.adaptive) needs to tell hosts that are far
away (each session mostly waits on round trips: more sessions at once pay, even on a
busy controller) from hosts whose answers wait on this machine's own CPU (a loopback
fleet, whose daemons share it). The controller's CPU reading cannot: both look busy.

An SSH server speaks first: it sends its version line as soon as it has accepted
the connection. So the time from the moment our TCP connection is up to the
server's first bytes is one round trip (our handshake's last packet reaching the
server, its line coming back) plus the server's start: never less than the round
trip, however busy this machine. Through a jump host, the clock starts when the
tunnel is asked for, so the bastion's round trip counts too. A ProxyCommand's is not
timed: its own start (and a login to a bastion) would count as distance.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class FirstAnswer:
    """A socket-like object that calls ``heard(seconds)`` once: when data first comes
    in, the seconds since ``since`` (a ``time.monotonic()``); or, if a read times out
    before that, the seconds waited so far (a lower bound: the answer is slower still).
    Otherwise it passes everything through (paramiko's Transport takes any socket-like
    object, and reads with a 0.1 s timeout, so a far host is known for one within
    about 0.1 s of its connection, not a round trip or two later)."""

    def __init__(self, sock: Any, since: float, heard: Callable[[float], None]) -> None:
        self._sock = sock
        self._since = since
        self._heard: Callable[[float], None] | None = heard
        self.send = sock.send  # untouched, and as fast as the socket's own

    def recv(self, size: int) -> bytes:
        try:
            data: bytes = self._sock.recv(size)
        except TimeoutError:
            self._tell()
            raise
        if data:
            self._tell()
        return data

    def _tell(self) -> None:
        heard = self._heard
        if heard is not None:
            self._heard = None
            heard(time.monotonic() - self._since)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)
