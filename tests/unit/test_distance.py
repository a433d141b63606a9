"""The first answer of a connection, timed on its socket (hostops.host.ssh.distance)."""

from __future__ import annotations

import socket
import time

import pytest

from hostops.host.ssh.distance import FirstAnswer


def test_times_the_first_answer_after_the_first_send_once() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        heard: list[float] = []
        timed = FirstAnswer(ours, heard.append)
        assert timed.send(b"SSH-2.0-us\r\n") == 12
        time.sleep(0.05)
        theirs.sendall(b"SSH-2.0-them\r\n")
        assert timed.recv(5) == b"SSH-2"
        assert timed.recv(100) == b".0-them\r\n"  # not timed again
        theirs.sendall(b"more")
        timed.send(b"x")
        assert timed.recv(100) == b"more"
        assert len(heard) == 1 and 0.05 <= heard[0] < 5


def test_an_answer_before_anything_was_sent_took_no_time() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        heard: list[float] = []
        theirs.sendall(b"hello")
        assert FirstAnswer(ours, heard.append).recv(10) == b"hello"
        assert heard == [0.0]


def test_no_answer_is_no_report_and_the_socket_is_passed_through() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        heard: list[float] = []
        timed = FirstAnswer(ours, heard.append)
        timed.settimeout(0.01)  # an attribute of the socket it wraps
        assert timed.gettimeout() == 0.01 and timed.fileno() == ours.fileno()
        timed.send(b"ping")
        with pytest.raises(TimeoutError):
            timed.recv(10)
        assert theirs.recv(10) == b"ping"
        theirs.close()
        assert timed.recv(10) == b""  # the end of the stream is no answer
        assert heard == []
