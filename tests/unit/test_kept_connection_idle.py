"""An SSH connection past its handshake (a kept one too) costs no CPU while idle, and
closes at once.

paramiko's reader thread wakes at its socket's timeout only to see whether the
connection was closed; past the handshake, that timeout is long
(SshConnection._poll_slowly), so close() must wake the thread itself (a shutdown), not
leave it, and the TCP connection, until the timeout. Real sockets, no SSH: the
transport is a stand-in."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from pytest_mock import MockerFixture

from hostops.host.ssh import connection
from hostops.host.ssh.connection import SshConnection


def test_a_connection_polls_slowly_and_a_close_wakes_its_reader(
    mocker: MockerFixture,
) -> None:
    ours, theirs = socket.socketpair()
    conn = object.__new__(SshConnection)  # only what _poll_slowly and close use
    conn._sock = ours  # type: ignore[attr-defined]
    conn._proxy = None  # type: ignore[attr-defined]
    conn.transport = mocker.Mock(sock=ours)
    conn._poll_slowly()
    assert ours.gettimeout() == connection._READER_POLL_S > 1.0
    woke = threading.Event()

    def reader() -> None:  # as paramiko's packetizer waits for the next packet
        with contextlib.suppress(OSError):
            ours.recv(1)
        woke.set()

    threading.Thread(target=reader, daemon=True).start()
    time.sleep(0.1)  # let it block in recv
    conn.close()
    # Woken by the shutdown, not by the timeout: well before it.
    assert woke.wait(connection._READER_POLL_S / 4)
    conn.transport.close.assert_called_once()
    assert theirs.recv(1) == b""  # the far end sees the connection end
    theirs.close()
