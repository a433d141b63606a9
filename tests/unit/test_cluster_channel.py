"""The cluster's channel (hostops.cluster.channel) over a socket pair: frames of every
size arrive whole and in order both ways, close() sends what was queued first, and
each end learns when the other is gone."""

from __future__ import annotations

import queue
import socket

from hostops.cluster.channel import EVENT, MESSAGE, Channel, ChannelClosed


def _pair() -> tuple[Channel, Channel, queue.Queue[tuple[bytes, bytes]], queue.Queue[str]]:
    a, b = socket.socketpair()
    got: queue.Queue[tuple[bytes, bytes]] = queue.Queue()
    closed: queue.Queue[str] = queue.Queue()
    left = Channel(a, lambda kind, data: None, lambda: closed.put("left"))
    right = Channel(b, lambda kind, data: got.put((kind, data)), lambda: closed.put("right"))
    left.start()
    right.start()
    return left, right, got, closed


def test_frames_of_every_size_arrive_whole_and_in_order() -> None:
    left, right, got, _ = _pair()
    sizes = [0, 1, 4095, 65536, 65537, 3 << 20, 7]
    for i, size in enumerate(sizes):
        left.send(EVENT if i % 2 else MESSAGE, bytes([i]) * size)
    for i, size in enumerate(sizes):
        kind, data = got.get(timeout=10)
        assert kind == (EVENT if i % 2 else MESSAGE)
        assert data == bytes([i]) * size
    left.close()
    right.close()


def test_close_sends_what_was_queued_then_the_other_end_sees_the_end() -> None:
    left, _right, got, closed = _pair()
    for n in range(100):
        left.send_message(("n", n))
    left.close()
    assert closed.get(timeout=10) in ("left", "right")
    assert closed.get(timeout=10) in ("left", "right")
    assert got.qsize() == 100
    try:
        left.send_message("late")
    except ChannelClosed:
        pass
    else:
        raise AssertionError("a closed channel took a frame")
