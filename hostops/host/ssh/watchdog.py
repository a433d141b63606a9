"""A bound on paramiko's waits that have none.

paramiko waits for a channel's opening, an exec or a subsystem's answer without a
limit: a host that stops answering then would hold the waiting thread forever.
Closing the transport (or the channel) wakes those waits, so a timer does it when
the block takes too long.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def watchdog(timeout: float, wake: Callable[[], None]) -> Iterator[None]:
    """Call ``wake`` (e.g. the transport's close) if the block has not ended within
    ``timeout`` seconds. Starting it may raise RuntimeError (no thread to spare)."""
    timer = threading.Timer(timeout, wake)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
