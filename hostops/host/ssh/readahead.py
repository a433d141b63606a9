"""A TCP socket as paramiko's reader thread reads it: one ``recv`` for many packets.

paramiko reads each packet in two exact pieces (its first block, then the rest), and a
socket with a timeout (paramiko's reader has one) makes each ``recv`` two system calls
(``poll``, then ``recv``), each letting go of Python's GIL and taking it back. Among a
hundred sessions in one worker process, taking it back is the costly part: measured
with ``perf stat`` on 200 hosts behind a +100 ms proxy, a run's processes made ~380
futex calls per host, almost all the GIL's. A server's packets often come together (the
key exchange's reply and NEWKEYS; a command's output, exit status, EOF and close), and
:class:`ReadAhead` takes whatever has come in one ``recv`` and hands it out as paramiko
asks for it.
"""

from __future__ import annotations

import socket
from typing import Any

_READ = 65536  # at most this much in one recv (more if asked for more)


class ReadAhead:
    """``sock`` with reads of up to 64 KiB kept and handed out in the sizes asked for;
    everything else (send, settimeout, close, ...) is the socket's own."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._kept = b""
        self.send = sock.send  # untouched, and as fast as the socket's own

    def recv(self, size: int) -> bytes:
        """At most ``size`` bytes: kept ones first; b"" at the end of the stream."""
        data = self._kept
        if not data:
            data = self._sock.recv(max(size, _READ))
            if len(data) <= size:
                return data
        self._kept = data[size:]
        return data[:size]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)
