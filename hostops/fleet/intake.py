"""The aggregator's end of the run's event pipe, read in bulk.

Why not ``Queue.get``: it costs a selector built and torn down, a poll, and two reads
(the length, then the pickle) per event, and the aggregator is the part of the
controller that every event of every host goes through (in a cluster run, the largest
part of the controller's CPU per host). The aggregator is the pipe's only reader, so
it reads whatever is there in one ``read`` and splits the events itself; the framing
is multiprocessing's (a Connection's 4-byte big-endian length, then the pickle; every
event fits one atomic write, hostops.fleet.events), which every writer uses (the
queue's feeder, hostops.fleet.events.EventWriter, a cluster run's
hostops.cluster.relay.EventPipe).
"""

from __future__ import annotations

import os
import pickle
import select
import struct

from hostops.fleet.events import Event

_LENGTH = struct.Struct("!i")
_READ = 1 << 16


class EventReader:
    """Events from the read end ``fd`` of an event pipe, as many as have arrived at once."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = bytearray()
        self._poller = select.poll()
        self._poller.register(fd, select.POLLIN)
        self.more = False  # after the last read, more was waiting in the pipe already

    def read(self, timeout: float) -> list[Event]:
        """The events that arrived, waiting up to ``timeout`` seconds for the first
        ([] when none came). Raises EOFError once every writer closed the pipe."""
        if not self._poller.poll(timeout * 1000):
            return []
        data = os.read(self._fd, _READ)
        if not data:
            raise EOFError
        self.more = bool(self._poller.poll(0))
        buffer = self._buffer
        buffer += data
        events: list[Event] = []
        offset = 0
        with memoryview(buffer) as view:  # released before the buffer is cut below
            while len(view) - offset >= _LENGTH.size:
                (length,) = _LENGTH.unpack_from(view, offset)
                start = offset + _LENGTH.size
                end = start + length  # (an event is never 2 GiB: that length is not read)
                if len(view) < end:
                    break
                events.append(pickle.loads(view[start:end]))
                offset = end
        del buffer[:offset]
        return events
