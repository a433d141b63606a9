"""Reading a channel's output in bounded steps, so that the caller's flow control
(hostops.fleet.flow: ``may_read`` before each pump) is asked again every
:data:`READ_MAX` bytes.

Reading "while data is ready" has no end against a host that writes faster than this
process reads: each read frees SSH window, the server sends more, and the buffer is
never seen empty. Measured: a worker took ~130 MiB from a ``yes`` flood in one step,
with the aggregator's 4 MiB budget long spent, on a busy 2-CPU machine.
"""

from __future__ import annotations

from collections.abc import Callable

CHUNK = 65536  # one read
READ_MAX = 1 << 20  # one stream's reads in one step


def drain(
    ready: Callable[[], bool], recv: Callable[[int], bytes], take: Callable[[bytes], None]
) -> bool:
    """Read what ``ready()`` says is there, at most :data:`READ_MAX` bytes, passing each
    read to ``take``; True if anything was read."""
    taken = 0
    while taken < READ_MAX and ready():
        data = recv(CHUNK)
        taken += len(data)
        take(data)
    return taken > 0
