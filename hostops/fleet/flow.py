"""Flow control of host output between the workers and the aggregator.

A host printing as fast as it can must not fill the workers' event buffers
(a ``multiprocessing.Queue`` buffers without limit in the sending process)
while the aggregator is held up by a slow reader of stdout. Each host may
have at most :data:`BUDGET` bytes sent and not yet consumed; past that its
session stops reading the channel, SSH flow control stops the remote writer,
and the other hosts' events keep flowing.

The account is a shared array of counters without a lock: the aggregator is
the only writer of ``consumed[i]``, the worker running host ``i`` the only
reader, so a process killed at any moment cannot leave it locked.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import time
from collections.abc import Callable, MutableSequence
from multiprocessing.context import BaseContext

# Above the SSH window (2 MiB), so a fast host is never throttled by this
# alone while the aggregator keeps up.
BUDGET = 4 << 20
_SLICE_S = 0.01

Counters = MutableSequence[int]


def counters(ctx: BaseContext, n: int) -> Counters:
    """``n`` shared 64-bit counters, zeroed, without a lock."""
    return ctx.RawArray(ctypes.c_longlong, max(n, 1))  # type: ignore[return-value]  # the stub's SynchronizedArray; unlocked it is the ctypes array Counters is


def counters_file(n: int) -> tuple[Counters, int]:
    """``n`` shared counters in a memory file, and its descriptor: for a process that is
    handed the descriptor (``SCM_RIGHTS``) rather than inheriting the memory."""
    fd = os.memfd_create("hostops-flow", os.MFD_CLOEXEC)
    os.ftruncate(fd, _size(n))
    return counters_at(fd, n), fd


def counters_at(fd: int, n: int) -> Counters:
    """The ``n`` counters of the memory file ``fd`` (see counters_file)."""
    memory = mmap.mmap(fd, _size(n))  # shared: a fork inherits the same pages
    return (ctypes.c_longlong * max(n, 1)).from_buffer(memory)  # type: ignore[return-value]  # a ctypes array is the MutableSequence Counters is, as in counters()


def _size(n: int) -> int:
    return ctypes.sizeof(ctypes.c_longlong) * max(n, 1)


class Credit:
    """One host's side of the account, in the worker that runs it."""

    def __init__(self, consumed: Counters, index: int, budget: int = BUDGET) -> None:
        self._consumed = consumed
        self._index = index
        self._budget = budget
        self.sent = 0

    def spend(self, n: int) -> None:
        """Count ``n`` bytes sent to the aggregator."""
        self.sent += n

    def wait(self, timeout: float, stop: Callable[[], bool] = lambda: False) -> bool:
        """True once this host may send more (at once if it is within budget);
        False if ``timeout`` passed or ``stop()`` became true first."""
        deadline = time.monotonic() + timeout
        while self.sent - self._consumed[self._index] > self._budget:
            if stop() or time.monotonic() >= deadline:
                return False
            time.sleep(_SLICE_S)
        return True
