"""The streaming channel between a cluster run's controller and one shard process: one
TCP connection (mutual TLS with the cluster's certificates for a tls:// cluster),
carrying frames both ways, pumped by one thread per end.

A frame is a 4-byte length, a kind byte, and a payload: ``H`` the shard's hello
(JSON: its one-time token; the controller unpickles nothing before), ``E`` an event already
pickled by the shard (the controller writes it to its event pipe as it is, without
unpickling: hostops.fleet.events), ``M`` a pickled message (the fleet dispatch
protocol, flow-control credit, the run itself).

Why one thread doing all of a socket's I/O, non-blocking: OpenSSL does not allow one
TLS connection to be read and written by two threads at once, and a blocking send on
each end while neither reads would deadlock two full buffers. Frames to send wait in
memory (bounded by the flow control of output: hostops.fleet.flow); frames received
are handed to ``on_frame`` in order, and while it blocks (the aggregator's pipe is
full) nothing more is read, so TCP holds the shard back.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import socket
import ssl
import struct
import threading
from collections import deque
from collections.abc import Callable

EVENT = b"E"
MESSAGE = b"M"
HELLO = b"H"  # a shard's first frame: JSON (its token), read before anything is unpickled
_HEADER = struct.Struct("!Ic")
_MAX_FRAME = 64 << 20  # far above any real frame (a Job, an event): a corrupt length
_READ = 1 << 16


class ChannelClosed(Exception):
    """The channel's connection is closed (by either end, or broken)."""


class Channel:
    """One end of a channel over ``sock`` (connected; TLS-wrapped or plain).
    ``on_frame(kind, payload)`` gets every frame received, in the pump thread;
    ``on_close()`` is called once when the connection ends, after the last frame;
    ``flush()`` after the frames of each read (to pass them on in batches)."""

    def __init__(
        self,
        sock: socket.socket,
        on_frame: Callable[[bytes, bytes], None],
        on_close: Callable[[], None],
        name: str = "hostops-channel",
        flush: Callable[[], None] = lambda: None,
    ) -> None:
        self._sock = sock
        self._on_frame = on_frame
        self._on_close = on_close
        self._flush = flush
        self._out: deque[bytes] = deque()
        self._lock = threading.Lock()
        self._closing = False  # close() asked: send what is queued, then end
        self.closed = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        sock.setblocking(False)
        self._thread = threading.Thread(target=self._pump, name=name, daemon=True)

    def start(self) -> None:
        """Start the pump thread."""
        self._thread.start()

    def send(self, kind: bytes, payload: bytes) -> None:
        """Queue a frame (from any thread). Raises ChannelClosed once closed."""
        frame = _HEADER.pack(len(payload), kind) + payload
        with self._lock:
            if self.closed.is_set() or self._closing:
                raise ChannelClosed
            idle = not self._out
            self._out.append(frame)
        if idle:  # else a wake-up is pending: the pump takes every queued frame when woken
            self._wake()

    def send_message(self, message: object) -> None:
        """Queue a pickled message (see :meth:`send`)."""
        self.send(MESSAGE, pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    def close(self, *, flush: bool = True) -> None:
        """End the channel: after what is queued is sent (``flush``), or at once."""
        with self._lock:
            self._closing = True
            if not flush:
                self._out.clear()
        if not flush:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        self._wake()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the pump to end."""
        self.closed.wait(timeout)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full: a wake-up is pending anyway
            os.write(self._wake_w, b"\0")

    def _pump(self) -> None:
        try:
            self._loop()
        except (OSError, ValueError, ChannelClosed):
            pass
        finally:
            with self._lock:
                self.closed.set()
                self._out.clear()
            with contextlib.suppress(OSError):
                self._sock.close()
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._on_close()

    def _loop(self) -> None:
        sock = self._sock
        inbox = bytearray()
        pending = b""  # the part of a frame being sent (TLS: retried as it was)
        want_write = False  # TLS wants to write to go on reading
        while True:
            with self._lock:
                if not pending and self._out:
                    pending = self._out.popleft()
                    while self._out and len(pending) < _READ:
                        pending += self._out.popleft()
                if self._closing and not pending:
                    return
            buffered = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
            if not buffered:
                fd = sock.fileno()
                writers = [fd] if pending or want_write else []
                readable, writable, _ = select.select([fd, self._wake_r], writers, [], 1.0)
                if self._wake_r in readable:
                    os.read(self._wake_r, 4096)
                can_read, can_write = fd in readable, fd in writable
            else:
                can_read, can_write = True, False
            if can_read or (want_write and can_write):
                want_write = False
                try:
                    data = sock.recv(_READ)
                except (ssl.SSLWantReadError, BlockingIOError, InterruptedError):
                    data = None
                except ssl.SSLWantWriteError:
                    data, want_write = None, True
                if data == b"":
                    raise ChannelClosed
                if data:
                    inbox += data
                    self._deliver(inbox)
            if pending and can_write:
                try:
                    sent = sock.send(pending[:_READ])
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                    sent = 0
                pending = pending[sent:]

    def _deliver(self, inbox: bytearray) -> None:
        offset = 0
        while len(inbox) - offset >= _HEADER.size:
            length, kind = _HEADER.unpack_from(inbox, offset)
            if length > _MAX_FRAME:
                raise ChannelClosed
            end = offset + _HEADER.size + length
            if len(inbox) < end:
                break
            self._on_frame(kind, bytes(inbox[offset + _HEADER.size : end]))
            offset = end
        del inbox[:offset]
        if offset:
            self._flush()


def server_context(ca: str, cert: str, key: str) -> ssl.SSLContext:
    """The controller's TLS: its certificate, peers must show one signed by ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=ca)
    context.load_cert_chain(cert, key)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(ca: str, cert: str, key: str) -> ssl.SSLContext:
    """A shard's TLS: its worker's certificate; the controller's must be signed by ``ca``.
    Host names are not checked, as Dask's own TLS does not: the CA is the cluster's."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    context.check_hostname = False
    context.load_cert_chain(cert, key)
    return context


def read_frame(sock: socket.socket) -> tuple[bytes, bytes]:
    """One frame read from a blocking ``sock`` (the first one, before the pump starts).
    Raises ChannelClosed at EOF or for a frame too big."""

    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            got = sock.recv(n - len(data))
            if not got:
                raise ChannelClosed
            data += got
        return data

    length, kind = _HEADER.unpack(exactly(_HEADER.size))
    if length > _MAX_FRAME:
        raise ChannelClosed
    return kind, exactly(length)
