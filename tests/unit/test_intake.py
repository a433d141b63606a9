"""The aggregator reads the event pipe in bulk (hostops.fleet.intake): every writer's
framing is split back into the same events, in order, whatever the reads cut."""

from __future__ import annotations

import fcntl
import multiprocessing
import multiprocessing.connection
import os
import threading
import time

import pytest

from hostops.fleet.aggregator import Sinks, aggregator_main
from hostops.fleet.events import (
    OUTPUT_CHUNK,
    EndOfRun,
    EventQueue,
    EventWriter,
    HostFinished,
    HostStarted,
    Output,
)
from hostops.fleet.intake import EventReader
from hostops.models import Host, Status
from hostops.render.console import OutputMode, ViewOptions

_CTX = multiprocessing.get_context("fork")


def _read_all(reader: EventReader, count: int) -> list[object]:
    got: list[object] = []
    while len(got) < count:
        batch = reader.read(5.0)
        assert batch, "no event within 5 s"
        got += batch
    return got


def test_events_of_the_queue_and_of_a_writer_come_back_whole_and_in_order():
    q = EventQueue(_CTX)
    sent = [
        Output(f"h{i}", "stdout", bytes([i % 256]) * (i * 37 % OUTPUT_CHUNK)) for i in range(300)
    ]
    # Read while writing: the events are far more than a pipe holds, and a writer blocks
    # on a full pipe (it did here: the feeder filled the pipe before the second writer).
    got: list[object] = []
    reading = threading.Thread(
        target=lambda: got.extend(_read_all(EventReader(q.reader_fd()), len(sent) + 1))
    )
    reading.start()
    for event in sent:  # the queue's feeder thread: some land together in one read
        q.put(event)
    writer = EventWriter(os.dup(q.writer_fd()))
    writer.put(HostStarted("w", 7))  # another writer of the same pipe, among them
    reading.join(timeout=60)
    assert not reading.is_alive()
    assert [e for e in got if e != HostStarted("w", 7)] == sent
    assert len(got) == len(sent) + 1
    writer.close(lambda: False)


def test_an_event_cut_between_two_reads_waits_for_its_rest():
    r, w = os.pipe()
    framed = _framed(Output("h", "stdout", b"x" * 100))
    reader = EventReader(r)
    os.write(w, framed + framed[:50])
    assert reader.read(1.0) == [Output("h", "stdout", b"x" * 100)]
    assert reader.read(0.01) == []  # nothing whole yet ...
    os.write(w, framed[50:])
    assert reader.read(1.0) == [Output("h", "stdout", b"x" * 100)]  # ... now it is
    os.close(w)
    with pytest.raises(EOFError):
        reader.read(1.0)
    os.close(r)


def test_the_reader_says_when_more_waits_after_a_read():
    """The aggregator gathers events before a read only when the last read left nothing:
    while a flood fills the pipe it reads on at once."""
    event = Output("h", "stdout", b"z" * OUTPUT_CHUNK)
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 1 << 18)  # room for more than one read
    framed = _framed(event)
    os.write(w, framed * 60)  # ~185 KiB
    reader = EventReader(r)
    got = reader.read(1.0)
    assert reader.more and 0 < len(got) < 60
    while len(got) < 60:
        got += reader.read(1.0)
    assert not reader.more  # the last read took what was left
    assert got == [event] * 60
    os.close(w)
    os.close(r)


def _framed(event: object) -> bytes:
    """``event`` as a writer puts it in the pipe."""
    r, w = os.pipe()
    with multiprocessing.connection.Connection(w, readable=False) as conn:
        conn.send(event)
    data = os.read(r, 1 << 16)
    os.close(r)
    return data


def test_many_hosts_running_and_a_flood_every_event_is_handled(capfd):
    """With more hosts running than the gather threshold, and one flooding."""
    n = 40
    hosts = [Host(f"h{i:02d}", "127.0.0.1") for i in range(n)]
    q = EventQueue(_CTX)
    report_in, report_out = _CTX.Pipe(duplex=False)
    agg = _CTX.Process(
        target=aggregator_main,
        args=(
            hosts,
            ViewOptions(mode=OutputMode.QUIET, summary=False),
            q,
            report_out,
            _CTX.Lock(),
            time.monotonic(),
            Sinks(max_output=1 << 10),
        ),
    )
    agg.start()
    for h in hosts:  # all running: the aggregator gathers between partial reads
        q.put(HostStarted(h.name, 1))
    chunk = b"y" * OUTPUT_CHUNK
    for _ in range(2000):  # ~6 MB from one host
        q.put(Output("h00", "stdout", chunk))
    for h in hosts:
        q.put(HostFinished(h.name, Status.OK, 0, None, 0.0, None))
    q.put(EndOfRun())
    report = report_in.recv()
    agg.join()
    assert [r.status for r in report.results] == [Status.OK] * n
    assert report.results[0].stdout == chunk[: 1 << 10] and report.results[0].truncated
