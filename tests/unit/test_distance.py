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


def test_no_answer_is_no_report_and_the_socket_is_passed_through() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        heard: list[float] = []
        timed = FirstAnswer(ours, time.monotonic(), heard.append)
        timed.settimeout(0.01)  # an attribute of the socket it wraps
        assert timed.gettimeout() == 0.01 and timed.fileno() == ours.fileno()
        with pytest.raises(TimeoutError):
            timed.recv(10)
        theirs.close()
        assert timed.recv(10) == b""  # the end of the stream is no answer
        assert heard == []
