"""Masking secret values (the plaintexts of vaulted variables) in what hostops shows or
records.

A :class:`Redactor` holds the values; :meth:`Redactor.text` masks a whole text (an
error message, a ``--check`` listing) and :meth:`Redactor.stream` gives a
:class:`StreamRedactor` for output that arrives in chunks, where a value may be
split between two chunks.

Rules (README, "Vaulted values"):

- each occurrence of a value is replaced by :data:`MARK`; where values overlap,
  the longest that matches at the leftmost position wins;
- a value of a few characters (fewer than :data:`MIN_LENGTH`) is not masked:
  replacing every ``1`` or ``yes`` would mangle all output while hiding nothing
  worth hiding;
- a value of several lines is also masked line by line (each line of
  :data:`MIN_LENGTH` characters or more, spaces around it ignored), so that one
  line printed alone (``grep``, a terminal's ``\\r\\n``) is masked too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MARK = "<vaulted>"
MIN_LENGTH = 4
_MARK = MARK.encode()


def needles(values: Iterable[str]) -> tuple[bytes, ...]:
    """What is searched for, for ``values``: each value (and each line of a multi-line
    one) of at least MIN_LENGTH characters, as UTF-8, longest first."""
    found: set[bytes] = set()
    for value in values:
        parts = [value] + ([line.strip() for line in value.splitlines()] if "\n" in value else [])
        found.update(p.encode() for p in parts if len(p) >= MIN_LENGTH)
    return tuple(sorted(found, key=lambda n: (-len(n), n)))


class Redactor:
    """Masks a fixed set of secret values (see the module's rules). Immutable; cheap
    when it has no value to mask."""

    __slots__ = ("_needles", "_pattern")

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._needles = needles(values)
        # One alternation, longest first: one pass, and MARK is never scanned again.
        self._pattern = (
            re.compile(b"|".join(re.escape(n) for n in self._needles)) if self._needles else None
        )

    def __repr__(self) -> str:
        return f"Redactor({len(self._needles)} values hidden)"

    def __bool__(self) -> bool:
        return self._pattern is not None

    def data(self, data: bytes) -> bytes:
        """``data`` with every occurrence of a value replaced by MARK."""
        return data if self._pattern is None else self._pattern.sub(_MARK, data)

    def text(self, text: str) -> str:
        """``text`` with every occurrence of a value replaced by MARK."""
        if self._pattern is None:
            return text
        return self.data(text.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")

    def stream(self) -> StreamRedactor:
        """A redactor for one stream of output chunks."""
        return StreamRedactor(self)

    def _hold_from(self, buf: bytes, start: int) -> int:
        """The earliest position p >= start where ``buf[p:]`` is a proper prefix of a
        value (it may be completed by the next chunk); ``len(buf)`` when none is."""
        earliest = len(buf)
        for needle in self._needles:
            p = buf.find(needle[:1], max(start, len(buf) - len(needle) + 1), earliest)
            while p != -1:
                if needle.startswith(buf[p:]):
                    earliest = p
                    break
                p = buf.find(needle[:1], p + 1, earliest)
        return earliest


class StreamRedactor:
    """Masks one stream whose chunks may split a value: after the complete occurrences
    are replaced, only the longest end of what arrived that is the start of a value
    is held back (until the next chunk or :meth:`flush`); other output is never
    delayed."""

    __slots__ = ("_held", "_of")

    def __init__(self, redactor: Redactor) -> None:
        self._of = redactor
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        """The masked output that can be released now."""
        pattern = self._of._pattern
        if pattern is None:
            return data
        buf = self._held + data
        hold = self._of._hold_from(buf, 0)
        # bytes.find is many times faster than the regex: most output holds no value.
        if not any(n in buf for n in self._of._needles):
            self._held = buf[hold:]
            return buf[:hold]
        pieces: list[bytes] = []
        pos = 0
        while True:
            # A match that starts where a longer value may still complete is held back.
            found = pattern.search(buf, pos)
            if found is None or found.start() >= hold:
                break
            pieces += (buf[pos : found.start()], _MARK)
            pos = found.end()
            if hold < pos:
                hold = self._of._hold_from(buf, pos)
        pieces.append(buf[pos:hold])
        self._held = buf[hold:]
        return b"".join(pieces)

    def flush(self) -> bytes:
        """What was held back, masked: the stream has ended."""
        held, self._held = self._held, b""
        return self._of.data(held)
