"""The first answer of a connection, timed on its socket (hostops.host.ssh.distance)."""

from __future__ import annotations

import socket
import time

import pytest

from hostops.host.ssh.distance import FirstAnswer


def test_times_the_first_answer_from_the_given_moment_once() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        heard: list[float] = []
        since = time.monotonic() - 0.5  # the connection was up half a second ago
        timed = FirstAnswer(ours, since, heard.append)
        assert timed.send(b"SSH-2.0-us\r\n") == 12
        assert theirs.recv(100) == b"SSH-2.0-us\r\n"
        theirs.sendall(b"SSH-2.0-them\r\n")
        assert timed.recv(5) == b"SSH-2"
        time.sleep(0.05)
        assert timed.recv(100) == b".0-them\r\n"  # not timed again
        theirs.sendall(b"more")
        assert timed.recv(100) == b"more"
        assert len(heard) == 1 and 0.5 <= heard[0] < 0.55 + 5


def test_a_read_that_times_out_first_tells_the_wait_so_far() -> None:
    """No answer within the socket's timeout: the wait so far is told (the answer is
    slower still), once; the answer that comes later tells nothing more."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        heard: list[float] = []
        since = time.monotonic()
        timed = FirstAnswer(ours, since, heard.append)
        timed.settimeout(0.05)  # an attribute of the socket it wraps
        assert timed.gettimeout() == 0.05 and timed.fileno() == ours.fileno()
        with pytest.raises(TimeoutError):
            timed.recv(10)
        assert len(heard) == 1 and 0.05 <= heard[0] <= time.monotonic() - since
        theirs.sendall(b"late")
        assert timed.recv(10) == b"late"
        assert len(heard) == 1


def test_the_end_of_the_stream_is_no_answer() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        heard: list[float] = []
        timed = FirstAnswer(ours, time.monotonic(), heard.append)
        theirs.close()
        assert timed.recv(10) == b""
        assert heard == []
