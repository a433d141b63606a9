"""paramiko's reads of a TCP socket, served from one recv where packets came together
(hostops.host.ssh.readahead): the same bytes in the sizes asked for, fewer recvs."""

from __future__ import annotations

import socket

import pytest

from hostops.host.ssh.readahead import ReadAhead


class _Counted:
    """A socket's far end seen through its recv calls."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.recvs = 0
        self.send = sock.send

    def recv(self, size: int) -> bytes:
        self.recvs += 1
        return self.sock.recv(size)


@pytest.fixture
def pair():  # type: ignore[no-untyped-def]
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def test_packets_that_came_together_are_read_in_one_recv_and_handed_out_as_asked(pair) -> None:  # type: ignore[no-untyped-def]
    ours, theirs = pair
    counted = _Counted(ours)
    reader = ReadAhead(counted)  # type: ignore[arg-type]
    theirs.sendall(b"HEAD" + b"a" * 12 + b"HEAD" + b"b" * 12)  # two "packets"
    got = [reader.recv(4), reader.recv(12), reader.recv(4), reader.recv(12)]
    assert got == [b"HEAD", b"a" * 12, b"HEAD", b"b" * 12]
    assert counted.recvs == 1


def test_a_short_read_is_returned_as_is_and_the_end_of_the_stream_is_empty(pair) -> None:  # type: ignore[no-untyped-def]
    ours, theirs = pair
    reader = ReadAhead(ours)
    theirs.sendall(b"abc")
    assert reader.recv(16) == b"abc"  # fewer than asked: as a socket's recv
    theirs.sendall(b"x" * 100_000)
    big = reader.recv(80_000)  # more than one read-ahead: asked for, so read at once
    assert 0 < len(big) <= 80_000 and set(big) == {ord("x")}
    rest = b""
    while len(big) + len(rest) < 100_000:
        rest += reader.recv(70_000)
    assert len(big) + len(rest) == 100_000
    theirs.close()
    assert reader.recv(4) == b""


def test_everything_but_recv_is_the_sockets_own(pair) -> None:  # type: ignore[no-untyped-def]
    ours, theirs = pair
    reader = ReadAhead(ours)
    reader.settimeout(0.05)
    assert ours.gettimeout() == 0.05
    reader.send(b"hi")
    assert theirs.recv(2) == b"hi"
    with pytest.raises(TimeoutError):  # nothing kept, nothing come: the socket's timeout
        reader.recv(4)
    assert reader.fileno() == ours.fileno()
