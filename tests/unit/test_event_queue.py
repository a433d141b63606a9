"""The event queue survives writers killed at any instant: every event is one atomic
pipe write, so there is no write lock to leave held and no message to leave cut."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import random
import signal
import time

import pytest

from hostops.fleet.events import (
    MAX_EVENT_BYTES,
    MAX_NAME,
    OUTPUT_CHUNK,
    EventQueue,
    HostFinished,
    HostWarning,
    Output,
    output_events,
    worker_died_events,
)
from hostops.models import Status

_CTX = multiprocessing.get_context("fork")


def _writer(q: EventQueue, n: int) -> None:
    name = f"w{n}"
    data = bytes([n]) * OUTPUT_CHUNK
    while True:  # until killed
        q.put(Output(name, "stdout", data))


def test_writers_killed_mid_stream_never_corrupt_or_block_the_queue():
    q = EventQueue(_CTX)
    writers = [_CTX.Process(target=_writer, args=(q, n), daemon=True) for n in range(4)]
    for w in writers:
        w.start()
    seen = 0
    end = time.monotonic() + 3
    alive = list(writers)
    while alive or seen == 0:
        try:
            event = q.get(timeout=5)  # a held write lock or a cut message would stall here
        except queue.Empty:
            if not alive:
                break
            raise AssertionError("the queue stalled") from None
        n = int(event.host[1:])
        assert event.data == bytes([n]) * OUTPUT_CHUNK  # never a cut or mixed message
        seen += 1
        if alive and (time.monotonic() > end or random.random() < 0.002):
            victim = alive.pop(random.randrange(len(alive)))
            os.kill(victim.pid, signal.SIGKILL)  # at any instant, writing or not
            victim.join()
    # The queue still works for everyone else after all of that.
    q.put(HostWarning(None, "still fine"))
    while True:
        event = q.get(timeout=5)
        if isinstance(event, HostWarning):
            break
        assert len(event.data) == OUTPUT_CHUNK
    assert seen > 100


def test_every_event_fits_one_atomic_write():
    worst_name = "h" * MAX_NAME
    events = [
        *output_events(worst_name, "stderr", os.urandom(OUTPUT_CHUNK * 3 + 5)),
        HostFinished(worst_name, Status.ERROR, None, "KILL", 1.0, "é" * 5000, 3),
        HostWarning(worst_name, "x" * 100_000),
        *worker_died_events(1, -9, tuple(f"{worst_name[:200]}{i}" for i in range(500))),
    ]
    for e in events:
        assert len(pickle.dumps(e, protocol=pickle.HIGHEST_PROTOCOL)) <= MAX_EVENT_BYTES, e
    assert sum(len(e.data) for e in events if isinstance(e, Output)) == OUTPUT_CHUNK * 3 + 5
    died = [e for e in events if type(e).__name__ == "WorkerDied"]
    assert len(died) > 1 and sum(len(e.hosts) for e in died) == 500
    assert events[-len(died) - 2].error.endswith("...")  # clipped, whole characters


def test_an_event_too_big_is_refused_not_written():
    q = EventQueue(_CTX)
    with pytest.raises(ValueError, match="use output_events"):
        q.put(Output("h", "stdout", b"x" * (OUTPUT_CHUNK + 1)))
    with pytest.raises(ValueError, match="too big for an atomic write"):
        q.put(HostFinished("h" * 5000, Status.OK, 0, None, 0.0, None))
