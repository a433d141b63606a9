"""Building many long-lived objects at once (an inventory of 100,000 hosts): the cyclic
garbage collector paused meanwhile.

Every few hundred allocations the collector runs, and now and then it walks every
object alive: with hundreds of thousands of hosts, their dicts and tuples, that is a
fifth of the time of loading and resolving them, for no garbage (these objects form no
cycles). Reference counting still frees everything as usual; the collector runs again
as soon as the block ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off inside the block, back as it was after it.
    Nested blocks and other threads' blocks leave it on once the outermost that turned
    it off ends."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
