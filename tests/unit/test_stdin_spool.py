"""Forwarded stdin is spooled as it arrives into a private file, and every command reads
it from the start, waiting for more until the writer is done (issue 14)."""

from __future__ import annotations

import os
import stat
import time

from hostops.host.stdin import Feed, Spooler


def _drain(feed: Feed, until: float) -> tuple[bytes, bool]:
    """What ``feed`` gives until ``until``; whether it reached its end."""
    got = b""
    while time.monotonic() < until:
        chunk = feed.next()
        if chunk is None:
            return got, True
        got += bytes(chunk)
        feed.sent(len(chunk))
        time.sleep(0.01)
    return got, False


def test_a_spool_grows_as_stdin_arrives_and_every_reader_starts_at_the_beginning() -> None:
    read_end, write_end = os.pipe()
    with Spooler(read_end) as spooler:
        os.close(read_end)
        mode = stat.S_IMODE(os.stat(spooler.spool.path).st_mode)
        assert (
            mode == 0o600
            and stat.S_IMODE(os.stat(os.path.dirname(spooler.spool.path)).st_mode) == 0o700
        )
        os.write(write_end, b"first\n")
        early = Feed(spooler.spool)
        got, ended = _drain(early, time.monotonic() + 2)
        assert (got, ended) == (b"first\n", False)  # what came so far; the end is not known yet
        os.write(write_end, b"second\n")
        os.close(write_end)
        rest, ended = _drain(early, time.monotonic() + 10)
        assert (rest, ended) == (b"second\n", True)
        # A later batch, or a retry, replays it all from the start.
        assert _drain(Feed(spooler.spool), time.monotonic() + 10) == (b"first\nsecond\n", True)
        path = spooler.spool.path
    assert not os.path.exists(path)  # removed at the end


def test_bytes_and_nothing() -> None:
    assert _drain(Feed(b"abc"), time.monotonic() + 1) == (b"abc", True)
    assert Feed(None).next() is None
